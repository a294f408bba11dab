//! What an input says, before resolution: the [`Draft`] the front ends fill, each entry with
//! where it came from.

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
