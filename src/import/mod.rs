//! Configurations in: a topology file from the user's real configuration, either the JSON of
//! `terraform show -json` ([`terraform`]) or the JSON responses of the provider's Describe* APIs
//! as the aliyun CLI prints them ([`aliyun`]).
//!
//! Both front ends fill one [`Draft`] (what the input says, each entry with where it came from);
//! [`finish`] resolves it (the VPC, the region, each instance's primary ENI, attachments,
//! associations, security groups), applies the stated defaults and inferences (each default is
//! reported as a note), writes the topology TOML with a comment above each entry naming its
//! origin, and validates it with [`Cloud::from_toml`], so an import that `eipsim check` would
//! refuse is an error naming the rule and the resource it came from.
//!
//! The functions here are pure (text in, text and notes out); [`import_terraform`],
//! [`import_aliyun`] and [`write_atomically`] are the thin I/O around them.

pub mod aliyun;
pub mod terraform;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::model::{Cloud, Ipv4Cidr, Mac, Mode, TopologyError, regions};

/// Which configuration format to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The JSON of `terraform show -json`.
    Terraform,
    /// JSON responses of the Describe* APIs (DescribeVpcs, DescribeVSwitches, DescribeInstances,
    /// DescribeNetworkInterfaces, DescribeEipAddresses, DescribeSecurityGroupAttribute).
    Aliyun,
}

/// An imported topology.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The topology file (TOML), valid for [`Cloud::from_toml`].
    pub toml: String,
    /// What the input lacked and was given a default, or was skipped (one line each, without
    /// the `note: ` prefix).
    pub notes: Vec<String>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input file is not JSON.
    #[error("{file}: malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The input is incomplete, unknown or inconsistent.
    #[error("{subject}: {message}")]
    Input {
        /// The resource concerned (a Terraform address, or a response file and id).
        subject: String,
        /// What is wrong.
        message: String,
    },
    /// The imported topology breaks a rule `eipsim check` enforces.
    #[error("{origin}: the imported topology would be refused: {message} [rule {code}]")]
    Rule {
        /// The rule code.
        code: &'static str,
        /// Where the entry that broke it came from.
        origin: String,
        /// The model's message.
        message: String,
    },
}

pub(crate) fn input(subject: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Input {
        subject: subject.into(),
        message: message.into(),
    }
}

