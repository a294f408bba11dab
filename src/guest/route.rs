//! The guest's routing: which NIC a packet the guest originates leaves by.
//!
//! As the provider's images set it up: the primary NIC's default route (metric 0); a
//! cut-through NIC's default route, which the system adds with a lower priority (metric 100,
//! seed 001 step 6); each NIC's connected blocks; the topology's `routes`; and its source
//! rules (`from ADDR lookup ENI`, seed 004), tried before the main table. A reply to a
//! connection the guest accepted does not come here: it leaves by the NIC the request came in
//! on.

use std::fmt;
use std::net::Ipv4Addr;

use crate::model::Ipv4Cidr;
use crate::model::guest_cfg::GuestConfig;

use super::plan::NicPlan;

/// Where a route comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A NIC's own block (`proto kernel scope link`).
    Connected,
    /// The primary NIC's default route.
    PrimaryDefault,
    /// A cut-through NIC's default route, lower priority than the primary's.
    CutThroughDefault,
    /// A `routes` entry of the topology.
    Topology,
}

/// One route of the main table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination block.
    pub dest: Ipv4Cidr,
    /// The NIC, by its position in the instance's NICs.
    pub nic: usize,
    /// Lower wins among routes of one prefix length.
    pub metric: u32,
    /// Where it comes from.
    pub origin: Origin,
}

/// An instance's routing: the main table and the source rules.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The main table.
    pub routes: Vec<Route>,
    /// Source rules: traffic from the address leaves by the NIC (by position).
    pub rules: Vec<(Ipv4Addr, usize)>,
    names: Vec<String>,
}

/// The route a packet took, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taken {
    /// The NIC, by position.
    pub nic: usize,
    /// The rule or route that chose it, as `ip rule` / `ip route` would print it.
    pub why: String,
}

impl Table {
    /// The table of an instance with NICs `nics` (whose addresses are `addrs`, per NIC, as
    /// configured now; `eni_ids` their ENIs' ids) and guest configuration `cfg`. Routes and rules naming an ENI that is
    /// not one of the NICs are left out.
    pub fn new(
        nics: &[NicPlan],
        addrs: &[Vec<(Ipv4Addr, u8)>],
        cfg: &GuestConfig,
        eni_ids: &[String],
    ) -> Table {
        let mut t = Table {
            names: nics.iter().map(|n| n.name.clone()).collect(),
            ..Table::default()
        };
        let default = Ipv4Cidr {
            network: Ipv4Addr::UNSPECIFIED,
            prefix: 0,
        };
        for (n, nic) in nics.iter().enumerate() {
            if nic.primary {
                t.routes.push(Route {
                    dest: default,
                    nic: n,
                    metric: 0,
                    origin: Origin::PrimaryDefault,
                });
            } else if nic.binded {
                t.routes.push(Route {
                    dest: default,
                    nic: n,
                    metric: 100,
                    origin: Origin::CutThroughDefault,
                });
            }
            for &(a, len) in addrs.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                let mask = if len == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(len))
                };
                let dest = Ipv4Cidr {
                    network: Ipv4Addr::from(u32::from(a) & mask),
                    prefix: len,
                };
                if !t.routes.iter().any(|r| r.dest == dest && r.nic == n) {
                    t.routes.push(Route {
                        dest,
                        nic: n,
                        metric: 0,
                        origin: Origin::Connected,
                    });
                }
            }
        }
        let nic_of = |id: &str| eni_ids.iter().position(|e| e == id);
        for r in &cfg.routes {
            if let Some(n) = nic_of(&r.eni) {
                t.routes.push(Route {
                    dest: r.dest,
                    nic: n,
                    metric: r.metric,
                    origin: Origin::Topology,
                });
            }
        }
        for r in &cfg.rules {
            if let Some(n) = nic_of(&r.eni) {
                t.rules.push((r.from, n));
            }
        }
        t
    }

    /// The NIC a packet from `src` (when the application bound one) to `dst` leaves by: the
    /// first source rule for `src`, else the main table's longest matching prefix, lowest
    /// metric, first NIC. None: no route (network unreachable).
    pub fn lookup(&self, dst: Ipv4Addr, src: Option<Ipv4Addr>) -> Option<Taken> {
        if let Some(s) = src
            && let Some(&(_, nic)) = self.rules.iter().find(|(a, _)| *a == s)
        {
            return Some(Taken {
                nic,
                why: format!("from {s} lookup {} (source rule)", self.names[nic]),
            });
        }
        let r = self
            .routes
            .iter()
            .filter(|r| r.dest.contains(dst))
            .min_by_key(|r| (std::cmp::Reverse(r.dest.prefix), r.metric, r.nic))?;
        Some(Taken {
            nic: r.nic,
            why: self.show(r),
        })
    }

    /// A route as `ip route` would print it, with where it comes from.
    pub fn show(&self, r: &Route) -> String {
        let dest = if r.dest.prefix == 0 {
            "default".to_string()
        } else {
            r.dest.to_string()
        };
        let what = match r.origin {
            Origin::Connected => "proto kernel scope link",
            Origin::PrimaryDefault => "(primary NIC)",
            Origin::CutThroughDefault => {
                "(cut-through NIC: added by the system, lower priority than the primary NIC's)"
            }
            Origin::Topology => "(topology)",
        };
        format!(
            "{dest} dev {} metric {} {what}",
            self.names[r.nic], r.metric
        )
    }

    /// The source rules as `ip rule` would print them.
    pub fn show_rules(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|(a, n)| format!("from {a} lookup {}", self.names[*n]))
            .collect()
    }
}

impl fmt::Display for Taken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.why)
    }
}
