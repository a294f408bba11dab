//! What-if translation: the ALG the provider's NAT mode does not have, for FTP (as Linux's
//! `nf_nat_ftp` does it, with TCP sequence adjustment) and SIP over UDP (as `nf_nat_sip`).
//! It runs after the core, on a frame the core forwarded through NAT (SNAT, DNAT, hairpin),
//! and writes a new frame. Pure: state per connection, no I/O.
//!
//! - FTP: in a frame leaving through SNAT, a `PORT`, `EPRT` or `227` address equal to the
//!   sender's private address becomes its EIP. When the length changes, the sequence numbers of
//!   that direction and the acknowledgements (and SACK edges) of the other are adjusted for the
//!   rest of the connection.
//! - SIP over UDP: the sender's private address becomes its EIP (SNAT), and the EIP a frame was
//!   sent to becomes the private address it is delivered to (DNAT), in the fields
//!   [`super::sip::translate`] names; Content-Length follows the body.

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use super::seqadj::SeqAdj;
use super::{Change, Protocol, ftp, sip};
use crate::dataplane::{Action, Outcome, Verdict};
use crate::wire::rewrite::{Edit, RewriteError, rewrite};
use crate::wire::{LinkType, ipv4_offset, l4_payload, proto};

/// Which protocols are translated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    /// FTP control channels (TCP 21).
    pub ftp: bool,
    /// SIP over UDP.
    pub sip: bool,
}

impl Policy {
    /// Whether anything is translated.
    pub fn any(&self) -> bool {
        self.ftp || self.sip
    }

    /// Whether `p` is translated.
    pub fn covers(&self, p: Protocol) -> bool {
        match p {
            Protocol::Ftp => self.ftp,
            Protocol::Sip => self.sip,
            _ => false,
        }
    }
}

/// What happened to a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Translation {
    /// The frame is not one the policy translates.
    NotCovered,
    /// Covered; `out` holds the new frame when `rewritten` (addresses changed, or TCP numbers
    /// adjusted), otherwise the frame goes out as the core left it.
    Covered {
        /// The protocol.
        protocol: Protocol,
        /// Addresses rewritten in the payload.
        changes: Vec<Change>,
        /// `out` holds the frame to send.
        rewritten: bool,
    },
    /// Covered, but the payload could not be rewritten (a fragment, cut by the snap length).
    Failed {
        /// The protocol.
        protocol: Protocol,
        /// Why.
        reason: RewriteError,
        /// `out` holds the frame to send (TCP numbers adjusted, payload unchanged).
        rewritten: bool,
    },
}

/// A connection, keyed on its inside view (both directions, both sides of the gateway).
type FlowId = (u8, (u32, u16), (u32, u16));

/// The translator: policy, per-connection sequence offsets, scratch space.
#[derive(Debug, Default)]
pub struct Translator {
    policy: Policy,
    /// FTP connections whose lengths changed: offsets per direction (0: from the lower end).
    seq: FxHashMap<FlowId, [SeqAdj; 2]>,
    payload: Vec<u8>,
}

