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
//! A variant costs in proportion to the ENI's traffic, not to the topology: its operations run
//! on an excerpt of the cloud, the tables are patched in place, and only the frames that can
//! change are replayed ([`Strategy::Incremental`]); [`Strategy::FullRebuild`] is the reference
//! it is tested against.
//!
//! Choices: a BINDED ENI gets the first of its EIPs (one EIP per ENI) and its guest sends every
//! flow from it; MULTI_BINDED binds up to the account's quota and assumes the guest configured
//! them all (`static_eips`), while flows its guest sent from a private IP with no EIP stay on
//! that address; NAT maps each EIP to a private IP of the ENI (the one it had in NAT mode, else
//! the next one free); an EIP the mode cannot hold is left unbound. In the ENI's mode as
//! written the frames are replayed as captured, so that column is the plain replay's verdicts.
//! The topology's `[alg]` what-if translation is not applied: the advisor answers for the
//! provider's gateway.

mod frames;
mod incremental;
mod matrix;
#[cfg(test)]
mod tests;
mod variants;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::dataplane::{CapturePoint, Port, Verdict};
use crate::model::{Cloud, EniKind, Mode};
use crate::replay::input::CaptureReader;
use crate::replay::{ReplayError, dataplane, ingress_hint};
use crate::report::{FlowSummary, Stats};
use crate::wire::LinkType;

use frames::replay_frames;
use incremental::Incremental;
use matrix::{matrix, write_json};
use variants::full_variant;

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

/// How the advisor builds each (ENI, mode) variant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// The default, proportional to the ENI's traffic: the variant's rules are checked on an
    /// excerpt of the topology (the ENI, its instance and that instance's ENIs, their EIPs)
    /// through the same console operations, the tables compiled once for the topology as
    /// written are patched in place for the ENI's new bindings (and put back afterwards), and
    /// only the frames whose verdict or flow can change are replayed: the flows of the frames
    /// that concern the ENI or carry one of its addresses, the flows the ALG inspection ties
    /// together, and fragmented datagrams. When a replayed frame lands in a flow left out, an
    /// announcement names the end of a flow left out, or the replay is near a counter's limit,
    /// the variant replays every frame instead. Same advice as [`Strategy::FullRebuild`].
    #[default]
    Incremental,
    /// The reference, proportional to the whole topology per variant: the whole cloud is
    /// rebuilt through the console's operations, its tables compiled anew and every frame
    /// replayed.
    FullRebuild,
}

/// A variant replayed: how the ENI's EIPs were bound, the counters, and the verdict of each
/// row's first frame in the variant.
struct Replayed {
    note: String,
    stats: Stats,
    firsts: Vec<Verdict>,
}

/// What a variant needs of the run: the topology, the frames and their verdicts as written.
struct Run<'a> {
    cloud: &'a Cloud,
    hint: Option<Port>,
    frames: &'a [(Vec<u8>, LinkType)],
    base_verdicts: &'a [Verdict],
}

/// The topology, the ingress and the frames (as the gateway saw them) of a run.
type Loaded = (Cloud, Option<Port>, Vec<(Vec<u8>, LinkType)>);

/// Loads the topology and the captures of `opts`.
fn load(opts: &ModesOptions) -> Result<Loaded, ReplayError> {
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
    Ok((cloud, hint, frames))
}

/// Runs the advisor ([`Strategy::Incremental`]).
pub fn run(opts: &ModesOptions) -> Result<ModesOutcome, ReplayError> {
    run_with(opts, Strategy::Incremental)
}

/// Runs the advisor, building the variants as `strategy` says (both give the same advice).
pub fn run_with(opts: &ModesOptions, strategy: Strategy) -> Result<ModesOutcome, ReplayError> {
    let (cloud, hint, frames) = load(opts)?;
    // The topology as written.
    let dp = dataplane(&cloud, hint, CapturePoint::Gateway);
    let mut base = Stats::for_cloud(&cloud);
    let base_verdicts = replay_frames(&dp, &mut base, &cloud, &frames, None, |_, _, _, _| false);
    let run = Run {
        cloud: &cloud,
        hint,
        frames: &frames,
        base_verdicts: &base_verdicts,
    };
    let mut incremental = match strategy {
        Strategy::Incremental => Some(Incremental::new(&run, dp, &base)),
        Strategy::FullRebuild => None,
    };
    let flows = base.summaries();
    let mut enis = Vec::new();
    for (x, eni) in cloud.enis.iter().enumerate() {
        let rows: Vec<&FlowSummary> = flows.iter().filter(|f| f.eni == Some(x as u32)).collect();
        if rows.is_empty() {
            continue;
        }
        let firsts: Vec<usize> = rows.iter().map(|f| (f.first_frame - 1) as usize).collect();
        let mut current: Vec<&'static str> = cloud
            .associations_of(x)
            .map(|a| a.mode.api_name())
            .collect();
        current.dedup();
        let mut availability = BTreeMap::new();
        let mut cells: Vec<BTreeMap<&'static str, Cell>> = vec![BTreeMap::new(); rows.len()];
        for mode in MODES {
            let name = mode.api_name();
            let replayed = match incremental.as_mut() {
                Some(inc) => inc.variant(&run, x, mode, &firsts),
                None => full_variant(&run, x, mode, &firsts),
            };
            let r = match replayed {
                Ok(r) => r,
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
                    note: r.note,
                },
            );
            for (k, s) in r.stats.summaries_for(&r.firsts).into_iter().enumerate() {
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
