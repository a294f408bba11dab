//! Counters, flows and the report: `report.json` (design.md section 4) and the terminal summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::alg::Protocol;
use crate::alg::tracker::{AlgFlow, AlgTracker, Announcement};
use crate::dataplane::{
    Action, CapturePoint, DropReason, FlowKey, Fragment, Outcome, Port, Verdict,
};
use crate::model::{Cloud, Ipv4Cidr, Mode};

mod merge;

pub use crate::alg::tracker::{Finding, MAX_EXPECTATIONS, MAX_FINDINGS};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Flows tracked at most; frames of further flows are still counted, in `flows_untracked`.
pub const MAX_FLOWS: usize = 1 << 16;

#[derive(Clone, Debug)]
struct FlowRec {
    proto: u8,
    first_frame: u64,
    /// (local, remote) endpoints inside the VPC view, oriented from the VPC side when known.
    local: (u32, u16),
    remote: (u32, u16),
    eni: Option<u32>,
    mode: Option<Mode>,
    eip: Option<u32>,
    frames: u64,
    forwarded: u64,
    dropped: [u64; DropReason::COUNT],
    actions: [u64; 5],
    /// A payload of this flow was looked at and it is no ALG protocol.
    not_alg: bool,
    /// Frames from the Internet side addressed to a private address of the VPC, dropped
    /// `unknown-destination` (the mark of an instance capture replayed as a gateway capture).
    internet_to_private: u64,
}

impl FlowRec {
    /// Frames dropped, per reason (the reasons that occurred).
    fn drops(&self) -> BTreeMap<&'static str, u64> {
        DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| (r.as_str(), self.dropped[r.index()]))
            .collect()
    }
}

/// Everything the replay counts.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Frames in.
    pub frames_in: u64,
    /// Frames forwarded.
    pub forwarded: u64,
    /// Frames dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Frames out per egress: index 0 the Internet, 1 + i ENI i.
    pub egress: Vec<u64>,
    /// Forwarded frames per action.
    pub actions: [u64; 5],
    flows: FxHashMap<FlowKey, FlowRec>,
    /// Frames of flows beyond [`MAX_FLOWS`].
    pub flows_untracked: u64,
    /// The ALG tracker: protocols, reassembly, findings and announcements of the flows.
    pub(crate) alg: AlgTracker,
    /// The what-if ALG translation in force (for the summary).
    pub translation: crate::alg::translate::Policy,
    /// Timed events (`replay --events`), in the order applied.
    pub timeline: Vec<TimelineEntry>,
    /// Counters between events: a new segment starts at each frame where events applied.
    pub segments: Vec<Segment>,
    /// Where the captures were taken (`--capture-point`).
    pub capture_point: CapturePoint,
    /// Capture point `instance`: frames turned back into the frames the Internet sent.
    pub restored: u64,
    /// Frames that came from the Internet side.
    pub internet_in: u64,
    /// Of those, frames addressed to a private address of the VPC and dropped
    /// `unknown-destination`: the mark of a capture taken on an instance.
    pub internet_to_private: u64,
    /// The VPC's CIDR (for the mark above).
    vpc: Option<Ipv4Cidr>,
    /// First fragments seen: (source, destination, protocol, identification) -> their ports.
    fragments: FxHashMap<(u32, u32, u8, u16), (u16, u16)>,
}

/// First fragments remembered at most (the table starts again when full).
pub const MAX_FRAGMENTS: usize = 4096;

fn action_index(a: Action) -> usize {
    match a {
        Action::Dnat => 0,
        Action::Snat => 1,
        Action::PassThrough => 2,
        Action::IntraVpc => 3,
        Action::Hairpin => 4,
    }
}

const ACTIONS: [Action; 5] = [
    Action::Dnat,
    Action::Snat,
    Action::PassThrough,
    Action::IntraVpc,
    Action::Hairpin,
];

impl Stats {
    /// Empty counters for a cloud with `enis` ENIs.
    pub fn new(enis: usize) -> Stats {
        Stats {
            frames_in: 0,
            forwarded: 0,
            dropped: [0; DropReason::COUNT],
            egress: vec![0; enis + 1],
            actions: [0; 5],
            flows: FxHashMap::default(),
            flows_untracked: 0,
            alg: AlgTracker::default(),
            translation: Default::default(),
            timeline: Vec::new(),
            segments: Vec::new(),
            capture_point: CapturePoint::Gateway,
            restored: 0,
            internet_in: 0,
            internet_to_private: 0,
            vpc: None,
            fragments: FxHashMap::default(),
        }
    }

    /// Joins a later IPv4 fragment to its datagram's flow: it gets the ports of the first
    /// fragment with the same addresses, protocol and identification, when that was seen (a
    /// later fragment seen alone keeps no ports and counts as a flow of its own). Call it
    /// before [`Stats::record`] and use the joined verdict for everything else of the frame.
    pub fn join_fragment(&mut self, v: &mut Verdict) {
        let t = &mut v.tuple;
        match v.fragment {
            Fragment::Whole => {}
            Fragment::First(id) => {
                if self.fragments.len() >= MAX_FRAGMENTS {
                    self.fragments.clear();
                }
                self.fragments
                    .insert((t.src, t.dst, t.proto, id), (t.sport, t.dport));
            }
            Fragment::Later(id) => {
                if let Some(&(s, d)) = self.fragments.get(&(t.src, t.dst, t.proto, id)) {
                    t.sport = s;
                    t.dport = d;
                }
            }
        }
    }

