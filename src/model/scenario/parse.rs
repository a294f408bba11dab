//! Scenario, events and operations files: TOML read into steps, timed events and planned
//! operations, each operation parsed as an [`Operation`] and each `expect` checked against the
//! model's rule codes.

use std::fmt;
use std::path::{Path, PathBuf};

use super::Operation;
use crate::model::{Cloud, ModelError, TopologyError, checks};

/// What a scenario step should give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Success.
    Ok,
    /// Any error.
    Error,
    /// This error code.
    Code(String),
}

impl Expect {
    /// Whether `outcome` is what was expected.
    pub fn matches(&self, outcome: &Result<Option<String>, ModelError>) -> bool {
        match (self, outcome) {
            (Expect::Ok, Ok(_)) | (Expect::Error, Err(_)) => true,
            (Expect::Code(c), Err(e)) => e.code == *c,
            _ => false,
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Ok => f.write_str("ok"),
            Expect::Error => f.write_str("error"),
            Expect::Code(c) => f.write_str(c),
        }
    }
}

/// A scenario step.
#[derive(Clone, Debug)]
pub struct Step {
    /// The operation.
    pub op: Operation,
    /// What it should give.
    pub expect: Expect,
}

/// A timed operation for `replay --events`.
#[derive(Clone, Debug)]
pub struct Event {
    /// Capture time in nanoseconds since the epoch: the event applies from the first frame at
    /// or after it.
    pub at_ns: i128,
    /// `at` as written.
    pub at: String,
    /// The operation.
    pub op: Operation,
}

/// Why a scenario or events file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// The file's shape is wrong.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// What is wrong, naming the step or event.
        message: String,
    },
    /// Its topology is invalid.
    #[error(transparent)]
    Topology(#[from] TopologyError),
}

fn syntax(path: &Path, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Syntax {
        path: path.display().to_string(),
        message: message.into(),
    }
}

fn read_table(path: &Path) -> Result<toml::Table, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    text.parse::<toml::Table>()
        .map_err(|e| syntax(path, checks::toml_error_text(&e)))
}

/// The `[[step]]` or `[[event]]` tables of a file, with one key taken out of each.
fn entries(
    path: &Path,
    table: &mut toml::Table,
    name: &str,
    key: &str,
) -> Result<Vec<(toml::Value, Operation)>, ScenarioError> {
    let Some(v) = table.remove(name) else {
        return Ok(Vec::new());
    };
    let toml::Value::Array(items) = v else {
        return Err(syntax(
            path,
            format!("`{name}` must be an array of tables ([[{name}]])"),
        ));
    };
    let mut out = Vec::new();
    for (n, item) in items.into_iter().enumerate() {
        let toml::Value::Table(mut t) = item else {
            return Err(syntax(path, format!("{name} {}: not a table", n + 1)));
        };
        let k = t
            .remove(key)
            .ok_or_else(|| syntax(path, format!("{name} {}: `{key}` is missing", n + 1)))?;
        let op: Operation = toml::Value::Table(t)
            .try_into()
            .map_err(|e: toml::de::Error| {
                syntax(
                    path,
                    format!("{name} {}: {}", n + 1, checks::toml_error_text(&e)),
                )
            })?;
        out.push((k, op));
    }
    Ok(out)
}

/// A scenario: the starting cloud and the steps.
#[derive(Debug)]
pub struct Scenario {
    /// Where the topology came from (a file, or `inline`).
    pub topology: String,
    /// The starting cloud.
    pub cloud: Cloud,
    /// The steps.
    pub steps: Vec<Step>,
}

