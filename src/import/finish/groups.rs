//! Security groups: each ENI's groups exist and are in the VPC; each rule read into the file's
//! terms (IPv6 and prefix-list rules skipped with a note).

use std::collections::BTreeMap;

use super::super::{DVpc, Draft, ImportError, input};
use super::{Eni, Rule};
use crate::model::Ipv4Cidr;

/// The rules per group (by index into the draft's groups), in input order.
pub(super) fn rules(
    d: &Draft,
    enis: &[Eni],
    vpc: &DVpc,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<usize, Vec<Rule>>, ImportError> {
    let group_ids: Vec<&str> = d.groups.iter().map(|g| g.id.as_str()).collect();
    for e in enis {
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
    Ok(rules)
}
