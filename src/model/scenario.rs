//! Operations as data (design.md section 2b): scenario files (`eipsim scenario`) and event
//! files (`eipsim replay --events`). An operation carries the provider's API name in `op` and
//! its parameters in snake_case; it is applied to a [`Cloud`] through the console's operations,
//! so every rule of the seeds is checked the same way as for a topology file.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::rules::{RuleCode, err};
use super::{Charge, Cloud, Eip, Eni, EniKind, InstanceType, Mac, Mode, ModelError, TopologyError};

/// One console operation.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "op", deny_unknown_fields)]
pub enum Operation {
    /// A new ENI, detached unless `instance` is given (then attached to it).
    CreateNetworkInterface {
        /// ENI id.
        id: String,
        /// `primary` or `secondary`.
        kind: EniKind,
        /// MAC address.
        mac: Mac,
        /// Primary private IP.
        primary_ip: Ipv4Addr,
        /// Secondary private IPs.
        #[serde(default)]
        secondary_ips: Vec<Ipv4Addr>,
        /// Instance to attach it to.
        instance: Option<String>,
    },
    /// Delete a detached ENI without EIPs.
    DeleteNetworkInterface {
        /// ENI id.
        eni: String,
    },
    /// Attach an ENI to an instance.
    AttachNetworkInterface {
        /// ENI id.
        eni: String,
        /// Instance id.
        instance: String,
    },
    /// Detach an ENI from its instance.
    DetachNetworkInterface {
        /// ENI id.
        eni: String,
    },
    /// Add secondary private IPs.
    AssignPrivateIpAddresses {
        /// ENI id.
        eni: String,
        /// The addresses.
        ips: Vec<Ipv4Addr>,
    },
    /// Remove secondary private IPs.
    UnassignPrivateIpAddresses {
        /// ENI id.
        eni: String,
        /// The addresses.
        ips: Vec<Ipv4Addr>,
    },
    /// A new EIP.
    AllocateEipAddress {
        /// EIP id.
        id: String,
        /// The public address.
        address: Ipv4Addr,
        /// `PayByTraffic` (default) or `Subscription`.
        #[serde(default)]
        charge: Charge,
    },
    /// Release an EIP.
    ReleaseEipAddress {
        /// EIP id.
        eip: String,
    },
    /// Bind an EIP to an ENI (in a mode) or to an ECS instance.
    AssociateEipAddress {
        /// EIP id.
        eip: String,
        /// ENI id (InstanceType NetworkInterface).
        eni: Option<String>,
        /// Instance id (InstanceType EcsInstance).
        instance: Option<String>,
        /// `NetworkInterface` (default) or `EcsInstance`.
        #[serde(default)]
        instance_type: InstanceType,
        /// `NAT` (default), `BINDED` or `MULTI_BINDED`.
        #[serde(default = "super::file::default_mode")]
        mode: Mode,
        /// NAT only: the private IP the EIP maps to (default: the primary private IP).
        private_ip: Option<Ipv4Addr>,
    },
    /// Unbind an EIP.
    UnassociateEipAddress {
        /// EIP id.
        eip: String,
    },
    /// The gateway and mask of a MULTI_BINDED EIP.
    DescribeEipGatewayInfo {
        /// EIP id.
        eip: String,
    },
    /// One ENI's state, or every live ENI's.
    DescribeNetworkInterfaces {
        /// ENI id (default: all).
        eni: Option<String>,
    },
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Operation::*;
        match self {
            CreateNetworkInterface { id, kind, .. } => write!(
                f,
                "CreateNetworkInterface {id} ({})",
                if *kind == EniKind::Primary {
                    "primary"
                } else {
                    "secondary"
                }
            ),
            DeleteNetworkInterface { eni } => write!(f, "DeleteNetworkInterface {eni}"),
            AttachNetworkInterface { eni, instance } => {
                write!(f, "AttachNetworkInterface {eni} -> {instance}")
            }
            DetachNetworkInterface { eni } => write!(f, "DetachNetworkInterface {eni}"),
            AssignPrivateIpAddresses { eni, ips } => {
                write!(f, "AssignPrivateIpAddresses {eni} {}", join(ips))
            }
            UnassignPrivateIpAddresses { eni, ips } => {
                write!(f, "UnassignPrivateIpAddresses {eni} {}", join(ips))
            }
            AllocateEipAddress {
                id,
                address,
                charge,
            } => write!(f, "AllocateEipAddress {id} {address} ({charge:?})"),
            ReleaseEipAddress { eip } => write!(f, "ReleaseEipAddress {eip}"),
            AssociateEipAddress {
                eip,
                eni,
                instance,
                mode,
                private_ip,
                ..
            } => {
                let to = eni.as_deref().or(instance.as_deref()).unwrap_or("?");
                write!(f, "AssociateEipAddress {eip} -> {to} ({}", mode.api_name())?;
                if let Some(p) = private_ip {
                    write!(f, ", {p}")?;
                }
                f.write_str(")")
            }
            UnassociateEipAddress { eip } => write!(f, "UnassociateEipAddress {eip}"),
            DescribeEipGatewayInfo { eip } => write!(f, "DescribeEipGatewayInfo {eip}"),
            DescribeNetworkInterfaces { eni } => {
                write!(
                    f,
                    "DescribeNetworkInterfaces {}",
                    eni.as_deref().unwrap_or("(all)")
                )
            }
        }
    }
}

