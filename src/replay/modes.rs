//! The mode advisor (`eipsim modes`): which binding mode does each ENI's traffic need?
//!
//! The captures are replayed once through the topology as written, then, for each ENI with
//! traffic, once per binding mode (NAT, BINDED, MULTI_BINDED) with that ENI's EIPs bound in that
//! mode and everything else unchanged. Each variant topology is built through the console's
//! operations, so a mode the seeds do not allow for the ENI (a primary ENI in BINDED, an
//! instance family outside seed 003's list, a region without the mode, no authorisation) is
//! reported as not available, with the rule. The frames the ENI sends are rewritten as its guest
//! would send them in that mode: the source becomes the address the guest owns there (its EIP in
//! BINDED and MULTI_BINDED, its private IP in NAT), in the header and, for FTP and SIP, in the
//! payload, with TCP sequence numbers kept continuous. The result is a matrix of flow x mode ->
//! ok, alg-broken, alg-at-risk or dropped (reason), printed and written as `modes.json`.
//!
//! Choices: a BINDED ENI gets the first of its EIPs (one EIP per ENI) and its guest sends every
//! flow from it; MULTI_BINDED binds up to the account's quota and assumes the guest configured
//! them all (`static_eips`), while flows its guest sent from a private IP with no EIP stay on
//! that address; NAT maps each EIP to a private IP of the ENI (the one it had in NAT mode, else
//! the next one free); an EIP the mode cannot hold is left unbound. In the ENI's mode as
//! written the frames are replayed as captured, so that column is the plain replay's verdicts.
//! The topology's `[alg]` what-if translation is not applied: the advisor answers for the
//! provider's gateway.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::input::CaptureReader;
use super::output::{self, OutputError};
use super::{ReplayError, dataplane, ingress_hint, inspect_alg};
use crate::alg::PortTable;
use crate::alg::translate::{Policy, Translator};
use crate::dataplane::{CapturePoint, Outcome, Port, Verdict};
use crate::model::{Cloud, EniKind, InstanceType, Mode, ModelError};

const NI: InstanceType = InstanceType::NetworkInterface;
use crate::report::{FlowSummary, Stats};
use crate::wire::LinkType;

/// The modes, in the matrix's column order.
pub const MODES: [Mode; 3] = [Mode::Nat, Mode::Binded, Mode::MultiBinded];

/// What to advise on.
#[derive(Clone, Debug)]
pub struct ModesOptions {
    /// Topology file.
    pub topology: PathBuf,
    /// Captures, replayed in order as one stream.
    pub inputs: Vec<PathBuf>,
    /// Output directory (for `modes.json`).
    pub out: PathBuf,
    /// `internet` or an ENI id: every frame's ingress.
    pub ingress: Option<String>,
    /// Where the captures were taken (`--capture-point`): with `instance`, the frames the
    /// instance received are turned back into the Internet's frames once, before any variant.
    pub capture_point: CapturePoint,
}

/// One cell of the matrix.
#[derive(Clone, Debug, Serialize)]
pub struct Cell {
    /// `ok`, `alg-broken`, `alg-at-risk`, `dropped` or `n/a` (the mode is not available).
    pub verdict: &'static str,
    /// Why: the verdict's reason, or the drop reasons with their counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Frames forwarded and dropped per reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded: Option<u64>,
    /// Frames dropped, per reason.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dropped: BTreeMap<&'static str, u64>,
}

impl Cell {
    /// The cell as the terminal matrix shows it.
    pub fn text(&self) -> String {
        match self.verdict {
            "dropped" => {
                let mut r: Vec<(&&str, &u64)> = self.dropped.iter().collect();
                r.sort_by(|a, b| b.1.cmp(a.1));
                let names: Vec<&str> = r.iter().map(|(k, _)| **k).collect();
                format!("dropped ({})", names.join(", "))
            }
            v => v.to_string(),
        }
    }

