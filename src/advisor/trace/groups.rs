//! The security groups in a trace: the checks the frame pass made (the sender's egress, the
//! receiver's ingress), as hops in their places of the walk, and the fix for a refusal.

use std::net::Ipv4Addr;

use super::Hop;
use crate::dataplane::Verdict;
use crate::groups::{Checked, Decider, GroupTables, Refusal};
use crate::model::Cloud;
use crate::model::sg::{Direction, Policy};
use crate::wire::proto;

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

/// The fix for a refusal: the rule to authorize (the frame's protocol and destination port, the
/// peer as a /32, accept) at a priority that beats what decided; a drop rule at priority 1
/// cannot be beaten: revoke it.
pub(super) fn fix(t: &GroupTables, r: &Refusal, v: &Verdict, peer: Ipv4Addr) -> String {
    let (op, revoke) = match r.direction {
        Direction::Ingress => ("AuthorizeSecurityGroup", "RevokeSecurityGroup"),
        Direction::Egress => ("AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress"),
    };
    let (protocol, ports) = match v.tuple.proto {
        proto::TCP => ("tcp", format!("{0}/{0}", v.tuple.dport)),
        proto::UDP => ("udp", format!("{0}/{0}", v.tuple.dport)),
        proto::ICMP => ("icmp", "-1/-1".to_string()),
        _ => ("all", "-1/-1".to_string()),
    };
    let (group, priority) = match r.decider {
        Decider::Rule {
            group,
            position,
            rule,
        } => {
            let p = t.rule_text(rule).map_or(1, |x| x.priority);
            if p <= 1 {
                return format!(
                    "rule {position} of {} drops at priority 1, which no rule can beat: {revoke} it (it drops more than this frame), or send the traffic otherwise",
                    t.group_id(group)
                );
            }
            (group, p - 1)
        }
        Decider::Default(g) | Decider::InnerAccess(g) => (g, 100),
        Decider::Session => (u32::MAX, 100),
    };
    format!(
        "{op} group={} policy=accept protocol={protocol} port_range={ports} cidr={peer}/32 priority={priority}",
        t.group_id(group)
    )
}
