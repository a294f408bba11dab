//! `eipsim diff`: the flows of captures whose fate differs between two topologies.
//!
//! Topology A is a file; B is another file or A with the operations of an operations file
//! applied (`[[step]]` or `[[event]]` tables, the console's operations). Every frame of the
//! captures runs through both, in order, with the replay's frame pass (core, flows, ALG
//! inspection, the topology's `[alg]` what-if translation) and no writer.
//!
//! Flows are the report's: one connection, keyed on the addresses as seen inside the VPC
//! ([`crate::report::flow_key`]). A topology change can move frames to another key (an EIP
//! unassociated is no longer seen as its private address), so a flow of A and a flow of B are
//! matched when they share a frame; a row then shows every flow of each side that carries the
//! row's frames. A row changed when its verdict (with the drop reasons), its egresses, its
//! public addresses (the EIPs its forwarded frames used, with their mode) or its actions differ.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Serialize;

use super::{AdvisorError, QuietReplay, port_name};
use crate::dataplane::{Action, CapturePoint, Outcome, Verdict};
use crate::model::Cloud;
use crate::model::scenario::load_operations;
use crate::replay::input::CaptureReader;
use crate::report::{FlowSummary, flow_key};

/// What to compare.
#[derive(Clone, Debug)]
pub struct DiffOptions {
    /// Topology A.
    pub topology_a: PathBuf,
    /// Topology B (a file), or `None` with `apply`.
    pub topology_b: Option<PathBuf>,
    /// An operations file applied to A to make B.
    pub apply: Option<PathBuf>,
    /// Captures, replayed in order as one stream.
    pub inputs: Vec<PathBuf>,
    /// `internet` or an ENI id: every frame's ingress (`--ingress`), in both topologies.
    pub ingress: Option<String>,
    /// Where the captures were taken (`--capture-point`). With `instance` the frames the
    /// instance received are turned back into the Internet's frames once, through topology A
    /// (where the capture was taken), and the same frames then go through A and B.
    pub capture_point: CapturePoint,
}

/// One side of a row: the flows of one topology that carry the row's frames.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Side {
    /// The flows, as `proto local:port <-> remote:port` (inside view, VPC side first).
    pub flows: Vec<String>,
    /// The flows' verdicts (`ok`, `dropped`, `alg-broken`, `alg-at-risk`, `translated`),
    /// distinct, joined with ` + `.
    pub verdict: String,
    /// Frames.
    pub frames: u64,
    /// Frames forwarded.
    pub forwarded: u64,
    /// Frames dropped, per reason.
    pub dropped: BTreeMap<&'static str, u64>,
    /// Where forwarded frames went: `internet` and ENI ids.
    pub egress: BTreeSet<String>,
    /// The EIPs the forwarded frames used, with their mode (`47.0.0.1 NAT`).
    pub public: BTreeSet<String>,
    /// The actions applied to forwarded frames.
    pub actions: BTreeSet<&'static str>,
}

impl Side {
    /// The verdict with its drop reasons: `dropped (eip-not-associated x2)`.
    pub fn verdict_text(&self) -> String {
        if self.flows.is_empty() {
            return "(no flow)".into();
        }
        if self.dropped.is_empty() {
            return self.verdict.clone();
        }
        let mut r: Vec<(&&str, &u64)> = self.dropped.iter().collect();
        r.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let reasons: Vec<String> = r.iter().map(|(k, n)| format!("{k} x{n}")).collect();
        format!("{} ({})", self.verdict, reasons.join(", "))
    }
}

/// One compared flow.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The flow's label (A's first flow, else B's).
    pub flow: String,
    /// The first frame of the flow (1-based, in the captures).
    pub first_frame: u64,
    /// Whether A and B differ.
    pub changed: bool,
    /// The fields that differ: `verdict`, `egress`, `public`, `actions`.
    pub fields: Vec<&'static str>,
    /// In topology A.
    pub a: Side,
    /// In topology B.
    pub b: Side,
}

/// The counts.
#[derive(Clone, Debug, Serialize, Default, PartialEq, Eq)]
pub struct Counts {
    /// Flows with a side in both topologies.
    pub compared: u64,
    /// Compared flows that differ.
    pub changed: u64,
    /// Compared flows that do not.
    pub unchanged: u64,
    /// Flows tracked by A only.
    pub only_in_a: u64,
    /// Flows tracked by B only.
    pub only_in_b: u64,
}

/// A topology as compared.
#[derive(Clone, Debug, Serialize)]
pub struct Topology {
    /// The file.
    pub topology: String,
    /// The operations file applied to it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apply: Option<String>,
    /// The operations applied, as text.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
}