    /// Whether the capture looks taken on an instance although it is replayed as a gateway
    /// capture: most frames from the Internet side are addressed to private IPs of the VPC.
    pub fn looks_like_instance_capture(&self) -> bool {
        self.capture_point == CapturePoint::Gateway
            && self.internet_to_private > 0
            && self.internet_to_private * 2 > self.internet_in
    }

    /// Empty counters for `cloud`, which also names the NAT mappings announcements go through.
    pub fn for_cloud(cloud: &Cloud) -> Stats {
        let mut s = Stats::new(cloud.enis.len());
        s.follow(cloud);
        s
    }

    /// Empty counters like [`Stats::for_cloud`], for a cloud with `enis` ENIs in `vpc` whose
    /// NAT-mode EIPs map as `nat` says (EIP -> private IP, host order). The mode advisor lends
    /// one map to each variant and takes it back with [`Stats::take_nat`].
    pub(crate) fn with_nat(enis: usize, vpc: Ipv4Cidr, nat: FxHashMap<u32, u32>) -> Stats {
        let mut s = Stats::new(enis);
        s.vpc = Some(vpc);
        s.alg = AlgTracker::with_nat(Some(vpc), nat);
        s
    }

    /// Takes the NAT mappings out (see [`Stats::with_nat`]); announcements are no longer
    /// mapped afterwards.
    pub(crate) fn take_nat(&mut self) -> FxHashMap<u32, u32> {
        self.alg.take_nat()
    }

    /// The NAT mappings as [`Stats::for_cloud`] takes them from `cloud`.
    pub(crate) fn nat_of(cloud: &Cloud) -> FxHashMap<u32, u32> {
        AlgTracker::nat_of(cloud)
    }

    /// The flows the ALG inspection ties together, by [`flow_key`]: flows with ALG state,
    /// control flows that announced a flow, and the flows linked to an announcement.
    pub(crate) fn alg_flow_keys(&self) -> Vec<FlowKeyTuple> {
        let key = |k: &FlowKey| (k.proto, k.a, k.b);
        let mut v: Vec<_> = self
            .flows
            .iter()
            .filter(|(k, f)| {
                self.alg.flow(k).is_some()
                    || self.alg.announced_at(&f.local).is_some()
                    || self.alg.announced_at(&f.remote).is_some()
            })
            .map(|(k, _)| key(k))
            .collect();
        v.extend(self.alg.announcements().map(|(ctl, _)| key(ctl)));
        v
    }

