//! One console operation as data (`op` is the provider's API name, the parameters are in
//! snake_case), applied to a [`Cloud`] through the console's operations.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Deserialize;

use crate::model::rules::{RuleCode, err};
use crate::model::sg::{Direction, Policy, Protocol, RuleSpec};
use crate::model::{
    Charge, Cloud, Eip, Eni, EniKind, InstanceType, Ipv4Cidr, Mac, Mode, ModelError,
};

/// The parameters of AuthorizeSecurityGroup, AuthorizeSecurityGroupEgress, RevokeSecurityGroup
/// and RevokeSecurityGroupEgress: the target `group` and the rule's fields as in a topology's
/// `[[security_group.rule]]`, without `direction` (the operation gives it) and with the peer
/// group named `peer_group` (the provider's SourceGroupId for ingress, DestGroupId for egress),
/// since `group` names the group the rule goes into. `cidr` is the provider's SourceCidrIp
/// (ingress) or DestCidrIp (egress).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RuleParams {
    /// The security group the rule goes into (or is revoked from): SecurityGroupId.
    pub group: String,
    /// `accept` (default) or `drop`.
    #[serde(default = "accept")]
    pub policy: Policy,
    /// 1..100, 1 the highest (default 1).
    #[serde(default = "one")]
    pub priority: i64,
    /// `tcp`, `udp`, `icmp`, `gre` or `all`.
    pub protocol: Protocol,
    /// Destination ports `"from/to"`, `"-1/-1"` for every port (the only value for icmp, gre
    /// and all).
    pub port_range: String,
    /// The peer's IPv4 block (ingress: the source; egress: the destination).
    pub cidr: Option<Ipv4Cidr>,
    /// Or the peer security group: its ENIs.
    pub peer_group: Option<String>,
}

fn accept() -> Policy {
    Policy::Accept
}

fn one() -> i64 {
    1
}

impl RuleParams {
    /// The rule's fields for `direction`, to validate.
    fn spec(&self, direction: Direction) -> RuleSpec<'_> {
        RuleSpec {
            direction,
            policy: self.policy,
            priority: self.priority,
            protocol: self.protocol,
            port_range: &self.port_range,
            cidr: self.cidr,
            group: self.peer_group.as_deref(),
        }
    }
}

impl fmt::Display for RuleParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} priority {} {} {}",
            self.group,
            self.policy.name(),
            self.priority,
            self.protocol.name(),
            self.port_range
        )?;
        if let Some(c) = self.cidr {
            write!(f, " cidr {c}")?;
        }
        if let Some(g) = &self.peer_group {
            write!(f, " peer_group {g}")?;
        }
        f.write_str(")")
    }
}

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
        #[serde(default = "crate::model::file::default_mode")]
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
    /// Add an ingress rule to a security group (`group`, the rule's fields; see
    /// [`RuleParams`]). A rule the group already holds is not added twice.
    AuthorizeSecurityGroup(RuleParams),
    /// Add an egress rule to a security group (parameters as AuthorizeSecurityGroup).
    AuthorizeSecurityGroupEgress(RuleParams),
    /// Remove the ingress rule equal in every field from a security group.
    RevokeSecurityGroup(RuleParams),
    /// Remove the egress rule equal in every field from a security group.
    RevokeSecurityGroupEgress(RuleParams),
    /// Put an ENI in a security group.
    JoinSecurityGroup {
        /// Security group id.
        group: String,
        /// ENI id.
        eni: String,
    },
    /// Take an ENI out of a security group (not its last one).
    LeaveSecurityGroup {
        /// Security group id.
        group: String,
        /// ENI id.
        eni: String,
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
            AuthorizeSecurityGroup(r) => write!(f, "AuthorizeSecurityGroup {r}"),
            AuthorizeSecurityGroupEgress(r) => write!(f, "AuthorizeSecurityGroupEgress {r}"),
            RevokeSecurityGroup(r) => write!(f, "RevokeSecurityGroup {r}"),
            RevokeSecurityGroupEgress(r) => write!(f, "RevokeSecurityGroupEgress {r}"),
            JoinSecurityGroup { group, eni } => write!(f, "JoinSecurityGroup {eni} -> {group}"),
            LeaveSecurityGroup { group, eni } => write!(f, "LeaveSecurityGroup {eni} <- {group}"),
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
            AuthorizeSecurityGroup(r) => {
                cloud.authorize_security_group(&r.group, r.spec(Direction::Ingress))?;
            }
            AuthorizeSecurityGroupEgress(r) => {
                cloud.authorize_security_group(&r.group, r.spec(Direction::Egress))?;
            }
            RevokeSecurityGroup(r) => {
                cloud.revoke_security_group(&r.group, r.spec(Direction::Ingress))?;
            }
            RevokeSecurityGroupEgress(r) => {
                cloud.revoke_security_group(&r.group, r.spec(Direction::Egress))?;
            }
            JoinSecurityGroup { group, eni } => {
                let e = eni_of(cloud, eni)?;
                cloud.join_security_group(e, group)?;
            }
            LeaveSecurityGroup { group, eni } => {
                let e = eni_of(cloud, eni)?;
                cloud.leave_security_group(e, group)?;
            }
        }
        Ok(None)
    }
}
