//! The topology file's schema (TOML): what `Cloud::load` reads and [`super::Cloud::to_toml`]
//! writes. Each table of the file is one struct here, with its defaults.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::guest_cfg::{Connect, GuestConfig, GuestRoute, Service, SourceRule};
use super::{Charge, Cloud, EniKind, InstanceType, Ipv4Cidr, Mac, Mode, sg};

/// The whole file.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TopologyFile {
    pub(super) region: String,
    #[serde(default)]
    pub(super) account: AccountFile,
    pub(super) vpc: VpcFile,
    #[serde(default)]
    pub(super) instance: Vec<InstanceFile>,
    #[serde(default)]
    pub(super) eni: Vec<EniFile>,
    #[serde(default)]
    pub(super) eip: Vec<EipFile>,
    #[serde(default)]
    pub(super) association: Vec<AssociationFile>,
    /// `[[security_group]]` (parsed and validated; the frame pass applies them).
    #[serde(default)]
    pub(super) security_group: Vec<sg::GroupFile>,
    /// `[alg]`: per protocol, `inspect` (default) or `translate` (what-if, FTP and SIP).
    #[serde(default)]
    pub(super) alg: std::collections::BTreeMap<String, String>,
}

/// `[account]`: multi-EIP authorisation (default off) and quota (default 10), and whether the
/// provider lifted its block of outbound TCP port 25 (default: blocked).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AccountFile {
    #[serde(default)]
    pub(super) multi_eip_authorized: bool,
    #[serde(default = "default_quota")]
    pub(super) multi_eip_quota: u32,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(super) tcp25_unblocked: bool,
}

impl Default for AccountFile {
    fn default() -> Self {
        AccountFile {
            multi_eip_authorized: false,
            multi_eip_quota: default_quota(),
            tcp25_unblocked: false,
        }
    }
}

fn default_quota() -> u32 {
    10
}

/// `[vpc]`: id (default `vpc`), CIDR block, and the gateway's and Internet next hop's MACs.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VpcFile {
    #[serde(default = "default_vpc_id")]
    pub(super) id: String,
    pub(super) cidr: Ipv4Cidr,
    #[serde(default = "default_gateway_mac")]
    pub(super) gateway_mac: Mac,
    #[serde(default = "default_internet_mac")]
    pub(super) internet_mac: Mac,
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

/// `[[instance]]`: id, family (default empty), DHCP on secondary NICs (default on), and what
/// its guest runs with `replay --respond` (services, default `["icmp"]`; routes; source rules;
/// connections opened at the start).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InstanceFile {
    pub(super) id: String,
    #[serde(default)]
    pub(super) family: String,
    #[serde(default = "default_true")]
    pub(super) dhcp: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) services: Option<Vec<Service>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) routes: Vec<GuestRoute>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) rules: Vec<SourceRule>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) connect: Vec<Connect>,
}

/// `[[eni]]`: an ENI, attached to `instance` when given (a primary ENI must be).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EniFile {
    pub(super) id: String,
    pub(super) kind: EniKind,
    pub(super) mac: Mac,
    pub(super) primary_ip: Ipv4Addr,
    #[serde(default)]
    pub(super) secondary_ips: Vec<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) static_eips: Option<Vec<Ipv4Addr>>,
    #[serde(default)]
    pub(super) security_groups: Vec<String>,
}

/// `[[eip]]`: an EIP, its billing (default pay-by-traffic) and its multi-EIP gateway and mask.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EipFile {
    pub(super) id: String,
    pub(super) address: Ipv4Addr,
    #[serde(default)]
    pub(super) charge: Charge,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gateway: Option<Ipv4Addr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) mask: Option<Ipv4Addr>,
}

/// `[[association]]`: an EIP bound to an ENI (`eni`, mode default NAT) or to an instance.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssociationFile {
    pub(super) eip: String,
    /// The ENI (InstanceType NetworkInterface).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) eni: Option<String>,
    /// The instance (InstanceType EcsInstance: NAT to its primary ENI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) instance: Option<String>,
    #[serde(default)]
    pub(super) instance_type: InstanceType,
    #[serde(default = "default_mode")]
    pub(super) mode: Mode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) private_ip: Option<Ipv4Addr>,
}

pub(super) fn default_mode() -> Mode {
    Mode::Nat
}