    fn of(f: &FlowSummary) -> Cell {
        let reason = match f.verdict {
            "dropped" => Some(
                f.dropped
                    .iter()
                    .map(|(k, n)| format!("{k} x{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            _ => f.verdict_reason.map(str::to_string),
        };
        Cell {
            verdict: f.verdict,
            reason,
            forwarded: Some(f.forwarded),
            dropped: f.dropped.clone(),
        }
    }
}

/// A mode's availability for an ENI.
#[derive(Clone, Debug, Serialize)]
pub struct Availability {
    /// Whether the variant topology could be built.
    pub available: bool,
    /// The rule that refuses it, or how the ENI's EIPs were bound.
    pub note: String,
}

/// One flow's row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// The flow as replayed through the topology as written.
    pub flow: FlowSummary,
    /// Per mode (API name), the flow's verdict.
    pub modes: BTreeMap<&'static str, Cell>,
}

/// One ENI's matrix.
#[derive(Clone, Debug, Serialize)]
pub struct EniAdvice {
    /// The ENI id.
    pub eni: String,
    /// `primary` or `secondary`.
    pub kind: &'static str,
    /// Its modes in the topology as written.
    pub current: Vec<&'static str>,
    /// Per mode, whether it is available.
    pub availability: BTreeMap<&'static str, Availability>,
    /// Modes in which every flow is `ok`.
    pub all_ok: Vec<&'static str>,
    /// Flow rows.
    pub flows: Vec<Row>,
}

/// The advice.
#[derive(Clone, Debug, Serialize)]
pub struct Advice {
    /// Topology file.
    pub topology: String,
    /// Captures.
    pub inputs: Vec<String>,
    /// Frames read.
    pub frames: u64,
    /// Per ENI with traffic.
    pub enis: Vec<EniAdvice>,
}

/// The advice, its terminal text and the JSON file written.
#[derive(Debug)]
pub struct ModesOutcome {
    /// The advice.
    pub advice: Advice,
    /// The matrix, for the terminal.
    pub text: String,
    /// `modes.json`.
    pub written: PathBuf,
}

/// How one ENI's EIPs are bound in one mode, and what its guest sends from.
struct Variant {
    associations: Vec<(usize, usize, Mode, Option<Ipv4Addr>, InstanceType)>,
    static_eips: Vec<(usize, Option<Vec<Ipv4Addr>>)>,
    /// Source address in the original capture -> the address the guest sends from in this mode.
    guest: HashMap<Ipv4Addr, Ipv4Addr>,
    note: String,
}

/// Binds ENI `x`'s EIPs in `mode`, leaving every other association as it is.
fn plan(cloud: &Cloud, x: usize, mode: Mode) -> Result<Variant, String> {
    let eni = &cloud.enis[x];
    let mine: Vec<_> = cloud.associations_of(x).cloned().collect();
    let mut associations: Vec<_> = cloud
        .associations
        .iter()
        .filter(|a| a.eni != x)
        .map(|a| (a.eip, a.eni, a.mode, a.private_ip, a.instance_type))
        .collect();
    let privates: Vec<Ipv4Addr> = eni.private_ips().collect();
    // The address the guest sends from today, per EIP.
    let today = |a: &crate::model::Association| match a.mode {
        Mode::Nat => a.private_ip.unwrap_or(eni.primary_ip),
        _ => cloud.eips[a.eip].address,
    };
    let mut guest = HashMap::new();
    let mut static_eips = Vec::new();
    let eip_name = |a: &crate::model::Association| {
        format!("{} ({})", cloud.eips[a.eip].id, cloud.eips[a.eip].address)
    };
    let note;
    match mode {
        Mode::Nat => {
            let reserved: Vec<Ipv4Addr> = mine
                .iter()
                .filter(|a| a.mode == Mode::Nat)
                .map(today)
                .collect();
            let mut used = Vec::new();
            let mut bound = Vec::new();
            let limit = if eni.kind == EniKind::Primary {
                1
            } else {
                usize::MAX
            };
            for a in &mine {
                let p = if a.mode == Mode::Nat {
                    Some(today(a))
                } else {
                    privates
                        .iter()
                        .copied()
                        .find(|p| !used.contains(p) && !reserved.contains(p))
                };
                match p {
                    Some(p) if used.len() < limit => {
                        used.push(p);
                        associations.push((a.eip, x, Mode::Nat, Some(p), a.instance_type));
                        guest.insert(today(a), p);
                        bound.push(format!("{} -> {p}", eip_name(a)));
                    }
                    _ => {
                        let from = today(a);
                        if !privates.contains(&from) {
                            guest.insert(from, eni.primary_ip);
                        }
                    }
                }
            }
            note = if bound.is_empty() {
                "no EIP bound".into()
            } else {
                format!("NAT: {}", bound.join(", "))
            };
        }
        Mode::Binded => {
            let Some(first) = mine.first() else {
                return Err("the ENI has no EIP in the topology to bind".into());
            };
            let e = cloud.eips[first.eip].address;
            associations.push((first.eip, x, Mode::Binded, None, NI));
            for a in &mine {
                guest.insert(today(a), e);
            }
            for p in &privates {
                guest.insert(*p, e);
            }
            note = format!(
                "BINDED: {}; the guest has no other address{}",
                eip_name(first),
                if mine.len() > 1 {
                    format!(
                        "; {} other EIP(s) left unbound (one per ENI)",
                        mine.len() - 1
                    )
                } else {
                    String::new()
                }
            );
        }
        Mode::MultiBinded => {
            if mine.is_empty() {
                return Err("the ENI has no EIP in the topology to bind".into());
            }
            let quota = cloud.account.multi_eip_quota as usize;
            let mut statics = Vec::new();
            for a in mine.iter().take(quota) {
                let e = cloud.eips[a.eip].address;
                associations.push((a.eip, x, Mode::MultiBinded, None, NI));
                statics.push(e);
                guest.insert(today(a), e);
            }
            note = format!(
                "MULTI_BINDED: {} EIP(s), all configured in the guest{}",
                statics.len(),
                if mine.len() > quota {
                    format!("; {} beyond the quota left unbound", mine.len() - quota)
                } else {
                    String::new()
                }
            );
            if !mine.iter().all(|a| a.mode == Mode::MultiBinded) {
                // As written, the guest's configuration stays as the topology says.
                static_eips.push((x, Some(statics)));
            }
        }
    }
    guest.retain(|a, b| a != b);
    // The ENI's mode as written: the capture is what its guest sent.
    if !mine.is_empty() && mine.iter().all(|a| a.mode == mode) {
        guest.clear();
    }
    Ok(Variant {
        associations,
        static_eips,
        guest,
        note,
    })
}

/// Whether a frame (by its verdict in the topology as written) concerns ENI `x`.
fn concerns(v: &Verdict, x: u32) -> bool {
    v.eni == Some(x)
        || v.ingress == Some(Port::Eni(x))
        || matches!(v.outcome, Outcome::Forward(Port::Eni(e), _) if e == x)
}

/// Replays `frames` through `cloud`, each first rewritten by `prepare`, and returns the counters
/// and each frame's verdict.
fn replay_frames(
    cloud: &Cloud,
    hint: Option<Port>,
    frames: &[(Vec<u8>, LinkType)],
    mut prepare: impl FnMut(usize, &[u8], LinkType, &mut Vec<u8>) -> bool,
) -> (Stats, Vec<Verdict>) {
    let dp = dataplane(cloud, hint, CapturePoint::Gateway);
    let mut stats = Stats::for_cloud(cloud);
    let ports = PortTable::default();
    let mut verdicts = Vec::with_capacity(frames.len());
    let mut buf = Vec::new();
    for (i, (data, link)) in frames.iter().enumerate() {
        if !prepare(i, data, *link, &mut buf) {
            buf.clear();
            buf.extend_from_slice(data);
        }
        let mut v = dp.process(&mut buf, *link);
        stats.join_fragment(&mut v);
        let n = i as u64 + 1;
        if stats.record(n, &v) {
            inspect_alg(
                &mut stats,
                &ports,
                cloud.vpc.cidr,
                n,
                (&v, &buf, *link),
                None,
            );
        }
        verdicts.push(v);
    }
    (stats, verdicts)
}

/// Runs the advisor.
pub fn run(opts: &ModesOptions) -> Result<ModesOutcome, ReplayError> {
    let cloud = Cloud::load(&opts.topology)?;
    let hint = ingress_hint(&cloud, &opts.ingress)?;
    if opts.inputs.is_empty() {
        return Err(ReplayError::Usage("no capture to advise on".into()));
    }
    let mut frames: Vec<(Vec<u8>, LinkType)> = Vec::new();
    for p in &opts.inputs {
        let mut r = CaptureReader::open(p)?;
        loop {
            let mut buf = Vec::new();
            match r.next_frame(&mut buf)? {
                Some(meta) => frames.push((buf, meta.link)),
                None => break,
            }
        }
    }
    if opts.capture_point == CapturePoint::Instance {
        // The gateway's view of the capture, as the topology as written translates it.
        let dp = dataplane(&cloud, hint, CapturePoint::Instance);
        for (data, link) in &mut frames {
            dp.restore_received(data, *link);
        }
    }
    // The topology as written.
    let (base, base_verdicts) = replay_frames(&cloud, hint, &frames, |_, _, _, _| false);
    let flows = base.summaries();
    let mut enis = Vec::new();
    for (x, eni) in cloud.enis.iter().enumerate() {
        let rows: Vec<&FlowSummary> = flows.iter().filter(|f| f.eni == Some(x as u32)).collect();
        if rows.is_empty() {
            continue;
        }
        let mut current: Vec<&'static str> = cloud
            .associations_of(x)
            .map(|a| a.mode.api_name())
            .collect();
        current.dedup();
        let mut availability = BTreeMap::new();
        let mut cells: Vec<BTreeMap<&'static str, Cell>> = vec![BTreeMap::new(); rows.len()];
        for mode in MODES {
            let name = mode.api_name();
            let built = plan(&cloud, x, mode).and_then(|p| {
                cloud
                    .rebuilt(&p.associations, &p.static_eips)
                    .map(|c| (c, p))
                    .map_err(|e: ModelError| e.to_string())
            });
            let (variant, p) = match built {
                Ok(v) => v,
                Err(why) => {
                    for c in cells.iter_mut() {
                        c.insert(
                            name,
                            Cell {
                                verdict: "n/a",
                                reason: Some(why.clone()),
                                forwarded: None,
                                dropped: BTreeMap::new(),
                            },
                        );
                    }
                    availability.insert(
                        name,
                        Availability {
                            available: false,
                            note: why,
                        },
                    );
                    continue;
                }
            };
            availability.insert(
                name,
                Availability {
                    available: true,
                    note: p.note.clone(),
                },
            );
            let mut guest = Translator::new(Policy {
                ftp: true,
                sip: true,
            });
            let (stats, verdicts) = replay_frames(&variant, hint, &frames, |i, data, link, out| {
                // Every frame is replayed (flows of other ENIs may be announced by this one's
                // control channels); only this ENI's frames change.
                let v = &base_verdicts[i];
                if !concerns(v, x as u32) {
                    return false;
                }
                let sent = (v.ingress == Some(Port::Eni(x as u32)))
                    .then(|| {
                        let src = Ipv4Addr::from(v.tuple.src);
                        p.guest.get(&src).map(|to| (src, *to))
                    })
                    .flatten();
                guest.guest_rewrite(link, data, v, sent, out)
            });
            let firsts: Vec<Verdict> = rows
                .iter()
                .map(|f| verdicts[(f.first_frame - 1) as usize])
                .collect();
            for (k, s) in stats.summaries_for(&firsts).into_iter().enumerate() {
                let cell = match s {
                    Some(s) => Cell::of(&s),
                    None => Cell {
                        verdict: "n/a",
                        reason: Some("the flow was not tracked in this mode".into()),
                        forwarded: None,
                        dropped: BTreeMap::new(),
                    },
                };
                cells[k].insert(name, cell);
            }
        }
        let all_ok = MODES
            .iter()
            .map(|m| m.api_name())
            .filter(|m| {
                availability.get(m).is_some_and(|a| a.available)
                    && cells
                        .iter()
                        .all(|c| c.get(m).is_some_and(|c| c.verdict == "ok"))
            })
            .collect();
        enis.push(EniAdvice {
            eni: eni.id.clone(),
            kind: match eni.kind {
                EniKind::Primary => "primary",
                EniKind::Secondary => "secondary",
            },
            current,
            availability,
            all_ok,
            flows: rows
                .into_iter()
                .zip(cells)
                .map(|(f, modes)| Row {
                    flow: f.clone(),
                    modes,
                })
                .collect(),
        });
    }
    let advice = Advice {
        topology: opts.topology.display().to_string(),
        inputs: opts
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        frames: frames.len() as u64,
        enis,
    };
    let written = write_json(&opts.out, &advice)?;
    let text = matrix(&advice, &written);
    Ok(ModesOutcome {
        advice,
        text,
        written,
    })
}

fn write_json(dir: &Path, advice: &Advice) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError {
        file: dir.to_path_buf(),
        message: format!("cannot create the output directory: {e}"),
    })?;
    let dest = dir.join("modes.json");
    let tmp = output::temp_name(&dest);
    let fail = |e: std::io::Error| OutputError {
        file: dest.clone(),
        message: e.to_string(),
    };
    let res = std::fs::File::create(&tmp).and_then(|f| {
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, advice).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    });
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    std::fs::rename(&tmp, &dest).map_err(fail)?;
    Ok(dest)
}

