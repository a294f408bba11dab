//! `replay --fixes`: for each dropped flow, the smallest change that would admit it, proven by
//! replaying the captures with it applied.
//!
//! After a replay, every flow with drops gets a proposal ([`Fixes::propose`]): the console operations
//! that would let its frames through, narrowest first (a security-group rule for that protocol,
//! port and peer /32 at the priority that beats the deciding rule; an EIP associated in NAT
//! mode; multi-EIP instead of cut-through; ...), a setting that no console operation changes
//! (the guest's DHCP, its static multi-EIP addresses, the provider's TCP/25 block), or none
//! where the seeds allow none. Identical proposals are one fix for several flows.
//!
//! Each distinct fix is then checked ([`Verifier`]): the captures run through the topology and
//! through the topology with the fix applied (the machinery of `eipsim diff`); the fix is
//! `verified` when its flows' frames all pass and no other flow's verdict gets worse,
//! `not-verified` with what went wrong otherwise. The fixes go to `fixes.toml` (an operations
//! file: `[[step]]` tables, one group per fix, with comments) and to `report.json` (`fixes`).

mod binding;
pub(crate) mod groups;
mod propose;
mod verify;
mod write;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::model::Cloud;
use crate::model::scenario::Operation;
use crate::report::{DroppedFlow, Stats};

pub use verify::Verifier;
pub use write::{fixes_toml, summary_text};

/// Verification replays at most (each replays the captures through the topology and through
/// the topology with a fix; a fix extended after its first replay takes two): the fixes
/// beyond are reported `unverified`.
pub const MAX_VERIFIED: usize = 50;

/// Distinct fixes proposed at most; dropped flows that would need another are counted only.
pub const MAX_FIXES: usize = 1000;

/// Flows of one fix that are remembered (checked by the verification); the report lists the
/// first [`LISTED_FLOWS`] of them and counts all.
pub const MAX_TARGETS: usize = 1000;

/// Flows of one fix listed in `report.json` and `fixes.toml`.
pub const LISTED_FLOWS: usize = 20;

/// A setting that no console operation changes: the guest's or the provider's. `fixes.toml`
/// gives it as a comment; the verification applies it to the topology.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Setting {
    /// DHCP on the instance's secondary NICs (`dhcp = true` in `[[instance]]`).
    Dhcp {
        /// Instance id.
        instance: String,
    },
    /// A multi-EIP address configured in the ENI's guest (added to `static_eips`).
    StaticEip {
        /// ENI id.
        eni: String,
        /// The EIP's address.
        address: Ipv4Addr,
    },
    /// The provider lifts its block of outbound TCP to port 25 (`[account] tcp25_unblocked`).
    Tcp25Unblocked,
}

impl std::fmt::Display for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Setting::Dhcp { instance } => write!(
                f,
                "topology: [[instance]] {instance} dhcp = true (DHCP on in the guest's OS; no console operation)"
            ),
            Setting::StaticEip { eni, address } => write!(
                f,
                "topology: [[eni]] {eni} static_eips += {address} (configure it in the guest's OS; DescribeEipGatewayInfo gives its gateway and mask; no console operation)"
            ),
            Setting::Tcp25Unblocked => f.write_str(
                "topology: [account] tcp25_unblocked = true (ask the provider to lift its TCP port 25 block; no console operation)",
            ),
        }
    }
}

impl Setting {
    /// Applies the setting to `cloud` (for the verification).
    fn apply(&self, cloud: &mut Cloud) -> Result<(), String> {
        match self {
            Setting::Dhcp { instance } => {
                let i = cloud
                    .instance_index(instance)
                    .ok_or_else(|| format!("no instance {instance:?}"))?;
                cloud.instances[i].dhcp = true;
            }
            Setting::StaticEip { eni, address } => {
                let e = cloud
                    .eni_index(eni)
                    .ok_or_else(|| format!("no ENI {eni:?}"))?;
                if let Some(list) = cloud.enis[e].static_eips.clone() {
                    let mut list = list;
                    if !list.contains(address) {
                        list.push(*address);
                    }
                    cloud.set_static_eips(e, list).map_err(|e| e.to_string())?;
                }
            }
            Setting::Tcp25Unblocked => cloud.account.tcp25_unblocked = true,
        }
        Ok(())
    }
}

