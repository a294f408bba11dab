//! Control plane, pure: the topology file, validated into a [`Cloud`] through the same operations
//! the console offers (create an ENI, allocate an EIP, bind it while the ENI is detached, attach the
//! ENI to an instance), so that every rule of the seeds is checked in one place.

mod addr;
pub mod checks;
mod ops;
pub mod regions;
pub mod scenario;
pub mod sg;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::Path;

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

pub use addr::{Ipv4Cidr, Mac};
pub use ops::{Billing, GatewayInfo};

/// How an EIP is bound to an ENI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Deserialize, PartialOrd, Ord)]
pub enum Mode {
    /// NAT mode: 1:1 translation to one private IP of the ENI at the gateway.
    #[serde(rename = "NAT")]
    Nat,
    /// Cut-through mode: the EIP replaces the secondary ENI's private IP.
    #[serde(rename = "BINDED")]
    Binded,
    /// Multi-EIP to ENI mode: up to the quota of EIPs pass through to a secondary ENI.
    #[serde(rename = "MULTI_BINDED")]
    MultiBinded,
}

impl Mode {
    /// The API name (`NAT`, `BINDED`, `MULTI_BINDED`).
    pub fn api_name(self) -> &'static str {
        match self {
            Mode::Nat => "NAT",
            Mode::Binded => "BINDED",
            Mode::MultiBinded => "MULTI_BINDED",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// Primary or secondary ENI.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EniKind {
    /// The ENI an instance is created with; it never leaves its instance.
    Primary,
    /// An ENI created on its own, attached and detached at will.
    Secondary,
}

/// How an EIP is billed (seed 001's note on releasing a subscription EIP).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Default)]
pub enum Charge {
    /// Pay-as-you-go by traffic.
    #[default]
    PayByTraffic,
    /// Subscription (prepaid).
    Subscription,
}

/// A rule of the seeds (or of the file format) that the topology broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{subject}: {message} [rule {code}]")]
pub struct ModelError {
    /// A stable kebab-case code naming the rule.
    pub code: &'static str,
    /// The resource concerned (an association, ENI, EIP, instance or the file).
    pub subject: String,
    /// What is wrong, in words, citing the seed where one states the rule.
    pub message: String,
}

/// The block a non-public address belongs to, when it is one no EIP can have: "this network"
/// (0/8), loopback (127/8), link-local (169.254/16), multicast (224/4), reserved (240/4).
fn non_public_range(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    match o[0] {
        0 => Some("0.0.0.0/8 (this network)"),
        127 => Some("127.0.0.0/8 (loopback)"),
        169 if o[1] == 254 => Some("169.254.0.0/16 (link-local)"),
        224..=239 => Some("224.0.0.0/4 (multicast)"),
        240..=255 => Some("240.0.0.0/4 (reserved)"),
        _ => None,
    }
}

fn err(code: &'static str, subject: impl Into<String>, message: impl Into<String>) -> ModelError {
    ModelError {
        code,
        subject: subject.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// The file format (design.md section 2)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TopologyFile {
    region: String,
    #[serde(default)]
    account: AccountFile,
    vpc: VpcFile,
    #[serde(default)]
    instance: Vec<InstanceFile>,
    #[serde(default)]
    eni: Vec<EniFile>,
    #[serde(default)]
    eip: Vec<EipFile>,
    #[serde(default)]
    association: Vec<AssociationFile>,
    /// `[[security_group]]` (parsed and validated; not applied to forwarding yet).
    #[serde(default)]
    security_group: Vec<sg::GroupFile>,
    /// `[alg]`: per protocol, `inspect` (default) or `translate` (what-if, FTP and SIP).
    #[serde(default)]
    alg: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountFile {
    #[serde(default)]
    multi_eip_authorized: bool,
    #[serde(default = "default_quota")]
    multi_eip_quota: u32,
}

impl Default for AccountFile {
    fn default() -> Self {
        AccountFile {
            multi_eip_authorized: false,
            multi_eip_quota: default_quota(),
        }
    }
}

fn default_quota() -> u32 {
    10
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VpcFile {
    #[serde(default = "default_vpc_id")]
    id: String,
    cidr: Ipv4Cidr,
    #[serde(default = "default_gateway_mac")]
    gateway_mac: Mac,
    #[serde(default = "default_internet_mac")]
    internet_mac: Mac,
}

fn default_vpc_id() -> String {
    "vpc".into()
}
fn default_gateway_mac() -> Mac {
    Mac([0xee, 0xff, 0xff, 0xff, 0xff, 0xff])
}
fn default_internet_mac() -> Mac {
    Mac([0x02, 0, 0, 0, 0, 0x01])
}
fn default_true() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceFile {
    id: String,
    #[serde(default)]
    family: String,
    #[serde(default = "default_true")]
    dhcp: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EniFile {
    id: String,
    kind: EniKind,
    mac: Mac,
    primary_ip: Ipv4Addr,
    #[serde(default)]
    secondary_ips: Vec<Ipv4Addr>,
    instance: Option<String>,
    static_eips: Option<Vec<Ipv4Addr>>,
    #[serde(default)]
    security_groups: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EipFile {
    id: String,
    address: Ipv4Addr,
    #[serde(default)]
    charge: Charge,
    gateway: Option<Ipv4Addr>,
    mask: Option<Ipv4Addr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssociationFile {
    eip: String,
    /// The ENI (InstanceType NetworkInterface).
    eni: Option<String>,
    /// The instance (InstanceType EcsInstance: NAT to its primary ENI).
    instance: Option<String>,
    #[serde(default)]
    instance_type: InstanceType,
    #[serde(default = "default_mode")]
    mode: Mode,
    private_ip: Option<Ipv4Addr>,
}

fn default_mode() -> Mode {
    Mode::Nat
}

// ---------------------------------------------------------------------------------------------
// The validated model

/// The account's multi-EIP settings.
#[derive(Clone, Debug)]
pub struct Account {
    /// Multi-EIP mode takes no new applications: only authorised accounts may use it (seed 003).
    pub multi_eip_authorized: bool,
    /// EIPs per secondary ENI in multi-EIP mode (10 unless raised by ticket, seed 002).
    pub multi_eip_quota: u32,
}

/// The VPC and the gateway's link addresses.
#[derive(Clone, Debug)]
pub struct Vpc {
    /// VPC id.
    pub id: String,
    /// The VPC's private CIDR block.
    pub cidr: Ipv4Cidr,
    /// Source MAC of every frame the gateway forwards.
    pub gateway_mac: Mac,
    /// Destination MAC of frames sent towards the Internet.
    pub internet_mac: Mac,
}

/// An ECS instance.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Instance id.
    pub id: String,
    /// Instance family (checked against seed 003's list for multi-EIP ENIs).
    pub family: String,
    /// Whether the OS runs DHCP on its secondary NICs (cut-through needs it, seed 000/001).
    pub dhcp: bool,
}

/// An elastic network interface.
#[derive(Clone, Debug)]
pub struct Eni {
    /// ENI id.
    pub id: String,
    /// Primary or secondary.
    pub kind: EniKind,
    /// The ENI's MAC address.
    pub mac: Mac,
    /// Primary private IP.
    pub primary_ip: Ipv4Addr,
    /// Secondary private IPs.
    pub secondary_ips: Vec<Ipv4Addr>,
    /// Index into [`Cloud::instances`] of the instance it is attached to.
    pub instance: Option<usize>,
    /// Multi-EIP only: the EIPs the OS configured statically (`None`: all of them).
    pub static_eips: Option<Vec<Ipv4Addr>>,
    /// Deleted (DeleteNetworkInterface): kept so that indexes stay stable; it owns nothing.
    pub deleted: bool,
    /// Ids of the security groups the ENI is in (into [`Cloud::security_groups`]).
    pub security_groups: Vec<String>,
    /// Seed 001's note: a subscription EIP bound in cut-through mode to this ENI was released
    /// while the ENI was attached; the ENI has no private network until it is detached and
    /// bound again in cut-through mode.
    pub private_network_lost: bool,
}

impl Eni {
    /// A new, detached, live ENI.
    pub fn new(
        id: impl Into<String>,
        kind: EniKind,
        mac: Mac,
        primary_ip: Ipv4Addr,
        secondary_ips: Vec<Ipv4Addr>,
    ) -> Eni {
        Eni {
            id: id.into(),
            kind,
            mac,
            primary_ip,
            secondary_ips,
            instance: None,
            static_eips: None,
            security_groups: Vec::new(),
            deleted: false,
            private_network_lost: false,
        }
    }

    /// Every private IP configured on the ENI, primary first.
    pub fn private_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        std::iter::once(self.primary_ip).chain(self.secondary_ips.iter().copied())
    }
}

/// An elastic IP address.
#[derive(Clone, Debug)]
pub struct Eip {
    /// EIP allocation id.
    pub id: String,
    /// The public address.
    pub address: Ipv4Addr,
    /// Billing method.
    pub charge: Charge,
    /// Released (ReleaseEipAddress): kept so that indexes stay stable; it owns no address.
    pub released: bool,
    /// Gateway a MULTI_BINDED EIP needs in the OS (DescribeEipGatewayInfo); default: the
    /// first address of the EIP's /24 (the last when the EIP is that one).
    pub gateway: Option<Ipv4Addr>,
    /// Subnet mask of that gateway's network; default 255.255.255.0.
    pub mask: Option<Ipv4Addr>,
}

impl Eip {
    /// A new, unreleased EIP with the default gateway and mask.
    pub fn new(id: impl Into<String>, address: Ipv4Addr, charge: Charge) -> Eip {
        Eip {
            id: id.into(),
            address,
            charge,
            released: false,
            gateway: None,
            mask: None,
        }
    }
}

/// What an EIP is associated with (AssociateEipAddress's InstanceType).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub enum InstanceType {
    /// An ENI (`NetworkInterface`), in one of the three modes.
    #[default]
    NetworkInterface,
    /// An ECS instance (`EcsInstance`): NAT to its primary ENI's primary private IP.
    EcsInstance,
}

/// An EIP bound to an ENI.
#[derive(Clone, Debug)]
pub struct Association {
    /// Index into [`Cloud::eips`].
    pub eip: usize,
    /// Index into [`Cloud::enis`].
    pub eni: usize,
    /// Binding mode.
    pub mode: Mode,
    /// NAT only: the private IP the EIP maps to.
    pub private_ip: Option<Ipv4Addr>,
    /// Bound to the ENI, or to the instance whose primary ENI it is.
    pub instance_type: InstanceType,
}

/// A validated cloud: every rule of the seeds holds.
#[derive(Clone, Debug)]
pub struct Cloud {
    /// Region id such as `eu-central-1`.
    pub region: String,
    /// Account settings.
    pub account: Account,
    /// The VPC.
    pub vpc: Vpc,
    /// Instances.
    pub instances: Vec<Instance>,
    /// ENIs.
    pub enis: Vec<Eni>,
    /// EIPs.
    pub eips: Vec<Eip>,
    /// Associations.
    pub associations: Vec<Association>,
    /// The what-if ALG translation asked for by the `[alg]` table (none by default: the
    /// provider's NAT mode has no ALG).
    pub alg: crate::alg::translate::Policy,
    /// Security groups (validated; not applied to forwarding yet).
    pub security_groups: Vec<sg::SecurityGroup>,
    /// Look-up indexes kept by the operations (so that building a large topology is linear).
    /// The public fields are for reading: change the cloud through its operations.
    index: Index,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Derived from the public fields; not part of a cloud's identity.
        f.write_str("Index")
    }
}

/// What owns an address.
#[derive(Clone, Copy, Debug)]
enum Owner {
    Eni(usize),
    Eip(usize),
}

#[derive(Clone, Default)]
struct Index {
    instances: FxHashMap<String, usize>,
    enis: FxHashMap<String, usize>,
    eips: FxHashMap<String, usize>,
    addrs: FxHashMap<Ipv4Addr, Owner>,
    macs: FxHashMap<Mac, usize>,
    /// Per EIP, its association.
    eip_assoc: Vec<Option<usize>>,
    /// Per ENI, its associations.
    eni_assocs: Vec<Vec<usize>>,
    /// Per instance, its primary ENI.
    primary: FxHashMap<usize, usize>,
    /// Ids of deleted ENIs and released EIPs: not given out again.
    retired: rustc_hash::FxHashSet<String>,
}

/// Errors of loading a topology file.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    /// The file could not be read.
    #[error("topology {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("topology {path}: {message}")]
    Syntax {
        /// The file.
        path: String,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A rule of the seeds is broken.
    #[error("topology {path}: {source}")]
    Rule {
        /// The file.
        path: String,
        /// The rule.
        source: ModelError,
    },
}

impl TopologyError {
    /// The rule code, when a rule was broken.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            TopologyError::Rule { source, .. } => Some(source.code),
            _ => None,
        }
    }
}

impl Cloud {
    /// Reads and validates a topology file.
    pub fn load(path: &Path) -> Result<Cloud, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Cloud::from_toml_named(&text, &path.display().to_string())
    }

