//! The ALG tracker: everything the ALG inspection knows across frames, fed by one call per
//! frame ([`AlgTracker::inspect`]; the what-if translation reports through
//! [`AlgTracker::translated`]). Per flow: the protocol, TCP reassembly of the control channel,
//! the embedded-address findings; across flows: the ends a control channel announced (data
//! connections, media, TFTP transfers) and the flows that used them.

use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::stream::Stream;
use super::{Embedded, Field, PortTable, Protocol};
use crate::dataplane::{Action, FlowKey, Outcome, Verdict};
use crate::model::{Cloud, Ipv4Cidr, Mode};
use crate::wire::LinkType;

/// ALG findings kept per flow at most; further ones are counted.
pub const MAX_FINDINGS: usize = 32;

/// Announcements kept at most (oldest are not replaced; further ones are counted).
pub const MAX_EXPECTATIONS: usize = 4096;

/// One ALG finding of a flow.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `documented`, `embedded-address`, `related-flow`, `translated` or `not-translated`.
    pub kind: &'static str,
    /// The protocol.
    pub protocol: Protocol,
    /// Where in the payload (`PORT`, `227`, `sdp c=`, `Via`, ...); none for `documented` and
    /// `not-translated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    /// The address (and port) in dotted form, or the seed reference for `documented`.
    pub value: String,
    /// The 1-based frame number in the replay of its first occurrence (0 for `documented`).
    #[serde(skip_serializing_if = "is_zero")]
    pub frame: u64,
    /// Later frames of the flow carrying the same field and value (retransmissions, repeats).
    #[serde(skip_serializing_if = "is_zero")]
    pub repeats: u64,
    /// What it means.
    pub why: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The ALG state of one flow.
#[derive(Clone, Debug, Default)]
pub struct AlgFlow {
    /// The protocol identified.
    pub protocol: Option<Protocol>,
    /// Findings kept (at most [`MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
    /// Embedded VPC addresses in translated frames.
    pub embedded: u64,
    /// Findings beyond the kept ones.
    pub findings_untracked: u64,
    /// TCP reassembly, from the flow's local end and towards it.
    pub streams: [Stream; 2],
    /// The what-if translation rewrote an address in this flow (`--alg`, `[alg]`).
    pub translated: bool,
    /// Frames of the flow the translation rewrote.
    pub translated_frames: u64,
}

/// A port a control channel announced: who announced it, in which field, at which frame.
#[derive(Clone, Debug)]
pub struct Announcement {
    /// The control channel's protocol.
    pub protocol: Protocol,
    /// The field that announced it.
    pub field: Field,
    /// `address:port` announced.
    pub value: String,
    /// The frame that announced it.
    pub frame: u64,
    /// Only a flow whose other end is this address matches (TFTP: the server).
    pub peer: Option<u32>,
}

/// What the inspection of a frame says about its flow.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Interest {
    /// Keep inspecting the flow's frames.
    Keep,
    /// The flow carries no ALG protocol: its later frames need not be inspected.
    NotAlg,
}

/// The ALG tracker of a replay (or of one shard of it).
#[derive(Clone, Debug, Default)]
pub struct AlgTracker {
    flows: FxHashMap<FlowKey, AlgFlow>,
    /// A flow opened on an announced end -> the control flow and the announcement.
    related: FxHashMap<FlowKey, (FlowKey, Announcement)>,
    /// Announced (address, port) -> the control flow and the announcement.
    expected: FxHashMap<(u32, u16), (FlowKey, Announcement)>,
    /// Announcements beyond [`MAX_EXPECTATIONS`].
    pub expectations_untracked: u64,
    /// NAT-mode EIP -> private IP: an announced EIP is expected at its private address (the
    /// inside view that keys flows).
    nat: std::sync::Arc<FxHashMap<u32, u32>>,
    ports: PortTable,
    vpc: Option<Ipv4Cidr>,
}

impl AlgTracker {
    /// A tracker for a VPC `vpc` whose NAT-mode EIPs map as `nat` says (EIP -> private IP).
    pub fn with_nat(vpc: Option<Ipv4Cidr>, nat: FxHashMap<u32, u32>) -> AlgTracker {
        AlgTracker {
            nat: std::sync::Arc::new(nat),
            vpc,
            ..Default::default()
        }
    }

