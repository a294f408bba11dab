//! The security-group part of a fix: the rules that admit one frame at one ENI.

use super::Change;
use super::propose::{s, step};
use crate::groups::{Decider, GroupTables};
use crate::model::Cloud;
use crate::model::sg::{Direction, Policy};

/// Revokes followed, at most, before an accept rule decides (a group has few priority-1 drops).
const MAX_REVOKES: usize = 8;

/// One check of section 5 (steps 2 to 4): a frame of IP protocol `proto` to destination port
/// `port` at ENI `eni` in direction `dir`, whose peer (ingress: the source; egress: the
/// destination) is `peer`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Check {
    pub(crate) eni: u32,
    pub(crate) dir: Direction,
    pub(crate) proto: u8,
    pub(crate) port: u16,
    pub(crate) peer: u32,
}

/// A rule's protocol and port range for IP protocol `p` to destination port `port`.
fn rule_proto(p: u8, port: u16) -> (&'static str, String) {
    match p {
        6 => ("tcp", format!("{port}/{port}")),
        17 => ("udp", format!("{port}/{port}")),
        1 => ("icmp", "-1/-1".into()),
        47 => ("gre", "-1/-1".into()),
        _ => ("all", "-1/-1".into()),
    }
}

/// The changes that make check `c` accept, in `base` (default: `cloud`, whose compiled groups
/// are `tables`), with a note per change; none when it accepts already. A drop rule of priority
/// P decided: an accept rule for the protocol, the port (`P/P`; `-1/-1` for ICMP, GRE and other
/// protocols) and the peer /32 at priority P - 1 (drop wins at equal priority, so that one
/// beats it and every rule after it). The default decided: the same rule at priority 100, the
/// lowest precedence, which beats only the default. A drop rule of priority 1, which no rule
/// beats: revoked, and the check runs again without it.
pub(crate) fn admit(
    cloud: &Cloud,
    tables: &GroupTables,
    base: Option<Cloud>,
    c: Check,
) -> Result<(Vec<Change>, Vec<String>), String> {
    let (proto, range) = rule_proto(c.proto, c.port);
    let (auth, revoke) = match c.dir {
        Direction::Ingress => ("AuthorizeSecurityGroup", "RevokeSecurityGroup"),
        Direction::Egress => ("AuthorizeSecurityGroupEgress", "RevokeSecurityGroupEgress"),
    };
    let peer = std::net::Ipv4Addr::from(c.peer);
    let accept = |group: &str, priority: u8| {
        step(
            auth,
            vec![
                ("group", s(group)),
                ("policy", s("accept")),
                ("priority", toml::Value::Integer(i64::from(priority))),
                ("protocol", s(proto)),
                ("port_range", s(&range)),
                ("cidr", s(format!("{peer}/32"))),
            ],
        )
    };
    let mut changes = Vec::new();
    let mut notes = Vec::new();
    let mut work = base;
    let dname = c.dir.name();
    for _ in 0..=MAX_REVOKES {
        let owned;
        let tables = match &work {
            Some(w) => {
                owned = GroupTables::new(w);
                &owned
            }
            None => tables,
        };
        let Some(prof) = tables.profile(c.eni) else {
            return Ok((changes, notes));
        };
        let (policy, decider) = tables.decide(prof, c.dir, c.proto, c.port, c.peer);
        if policy == Policy::Accept {
            return Ok((changes, notes));
        }
        match decider {
            Decider::Rule {
                group,
                position,
                rule,
            } => {
                let gid = tables.group_id(group).to_string();
                let text = tables.rule_text(rule).cloned().ok_or("unknown rule")?;
                if text.priority > 1 {
                    changes.push(accept(&gid, text.priority - 1)?);
                    notes.push(format!(
                        "{gid} {dname} rule {position} (drop, priority {}) decided: an accept rule at priority {} beats it (drop wins at equal priority)",
                        text.priority,
                        text.priority - 1
                    ));
                    return Ok((changes, notes));
                }
                let mut fields = vec![
                    ("group", s(&gid)),
                    ("policy", s(text.policy)),
                    ("priority", toml::Value::Integer(i64::from(text.priority))),
                    ("protocol", s(text.protocol)),
                    ("port_range", s(&text.port_range)),
                ];
                if let Some(x) = &text.cidr {
                    fields.push(("cidr", s(x)));
                }
                if let Some(g) = &text.group {
                    fields.push(("peer_group", s(g)));
                }
                let ch = step(revoke, fields)?;
                let w = work.get_or_insert_with(|| cloud.clone());
                ch.apply(w)?;
                changes.push(ch);
                notes.push(format!(
                    "{gid} {dname} rule {position} is a drop at priority 1, which no rule beats: revoke it"
                ));
            }
            Decider::Default(g) => {
                let gid = tables.group_id(g).to_string();
                changes.push(accept(&gid, 100)?);
                notes.push(format!(
                    "{gid}'s {dname} default (drop) decided: an accept rule at priority 100, the lowest precedence, beats only the default"
                ));
                return Ok((changes, notes));
            }
            Decider::InnerAccess(g) => {
                // Members isolated (inner access drop) where the default decides: any accept
                // rule that matches admits the frame.
                let gid = tables.group_id(g).to_string();
                changes.push(accept(&gid, 100)?);
                notes.push(format!(
                    "{gid} isolates its members (inner access drop) and no rule admitted the frame: an accept rule at priority 100 admits it"
                ));
                return Ok((changes, notes));
            }
            Decider::Session => return Err("decided by a session, which only accepts".into()),
        }
    }
    Err(format!(
        "more than {MAX_REVOKES} priority-1 drop rules match it"
    ))
}
