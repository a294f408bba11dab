//! The topology file's text: each entry with a comment naming where it came from, and the list
//! of `(model subject prefix, origin)` pairs that names the origin of a rule the model refuses.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::super::{DVpc, Draft, ImportError, input};
use super::{Assoc, Eni, Rule, comment, parse_ip, q};
use crate::model::{Ipv4Cidr, Mode};

/// What the earlier stages resolved.
pub(super) struct Resolved<'d> {
    pub(super) vpc: &'d DVpc,
    pub(super) cidr: Ipv4Cidr,
    pub(super) region: String,
    pub(super) found: Vec<(String, String)>,
    pub(super) families: Vec<String>,
    pub(super) enis: Vec<Eni>,
    pub(super) rules: BTreeMap<usize, Vec<Rule>>,
    pub(super) assocs: Vec<Assoc>,
}

/// The TOML text and the origins of its entries.
pub(super) fn topology(
    d: &Draft,
    r: &Resolved<'_>,
    notes: &mut Vec<String>,
) -> Result<(String, Vec<(String, String)>), ImportError> {
    let Resolved {
        vpc,
        cidr,
        region,
        found,
        families,
        enis,
        rules,
        assocs,
    } = r;
    let multi: Vec<&Assoc> = assocs
        .iter()
        .filter(|a| a.mode == Mode::MultiBinded)
        .collect();
    let mut quota = 10usize;
    for a in &multi {
        let n = multi.iter().filter(|b| b.eni == a.eni).count();
        quota = quota.max(n);
    }

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
    let _ = writeln!(s, "region = {}", q(region));
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
    for (i, family) in d.instances.iter().zip(families.iter()) {
        let _ = writeln!(s);
        let _ = writeln!(s, "# from {}", comment(&i.origin));
        let _ = writeln!(s, "[[instance]]");
        let _ = writeln!(s, "id = {}", q(&i.id));
        let _ = writeln!(s, "family = {}", q(family));
        let _ = writeln!(s, "dhcp = true");
        origins.push((format!("instance {}", i.id), i.origin.clone()));
    }
    for e in enis {
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
    Ok((s, origins))
}
