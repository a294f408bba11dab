//! Security groups in the frame pass: a stateful stage after the core.
//!
//! Groups filter at the ENI, on addresses and ports as the ENI sees them (after DNAT inbound,
//! before SNAT outbound). The core decides every other drop; this stage places the groups'
//! checks among them in the documented precedence:
//!
//! - the sender's egress check comes right after `source-check`: it applies to every frame from
//!   an attached ENI that passed the source check, whatever the core decided after that (an
//!   unknown destination, `no-public-address`, `tcp-25-restricted`, `ttl-expired`, ...), and a
//!   refusal replaces that decision;
//! - the receiver's ingress check comes after `ttl-expired` and before `guest-not-configured`:
//!   it applies to frames the core delivers to an ENI (from the Internet, a hairpin or another
//!   ENI) and to those it drops `guest-not-configured`.
//!
//! A check, first match wins: (1) the frame belongs to a tracked session of that ENI, either
//! direction, or is an ICMP error quoting one; (2) a basic group with inner access accept
//! that the peer's ENI is also in; (3) the rules of the ENI's groups for the direction, by
//! priority, drop before accept at equal priority, matching protocol, destination port and the
//! peer (the source for ingress, the destination for egress) in `cidr` or in `group`; (4) the
//! default: basic, ingress drop and egress accept; enterprise, drop both. An accepted frame
//! opens or refreshes its session; a session idle for 910 s of capture time ends.
//!
//! An ENI with no groups is not filtered. Group peers (`group = "sg-x"`) and inner access match
//! the member ENIs' private IPs: members reach each other over the VPC, and traffic between
//! them through an EIP (a hairpin) comes from a public address, which no group membership
//! covers. A frame the default would refuse from a member of a basic group with inner access
//! `drop` (members isolated) is refused by that, and its comment says `inner-access`. The
//! default names the first group the ENI lists.
//!
//! Sessions live in the shard of the frame's inside endpoint, so a replay's outcome does not
//! depend on `--workers`.

mod compile;
pub mod session;

use std::sync::Arc;

pub use compile::{Decider, GroupTables, RuleText};
use session::{SessionKey, Sessions};

use crate::dataplane::{Action, Dataplane, DropReason, Outcome, Port, Verdict};
use crate::model::sg::{Direction, Policy};
use crate::wire::{LinkType, icmp, proto};

/// Sessions a shard holds at most (16 shards: about a million in all).
pub const SESSIONS_PER_SHARD: usize = 1 << 16;

/// A refusal: which ENI's check, in which direction, and what decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The ENI whose group refused the frame.
    pub eni: u32,
    /// Ingress (the receiver's check) or egress (the sender's).
    pub direction: Direction,
    /// The rule or default that decided.
    pub decider: Decider,
    /// What the check matched: the frame's IP protocol, its destination port and the peer
    /// (the source for ingress, the destination for egress), as the ENI sees them.
    pub matched: Matched,
}

/// What a check matched rules against (as the ENI sees the frame).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Matched {
    /// IP protocol.
    pub proto: u8,
    /// Destination port (0 without one).
    pub port: u16,
    /// The peer's address: the source (ingress) or the destination (egress).
    pub peer: u32,
}

impl Refusal {
    /// The detail of the drop's comment: the group, the direction and `rule N` or `default`
    /// (e.g. `sg-web ingress rule 2`).
    pub fn detail(&self, tables: &GroupTables) -> String {
        let d = self.direction.name();
        match self.decider {
            Decider::Rule {
                group, position, ..
            } => {
                format!("{} {d} rule {position}", tables.group_id(group))
            }
            Decider::Default(g) => format!("{} {d} default", tables.group_id(g)),
            Decider::InnerAccess(g) => format!("{} {d} inner-access", tables.group_id(g)),
            Decider::Session => format!("{d} session"),
        }
    }
}

/// One check a frame went through: the ENI, the direction, the outcome and what decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    /// The ENI whose groups checked the frame.
    pub eni: u32,
    /// Its egress (the sender) or its ingress (the receiver).
    pub direction: Direction,
    /// Accepted or dropped.
    pub policy: Policy,
    /// What decided.
    pub decider: Decider,
}