pub(crate) fn json_error(file: &str, e: &serde_json::Error) -> ImportError {
    ImportError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// What the input says

/// A VPC of the input.
#[derive(Clone, Debug, Default)]
pub struct DVpc {
    /// VPC id.
    pub id: String,
    /// CIDR block.
    pub cidr: Option<String>,
    /// Where it came from.
    pub origin: String,
}

/// A vSwitch of the input (it gives ENIs and instances their VPC and zone).
#[derive(Clone, Debug, Default)]
pub struct DVswitch {
    /// vSwitch id.
    pub id: String,
    /// Its VPC.
    pub vpc: Option<String>,
    /// Its zone (such as `eu-central-1a`).
    pub zone: Option<String>,
    /// Where it came from.
    pub origin: String,
}

/// An ECS instance of the input.
#[derive(Clone, Debug, Default)]
pub struct DInstance {
    /// Instance id.
    pub id: String,
    /// Instance type such as `ecs.g5.large`.
    pub instance_type: Option<String>,
    /// Instance family such as `ecs.g5`, when the input gives it.
    pub family: Option<String>,
    /// Zone.
    pub zone: Option<String>,
    /// vSwitch of its primary ENI.
    pub vswitch: Option<String>,
    /// VPC, when the input gives it directly.
    pub vpc: Option<String>,
    /// Primary private IP (of its primary ENI).
    pub private_ip: Option<String>,
    /// Secondary private IPs of its primary ENI.
    pub secondary_ips: Vec<String>,
    /// Its primary ENI's id, when the input gives it.
    pub primary_eni: Option<String>,
    /// Its primary ENI's MAC, when the input gives it.
    pub primary_mac: Option<String>,
    /// Security groups (of its primary ENI).
    pub groups: Vec<String>,
    /// Where it came from.
    pub origin: String,
}

/// An ENI of the input.
#[derive(Clone, Debug, Default)]
pub struct DEni {
    /// ENI id.
    pub id: String,
    /// `Some(true)` primary, `Some(false)` secondary, `None` not given.
    pub primary: Option<bool>,
    /// MAC address.
    pub mac: Option<String>,
    /// Primary private IP.
    pub primary_ip: Option<String>,
    /// Secondary private IPs.
    pub secondary_ips: Vec<String>,
    /// vSwitch.
    pub vswitch: Option<String>,
    /// VPC, when the input gives it directly.
    pub vpc: Option<String>,
    /// Zone, when the input gives it directly.
    pub zone: Option<String>,
    /// The instance it is attached to, when the input says so on the ENI.
    pub instance: Option<String>,
    /// Security groups.
    pub groups: Vec<String>,
    /// Where it came from.
    pub origin: String,
}

/// An ENI attached to an instance (a separate resource in Terraform).
#[derive(Clone, Debug, Default)]
pub struct DAttach {
    /// ENI id.
    pub eni: String,
    /// Instance id.
    pub instance: String,
    /// Where it came from.
    pub origin: String,
}

/// An EIP of the input.
#[derive(Clone, Debug, Default)]
pub struct DEip {
    /// Allocation id.
    pub id: String,
    /// The public address.
    pub address: Option<String>,
    /// `Some(true)` subscription, `Some(false)` pay-as-you-go, `None` not given.
    pub subscription: Option<bool>,
    /// Where it came from.
    pub origin: String,
}

/// An EIP association of the input.
#[derive(Clone, Debug, Default)]
pub struct DAssoc {
    /// EIP allocation id.
    pub eip: String,
    /// The ENI or instance id.
    pub target: String,
    /// `NetworkInterface`, `EcsInstance` or another cloud product's type.
    pub instance_type: Option<String>,
    /// `NAT`, `BINDED` or `MULTI_BINDED`.
    pub mode: Option<String>,
    /// The private IP (NAT mode).
    pub private_ip: Option<String>,
    /// Where it came from.
    pub origin: String,
}

/// A security group of the input.
#[derive(Clone, Debug, Default)]
pub struct DGroup {
    /// Group id.
    pub id: String,
    /// `normal`/`basic` or `enterprise`.
    pub kind: Option<String>,
    /// `Accept` or `Drop`.
    pub inner_access: Option<String>,
    /// Its VPC.
    pub vpc: Option<String>,
    /// Where it came from.
    pub origin: String,
}

/// A security group rule of the input.
#[derive(Clone, Debug, Default)]
pub struct DRule {
    /// The group it belongs to.
    pub group: String,
    /// `ingress` or `egress`.
    pub direction: Option<String>,
    /// `accept` or `drop`.
    pub policy: Option<String>,
    /// 1..100.
    pub priority: Option<i64>,
    /// tcp, udp, icmp, gre, all.
    pub protocol: Option<String>,
    /// `from/to`.
    pub port_range: Option<String>,
    /// The peer's block.
    pub cidr: Option<String>,
    /// The peer group.
    pub peer_group: Option<String>,
    /// Where it came from.
    pub origin: String,
}

/// Everything an input says, before resolution.
#[derive(Clone, Debug, Default)]
pub struct Draft {
    /// Where the input came from (for the file's header).
    pub source: String,
    /// VPCs.
    pub vpcs: Vec<DVpc>,
    /// vSwitches.
    pub vswitches: Vec<DVswitch>,
    /// Instances.
    pub instances: Vec<DInstance>,
    /// ENIs.
    pub enis: Vec<DEni>,
    /// Attachments.
    pub attachments: Vec<DAttach>,
    /// EIPs.
    pub eips: Vec<DEip>,
    /// Associations.
    pub assocs: Vec<DAssoc>,
    /// Security groups.
    pub groups: Vec<DGroup>,
    /// Security group rules.
    pub rules: Vec<DRule>,
    /// Regions the input states directly (RegionId fields), with their origin.
    pub regions: Vec<(String, String)>,
    /// Notes from the front end (skipped resources and files).
    pub notes: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Imports `terraform show -json` text; `name` names the input in messages and comments.
pub fn import_terraform_text(
    text: &str,
    name: &str,
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    finish(terraform::parse(text, name)?, region)
}

/// Imports Describe* API responses: `(file name, JSON text)` pairs, each recognised by its
/// top-level keys.
pub fn import_aliyun_texts(
    files: &[(String, String)],
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    finish(aliyun::parse(files)?, region)
}

/// The pure entry point for one text of either source (an aliyun text is one response file,
/// named `input.json`).
pub fn import_text(
    source: Source,
    text: &str,
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    match source {
        Source::Terraform => import_terraform_text(text, "state.json", region),
        Source::Aliyun => import_aliyun_texts(&[("input.json".into(), text.into())], region),
    }
}

/// Reads a Terraform state JSON file and imports it.
pub fn import_terraform(path: &Path, region: Option<&str>) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    import_terraform_text(&text, &name, region)
}

/// Reads every `*.json` file of a directory (in name order) and imports them.
pub fn import_aliyun(dir: &Path, region: Option<&str>) -> Result<Imported, ImportError> {
    let io = |source| ImportError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.is_file()
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            names.push(p);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(input(
            dir.display().to_string(),
            "no *.json file: save the responses of the Describe* APIs there",
        ));
    }
    let mut files = Vec::new();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|source| ImportError::Io {
            path: p.display().to_string(),
            source,
        })?;
        let name = p
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into());
        files.push((name, text));
    }
    import_aliyun_texts(&files, region)
}

/// Writes `text` to `path` through a temporary name in the same directory, renamed when
/// complete: a failed write leaves no partial file.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .map_or_else(|| "topology".into(), |n| n.to_string_lossy().to_string());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// `ecs.g5.large` -> `ecs.g5`: the longest multi-EIP family the type starts with, else the
/// type's first two dot-separated parts.
pub fn family_of(instance_type: &str) -> String {
    if let Some(f) = regions::MULTI_BINDED_FAMILIES
        .iter()
        .filter(|f| {
            instance_type.len() > f.len()
                && instance_type.starts_with(**f)
                && instance_type.as_bytes()[f.len()] == b'.'
        })
        .max_by_key(|f| f.len())
    {
        return (*f).to_string();
    }
    let parts: Vec<&str> = instance_type.split('.').collect();
    if parts.len() >= 3 {
        parts[..2].join(".")
    } else {
        instance_type.to_string()
    }
}