/// The comparison.
#[derive(Clone, Debug, Serialize)]
pub struct Diff {
    /// Topology A.
    pub a: Topology,
    /// Topology B.
    pub b: Topology,
    /// Captures.
    pub inputs: Vec<String>,
    /// Frames replayed (through each topology).
    pub frames: u64,
    /// Every flow, in order of first frame.
    pub flows: Vec<Row>,
    /// The counts.
    pub counts: Counts,
}

type FlowId = (u8, (u32, u16), (u32, u16));

/// A flow of one side, as the diff aggregates it.
#[derive(Clone, Debug)]
struct Node {
    side: usize,
    first_frame: u64,
    first: Verdict,
    frames: u64,
    forwarded: u64,
    dropped: BTreeMap<&'static str, u64>,
    egress: BTreeSet<String>,
    public: BTreeSet<String>,
    actions: BTreeSet<&'static str>,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

/// Builds B: A with the operations applied, each as the file expects (default: success).
fn apply_ops(a: &Cloud, path: &std::path::Path) -> Result<(Cloud, Vec<String>), AdvisorError> {
    let ops = load_operations(path).map_err(|e| AdvisorError::Input(format!("--apply {e}")))?;
    let mut cloud = a.clone();
    let mut done = Vec::new();
    for p in &ops {
        let outcome = p.op.apply(&mut cloud);
        if !p.expect.matches(&outcome) {
            let got = match &outcome {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("error {}: {e}", e.code),
            };
            return Err(AdvisorError::Input(format!(
                "--apply {}: {} ({}) expected {}, got {got}",
                path.display(),
                p.label,
                p.op,
                p.expect
            )));
        }
        done.push(format!(
            "{}: {} ({})",
            p.label,
            p.op,
            match outcome {
                Ok(_) => "ok".to_string(),
                Err(e) => format!("error {}, as expected", e.code),
            }
        ));
    }
    Ok((cloud, done))
}

/// A flow's label in a row: `proto local:port <-> remote:port` (inside view), with its ALG
/// protocol in brackets.
pub(crate) fn label(f: &FlowSummary) -> String {
    let base = match f.ports {
        Some([a, b]) => format!(
            "{} {}:{} <-> {}:{}",
            f.protocol, f.addresses[0], a, f.addresses[1], b
        ),
        None => format!("{} {} <-> {}", f.protocol, f.addresses[0], f.addresses[1]),
    };
    match f.alg_protocol {
        Some(p) => format!("{base} [{p}]"),
        None => base,
    }
}

/// A flow's label from its key, when the report does not track it (beyond its bound).
fn key_label(k: &FlowId) -> String {
    let name = match k.0 {
        1 => "icmp".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        n => format!("ip-{n}"),
    };
    let ep = |(a, p): (u32, u16)| {
        if matches!(k.0, 6 | 17) {
            format!("{}:{p}", Ipv4Addr::from(a))
        } else {
            Ipv4Addr::from(a).to_string()
        }
    };
    format!("{name} {} <-> {}", ep(k.1), ep(k.2))
}

/// Runs the comparison.
pub fn run(opts: &DiffOptions) -> Result<Diff, AdvisorError> {
    if opts.inputs.is_empty() {
        return Err(AdvisorError::Usage(
            "diff needs at least one capture".into(),
        ));
    }
    let a = Cloud::load(&opts.topology_a)?;
    let (b, b_desc) = match (&opts.topology_b, &opts.apply) {
        (Some(t), None) => (
            Cloud::load(t)?,
            Topology {
                topology: t.display().to_string(),
                apply: None,
                operations: Vec::new(),
            },
        ),
        (None, Some(ops)) => {
            let (b, done) = apply_ops(&a, ops)?;
            (
                b,
                Topology {
                    topology: opts.topology_a.display().to_string(),
                    apply: Some(ops.display().to_string()),
                    operations: done,
                },
            )
        }
        _ => {
            return Err(AdvisorError::Usage(
                "diff compares two topologies: give --topology A with --topology B, or with --apply OPS.toml"
                    .into(),
            ));
        }
    };
    compare(&a, &b, b_desc, opts)
}

/// Compares the captures' flows through `a` and `b` (described by `b_desc`), as [`run`] does
/// once it has both topologies; `opts` gives the captures, the ingress and the capture point.
pub fn compare(
    a: &Cloud,
    b: &Cloud,
    b_desc: Topology,
    opts: &DiffOptions,
) -> Result<Diff, AdvisorError> {
    let hint_a = crate::replay::ingress_hint(a, &opts.ingress)?;
    let hint_b = crate::replay::ingress_hint(b, &opts.ingress)?;
    let mut ra = QuietReplay::new(a, hint_a, CapturePoint::Gateway);
    let mut rb = QuietReplay::new(b, hint_b, CapturePoint::Gateway);
    let restore = (opts.capture_point == CapturePoint::Instance)
        .then(|| crate::replay::dataplane(a, hint_a, CapturePoint::Instance));
    let clouds = [a, b];
    let mut nodes: Vec<Node> = Vec::new();
    let mut parent: Vec<usize> = Vec::new();
    let mut index: [HashMap<FlowId, usize>; 2] = [HashMap::new(), HashMap::new()];
    let mut frames = 0u64;
    let mut buf = Vec::new();
    for path in &opts.inputs {
        let mut r = CaptureReader::open(path)?;
        r.keep_unsupported_links();
        loop {
            buf.clear();
            let Some(meta) = r.next_frame(&mut buf)? else {
                break;
            };
            frames += 1;
            if meta.unsupported_link {
                // Dropped unsupported-link in both, as the replay drops it: no flow.
                ra.push_unsupported();
                rb.push_unsupported();
                continue;
            }
            if let Some(dp) = &restore {
                dp.restore_received(&mut buf, meta.link);
            }
            let va = ra.push(&buf, meta.link);
            let vb = rb.push(&buf, meta.link);
            let mut ids = [None, None];
            for (side, v) in [va, vb].iter().enumerate() {
                if v.tuple.proto == 0 && v.tuple.src == 0 && v.tuple.dst == 0 {
                    continue; // not IPv4: no flow, in either topology
                }
                let key = flow_key(v);
                let id = *index[side].entry(key).or_insert_with(|| {
                    nodes.push(Node {
                        side,
                        first_frame: frames,
                        first: *v,
                        frames: 0,
                        forwarded: 0,
                        dropped: BTreeMap::new(),
                        egress: BTreeSet::new(),
                        public: BTreeSet::new(),
                        actions: BTreeSet::new(),
                    });
                    parent.push(parent.len());
                    nodes.len() - 1
                });
                let n = &mut nodes[id];
                n.frames += 1;
                match v.outcome {
                    Outcome::Forward(p, act) => {
                        n.forwarded += 1;
                        n.egress.insert(port_name(clouds[side], p));
                        n.actions.insert(act.as_str());
                        // The public address a frame crossing the gateway used.
                        if let Some(e) = v.eip.filter(|_| act != Action::IntraVpc) {
                            n.public.insert(format!(
                                "{} {}",
                                Ipv4Addr::from(e),
                                v.mode.map_or("", |m| m.api_name())
                            ));
                        }
                    }
                    Outcome::Drop(r) => *n.dropped.entry(r.as_str()).or_default() += 1,
                }
                ids[side] = Some(id);
            }
            if let [Some(x), Some(y)] = ids {
                let (rx, ry) = (find(&mut parent, x), find(&mut parent, y));
                if rx != ry {
                    parent[rx.max(ry)] = rx.min(ry);
                }
            }
        }
    }
    // The report's view of each flow: its verdict (ALG included) and label.
    let summaries: Vec<Option<FlowSummary>> = {
        let sides = [ra.stats(), rb.stats()];
        let mut out = vec![None; nodes.len()];
        for (side, stats) in sides.iter().enumerate() {
            let ids: Vec<usize> = (0..nodes.len())
                .filter(|i| nodes[*i].side == side)
                .collect();
            let firsts: Vec<Verdict> = ids.iter().map(|i| nodes[*i].first).collect();
            for (i, s) in ids.into_iter().zip(stats.summaries_for(&firsts)) {
                out[i] = s;
            }
        }
        out
    };
    let keys: Vec<FlowId> = nodes.iter().map(|n| flow_key(&n.first)).collect();
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        let r = find(&mut parent, i);
        groups.entry(r).or_default().push(i);
    }
    let side_of = |members: &[usize], side: usize| -> Side {
        let mut s = Side {
            flows: Vec::new(),
            verdict: String::new(),
            frames: 0,
            forwarded: 0,
            dropped: BTreeMap::new(),
            egress: BTreeSet::new(),
            public: BTreeSet::new(),
            actions: BTreeSet::new(),
        };
        let mut verdicts: Vec<&str> = Vec::new();
        for &i in members.iter().filter(|i| nodes[**i].side == side) {
            let n = &nodes[i];
            let (l, v) = match &summaries[i] {
                Some(f) => (label(f), f.verdict),
                None => (
                    format!("{} (untracked)", key_label(&keys[i])),
                    if n.forwarded == n.frames {
                        "ok"
                    } else {
                        "dropped"
                    },
                ),
            };
            s.flows.push(l);
            if !verdicts.contains(&v) {
                verdicts.push(v);
            }
            s.frames += n.frames;
            s.forwarded += n.forwarded;
            for (k, c) in &n.dropped {
                *s.dropped.entry(k).or_default() += c;
            }
            s.egress.extend(n.egress.iter().cloned());
            s.public.extend(n.public.iter().cloned());
            s.actions.extend(n.actions.iter().copied());
        }
        s.verdict = verdicts.join(" + ");
        s
    };
    let mut rows = Vec::new();
    let mut counts = Counts::default();
    for members in groups.values() {
        // Members are in creation order, so the first of each side is its earliest flow.
        let a_side = side_of(members, 0);
        let b_side = side_of(members, 1);
        let first_frame = members
            .iter()
            .map(|i| nodes[*i].first_frame)
            .min()
            .unwrap_or(0);
        let flow = a_side
            .flows
            .first()
            .or(b_side.flows.first())
            .cloned()
            .unwrap_or_default();
        let mut fields = Vec::new();
        if a_side.verdict != b_side.verdict || a_side.dropped != b_side.dropped {
            fields.push("verdict");
        }
        if a_side.egress != b_side.egress {
            fields.push("egress");
        }
        if a_side.public != b_side.public {
            fields.push("public");
        }
        if a_side.actions != b_side.actions {
            fields.push("actions");
        }
        let changed = match (a_side.flows.is_empty(), b_side.flows.is_empty()) {
            (false, false) => {
                counts.compared += 1;
                if fields.is_empty() {
                    counts.unchanged += 1;
                } else {
                    counts.changed += 1;
                }
                !fields.is_empty()
            }
            (false, true) => {
                counts.only_in_a += 1;
                true
            }
            _ => {
                counts.only_in_b += 1;
                true
            }
        };
        rows.push(Row {
            flow,
            first_frame,
            changed,
            fields,
            a: a_side,
            b: b_side,
        });
    }
    rows.sort_by_key(|r| r.first_frame);
    Ok(Diff {
        a: Topology {
            topology: opts.topology_a.display().to_string(),
            apply: None,
            operations: Vec::new(),
        },
        b: b_desc,
        inputs: opts
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        frames,
        flows: rows,
        counts,
    })
}