    /// Parses and validates topology text; `name` is used in error messages.
    pub fn from_toml_named(text: &str, name: &str) -> Result<Cloud, TopologyError> {
        let file: TopologyFile = toml::from_str(text).map_err(|e| TopologyError::Syntax {
            path: name.to_string(),
            message: checks::toml_error_text(&e),
        })?;
        Cloud::build(file).map_err(|source| TopologyError::Rule {
            path: name.to_string(),
            source,
        })
    }

    /// Parses and validates topology text.
    pub fn from_toml(text: &str) -> Result<Cloud, TopologyError> {
        Cloud::from_toml_named(text, "<text>")
    }

    /// Builds the end state the file describes through the console's operations, in the order
    /// the seeds prescribe: create ENIs (detached), allocate EIPs, bind them, then attach ENIs.
    fn build(file: TopologyFile) -> Result<Cloud, ModelError> {
        let mut cloud = Cloud::new(
            file.region,
            Account {
                multi_eip_authorized: file.account.multi_eip_authorized,
                multi_eip_quota: file.account.multi_eip_quota,
            },
            Vpc {
                id: file.vpc.id,
                cidr: file.vpc.cidr,
                gateway_mac: file.vpc.gateway_mac,
                internet_mac: file.vpc.internet_mac,
            },
        )?;
        cloud.security_groups = sg::build_groups(file.security_group)?;
        for i in file.instance {
            cloud.create_instance(Instance {
                id: i.id,
                family: i.family,
                dhcp: i.dhcp,
            })?;
        }
        let mut attach = Vec::new();
        let mut statics = Vec::new();
        for e in file.eni {
            let subject = format!("ENI {}", e.id);
            sg::check_eni_groups(&cloud.security_groups, &e.id, &e.security_groups)?;
            cloud.create_network_interface(Eni {
                id: e.id,
                kind: e.kind,
                mac: e.mac,
                primary_ip: e.primary_ip,
                secondary_ips: e.secondary_ips,
                instance: None,
                static_eips: None,
                security_groups: e.security_groups,
                deleted: false,
                private_network_lost: false,
            })?;
            let idx = cloud.enis.len() - 1;
            match e.instance {
                Some(inst) => {
                    let i = cloud.instance_index(&inst).ok_or_else(|| {
                        err(
                            "unknown-id",
                            subject.clone(),
                            format!("instance {inst:?} is not defined in [[instance]]"),
                        )
                    })?;
                    attach.push((idx, i));
                }
                None if e.kind == EniKind::Primary => {
                    return Err(err(
                        "primary-eni-needs-instance",
                        subject,
                        "a primary ENI belongs to the instance it was created with: give its `instance`",
                    ));
                }
                None => {}
            }
            if let Some(s) = e.static_eips {
                statics.push((idx, s));
            }
        }
        for e in file.eip {
            cloud.allocate_eip_address(Eip {
                id: e.id,
                address: e.address,
                charge: e.charge,
                released: false,
                gateway: e.gateway,
                mask: e.mask,
            })?;
        }
        let mut to_instances = Vec::new();
        for (n, a) in file.association.iter().enumerate() {
            let target = a.eni.as_deref().or(a.instance.as_deref()).unwrap_or("?");
            let subject = format!("association {} ({} -> {target}, {})", n + 1, a.eip, a.mode);
            let eip = cloud.eip_index(&a.eip).ok_or_else(|| {
                err(
                    "unknown-id",
                    subject.clone(),
                    format!("EIP {:?} is not defined in [[eip]]", a.eip),
                )
            })?;
            let in_subject = |mut e: ModelError| {
                e.subject = subject.clone();
                e
            };
            match (a.instance_type, &a.eni, &a.instance) {
                (InstanceType::NetworkInterface, Some(eni), None) => {
                    let eni = cloud.eni_index(eni).ok_or_else(|| {
                        err(
                            "unknown-id",
                            subject.clone(),
                            format!("ENI {eni:?} is not defined in [[eni]]"),
                        )
                    })?;
                    cloud
                        .associate_eip_address(eip, eni, a.mode, a.private_ip)
                        .map_err(in_subject)?;
                }
                (InstanceType::EcsInstance, None, Some(inst)) => {
                    let inst = cloud.instance_index(inst).ok_or_else(|| {
                        err(
                            "unknown-id",
                            subject.clone(),
                            format!("instance {inst:?} is not defined in [[instance]]"),
                        )
                    })?;
                    if a.mode != Mode::Nat || a.private_ip.is_some() {
                        return Err(err(
                            "instance-nat-only",
                            subject,
                            "an EIP associated with an ECS instance is NAT to its primary ENI's primary private IP: give neither another mode nor private_ip",
                        ));
                    }
                    to_instances.push((eip, inst, subject));
                }
                _ => {
                    return Err(err(
                        "invalid-association",
                        subject,
                        "give `eni` (instance_type NetworkInterface, the default) or `instance` (instance_type EcsInstance), not both",
                    ));
                }
            }
        }
        for (eni, s) in statics {
            cloud.static_eips_rule(eni, &s)?;
            cloud.set_static_eips(eni, s)?;
        }
        for (eni, inst) in attach {
            cloud.attach_network_interface(eni, inst)?;
        }
        for (eip, inst, subject) in to_instances {
            cloud
                .associate_eip_address_to_instance(eip, inst)
                .map_err(|mut e| {
                    e.subject = subject;
                    e
                })?;
        }
        for (name, mode) in &file.alg {
            cloud
                .alg
                .set(name, mode)
                .map_err(|m| err("invalid-alg", format!("[alg] {name}"), m))?;
        }
        Ok(cloud)
    }

