//! Flows as the advisors and the report see them: summaries, verdicts, findings, and the
//! related flows seen from their control flows.

use super::*;

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
    /// Of `frames`, those a guest generated (`replay --respond`; left out when none).
    #[serde(skip_serializing_if = "is_zero")]
    pub generated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Stats {
    fn summary_of(&self, f: &FlowRec, view: &AlgView, k: &FlowKey) -> FlowSummary {
        let alg = self.alg.flow(k);
        let (verdict, verdict_reason) = flow_verdict(f, alg, view.broken.contains(k));
        let (local, remote) = (f.local(k), f.remote(k));
        FlowSummary {
            protocol: proto_name(k.proto),
            addresses: [
                Ipv4Addr::from(local.0).to_string(),
                Ipv4Addr::from(remote.0).to_string(),
            ],
            ports: matches!(k.proto, 6 | 17).then_some([local.1, remote.1]),
            eni: f.eni(),
            mode: f.mode().map(Mode::api_name),
            first_frame: f.first_frame,
            frames: f.frames(),
            forwarded: f.forwarded(),
            dropped: f.drops(),
            verdict,
            verdict_reason,
            alg_protocol: alg.and_then(|a| a.protocol),
            generated: f.generated(),
        }
    }

    /// Every tracked flow, in order of first frame. A spill file that cannot be read back
    /// ends the list there (only a replay spills, and its report says so as an error).
    pub fn summaries(&self) -> Vec<FlowSummary> {
        let view = AlgView::new(self);
        let mut v = Vec::new();
        if let Ok(mut flows) = self.ordered_flows() {
            while let Ok(Some((k, f))) = flows.next_flow() {
                v.push(self.summary_of(&f, &view, &k));
            }
        }
        v
    }

    /// The flow each verdict's frame belongs to, if tracked.
    pub fn summaries_for(&self, verdicts: &[Verdict]) -> Vec<Option<FlowSummary>> {
        let view = AlgView::new(self);
        verdicts
            .iter()
            .map(|v| {
                let (k, ..) = FlowKey::of(v);
                self.flow_get(&k).map(|f| self.summary_of(f, &view, &k))
            })
            .collect()
    }
}

/// A flow with drops, as `replay --fixes` reads it.
#[derive(Clone, Debug)]
pub struct DroppedFlow {
    /// The flow as the report gives it.
    pub summary: FlowSummary,
    /// The VPC-side endpoint (address, port), inside view.
    pub local: (u32, u16),
    /// The far endpoint (address, port), inside view.
    pub remote: (u32, u16),
    /// The public address of the local side, when it has one.
    pub public: Option<u32>,
    /// What refused it, when a security group did (its `decided_by`).
    pub decided: Option<crate::groups::Decided>,
}

impl Stats {
    /// Calls `each` with every tracked flow that has drops, in order of first frame (from
    /// memory and from the spill files, one at a time).
    pub fn for_each_dropped(&self, mut each: impl FnMut(DroppedFlow)) -> std::io::Result<()> {
        let view = AlgView::new(self);
        let mut flows = self.ordered_flows()?;
        while let Some((k, f)) = flows.next_flow()? {
            if f.dropped_total() == 0 {
                continue;
            }
            each(DroppedFlow {
                summary: self.summary_of(&f, &view, &k),
                local: f.local(&k),
                remote: f.remote(&k),
                public: f.eip(),
                decided: self.refusal(&k, f.first_frame).cloned(),
            });
        }
        Ok(())
    }
}

/// Related flows, seen from their control flows: a `related-flow` finding per announcement, and
/// the control flows whose announced flows were dropped (the capture shows the failure).
pub(super) struct AlgView {
    pub(super) related: FxHashMap<FlowKey, Vec<Finding>>,
    pub(super) broken: rustc_hash::FxHashSet<FlowKey>,
}

impl AlgView {
    pub(super) fn new(stats: &Stats) -> AlgView {
        // A flow satisfies every announcement of either of its ends (RTP answers an m= line
        // from each side), not only the one it is linked to.
        let mut linked: FxHashMap<(FlowKey, &str), Vec<(&FlowKey, &FlowRec)>> =
            FxHashMap::default();
        for (k, f) in stats.linking_flows() {
            let (local, remote) = (f.local(k), f.remote(k));
            for (end, other) in [(local, remote), (remote, local)] {
                if let Some((ctl, a)) = stats.alg.announced_at(&end)
                    && ctl != k
                    && a.peer.is_none_or(|p| p == other.0)
                {
                    linked
                        .entry((*ctl, a.value.as_str()))
                        .or_default()
                        .push((k, f));
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
                    for &(fk, f) in fs.iter().take(4) {
                        let refusal = stats.refusal(fk, f.first_frame);
                        let drops: Vec<String> = DropReason::ALL
                            .iter()
                            .filter(|r| f.dropped(**r) > 0)
                            .map(|r| match refusal {
                                Some(d) if *r == DropReason::SecurityGroup => {
                                    format!("{} x{} ({})", r.as_str(), f.dropped(*r), d.detail)
                                }
                                _ => format!("{} x{}", r.as_str(), f.dropped(*r)),
                            })
                            .collect();
                        if instance_capture_mark(f) {
                            parts.push(format!(
                                "flow from frame {} ({}): {} of {} frames delivered, dropped unknown-destination x{}: frames from the Internet addressed to the private address {} (a NAT gateway never sends those); the capture looks taken on the instance: replay it with --capture-point instance",
                                f.first_frame,
                                proto_name(fk.proto),
                                f.forwarded(),
                                f.frames(),
                                f.dropped(DropReason::UnknownDestination),
                                Ipv4Addr::from(f.local(fk).0),
                            ));
                            continue;
                        }
                        if !drops.is_empty() {
                            broken.insert(*ctl);
                        }
                        parts.push(format!(
                            "flow from frame {} ({}): {} of {} frames delivered{}",
                            f.first_frame,
                            proto_name(fk.proto),
                            f.forwarded(),
                            f.frames(),
                            if drops.is_empty() {
                                String::new()
                            } else {
                                let why = if refusal.is_some()
                                    && f.dropped_total() == f.dropped(DropReason::SecurityGroup)
                                {
                                    "the related flow is a new session, and a stateful security group refuses it"
                                } else {
                                    "the announced address is not reachable that way"
                                };
                                format!(", dropped {}: {why}", drops.join(", "))
                            }
                        ));
                    }
                    parts.join("; ")
                }
            };
            related.entry(*ctl).or_default().push(Finding {
                kind: "related-flow",
                protocol: a.protocol,
                field: Some(a.field),
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
pub(super) fn instance_capture_mark(f: &FlowRec) -> bool {
    let unknown = f.dropped(DropReason::UnknownDestination);
    unknown > 0 && f.dropped_total() == unknown && f.internet_to_private() == unknown
}

/// The findings of a flow: `documented` first (a NAT-mode flow of a protocol the seeds name),
/// then the embedded addresses, then the related flows it announced.
pub(super) fn flow_findings(
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
        && f.mode() == Some(Mode::Nat)
        && !a.translated
    {
        v.push(Finding {
            kind: "documented",
            protocol: p,
            field: None,
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
pub(super) fn flow_verdict(
    f: &FlowRec,
    alg: Option<&AlgFlow>,
    related_dropped: bool,
) -> (&'static str, Option<&'static str>) {
    let all_forwarded = f.dropped_total() == 0;
    let plain = if all_forwarded { "ok" } else { "dropped" };
    let Some(a) = alg.filter(|a| a.protocol.is_some()) else {
        return (plain, None);
    };
    match f.mode() {
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
