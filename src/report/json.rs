//! `report.json`.

use super::*;

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
pub(super) struct FrameCounts {
    #[serde(rename = "in")]
    frames_in: u64,
    forwarded: u64,
    dropped: u64,
}

#[derive(Serialize)]
pub(super) struct Endpoint {
    address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
}

#[derive(Serialize)]
pub(super) struct FlowReport {
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
    /// Of `frames`, those a guest generated (`replay --respond`; left out when none).
    #[serde(skip_serializing_if = "is_zero")]
    generated: u64,
    forwarded: u64,
    dropped: BTreeMap<&'static str, u64>,
    /// What decided the flow's main drop reason: a security group's rule, default or inner
    /// access (with the ENI, group, direction and the rule's fields), or the association, ENI,
    /// instance setting or table entry behind the other reasons.
    #[serde(skip_serializing_if = "Option::is_none")]
    decided_by: Option<serde_json::Value>,
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
pub(super) struct RelatedTo {
    control_first_frame: u64,
    protocol: Protocol,
    field: crate::alg::Field,
    value: String,
    frame: u64,
}

#[derive(Serialize)]
pub(super) struct Report<'a> {
    topology: String,
    inputs: Vec<InputReport>,
    frames: FrameCounts,
    dropped: BTreeMap<&'static str, u64>,
    egress: BTreeMap<String, u64>,
    actions: BTreeMap<&'static str, u64>,
    flows: FlowsSeq<'a>,
    flows_untracked_frames: u64,
    alg: BTreeMap<String, serde_json::Value>,
    /// Where the captures were taken and what that changed.
    capture_point: serde_json::Value,
    /// Timed events (`replay --events`): per event, the counters before and after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    timeline: Vec<serde_json::Value>,
    /// With security groups: what happened to their sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    security_groups: Option<serde_json::Value>,
    /// `replay --fixes`: per proposed fix, its steps, the flows it targets and its verification.
    #[serde(skip_serializing_if = "Option::is_none")]
    fixes: Option<serde_json::Value>,
    /// `replay --respond`: the frames the guests generated, counted apart from `frames`.
    #[serde(skip_serializing_if = "Option::is_none")]
    generated: Option<serde_json::Value>,
    /// `replay --respond`: the guests as they ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    guests: Option<serde_json::Value>,
    /// `eipsim live`: ARP requests answered and frames sent on the interfaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<serde_json::Value>,
}

pub(super) fn proto_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        n => format!("ip-{n}"),
    }
}

pub(super) fn endpoint(proto: u8, (addr, port): (u32, u16)) -> Endpoint {
    Endpoint {
        address: Ipv4Addr::from(addr).to_string(),
        port: matches!(proto, 6 | 17).then_some(port),
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
    let flows = FlowsSeq {
        flows: std::cell::RefCell::new(Some(stats.ordered_flows()?)),
        make: &|k, f| flow_report(stats, cloud, &view, k, f),
    };
    let alg = stats
        .alg_totals(&view)
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
        security_groups: stats.sessions.map(|s| {
            serde_json::json!({
                "sessions_opened": s.opened,
                "sessions_expired": s.expired,
                "sessions_evicted": s.evicted,
            })
        }),
        fixes: stats.fixes.clone(),
        generated: stats.generated.as_ref().map(|g| g.to_json(cloud)),
        guests: stats.guests.clone(),
        live: stats.live.clone(),
    };
    let mut w = w;
    serde_json::to_writer_pretty(&mut w, &report).map_err(std::io::Error::other)?;
    w.write_all(b"\n")?;
    w.flush()
}

/// The flows of `report.json`, written one at a time as they come in first-frame order (from
/// memory and from the spill files): the report is never whole in memory.
pub(super) struct FlowsSeq<'a> {
    flows: std::cell::RefCell<Option<spill::Ordered<'a>>>,
    make: &'a dyn Fn(&FlowKey, &FlowRec) -> FlowReport,
}

impl Serialize for FlowsSeq<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq as _};
        let mut flows = self
            .flows
            .borrow_mut()
            .take()
            .ok_or_else(|| S::Error::custom("the flows were written already"))?;
        let mut seq = s.serialize_seq(None)?;
        while let Some((k, f)) = flows.next_flow().map_err(S::Error::custom)? {
            seq.serialize_element(&(self.make)(&k, &f))?;
        }
        seq.end()
    }
}

/// One flow of `report.json`.
fn flow_report(
    stats: &Stats,
    cloud: &Cloud,
    view: &AlgView,
    k: &FlowKey,
    f: &FlowRec,
) -> FlowReport {
    let eni_name = |i: u32| cloud.enis[i as usize].id.clone();
    let key_proto = k.proto;
    let (local, remote) = (f.local(k), f.remote(k));
    let public = f.eip().map(|e| Ipv4Addr::from(e).to_string());
    let alg = stats.alg.flow(k);
    let (verdict, verdict_reason) = flow_verdict(f, alg, view.broken.contains(k));
    FlowReport {
        protocol: proto_name(key_proto),
        addresses: [
            Ipv4Addr::from(local.0).to_string(),
            Ipv4Addr::from(remote.0).to_string(),
        ],
        ports: matches!(key_proto, 6 | 17).then_some([local.1, remote.1]),
        local: endpoint(key_proto, local),
        remote: endpoint(key_proto, remote),
        public: public.clone(),
        eni: f.eni().map(eni_name),
        mode: f.mode().map(Mode::api_name),
        eip: public,
        first_frame: f.first_frame,
        frames: f.frames(),
        generated: f.generated(),
        forwarded: f.forwarded(),
        dropped: f.drops(),
        decided_by: super::decided::decided_by(stats, cloud, k, f),
        actions: ACTIONS
            .iter()
            .filter(|a| f.action(action_index(**a)) > 0)
            .map(|a| (a.as_str(), f.action(action_index(*a))))
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
            control_first_frame: stats.flow_get(ctl).map_or(0, |c| c.first_frame),
            protocol: a.protocol,
            field: a.field,
            value: a.value.clone(),
            frame: a.frame,
        }),
        findings_untracked: alg.map_or(0, |a| a.findings_untracked),
    }
}

/// `capture_point` in `report.json`: the point, the frames restored (instance), and whether a
/// gateway replay looks like an instance capture.
pub(super) fn capture_point_json(stats: &Stats) -> serde_json::Value {
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
pub(super) fn capture_point_text(stats: &Stats) -> Option<String> {
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