    /// Keeps a deleted ENI at its index, owning nothing, its id never given out again.
    fn push_tombstone(&mut self, e: &Eni) {
        self.index.retired.insert(e.id.clone());
        self.index.eni_assocs.push(Vec::new());
        self.enis.push(e.clone());
    }

    /// The same cloud with other associations (`(eip, eni, mode, private_ip)`, indexes into this
    /// cloud) and other `static_eips` per ENI, built again through the console's operations in
    /// the order the seeds prescribe, so that every rule is checked. The mode advisor's
    /// variants are made this way.
    pub fn rebuilt(
        &self,
        associations: &[(usize, usize, Mode, Option<Ipv4Addr>, InstanceType)],
        static_eips: &[(usize, Option<Vec<Ipv4Addr>>)],
    ) -> Result<Cloud, ModelError> {
        let mut c = Cloud::new(self.region.clone(), self.account.clone(), self.vpc.clone())?;
        for i in &self.instances {
            c.create_instance(i.clone())?;
        }
        // Tombstones stay tombstones, at the same indexes, owning nothing.
        for e in &self.enis {
            if e.deleted {
                c.push_tombstone(e);
                continue;
            }
            c.create_network_interface(Eni {
                instance: None,
                static_eips: None,
                ..e.clone()
            })?;
        }
        for e in &self.eips {
            if e.released {
                c.index.retired.insert(e.id.clone());
                c.index.eip_assoc.push(None);
                c.eips.push(e.clone());
                continue;
            }
            c.allocate_eip_address(e.clone())?;
        }
        let named = |eip: usize, eni: usize, mode: Mode| {
            let subject = format!(
                "{} -> {} ({})",
                self.eips[eip].id,
                self.enis[eni].id,
                mode.api_name()
            );
            move |mut e: ModelError| {
                e.subject = subject;
                e
            }
        };
        for &(eip, eni, mode, private_ip, kind) in associations {
            if kind == InstanceType::EcsInstance {
                continue; // bound to the instance once its primary ENI is attached
            }
            c.associate_eip_address(eip, eni, mode, private_ip)
                .map_err(|mut e| {
                    e.subject = format!(
                        "{} -> {} ({})",
                        self.eips[eip].id,
                        self.enis[eni].id,
                        mode.api_name()
                    );
                    e
                })?;
        }
        for (i, e) in self.enis.iter().enumerate() {
            let s = static_eips
                .iter()
                .find(|(x, _)| *x == i)
                .map_or_else(|| e.static_eips.clone(), |(_, s)| s.clone());
            if let Some(s) = s {
                c.set_static_eips(i, s)?;
            }
        }
        for (i, e) in self.enis.iter().enumerate() {
            if let Some(inst) = e.instance {
                c.attach_network_interface(i, inst)?;
            }
        }
        for &(eip, eni, mode, _, kind) in associations {
            if kind == InstanceType::EcsInstance {
                let inst = self.enis[eni].instance.ok_or_else(|| {
                    err(
                        "instance-no-primary-eni",
                        self.enis[eni].id.clone(),
                        "an EcsInstance binding needs the primary ENI attached",
                    )
                })?;
                c.associate_eip_address_to_instance(eip, inst)
                    .map_err(named(eip, eni, mode))?;
            }
        }
        c.alg = self.alg;
        c.security_groups = self.security_groups.clone();
        Ok(c)
    }