/// `eu-central-1a` -> `eu-central-1`, `cn-hangzhou-h` -> `cn-hangzhou`: the known region the
/// zone id starts with (followed by a zone letter, with or without a dash); for an unknown
/// region, the zone id without its trailing letters.
pub fn region_of_zone(zone: &str) -> String {
    let mut best: Option<&str> = None;
    for (r, _) in regions::REGIONS {
        if let Some(rest) = zone.strip_prefix(r) {
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            if rest.bytes().all(|b| b.is_ascii_lowercase())
                && best.is_none_or(|b| b.len() < r.len())
            {
                best = Some(r);
            }
        }
    }
    if let Some(r) = best {
        return r.to_string();
    }
    let t = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let t = t.trim_end_matches('-');
    if t.is_empty() {
        zone.to_string()
    } else {
        t.to_string()
    }
}

/// A TOML string literal.
fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A comment's text on one line.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn parse_ip(v: &str, subject: &str, field: &str) -> Result<Ipv4Addr, ImportError> {
    v.trim()
        .parse()
        .map_err(|_| input(subject, format!("{field} {v:?} is not an IPv4 address")))
}

struct Eni {
    id: String,
    primary: bool,
    mac: Mac,
    primary_ip: Ipv4Addr,
    secondary_ips: Vec<Ipv4Addr>,
    instance: Option<String>,
    groups: Vec<String>,
    origin: String,
}

struct Assoc {
    eip: String,
    eni: Option<String>,
    instance: Option<String>,
    mode: Mode,
    private_ip: Option<Ipv4Addr>,
    origin: String,
}

struct Rule {
    direction: &'static str,
    policy: &'static str,
    priority: i64,
    protocol: &'static str,
    port_range: String,
    cidr: Option<String>,
    group: Option<String>,
    origin: String,
}