    /// The (address, port) ends announced by control channels.
    pub(crate) fn announced(&self) -> impl Iterator<Item = (u32, u16)> + '_ {
        self.alg.announced()
    }

    /// Follows a cloud changed by an event: more ENIs (egress counters), new NAT mappings.
    pub fn follow(&mut self, cloud: &Cloud) {
        if self.egress.len() < cloud.enis.len() + 1 {
            self.egress.resize(cloud.enis.len() + 1, 0);
        }
        self.vpc = Some(cloud.vpc.cidr);
        self.alg.follow(cloud);
    }

    /// Starts counting per segment (a replay with timed events): the first segment opens at
    /// frame 1.
    pub fn start_timeline(&mut self) {
        if self.segments.is_empty() {
            self.segments.push(Segment::starting(1));
        }
    }

    /// Records timed events applied before frame `frame` (1-based): a new segment of counters
    /// starts there. `results` are (at, operation, outcome).
    pub fn record_events(
        &mut self,
        frame: u64,
        results: Vec<(String, String, Result<(), crate::model::ModelError>)>,
    ) {
        if self.segments.is_empty() {
            self.segments.push(Segment::starting(1));
        }
        if self.segments.last().is_some_and(|s| s.frames > 0) {
            self.segments.push(Segment::starting(frame));
        }
        let segment = self.segments.len() - 1;
        for (at, op, result) in results {
            self.timeline.push(TimelineEntry {
                at,
                op,
                result: Some(result),
                frame: Some(frame),
                segment,
            });
        }
    }

    /// Records timed events that no frame reached (their time is after the last frame).
    pub fn record_unreached(&mut self, at: String, op: String) {
        if self.segments.is_empty() {
            self.segments.push(Segment::starting(1));
        }
        self.timeline.push(TimelineEntry {
            at,
            op,
            result: None,
            frame: None,
            segment: self.segments.len(),
        });
    }

    /// Total frames dropped.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Counts one frame (its 1-based number in the replay) and its verdict.
    ///
    /// Returns whether the frame's flow still wants ALG inspection: it has an ALG protocol, or
    /// no payload of it has been looked at yet. A flow found not to be an ALG protocol costs
    /// nothing more (see [`Stats::not_alg`]).
    pub fn record(&mut self, frame_no: u64, v: &Verdict) -> bool {
        self.record_flow(frame_no, v).is_some()
    }

    /// [`Stats::record`], giving the flow (its key and VPC-side end) when it wants ALG
    /// inspection.
    pub fn record_flow(&mut self, frame_no: u64, v: &Verdict) -> Option<(FlowKey, (u32, u16))> {
        self.frames_in += 1;
        if let Some(seg) = self.segments.last_mut() {
            seg.count(v);
        }
        match v.outcome {
            Outcome::Forward(port, action) => {
                self.forwarded += 1;
                self.actions[action_index(action)] += 1;
                let i = match port {
                    Port::Internet => 0,
                    Port::Eni(e) => 1 + e as usize,
                };
                self.egress[i] += 1;
            }
            Outcome::Drop(r) => self.dropped[r.index()] += 1,
        }
        let mut to_private = false;
        if v.ingress == Some(Port::Internet) {
            self.internet_in += 1;
            if v.outcome == Outcome::Drop(DropReason::UnknownDestination)
                && self
                    .vpc
                    .is_some_and(|c| c.contains(Ipv4Addr::from(v.tuple.dst)))
            {
                self.internet_to_private += 1;
                to_private = true;
            }
        }
        if v.tuple.proto == 0 && v.tuple.src == 0 && v.tuple.dst == 0 {
            return None; // not IPv4: no flow
        }
        let (key, t, s, d) = FlowKey::of(v);
        let len = self.flows.len();
        let rec = match self.flows.get_mut(&key) {
            Some(r) => r,
            None if len >= MAX_FLOWS => {
                self.flows_untracked += 1;
                return None;
            }
            None => {
                // Orient the flow from the VPC side: the sender if it came from an ENI.
                let from_vpc = matches!(v.ingress, Some(Port::Eni(_)));
                let (local, remote) = if from_vpc { (s, d) } else { (d, s) };
                // A flow a control channel announced: match either end, and the peer if given.
                self.alg.opened(key, s, d);
                self.flows.entry(key).or_insert(FlowRec {
                    proto: t.proto,
                    first_frame: frame_no,
                    local,
                    remote,
                    eni: None,
                    mode: None,
                    eip: None,
                    frames: 0,
                    forwarded: 0,
                    dropped: [0; DropReason::COUNT],
                    actions: [0; 5],
                    not_alg: false,
                    internet_to_private: 0,
                })
            }
        };
        rec.frames += 1;
        rec.internet_to_private += u64::from(to_private);
        rec.eni = rec.eni.or(v.eni);
        rec.mode = rec.mode.or(v.mode);
        rec.eip = rec.eip.or(v.eip);
        match v.outcome {
            Outcome::Forward(_, a) => {
                rec.forwarded += 1;
                rec.actions[action_index(a)] += 1;
            }
            Outcome::Drop(r) => rec.dropped[r.index()] += 1,
        }
        (!rec.not_alg).then_some((key, rec.local))
    }

    /// The VPC-side end of a tracked flow.
    pub(crate) fn local_of(&self, key: &FlowKey) -> Option<(u32, u16)> {
        self.flows.get(key).map(|f| f.local)
    }

    /// Marks a flow as not carrying an ALG protocol: its later frames are not inspected.
    pub fn set_not_alg(&mut self, key: &FlowKey) {
        if let Some(rec) = self.flows.get_mut(key) {
            rec.not_alg = true;
        }
    }

    /// ALG totals per protocol: (flows, findings).
    pub fn alg_totals(&self) -> BTreeMap<Protocol, (u64, u64)> {
        let view = AlgView::new(self);
        let mut m = BTreeMap::new();
        for (k, f) in &self.flows {
            if let Some(a) = self.alg.flow(k)
                && let Some(p) = a.protocol
            {
                let e = m.entry(p).or_insert((0, 0));
                e.0 += 1;
                e.1 += flow_findings(f, Some(a), view.related.get(k)).len() as u64
                    + a.findings_untracked;
            }
        }
        m
    }

    /// The flows' verdicts, counted (for the summary).
    fn alg_verdicts(&self) -> BTreeMap<&'static str, u64> {
        let view = AlgView::new(self);
        let mut verdicts = BTreeMap::new();
        for (k, f) in self.flows.iter() {
            let Some(a) = self.alg.flow(k) else { continue };
            *verdicts
                .entry(flow_verdict(f, Some(a), view.broken.contains(k)).0)
                .or_default() += 1;
        }
        verdicts
    }

    /// Number of flows tracked.
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }
}

/// A flow as [`flow_key`] gives it: protocol and the two (address, port) ends, lower first.
pub(crate) type FlowKeyTuple = (u8, (u32, u16), (u32, u16));

/// The key that groups a frame into its flow in the report: the protocol and the two endpoints
/// (address, port) of the frame's inside view, lower first. Both directions and both sides of
/// the gateway of a connection share it.
pub fn flow_key(v: &Verdict) -> (u8, (u32, u16), (u32, u16)) {
    let (k, ..) = FlowKey::of(v);
    (k.proto, k.a, k.b)
}

