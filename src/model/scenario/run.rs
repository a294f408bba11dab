//! A scenario run step by step on its cloud, and its report.

use std::path::Path;

use super::{Expect, Scenario};
use crate::model::{ModelError, StackLines, guest_view};

/// One step's result.
#[derive(Debug)]
pub struct StepResult {
    /// The operation, as text.
    pub op: String,
    /// What it gave.
    pub outcome: Result<Option<String>, ModelError>,
    /// What was expected.
    pub expect: Expect,
    /// Whether they agree.
    pub as_expected: bool,
}

/// Runs the steps in order on the scenario's cloud. A step whose outcome differs from its
/// `expect` does not stop the run. The model's invariants are checked after every step.
pub fn run_scenario(s: &mut Scenario) -> Vec<StepResult> {
    let mut out = Vec::new();
    for step in &s.steps {
        let outcome = step.op.apply(&mut s.cloud);
        if let Err(broken) = s.cloud.check_invariants() {
            // Never expected: an operation let the model break its own rules.
            panic!("invariant broken after {}: {broken}", step.op);
        }
        out.push(StepResult {
            op: step.op.to_string(),
            as_expected: step.expect.matches(&outcome),
            outcome,
            expect: step.expect.clone(),
        });
    }
    out
}

/// The scenario's report: one line per step, then the resulting state (the `eipsim check`
/// view).
pub fn scenario_report(
    s: &Scenario,
    path: &Path,
    results: &[StepResult],
    stacks: &dyn StackLines,
) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "scenario {}: {} steps from {}",
        path.display(),
        results.len(),
        s.topology
    );
    let w = results.iter().map(|r| r.op.len()).max().unwrap_or(0);
    for (n, r) in results.iter().enumerate() {
        let got = match &r.outcome {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("error {}", e.code),
        };
        let _ = writeln!(
            t,
            "  {:>3} {:<11} {:<w$}  {got}{}",
            n + 1,
            if r.as_expected {
                "as-expected"
            } else {
                "UNEXPECTED"
            },
            r.op,
            if r.as_expected {
                String::new()
            } else {
                format!(" (expected {})", r.expect)
            }
        );
        match &r.outcome {
            Ok(Some(text)) => {
                for l in text.lines() {
                    let _ = writeln!(t, "        {l}");
                }
            }
            Err(e) => {
                let _ = writeln!(t, "        {}: {}", e.subject, e.message);
            }
            Ok(None) => {}
        }
    }
    let bad = results.iter().filter(|r| !r.as_expected).count();
    if bad == 0 {
        let _ = writeln!(t, "all {} steps as expected", results.len());
    } else {
        let _ = writeln!(t, "{bad} of {} steps not as expected", results.len());
    }
    let _ = writeln!(t, "\nresulting state:");
    t.push_str(&guest_view(&s.cloud, stacks));
    t
}