/// The terminal matrix.
fn matrix(advice: &Advice, written: &Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "eipsim modes: {} frames, {} ENI(s) with traffic; each cell is the flow's verdict with the ENI's EIPs bound in that mode (* = as in the topology)",
        advice.frames,
        advice.enis.len()
    );
    for e in &advice.enis {
        let _ = writeln!(
            s,
            "\n{} ({}, now {})",
            e.eni,
            e.kind,
            if e.current.is_empty() {
                "no EIP".to_string()
            } else {
                e.current.join("+")
            }
        );
        let label = |f: &FlowSummary| match f.ports {
            Some([a, b]) => format!(
                "{} {}:{} <-> {}:{}",
                f.protocol, f.addresses[0], a, f.addresses[1], b
            ),
            None => format!("{} {} <-> {}", f.protocol, f.addresses[0], f.addresses[1]),
        };
        let labels: Vec<String> = e
            .flows
            .iter()
            .map(|r| match r.flow.alg_protocol {
                Some(p) => format!("{} [{p}]", label(&r.flow)),
                None => label(&r.flow),
            })
            .collect();
        let w0 = labels.iter().map(String::len).max().unwrap_or(4).max(4);
        let heads: Vec<String> = MODES
            .iter()
            .map(|m| {
                let n = m.api_name();
                if e.current.contains(&n) {
                    format!("{n}*")
                } else {
                    n.to_string()
                }
            })
            .collect();
        let widths: Vec<usize> = MODES
            .iter()
            .enumerate()
            .map(|(i, m)| {
                e.flows
                    .iter()
                    .map(|r| r.modes[m.api_name()].text().len())
                    .chain([heads[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = write!(s, "  {:<w0$}", "flow");
        for (h, w) in heads.iter().zip(&widths) {
            let _ = write!(s, "  {h:<w$}");
        }
        let _ = writeln!(s);
        for (r, l) in e.flows.iter().zip(&labels) {
            let _ = write!(s, "  {l:<w0$}");
            for (m, w) in MODES.iter().zip(&widths) {
                let _ = write!(s, "  {:<w$}", r.modes[m.api_name()].text());
            }
            let _ = writeln!(s);
        }
        for m in MODES {
            if let Some(a) = e.availability.get(m.api_name()) {
                let _ = writeln!(
                    s,
                    "  {:<13} {}{}",
                    m.api_name(),
                    if a.available { "" } else { "not available: " },
                    a.note
                );
            }
        }
        let _ = writeln!(
            s,
            "  every flow ok in: {}",
            if e.all_ok.is_empty() {
                "no mode".to_string()
            } else {
                e.all_ok.join(", ")
            }
        );
    }
    let _ = writeln!(s, "\nmatrix and reasons in {}", written.display());
    s
}