impl Cloud {
    /// The topology file (TOML) that describes this cloud: reading it back with
    /// [`Cloud::from_toml`] gives the same cloud, built through the same operations. Deleted
    /// ENIs and released EIPs are not written (a file describes live resources only), nor is
    /// an ENI's private network lost with a released subscription EIP (a state only the
    /// operations reach).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.to_file())
    }

    /// The file schema filled from this cloud.
    fn to_file(&self) -> TopologyFile {
        let instance_id = |i: usize| self.instances[i].id.clone();
        TopologyFile {
            region: self.region.clone(),
            account: AccountFile {
                multi_eip_authorized: self.account.multi_eip_authorized,
                multi_eip_quota: self.account.multi_eip_quota,
                tcp25_unblocked: self.account.tcp25_unblocked,
            },
            vpc: VpcFile {
                id: self.vpc.id.clone(),
                cidr: self.vpc.cidr,
                gateway_mac: self.vpc.gateway_mac,
                internet_mac: self.vpc.internet_mac,
            },
            instance: self
                .instances
                .iter()
                .map(|i| InstanceFile {
                    id: i.id.clone(),
                    family: i.family.clone(),
                    dhcp: i.dhcp,
                    services: (i.guest.services != GuestConfig::default().services)
                        .then(|| i.guest.services.clone()),
                    routes: i.guest.routes.clone(),
                    rules: i.guest.rules.clone(),
                    connect: i.guest.connect.clone(),
                })
                .collect(),
            eni: self
                .enis
                .iter()
                .filter(|e| !e.deleted)
                .map(|e| EniFile {
                    id: e.id.clone(),
                    kind: e.kind,
                    mac: e.mac,
                    primary_ip: e.primary_ip,
                    secondary_ips: e.secondary_ips.clone(),
                    instance: e.instance.map(instance_id),
                    static_eips: e.static_eips.clone(),
                    security_groups: e.security_groups.clone(),
                })
                .collect(),
            eip: self
                .eips
                .iter()
                .filter(|e| !e.released)
                .map(|e| EipFile {
                    id: e.id.clone(),
                    address: e.address,
                    charge: e.charge,
                    gateway: e.gateway,
                    mask: e.mask,
                })
                .collect(),
            association: self
                .associations
                .iter()
                .map(|a| {
                    let eni = &self.enis[a.eni];
                    let to_instance = a.instance_type == InstanceType::EcsInstance;
                    AssociationFile {
                        eip: self.eips[a.eip].id.clone(),
                        eni: (!to_instance).then(|| eni.id.clone()),
                        instance: if to_instance {
                            eni.instance.map(instance_id)
                        } else {
                            None
                        },
                        instance_type: a.instance_type,
                        mode: a.mode,
                        private_ip: if to_instance { None } else { a.private_ip },
                    }
                })
                .collect(),
            security_group: sg::group_files(&self.security_groups),
            alg: self.alg.to_table(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cloud written back as TOML reads back to the same cloud (compared through its
    /// `Debug` form, which covers every public field), and writes the same text again.
    fn round_trip(text: &str) {
        let c = Cloud::from_toml(text).unwrap();
        let written = c.to_toml().unwrap();
        let again = Cloud::from_toml(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(format!("{c:?}"), format!("{again:?}"), "{written}");
        assert_eq!(again.to_toml().unwrap(), written);
    }

    #[test]
    fn bundled_topologies_round_trip() {
        round_trip(include_str!("../../pcaps/demo-topology.toml"));
        round_trip(include_str!("../../pcaps/failover-topology.toml"));
    }

    #[test]
    fn an_empty_cloud_round_trips() {
        round_trip("region = \"cn-hangzhou\"\n[vpc]\ncidr = \"192.168.0.0/16\"\n");
        let c = Cloud::from_toml("region = \"cn-hangzhou\"\n[vpc]\ncidr = \"192.168.0.0/16\"\n")
            .unwrap();
        let t = c.to_toml().unwrap();
        assert!(t.starts_with("region = \"cn-hangzhou\"\n"), "{t}");
    }

    #[test]
    fn groups_instances_and_alg_round_trip() {
        round_trip(
            r#"
region = "eu-central-1"
[vpc]
cidr = "10.0.0.0/16"
[alg]
sip = "translate"
dns = "inspect"
[[instance]]
id = "i-1"
family = "ecs.g5"
dhcp = false
[[eni]]
id = "eni-p"
kind = "primary"
mac = "00:16:3e:00:00:01"
primary_ip = "10.0.0.10"
instance = "i-1"
security_groups = ["sg-b"]
[[eip]]
id = "eip-1"
address = "198.51.100.1"
charge = "Subscription"
gateway = "198.51.100.254"
mask = "255.255.255.0"
[[association]]
eip = "eip-1"
instance = "i-1"
instance_type = "EcsInstance"
[[security_group]]
id = "sg-b"
inner_access = "drop"
[[security_group.rule]]
direction = "ingress"
policy = "accept"
priority = 1
protocol = "tcp"
port_range = "22/22"
cidr = "0.0.0.0/0"
[[security_group.rule]]
direction = "egress"
policy = "drop"
priority = 100
protocol = "icmp"
port_range = "-1/-1"
group = "sg-b"
[[security_group]]
id = "sg-e"
type = "enterprise"
"#,
        );
    }
}
