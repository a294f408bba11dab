//! What to change for a drop: one line per drop reason, naming the topology's entries and the
//! console operation that would let the frame through.

use std::net::Ipv4Addr;

use super::walk::{Entry, Facts, in_vpc, lookup};
use crate::dataplane::{Outcome, Port, Verdict};
use crate::model::{Cloud, Mode};

/// What to change for a drop (one line).
pub(super) fn fix_for(cloud: &Cloud, v: &Verdict, f: &Facts, ingress: Port) -> String {
    let Outcome::Drop(r) = v.outcome else {
        return String::new();
    };
    let eip_of = |a: Ipv4Addr| {
        cloud
            .eips
            .iter()
            .position(|e| !e.released && e.address == a)
    };
    let sender = match ingress {
        Port::Eni(x) => Some(x as usize),
        Port::Internet => None,
    };
    // Matched on the stable name, so that reasons added later fall through to the default.
    match r.as_str() {
        "eip-not-associated" => match eip_of(f.dst) {
            Some(i) => format!(
                "associate {} with an ENI (AssociateEipAddress), or send to an associated EIP",
                cloud.eips[i].id
            ),
            None => "associate the EIP with an ENI (AssociateEipAddress)".into(),
        },
        "unknown-destination" if sender.is_none() && in_vpc(cloud, f.dst) => {
            match cloud.associations.iter().find(|a| {
                a.mode == Mode::Nat && a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip) == f.dst
            }) {
                Some(a) => format!(
                    "{} is private and no Internet frame reaches it; it is reachable as its NAT EIP {} ({}): send to that (a capture taken on the instance shows it addressed to {}: replay it with --capture-point instance)",
                    f.dst, cloud.eips[a.eip].address, cloud.eips[a.eip].id, f.dst
                ),
                None => format!(
                    "{} is private: bind an EIP in NAT mode to it (AssociateEipAddress mode = \"NAT\", private_ip = \"{}\") and send to that EIP",
                    f.dst, f.dst
                ),
            }
        }
        "unknown-destination" if sender.is_none() => format!(
            "{} is not an EIP of this topology: send to an associated EIP, or allocate one (AllocateEipAddress) and associate it (AssociateEipAddress)",
            f.dst
        ),
        "unknown-destination" => format!(
            "no ENI owns {}: assign it to an ENI (AssignPrivateIpAddresses) or send to an existing private IP",
            f.dst
        ),
        "eni-detached" => {
            // The sender when it is detached, else the destination's ENI.
            let x = match sender {
                Some(x) if cloud.enis[x].instance.is_none() => Some(x),
                _ => match lookup(cloud, f.dst) {
                    Entry::Private { eni, .. }
                    | Entry::Nat { eni, .. }
                    | Entry::Binded { eni, .. }
                    | Entry::Multi { eni, .. } => Some(eni),
                    _ => v.eni.map(|x| x as usize),
                },
            };
            let e = x.map_or_else(|| "the ENI".to_string(), |x| cloud.enis[x].id.clone());
            format!("attach {e} to an instance (AttachNetworkInterface)")
        }
        "source-check" => {
            let x = sender.unwrap_or(0);
            let owned = owned_addresses(cloud, x);
            if owned.is_empty() {
                format!(
                    "{} owns no address it may send from: assign a private IP or bind an EIP",
                    cloud.enis[x].id
                )
            } else {
                format!(
                    "send from an address {} owns: {}",
                    cloud.enis[x].id,
                    owned.join(", ")
                )
            }
        }
        "no-public-address" => {
            let x = sender.unwrap_or(0);
            let with: Vec<String> = cloud
                .enis
                .get(x)
                .into_iter()
                .flat_map(|e| e.private_ips())
                .filter_map(|p| match lookup(cloud, p) {
                    Entry::Private { nat: Some(i), .. } => {
                        Some(format!("{p} (NAT EIP {})", cloud.eips[i].id))
                    }
                    _ => None,
                })
                .collect();
            let free = cloud
                .eips
                .iter()
                .enumerate()
                .find(|(i, e)| !e.released && cloud.association_of_eip(*i).is_none())
                .map(|(_, e)| format!("; {} {} is unassociated", e.id, e.address))
                .unwrap_or_default();
            let mut s = format!(
                "bind an EIP in NAT mode to {} (AssociateEipAddress mode = \"NAT\", private_ip = \"{}\"{free})",
                f.src, f.src
            );
            if !with.is_empty() {
                s.push_str(&format!(", or send from {}", with.join(" or ")));
            }
            s
        }
        "private-network-unavailable" => {
            let cut: Vec<String> = [sender, lookup_private_owner(cloud, f.dst)]
                .into_iter()
                .flatten()
                .filter(|x| cloud.private_network_unavailable(*x))
                .map(|x| cloud.enis[x].id.clone())
                .collect();
            format!(
                "{} has no private network (cut-through): reach it through its EIP, or bind its EIP in NAT or MULTI_BINDED mode instead (UnassociateEipAddress, then AssociateEipAddress)",
                cut.join(" and ")
            )
        }
        "guest-not-configured" => match lookup(cloud, f.dst) {
            Entry::Binded { eni, .. } => {
                let inst = cloud.enis[eni]
                    .instance
                    .map_or("the instance", |i| cloud.instances[i].id.as_str());
                format!(
                    "enable DHCP on {inst}'s secondary NICs (dhcp = true) so that its OS takes {} (cut-through)",
                    f.dst
                )
            }
            Entry::Multi { eni, .. } => match cloud.enis[eni].instance.map(|i| &cloud.instances[i])
            {
                Some(i) if !i.dhcp => format!(
                    "enable DHCP on {}'s secondary NICs (dhcp = true): multi-EIP mode takes effect only with DHCP",
                    i.id
                ),
                _ => format!(
                    "configure {} in the OS of {}'s instance (add it to static_eips; DescribeEipGatewayInfo gives the gateway and mask)",
                    f.dst, cloud.enis[eni].id
                ),
            },
            _ => "configure the address in the guest OS".into(),
        },
        "tcp-25-restricted" => "the provider blocks outbound TCP port 25 by default: ask it to lift the block for the account (then set [account] tcp25_unblocked = true), or send mail through port 465 or 587".into(),
        "ttl-expired" => format!(
            "the frame reached the gateway with TTL {}: send it with a TTL above 1",
            f.ttl
        ),
        other => format!("dropped {other}: see the drop reasons in the documentation"),
    }
}

fn lookup_private_owner(cloud: &Cloud, a: Ipv4Addr) -> Option<usize> {
    match lookup(cloud, a) {
        Entry::Private { eni, .. } => Some(eni),
        _ => None,
    }
}

/// The addresses ENI `x`'s guest may send from.
fn owned_addresses(cloud: &Cloud, x: usize) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    if !cloud.private_network_unavailable(x) {
        v.extend(cloud.enis[x].private_ips().map(|p| p.to_string()));
    }
    for a in cloud.associations_of(x) {
        if a.mode != Mode::Nat {
            v.push(format!(
                "{} ({} {})",
                cloud.eips[a.eip].address,
                a.mode.api_name(),
                cloud.eips[a.eip].id
            ));
        }
    }
    v
}
