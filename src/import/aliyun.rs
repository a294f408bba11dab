//! JSON responses of the Describe* APIs as the aliyun CLI prints them, one response per file,
//! each recognised by its top-level keys (not by its name):
//!
//! | response | key | fields read |
//! |---|---|---|
//! | DescribeVpcs | `Vpcs.Vpc[]` | `VpcId`, `CidrBlock`, `RegionId` |
//! | DescribeVSwitches | `VSwitches.VSwitch[]` | `VSwitchId`, `VpcId`, `ZoneId` |
//! | DescribeInstances | `Instances.Instance[]` | `InstanceId`, `InstanceType`, `InstanceTypeFamily`, `ZoneId`, `RegionId`, `VpcAttributes` (`VpcId`, `VSwitchId`, `PrivateIpAddress.IpAddress[]`), `NetworkInterfaces.NetworkInterface[]` (`NetworkInterfaceId`, `Type`, `MacAddress`, `PrimaryIpAddress`, `PrivateIpSets.PrivateIpSet[]`), `SecurityGroupIds.SecurityGroupId[]` |
//! | DescribeNetworkInterfaces | `NetworkInterfaceSets.NetworkInterfaceSet[]` | `NetworkInterfaceId`, `Type`, `MacAddress`, `PrivateIpAddress`, `PrivateIpSets.PrivateIpSet[]` (`PrivateIpAddress`, `Primary`), `InstanceId`, `VpcId`, `VSwitchId`, `ZoneId`, `SecurityGroupIds.SecurityGroupId[]` |
//! | DescribeEipAddresses | `EipAddresses.EipAddress[]` | `AllocationId`, `IpAddress`, `ChargeType`, `RegionId`, `InstanceId`, `InstanceType`, `Mode`, `PrivateIpAddress` |
//! | DescribeSecurityGroupAttribute | `SecurityGroupId` and `Permissions.Permission[]` | `SecurityGroupType` (when present), `InnerAccessPolicy`, `VpcId`, `RegionId`; per permission `Direction`, `Policy`, `Priority`, `IpProtocol`, `PortRange`, `SourceCidrIp`/`SourceGroupId` (ingress), `DestCidrIp`/`DestGroupId` (egress) |
//!
//! An ENI described by DescribeNetworkInterfaces and by an instance's `NetworkInterfaces` is
//! one ENI: the first gives its fields, the second fills what it lacks.

use serde_json::Value;

use super::terraform::{integer, text, texts};
use super::{
    DAssoc, DEip, DEni, DGroup, DInstance, DRule, DVpc, DVswitch, Draft, ImportError, input,
    json_error,
};

/// `v[outer][inner]` as a list (the CLI's shape for every collection).
fn items<'a>(v: &'a Value, outer: &str, inner: &str) -> &'a [Value] {
    match v.get(outer).and_then(|o| o.get(inner)) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

fn nested_texts(v: &Value, outer: &str, inner: &str) -> Vec<String> {
    v.get(outer).map(|o| texts(o, inner)).unwrap_or_default()
}

/// The private IPs of a `PrivateIpSets.PrivateIpSet[]` list: (primary, secondaries).
fn ip_sets(v: &Value) -> (Option<String>, Vec<String>) {
    let mut primary = None;
    let mut others = Vec::new();
    for s in items(v, "PrivateIpSets", "PrivateIpSet") {
        let Some(ip) = text(s, "PrivateIpAddress") else {
            continue;
        };
        if s.get("Primary") == Some(&Value::Bool(true)) && primary.is_none() {
            primary = Some(ip);
        } else {
            others.push(ip);
        }
    }
    (primary, others)
}

/// Fills what `a` lacks from `b` (the same ENI described twice).
fn merge(a: &mut DEni, b: DEni) {
    a.primary = a.primary.or(b.primary);
    a.mac = a.mac.take().or(b.mac);
    a.primary_ip = a.primary_ip.take().or(b.primary_ip);
    if a.secondary_ips.is_empty() {
        a.secondary_ips = b.secondary_ips;
    }
    a.vswitch = a.vswitch.take().or(b.vswitch);
    a.vpc = a.vpc.take().or(b.vpc);
    a.zone = a.zone.take().or(b.zone);
    a.instance = a.instance.take().or(b.instance);
    if a.groups.is_empty() {
        a.groups = b.groups;
    }
}

