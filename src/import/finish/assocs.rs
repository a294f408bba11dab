//! EIPs and associations: each association resolved to an ENI (in one of the three modes) or
//! an ECS instance (NAT), checked against the region's modes and the ENI's addresses.

use super::super::{Draft, ImportError, input};
use super::{Assoc, Eni, parse_ip};
use crate::model::{Mode, regions};

/// The associations of the topology, in input order.
pub(super) fn resolve(
    d: &Draft,
    enis: &[Eni],
    region: &str,
    notes: &mut Vec<String>,
) -> Result<Vec<Assoc>, ImportError> {
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
        if !regions::region_offers(region, mode) {
            return Err(input(
                a.origin.clone(),
                format!(
                    "mode {mode} is not offered in region {region} ({})",
                    regions::region_name(region).unwrap_or("?")
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
    Ok(assocs)
}