/// A flow as the mode advisor sees it.
#[derive(Clone, Debug, Serialize)]
pub struct FlowSummary {
    /// `tcp`, `udp`, `icmp`, `ip-N`.
    pub protocol: String,
    /// VPC-side endpoint, then the far one (inside view).
    pub addresses: [String; 2],
    /// Ports, VPC side first (TCP/UDP).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<[u16; 2]>,
    /// The ENI (index) on the VPC side.
    #[serde(skip)]
    pub eni: Option<u32>,
    /// The mode concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    /// The frame that opened the flow (1-based).
    pub first_frame: u64,
    /// Frames of the flow.
    pub frames: u64,
    /// Frames forwarded.
    pub forwarded: u64,
    /// Frames dropped, per reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// `ok`, `dropped`, `alg-broken`, `alg-at-risk` or `translated`.
    pub verdict: &'static str,
    /// Why, for ALG protocols.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_reason: Option<&'static str>,
    /// The ALG protocol, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alg_protocol: Option<Protocol>,
}

impl Stats {
    fn summary_of(&self, f: &FlowRec, view: &AlgView, k: &FlowKey) -> FlowSummary {
        let alg = self.alg.flow(k);
        let (verdict, verdict_reason) = flow_verdict(f, alg, view.broken.contains(k));
        FlowSummary {
            protocol: proto_name(f.proto),
            addresses: [
                Ipv4Addr::from(f.local.0).to_string(),
                Ipv4Addr::from(f.remote.0).to_string(),
            ],
            ports: matches!(f.proto, 6 | 17).then_some([f.local.1, f.remote.1]),
            eni: f.eni,
            mode: f.mode.map(Mode::api_name),
            first_frame: f.first_frame,
            frames: f.frames,
            forwarded: f.forwarded,
            dropped: f.drops(),
            verdict,
            verdict_reason,
            alg_protocol: alg.and_then(|a| a.protocol),
        }
    }

    /// Every tracked flow, in order of first frame.
    pub fn summaries(&self) -> Vec<FlowSummary> {
        let view = AlgView::new(self);
        let mut v: Vec<FlowSummary> = self
            .flows
            .iter()
            .map(|(k, f)| self.summary_of(f, &view, k))
            .collect();
        v.sort_by_key(|f| f.first_frame);
        v
    }

    /// The flow each verdict's frame belongs to, if tracked.
    pub fn summaries_for(&self, verdicts: &[Verdict]) -> Vec<Option<FlowSummary>> {
        let view = AlgView::new(self);
        verdicts
            .iter()
            .map(|v| {
                let (k, ..) = FlowKey::of(v);
                self.flows.get(&k).map(|f| self.summary_of(f, &view, &k))
            })
            .collect()
    }
}

/// A timed event as the report shows it.
#[derive(Clone, Debug)]
pub struct TimelineEntry {
    /// `at` as written.
    pub at: String,
    /// The operation.
    pub op: String,
    /// What it gave (a failing event leaves the tables unchanged); `None`: never applied (no
    /// frame at or after its time).
    pub result: Option<Result<(), crate::model::ModelError>>,
    /// The first frame it applied to (`None`: no frame at or after its time).
    pub frame: Option<u64>,
    /// The segment of counters it starts (the one before is `segment - 1`).
    pub segment: usize,
}

/// Counters of the frames between two events.
#[derive(Clone, Debug, Default)]
pub struct Segment {
    /// Its first frame (1-based).
    pub first_frame: u64,
    /// Frames in it.
    pub frames: u64,
    /// Forwarded.
    pub forwarded: u64,
    /// Dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Out per egress: 0 the Internet, 1 + i ENI i.
    pub egress: Vec<u64>,
}

impl Segment {
    fn starting(first_frame: u64) -> Segment {
        Segment {
            first_frame,
            ..Default::default()
        }
    }

    #[inline]
    fn count(&mut self, v: &Verdict) {
        self.frames += 1;
        match v.outcome {
            Outcome::Forward(port, _) => {
                self.forwarded += 1;
                let i = match port {
                    Port::Internet => 0,
                    Port::Eni(e) => 1 + e as usize,
                };
                if self.egress.len() <= i {
                    self.egress.resize(i + 1, 0);
                }
                self.egress[i] += 1;
            }
            Outcome::Drop(r) => self.dropped[r.index()] += 1,
        }
    }

    fn json(&self, cloud: &Cloud) -> serde_json::Value {
        let dropped: BTreeMap<&str, u64> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| (r.as_str(), self.dropped[r.index()]))
            .collect();
        let egress: BTreeMap<String, u64> = self
            .egress
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let name = if i == 0 {
                    "internet".to_string()
                } else {
                    cloud
                        .enis
                        .get(i - 1)
                        .map_or_else(|| format!("eni#{}", i - 1), |e| e.id.clone())
                };
                (name, *n)
            })
            .collect();
        serde_json::json!({
            "first_frame": self.first_frame,
            "frames": self.frames,
            "forwarded": self.forwarded,
            "dropped": dropped,
            "egress": egress,
        })
    }

    fn text(&self) -> String {
        let drops: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped[r.index()] > 0)
            .map(|r| format!("{} {}", r.as_str(), self.dropped[r.index()]))
            .collect();
        format!(
            "{} frames, {} forwarded{}",
            self.frames,
            self.forwarded,
            if drops.is_empty() {
                String::new()
            } else {
                format!(", dropped {}", drops.join(", "))
            }
        )
    }
}