/// Reads step `n`'s (0-based) `expect`: "ok", "error" or an error code eipsim knows (a
/// misspelled code is refused here, with the nearest known one, not reported later as an
/// unexpected outcome).
fn parse_expect(
    path: &Path,
    n: usize,
    op: &impl std::fmt::Display,
    k: &toml::Value,
) -> Result<Expect, ScenarioError> {
    match k.as_str() {
        Some("ok") => Ok(Expect::Ok),
        Some("error") => Ok(Expect::Error),
        Some(c) if checks::ERROR_CODES.contains(&c) => Ok(Expect::Code(c.to_string())),
        Some(c) => {
            let hint = match checks::closest_code(c) {
                Some(k) => format!(" (did you mean \"{k}\"?)"),
                None => format!(" (the codes: {})", checks::ERROR_CODES.join(", ")),
            };
            let shown: String = c.chars().take(checks::MAX_LINE).collect();
            Err(syntax(
                path,
                format!(
                    "step {} ({op}): `expect = \"{shown}\"` is not an error code eipsim knows{hint}; `expect` is \"ok\", \"error\" or an error code",
                    n + 1
                ),
            ))
        }
        None => Err(syntax(
            path,
            format!(
                "step {}: `expect` is \"ok\", \"error\" or an error code",
                n + 1
            ),
        )),
    }
}

/// Reads a scenario file: `topology = "file.toml"` (relative to the scenario) or the topology's
/// tables inline, and `[[step]]` tables with `op`, its parameters and `expect`.
pub fn load_scenario(path: &Path) -> Result<Scenario, ScenarioError> {
    let mut table = read_table(path)?;
    let steps = entries(path, &mut table, "step", "expect")?
        .into_iter()
        .enumerate()
        .map(|(n, (k, op))| {
            let expect = parse_expect(path, n, &op, &k)?;
            Ok(Step { op, expect })
        })
        .collect::<Result<Vec<_>, ScenarioError>>()?;
    let (topology, cloud) = match table.remove("topology") {
        Some(toml::Value::String(file)) => {
            if !table.is_empty() {
                return Err(syntax(
                    path,
                    "give `topology = FILE` or the topology's tables inline, not both",
                ));
            }
            let file: PathBuf = path.parent().unwrap_or(Path::new(".")).join(file);
            let cloud = Cloud::load(&file)?;
            (file.display().to_string(), cloud)
        }
        Some(_) => return Err(syntax(path, "`topology` is a file name")),
        None => {
            let name = format!("{} (inline topology)", path.display());
            let text = toml::to_string(&table).map_err(|e| syntax(path, e.to_string()))?;
            (name.clone(), Cloud::from_toml_named(&text, &name)?)
        }
    };
    Ok(Scenario {
        topology,
        cloud,
        steps,
    })
}

/// Parses `at`: seconds since the epoch, an integer, a float or a decimal string (exact to the
/// nanosecond).
fn parse_at(v: &toml::Value) -> Option<(i128, String)> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => {
            Some((i128::from(*i).checked_mul(1_000_000_000)?, i.to_string()))
        }
        // The float's shortest decimal form, read exactly (f * 1e9 would be off by hundreds
        // of nanoseconds at today's epoch times).
        toml::Value::Float(f) if f.is_finite() && *f >= 0.0 => {
            parse_at(&toml::Value::String(format!("{f}"))).map(|(ns, _)| (ns, f.to_string()))
        }
        toml::Value::String(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            if int.is_empty()
                || int.len() > 20
                || !int.bytes().all(|b| b.is_ascii_digit())
                || frac.len() > 9
                || !frac.bytes().all(|b| b.is_ascii_digit())
            {
                return None;
            }
            let secs: i128 = int.parse().ok()?;
            let ns: i128 = format!("{frac:0<9}").parse().ok()?;
            Some((secs.checked_mul(1_000_000_000)?.checked_add(ns)?, s.clone()))
        }
        _ => None,
    }
}

/// Reads an events file: `[[event]]` tables with `at` (capture time, seconds since the epoch)
/// and an operation. Events are applied in time order (the file's order among equal times).
pub fn load_events(path: &Path) -> Result<Vec<Event>, ScenarioError> {
    let mut table = read_table(path)?;
    let list = entries(path, &mut table, "event", "at")?;
    if let Some(k) = table.keys().next() {
        return Err(syntax(
            path,
            format!("unknown key `{k}`: an events file has only [[event]] tables"),
        ));
    }
    let mut events = Vec::new();
    for (n, (at, op)) in list.into_iter().enumerate() {
        let (at_ns, at) = parse_at(&at).ok_or_else(|| {
            syntax(
                path,
                format!(
                    "event {}: `at` is capture time in seconds since the epoch (a number or a decimal string, not negative)",
                    n + 1
                ),
            )
        })?;
        events.push(Event { at_ns, at, op });
    }
    events.sort_by_key(|e| e.at_ns);
    Ok(events)
}

