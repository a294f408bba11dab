//! Where the imported resources are: the VPC they are in (one), the region (from zones and
//! region ids, or `--region`), and each instance's family.

use super::super::{DVpc, DVswitch, Draft, ImportError, family_of, input, region_of_zone};
use crate::model::{Ipv4Cidr, regions};

/// The VPC the instances and ENIs are in, and its CIDR block.
pub(super) fn vpc<'d>(
    d: &'d Draft,
    notes: &mut Vec<String>,
) -> Result<(&'d DVpc, Ipv4Cidr), ImportError> {
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
    Ok((vpc, cidr))
}

/// The region, and every place the input states one (`(region, origin)`, in input order).
pub(super) fn region(
    d: &Draft,
    region_arg: Option<&str>,
) -> Result<(String, Vec<(String, String)>), ImportError> {
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
    Ok((region, found))
}

/// Each instance's family (its type's, or empty), after checking instance ids are unique.
pub(super) fn families(d: &Draft, notes: &mut Vec<String>) -> Result<Vec<String>, ImportError> {
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
    Ok(families)
}