/// Resolves a draft into a validated topology (see the module documentation).
pub fn finish(d: Draft, region_arg: Option<&str>) -> Result<Imported, ImportError> {
    let mut notes = d.notes.clone();
    let vswitch = |id: &Option<String>| -> Option<&DVswitch> {
        id.as_ref()
            .and_then(|id| d.vswitches.iter().find(|v| &v.id == id))
    };

    // The VPC: the one the instances and ENIs are in.
    if d.vpcs.is_empty() {
        return Err(input(
            d.source.clone(),
            "no VPC in the input (alicloud_vpc, or a DescribeVpcs response): its CIDR block is needed",
        ));
    }
    let mut used: Vec<(String, String)> = Vec::new(); // (vpc, origin)
    for i in &d.instances {
        if let Some(v) = i
            .vpc
            .clone()
            .or_else(|| vswitch(&i.vswitch).and_then(|s| s.vpc.clone()))
        {
            used.push((v, i.origin.clone()));
        }
    }
    for e in &d.enis {
        if let Some(v) = e
            .vpc
            .clone()
            .or_else(|| vswitch(&e.vswitch).and_then(|s| s.vpc.clone()))
        {
            used.push((v, e.origin.clone()));
        }
    }
    let vpc = match used.first() {
        Some((v, origin)) => {
            if let Some((w, other)) = used.iter().find(|(w, _)| w != v) {
                return Err(input(
                    other.clone(),
                    format!(
                        "it is in VPC {w}, but {origin} is in VPC {v}: eipsim models one VPC; import each VPC's resources separately"
                    ),
                ));
            }
            d.vpcs.iter().find(|x| &x.id == v).ok_or_else(|| {
                input(
                    origin.clone(),
                    format!("it is in VPC {v}, which the input does not describe"),
                )
            })?
        }
        None => {
            if d.vpcs.len() > 1 {
                return Err(input(
                    d.vpcs[1].origin.clone(),
                    format!(
                        "the input has VPCs {} ({}) and {} ({}) and no instance or ENI to choose between them",
                        d.vpcs[0].id, d.vpcs[0].origin, d.vpcs[1].id, d.vpcs[1].origin
                    ),
                ));
            }
            &d.vpcs[0]
        }
    };
    if d.vpcs.len() > 1 {
        notes.push(format!(
            "the input has {} VPCs; imported {} ({}), the one its instances and ENIs are in",
            d.vpcs.len(),
            vpc.id,
            vpc.origin
        ));
    }
    let cidr_text = vpc
        .cidr
        .as_deref()
        .ok_or_else(|| input(vpc.origin.clone(), "the VPC has no CIDR block"))?;
    let cidr: Ipv4Cidr = cidr_text
        .trim()
        .parse()
        .map_err(|m: String| input(vpc.origin.clone(), format!("cidr_block: {m}")))?;

    // The region.
    let mut found: Vec<(String, String)> = Vec::new();
    for s in &d.vswitches {
        if let Some(z) = &s.zone {
            found.push((region_of_zone(z), format!("{} (zone {z})", s.origin)));
        }
    }
    for i in &d.instances {
        if let Some(z) = &i.zone {
            found.push((region_of_zone(z), format!("{} (zone {z})", i.origin)));
        }
    }
    for e in &d.enis {
        if let Some(z) = &e.zone {
            found.push((region_of_zone(z), format!("{} (zone {z})", e.origin)));
        }
    }
    found.extend(d.regions.iter().cloned());
    if let Some((r, origin)) = found.first()
        && let Some((s, other)) = found.iter().find(|(s, _)| s != r)
    {
        return Err(input(
            other.clone(),
            format!("it is in region {s}, but {origin} is in region {r}: one region per topology"),
        ));
    }
    let region = match (region_arg, found.first()) {
        (Some(arg), Some((r, origin))) if arg != r => {
            return Err(input(
                origin.clone(),
                format!("it is in region {r}, but --region {arg} was given"),
            ));
        }
        (Some(arg), _) => arg.to_string(),
        (None, Some((r, _))) => r.clone(),
        (None, None) => {
            return Err(input(
                d.source.clone(),
                "no zone or region id in the input: give --region",
            ));
        }
    };
    if regions::region_name(&region).is_none() {
        return Err(input(
            found
                .first()
                .map_or("--region".to_string(), |f| f.1.clone()),
            format!("region {region:?} is not an Alibaba Cloud region eipsim knows"),
        ));
    }

    // Instances.
    let mut seen_instances: Vec<&str> = Vec::new();
    for i in &d.instances {
        if seen_instances.contains(&i.id.as_str()) {
            return Err(input(
                i.origin.clone(),
                format!("instance {} is described twice", i.id),
            ));
        }
        seen_instances.push(&i.id);
    }
    let mut families = Vec::new();
    for i in &d.instances {
        let family = match (&i.family, &i.instance_type) {
            (Some(f), _) => f.clone(),
            (None, Some(t)) => family_of(t),
            (None, None) => {
                notes.push(format!(
                    "{}: no instance type: family left empty (a multi-EIP ENI cannot be attached to it)",
                    i.origin
                ));
                String::new()
            }
        };
        families.push(family);
    }
    if !d.instances.is_empty() {
        notes.push(
            "DHCP on secondary NICs is not in the input: every instance gets dhcp = true (cut-through and multi-EIP need it)"
                .to_string(),
        );
    }

    // ENIs: each instance's primary ENI, then the others.
    let mut used_macs: Vec<Mac> = Vec::new();
    for e in &d.enis {
        if let Some(m) = &e.mac
            && let Ok(m) = m.trim().parse::<Mac>()
        {
            used_macs.push(m);
        }
    }
    for i in &d.instances {
        if let Some(m) = &i.primary_mac
            && let Ok(m) = m.trim().parse::<Mac>()
        {
            used_macs.push(m);
        }
    }
    let mut next_mac = 0u32;
    let mut default_mac = |used_macs: &mut Vec<Mac>| -> Mac {
        loop {
            next_mac = next_mac.wrapping_add(1);
            let m = Mac([
                0x00,
                0x16,
                0x3e,
                0xfe,
                (next_mac >> 8) as u8,
                next_mac as u8,
            ]);
            if !used_macs.contains(&m) {
                used_macs.push(m);
                return m;
            }
        }
    };
    let mut enis: Vec<Eni> = Vec::new();
    let mut taken: Vec<usize> = Vec::new(); // indexes into d.enis used as primary ENIs
    let mut seen_enis: Vec<&str> = Vec::new();
    for e in &d.enis {
        if seen_enis.contains(&e.id.as_str()) {
            return Err(input(
                e.origin.clone(),
                format!("ENI {} is described twice", e.id),
            ));
        }
        seen_enis.push(&e.id);
    }
    let eni_from = |e: &DEni,
                    primary: bool,
                    instance: Option<String>,
                    extra_groups: &[String],
                    notes: &mut Vec<String>,
                    used_macs: &mut Vec<Mac>,
                    default_mac: &mut dyn FnMut(&mut Vec<Mac>) -> Mac|
     -> Result<Eni, ImportError> {
        let mac = match &e.mac {
            Some(m) => m
                .trim()
                .parse::<Mac>()
                .map_err(|m| input(e.origin.clone(), format!("mac: {m}")))?,
            None => {
                let m = default_mac(used_macs);
                notes.push(format!("{}: no MAC address: using {m}", e.origin));
                m
            }
        };
        let ip = e.primary_ip.as_deref().ok_or_else(|| {
            input(
                e.origin.clone(),
                "the ENI has no primary private IP address",
            )
        })?;
        let primary_ip = parse_ip(ip, &e.origin, "primary IP")?;
        let secondary_ips = e
            .secondary_ips
            .iter()
            .filter(|s| s.trim() != ip.trim())
            .map(|s| parse_ip(s, &e.origin, "secondary private IP"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut groups = e.groups.clone();
        for g in extra_groups {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
        Ok(Eni {
            id: e.id.clone(),
            primary,
            mac,
            primary_ip,
            secondary_ips,
            instance,
            groups,
            origin: e.origin.clone(),
        })
    };
    for i in &d.instances {
        // An ENI of the input that is this instance's primary ENI.
        let found = d.enis.iter().position(|e| {
            i.primary_eni.as_deref() == Some(e.id.as_str())
                || (e.primary == Some(true) && e.instance.as_deref() == Some(i.id.as_str()))
        });
        let eni = match found {
            Some(x) => {
                taken.push(x);
                let mut e = d.enis[x].clone();
                if e.primary_ip.is_none() {
                    e.primary_ip = i.private_ip.clone();
                }
                if e.mac.is_none() {
                    e.mac = i.primary_mac.clone();
                }
                eni_from(
                    &e,
                    true,
                    Some(i.id.clone()),
                    &i.groups,
                    &mut notes,
                    &mut used_macs,
                    &mut default_mac,
                )?
            }
            None => {
                let id = match &i.primary_eni {
                    Some(id) => id.clone(),
                    None => {
                        let id = format!("{}-primary-eni", i.id);
                        notes.push(format!(
                            "{}: the primary ENI's id is not in the input: using {id}",
                            i.origin
                        ));
                        id
                    }
                };
                let origin = format!("primary ENI of {}", i.origin);
                let e = DEni {
                    id,
                    primary: Some(true),
                    mac: i.primary_mac.clone(),
                    primary_ip: Some(i.private_ip.clone().ok_or_else(|| {
                        input(i.origin.clone(), "the instance has no private IP address")
                    })?),
                    secondary_ips: i.secondary_ips.clone(),
                    groups: i.groups.clone(),
                    origin,
                    ..DEni::default()
                };
                eni_from(
                    &e,
                    true,
                    Some(i.id.clone()),
                    &[],
                    &mut notes,
                    &mut used_macs,
                    &mut default_mac,
                )?
            }
        };
        enis.push(eni);
    }
    for (x, e) in d.enis.iter().enumerate() {
        if taken.contains(&x) {
            continue;
        }
        if e.primary == Some(true) {
            return Err(input(
                e.origin.clone(),
                format!(
                    "primary ENI {} belongs to instance {}, which the input does not describe",
                    e.id,
                    e.instance.as_deref().unwrap_or("(none)")
                ),
            ));
        }
        if let Some(inst) = &e.instance
            && !d.instances.iter().any(|i| &i.id == inst)
        {
            return Err(input(
                e.origin.clone(),
                format!(
                    "the ENI is attached to instance {inst}, which the input does not describe"
                ),
            ));
        }
        let eni = eni_from(
            e,
            false,
            e.instance.clone(),
            &[],
            &mut notes,
            &mut used_macs,
            &mut default_mac,
        )?;
        enis.push(eni);
    }
    for a in &d.attachments {
        let Some(e) = enis.iter_mut().find(|e| e.id == a.eni) else {
            return Err(input(
                a.origin.clone(),
                format!("ENI {} is not in the input", a.eni),
            ));
        };
        if !d.instances.iter().any(|i| i.id == a.instance) {
            return Err(input(
                a.origin.clone(),
                format!("instance {} is not in the input", a.instance),
            ));
        }
        match &e.instance {
            Some(cur) if cur != &a.instance => {
                return Err(input(
                    a.origin.clone(),
                    format!(
                        "ENI {} is attached to instance {cur} by {} already",
                        a.eni, e.origin
                    ),
                ));
            }
            _ => e.instance = Some(a.instance.clone()),
        }
    }

    // Security groups.
    let group_ids: Vec<&str> = d.groups.iter().map(|g| g.id.as_str()).collect();
    for e in &enis {
        for g in &e.groups {
            let Some(dg) = d.groups.iter().find(|x| &x.id == g) else {
                return Err(input(
                    e.origin.clone(),
                    format!("security group {g} is not in the input"),
                ));
            };
            if let Some(v) = &dg.vpc
                && v != &vpc.id
            {
                return Err(input(
                    dg.origin.clone(),
                    format!(
                        "the group is in VPC {v}, but ENI {} using it is in VPC {}",
                        e.id, vpc.id
                    ),
                ));
            }
        }
    }
    let mut rules: BTreeMap<usize, Vec<Rule>> = BTreeMap::new();
    for r in &d.rules {
        let Some(gx) = group_ids.iter().position(|g| *g == r.group) else {
            return Err(input(
                r.origin.clone(),
                format!("security group {} is not in the input", r.group),
            ));
        };
        let lower = |v: &Option<String>| v.as_deref().map(|s| s.trim().to_ascii_lowercase());
        let direction = match lower(&r.direction).as_deref() {
            Some("ingress") => "ingress",
            Some("egress") => "egress",
            other => {
                return Err(input(
                    r.origin.clone(),
                    format!("direction {other:?} is not ingress or egress"),
                ));
            }
        };
        let policy = match lower(&r.policy).as_deref() {
            Some("accept") => "accept",
            Some("drop") => "drop",
            None => {
                notes.push(format!(
                    "{}: no policy: accept (the API's default)",
                    r.origin
                ));
                "accept"
            }
            Some(other) => {
                return Err(input(
                    r.origin.clone(),
                    format!("policy {other:?} is not accept or drop"),
                ));
            }
        };
        let protocol = match lower(&r.protocol).as_deref() {
            Some("tcp") => "tcp",
            Some("udp") => "udp",
            Some("icmp") => "icmp",
            Some("gre") => "gre",
            Some("all") => "all",
            Some("icmpv6") => {
                notes.push(format!("{}: an ICMPv6 rule: skipped (IPv4 only)", r.origin));
                continue;
            }
            other => {
                return Err(input(
                    r.origin.clone(),
                    format!("protocol {other:?} is not tcp, udp, icmp, gre or all"),
                ));
            }
        };
        let priority = match r.priority {
            Some(p) => p,
            None => {
                notes.push(format!("{}: no priority: 1 (the API's default)", r.origin));
                1
            }
        };
        let port_range = match &r.port_range {
            Some(p) => p.trim().to_string(),
            None if protocol == "tcp" || protocol == "udp" => {
                return Err(input(r.origin.clone(), "the rule has no port range"));
            }
            None => "-1/-1".to_string(),
        };
        let cidr = match &r.cidr {
            Some(c) if c.contains(':') => {
                notes.push(format!(
                    "{}: an IPv6 rule ({c}): skipped (IPv4 only)",
                    r.origin
                ));
                continue;
            }
            Some(c) if c.contains('/') => Some(c.trim().to_string()),
            Some(c) => Some(format!("{}/32", c.trim())),
            None => None,
        };
        if let Some(c) = &cidr
            && let Err(m) = c.parse::<Ipv4Cidr>()
        {
            return Err(input(r.origin.clone(), m));
        }
        if let Some(g) = &r.peer_group
            && !group_ids.contains(&g.as_str())
        {
            return Err(input(
                r.origin.clone(),
                format!("the rule names security group {g}, which is not in the input"),
            ));
        }
        if cidr.is_some() && r.peer_group.is_some() {
            return Err(input(
                r.origin.clone(),
                "the rule gives both a CIDR block and a security group",
            ));
        }
        if cidr.is_none() && r.peer_group.is_none() {
            notes.push(format!(
                "{}: the rule has neither a CIDR block nor a security group (a prefix list?): skipped",
                r.origin
            ));
            continue;
        }
        rules.entry(gx).or_default().push(Rule {
            direction,
            policy,
            priority,
            protocol,
            port_range,
            cidr,
            group: r.peer_group.clone(),
            origin: r.origin.clone(),
        });
    }

    // EIPs and associations.
    let mut seen_eips: Vec<&str> = Vec::new();
    for e in &d.eips {
        if seen_eips.contains(&e.id.as_str()) {
            return Err(input(
                e.origin.clone(),
                format!("EIP {} is described twice", e.id),
            ));
        }
        seen_eips.push(&e.id);
    }
    let mut assocs: Vec<Assoc> = Vec::new();
    for a in &d.assocs {
        if !d.eips.iter().any(|e| e.id == a.eip) {
            return Err(input(
                a.origin.clone(),
                format!("EIP {} is not in the input", a.eip),
            ));
        }
        let eni = enis.iter().find(|e| e.id == a.target);
        let inst = d.instances.iter().find(|i| i.id == a.target);
        let kind = match a.instance_type.as_deref() {
            Some("NetworkInterface") => "NetworkInterface",
            Some("EcsInstance") => "EcsInstance",
            Some(other) => {
                notes.push(format!(
                    "{}: EIP {} is associated with a {other} ({}): skipped, eipsim models ENIs and ECS instances",
                    a.origin, a.eip, a.target
                ));
                continue;
            }
            None => match (eni, inst) {
                (Some(_), _) => "NetworkInterface",
                (None, Some(_)) => "EcsInstance",
                (None, None) => {
                    return Err(input(
                        a.origin.clone(),
                        format!(
                            "{} is neither an ENI nor an instance of the input",
                            a.target
                        ),
                    ));
                }
            },
        };
        let mode = match a.mode.as_deref() {
            Some("NAT") => Mode::Nat,
            Some("BINDED") => Mode::Binded,
            Some("MULTI_BINDED") => Mode::MultiBinded,
            Some(other) => {
                return Err(input(
                    a.origin.clone(),
                    format!("mode {other:?} is not NAT, BINDED or MULTI_BINDED"),
                ));
            }
            None => {
                notes.push(format!("{}: no mode: NAT (the API's default)", a.origin));
                Mode::Nat
            }
        };
        if kind == "EcsInstance" {
            let Some(inst) = inst else {
                return Err(input(
                    a.origin.clone(),
                    format!(
                        "instance {} is not in the input{}",
                        a.target,
                        if eni.is_some() {
                            " (it is an ENI: instance_type would be NetworkInterface)"
                        } else {
                            ""
                        }
                    ),
                ));
            };
            if mode != Mode::Nat {
                return Err(input(
                    a.origin.clone(),
                    format!(
                        "mode {mode} with instance_type EcsInstance: an EIP bound to an ECS instance is NAT"
                    ),
                ));
            }
            if let Some(p) = &a.private_ip
                && inst.private_ip.as_deref().map(str::trim) != Some(p.trim())
            {
                return Err(input(
                    a.origin.clone(),
                    format!(
                        "private IP {p} is not instance {}'s primary private IP: an EIP bound to an ECS instance maps to that address",
                        inst.id
                    ),
                ));
            }
            assocs.push(Assoc {
                eip: a.eip.clone(),
                eni: None,
                instance: Some(inst.id.clone()),
                mode,
                private_ip: None,
                origin: a.origin.clone(),
            });
            continue;
        }
        let Some(eni) = eni else {
            return Err(input(
                a.origin.clone(),
                format!(
                    "ENI {} is not in the input{}",
                    a.target,
                    if inst.is_some() {
                        " (it is an instance: instance_type would be EcsInstance)"
                    } else {
                        ""
                    }
                ),
            ));
        };
        if !regions::region_offers(&region, mode) {
            return Err(input(
                a.origin.clone(),
                format!(
                    "mode {mode} is not offered in region {region} ({})",
                    regions::region_name(&region).unwrap_or("?")
                ),
            ));
        }
        let private_ip = match (mode, &a.private_ip) {
            (Mode::Nat, Some(p)) => {
                let ip = parse_ip(p, &a.origin, "private IP")?;
                if ip != eni.primary_ip && !eni.secondary_ips.contains(&ip) {
                    return Err(input(
                        a.origin.clone(),
                        format!("private IP {ip} is not one of ENI {}'s addresses", eni.id),
                    ));
                }
                (ip != eni.primary_ip).then_some(ip)
            }
            _ => None,
        };
        assocs.push(Assoc {
            eip: a.eip.clone(),
            eni: Some(eni.id.clone()),
            instance: None,
            mode,
            private_ip,
            origin: a.origin.clone(),
        });
    }
    let multi: Vec<&Assoc> = assocs
        .iter()
        .filter(|a| a.mode == Mode::MultiBinded)
        .collect();
    let mut quota = 10usize;
    for a in &multi {
        let n = multi.iter().filter(|b| b.eni == a.eni).count();
        quota = quota.max(n);
    }

    // The file.
    let mut s = String::new();
    let mut origins: Vec<(String, String)> = Vec::new(); // (model subject prefix, origin)
    let _ = writeln!(
        s,
        "# Imported by eipsim from {}; check it with `eipsim check`.",
        comment(&d.source)
    );
    let _ = writeln!(
        s,
        "# region from {}",
        comment(
            &found
                .first()
                .map_or_else(|| "--region".to_string(), |f| f.1.clone())
        )
    );
    let _ = writeln!(s, "region = {}", q(&region));
    let _ = writeln!(s);
    let _ = writeln!(s, "[account]");
    if multi.is_empty() {
        let _ = writeln!(s, "multi_eip_authorized = false");
    } else {
        let _ = writeln!(
            s,
            "# inferred: {} is MULTI_BINDED, which only authorised accounts can bind",
            comment(&multi[0].origin)
        );
        let _ = writeln!(s, "multi_eip_authorized = true");
    }
    if quota > 10 {
        let _ = writeln!(
            s,
            "# inferred: an ENI has {quota} MULTI_BINDED EIPs, above the default quota of 10"
        );
    }
    let _ = writeln!(s, "multi_eip_quota = {quota}");
    let _ = writeln!(s);
    let _ = writeln!(s, "# from {}", comment(&vpc.origin));
    let _ = writeln!(s, "[vpc]");
    let _ = writeln!(s, "id = {}", q(&vpc.id));
    let _ = writeln!(s, "cidr = {}", q(&cidr.to_string()));
    let _ = writeln!(
        s,
        "# not in the input: the gateway's and the Internet next hop's MACs are eipsim's defaults"
    );
    let _ = writeln!(s, "gateway_mac = \"ee:ff:ff:ff:ff:ff\"");
    let _ = writeln!(s, "internet_mac = \"02:00:00:00:00:01\"");
    notes.push(
        "the gateway and Internet MACs are not in the input: gateway_mac ee:ff:ff:ff:ff:ff, internet_mac 02:00:00:00:00:01"
            .to_string(),
    );
    origins.push(("region".into(), d.source.clone()));
    for (i, family) in d.instances.iter().zip(&families) {
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&i.origin));
        let _ = writeln!(s, "[[instance]]");
        let _ = writeln!(s, "id = {}", q(&i.id));
        let _ = writeln!(s, "family = {}", q(family));
        let _ = writeln!(s, "dhcp = true");
        origins.push((format!("instance {}", i.id), i.origin.clone()));
    }
    for e in &enis {
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&e.origin));
        let _ = writeln!(s, "[[eni]]");
        let _ = writeln!(s, "id = {}", q(&e.id));
        let _ = writeln!(
            s,
            "kind = {}",
            q(if e.primary { "primary" } else { "secondary" })
        );
        let _ = writeln!(s, "mac = {}", q(&e.mac.to_string()));
        let _ = writeln!(s, "primary_ip = {}", q(&e.primary_ip.to_string()));
        if !e.secondary_ips.is_empty() {
            let list: Vec<String> = e.secondary_ips.iter().map(|i| q(&i.to_string())).collect();
            let _ = writeln!(s, "secondary_ips = [{}]", list.join(", "));
        }
        if let Some(i) = &e.instance {
            let _ = writeln!(s, "instance = {}", q(i));
        }
        if !e.groups.is_empty() {
            let list: Vec<String> = e.groups.iter().map(|g| q(g)).collect();
            let _ = writeln!(s, "security_groups = [{}]", list.join(", "));
        }
        origins.push((format!("ENI {}", e.id), e.origin.clone()));
    }
    for e in &d.eips {
        let address = e
            .address
            .as_deref()
            .ok_or_else(|| input(e.origin.clone(), "the EIP has no IP address"))?;
        let address = parse_ip(address, &e.origin, "ip_address")?;
        let charge = match e.subscription {
            Some(true) => "Subscription",
            Some(false) => "PayByTraffic",
            None => {
                notes.push(format!(
                    "{}: no billing method: PayByTraffic (pay-as-you-go)",
                    e.origin
                ));
                "PayByTraffic"
            }
        };
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&e.origin));
        let _ = writeln!(s, "[[eip]]");
        let _ = writeln!(s, "id = {}", q(&e.id));
        let _ = writeln!(s, "address = {}", q(&address.to_string()));
        let _ = writeln!(s, "charge = {}", q(charge));
        origins.push((format!("EIP {}", e.id), e.origin.clone()));
    }
    for (n, a) in assocs.iter().enumerate() {
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&a.origin));
        let _ = writeln!(s, "[[association]]");
        let _ = writeln!(s, "eip = {}", q(&a.eip));
        if let Some(e) = &a.eni {
            let _ = writeln!(s, "eni = {}", q(e));
        }
        if let Some(i) = &a.instance {
            let _ = writeln!(s, "instance = {}", q(i));
            let _ = writeln!(s, "instance_type = \"EcsInstance\"");
        }
        let _ = writeln!(s, "mode = {}", q(a.mode.api_name()));
        if let Some(p) = a.private_ip {
            let _ = writeln!(s, "private_ip = {}", q(&p.to_string()));
        }
        origins.push((format!("association {} ", n + 1), a.origin.clone()));
    }
    for (gx, g) in d.groups.iter().enumerate() {
        let kind = match g.kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("normal") | Some("basic") => "basic",
            Some("enterprise") => "enterprise",
            None => {
                notes.push(format!(
                    "{}: the group's type is not in the input: basic",
                    g.origin
                ));
                "basic"
            }
            Some(other) => {
                return Err(input(
                    g.origin.clone(),
                    format!("security group type {other:?} is not normal or enterprise"),
                ));
            }
        };
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&g.origin));
        let _ = writeln!(s, "[[security_group]]");
        let _ = writeln!(s, "id = {}", q(&g.id));
        let _ = writeln!(s, "type = {}", q(kind));
        if kind == "basic" {
            match g
                .inner_access
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("accept") => {
                    let _ = writeln!(s, "inner_access = \"accept\"");
                }
                Some("drop") => {
                    let _ = writeln!(s, "inner_access = \"drop\"");
                }
                None => {}
                Some(other) => {
                    return Err(input(
                        g.origin.clone(),
                        format!("inner access policy {other:?} is not Accept or Drop"),
                    ));
                }
            }
        }
        for (n, r) in rules
            .get(&gx)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
        {
            let _ = writeln!(s);
            let _ = writeln!(s, "# from {}", comment(&r.origin));
            let _ = writeln!(s, "[[security_group.rule]]");
            let _ = writeln!(s, "direction = {}", q(r.direction));
            let _ = writeln!(s, "policy = {}", q(r.policy));
            let _ = writeln!(s, "priority = {}", r.priority);
            let _ = writeln!(s, "protocol = {}", q(r.protocol));
            let _ = writeln!(s, "port_range = {}", q(&r.port_range));
            if let Some(c) = &r.cidr {
                let _ = writeln!(s, "cidr = {}", q(c));
            }
            if let Some(p) = &r.group {
                let _ = writeln!(s, "group = {}", q(p));
            }
            origins.push((
                format!("security group {} rule {}", g.id, n + 1),
                r.origin.clone(),
            ));
        }
        origins.push((format!("security group {}", g.id), g.origin.clone()));
    }

    // Would `eipsim check` take it?
    match Cloud::from_toml_named(&s, "imported topology") {
        Ok(_) => Ok(Imported { toml: s, notes }),
        Err(TopologyError::Rule { source, .. }) => {
            let origin = origins
                .iter()
                .find(|(k, _)| {
                    source.subject == *k
                        || (source.subject.starts_with(k.as_str())
                            && (k.ends_with(' ')
                                || source.subject[k.len()..].starts_with([' ', '(', ':'])))
                })
                .map_or_else(|| d.source.clone(), |(_, o)| o.clone());
            Err(ImportError::Rule {
                code: source.code.code(),
                origin,
                message: format!("{}: {}", source.subject, source.message),
            })
        }
        Err(e) => Err(input(
            d.source.clone(),
            format!("the imported topology does not parse: {e}"),
        )),
    }
}