/// One change of a fix: a console operation (a `[[step]]` of `fixes.toml`) or a setting.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A console operation, with its `[[step]]` table as written.
    Op(Operation, toml::Table),
    /// A setting no console operation changes.
    Setting(Setting),
}

impl Change {
    /// The change as text: the operation as `eipsim diff` prints it, or the setting.
    pub fn text(&self) -> String {
        match self {
            Change::Op(op, _) => op.to_string(),
            Change::Setting(s) => s.to_string(),
        }
    }

    /// The change as one line of its `[[step]]` fields, the resource it acts on first
    /// (`AuthorizeSecurityGroup group=sg-web policy=accept ...`); a setting as text.
    pub fn step_line(&self) -> String {
        let plain = |v: &toml::Value| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self {
            Change::Op(_, t) => {
                let first = ["op", "group", "eni", "eip"];
                let mut parts: Vec<String> = t.get("op").map(&plain).into_iter().collect();
                for k in &first[1..] {
                    if let Some(v) = t.get(*k) {
                        parts.push(format!("{k}={}", plain(v)));
                    }
                }
                for (k, v) in t.iter().filter(|(k, _)| !first.contains(&k.as_str())) {
                    parts.push(format!("{k}={}", plain(v)));
                }
                parts.join(" ")
            }
            Change::Setting(s) => s.to_string(),
        }
    }

    /// Applies the change to `cloud`.
    pub fn apply(&self, cloud: &mut Cloud) -> Result<(), String> {
        match self {
            Change::Op(op, _) => op
                .apply(cloud)
                .map(|_| ())
                .map_err(|e| format!("error {}: {e}", e.code)),
            Change::Setting(s) => s.apply(cloud),
        }
    }
}

/// What a fix's verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Replayed with the fix: its flows pass, no other flow got worse.
    Verified,
    /// Replayed with the fix: a flow of it is still dropped, or another flow got worse, or a
    /// step failed.
    NotVerified,
    /// Not replayed (beyond [`MAX_VERIFIED`]).
    Unverified,
    /// No change admits the flow (or none that eipsim can choose): the detail says why.
    NonePossible,
}

impl Status {
    /// The status as `report.json` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::NotVerified => "not-verified",
            Status::Unverified => "unverified",
            Status::NonePossible => "none-possible",
        }
    }
}

/// One distinct fix: its changes, the flows it targets and its verification.
#[derive(Clone, Debug)]
pub struct Fix {
    /// The drop reasons it answers (of its flows), in order of first seen.
    pub reasons: Vec<&'static str>,
    /// The changes, in order (empty for `none-possible`).
    pub changes: Vec<Change>,
    /// Why this change (the deciding rule, the placeholder address, ...), or why none.
    pub note: String,
    /// The flows it targets (labels as `eipsim diff` gives them), the first [`MAX_TARGETS`].
    pub flows: Vec<String>,
    /// Each listed flow's first frame and what decided its drop.
    pub flow_notes: Vec<String>,
    /// Flows it targets, all of them.
    pub flow_count: u64,
    /// The verification.
    pub status: Status,
    /// What the verification found.
    pub detail: String,
    /// The first flow it targets (to extend the fix when its replay uncovers another drop).
    pub first_flow: Option<DroppedFlow>,
}

impl Fix {
    /// The fix in `report.json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "reasons": self.reasons,
            "steps": self.changes.iter().map(Change::text).collect::<Vec<_>>(),
            "note": self.note,
            "flows": self.flows.iter().take(LISTED_FLOWS).collect::<Vec<_>>(),
            "flow_count": self.flow_count,
            "status": self.status.as_str(),
            "detail": self.detail,
        })
    }
}