/// What refused a frame, written out for `report.json` (`decided_by` of a flow): the group,
/// the direction, and the rule with its fields as they were when it decided, the default, or
/// the inner-access policy.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Decided {
    /// `security-group`.
    pub reason: &'static str,
    /// The ENI whose group decided (index into the cloud's ENIs; `report.json` gives its id).
    pub eni: u32,
    /// The group.
    pub group: String,
    /// `ingress` or `egress`.
    pub direction: &'static str,
    /// `rule`, `default` or `inner-access`.
    pub by: &'static str,
    /// The rule's 1-based position in its group (`by` = `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    /// The rule's fields (`by` = `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleText>,
    /// The detail as the drop's comment gives it.
    pub detail: String,
    /// What the check matched (not in `report.json`: the flow gives it).
    #[serde(skip)]
    pub matched: Matched,
}

impl Refusal {
    /// The refusal written out.
    pub fn decided(&self, tables: &GroupTables) -> Decided {
        let (group, by, position, rule) = match self.decider {
            Decider::Rule {
                group,
                position,
                rule,
            } => (
                group,
                "rule",
                Some(position),
                tables.rule_text(rule).cloned(),
            ),
            Decider::Default(g) => (g, "default", None, None),
            Decider::InnerAccess(g) => (g, "inner-access", None, None),
            Decider::Session => (u32::MAX, "session", None, None),
        };
        Decided {
            reason: "security-group",
            eni: self.eni,
            group: tables.group_id(group).to_string(),
            direction: self.direction.name(),
            by,
            position,
            rule,
            detail: self.detail(tables),
            matched: self.matched,
        }
    }
}

/// The security-group stage of one shard: the compiled tables (shared) and the shard's
/// sessions.
#[derive(Clone, Debug)]
pub struct GroupStage {
    tables: Arc<GroupTables>,
    sessions: Sessions,
}

/// The frame as the core left it and as it arrived: the receiver's checks read the first, the
/// sender's the second (they differ only for translated frames).
#[derive(Clone, Copy, Debug)]
pub struct Views<'a> {
    /// The frame after the core (what the receiver gets).
    pub after: &'a [u8],
    /// The frame as it arrived (what the sender sent).
    pub before: &'a [u8],
    /// Its link type.
    pub link: LinkType,
}

impl GroupStage {
    /// A stage over `tables` with room for `capacity` sessions.
    pub fn new(tables: Arc<GroupTables>, capacity: usize) -> GroupStage {
        GroupStage {
            tables,
            sessions: Sessions::new(capacity),
        }
    }

    /// Follows changed groups (a timed event): new tables, the sessions kept.
    pub fn follow(&mut self, tables: Arc<GroupTables>) {
        self.tables = tables;
    }

    /// The compiled tables.
    pub fn tables(&self) -> &GroupTables {
        &self.tables
    }

    /// What happened to the sessions so far.
    pub fn counts(&self) -> session::SessionCounts {
        self.sessions.counts
    }

    /// Checks a frame the core has decided (`v`), at capture time `now` (ns): when a group
    /// refuses it, `v` becomes a `security-group` drop and the refusal is returned.
    #[inline]
    pub fn check(
        &mut self,
        dp: &Dataplane,
        v: &mut Verdict,
        frame: Views<'_>,
        now: i64,
    ) -> Option<Refusal> {
        self.check_logged(dp, v, frame, now, |_| {})
    }

