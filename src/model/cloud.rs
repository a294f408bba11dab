//! The validated model: the domain types (modes, ENIs, EIPs, instances, associations) and the
//! [`Cloud`] with its look-up indexes. A cloud is changed only through the console's operations
//! ([`super::ops`]); reading its public fields is free.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::alg_policy::Policy;
use super::guest_cfg::GuestConfig;
use super::index::{Index, Owner};
use super::rules::{ModelError, RuleCode, err};
use super::{Ipv4Cidr, Mac, regions, sg};

/// How an EIP is bound to an ENI.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Deserialize, Serialize, PartialOrd, Ord)]
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
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EniKind {
    /// The ENI an instance is created with; it never leaves its instance.
    Primary,
    /// An ENI created on its own, attached and detached at will.
    Secondary,
}

/// How an EIP is billed (seed 001's note on releasing a subscription EIP).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize, Default)]
pub enum Charge {
    /// Pay-as-you-go by traffic.
    #[default]
    PayByTraffic,
    /// Subscription (prepaid).
    Subscription,
}

/// The account's settings: multi-EIP and the provider's block of outbound TCP port 25.
#[derive(Clone, Debug)]
pub struct Account {
    /// Multi-EIP mode takes no new applications: only authorised accounts may use it (seed 003).
    pub multi_eip_authorized: bool,
    /// EIPs per secondary ENI in multi-EIP mode (10 unless raised by ticket, seed 002).
    pub multi_eip_quota: u32,
    /// The provider lifted its default block of outbound TCP to port 25 of Internet addresses
    /// (`[account] tcp25_unblocked = true`; otherwise such frames drop `tcp-25-restricted`).
    pub tcp25_unblocked: bool,
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
    /// What its guest runs beyond its addresses (`replay --respond`).
    pub guest: GuestConfig,
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
    pub alg: Policy,
    /// Security groups (validated; the frame pass applies them, `crate::groups`).
    pub security_groups: Vec<sg::SecurityGroup>,
    /// Look-up indexes kept by the operations (so that building a large topology is linear).
    /// The public fields are for reading: change the cloud through its operations.
    pub(super) index: Index,
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Derived from the public fields; not part of a cloud's identity.
        f.write_str("Index")
    }
}

impl Cloud {
    /// An empty cloud in `region` (an Alibaba Cloud region id), ready for the operations.
    pub fn new(region: String, account: Account, vpc: Vpc) -> Result<Cloud, ModelError> {
        if regions::region_name(&region).is_none() {
            return Err(err(
                RuleCode::UnknownRegion,
                format!("region {region:?}"),
                "not an Alibaba Cloud region id eipsim knows (such as cn-hangzhou, eu-central-1, us-east-1, ap-south-1)",
            ));
        }
        if vpc.gateway_mac == vpc.internet_mac {
            return Err(err(
                RuleCode::GatewayMacIsInternetMac,
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

    /// Room for this many more instances, ENIs, EIPs and associations, in one allocation each
    /// (a topology file says how many it has).
    pub(super) fn reserve(&mut self, instances: usize, enis: usize, eips: usize, assocs: usize) {
        self.instances.reserve_exact(instances);
        self.enis.reserve_exact(enis);
        self.eips.reserve_exact(eips);
        self.associations.reserve_exact(assocs);
        let index = &mut self.index;
        index.instances.reserve(&self.instances, instances);
        index.enis.reserve(&self.enis, enis);
        index.eips.reserve(&self.eips, eips);
        index.reserve(instances, enis, eips);
    }

    /// Index of the instance with this id.
    pub fn instance_index(&self, id: &str) -> Option<usize> {
        self.index.instances.get(&self.instances, id)
    }
    /// Index of the ENI with this id.
    pub fn eni_index(&self, id: &str) -> Option<usize> {
        self.index.enis.get(&self.enis, id)
    }
    /// Index of the EIP with this id.
    pub fn eip_index(&self, id: &str) -> Option<usize> {
        self.index.eips.get(&self.eips, id)
    }

    /// The associations bound to ENI `eni`.
    pub fn associations_of(&self, eni: usize) -> impl Iterator<Item = &Association> + '_ {
        self.index.eni_assocs.of(eni).map(|i| &self.associations[i])
    }

    /// The association of EIP `eip`, if bound.
    pub fn association_of_eip(&self, eip: usize) -> Option<&Association> {
        self.index.eip_assoc.get(eip).map(|i| &self.associations[i])
    }

    /// Whether ENI `eni` is bound in cut-through mode (it has then no private IP).
    pub fn is_binded(&self, eni: usize) -> bool {
        self.associations_of(eni).any(|a| a.mode == Mode::Binded)
    }

    pub(super) fn id_taken(&self, id: &str) -> bool {
        self.index.retired.contains(id)
            || self.index.instances.contains(&self.instances, id)
            || self.index.enis.contains(&self.enis, id)
            || self.index.eips.contains(&self.eips, id)
    }

    pub(super) fn address_owner(&self, addr: Ipv4Addr) -> Option<String> {
        self.index.addrs.get(&addr).map(|o| match o {
            Owner::Eni(i) => format!("ENI {}", self.enis[*i as usize].id),
            Owner::Eip(i) => format!("EIP {}", self.eips[*i as usize].id),
        })
    }

    pub(super) fn push_association(&mut self, a: Association) {
        let i = self.associations.len();
        self.index.eip_assoc.set(a.eip, Some(i));
        self.index.eni_assocs.push(a.eni, i);
        self.associations.push(a);
    }

    /// Keeps a deleted ENI at its index, owning nothing, its id never given out again.
    pub(super) fn push_tombstone(&mut self, e: &Eni) {
        self.index.retired.insert(e.id.clone());
        self.index.eni_assocs.push_eni();
        self.enis.push(e.clone());
    }
}