impl Translator {
    /// A translator for `policy`.
    pub fn new(policy: Policy) -> Translator {
        Translator {
            policy,
            ..Default::default()
        }
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Connections with sequence offsets.
    pub fn adjusted_connections(&self) -> usize {
        self.seq.len()
    }

    /// Translates `frame` (as the core forwarded it, with verdict `v`) into `out`.
    pub fn apply(
        &mut self,
        link: LinkType,
        frame: &[u8],
        v: &Verdict,
        out: &mut Vec<u8>,
    ) -> Translation {
        let Outcome::Forward(_, action) = v.outcome else {
            return Translation::NotCovered;
        };
        if !matches!(action, Action::Snat | Action::Dnat | Action::Hairpin) {
            return Translation::NotCovered;
        }
        let t = v.tuple;
        let ftp = self.policy.ftp && t.proto == proto::TCP && (t.sport == 21 || t.dport == 21);
        let sip_port = |p: u16| p == 5060 || p == 5061;
        let udp_sip = self.policy.sip && t.proto == proto::UDP;
        if !ftp && !udp_sip {
            return Translation::NotCovered;
        }
        let Some((_, seq, payload)) = l4_payload(link, frame) else {
            return Translation::NotCovered;
        };
        if !(ftp || sip_port(t.sport) || sip_port(t.dport) || sip::looks_like_sip(payload)) {
            return Translation::NotCovered;
        }
        // The sender's address before and after SNAT; the destination before and after DNAT.
        let wire_src = ipv4_offset(link, frame)
            .ok()
            .and_then(|l3| frame.get(l3 + 12..l3 + 16))
            .map(|b| Ipv4Addr::new(b[0], b[1], b[2], b[3]));
        let snat = matches!(action, Action::Snat | Action::Hairpin)
            .then_some(wire_src)
            .flatten()
            .map(|to| (Ipv4Addr::from(t.src), to))
            .filter(|(a, b)| a != b);
        let dnat = matches!(action, Action::Dnat | Action::Hairpin)
            .then(|| (Ipv4Addr::from(t.dst), Ipv4Addr::from(v.inside_dst)))
            .filter(|(a, b)| a != b);
        if ftp {
            self.ftp(link, frame, v, seq.unwrap_or(0), payload, snat, out)
        } else {
            let map: Vec<(Ipv4Addr, Ipv4Addr)> = snat.into_iter().chain(dnat).collect();
            let changes = if payload.is_empty() || map.is_empty() {
                Vec::new()
            } else {
                sip::translate(payload, &map, &mut self.payload)
            };
            if changes.is_empty() {
                return Translation::Covered {
                    protocol: Protocol::Sip,
                    changes,
                    rewritten: false,
                };
            }
            let edit = Edit {
                payload: Some(&self.payload),
                ..Default::default()
            };
            match rewrite(link, frame, &edit, out) {
                Ok(()) => Translation::Covered {
                    protocol: Protocol::Sip,
                    changes,
                    rewritten: true,
                },
                Err(reason) => Translation::Failed {
                    protocol: Protocol::Sip,
                    reason,
                    rewritten: false,
                },
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn ftp(
        &mut self,
        link: LinkType,
        frame: &[u8],
        v: &Verdict,
        seq: u32,
        payload: &[u8],
        snat: Option<(Ipv4Addr, Ipv4Addr)>,
        out: &mut Vec<u8>,
    ) -> Translation {
        let inside = v.inside();
        let (s, d) = ((inside.src, inside.sport), (inside.dst, inside.dport));
        let id: FlowId = (inside.proto, s.min(d), s.max(d));
        let dir = usize::from(s != id.1);
        let changes = match snat {
            Some((from, to)) if !payload.is_empty() => {
                ftp::translate(payload, from, to, &mut self.payload)
            }
            _ => Vec::new(),
        };
        let mut adj = self.seq.get(&id).copied().unwrap_or_default();
        if !changes.is_empty() {
            let delta = self.payload.len() as i64 - payload.len() as i64;
            adj[dir].record(seq, delta as i32);
        }
        let (mine, theirs) = (adj[dir], adj[1 - dir]);
        if changes.is_empty() && !mine.active() && !theirs.active() {
            return Translation::Covered {
                protocol: Protocol::Ftp,
                changes,
                rewritten: false,
            };
        }
        let ack = move |a: u32| theirs.ack(a);
        let mut edit = Edit {
            seq: mine.active().then(|| mine.seq(seq)),
            ack: theirs.active().then_some(&ack as &dyn Fn(u32) -> u32),
            payload: (!changes.is_empty()).then_some(self.payload.as_slice()),
            ..Default::default()
        };
        match rewrite(link, frame, &edit, out) {
            Ok(()) => {
                if !changes.is_empty() {
                    self.seq.insert(id, adj);
                }
                Translation::Covered {
                    protocol: Protocol::Ftp,
                    changes,
                    rewritten: true,
                }
            }
            Err(reason) => {
                // The payload cannot change (a fragment, or cut by the snap length): its length
                // stays, so the offsets stay as they were; earlier ones still apply.
                let old = self.seq.get(&id).copied().unwrap_or_default();
                let (mine, theirs) = (old[dir], old[1 - dir]);
                let ack = move |a: u32| theirs.ack(a);
                edit.payload = None;
                edit.seq = mine.active().then(|| mine.seq(seq));
                edit.ack = theirs.active().then_some(&ack as &dyn Fn(u32) -> u32);
                let rewritten =
                    (mine.active() || theirs.active()) && rewrite(link, frame, &edit, out).is_ok();
                Translation::Failed {
                    protocol: Protocol::Ftp,
                    reason,
                    rewritten,
                }
            }
        }
    }
}
