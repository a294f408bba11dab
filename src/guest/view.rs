//! The guest view read from the stacks: what `ip addr` and `ip route` would print in each
//! instance (`eipsim check`, the end of a scenario), and the `guests` object of `report.json`
//! (`replay --respond`).

use serde_json::{Value, json};

use crate::model::{Cloud, StackLines};

use super::Guests;
use super::plan::Addressing;

/// The guests of `cloud` booted and settled at time 0 (DHCP exchanges done), for a view.
pub fn settled(cloud: &Cloud) -> Guests {
    settled_first(cloud, usize::MAX)
}

/// [`settled`] for the first `limit` instances only (a view that lists no more).
pub fn settled_first(cloud: &Cloud, limit: usize) -> Guests {
    let mut g = Guests::first(cloud, limit);
    g.settle(0);
    g
}

/// What each instance's OS shows, read from its booted stacks (`eipsim check`): see
/// [`crate::model::guest_view`].
pub fn guest_view(cloud: &Cloud) -> String {
    guest_view_limited(cloud, None)
}

/// [`guest_view`] listing at most `limit` of each kind (`eipsim check` without `--all`).
pub fn guest_view_limited(cloud: &Cloud, limit: Option<usize>) -> String {
    let guests = settled_first(cloud, limit.unwrap_or(usize::MAX));
    crate::model::guest_view_limited(
        cloud,
        limit,
        &Lines {
            guests: &guests,
            cloud,
        },
    )
}

/// Address lines of one NIC, from its stack.
fn nic_lines(g: &Guests, cloud: &Cloud, eni: usize) -> Option<Vec<String>> {
    let (_, nic) = g.nic_of(eni)?;
    let mut out = Vec::new();
    let Some(nic) = nic else {
        out.push("no stack: the MAC is not a unicast address".to_string());
        return Some(out);
    };
    let held = nic.addrs();
    let eip_id = |ip: std::net::Ipv4Addr| {
        cloud
            .eips
            .iter()
            .find(|e| e.address == ip)
            .map_or(String::new(), |e| e.id.clone())
    };
    match &nic.plan.addressing {
        Addressing::Static(addrs) => {
            for (ip, len, note) in addrs {
                let on = held.iter().any(|(a, _)| a == ip);
                let gw = nic.plan.eip_gateways.iter().find(|g| g.0 == *ip);
                let mut extra = note.clone();
                if let Some(&(_, l, gw)) = gw {
                    let mask = std::net::Ipv4Addr::from(if l == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(l))
                    });
                    extra = format!("{extra}, gateway {gw} mask {mask}");
                }
                if !on {
                    extra = format!(
                        "{}not held: smoltcp's interface holds 8 addresses",
                        if extra.is_empty() { "" } else { "; " }
                    );
                }
                if extra.is_empty() {
                    out.push(format!("inet {ip}/{len}"));
                } else {
                    out.push(format!("inet {ip}/{len}  ({extra})"));
                }
            }
            // Multi-EIP EIPs the OS did not configure.
            let inst = cloud.enis[eni].instance;
            let dhcp = inst.is_some_and(|i| cloud.instances[i].dhcp);
            for a in cloud
                .associations_of(eni)
                .filter(|a| a.mode == crate::model::Mode::MultiBinded)
            {
                let ip = cloud.eips[a.eip].address;
                if addrs.iter().any(|x| x.0 == ip) {
                    continue;
                }
                let why = if dhcp {
                    "not in static_eips: not configured in the OS"
                } else {
                    "DHCP is off: multi-EIP mode does not take effect (seed 003)"
                };
                out.push(format!(
                    "multi-EIP {} {ip}: {why}",
                    cloud.eips[a.eip].id
                ));
            }
        }
        Addressing::Dhcp(lease) => match nic.held {
            Some(h) => out.push(format!(
                "inet {}/{}  (cut-through EIP {}, DHCP lease from the VPC: router {}, {} s)",
                h.address,
                h.prefix,
                eip_id(h.address),
                h.router.map_or("none".to_string(), |r| r.to_string()),
                lease.lease_s
            )),
            None => out.push(format!(
                "no address yet: DHCP asks for cut-through EIP {} {}",
                eip_id(lease.address),
                lease.address
            )),
        },
        Addressing::DhcpOff(ip) => out.push(format!(
            "no address: cut-through EIP {} {ip} is given by DHCP, which is off (seed 001 step 6: turn DHCP on and restart the NIC)",
            eip_id(*ip)
        )),
        Addressing::Lost => out.push(
            "no address: the subscription EIP bound in cut-through mode was released while attached; detach the ENI and bind an EIP in cut-through mode again (seed 001)"
                .to_string(),
        ),
    }
    Some(out)
}