/// The fixes of a replay.
#[derive(Clone, Debug, Default)]
pub struct Fixes {
    /// The distinct fixes, in order of their first flow.
    pub fixes: Vec<Fix>,
    /// Dropped flows beyond [`MAX_FIXES`] distinct fixes: not given one.
    pub flows_without_fix: u64,
}

impl Fixes {
    /// Proposes a fix for every dropped flow of `stats` (a replay through `cloud`).
    pub fn propose(stats: &Stats, cloud: &Cloud) -> std::io::Result<Fixes> {
        Fixes::propose_with(stats, &mut propose::Proposer::new(cloud))
    }

    fn propose_with(stats: &Stats, p: &mut propose::Proposer<'_>) -> std::io::Result<Fixes> {
        let mut out = Fixes::default();
        let mut index: HashMap<Vec<String>, usize> = HashMap::new();
        stats.for_each_dropped(|f: DroppedFlow| {
            let (reasons, changes, note) = p.propose(&f);
            let key: Vec<String> = if changes.is_empty() {
                vec![format!("none: {note}")]
            } else {
                changes.iter().map(Change::text).collect()
            };
            let label = crate::advisor::diff::label(&f.summary);
            let flow_note = format!(
                "{label} (first frame {}; {})",
                f.summary.first_frame,
                p.why(&f)
            );
            let i = match index.get(&key) {
                Some(i) => *i,
                None if out.fixes.len() >= MAX_FIXES => {
                    out.flows_without_fix += 1;
                    return;
                }
                None => {
                    let none = changes.is_empty();
                    out.fixes.push(Fix {
                        reasons: Vec::new(),
                        changes,
                        note,
                        flows: Vec::new(),
                        flow_notes: Vec::new(),
                        flow_count: 0,
                        status: if none {
                            Status::NonePossible
                        } else {
                            Status::Unverified
                        },
                        detail: String::new(),
                        first_flow: Some(f.clone()),
                    });
                    index.insert(key, out.fixes.len() - 1);
                    out.fixes.len() - 1
                }
            };
            let fix = &mut out.fixes[i];
            for r in reasons {
                if !fix.reasons.contains(&r) {
                    fix.reasons.push(r);
                }
            }
            fix.flow_count += 1;
            if fix.flows.len() < MAX_TARGETS {
                fix.flows.push(label);
                fix.flow_notes.push(flow_note);
            }
        })?;
        for f in &mut out.fixes {
            if f.status == Status::NonePossible {
                f.detail = f.note.clone();
            }
        }
        Ok(out)
    }

    /// Verifies the fixes with changes through `v`, in order, within [`MAX_VERIFIED`]
    /// verification replays; the others stay `unverified`.
    pub fn verify(&mut self, v: &Verifier<'_>) -> Result<(), crate::advisor::AdvisorError> {
        self.verify_with(v, None)
    }

    /// [`Fixes::verify`]; with a proposer, a fix whose flows are still dropped for a reason it
    /// did not answer (a drop the first one hid) gets that reason's fix added and is replayed
    /// once more: the longer fix replaces it when it is verified.
    fn verify_with(
        &mut self,
        v: &Verifier<'_>,
        mut p: Option<&mut propose::Proposer<'_>>,
    ) -> Result<(), crate::advisor::AdvisorError> {
        let mut done = 0;
        for f in self.fixes.iter_mut().filter(|f| !f.changes.is_empty()) {
            if done >= MAX_VERIFIED {
                f.detail =
                    format!("not replayed: at most {MAX_VERIFIED} verification replays are run");
                continue;
            }
            let c = v.check_full(f)?;
            done += 1;
            f.status = c.status;
            f.detail = c.detail;
            let new: Vec<&'static str> = c
                .still
                .iter()
                .copied()
                .filter(|r| !f.reasons.contains(r))
                .collect();
            let (Some(p), Some(first)) = (p.as_deref_mut(), &f.first_flow) else {
                continue;
            };
            if f.status == Status::Verified || new.is_empty() {
                continue;
            }
            let Some((more, note)) = p.extend(first, &new) else {
                continue;
            };
            let mut g = f.clone();
            for ch in more {
                if !g.changes.contains(&ch) {
                    g.changes.push(ch);
                }
            }
            g.note = format!("{}; then {}: {note}", f.note, new.join(", "));
            let c2 = v.check_full(&g)?;
            done += 1;
            if c2.status == Status::Verified {
                g.reasons.extend(new);
                g.status = c2.status;
                g.detail = c2.detail;
                *f = g;
            } else {
                f.detail = format!(
                    "{}; with the fix for {} added too: {}",
                    f.detail,
                    new.join(", "),
                    c2.detail
                );
            }
        }
        Ok(())
    }