/// An operation of an operations file (`eipsim diff --apply`): where it is in the file
/// (`step 2`, `event 1`), the operation, and what it should give.
#[derive(Clone, Debug)]
pub struct PlannedOp {
    /// `step N` or `event N` (1-based, in the file's order).
    pub label: String,
    /// The operation.
    pub op: Operation,
    /// What it should give (`ok` unless the step says otherwise).
    pub expect: Expect,
}

/// Reads an operations file: `[[step]]` tables as in a scenario (`expect` optional, default
/// `ok`) or `[[event]]` tables as in an events file (`at` optional, default 0; applied in time
/// order, the file's order among equal times), and nothing else.
pub fn load_operations(path: &Path) -> Result<Vec<PlannedOp>, ScenarioError> {
    let mut table = read_table(path)?;
    if table.contains_key("step") && table.contains_key("event") {
        return Err(syntax(
            path,
            "give [[step]] tables or [[event]] tables, not both",
        ));
    }
    for (name, key, default) in [
        ("step", "expect", toml::Value::String("ok".into())),
        ("event", "at", toml::Value::Integer(0)),
    ] {
        if let Some(toml::Value::Array(items)) = table.get_mut(name) {
            for item in items.iter_mut() {
                if let toml::Value::Table(t) = item {
                    t.entry(key).or_insert_with(|| default.clone());
                }
            }
        }
    }
    let steps = entries(path, &mut table, "step", "expect")?;
    let events = entries(path, &mut table, "event", "at")?;
    if let Some(k) = table.keys().next() {
        return Err(syntax(
            path,
            format!(
                "unknown key `{k}`: an operations file has only [[step]] or [[event]] tables (they apply to the topology given with --topology)"
            ),
        ));
    }
    let mut out = Vec::new();
    for (n, (k, op)) in steps.into_iter().enumerate() {
        let expect = parse_expect(path, n, &op, &k)?;
        out.push(PlannedOp {
            label: format!("step {}", n + 1),
            op,
            expect,
        });
    }
    let mut timed = Vec::new();
    for (n, (at, op)) in events.into_iter().enumerate() {
        let (at_ns, _) = parse_at(&at).ok_or_else(|| {
            syntax(
                path,
                format!(
                    "event {}: `at` is capture time in seconds since the epoch (a number or a decimal string)",
                    n + 1
                ),
            )
        })?;
        timed.push((
            at_ns,
            PlannedOp {
                label: format!("event {}", n + 1),
                op,
                expect: Expect::Ok,
            },
        ));
    }
    timed.sort_by_key(|(at, _)| *at);
    out.extend(timed.into_iter().map(|(_, p)| p));
    if out.is_empty() {
        return Err(syntax(
            path,
            "no operation: give [[step]] or [[event]] tables",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_is_read_exactly() {
        let f = toml::Value::Float(1_700_000_000.000_001);
        assert_eq!(parse_at(&f).unwrap().0, 1_700_000_000_000_001_000);
        let s = toml::Value::String("1700000005.5".into());
        assert_eq!(parse_at(&s).unwrap().0, 1_700_000_005_500_000_000);
        assert_eq!(parse_at(&toml::Value::Integer(3)).unwrap().0, 3_000_000_000);
        for bad in [
            "999999999999999999999999999999",
            "1.2.3",
            "-1",
            "1.0000000001",
            "",
        ] {
            assert!(
                parse_at(&toml::Value::String(bad.into())).is_none(),
                "{bad}"
            );
        }
        assert!(parse_at(&toml::Value::Integer(i64::MAX)).is_some());
        assert!(parse_at(&toml::Value::Float(-1.0)).is_none());
    }
}