fn timeline_json(stats: &Stats, cloud: &Cloud) -> Vec<serde_json::Value> {
    stats
        .timeline
        .iter()
        .enumerate()
        .map(|(n, t)| {
            let seg = |k: usize| stats.segments.get(k).map(|s| s.json(cloud));
            let mut v = serde_json::json!({
                "event": n + 1,
                "at": t.at,
                "op": t.op,
                "frame": t.frame,
                "result": match &t.result {
                    None => "not-reached",
                    Some(Ok(())) => "ok",
                    Some(Err(_)) => "error",
                },
                "before": t.segment.checked_sub(1).and_then(seg),
                "after": if t.frame.is_some() { seg(t.segment) } else { None },
            });
            if let Some(Err(e)) = &t.result {
                v["error_code"] = serde_json::json!(e.code);
                v["error"] = serde_json::json!(e.to_string());
            }
            v
        })
        .collect()
}

/// One input capture in the report.
#[derive(Serialize, Clone, Debug)]
pub struct InputReport {
    /// The file.
    pub file: String,
    /// `pcap` or `pcapng`.
    pub format: String,
    /// Frames read from it.
    pub frames: u64,
    /// The error that ended its reading, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
struct FrameCounts {
    #[serde(rename = "in")]
    frames_in: u64,
    forwarded: u64,
    dropped: u64,
}

#[derive(Serialize)]
struct Endpoint {
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
struct FlowReport {
    protocol: String,
    /// The two addresses, VPC side first (inside view).
    addresses: [String; 2],
    /// The two ports (TCP/UDP), VPC side first.
    #[serde(skip_serializing_if = "Option::is_none")]
    ports: Option<[u16; 2]>,
    /// The VPC-side endpoint (private address for NAT mode).
    local: Endpoint,
    /// The far endpoint (as seen inside the VPC).
    remote: Endpoint,
    /// The public address of the local side, when it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    public: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    eip: Option<String>,
    first_frame: u64,
    frames: u64,
    forwarded: u64,
    dropped: BTreeMap<&'static str, u64>,
    actions: BTreeMap<&'static str, u64>,
    verdict: &'static str,
    /// Why the verdict, for ALG protocols.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict_reason: Option<&'static str>,
    /// The ALG protocol identified, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    alg_protocol: Option<Protocol>,
    /// ALG findings.
    findings: Vec<Finding>,
    /// Findings beyond the kept ones.
    #[serde(skip_serializing_if = "is_zero")]
    findings_untracked: u64,
    /// The control flow that announced this flow, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    related_to: Option<RelatedTo>,
    /// TCP reassembly of an ALG control channel, when it saw gaps, retransmissions or cut bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    reassembly: Option<serde_json::Value>,
}

/// The control flow and announcement a related flow belongs to.
#[derive(Serialize)]
struct RelatedTo {
    control_first_frame: u64,
    protocol: Protocol,
    field: &'static str,
    value: String,
    frame: u64,
}

#[derive(Serialize)]
struct Report {
    topology: String,
    inputs: Vec<InputReport>,
    frames: FrameCounts,
    dropped: BTreeMap<&'static str, u64>,
    egress: BTreeMap<String, u64>,
    actions: BTreeMap<&'static str, u64>,
    flows: Vec<FlowReport>,
    flows_untracked_frames: u64,
    alg: BTreeMap<String, serde_json::Value>,
    /// Where the captures were taken and what that changed.
    capture_point: serde_json::Value,
    /// Timed events (`replay --events`): per event, the counters before and after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    timeline: Vec<serde_json::Value>,
}

fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        n => format!("ip-{n}"),
    }
}

fn endpoint(proto: u8, (addr, port): (u32, u16)) -> Endpoint {
    Endpoint {
        address: Ipv4Addr::from(addr).to_string(),
        port: matches!(proto, 6 | 17).then_some(port),
    }
}

/// Related flows, seen from their control flows: a `related-flow` finding per announcement, and
/// the control flows whose announced flows were dropped (the capture shows the failure).
struct AlgView {
    related: FxHashMap<FlowKey, Vec<Finding>>,
    broken: rustc_hash::FxHashSet<FlowKey>,
}

