//! The security groups in a trace: the checks the frame pass made (the sender's egress, the
//! receiver's ingress), as hops in their places of the walk, and the fix for a refusal.

use std::net::Ipv4Addr;

use super::Hop;
use crate::advisor::fixes::groups::{Check, admit};
use crate::dataplane::Verdict;
use crate::groups::{Checked, Decider, GroupTables, Refusal};
use crate::model::Cloud;
use crate::model::sg::{Direction, Policy};

/// The text of one check: the ENI, the direction, the outcome and what decided.
fn text(cloud: &Cloud, t: &GroupTables, c: &Checked) -> String {
    let eni = cloud
        .enis
        .get(c.eni as usize)
        .map_or("?", |e| e.id.as_str());
    let d = c.direction.name();
    let what = match c.policy {
        Policy::Accept => "accepted",
        Policy::Drop => "dropped",
    };
    let by = match c.decider {
        Decider::Session => "by a session it accepted before (stateful)".to_string(),
        Decider::InnerAccess(g) => format!(
            "by inner access: the peer is also in basic group {}",
            t.group_id(g)
        ),
        Decider::Rule {
            group,
            position,
            rule,
        } => {
            let r = t.rule_text(rule);
            format!(
                "by {} rule {position}{}",
                t.group_id(group),
                r.map_or(String::new(), |r| format!(
                    " ({} {} {} {}, priority {})",
                    r.policy,
                    r.protocol,
                    r.port_range,
                    r.cidr
                        .clone()
                        .or_else(|| r.group.as_ref().map(|g| format!("group {g}")))
                        .unwrap_or_default(),
                    r.priority
                ))
            )
        }
        Decider::Default(g) => format!("by the default of {}: no rule matched", t.group_id(g)),
    };
    format!("{eni} {d}: {what} {by}")
}

/// Places the checks among the walk's hops: the egress check right after the source check,
/// the ingress check before the guest's (or at the end of the walk). Hops after a refusal are
/// dropped: the frame never got there.
pub(super) fn place(hops: &mut Vec<Hop>, cloud: &Cloud, t: &GroupTables, checks: &[Checked]) {
    for c in checks {
        let hop = Hop {
            step: "security-group",
            result: match c.policy {
                Policy::Accept => "pass",
                Policy::Drop => "drop",
            },
            detail: text(cloud, t, c),
        };
        let at = match c.direction {
            Direction::Egress => hops
                .iter()
                .position(|h| h.step == "source-check")
                .map_or(hops.len(), |i| i + 1),
            Direction::Ingress => hops
                .iter()
                .position(|h| h.step == "guest")
                .unwrap_or(hops.len()),
        };
        let refused = c.policy == Policy::Drop;
        hops.insert(at, hop);
        if refused {
            hops.truncate(at + 1);
        }
    }
}

/// The fix for a refusal, as `replay --fixes` proposes it: the rule to authorize (the frame's
/// protocol and destination port, the peer as a /32, accept) at a priority that beats what
/// decided, after revoking the priority-1 drop rules no rule can beat.
pub(super) fn fix(
    cloud: &Cloud,
    t: &GroupTables,
    r: &Refusal,
    v: &Verdict,
    peer: Ipv4Addr,
) -> String {
    let c = Check {
        eni: r.eni,
        dir: r.direction,
        proto: v.tuple.proto,
        port: v.tuple.dport,
        peer: u32::from(peer),
    };
    match admit(cloud, t, None, c) {
        Ok((changes, _)) if !changes.is_empty() => changes
            .iter()
            .map(|c| c.step_line())
            .collect::<Vec<_>>()
            .join("; "),
        Ok(_) => "the groups accept it as they stand".into(),
        Err(e) => format!("no rule change admits it: {e}"),
    }
}
