//! A fix proven: the captures replayed through the topology and through the topology with the
//! fix applied (`eipsim diff`'s comparison), flow by flow.

use std::collections::HashSet;

use super::{Fix, Status};
use crate::advisor::AdvisorError;
use crate::advisor::diff::{self, DiffOptions, Side, Topology};
use crate::model::Cloud;

/// Problems named in a `not-verified` detail at most.
const MAX_PROBLEMS: usize = 5;

/// Replays the captures of `opts` with each fix applied to the topology.
pub struct Verifier<'a> {
    cloud: &'a Cloud,
    opts: &'a DiffOptions,
}

/// How bad a side's verdict is: `ok` and `translated` 0, `alg-at-risk` 1, `alg-broken` 2,
/// `dropped` 3 (the worst of the side's flows).
fn rank(side: &Side) -> u8 {
    side.verdict
        .split(" + ")
        .map(|v| match v {
            "alg-at-risk" => 1,
            "alg-broken" => 2,
            "dropped" => 3,
            _ => 0,
        })
        .max()
        .unwrap_or(0)
}

/// Whether a flow fares worse in B than in A: more frames dropped, or a worse verdict.
fn worse(a: &Side, b: &Side) -> bool {
    b.frames.saturating_sub(b.forwarded) > a.frames.saturating_sub(a.forwarded) || rank(b) > rank(a)
}

/// The drop reasons of a side: `security-group x2, guest-not-configured x1`.
fn reasons(side: &Side) -> String {
    side.dropped
        .iter()
        .map(|(r, n)| format!("{r} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A verification's outcome.
#[derive(Clone, Debug)]
pub struct Checked {
    /// `verified` or `not-verified`.
    pub status: Status,
    /// What the replay found.
    pub detail: String,
    /// When the only problem is that the fix's flows are still dropped: the reasons that
    /// drop them now (a drop the first one hid, such as `guest-not-configured` after the
    /// group's ingress check).
    pub still: Vec<&'static str>,
}

impl<'a> Verifier<'a> {
    /// A verifier over `cloud` (the replayed topology) and the captures of `opts`.
    pub fn new(cloud: &'a Cloud, opts: &'a DiffOptions) -> Verifier<'a> {
        Verifier { cloud, opts }
    }

    /// Applies `fix` to the topology and replays: `verified` when the fix's flows have no
    /// drop and no other flow fares worse, `not-verified` with what went wrong otherwise.
    pub fn check(&self, fix: &Fix) -> Result<(Status, String), AdvisorError> {
        self.check_full(fix).map(|c| (c.status, c.detail))
    }

    /// [`Verifier::check`], with the reasons that still drop the fix's flows.
    pub fn check_full(&self, fix: &Fix) -> Result<Checked, AdvisorError> {
        let mut b = self.cloud.clone();
        for (n, c) in fix.changes.iter().enumerate() {
            if let Err(e) = c.apply(&mut b) {
                return Ok(Checked {
                    status: Status::NotVerified,
                    detail: format!("step {} ({}) fails: {e}", n + 1, c.text()),
                    still: Vec::new(),
                });
            }
        }
        let desc = Topology {
            topology: self.opts.topology_a.display().to_string(),
            apply: Some("the fix".into()),
            operations: fix.changes.iter().map(|c| c.text()).collect(),
        };
        let d = diff::compare(self.cloud, &b, desc, self.opts)?;
        let targets: HashSet<&str> = fix.flows.iter().map(String::as_str).collect();
        let mut seen: HashSet<&str> = HashSet::new();
        // The fix's own flows first, then the others that fare worse.
        let mut problems = Vec::new();
        let mut worse_flows = Vec::new();
        let mut still: Vec<&'static str> = Vec::new();
        for row in &d.flows {
            let hit: Vec<&str> = row
                .a
                .flows
                .iter()
                .map(String::as_str)
                .filter(|l| targets.contains(l))
                .collect();
            if let Some(first) = hit.first() {
                seen.extend(hit.iter().copied());
                if !row.b.dropped.is_empty() {
                    problems.push(format!("flow {first} still dropped {}", reasons(&row.b)));
                    for r in row.b.dropped.keys() {
                        if !still.contains(r) {
                            still.push(*r);
                        }
                    }
                }
            } else if worse(&row.a, &row.b) {
                worse_flows.push(format!(
                    "flow {} now {} (was {})",
                    row.flow,
                    row.b.verdict_text(),
                    row.a.verdict_text()
                ));
            }
        }
        let mut lost = false;
        for t in &fix.flows {
            if !seen.contains(t.as_str()) {
                problems.push(format!("flow {t} not found in the verification replay"));
                lost = true;
            }
        }
        if lost || !worse_flows.is_empty() {
            still.clear();
        }
        problems.extend(worse_flows);
        if problems.is_empty() {
            let flows = match fix.flows.len() {
                1 => "its flow passes".to_string(),
                n => format!("its {n} flows pass"),
            };
            return Ok(Checked {
                status: Status::Verified,
                detail: format!("replayed with the fix: {flows}, no other flow fares worse"),
                still,
            });
        }
        let more = problems.len().saturating_sub(MAX_PROBLEMS);
        problems.truncate(MAX_PROBLEMS);
        let mut detail = problems.join("; ");
        if more > 0 {
            detail.push_str(&format!("; and {more} more"));
        }
        Ok(Checked {
            status: Status::NotVerified,
            detail,
            still,
        })
    }
}