fn join(ips: &[Ipv4Addr]) -> String {
    ips.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn find(index: Option<usize>, what: &str, id: &str, op: &Operation) -> Result<usize, ModelError> {
    index.ok_or_else(|| {
        err(
            RuleCode::UnknownId,
            op.to_string(),
            format!("no {what} {id:?} (never created, deleted or released)"),
        )
    })
}

impl Operation {
    /// Applies the operation. Describe operations return what they describe.
    pub fn apply(&self, cloud: &mut Cloud) -> Result<Option<String>, ModelError> {
        use Operation::*;
        let eni_of = |c: &Cloud, id: &str| find(c.eni_index(id), "ENI", id, self);
        let eip_of = |c: &Cloud, id: &str| find(c.eip_index(id), "EIP", id, self);
        let inst_of = |c: &Cloud, id: &str| find(c.instance_index(id), "instance", id, self);
        match self {
            CreateNetworkInterface {
                id,
                kind,
                mac,
                primary_ip,
                secondary_ips,
                instance,
            } => {
                let inst = instance.as_deref().map(|i| inst_of(cloud, i)).transpose()?;
                if *kind == EniKind::Primary && inst.is_none() {
                    return Err(err(
                        RuleCode::PrimaryEniNeedsInstance,
                        self.to_string(),
                        "a primary ENI is created with its instance: give `instance`",
                    ));
                }
                let mut e = Eni::new(id.clone(), *kind, *mac, *primary_ip, secondary_ips.clone());
                e.instance = inst;
                cloud.create_network_interface(e)?;
            }
            DeleteNetworkInterface { eni } => {
                let e = eni_of(cloud, eni)?;
                cloud.delete_network_interface(e)?;
            }
            AttachNetworkInterface { eni, instance } => {
                let (e, i) = (eni_of(cloud, eni)?, inst_of(cloud, instance)?);
                cloud.attach_network_interface(e, i)?;
            }
            DetachNetworkInterface { eni } => {
                let e = eni_of(cloud, eni)?;
                cloud.detach_network_interface(e)?;
            }
            AssignPrivateIpAddresses { eni, ips } => {
                let e = eni_of(cloud, eni)?;
                cloud.assign_private_ip_addresses(e, ips)?;
            }
            UnassignPrivateIpAddresses { eni, ips } => {
                let e = eni_of(cloud, eni)?;
                cloud.unassign_private_ip_addresses(e, ips)?;
            }
            AllocateEipAddress {
                id,
                address,
                charge,
            } => cloud.allocate_eip_address(Eip::new(id.clone(), *address, *charge))?,
            ReleaseEipAddress { eip } => {
                let e = eip_of(cloud, eip)?;
                cloud.release_eip_address(e)?;
            }
            AssociateEipAddress {
                eip,
                eni,
                instance,
                instance_type,
                mode,
                private_ip,
            } => {
                let e = eip_of(cloud, eip)?;
                match (instance_type, eni, instance) {
                    (InstanceType::NetworkInterface, Some(n), None) => {
                        let n = eni_of(cloud, n)?;
                        cloud.associate_eip_address(e, n, *mode, *private_ip)?;
                    }
                    (InstanceType::EcsInstance, None, Some(i))
                        if *mode == Mode::Nat && private_ip.is_none() =>
                    {
                        let i = inst_of(cloud, i)?;
                        cloud.associate_eip_address_to_instance(e, i)?;
                    }
                    _ => {
                        return Err(err(
                            RuleCode::InvalidAssociation,
                            self.to_string(),
                            "give `eni` (instance_type NetworkInterface) or `instance` (instance_type EcsInstance, NAT, no private_ip)",
                        ));
                    }
                }
            }
            UnassociateEipAddress { eip } => {
                let e = eip_of(cloud, eip)?;
                cloud.unassociate_eip_address(e)?;
            }
            DescribeEipGatewayInfo { eip } => {
                let e = eip_of(cloud, eip)?;
                return Ok(Some(cloud.describe_eip_gateway_info(e)?.to_string()));
            }
            DescribeNetworkInterfaces { eni } => {
                let list: Vec<usize> = match eni {
                    Some(n) => vec![eni_of(cloud, n)?],
                    None => (0..cloud.enis.len())
                        .filter(|i| !cloud.enis[*i].deleted)
                        .collect(),
                };
                let lines: Result<Vec<String>, ModelError> = list
                    .into_iter()
                    .map(|i| cloud.describe_network_interface(i))
                    .collect();
                return Ok(Some(lines?.join("\n")));
            }
        }
        Ok(None)
    }
}

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
        .map_err(|e| syntax(path, super::checks::toml_error_text(&e)))
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
                    format!("{name} {}: {}", n + 1, super::checks::toml_error_text(&e)),
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
        Some(c) if super::checks::ERROR_CODES.contains(&c) => Ok(Expect::Code(c.to_string())),
        Some(c) => {
            let hint = match super::checks::closest_code(c) {
                Some(k) => format!(" (did you mean \"{k}\"?)"),
                None => format!(" (the codes: {})", super::checks::ERROR_CODES.join(", ")),
            };
            let shown: String = c.chars().take(super::checks::MAX_LINE).collect();
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
pub fn scenario_report(s: &Scenario, path: &Path, results: &[StepResult]) -> String {
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
    t.push_str(&super::guest_view(&s.cloud));
    t
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