    /// [`GroupStage::check`], telling `log` every check made (ENI, direction, outcome and
    /// what decided), accepted ones included: `eipsim trace` shows them.
    pub fn check_logged(
        &mut self,
        dp: &Dataplane,
        v: &mut Verdict,
        frame: Views<'_>,
        now: i64,
        mut log: impl FnMut(Checked),
    ) -> Option<Refusal> {
        if !self.tables.any() {
            return None;
        }
        let t = v.tuple;
        // The sender's egress check, right after the source check.
        if let Some(Port::Eni(e)) = v.ingress
            && dp.eni_attached(e)
            && !matches!(
                v.drop_reason(),
                Some(
                    DropReason::Malformed
                        | DropReason::NotIpv4
                        | DropReason::SourceCheck
                        | DropReason::UnsupportedLink
                )
            )
        {
            let key = SessionKey {
                eni: e,
                local: t.src,
                remote: t.dst,
                lport: t.sport,
                rport: t.dport,
                proto: t.proto,
            };
            let quoted = quoted_key(frame.before, frame.link, v, e, Direction::Egress);
            let checked = self.one(e, Direction::Egress, key, t.dst, quoted, now);
            if let Some((policy, decider)) = checked {
                log(Checked {
                    eni: e,
                    direction: Direction::Egress,
                    policy,
                    decider,
                });
            }
            if let Some((Policy::Drop, decider)) = checked {
                v.outcome = Outcome::Drop(DropReason::SecurityGroup);
                return Some(Refusal {
                    eni: e,
                    direction: Direction::Egress,
                    decider,
                    matched: Matched {
                        proto: t.proto,
                        port: t.dport,
                        peer: t.dst,
                    },
                });
            }
        }
        // The receiver's ingress check, after ttl-expired and before guest-not-configured.
        let hairpin = matches!(v.ingress, Some(Port::Eni(_)));
        let receiver = match v.outcome {
            Outcome::Forward(Port::Eni(r), _) => Some(r),
            Outcome::Drop(DropReason::GuestNotConfigured) if hairpin => dp.addr_eni(t.dst),
            Outcome::Drop(DropReason::GuestNotConfigured) => v.eni,
            _ => None,
        }?;
        // The source as the receiver sees it: a hairpin's is the sender's EIP.
        let src = match v.outcome {
            Outcome::Forward(_, Action::IntraVpc) => t.src,
            _ if hairpin => v.eip.unwrap_or(t.src),
            _ => t.src,
        };
        let key = SessionKey {
            eni: receiver,
            local: v.inside_dst,
            remote: src,
            lport: t.dport,
            rport: t.sport,
            proto: t.proto,
        };
        let quoted = quoted_key(frame.after, frame.link, v, receiver, Direction::Ingress);
        let (policy, decider) = self.one(receiver, Direction::Ingress, key, src, quoted, now)?;
        log(Checked {
            eni: receiver,
            direction: Direction::Ingress,
            policy,
            decider,
        });
        if policy == Policy::Accept {
            return None;
        }
        v.outcome = Outcome::Drop(DropReason::SecurityGroup);
        Some(Refusal {
            eni: receiver,
            direction: Direction::Ingress,
            decider,
            matched: Matched {
                proto: t.proto,
                port: t.dport,
                peer: src,
            },
        })
    }

    /// One check of ENI `eni` in direction `d` (section 5's four steps): `None` when the ENI
    /// is not filtered, else the outcome and what decided it (an accepted frame's session is
    /// opened or refreshed).
    fn one(
        &mut self,
        eni: u32,
        d: Direction,
        key: SessionKey,
        peer: u32,
        quoted: Option<SessionKey>,
        now: i64,
    ) -> Option<(Policy, Decider)> {
        let p = self.tables.profile(eni)?;
        if self.sessions.hit(&key, now, true) {
            return Some((Policy::Accept, Decider::Session));
        }
        if let Some(q) = quoted
            && self.sessions.hit(&q, now, false)
        {
            return Some((Policy::Accept, Decider::Session));
        }
        let (policy, decider) = self.tables.decide(p, d, key.proto, key_port(d, &key), peer);
        if policy == Policy::Accept {
            // The lookup above missed `key` (or ended it, expired); the quoted key's lookup
            // does not add one.
            self.sessions.open_new(key, now);
        }
        Some((policy, decider))
    }
}

/// The destination port of the frame a key was made from (rules match it).
fn key_port(d: Direction, k: &SessionKey) -> u16 {
    match d {
        Direction::Ingress => k.lport,
        Direction::Egress => k.rport,
    }
}

/// For an ICMP error at ENI `eni`: the session key of the flow it quotes, as the ENI sees it.
/// Arriving (ingress), the quoted packet is one the ENI sent; leaving (egress), one it received.
fn quoted_key(
    frame: &[u8],
    _link: LinkType,
    v: &Verdict,
    eni: u32,
    d: Direction,
) -> Option<SessionKey> {
    if v.tuple.proto != proto::ICMP {
        return None;
    }
    let (proto, src, dst, sport, dport) = icmp::quoted_flow(v.layout.segment(frame)?)?;
    Some(match d {
        Direction::Ingress => SessionKey {
            eni,
            local: src,
            remote: dst,
            lport: sport,
            rport: dport,
            proto,
        },
        Direction::Egress => SessionKey {
            eni,
            local: dst,
            remote: src,
            lport: dport,
            rport: sport,
            proto,
        },
    })
}