    /// The part of this cloud that ENIs `enis` live in: the instances they are attached to,
    /// those ENIs (in the order given) and the EIPs `eips` (in the order given), with the same
    /// ids, MACs, addresses, guest settings and attachments, and no association. Binding them
    /// again with [`Cloud::rebuilt`] of the excerpt runs the same console operations, with the
    /// same refusals, as rebuilding the whole cloud, as long as the rest of the cloud is
    /// unchanged (the binding rules of an ENI see only itself, its instance and that
    /// instance's ENIs, and its EIPs): the mode advisor validates a variant this way at the
    /// cost of a few operations instead of the whole topology's. Deleted ENIs and released
    /// EIPs stay tombstones. Indexes into the excerpt follow `enis` and `eips`.
    pub fn excerpt(&self, enis: &[usize], eips: &[usize]) -> Result<Cloud, ModelError> {
        let mut c = Cloud::new(self.region.clone(), self.account.clone(), self.vpc.clone())?;
        let mut instances: Vec<usize> = Vec::new();
        for &i in enis {
            let e = &self.enis[i];
            let inst = match e.instance {
                Some(g) => match instances.iter().position(|x| *x == g) {
                    Some(l) => Some(l),
                    None => {
                        c.create_instance(self.instances[g].clone())?;
                        instances.push(g);
                        Some(instances.len() - 1)
                    }
                },
                None => None,
            };
            if e.deleted {
                c.push_tombstone(e);
                continue;
            }
            c.create_network_interface(Eni {
                instance: None,
                ..e.clone()
            })?;
            // Recorded, not attached: `rebuilt` attaches it after binding, as the whole
            // cloud's rebuild does.
            let k = c.enis.len() - 1;
            c.enis[k].instance = inst;
        }
        for &j in eips {
            let e = &self.eips[j];
            if e.released {
                c.index.retired.insert(e.id.clone());
                c.index.eip_assoc.push(None);
                c.eips.push(e.clone());
                continue;
            }
            c.allocate_eip_address(e.clone())?;
        }
        c.alg = self.alg;
        Ok(c)
    }

    /// An empty cloud in `region` (an Alibaba Cloud region id), ready for the operations.
    pub fn new(region: String, account: Account, vpc: Vpc) -> Result<Cloud, ModelError> {
        if regions::region_name(&region).is_none() {
            return Err(err(
                "unknown-region",
                format!("region {region:?}"),
                "not an Alibaba Cloud region id eipsim knows (such as cn-hangzhou, eu-central-1, us-east-1, ap-south-1)",
            ));
        }
        if vpc.gateway_mac == vpc.internet_mac {
            return Err(err(
                "gateway-mac-is-internet-mac",
                format!("VPC {}", vpc.id),
                format!(
                    "gateway_mac and internet_mac are both {}: frames to the Internet and to the ENIs could not be told apart",
                    vpc.gateway_mac
                ),
            ));
        }
        Ok(Cloud {
            region,
            account,
            vpc,
            instances: Vec::new(),
            enis: Vec::new(),
            eips: Vec::new(),
            associations: Vec::new(),
            alg: Default::default(),
            security_groups: Vec::new(),
            index: Index::default(),
        })
    }

    /// Index of the instance with this id.
    pub fn instance_index(&self, id: &str) -> Option<usize> {
        self.index.instances.get(id).copied()
    }
    /// Index of the ENI with this id.
    pub fn eni_index(&self, id: &str) -> Option<usize> {
        self.index.enis.get(id).copied()
    }
    /// Index of the EIP with this id.
    pub fn eip_index(&self, id: &str) -> Option<usize> {
        self.index.eips.get(id).copied()
    }