    /// Fixes with changes left unverified (beyond [`MAX_VERIFIED`]).
    pub fn unverified(&self) -> usize {
        self.fixes
            .iter()
            .filter(|f| f.status == Status::Unverified)
            .count()
    }

    /// `fixes` in `report.json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::Value::Array(self.fixes.iter().map(Fix::json).collect())
    }
}

/// `eipsim replay --fixes`: the replay, then the fixes. Not with `--events`: each fix is
/// verified against the topology as its file gives it.
pub fn replay(
    opts: &crate::replay::ReplayOptions,
) -> Result<crate::replay::ReplayOutcome, crate::replay::ReplayError> {
    if opts.events.is_some() {
        return Err(crate::replay::ReplayError::Usage(
            "--fixes verifies each fix against the topology as its file gives it: it does not take --events".into(),
        ));
    }
    crate::replay::run_inner(opts, crate::report::SPILL_BUFFER, true)
}

/// The replay's part: proposes and verifies the fixes of `stats` (verification skipped when a
/// capture could not be read to its end), writes `fixes.toml` under a temporary name into
/// `set`, and returns the summary's section.
pub(crate) fn attach(
    stats: &mut Stats,
    cloud: &Cloud,
    opts: &crate::replay::ReplayOptions,
    capture_errors: &[crate::replay::input::CaptureError],
    set: &mut crate::replay::output::OutputSet,
) -> Result<String, crate::replay::output::OutputError> {
    let dest = opts.out.join("fixes.toml");
    let fail = |message: String| crate::replay::output::OutputError {
        file: dest.clone(),
        message,
    };
    let mut p = propose::Proposer::new(cloud);
    let mut fixes = Fixes::propose_with(stats, &mut p).map_err(|e| fail(e.to_string()))?;
    if capture_errors.is_empty() {
        let diff = crate::advisor::diff::DiffOptions {
            topology_a: opts.topology.clone(),
            topology_b: None,
            apply: None,
            inputs: opts.inputs.clone(),
            ingress: opts.ingress.clone(),
            capture_point: opts.capture_point,
        };
        fixes
            .verify_with(&Verifier::new(cloud, &diff), Some(&mut p))
            .map_err(|e| fail(format!("verifying the fixes: {e}")))?;
    } else {
        for f in fixes.fixes.iter_mut() {
            if f.status == Status::Unverified {
                f.detail = "not replayed: a capture could not be read to its end".into();
            }
        }
    }
    stats.fixes = Some(fixes.json());
    let tmp = crate::replay::output::temp_name(&dest);
    std::fs::write(
        &tmp,
        fixes_toml(&fixes, &opts.topology, &dest, &opts.inputs),
    )
    .map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e.to_string())
    })?;
    set.add(tmp, dest);
    Ok(summary_text(&fixes))
}

/// Puts the fixes' section into a replay's summary, before its last line (`outputs in`).
pub fn splice_summary(summary: &mut String, fixes: Option<&str>) {
    let Some(text) = fixes else {
        return;
    };
    let at = summary
        .trim_end_matches('\n')
        .rfind('\n')
        .map_or(summary.len(), |i| i + 1);
    summary.insert_str(at, text);
}