    /// The NAT mappings of `cloud` (NAT-mode EIP -> private IP).
    pub fn nat_of(cloud: &Cloud) -> FxHashMap<u32, u32> {
        let mut nat = FxHashMap::default();
        for a in &cloud.associations {
            if a.mode == Mode::Nat {
                let private = a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip);
                nat.insert(u32::from(cloud.eips[a.eip].address), u32::from(private));
            }
        }
        nat
    }

    /// Follows a cloud changed by an event: its VPC and NAT mappings.
    pub fn follow(&mut self, cloud: &Cloud) {
        self.vpc = Some(cloud.vpc.cidr);
        self.nat = std::sync::Arc::new(AlgTracker::nat_of(cloud));
    }

    /// [`AlgTracker::follow`] with the cloud's NAT mappings already made (shared by the shards
    /// of a pass rather than copied into each).
    pub fn follow_shared(&mut self, cloud: &Cloud, nat: &std::sync::Arc<FxHashMap<u32, u32>>) {
        self.vpc = Some(cloud.vpc.cidr);
        self.nat = nat.clone();
    }

    /// Takes the NAT mappings out; announcements are no longer mapped afterwards.
    pub fn take_nat(&mut self) -> FxHashMap<u32, u32> {
        std::sync::Arc::try_unwrap(std::mem::take(&mut self.nat)).unwrap_or_else(|a| (*a).clone())
    }

    /// A flow was opened by a frame from `s` to `d`: when a control channel announced either
    /// end (and, if it said so, the other end is its peer), the flow is related to it.
    pub fn opened(&mut self, key: FlowKey, s: (u32, u16), d: (u32, u16)) {
        if self.expected.is_empty() {
            return;
        }
        let found = [(s, d), (d, s)].iter().find_map(|(end, other)| {
            self.expected
                .get(end)
                .filter(|(ctl, a)| *ctl != key && a.peer.is_none_or(|p| p == other.0))
                .cloned()
        });
        if let Some(r) = found {
            self.related.insert(key, r);
        }
    }

    /// Stage 6 of the frame pass, the one call per frame: inspects a frame of the flow `key`
    /// whose VPC-side end is `local` (its 1-based number `frame_no`, its verdict, bytes and
    /// link type), for frames that concern the VPC (an ENI, an EIP or a VPC address). The
    /// port table first; on other ports the first payload of a flow is sniffed (SIP, RTSP).
    /// TCP control channels are reassembled in order and a message is read once it is whole.
    /// `mapped` is the private address a what-if translation wrote towards the VPC (not a
    /// finding).
    pub fn inspect(
        &mut self,
        (key, local): (FlowKey, (u32, u16)),
        frame_no: u64,
        (v, data, _link): (&Verdict, &[u8], LinkType),
        mapped: Option<u32>,
    ) -> Interest {
        let t = v.tuple;
        if !matches!(t.proto, 6 | 17) {
            return Interest::Keep;
        }
        let Some(vpc) = self.vpc else {
            return Interest::Keep;
        };
        // Only flows that cross the gateway or stay in the VPC: two Internet hosts talking in
        // the same capture are none of the VPC's business.
        let touches_vpc = v.eni.is_some()
            || v.eip.is_some()
            || vpc.contains(Ipv4Addr::from(t.src))
            || vpc.contains(Ipv4Addr::from(v.inside_dst));
        if !touches_vpc {
            return Interest::Keep;
        }
        let hit = self.ports.hit(t.sport, t.dport);
        // The frame's headers where the core found them (a translated frame keeps them).
        let Some((proto, seq, payload)) = v.layout.l4_payload(data) else {
            return Interest::Keep;
        };
        if payload.is_empty() {
            return Interest::Keep;
        }
        let Some(protocol) = super::identify(proto, t.sport, t.dport, payload) else {
            if !hit && !self.flows.contains_key(&key) {
                return Interest::NotAlg;
            }
            return Interest::Keep;
        };
        let ctx = super::ScanContext {
            tcp: proto == crate::wire::proto::TCP,
            vpc,
        };
        let items = match seq {
            Some(seq) => {
                let (s, _) = ((t.src, t.sport), ());
                let dir = usize::from(s != local);
                let alg = self.flows.entry(key).or_default();
                alg.protocol.get_or_insert(protocol);
                match alg.streams[dir].feed(protocol, seq, payload) {
                    Some(messages) => super::scan(protocol, &messages, ctx),
                    None => Vec::new(),
                }
            }
            None => super::scan(protocol, payload, ctx),
        };
        self.record(key, frame_no, v, protocol, &items, vpc, mapped);
        Interest::Keep
    }

    /// Records what the ALG inspection of a frame found: its protocol and the addresses and
    /// ports its payload carries. An address inside the VPC CIDR in a payload whose header the
    /// NAT translated (SNAT, DNAT, hairpin) is an `embedded-address` finding, except `mapped`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        key: FlowKey,
        frame_no: u64,
        v: &Verdict,
        protocol: Protocol,
        items: &[Embedded],
        vpc: Ipv4Cidr,
        mapped: Option<u32>,
    ) {
        let (_, t, s, d) = FlowKey::of(v);
        self.flows
            .entry(key)
            .or_default()
            .protocol
            .get_or_insert(protocol);
        // Announced ports: the flows that will use them are related to this one.
        let mut sdp_addr = None;
        for e in items {
            if e.field == Field::SdpC {
                sdp_addr = e.addr;
            }
            let Some(port) = e.port else { continue };
            if !e.field.announces() {
                continue;
            }
            let addr = match (e.addr, e.field) {
                (Some(a), _) => u32::from(a),
                (None, Field::SdpM | Field::SdpARtcp) => match sdp_addr {
                    Some(a) => u32::from(a),
                    None => t.src,
                },
                // RTSP: client_port belongs to the end that is not the RTSP server.
                (None, Field::TransportClientPort) => {
                    if matches!(t.sport, 554 | 8554) {
                        t.dst
                    } else {
                        t.src
                    }
                }
                (None, Field::TransportServerPort) => {
                    if matches!(t.sport, 554 | 8554) {
                        t.src
                    } else {
                        t.dst
                    }
                }
                // FTP 229 and anything else: the sender's address.
                (None, _) => t.src,
            };
            let addr = self.nat.get(&addr).copied().unwrap_or(addr);
            // The control channel's own endpoints are not a new flow.
            if (addr, port) == s || (addr, port) == d {
                continue;
            }
            let mut announce = |field: Field, port: u16| {
                let ann = Announcement {
                    protocol,
                    field,
                    value: format!("{}:{port}", Ipv4Addr::from(addr)),
                    frame: frame_no,
                    peer: None,
                };
                if self.expected.len() >= MAX_EXPECTATIONS
                    && !self.expected.contains_key(&(addr, port))
                {
                    self.expectations_untracked += 1;
                } else {
                    self.expected.entry((addr, port)).or_insert((key, ann));
                }
            };
            announce(e.field, port);
            // RTP's RTCP goes to the next port unless a=rtcp says otherwise (RFC 3550).
            if e.field == Field::SdpM && !items.iter().any(|x| x.field == Field::SdpARtcp) {
                announce(Field::SdpMRtcp, port.wrapping_add(1));
            }
        }
        // TFTP: the server answers a request from a new port (its transfer id): the client's
        // address and port, from the server's address, mark the transfer.
        if protocol == Protocol::Tftp && t.dport == 69 && self.expected.len() < MAX_EXPECTATIONS {
            let ann = Announcement {
                protocol,
                field: Field::TftpRequest,
                value: format!("{}:{}", Ipv4Addr::from(t.src), t.sport),
                frame: frame_no,
                peer: Some(t.dst),
            };
            self.expected.entry((t.src, t.sport)).or_insert((key, ann));
        }
        let translated = matches!(
            v.outcome,
            Outcome::Forward(_, Action::Snat | Action::Dnat | Action::Hairpin)
        );
        if !translated {
            return;
        }
        let alg = self.flows.entry(key).or_default();
        for e in items {
            let Some(a) = e.addr else { continue };
            if !vpc.contains(a) || mapped == Some(u32::from(a)) {
                continue;
            }
            alg.embedded += 1;
            let value = e.value();
            // A retransmitted or repeated message: counted on the first finding.
            if let Some(f) = alg
                .findings
                .iter_mut()
                .find(|f| f.field == Some(e.field) && f.value == value)
            {
                f.repeats += 1;
                continue;
            }
            if alg.findings.len() >= MAX_FINDINGS {
                alg.findings_untracked += 1;
                continue;
            }
            let dir = match v.outcome {
                Outcome::Forward(_, Action::Snat) => "left through SNAT",
                Outcome::Forward(_, Action::Dnat) => "arrived through DNAT",
                _ => "crossed the gateway (hairpin)",
            };
            alg.findings.push(Finding {
                kind: "embedded-address",
                protocol,
                field: Some(e.field),
                value,
                frame: frame_no,
                repeats: 0,
                why: format!(
                    "the header was translated but the payload still carries the VPC address {a}; the frame {dir}"
                ),
            });
        }
    }

    /// Stage 5's record: what the what-if translation did to a frame of the flow `key`: the
    /// addresses it rewrote (`translated` findings), or why it could not rewrite the payload.
    pub fn translated(
        &mut self,
        key: FlowKey,
        frame_no: u64,
        protocol: Protocol,
        changes: &[super::Change],
        rewritten: bool,
        failure: Option<crate::wire::rewrite::RewriteError>,
    ) {
        let alg = self.flows.entry(key).or_default();
        alg.protocol.get_or_insert(protocol);
        alg.translated |= !changes.is_empty();
        alg.translated_frames += u64::from(rewritten);
        let push = |alg: &mut AlgFlow, f: Finding| {
            if let Some(old) = alg
                .findings
                .iter_mut()
                .find(|o| o.kind == f.kind && o.field == f.field && o.value == f.value)
            {
                old.repeats += 1;
            } else if alg.findings.len() >= MAX_FINDINGS {
                alg.findings_untracked += 1;
            } else {
                alg.findings.push(f);
            }
        };
        for c in changes {
            push(
                alg,
                Finding {
                    kind: "translated",
                    protocol,
                    field: Some(c.field),
                    value: format!("{} -> {}", c.from, c.to),
                    frame: frame_no,
                    repeats: 0,
                    why:
                        "what-if ALG: the payload address was rewritten as a Linux NAT helper would"
                            .into(),
                },
            );
        }
        if let Some(reason) = failure {
            push(
                alg,
                Finding {
                    kind: "not-translated",
                    protocol,
                    field: None,
                    value: reason.to_string(),
                    frame: frame_no,
                    repeats: 0,
                    why: "what-if ALG: this frame's payload could not be rewritten".into(),
                },
            );
        }
    }

    /// The ALG state of a flow, if it has one.
    pub fn flow(&self, key: &FlowKey) -> Option<&AlgFlow> {
        self.flows.get(key)
    }

    /// Flows with ALG state.
    pub fn flows(&self) -> impl Iterator<Item = (&FlowKey, &AlgFlow)> {
        self.flows.iter()
    }

    /// The control flow and announcement a flow was opened on, if any.
    pub fn related_to(&self, key: &FlowKey) -> Option<&(FlowKey, Announcement)> {
        self.related.get(key)
    }

    /// The announcement of an (address, port) end, with its control flow.
    pub fn announced_at(&self, end: &(u32, u16)) -> Option<&(FlowKey, Announcement)> {
        self.expected.get(end)
    }

    /// Every announcement: (end, control flow, announcement).
    pub fn announcements(&self) -> impl Iterator<Item = &(FlowKey, Announcement)> {
        self.expected.values()
    }

    /// The (address, port) ends announced by control channels.
    pub fn announced(&self) -> impl Iterator<Item = (u32, u16)> + '_ {
        self.expected.keys().copied()
    }

    /// Adds another shard's tracker (disjoint flows; an end announced in both keeps the
    /// earlier announcement).
    pub fn merge(&mut self, other: AlgTracker) {
        self.expectations_untracked += other.expectations_untracked;
        for (k, f) in other.flows {
            self.flows.entry(k).or_insert(f);
        }
        for (k, r) in other.related {
            self.related.entry(k).or_insert(r);
        }
        for (end, ann) in other.expected {
            match self.expected.entry(end) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(ann);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    if ann.1.frame < e.get().1.frame {
                        e.insert(ann);
                    }
                }
            }
        }
    }
}