fn set_text<T: AsRef<str>>(s: &BTreeSet<T>) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.iter()
            .map(|x| x.as_ref().trim_end())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The comparison as text: the changed flows side by side (flow | field | A | B), then the
/// counts.
pub fn text(d: &Diff) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let b_name = match &d.b.apply {
        Some(ops) => format!("{} + {}", d.b.topology, ops),
        None => d.b.topology.clone(),
    };
    let _ = writeln!(
        s,
        "eipsim diff: {} frames; A = {}, B = {}",
        d.frames, d.a.topology, b_name
    );
    for op in &d.b.operations {
        let _ = writeln!(s, "  B applies {op}");
    }
    // (flow column, field, A, B) lines of the changed rows.
    let mut lines: Vec<[String; 4]> = Vec::new();
    for r in d.flows.iter().filter(|r| r.changed) {
        let mut first = true;
        let mut push = |field: &str, a: String, b: String| {
            lines.push([
                if first { r.flow.clone() } else { String::new() },
                field.to_string(),
                a,
                b,
            ]);
            first = false;
        };
        push("verdict", r.a.verdict_text(), r.b.verdict_text());
        if r.a.flows != r.b.flows && !r.a.flows.is_empty() && !r.b.flows.is_empty() {
            push("flows", r.a.flows.join(", "), r.b.flows.join(", "));
        }
        for f in &r.fields {
            match *f {
                "egress" => push("egress", set_text(&r.a.egress), set_text(&r.b.egress)),
                "public" => push("public", set_text(&r.a.public), set_text(&r.b.public)),
                "actions" => push("actions", set_text(&r.a.actions), set_text(&r.b.actions)),
                _ => {}
            }
        }
    }
    if lines.is_empty() {
        let _ = writeln!(s, "\nno flow differs");
    } else {
        let head = [
            "flow".to_string(),
            "field".to_string(),
            "A".to_string(),
            "B".to_string(),
        ];
        let w: Vec<usize> = (0..3)
            .map(|c| {
                lines
                    .iter()
                    .chain([&head])
                    .map(|l| l[c].len())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = writeln!(s);
        for l in std::iter::once(&head).chain(lines.iter()) {
            let row = format!(
                "  {:<w0$}  {:<w1$}  {:<w2$}  {}",
                l[0],
                l[1],
                l[2],
                l[3],
                w0 = w[0],
                w1 = w[1],
                w2 = w[2]
            );
            let _ = writeln!(s, "{}", row.trim_end());
        }
    }
    let c = &d.counts;
    let _ = writeln!(
        s,
        "\n{} flows compared: {} changed, {} unchanged; {} only in A, {} only in B",
        c.compared, c.changed, c.unchanged, c.only_in_a, c.only_in_b
    );
    s
}