    /// The associations bound to ENI `eni`.
    pub fn associations_of(&self, eni: usize) -> impl Iterator<Item = &Association> + '_ {
        self.index
            .eni_assocs
            .get(eni)
            .into_iter()
            .flatten()
            .map(|i| &self.associations[*i])
    }

    /// The association of EIP `eip`, if bound.
    pub fn association_of_eip(&self, eip: usize) -> Option<&Association> {
        self.index
            .eip_assoc
            .get(eip)
            .copied()
            .flatten()
            .map(|i| &self.associations[i])
    }

    /// Whether ENI `eni` is bound in cut-through mode (it has then no private IP).
    pub fn is_binded(&self, eni: usize) -> bool {
        self.associations_of(eni).any(|a| a.mode == Mode::Binded)
    }

    fn id_taken(&self, id: &str) -> bool {
        self.index.retired.contains(id)
            || self.index.instances.contains_key(id)
            || self.index.enis.contains_key(id)
            || self.index.eips.contains_key(id)
    }

    fn address_owner(&self, addr: Ipv4Addr) -> Option<String> {
        self.index.addrs.get(&addr).map(|o| match o {
            Owner::Eni(i) => format!("ENI {}", self.enis[*i].id),
            Owner::Eip(i) => format!("EIP {}", self.eips[*i].id),
        })
    }

    /// Why `ip` cannot be a private IP of an ENI although it lies in the VPC CIDR: it is the
    /// CIDR's network or broadcast address (for a /30 or wider block).
    pub(crate) fn vpc_reserved(&self, ip: Ipv4Addr, subject: &str) -> Result<(), ModelError> {
        let c = self.vpc.cidr;
        if c.prefix > 30 || !c.contains(ip) {
            return Ok(());
        }
        let which = if ip == c.network {
            "network"
        } else if u32::from(ip) == u32::from(c.network) | !c.mask() {
            "broadcast"
        } else {
            return Ok(());
        };
        Err(err(
            "vpc-reserved-address",
            subject,
            format!("private IP {ip} is the {which} address of the VPC CIDR {c}"),
        ))
    }

    /// Why `mac` cannot be an ENI's: the gateway's or the Internet next hop's MAC, or a group
    /// (broadcast or multicast) address.
    fn eni_mac_rule(&self, mac: Mac, subject: &str) -> Result<(), ModelError> {
        for (field, m) in [
            ("gateway_mac", self.vpc.gateway_mac),
            ("internet_mac", self.vpc.internet_mac),
        ] {
            if mac == m {
                return Err(err(
                    "eni-mac-reserved",
                    subject,
                    format!(
                        "MAC {mac} is the VPC's {field}: frames could not be told from the gateway's"
                    ),
                ));
            }
        }
        if mac.0[0] & 1 != 0 {
            let what = if mac.0 == [0xff; 6] {
                "the broadcast address"
            } else {
                "a multicast address (the I/G bit of its first byte is set)"
            };
            return Err(err(
                "eni-mac-group",
                subject,
                format!("MAC {mac} is {what}: an ENI's MAC is a unicast address"),
            ));
        }
        Ok(())
    }

    fn push_association(&mut self, a: Association) {
        let i = self.associations.len();
        self.index.eip_assoc[a.eip] = Some(i);
        self.index.eni_assocs[a.eni].push(i);
        self.associations.push(a);
    }

    /// CreateInstance (the instance side of the topology; not a rule-bearing operation).
    pub fn create_instance(&mut self, inst: Instance) -> Result<(), ModelError> {
        let subject = format!("instance {}", inst.id);
        if self.id_taken(&inst.id) {
            return Err(err("duplicate-id", subject, "the id is used twice"));
        }
        self.index
            .instances
            .insert(inst.id.clone(), self.instances.len());
        self.instances.push(inst);
        Ok(())
    }

    /// CreateNetworkInterface: a new ENI in the VPC, created detached; when `eni.instance` is set
    /// it is then attached to that instance index (AttachNetworkInterface).
    pub fn create_network_interface(&mut self, eni: Eni) -> Result<(), ModelError> {
        let subject = format!("ENI {}", eni.id);
        if self.id_taken(&eni.id) {
            return Err(err("duplicate-id", subject, "the id is used twice"));
        }
        // The id names an output file (`<eni-id>.pcap`) and an `--ingress` value.
        let safe = !eni.id.is_empty()
            && !eni.id.starts_with('.')
            && eni
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !safe {
            return Err(err(
                "invalid-id",
                format!("ENI {:?}", eni.id),
                "an ENI id is letters, digits, '-', '_' and '.', not starting with '.' (it names the file <eni-id>.pcap)",
            ));
        }
        if eni.id == "internet" || eni.id == "dropped" || eni.id == "report" {
            return Err(err(
                "reserved-id",
                subject,
                "`internet`, `dropped` and `report` name the replay's other outputs",
            ));
        }
        self.eni_mac_rule(eni.mac, &subject)?;
        if let Some(other) = self.index.macs.get(&eni.mac) {
            return Err(err(
                "duplicate-mac",
                subject,
                format!("MAC {} is already ENI {}'s", eni.mac, self.enis[*other].id),
            ));
        }
        let mut seen: Vec<Ipv4Addr> = Vec::new();
        for ip in eni.private_ips() {
            if !self.vpc.cidr.contains(ip) {
                return Err(err(
                    "address-outside-vpc",
                    subject,
                    format!("private IP {ip} is outside the VPC CIDR {}", self.vpc.cidr),
                ));
            }
            self.vpc_reserved(ip, &subject)?;
            if let Some(owner) = self.address_owner(ip) {
                return Err(err(
                    "duplicate-address",
                    subject,
                    format!("private IP {ip} is already {owner}'s"),
                ));
            }
            if seen.contains(&ip) {
                return Err(err(
                    "duplicate-address",
                    subject,
                    format!("private IP {ip} is listed twice"),
                ));
            }
            seen.push(ip);
        }
        if let Some(inst) = eni.instance {
            // Checked before anything is recorded: a refused attach leaves no ENI behind.
            if inst >= self.instances.len() {
                return Err(err("unknown-id", subject, "no such instance"));
            }
            if eni.kind == EniKind::Primary
                && let Some(other) = self.index.primary.get(&inst)
            {
                return Err(err(
                    "instance-one-primary-eni",
                    subject,
                    format!(
                        "instance {} already has primary ENI {}",
                        self.instances[inst].id, self.enis[*other].id
                    ),
                ));
            }
        }
        let idx = self.enis.len();
        for ip in eni.private_ips() {
            self.index.addrs.insert(ip, Owner::Eni(idx));
        }
        self.index.macs.insert(eni.mac, idx);
        self.index.enis.insert(eni.id.clone(), idx);
        self.index.eni_assocs.push(Vec::new());
        let attach = eni.instance;
        self.enis.push(Eni {
            instance: None,
            ..eni
        });
        if let Some(inst) = attach {
            self.attach_network_interface(idx, inst)?;
        }
        Ok(())
    }

    /// AllocateEipAddress: a new, unbound EIP.
    pub fn allocate_eip_address(&mut self, eip: Eip) -> Result<(), ModelError> {
        let subject = format!("EIP {}", eip.id);
        if self.id_taken(&eip.id) {
            return Err(err("duplicate-id", subject, "the id is used twice"));
        }
        if self.vpc.cidr.contains(eip.address) {
            return Err(err(
                "eip-inside-vpc",
                subject,
                format!(
                    "address {} lies inside the VPC CIDR {}: an EIP is a public address",
                    eip.address, self.vpc.cidr
                ),
            ));
        }
        if let Some(range) = non_public_range(eip.address) {
            return Err(err(
                "invalid-address",
                subject,
                format!("address {} is in {range}: it cannot be an EIP", eip.address),
            ));
        }
        if let Some(owner) = self.address_owner(eip.address) {
            return Err(err(
                "duplicate-address",
                subject,
                format!("address {} is already {owner}'s", eip.address),
            ));
        }
        let idx = self.eips.len();
        self.index.addrs.insert(eip.address, Owner::Eip(idx));
        self.index.eips.insert(eip.id.clone(), idx);
        self.index.eip_assoc.push(None);
        self.eips.push(eip);
        Ok(())
    }

    /// AssociateEipAddress with InstanceType NetworkInterface.
    pub fn associate_eip_address(
        &mut self,
        eip: usize,
        eni: usize,
        mode: Mode,
        private_ip: Option<Ipv4Addr>,
    ) -> Result<(), ModelError> {
        let subject = format!(
            "EIP {} -> ENI {} ({mode})",
            self.eips[eip].id, self.enis[eni].id
        );
        self.live_eip(eip, &subject)?;
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        if let Some(a) = self.association_of_eip(eip) {
            return Err(err(
                "eip-associated-twice",
                subject,
                format!(
                    "EIP {} is already associated with ENI {}: an EIP is bound once",
                    self.eips[eip].id, self.enis[a.eni].id
                ),
            ));
        }
        if !regions::region_offers(&self.region, mode) {
            let seed = if mode == Mode::Binded {
                "seed 001"
            } else {
                "seed 003"
            };
            return Err(err(
                "mode-not-in-region",
                subject,
                format!(
                    "{mode} mode is not offered in region {} ({}) per {seed}'s region list",
                    self.region,
                    regions::region_name(&self.region).unwrap_or("?")
                ),
            ));
        }
        if e.private_network_lost && mode != Mode::Binded {
            return Err(err(
                "private-network-lost",
                subject,
                "the ENI lost its private network with a released subscription EIP: detach it and bind an EIP in cut-through mode to restore it (seed 001)",
            ));
        }
        let others: Vec<&Association> = self.associations_of(eni).collect();
        match mode {
            Mode::Nat => {
                let ip = private_ip.unwrap_or(e.primary_ip);
                if e.kind == EniKind::Primary && !others.is_empty() {
                    return Err(err(
                        "primary-eni-one-eip",
                        subject,
                        "a primary ENI can be associated with 1 EIP (seed 002)",
                    ));
                }
                if others.iter().any(|a| a.mode == Mode::Binded) {
                    return Err(err(
                        "binded-exclusive",
                        subject,
                        "the ENI is bound in cut-through mode, which takes no other association (seed 001: each secondary ENI can be associated with only one EIP)",
                    ));
                }
                if others.iter().any(|a| a.mode == Mode::MultiBinded) {
                    return Err(err(
                        "multi-eip-exclusive",
                        subject,
                        "the ENI is bound in multi-EIP to ENI mode; NAT and multi-EIP do not mix on one ENI",
                    ));
                }
                if !e.private_ips().any(|a| a == ip) {
                    return Err(err(
                        "private-ip-not-owned",
                        subject,
                        format!("private IP {ip} is not one of the ENI's private IPs"),
                    ));
                }
                if let Some(a) = others.iter().find(|a| a.private_ip == Some(ip)) {
                    return Err(err(
                        "one-eip-per-private-ip",
                        subject,
                        format!(
                            "private IP {ip} is already mapped to EIP {}: each EIP maps to a separate private IP (seed 004)",
                            self.eips[a.eip].id
                        ),
                    ));
                }
                self.push_association(Association {
                    eip,
                    eni,
                    mode,
                    private_ip: Some(ip),
                    instance_type: InstanceType::NetworkInterface,
                });
            }
            Mode::Binded | Mode::MultiBinded => {
                if let Some(ip) = private_ip {
                    return Err(err(
                        "private-ip-nat-only",
                        subject,
                        format!(
                            "private_ip {ip} is given, but only NAT mode maps an EIP to a private IP"
                        ),
                    ));
                }
                if e.kind == EniKind::Primary {
                    return Err(err(
                        "primary-eni-nat-only",
                        subject,
                        format!(
                            "a primary ENI supports NAT mode only; {mode} needs a secondary ENI (seed 002)"
                        ),
                    ));
                }
                if e.instance.is_some() {
                    return Err(err(
                        "eni-attached",
                        subject,
                        "the secondary ENI is attached to an instance: detach it before binding (seeds 000, 001, 003)",
                    ));
                }
                if mode == Mode::Binded {
                    if let Some(a) = others.first() {
                        let code = if a.mode == Mode::Binded {
                            "binded-one-eip"
                        } else {
                            "binded-exclusive"
                        };
                        return Err(err(
                            code,
                            subject,
                            format!(
                                "the ENI already has EIP {} ({}): in cut-through mode each secondary ENI can be associated with only one EIP (seed 001)",
                                self.eips[a.eip].id, a.mode
                            ),
                        ));
                    }
                } else {
                    if !self.account.multi_eip_authorized {
                        return Err(err(
                            "multi-eip-not-authorized",
                            subject,
                            "the account is not authorised for multi-EIP to ENI mode, which takes no new applications (seed 003)",
                        ));
                    }
                    if let Some(a) = others.iter().find(|a| a.mode != Mode::MultiBinded) {
                        return Err(err(
                            "multi-eip-exclusive",
                            subject,
                            format!(
                                "the ENI already has EIP {} in {} mode; multi-EIP does not mix with other modes on one ENI",
                                self.eips[a.eip].id, a.mode
                            ),
                        ));
                    }
                    if others.len() as u64 >= u64::from(self.account.multi_eip_quota) {
                        return Err(err(
                            "multi-eip-quota",
                            subject,
                            format!(
                                "the ENI already has {} EIPs, the multi-EIP quota is {} (seed 003: at most 10, raised by ticket)",
                                others.len(),
                                self.account.multi_eip_quota
                            ),
                        ));
                    }
                }
                self.push_association(Association {
                    eip,
                    eni,
                    mode,
                    private_ip: None,
                    instance_type: InstanceType::NetworkInterface,
                });
                if mode == Mode::Binded {
                    // Seed 001's note: bound again in cut-through mode, the ENI is whole again.
                    self.enis[eni].private_network_lost = false;
                }
            }
        }
        Ok(())
    }

    /// AssociateEipAddress with InstanceType EcsInstance: NAT to the instance's primary ENI's
    /// primary private IP. Each ECS instance takes only one EIP this way (seed 004), and its
    /// primary ENI only one EIP in any way (seed 002).
    pub fn associate_eip_address_to_instance(
        &mut self,
        eip: usize,
        inst: usize,
    ) -> Result<(), ModelError> {
        let subject = format!(
            "EIP {} -> instance {} (NAT)",
            self.eips[eip].id, self.instances[inst].id
        );
        let Some(&primary) = self.index.primary.get(&inst) else {
            return Err(err(
                "instance-no-primary-eni",
                subject,
                "the instance has no primary ENI to carry the EIP",
            ));
        };
        if let Some(a) = self.associations_of(primary).next() {
            return Err(err(
                "instance-one-eip",
                subject,
                format!(
                    "the instance already has EIP {} on its primary ENI: each ECS instance can be associated with only one EIP (seed 004)",
                    self.eips[a.eip].id
                ),
            ));
        }
        self.associate_eip_address(eip, primary, Mode::Nat, None)
            .map_err(|mut e| {
                e.subject = subject;
                e
            })?;
        let last = self.associations.len() - 1;
        self.associations[last].instance_type = InstanceType::EcsInstance;
        Ok(())
    }

    /// Records which multi-EIP addresses the OS of ENI `eni` configured statically. Any address
    /// is accepted: the guest's configuration is not a console rule, and design.md section 2's
    /// example lists one on a NAT-mode ENI. Only the ENI's MULTI_BINDED EIPs it lists are
    /// delivered (design.md section 5).
    pub fn set_static_eips(&mut self, eni: usize, addrs: Vec<Ipv4Addr>) -> Result<(), ModelError> {
        self.enis[eni].static_eips = Some(addrs);
        Ok(())
    }

    /// A topology file's `static_eips` on an ENI bound in multi-EIP mode: each entry must be an
    /// EIP associated with that ENI (a typo would leave the EIP meant unconfigured in the
    /// guest). On other ENIs the list has no effect and is not checked.
    fn static_eips_rule(&self, eni: usize, addrs: &[Ipv4Addr]) -> Result<(), ModelError> {
        if !self
            .associations_of(eni)
            .any(|a| a.mode == Mode::MultiBinded)
        {
            return Ok(());
        }
        for a in addrs {
            let owned = self
                .associations_of(eni)
                .any(|x| self.eips[x.eip].address == *a);
            if !owned {
                return Err(err(
                    "static-eip-not-owned",
                    format!("ENI {}", self.enis[eni].id),
                    format!("static_eips lists {a}, which is not an EIP associated with this ENI"),
                ));
            }
        }
        Ok(())
    }

    /// AttachNetworkInterface: attach ENI `eni` to instance `inst`.
    pub fn attach_network_interface(&mut self, eni: usize, inst: usize) -> Result<(), ModelError> {
        let subject = format!(
            "ENI {} -> instance {}",
            self.enis[eni].id, self.instances[inst].id
        );
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        let i = &self.instances[inst];
        if let Some(cur) = e.instance {
            return Err(err(
                "eni-attached",
                subject,
                format!(
                    "the ENI is already attached to instance {}",
                    self.instances[cur].id
                ),
            ));
        }
        if e.kind == EniKind::Primary
            && let Some(other) = self.index.primary.get(&inst)
        {
            return Err(err(
                "instance-one-primary-eni",
                subject,
                format!(
                    "the instance already has primary ENI {}",
                    self.enis[*other].id
                ),
            ));
        }
        if self
            .associations_of(eni)
            .any(|a| a.mode == Mode::MultiBinded)
            && !regions::family_allows_multi_eip(&i.family)
        {
            return Err(err(
                "multi-eip-instance-family",
                subject,
                format!(
                    "instance family {:?} is not in seed 003's list of families that take a multi-EIP ENI",
                    i.family
                ),
            ));
        }
        if self.enis[eni].kind == EniKind::Primary {
            self.index.primary.insert(inst, eni);
        }
        self.enis[eni].instance = Some(inst);
        Ok(())
    }
}

