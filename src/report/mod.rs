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

mod counts;
mod decided;
mod evict;
mod flows;
pub mod generated;
mod json;
mod merge;
mod rec;
mod spill;
mod summary;
mod timeline;

pub(crate) use flows::FlowKeyTuple;
use flows::{AlgView, flow_findings, flow_verdict};
pub use flows::{DroppedFlow, FlowSummary, flow_key};
pub use json::{InputReport, write_json};
use json::{capture_point_text, proto_name};
use rec::FlowRec;
pub use spill::SPILL_BUFFER;
pub use summary::{SUMMARY_EGRESS, SUMMARY_EVENTS, summary};
use timeline::timeline_json;
pub use timeline::{Segment, TimelineEntry};

pub use crate::alg::tracker::{Finding, MAX_EXPECTATIONS, MAX_FINDINGS};

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Flows tracked at most; frames of further flows are still counted, in `flows_untracked`.
pub const MAX_FLOWS: usize = 1 << 16;

/// Everything the replay counts.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Frames in.
    pub frames_in: u64,
    /// Frames forwarded.
    pub forwarded: u64,
    /// Frames dropped, by [`DropReason::index`].
    pub dropped: [u64; DropReason::COUNT],
    /// Frames out per egress: index 0 the Internet, 1 + i ENI i (of a shard with sparse
    /// egress counters, [`Stats::sparse_egress`], the Internet only).
    pub egress: Vec<u64>,
    /// Frames out per ENI (index) of a shard with sparse egress counters: a shard of a replay
    /// sees a part of the ENIs only, and a topology may have tens of thousands of them.
    egress_sparse: Option<FxHashMap<u32, u64>>,
    /// Forwarded frames per action.
    pub actions: [u64; 5],
    flows: FxHashMap<FlowKey, FlowRec>,
    /// The flow tables of the shards merged in ([`Stats::merge`]), kept as they are rather
    /// than copied into `flows`: each flow is in one table.
    more: Vec<FxHashMap<FlowKey, FlowRec>>,
    /// Flows that ended (or went idle) and left the table to make room: kept for the report,
    /// in a bounded buffer and spill files ([`Stats::spill_to`]).
    archive: spill::Archive,
    /// Of the flows in spill files, those with an announced end, read back by
    /// [`Stats::settle`] for the related-flow findings.
    settled: Vec<(usize, u64, FlowKey, FlowRec)>,
    /// No sweep of the table for room before this many frames in (a sweep that freed little).
    next_sweep: u64,
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
    /// With security groups: what happened to their sessions (summed over the shards).
    pub sessions: Option<crate::groups::session::SessionCounts>,
    /// What refused the flows a security group dropped: per (flow, its first frame), the first
    /// refusal.
    refusals: FxHashMap<(FlowKey, u64), crate::groups::Decided>,
    /// Frames that came from the Internet side.
    pub internet_in: u64,
    /// Of those, frames addressed to a private address of the VPC and dropped
    /// `unknown-destination`: the mark of a capture taken on an instance.
    pub internet_to_private: u64,
    /// The VPC's CIDR (for the mark above).
    vpc: Option<Ipv4Cidr>,
    /// `replay --fixes`: the proposed fixes and their verification, written as `fixes` in
    /// `report.json`.
    pub fixes: Option<serde_json::Value>,
    /// `replay --respond`: the frames being recorded are a guest's (counted in `generated`).
    pub generating: bool,
    /// `replay --respond`: the guests' frames, counted apart from the input's.
    pub generated: Option<generated::Generated>,
    /// `replay --respond`: the guests as they ended (`guests` in `report.json`).
    pub guests: Option<serde_json::Value>,
    /// `eipsim live`: the frames the simulator answered itself (ARP) and the frames it sent
    /// (`live` in `report.json`).
    pub live: Option<serde_json::Value>,
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
    /// Notes what refused a frame of flow `key` (a security group): kept for the flow's
    /// `decided_by`, the first refusal of each flow.
    pub fn note_refusal(&mut self, key: &FlowKey, d: crate::groups::Decided) {
        let Some(first) = self.flow_get(key).map(|f| f.first_frame) else {
            return;
        };
        self.refusals.entry((*key, first)).or_insert(d);
    }

    /// What refused flow `key` (first frame `first_frame`), if a security group did.
    pub fn refusal(&self, key: &FlowKey, first_frame: u64) -> Option<&crate::groups::Decided> {
        self.refusals.get(&(*key, first_frame))
    }

    /// Empty counters for a cloud with `enis` ENIs.
    pub fn new(enis: usize) -> Stats {
        Stats {
            frames_in: 0,
            forwarded: 0,
            dropped: [0; DropReason::COUNT],
            egress: vec![0; enis + 1],
            egress_sparse: None,
            actions: [0; 5],
            flows: FxHashMap::default(),
            more: Vec::new(),
            archive: spill::Archive::default(),
            settled: Vec::new(),
            next_sweep: 0,
            flows_untracked: 0,
            alg: AlgTracker::default(),
            translation: Default::default(),
            timeline: Vec::new(),
            segments: Vec::new(),
            capture_point: CapturePoint::Gateway,
            restored: 0,
            sessions: None,
            refusals: FxHashMap::default(),
            internet_in: 0,
            internet_to_private: 0,
            vpc: None,
            fixes: None,
            generating: false,
            generated: None,
            guests: None,
            live: None,
            fragments: FxHashMap::default(),
        }
    }

    /// Joins a later IPv4 fragment to its datagram's flow: it gets the ports of the first
    /// fragment with the same addresses, protocol and identification, when that was seen (a
    /// later fragment seen alone keeps no ports and counts as a flow of its own). Call it
    /// before [`Stats::record_timed`] and use the joined verdict for everything else of the frame.
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
            .table_flows()
            .filter(|(k, f)| {
                self.alg.flow(k).is_some()
                    || self.alg.announced_at(&f.local(k)).is_some()
                    || self.alg.announced_at(&f.remote(k)).is_some()
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
        self.follow_counters(cloud);
        self.alg.follow(cloud);
    }

    /// [`Stats::follow`] with the cloud's NAT mappings already made
    /// ([`AlgTracker::nat_of`]), shared with the other shards of a pass.
    pub fn follow_shared(&mut self, cloud: &Cloud, nat: &std::sync::Arc<FxHashMap<u32, u32>>) {
        self.follow_counters(cloud);
        self.alg.follow_shared(cloud, nat);
    }

    fn follow_counters(&mut self, cloud: &Cloud) {
        if self.egress_sparse.is_none() && self.egress.len() < cloud.enis.len() + 1 {
            self.egress.resize(cloud.enis.len() + 1, 0);
        }
        self.vpc = Some(cloud.vpc.cidr);
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
        // A new segment when frames came since the last one started (each segment starts at
        // the position of its first frame, seen here or by another shard).
        if self.segments.last().is_some_and(|s| frame > s.first_frame) {
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

    /// Counts the frames out per ENI sparsely from now on (a shard of a replay over several
    /// shards: their sum, [`Stats::merge`], has them all); these counters' [`Stats::egress`]
    /// then holds the Internet only. Call it before any frame.
    pub fn sparse_egress(&mut self) {
        self.egress = vec![0];
        self.egress_sparse = Some(FxHashMap::default());
    }

    /// Total frames dropped.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// Counts one frame (its 1-based number in the replay, captured at `now_s` seconds, with
    /// TCP flags `tcp_flags`, 0 when not TCP) and its verdict; gives the flow (its key and
    /// VPC-side end) when it still wants ALG inspection: it has an ALG protocol, or no payload
    /// of it has been looked at yet (a flow found not to be one costs nothing more, see
    /// [`Stats::set_not_alg`]). Ended and idle flows can leave the table when it is
    /// full ([`MAX_FLOWS`]), kept aside for the report, so that only flows still open count
    /// against the bound.
    pub fn record_timed(
        &mut self,
        frame_no: u64,
        v: &Verdict,
        now_s: i64,
        tcp_flags: u8,
    ) -> Option<(FlowKey, (u32, u16))> {
        if self.generating {
            self.generated.get_or_insert_default().count(v);
        } else {
            self.count_input(v);
        }
        let mut to_private = false;
        if v.ingress == Some(Port::Internet) && !self.generating {
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
        self.record_flow(frame_no, v, now_s, tcp_flags, to_private)
    }

    /// The counters of an input frame (not a generated one).
    fn count_input(&mut self, v: &Verdict) {
        self.frames_in += 1;
        if let Some(seg) = self.segments.last_mut() {
            seg.count(v);
        }
        match v.outcome {
            Outcome::Forward(port, action) => {
                self.forwarded += 1;
                self.actions[action_index(action)] += 1;
                match (port, &mut self.egress_sparse) {
                    (Port::Internet, _) => self.egress[0] += 1,
                    (Port::Eni(e), Some(m)) => *m.entry(e).or_default() += 1,
                    (Port::Eni(e), None) => self.egress[1 + e as usize] += 1,
                }
            }
            Outcome::Drop(r) => self.dropped[r.index()] += 1,
        }
    }

    /// The flow of a frame recorded by [`Stats::record_timed`].
    fn record_flow(
        &mut self,
        frame_no: u64,
        v: &Verdict,
        now_s: i64,
        tcp_flags: u8,
        to_private: bool,
    ) -> Option<(FlowKey, (u32, u16))> {
        if v.tuple.proto == 0 && v.tuple.src == 0 && v.tuple.dst == 0 {
            return None; // not IPv4: no flow
        }
        let (key, _, s, d) = FlowKey::of(v);
        if self.flows.len() >= MAX_FLOWS && !self.flows.contains_key(&key) && !self.make_room(now_s)
        {
            self.flows_untracked += 1;
            return None;
        }
        let rec = match self.flows.get_mut(&key) {
            Some(r) => r,
            None => {
                // Orient the flow from the VPC side: the sender if it came from an ENI.
                let from_vpc = matches!(v.ingress, Some(Port::Eni(_)));
                let local = if from_vpc { s } else { d };
                // A flow a control channel announced: match either end, and the peer if given.
                self.alg.opened(key, s, d);
                self.flows
                    .entry(key)
                    .or_insert(FlowRec::new(&key, local, frame_no, now_s))
            }
        };
        rec.last_s = rec.last_s.max(now_s);
        let local = rec.local(&key);
        if tcp_flags & (evict::TCP_FIN | evict::TCP_RST) != 0 {
            rec.add_ends(evict::ends(tcp_flags, s == local));
        }
        if to_private {
            rec.count(counts::TO_PRIVATE, 1);
        }
        if self.generating {
            rec.count(counts::GENERATED, 1);
        }
        rec.fill(v.eni, v.eip, v.mode);
        match v.outcome {
            Outcome::Forward(_, a) => rec.count(counts::action_cat(action_index(a)), 1),
            Outcome::Drop(r) => rec.count(r.index(), 1),
        }
        (!rec.not_alg()).then_some((key, local))
    }

    /// Marks a flow as not carrying an ALG protocol: its later frames are not inspected.
    pub fn set_not_alg(&mut self, key: &FlowKey) {
        if let Some(rec) = self.flows.get_mut(key) {
            rec.set_not_alg(true);
        }
    }

    /// ALG totals per protocol: (flows, findings), `view` being [`AlgView::new`] of these
    /// counters (built once per report: it walks every flow and announcement).
    fn alg_totals(&self, view: &AlgView) -> BTreeMap<Protocol, (u64, u64)> {
        let mut m = BTreeMap::new();
        for (k, f) in self.table_flows() {
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

    /// The flows' verdicts, counted (for the summary), `view` as for [`Stats::alg_totals`].
    fn alg_verdicts(&self, view: &AlgView) -> BTreeMap<&'static str, u64> {
        let mut verdicts = BTreeMap::new();
        for (k, f) in self.table_flows() {
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
            + self.more.iter().map(|t| t.len()).sum::<usize>()
            + self.archive.count() as usize
    }
}
