//! The guest's view of a cloud: what each instance's OS shows, its routes, and each EIP with its
//! binding and billing (`eipsim check`, and the state a scenario ends in).

use std::fmt::Write as _;

use super::sg::{self, Direction, GroupType, InnerAccess};
use super::{Association, Cloud, Eni, EniKind, InstanceType, Mode, regions};

/// What each instance's OS shows per NIC (`ip addr`), its routes, and which EIPs reach it
/// (`eipsim check`, and the state a scenario ends in):
/// - NAT: the private IPs only; the EIP is reachable at the gateway, not shown in the OS;
/// - BINDED: the EIP, learnt by DHCP (seed 001 step 6: DHCP on, then restart the NIC);
/// - MULTI_BINDED: the private IPs plus the EIPs configured statically, each with the gateway
///   and mask DescribeEipGatewayInfo gives (seed 003 steps 8 and 9);
/// - routes: the default route leaves through the primary ENI; a BINDED ENI adds its own
///   default route with a lower priority (seed 001 step 6); multi-EIP and NAT secondary NICs
///   add none (`DEFROUTE=no`, seed 004 step 4);
/// - each ENI's security groups: per direction, the rules in the order a check meets them
///   (priority, drop before accept at equal priority, then the ENI's order of groups and each
///   group's order of rules), and the default when none matches;
/// - then each EIP with its binding and billing (seed 002's FAQ).
pub fn guest_view(cloud: &Cloud, stacks: &dyn StackLines) -> String {
    guest_view_limited(cloud, None, stacks)
}

/// What the guests' IP stacks hold, as `ip addr` and `ip route` would print it
/// ([`crate::guest::view`] reads it from the stacks).
pub trait StackLines {
    /// The address lines of attached ENI `eni` (None: no stack holds it).
    fn addresses(&self, eni: usize) -> Option<Vec<String>>;
    /// The route and rule lines of instance `inst`.
    fn routes(&self, inst: usize) -> Vec<String>;
}

/// Instances, detached ENIs and EIPs `eipsim check` lists by default; the rest are counted
/// (`check --all` lists everything).
pub const CHECK_LIST_LIMIT: usize = 50;

/// [`guest_view`] listing at most `limit` instances, detached ENIs and EIPs each, and `limit`
/// security-group rules per ENI and direction; a line says how many more there are.
pub fn guest_view_limited(cloud: &Cloud, limit: Option<usize>, stacks: &dyn StackLines) -> String {
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
        match nic.and(stacks.addresses(idx)) {
            Some(lines) => {
                for l in lines {
                    let _ = writeln!(s, "    {l}");
                }
            }
            None => console_addresses(s, cloud, idx, e, &assocs),
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
        groups_view(s, cloud, e, limit);
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
        for r in stacks.routes(ii) {
            let _ = writeln!(s, "  {r}");
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

/// ENI `e`'s security groups (none: nothing is written): each group with its type, the inner
/// access of its basic groups, then per direction the rules in evaluation order
/// ([`sg::effective_rules`]), at most `limit` of them, and the default.
fn groups_view(s: &mut String, cloud: &Cloud, e: &Eni, limit: usize) {
    if e.security_groups.is_empty() {
        return;
    }
    let groups: Vec<&sg::SecurityGroup> = e
        .security_groups
        .iter()
        .filter_map(|id| cloud.security_groups.iter().find(|g| &g.id == id))
        .collect();
    let names: Vec<String> = groups
        .iter()
        .map(|g| match (g.kind, g.inner_access) {
            (GroupType::Enterprise, _) => format!("{} (enterprise)", g.id),
            (GroupType::Basic, InnerAccess::Accept) => {
                format!("{} (basic, inner access accept)", g.id)
            }
            (GroupType::Basic, InnerAccess::Drop) => format!("{} (basic, inner access drop)", g.id),
        })
        .collect();
    let _ = writeln!(s, "    security groups {}", names.join(", "));
    for g in groups
        .iter()
        .filter(|g| g.kind == GroupType::Basic && g.inner_access == InnerAccess::Accept)
    {
        let _ = writeln!(
            s,
            "    members of {} reach each other over the VPC (inner access accept), before any rule",
            g.id
        );
    }
    let kind = groups.first().map_or(GroupType::Basic, |g| g.kind);
    for direction in [Direction::Ingress, Direction::Egress] {
        let rules = sg::effective_rules(&cloud.security_groups, &e.security_groups, direction);
        let default = sg::default_policy(kind, direction).name();
        if rules.is_empty() {
            let _ = writeln!(s, "    {}: no rule; default: {default}", direction.name());
            continue;
        }
        let _ = writeln!(
            s,
            "    {}, in evaluation order (first match decides; default: {default}):",
            direction.name()
        );
        for (n, r) in rules.iter().enumerate().take(limit) {
            let _ = writeln!(
                s,
                "      {:>3}. {} rule {}: {}",
                n + 1,
                r.group.id,
                r.position,
                r.rule
            );
        }
        if rules.len() > limit {
            let _ = writeln!(
                s,
                "      ... and {} more rule(s) (eipsim check --all lists them)",
                rules.len() - limit
            );
        }
    }
}

/// The addresses of a detached ENI as the console lists them (no OS holds them).
fn console_addresses(s: &mut String, cloud: &Cloud, _idx: usize, e: &Eni, assocs: &[&Association]) {
    let prefix = cloud.vpc.cidr.prefix;
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
}
