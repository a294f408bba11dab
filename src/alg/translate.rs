//! What-if translation: the ALG the provider's NAT mode does not have, for FTP (as Linux's
//! `nf_nat_ftp` does it, with TCP sequence adjustment) and SIP over UDP (as `nf_nat_sip`).
//! It runs after the core, on a frame the core forwarded through NAT (SNAT, DNAT, hairpin),
//! and writes a new frame. Pure: state per connection, no I/O.
//!
//! - FTP: in a frame leaving through SNAT, a `PORT`, `EPRT` or `227` address equal to the
//!   sender's private address becomes its EIP. When the length changes, the sequence numbers of
//!   that direction are adjusted for the rest of the connection, as `nf_nat_seqadj` does.
//!
//!   Acknowledgements: Linux maps the peer's acknowledgements (and SACK edges) back from the
//!   translated stream to the sender's. In a replay the peer's frames come from a capture taken
//!   without an ALG, so they already acknowledge the sender's own stream: the what-if peer would
//!   have acknowledged the translated stream and the helper mapped it back to exactly the
//!   captured value. The frames delivered into the VPC therefore keep their acknowledgements,
//!   and the tests assert both sides stay continuous. The mode advisor, which changes what the
//!   guest itself sends ([`Translator::guest_rewrite`]), shifts the peer's acknowledgements
//!   forward instead. In `eipsim live` the peer is a real host that received the translated
//!   stream: its acknowledgements are mapped back as Linux does
//!   ([`Translator::peers_see_translation`]).
//! - SIP over UDP: the sender's private address becomes its EIP (SNAT), and the EIP a frame was
//!   sent to becomes the private address it is delivered to (DNAT), in the fields
//!   [`super::sip::translate`] names; Content-Length follows the body.

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;

use super::seqadj::SeqAdj;
use super::{Change, Protocol, ftp, sip};
use crate::dataplane::{Action, Outcome, Verdict};
use crate::wire::rewrite::{Edit, RewriteError, rewrite_with};
use crate::wire::{Layout, LinkType, proto};

pub use crate::model::alg_policy::{AlgMode, Policy};

impl Policy {
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
    /// The peers are live ([`Translator::peers_see_translation`]): map their
    /// acknowledgements back.
    live_peers: bool,
}

/// One frame's translation job.
struct Job<'a> {
    protocol: Protocol,
    id: FlowId,
    /// Direction of the frame in its connection (0: from the lower end of `id`).
    dir: usize,
    seq: u32,
    payload: &'a [u8],
    /// Addresses to rewrite in the payload.
    map: Vec<(Ipv4Addr, Ipv4Addr)>,
    /// New header addresses.
    src: Option<[u8; 4]>,
    dst: Option<[u8; 4]>,
    /// Shift the acknowledgements by the other direction's offsets (the peer received the
    /// changed stream); otherwise acknowledgements stay (see the module documentation).
    forward_acks: bool,
    /// Map the acknowledgements back by the other direction's offsets (a live peer
    /// acknowledged the changed stream; the host expects its own numbers).
    back_acks: bool,
}

/// Where the headers of `frame` are: the layout the core handed back in `v`, or, for a verdict
/// that has none (built by hand, or for a frame the core did not parse), the frame parsed again.
fn layout_of(v: &Verdict, link: LinkType, frame: &[u8]) -> Layout {
    if v.layout.is_none() {
        Layout::parse(link, frame)
    } else {
        v.layout
    }
}

/// The connection of a frame (from its inside view) and the frame's direction in it.
fn flow_of(v: &Verdict) -> (FlowId, usize) {
    let inside = v.inside();
    let (s, d) = ((inside.src, inside.sport), (inside.dst, inside.dport));
    let id: FlowId = (inside.proto, s.min(d), s.max(d));
    (id, usize::from(s != id.1))
}