/// What each instance's OS shows per NIC (`ip addr`), its routes, and which EIPs reach it
/// (`eipsim check`, and the state a scenario ends in):
/// - NAT: the private IPs only; the EIP is reachable at the gateway, not shown in the OS;
/// - BINDED: the EIP, learnt by DHCP (seed 001 step 6: DHCP on, then restart the NIC);
/// - MULTI_BINDED: the private IPs plus the EIPs configured statically, each with the gateway
///   and mask DescribeEipGatewayInfo gives (seed 003 steps 8 and 9);
/// - routes: the default route leaves through the primary ENI; a BINDED ENI adds its own
///   default route with a lower priority (seed 001 step 6); multi-EIP and NAT secondary NICs
///   add none (`DEFROUTE=no`, seed 004 step 4);
/// - then each EIP with its binding and billing (seed 002's FAQ).
pub fn guest_view(cloud: &Cloud) -> String {
    guest_view_limited(cloud, None)
}

/// Instances, detached ENIs and EIPs `eipsim check` lists by default; the rest are counted
/// (`check --all` lists everything).
pub const CHECK_LIST_LIMIT: usize = 50;

/// [`guest_view`] listing at most `limit` instances, detached ENIs and EIPs each; a line says
/// how many more there are.
pub fn guest_view_limited(cloud: &Cloud, limit: Option<usize>) -> String {
    use std::fmt::Write as _;
    let limit = limit.unwrap_or(usize::MAX);
    let more = |s: &mut String, n: usize, what: &str| {
        if n > 0 {
            let _ = writeln!(
                s,
                "  ... and {n} more {what} (eipsim check --all lists them)"
            );
        }
    };
    let mut s = String::new();
    let prefix = cloud.vpc.cidr.prefix;
    let _ = writeln!(
        s,
        "topology ok: region {} ({}), VPC {} {}",
        cloud.region,
        regions::region_name(&cloud.region).unwrap_or("?"),
        cloud.vpc.id,
        cloud.vpc.cidr
    );
    let dev = |n: usize| format!("eth{n}");
    let describe = |s: &mut String, idx: usize, e: &Eni, nic: Option<usize>| {
        let assocs: Vec<&Association> = cloud.associations_of(idx).collect();
        let kind = match e.kind {
            EniKind::Primary => "primary",
            EniKind::Secondary => "secondary",
        };
        let name = nic.map(|n| format!("{}: ", dev(n))).unwrap_or_default();
        let _ = writeln!(s, "  {name}{} ({kind}, {})", e.id, e.mac);
        if !e.security_groups.is_empty() {
            let _ = writeln!(
                s,
                "    security groups {} (not applied: security-group filtering is not built yet)",
                e.security_groups.join(", ")
            );
        }
        let binded = assocs.iter().find(|a| a.mode == Mode::Binded);
        let dhcp = e.instance.is_some_and(|i| cloud.instances[i].dhcp);
        match binded {
            Some(a) => {
                let _ = writeln!(
                    s,
                    "    inet {}  (cut-through EIP {}, learnt by DHCP{})",
                    cloud.eips[a.eip].address,
                    cloud.eips[a.eip].id,
                    if dhcp || e.instance.is_none() {
                        ""
                    } else {
                        "; DHCP is off: not configured"
                    }
                );
            }
            None if e.private_network_lost => {
                let _ = writeln!(
                    s,
                    "    no address: the subscription EIP bound in cut-through mode was released while attached; detach the ENI and bind an EIP in cut-through mode again (seed 001)"
                );
            }
            None => {
                for ip in e.private_ips() {
                    let _ = writeln!(s, "    inet {ip}/{prefix}");
                }
                for a in assocs.iter().filter(|a| a.mode == Mode::MultiBinded) {
                    let g = cloud.gateway_info(a.eip);
                    let len = u32::from(g.mask).count_ones();
                    let on = e.static_eips.as_ref().is_none_or(|x| x.contains(&g.ip));
                    let _ = writeln!(
                        s,
                        "    inet {}/{len}  (multi-EIP {}, static, gateway {} mask {}{})",
                        g.ip,
                        cloud.eips[a.eip].id,
                        g.gateway,
                        g.mask,
                        if on { "" } else { "; not configured in the OS" }
                    );
                }
            }
        }
        for a in assocs.iter().filter(|a| a.mode == Mode::Nat) {
            let _ = writeln!(
                s,
                "    reachable as {} -> {} (NAT EIP {}{}, not shown in the OS)",
                cloud.eips[a.eip].address,
                a.private_ip.unwrap_or(e.primary_ip),
                cloud.eips[a.eip].id,
                if a.instance_type == InstanceType::EcsInstance {
                    ", bound to the instance"
                } else {
                    ""
                }
            );
        }
    };
    let mut by_instance: Vec<Vec<usize>> = vec![Vec::new(); cloud.instances.len()];
    for (i, e) in cloud.enis.iter().enumerate() {
        if let Some(x) = e.instance {
            by_instance[x].push(i);
        }
    }
    for (ii, inst) in cloud.instances.iter().enumerate().take(limit) {
        let _ = writeln!(
            s,
            "instance {} ({}, DHCP {})",
            inst.id,
            if inst.family.is_empty() {
                "family not given"
            } else {
                &inst.family
            },
            if inst.dhcp { "on" } else { "off" }
        );
        let mut nics: Vec<(usize, &Eni)> = by_instance[ii]
            .iter()
            .map(|i| (*i, &cloud.enis[*i]))
            .collect();
        nics.sort_by_key(|(_, e)| e.kind != EniKind::Primary);
        for (n, (idx, e)) in nics.iter().enumerate() {
            describe(&mut s, *idx, e, Some(n));
        }
        // Routes (seed 001 step 6; seed 004 step 4).
        let mut routes = Vec::new();
        for (n, (idx, e)) in nics.iter().enumerate() {
            if e.kind == EniKind::Primary {
                routes.push(format!(
                    "default dev {} metric 0 (primary ENI {})",
                    dev(n),
                    e.id
                ));
            } else if cloud.is_binded(*idx) {
                routes.push(format!(
                    "default dev {} metric 100 (cut-through ENI {}: added by the system, lower priority than the primary ENI's; adjust to send through it)",
                    dev(n),
                    e.id
                ));
            }
        }
        for r in routes {
            let _ = writeln!(s, "  route {r}");
        }
    }
    more(
        &mut s,
        cloud.instances.len().saturating_sub(limit),
        "instance(s)",
    );
    let detached: Vec<(usize, &Eni)> = cloud
        .enis
        .iter()
        .enumerate()
        .filter(|(_, e)| e.instance.is_none() && !e.deleted)
        .collect();
    if !detached.is_empty() {
        let _ = writeln!(s, "detached ENIs");
        let n = detached.len();
        for (idx, e) in detached.into_iter().take(limit) {
            describe(&mut s, idx, e, None);
        }
        more(&mut s, n.saturating_sub(limit), "detached ENI(s)");
    }
    let deleted: Vec<&str> = cloud
        .enis
        .iter()
        .filter(|e| e.deleted)
        .map(|e| e.id.as_str())
        .collect();
    if !deleted.is_empty() {
        let shown: Vec<&str> = deleted.iter().take(limit).copied().collect();
        let _ = writeln!(s, "deleted ENIs: {}", shown.join(", "));
        more(
            &mut s,
            deleted.len().saturating_sub(limit),
            "deleted ENI(s)",
        );
    }
    let _ = writeln!(s, "EIPs");
    for (i, eip) in cloud.eips.iter().enumerate().take(limit) {
        let bound = match cloud.association_of_eip(i) {
            _ if eip.released => "released".to_string(),
            Some(a) => match a.mode {
                Mode::Nat => format!(
                    "NAT -> {} {}",
                    cloud.enis[a.eni].id,
                    a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip)
                ),
                m => format!("{} -> {}", m.api_name(), cloud.enis[a.eni].id),
            },
            None => "not associated".to_string(),
        };
        let _ = writeln!(
            s,
            "  {} {}: {bound}; {}",
            eip.id,
            eip.address,
            cloud.billing(i)
        );
    }
    more(&mut s, cloud.eips.len().saturating_sub(limit), "EIP(s)");
    s
}
