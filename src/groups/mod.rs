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
//! the addresses the member ENIs own: their private IPs and their cut-through and multi-EIP
//! addresses (a NAT-mode EIP belongs to the gateway, not to the ENI).
//!
//! Sessions live in the shard of the frame's inside endpoint, so a replay's outcome does not
//! depend on `--workers`.

mod compile;
pub mod session;

use std::sync::Arc;

pub use compile::{Decider, GroupTables};
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
}

impl Refusal {
    /// The detail of the drop's comment: the group, the direction and `rule N` or `default`
    /// (e.g. `sg-web ingress rule 2`).
    pub fn detail(&self, tables: &GroupTables) -> String {
        let d = self.direction.name();
        match self.decider {
            Decider::Rule { group, position } => {
                format!("{} {d} rule {position}", tables.group_id(group))
            }
            Decider::Default(g) => format!("{} {d} default", tables.group_id(g)),
            Decider::InnerAccess(g) => format!("{} {d} inner-access", tables.group_id(g)),
            Decider::Session => format!("{d} session"),
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
    pub fn check(
        &mut self,
        dp: &Dataplane,
        v: &mut Verdict,
        frame: Views<'_>,
        now: i64,
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
            if let Some(decider) = self.one(e, Direction::Egress, key, t.dst, quoted, now) {
                v.outcome = Outcome::Drop(DropReason::SecurityGroup);
                return Some(Refusal {
                    eni: e,
                    direction: Direction::Egress,
                    decider,
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
        let decider = self.one(receiver, Direction::Ingress, key, src, quoted, now)?;
        v.outcome = Outcome::Drop(DropReason::SecurityGroup);
        Some(Refusal {
            eni: receiver,
            direction: Direction::Ingress,
            decider,
        })
    }

    /// One check of ENI `eni` in direction `d` (section 5's four steps): `None` when the frame
    /// passes (its session opened or refreshed), else what refused it.
    fn one(
        &mut self,
        eni: u32,
        d: Direction,
        key: SessionKey,
        peer: u32,
        quoted: Option<SessionKey>,
        now: i64,
    ) -> Option<Decider> {
        let p = self.tables.profile(eni)?;
        if self.sessions.hit(&key, now, true) {
            return None;
        }
        if let Some(q) = quoted
            && self.sessions.hit(&q, now, false)
        {
            return None;
        }
        let (policy, decider) = self.tables.decide(p, d, key.proto, key_port(d, &key), peer);
        match policy {
            Policy::Accept => {
                // The lookup above missed `key` (or ended it, expired); the quoted key's
                // lookup does not add one.
                self.sessions.open_new(key, now);
                None
            }
            Policy::Drop => Some(decider),
        }
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