/// The guests of a cloud with that cloud, as [`StackLines`].
pub struct Lines<'a> {
    /// The guests.
    pub guests: &'a Guests,
    /// Their cloud.
    pub cloud: &'a Cloud,
}

impl StackLines for Lines<'_> {
    fn addresses(&self, eni: usize) -> Option<Vec<String>> {
        nic_lines(self.guests, self.cloud, eni)
    }

    fn routes(&self, inst: usize) -> Vec<String> {
        let Some(g) = self.guests.guests().iter().find(|g| g.instance == inst) else {
            return Vec::new();
        };
        let cfg = g.config();
        let services: Vec<String> = cfg.services.iter().map(ToString::to_string).collect();
        let mut out = vec![format!(
            "services {} (answered with replay --respond)",
            if services.is_empty() {
                "none".to_string()
            } else {
                services.join(", ")
            }
        )];
        out.extend(
            cfg.connect
                .iter()
                .map(|c| format!("opens {c} (when a replay --respond starts)")),
        );
        out.extend(
            g.table
                .routes
                .iter()
                .map(|r| format!("route {}", g.table.show(r))),
        );
        out.extend(
            g.table
                .show_rules()
                .into_iter()
                .map(|r| format!("rule {r}")),
        );
        out
    }
}

/// The `guests` object of `report.json`: per instance its NICs (addresses held, lease), routes,
/// rules, the connections it opened and the way each left; and what the provider's side of
/// the links did.
pub fn to_json(g: &Guests, cloud: &Cloud) -> Value {
    let lines = Lines { guests: g, cloud };
    let instances: Vec<Value> = g
        .guests()
        .iter()
        .map(|guest| {
            let nics: Vec<Value> = guest
                .plans
                .iter()
                .zip(&guest.nics)
                .map(|(p, n)| {
                    json!({
                        "name": p.name,
                        "eni": cloud.enis[p.eni].id,
                        "addresses": n.as_ref().map(|n| n.addrs().iter().map(|(a, l)| format!("{a}/{l}")).collect::<Vec<_>>()).unwrap_or_default(),
                        "lease": n.as_ref().and_then(|n| n.held).map(|h| json!({
                            "address": h.address.to_string(),
                            "prefix": h.prefix,
                            "router": h.router.map(|r| r.to_string()),
                        })),
                        "leases": n.as_ref().map_or(0, |n| n.leases),
                        "connections_accepted": n.as_ref().map_or(0, |n| n.accepted()),
                        "view": lines.addresses(p.eni).unwrap_or_default(),
                    })
                })
                .collect();
            let opened: Vec<Value> = guest
                .opened
                .iter()
                .map(|o| {
                    json!({
                        "connect": o.connect.to_string(),
                        "nic": o.left.as_ref().map(|l| l.0.clone()),
                        "source": o.left.as_ref().map(|l| l.1.to_string()),
                        "route": o.route,
                    })
                })
                .collect();
            json!({
                "instance": cloud.instances[guest.instance].id,
                "nics": nics,
                "routes": lines.routes(guest.instance),
                "opened": opened,
            })
        })
        .collect();
    let c = g.counts;
    json!({
        "instances": instances,
        "delivered": c.delivered,
        "sent": c.sent,
        "arp_answered": c.arp_answered,
        "dhcp_received": c.dhcp_received,
        "dhcp_answered": c.dhcp_answered,
    })
}