/// The protocol the policy translates for a TCP/UDP frame with these ports and payload.
fn covered(
    policy: Policy,
    proto_no: u8,
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Option<Protocol> {
    let sip_port = |p: u16| p == 5060 || p == 5061;
    if policy.ftp && proto_no == proto::TCP && (sport == 21 || dport == 21) {
        return Some(Protocol::Ftp);
    }
    if policy.sip
        && proto_no == proto::UDP
        && (sip_port(sport) || sip_port(dport) || sip::looks_like_sip(payload))
    {
        return Some(Protocol::Sip);
    }
    None
}

impl Translator {
    /// A translator for `policy`.
    pub fn new(policy: Policy) -> Translator {
        Translator {
            policy,
            ..Default::default()
        }
    }

    /// The peers are real hosts that received the translated frames (`eipsim live`), not a
    /// capture: their acknowledgements (and SACK edges) of a changed stream are mapped back to
    /// the sender's own numbers, as Linux's `nf_nat_seqadj` does.
    pub fn peers_see_translation(&mut self) {
        self.live_peers = true;
    }

    /// The policy.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// Connections with sequence offsets.
    pub fn adjusted_connections(&self) -> usize {
        self.seq.len()
    }

    /// The what-if ALG: translates `frame` (as the core forwarded it, with verdict `v`) into
    /// `out`.
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
        if !matches!(t.proto, proto::TCP | proto::UDP) {
            return Translation::NotCovered;
        }
        let lay = layout_of(v, link, frame);
        let Some((_, seq, payload)) = lay.l4_payload(frame) else {
            return Translation::NotCovered;
        };
        let Some(protocol) = covered(self.policy, t.proto, t.sport, t.dport, payload) else {
            return Translation::NotCovered;
        };
        // The sender's address before and after SNAT; the destination before and after DNAT.
        let wire_src = lay.ipv4(frame).map(|ip| Ipv4Addr::from(ip.src_addr()));
        let snat = matches!(action, Action::Snat | Action::Hairpin)
            .then_some(wire_src)
            .flatten()
            .map(|to| (Ipv4Addr::from(t.src), to))
            .filter(|(a, b)| a != b);
        let dnat = matches!(action, Action::Dnat | Action::Hairpin)
            .then(|| (Ipv4Addr::from(t.dst), Ipv4Addr::from(v.inside_dst)))
            .filter(|(a, b)| a != b);
        // nf_nat_ftp rewrites the sender's own address only; nf_nat_sip maps both ways.
        let map = match protocol {
            Protocol::Ftp => snat.into_iter().collect(),
            _ => snat.into_iter().chain(dnat).collect(),
        };
        let (id, dir) = flow_of(v);
        self.run(
            lay,
            frame,
            Job {
                protocol,
                id,
                dir,
                seq: seq.unwrap_or(0),
                payload,
                map,
                src: None,
                dst: None,
                forward_acks: false,
                back_acks: self.live_peers,
            },
            out,
        )
    }

    /// The mode advisor's guest: rewrites a frame of the original capture (verdict `v` from the
    /// original topology) as the guest would have sent it in another mode. A frame the guest
    /// sends (`sent`) has its source `from` replaced by `to` in the header and, for the
    /// protocols of the policy, in the payload, with its sequence numbers shifted when the
    /// length changes; a frame towards the guest gets its acknowledgements shifted to match.
    /// Returns whether `out` holds the frame to use.
    pub fn guest_rewrite(
        &mut self,
        link: LinkType,
        frame: &[u8],
        v: &Verdict,
        sent: Option<(Ipv4Addr, Ipv4Addr)>,
        out: &mut Vec<u8>,
    ) -> bool {
        let t = v.tuple;
        let lay = layout_of(v, link, frame);
        let (seq, payload) = match lay.l4_payload(frame) {
            Some((_, seq, p)) => (seq, p),
            None => (None, &[][..]),
        };
        let protocol = covered(self.policy, t.proto, t.sport, t.dport, payload);
        let (id, dir) = flow_of(v);
        let Some(protocol) = protocol else {
            // Not a translated protocol: only the header, if anything.
            let Some((_, to)) = sent else {
                return false;
            };
            let edit = Edit {
                src: Some(to.octets()),
                ..Default::default()
            };
            return rewrite_with(lay, frame, &edit, out).is_ok();
        };
        let done = self.run(
            lay,
            frame,
            Job {
                protocol,
                id,
                dir,
                seq: seq.unwrap_or(0),
                payload,
                map: sent.into_iter().collect(),
                src: sent.map(|(_, to)| to.octets()),
                dst: None,
                forward_acks: true,
                back_acks: false,
            },
            out,
        );
        matches!(
            done,
            Translation::Covered {
                rewritten: true,
                ..
            } | Translation::Failed {
                rewritten: true,
                ..
            }
        )
    }

    fn run(&mut self, lay: Layout, frame: &[u8], job: Job<'_>, out: &mut Vec<u8>) -> Translation {
        let Job {
            protocol,
            id,
            dir,
            seq,
            payload,
            map,
            src,
            dst,
            forward_acks,
            back_acks,
        } = job;
        let changes = if payload.is_empty() || map.is_empty() {
            Vec::new()
        } else if protocol == Protocol::Ftp {
            let (from, to) = map[0];
            ftp::translate(payload, from, to, &mut self.payload)
        } else {
            sip::translate(payload, &map, &mut self.payload)
        };
        let tcp = id.0 == proto::TCP;
        let mut adj = if tcp {
            self.seq.get(&id).copied().unwrap_or_default()
        } else {
            [SeqAdj::default(); 2]
        };
        if tcp && !changes.is_empty() {
            let delta = self.payload.len() as i64 - payload.len() as i64;
            adj[dir].record(seq, delta as i32);
        }
        let header_only = src.is_none() && dst.is_none();
        let (mine, theirs) = (adj[dir], adj[1 - dir]);
        let acks = (forward_acks || back_acks) && theirs.active();
        if changes.is_empty() && !mine.active() && !acks && header_only {
            return Translation::Covered {
                protocol,
                changes,
                rewritten: false,
            };
        }
        let ack = move |a: u32| acked(theirs, back_acks, a);
        let mut edit = Edit {
            src,
            dst,
            seq: mine.active().then(|| mine.seq(seq)),
            ack: acks.then_some(&ack as &dyn Fn(u32) -> u32),
            payload: (!changes.is_empty()).then_some(self.payload.as_slice()),
        };
        match rewrite_with(lay, frame, &edit, out) {
            Ok(()) => {
                if tcp && !changes.is_empty() {
                    self.seq.insert(id, adj);
                }
                Translation::Covered {
                    protocol,
                    changes,
                    rewritten: true,
                }
            }
            Err(reason) => {
                // The payload cannot change (a fragment, or cut by the snap length): its length
                // stays, so the offsets stay as they were; earlier ones still apply.
                let old = if tcp {
                    self.seq.get(&id).copied().unwrap_or_default()
                } else {
                    [SeqAdj::default(); 2]
                };
                let (mine, theirs) = (old[dir], old[1 - dir]);
                let acks = (forward_acks || back_acks) && theirs.active();
                let ack = move |a: u32| acked(theirs, back_acks, a);
                edit.payload = None;
                edit.seq = mine.active().then(|| mine.seq(seq));
                edit.ack = acks.then_some(&ack as &dyn Fn(u32) -> u32);
                let mut rewritten = (mine.active() || acks || !header_only)
                    && rewrite_with(lay, frame, &edit, out).is_ok();
                if !rewritten && !header_only {
                    // No whole TCP header: the addresses still change.
                    let addresses = Edit {
                        src,
                        dst,
                        ..Default::default()
                    };
                    rewritten = rewrite_with(lay, frame, &addresses, out).is_ok();
                }
                Translation::Failed {
                    protocol,
                    reason,
                    rewritten,
                }
            }
        }
    }
}

/// An acknowledgement of the stream `theirs` describes: mapped back to the sender's numbers
/// (`back`: a live peer acknowledged the changed stream) or forward to the changed stream's.
fn acked(theirs: SeqAdj, back: bool, a: u32) -> u32 {
    if back { theirs.unack(a) } else { theirs.seq(a) }
}