impl AlgView {
    fn new(stats: &Stats) -> AlgView {
        // A flow satisfies every announcement of either of its ends (RTP answers an m= line
        // from each side), not only the one it is linked to.
        let mut linked: FxHashMap<(FlowKey, &str), Vec<&FlowRec>> = FxHashMap::default();
        for (k, f) in &stats.flows {
            for (end, other) in [(f.local, f.remote), (f.remote, f.local)] {
                if let Some((ctl, a)) = stats.alg.announced_at(&end)
                    && ctl != k
                    && a.peer.is_none_or(|p| p == other.0)
                {
                    linked.entry((*ctl, a.value.as_str())).or_default().push(f);
                }
            }
        }
        let mut anns: Vec<&(FlowKey, Announcement)> = stats.alg.announcements().collect();
        anns.sort_by(|a, b| (a.1.frame, &a.1.value).cmp(&(b.1.frame, &b.1.value)));
        let mut related: FxHashMap<FlowKey, Vec<Finding>> = FxHashMap::default();
        let mut broken = rustc_hash::FxHashSet::default();
        for (ctl, a) in anns {
            let flows = linked.get(&(*ctl, a.value.as_str()));
            let why = match flows {
                None => "announced; no flow to it in this capture".to_string(),
                Some(fs) => {
                    let mut parts = Vec::new();
                    for f in fs.iter().take(4) {
                        let drops: Vec<String> = DropReason::ALL
                            .iter()
                            .filter(|r| f.dropped[r.index()] > 0)
                            .map(|r| format!("{} x{}", r.as_str(), f.dropped[r.index()]))
                            .collect();
                        if instance_capture_mark(f) {
                            parts.push(format!(
                                "flow from frame {} ({}): {} of {} frames delivered, dropped unknown-destination x{}: frames from the Internet addressed to the private address {} (a NAT gateway never sends those); the capture looks taken on the instance: replay it with --capture-point instance",
                                f.first_frame,
                                proto_name(f.proto),
                                f.forwarded,
                                f.frames,
                                f.dropped[DropReason::UnknownDestination.index()],
                                Ipv4Addr::from(f.local.0),
                            ));
                            continue;
                        }
                        if !drops.is_empty() {
                            broken.insert(*ctl);
                        }
                        parts.push(format!(
                            "flow from frame {} ({}): {} of {} frames delivered{}",
                            f.first_frame,
                            proto_name(f.proto),
                            f.forwarded,
                            f.frames,
                            if drops.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    ", dropped {}: the announced address is not reachable that way",
                                    drops.join(", ")
                                )
                            }
                        ));
                    }
                    parts.join("; ")
                }
            };
            related.entry(*ctl).or_default().push(Finding {
                kind: "related-flow",
                protocol: a.protocol,
                field: a.field,
                value: a.value.clone(),
                frame: a.frame,
                repeats: 0,
                why,
            });
        }
        AlgView { related, broken }
    }
}

/// Whether a related flow's drops are all `unknown-destination` of frames towards a private
/// address of the VPC: the mark of a capture taken on an instance and replayed as a gateway
/// capture, not of a missing ALG.
fn instance_capture_mark(f: &FlowRec) -> bool {
    let unknown = f.dropped[DropReason::UnknownDestination.index()];
    unknown > 0 && f.dropped.iter().sum::<u64>() == unknown && f.internet_to_private == unknown
}

/// The findings of a flow: `documented` first (a NAT-mode flow of a protocol the seeds name),
/// then the embedded addresses, then the related flows it announced.
fn flow_findings(
    f: &FlowRec,
    alg: Option<&AlgFlow>,
    related: Option<&Vec<Finding>>,
) -> Vec<Finding> {
    let Some(a) = alg else {
        return Vec::new();
    };
    let mut v = Vec::with_capacity(a.findings.len() + 1);
    if let Some(p) = a.protocol
        && let Some(why) = p.documented()
        && f.mode == Some(Mode::Nat)
        && !a.translated
    {
        v.push(Finding {
            kind: "documented",
            protocol: p,
            field: "",
            value: why.to_string(),
            frame: 0,
            repeats: 0,
            why: format!("the provider's NAT mode has no ALG for {p}"),
        });
    }
    v.extend(a.findings.iter().cloned());
    if let Some(r) = related {
        v.extend(r.iter().cloned());
    }
    v
}

/// The verdict of a flow and, for ALG protocols, why.
fn flow_verdict(
    f: &FlowRec,
    alg: Option<&AlgFlow>,
    related_dropped: bool,
) -> (&'static str, Option<&'static str>) {
    let all_forwarded = f.forwarded == f.frames;
    let plain = if all_forwarded { "ok" } else { "dropped" };
    let Some(a) = alg.filter(|a| a.protocol.is_some()) else {
        return (plain, None);
    };
    match f.mode {
        Some(Mode::Binded | Mode::MultiBinded) => (
            plain,
            Some(
                "cut-through and multi-EIP pass the payload unchanged: the OS owns the public address",
            ),
        ),
        Some(Mode::Nat) if a.embedded > 0 => (
            "alg-broken",
            Some("the payload carries a VPC address the NAT translated in the header only"),
        ),
        // A translated flow's announced flows in the capture went where the untranslated
        // payload sent them: they are listed as related-flow findings, not held against it.
        Some(Mode::Nat) if a.translated => (
            "translated",
            Some(
                "what-if ALG (--alg, [alg]): the payload was translated as a Linux NAT helper would; the provider's NAT mode has no ALG",
            ),
        ),
        Some(Mode::Nat) if related_dropped => (
            "alg-broken",
            Some("a flow the control channel announced was dropped"),
        ),
        Some(Mode::Nat) if a.protocol.and_then(Protocol::documented).is_some() => (
            "alg-at-risk",
            Some(
                "the seeds name this protocol as unsupported by NAT mode; this capture shows no evidence",
            ),
        ),
        _ => (plain, None),
    }
}