/// Parses the response files into a draft.
pub fn parse(files: &[(String, String)]) -> Result<Draft, ImportError> {
    let mut d = Draft {
        source: format!(
            "aliyun responses {}",
            files
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ..Draft::default()
    };
    // ENIs from DescribeNetworkInterfaces first, then those only instances mention.
    let mut listed: Vec<DEni> = Vec::new();
    let mut from_instances: Vec<DEni> = Vec::new();
    let mut recognised = 0usize;
    for (name, body) in files {
        let v: Value = serde_json::from_str(body).map_err(|e| json_error(name, &e))?;
        if !v.is_object() {
            return Err(input(name, "not a JSON object: expected one API response"));
        }
        let mut any = false;
        if v.get("Vpcs").is_some() {
            any = true;
            for x in items(&v, "Vpcs", "Vpc") {
                let id = text(x, "VpcId").ok_or_else(|| input(name, "a Vpc has no VpcId"))?;
                let origin = format!("{name} (DescribeVpcs) {id}");
                if let Some(r) = text(x, "RegionId") {
                    d.regions.push((r, origin.clone()));
                }
                d.vpcs.push(DVpc {
                    id,
                    cidr: text(x, "CidrBlock"),
                    origin,
                });
            }
        }
        if v.get("VSwitches").is_some() {
            any = true;
            for x in items(&v, "VSwitches", "VSwitch") {
                let id = text(x, "VSwitchId")
                    .ok_or_else(|| input(name, "a VSwitch has no VSwitchId"))?;
                d.vswitches.push(DVswitch {
                    vpc: text(x, "VpcId"),
                    zone: text(x, "ZoneId"),
                    origin: format!("{name} (DescribeVSwitches) {id}"),
                    id,
                });
            }
        }
        if v.get("Instances").is_some() {
            any = true;
            for x in items(&v, "Instances", "Instance") {
                let id = text(x, "InstanceId")
                    .ok_or_else(|| input(name, "an Instance has no InstanceId"))?;
                let origin = format!("{name} (DescribeInstances) {id}");
                if let Some(r) = text(x, "RegionId") {
                    d.regions.push((r, origin.clone()));
                }
                let empty = Value::Null;
                let vpc_attr = x.get("VpcAttributes").unwrap_or(&empty);
                let mut private = nested_texts(vpc_attr, "PrivateIpAddress", "IpAddress");
                let mut inst = DInstance {
                    id: id.clone(),
                    instance_type: text(x, "InstanceType"),
                    family: text(x, "InstanceTypeFamily"),
                    zone: text(x, "ZoneId"),
                    vswitch: text(vpc_attr, "VSwitchId"),
                    vpc: text(vpc_attr, "VpcId"),
                    private_ip: None,
                    secondary_ips: Vec::new(),
                    primary_eni: None,
                    primary_mac: None,
                    groups: nested_texts(x, "SecurityGroupIds", "SecurityGroupId"),
                    origin: origin.clone(),
                };
                for nic in items(x, "NetworkInterfaces", "NetworkInterface") {
                    let Some(nid) = text(nic, "NetworkInterfaceId") else {
                        continue;
                    };
                    let (p, others) = ip_sets(nic);
                    let primary_ip = text(nic, "PrimaryIpAddress").or(p);
                    let is_primary = match text(nic, "Type").as_deref() {
                        Some("Primary") => true,
                        Some(_) => false,
                        None => {
                            inst.primary_eni.is_none() && primary_ip == private.first().cloned()
                        }
                    };
                    if is_primary {
                        inst.primary_eni = Some(nid.clone());
                        inst.primary_mac = text(nic, "MacAddress");
                        if inst.private_ip.is_none() {
                            inst.private_ip = primary_ip.clone();
                        }
                        if inst.secondary_ips.is_empty() {
                            inst.secondary_ips = others.clone();
                        }
                    }
                    from_instances.push(DEni {
                        id: nid.clone(),
                        primary: Some(is_primary),
                        mac: text(nic, "MacAddress"),
                        primary_ip,
                        secondary_ips: others,
                        instance: Some(id.clone()),
                        origin: format!("{name} (DescribeInstances) {id} {nid}"),
                        ..DEni::default()
                    });
                }
                if inst.private_ip.is_none() && !private.is_empty() {
                    inst.private_ip = Some(private.remove(0));
                    if inst.secondary_ips.is_empty() {
                        inst.secondary_ips = private;
                    }
                }
                d.instances.push(inst);
            }
        }
        if v.get("NetworkInterfaceSets").is_some() {
            any = true;
            for x in items(&v, "NetworkInterfaceSets", "NetworkInterfaceSet") {
                let id = text(x, "NetworkInterfaceId").ok_or_else(|| {
                    input(name, "a NetworkInterfaceSet has no NetworkInterfaceId")
                })?;
                let (p, others) = ip_sets(x);
                let primary = match text(x, "Type").as_deref() {
                    Some("Primary") => Some(true),
                    Some("Secondary") | Some("Trunk") => Some(false),
                    Some(other) => {
                        return Err(input(
                            format!("{name} (DescribeNetworkInterfaces) {id}"),
                            format!("ENI type {other:?} is not Primary, Secondary or Trunk"),
                        ));
                    }
                    None => None,
                };
                listed.push(DEni {
                    primary,
                    mac: text(x, "MacAddress"),
                    primary_ip: text(x, "PrivateIpAddress").or(p),
                    secondary_ips: others,
                    vswitch: text(x, "VSwitchId"),
                    vpc: text(x, "VpcId"),
                    zone: text(x, "ZoneId"),
                    instance: text(x, "InstanceId"),
                    groups: nested_texts(x, "SecurityGroupIds", "SecurityGroupId"),
                    origin: format!("{name} (DescribeNetworkInterfaces) {id}"),
                    id,
                });
            }
        }
        if v.get("EipAddresses").is_some() {
            any = true;
            for x in items(&v, "EipAddresses", "EipAddress") {
                let id = text(x, "AllocationId")
                    .ok_or_else(|| input(name, "an EipAddress has no AllocationId"))?;
                let origin = format!("{name} (DescribeEipAddresses) {id}");
                if let Some(r) = text(x, "RegionId") {
                    d.regions.push((r, origin.clone()));
                }
                let subscription = match text(x, "ChargeType").as_deref() {
                    Some("PrePaid") => Some(true),
                    Some("PostPaid") => Some(false),
                    Some(other) => {
                        return Err(input(
                            origin,
                            format!("ChargeType {other:?} is not PostPaid or PrePaid"),
                        ));
                    }
                    None => None,
                };
                if let Some(target) = text(x, "InstanceId") {
                    d.assocs.push(DAssoc {
                        eip: id.clone(),
                        target,
                        instance_type: text(x, "InstanceType"),
                        mode: text(x, "Mode"),
                        private_ip: text(x, "PrivateIpAddress"),
                        origin: origin.clone(),
                    });
                }
                d.eips.push(DEip {
                    id,
                    address: text(x, "IpAddress"),
                    subscription,
                    origin,
                });
            }
        }
        if v.get("Permissions").is_some() && v.get("SecurityGroupId").is_some() {
            any = true;
            let id = text(&v, "SecurityGroupId")
                .ok_or_else(|| input(name, "SecurityGroupId is empty"))?;
            let origin = format!("{name} (DescribeSecurityGroupAttribute) {id}");
            if let Some(r) = text(&v, "RegionId") {
                d.regions.push((r, origin.clone()));
            }
            d.groups.push(DGroup {
                id: id.clone(),
                kind: text(&v, "SecurityGroupType"),
                inner_access: text(&v, "InnerAccessPolicy"),
                vpc: text(&v, "VpcId"),
                origin: origin.clone(),
            });
            for (n, p) in items(&v, "Permissions", "Permission").iter().enumerate() {
                let rorigin = format!("{origin} permission {}", n + 1);
                let direction = text(p, "Direction");
                let egress = direction.as_deref() == Some("egress");
                let (cidr, group) = if egress {
                    (text(p, "DestCidrIp"), text(p, "DestGroupId"))
                } else {
                    (text(p, "SourceCidrIp"), text(p, "SourceGroupId"))
                };
                d.rules.push(DRule {
                    group: id.clone(),
                    direction,
                    policy: text(p, "Policy"),
                    priority: integer(p, "Priority", &rorigin)?,
                    protocol: text(p, "IpProtocol"),
                    port_range: text(p, "PortRange"),
                    cidr: cidr.or_else(|| {
                        text(
                            p,
                            if egress {
                                "Ipv6DestCidrIp"
                            } else {
                                "Ipv6SourceCidrIp"
                            },
                        )
                    }),
                    peer_group: group,
                    origin: rorigin,
                });
            }
        }
        if any {
            recognised += 1;
        } else {
            d.notes.push(format!(
                "{name}: not a response eipsim reads (DescribeVpcs, DescribeVSwitches, DescribeInstances, DescribeNetworkInterfaces, DescribeEipAddresses, DescribeSecurityGroupAttribute): skipped"
            ));
        }
    }
    if recognised == 0 {
        return Err(input(
            d.source.clone(),
            "no file is a response eipsim reads (DescribeVpcs, DescribeVSwitches, DescribeInstances, DescribeNetworkInterfaces, DescribeEipAddresses, DescribeSecurityGroupAttribute)",
        ));
    }
    for e in from_instances {
        match listed.iter_mut().find(|x| x.id == e.id) {
            Some(x) => merge(x, e),
            None => listed.push(e),
        }
    }
    // Several pages of DescribeNetworkInterfaces may repeat an ENI: one entry each.
    let mut enis: Vec<DEni> = Vec::new();
    for e in listed {
        match enis.iter_mut().find(|x| x.id == e.id) {
            Some(x) => merge(x, e),
            None => enis.push(e),
        }
    }
    d.enis = enis;
    Ok(d)
}