/// Writes `report.json`.
pub fn write_json<W: std::io::Write>(
    w: W,
    stats: &Stats,
    cloud: &Cloud,
    topology: &str,
    inputs: &[InputReport],
) -> std::io::Result<()> {
    let eni_name = |i: u32| cloud.enis[i as usize].id.clone();
    let mut egress = BTreeMap::new();
    egress.insert("internet".to_string(), stats.egress[0]);
    for (i, e) in cloud.enis.iter().enumerate() {
        egress.insert(e.id.clone(), stats.egress[i + 1]);
    }
    let dropped = DropReason::ALL
        .iter()
        .map(|r| (r.as_str(), stats.dropped[r.index()]))
        .collect();
    let actions = ACTIONS
        .iter()
        .map(|a| (a.as_str(), stats.actions[action_index(*a)]))
        .collect();
    let view = AlgView::new(stats);
    let mut flows: Vec<(&FlowKey, &FlowRec)> = stats.flows.iter().collect();
    flows.sort_by_key(|(_, f)| f.first_frame);
    let flows = flows
        .into_iter()
        .map(|(k, f)| {
            let key_proto = f.proto;
            let public = f.eip.map(|e| Ipv4Addr::from(e).to_string());
            let alg = stats.alg.flow(k);
            let (verdict, verdict_reason) = flow_verdict(f, alg, view.broken.contains(k));
            FlowReport {
                protocol: proto_name(key_proto),
                addresses: [
                    Ipv4Addr::from(f.local.0).to_string(),
                    Ipv4Addr::from(f.remote.0).to_string(),
                ],
                ports: matches!(key_proto, 6 | 17).then_some([f.local.1, f.remote.1]),
                local: endpoint(key_proto, f.local),
                remote: endpoint(key_proto, f.remote),
                public: public.clone(),
                eni: f.eni.map(eni_name),
                mode: f.mode.map(Mode::api_name),
                eip: public,
                first_frame: f.first_frame,
                frames: f.frames,
                forwarded: f.forwarded,
                dropped: f.drops(),
                actions: ACTIONS
                    .iter()
                    .filter(|a| f.actions[action_index(**a)] > 0)
                    .map(|a| (a.as_str(), f.actions[action_index(*a)]))
                    .collect(),
                verdict,
                verdict_reason,
                alg_protocol: alg.and_then(|a| a.protocol),
                findings: flow_findings(f, alg, view.related.get(k)),
                reassembly: alg.and_then(|a| {
                    let (gaps, cut, re) = a.streams.iter().fold((0, 0, 0), |acc, s| {
                        (acc.0 + s.gaps, acc.1 + s.cut_bytes, acc.2 + s.retransmitted)
                    });
                    (gaps + cut + re > 0).then(|| {
                        serde_json::json!({
                            "gaps": gaps,
                            "cut_bytes": cut,
                            "retransmitted_segments": re,
                            "bound_bytes": crate::alg::stream::MAX_BUFFER,
                        })
                    })
                }),
                related_to: stats.alg.related_to(k).map(|(ctl, a)| RelatedTo {
                    control_first_frame: stats.flows.get(ctl).map_or(0, |c| c.first_frame),
                    protocol: a.protocol,
                    field: a.field,
                    value: a.value.clone(),
                    frame: a.frame,
                }),
                findings_untracked: alg.map_or(0, |a| a.findings_untracked),
            }
        })
        .collect();
    let alg = stats
        .alg_totals()
        .into_iter()
        .map(|(p, (flows, findings))| {
            (
                p.as_str().to_string(),
                serde_json::json!({ "flows": flows, "findings": findings }),
            )
        })
        .collect();
    let report = Report {
        topology: topology.to_string(),
        inputs: inputs.to_vec(),
        frames: FrameCounts {
            frames_in: stats.frames_in,
            forwarded: stats.forwarded,
            dropped: stats.dropped_total(),
        },
        dropped,
        egress,
        actions,
        flows,
        flows_untracked_frames: stats.flows_untracked,
        alg,
        capture_point: capture_point_json(stats),
        timeline: timeline_json(stats, cloud),
    };
    let mut w = w;
    serde_json::to_writer_pretty(&mut w, &report).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// `capture_point` in `report.json`: the point, the frames restored (instance), and whether a
/// gateway replay looks like an instance capture.
fn capture_point_json(stats: &Stats) -> serde_json::Value {
    serde_json::json!({
        "point": stats.capture_point.as_str(),
        "restored": stats.restored,
        "internet_frames": stats.internet_in,
        "internet_frames_to_private": stats.internet_to_private,
        "looks_like_instance_capture": stats.looks_like_instance_capture(),
    })
}

/// The summary's lines about the capture point: what `instance` restored, or the hint that a
/// gateway replay looks like an instance capture.
fn capture_point_text(stats: &Stats) -> Option<String> {
    match stats.capture_point {
        CapturePoint::Instance => Some(format!(
            "  capture point instance: {} frame(s) the instance received were turned back into the Internet's frames (destination its NAT-mode EIP, TTL + 1)",
            stats.restored
        )),
        CapturePoint::Gateway if stats.looks_like_instance_capture() => Some(format!(
            "  note: {} of {} frames from the Internet side are addressed to private IPs of the VPC (dropped unknown-destination): the capture looks taken on an instance; replay it with --capture-point instance",
            stats.internet_to_private, stats.internet_in
        )),
        CapturePoint::Gateway => None,
    }
}

/// ENI egresses the terminal summary lists at most (the busiest); `report.json` has them all.
pub const SUMMARY_EGRESS: usize = 20;

/// Timed events the terminal summary lists at most; `report.json` has them all.
pub const SUMMARY_EVENTS: usize = 20;

/// The terminal summary.
pub fn summary(stats: &Stats, cloud: &Cloud, inputs: &[InputReport], out_dir: &str) -> String {
    let mut s = String::new();
    let files = inputs.len();
    let _ = writeln!(
        s,
        "eipsim replay: {} capture{}, {} frames in",
        files,
        if files == 1 { "" } else { "s" },
        stats.frames_in
    );
    let _ = writeln!(s, "  {:<30} {:>10}", "forwarded", stats.forwarded);
    for a in ACTIONS {
        let n = stats.actions[action_index(a)];
        if n > 0 {
            let _ = writeln!(s, "    {:<28} {:>10}", a.as_str(), n);
        }
    }
    let _ = writeln!(s, "  {:<30} {:>10}", "dropped", stats.dropped_total());
    for r in DropReason::ALL {
        let n = stats.dropped[r.index()];
        if n > 0 {
            let _ = writeln!(s, "    {:<28} {:>10}", r.as_str(), n);
        }
    }
    let _ = writeln!(s, "  egress");
    let _ = writeln!(s, "    {:<28} {:>10}", "internet", stats.egress[0]);
    // The busiest ENIs first when there are many; the rest are in report.json.
    let mut busy: Vec<(usize, u64)> = cloud
        .enis
        .iter()
        .enumerate()
        .map(|(i, _)| (i, stats.egress.get(i + 1).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if busy.len() > SUMMARY_EGRESS {
        busy.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let rest = busy.split_off(SUMMARY_EGRESS);
        for (i, n) in &busy {
            let _ = writeln!(s, "    {:<28} {:>10}", cloud.enis[*i].id, n);
        }
        let _ = writeln!(
            s,
            "    ... and {} more ENIs with {} frames (the busiest {SUMMARY_EGRESS} are shown; report.json has every egress)",
            rest.len(),
            rest.iter().map(|(_, n)| n).sum::<u64>()
        );
    } else {
        for (i, n) in &busy {
            let _ = writeln!(s, "    {:<28} {:>10}", cloud.enis[*i].id, n);
        }
    }
    if let Some(line) = capture_point_text(stats) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s, "  {:<30} {:>10}", "flows", stats.flow_count());
    let alg = stats.alg_totals();
    if !alg.is_empty() {
        let verdicts = stats.alg_verdicts();
        let t = stats.translation;
        let head = match (t.ftp, t.sip) {
            (false, false) => "ALG (NAT mode has none)",
            (true, false) => "ALG (what-if: ftp translated)",
            (false, true) => "ALG (what-if: sip translated)",
            (true, true) => "ALG (what-if ftp+sip translated)",
        };
        let _ = writeln!(s, "  {head:<33}flows   findings");
        for (p, (flows, findings)) in &alg {
            let _ = writeln!(s, "    {:<28} {:>7} {:>10}", p.as_str(), flows, findings);
        }
        let v: Vec<String> = verdicts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(s, "    verdicts: {}", v.join(", "));
    }
    if !stats.timeline.is_empty() {
        let _ = writeln!(s, "  timeline");
        for (n, t) in stats.timeline.iter().enumerate().take(SUMMARY_EVENTS) {
            let at = match t.frame {
                Some(f) => format!("frame {f}"),
                None => "no frame reached it".into(),
            };
            let res = match &t.result {
                None => "not applied".to_string(),
                Some(Ok(())) => "ok".to_string(),
                Some(Err(e)) => format!("error {} (tables unchanged)", e.code),
            };
            let _ = writeln!(s, "    {} at {} ({at}): {}: {res}", n + 1, t.at, t.op);
        }
        if stats.timeline.len() > SUMMARY_EVENTS {
            let _ = writeln!(
                s,
                "    ... and {} more events (report.json timeline)",
                stats.timeline.len() - SUMMARY_EVENTS
            );
        }
        for (k, seg) in stats.segments.iter().enumerate().take(SUMMARY_EVENTS) {
            let _ = writeln!(
                s,
                "    segment {} from frame {}: {}",
                k + 1,
                seg.first_frame,
                seg.text()
            );
        }
    }
    for i in inputs {
        if let Some(e) = &i.error {
            let _ = writeln!(s, "  error: {e}");
        }
    }
    let _ = writeln!(s, "  outputs in {out_dir}");
    s
}
