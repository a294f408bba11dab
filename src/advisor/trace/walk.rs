//! The walk: the topology's tables read in the order the core checks them, one hop per check,
//! each naming the entry that decided it.

use std::net::Ipv4Addr;

use super::Hop;
use crate::dataplane::{Action, DropReason, Outcome, Port};
use crate::model::{Cloud, Mac, Mode};

/// What an address is to the gateway (the core's table, read from the model).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Entry {
    /// Not in the tables.
    None,
    /// A private IP of ENI `eni`, with the NAT-mode EIP (index) mapped to it.
    Private { eni: usize, nat: Option<usize> },
    /// An EIP without association.
    Unassociated { eip: usize },
    /// A NAT-mode EIP mapped to `private` on ENI `eni`.
    Nat {
        eip: usize,
        eni: usize,
        private: Ipv4Addr,
    },
    /// A cut-through EIP of ENI `eni`.
    Binded { eip: usize, eni: usize },
    /// A multi-EIP of ENI `eni`; `configured`: in the guest's static_eips (or all).
    Multi {
        eip: usize,
        eni: usize,
        configured: bool,
    },
}

pub(super) fn lookup(cloud: &Cloud, addr: Ipv4Addr) -> Entry {
    let mut entry = Entry::None;
    for (i, e) in cloud.enis.iter().enumerate().filter(|(_, e)| !e.deleted) {
        if e.private_ips().any(|p| p == addr) {
            entry = Entry::Private { eni: i, nat: None };
        }
    }
    for (i, eip) in cloud.eips.iter().enumerate() {
        if eip.released || eip.address != addr {
            continue;
        }
        entry = match cloud.association_of_eip(i) {
            None => Entry::Unassociated { eip: i },
            Some(a) => match a.mode {
                Mode::Nat => Entry::Nat {
                    eip: i,
                    eni: a.eni,
                    private: a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip),
                },
                Mode::Binded => Entry::Binded { eip: i, eni: a.eni },
                Mode::MultiBinded => Entry::Multi {
                    eip: i,
                    eni: a.eni,
                    configured: cloud.enis[a.eni]
                        .static_eips
                        .as_ref()
                        .is_none_or(|s| s.contains(&addr)),
                },
            },
        };
    }
    if let Entry::Private { eni, .. } = entry {
        let nat = cloud.associations.iter().find(|a| {
            a.mode == Mode::Nat
                && a.eni == eni
                && a.private_ip.unwrap_or(cloud.enis[a.eni].primary_ip) == addr
        });
        entry = Entry::Private {
            eni,
            nat: nat.map(|a| a.eip),
        };
    }
    entry
}

pub(super) fn in_vpc(cloud: &Cloud, a: Ipv4Addr) -> bool {
    u32::from(a) & cloud.vpc.cidr.mask() == u32::from(cloud.vpc.cidr.network)
}

/// The facts of a frame the walk needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Facts {
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    pub(super) ttl: u8,
    pub(super) src_mac: Mac,
    /// The destination port of a TCP frame.
    pub(super) tcp_dport: Option<u16>,
}

/// The walk: the hops, the outcome it concludes, and the fix for a drop.
pub(super) struct Walk<'a> {
    pub(super) cloud: &'a Cloud,
    pub(super) hops: Vec<Hop>,
}

impl Walk<'_> {
    fn pass(&mut self, step: &'static str, detail: String) {
        self.hops.push(Hop {
            step,
            result: "pass",
            detail,
        });
    }

    fn drop(&mut self, step: &'static str, detail: String, r: DropReason) -> Outcome {
        self.hops.push(Hop {
            step,
            result: "drop",
            detail: format!("{detail} -> {}", r.as_str()),
        });
        Outcome::Drop(r)
    }

    fn eip_name(&self, i: usize) -> String {
        format!("{} {}", self.cloud.eips[i].id, self.cloud.eips[i].address)
    }

    fn eni_name(&self, i: usize) -> &str {
        &self.cloud.enis[i].id
    }

    fn attached(&self, eni: usize) -> Option<&str> {
        self.cloud.enis[eni]
            .instance
            .map(|i| self.cloud.instances[i].id.as_str())
    }

    fn entry_text(&self, addr: Ipv4Addr, e: Entry) -> String {
        match e {
            Entry::None => format!("{addr}: no entry"),
            Entry::Private { eni, nat } => format!(
                "{addr}: private IP of {}{}",
                self.eni_name(eni),
                nat.map(|x| format!(", NAT EIP {}", self.eip_name(x)))
                    .unwrap_or_default()
            ),
            Entry::Unassociated { eip } => {
                format!("{addr}: EIP {}, not associated", self.cloud.eips[eip].id)
            }
            Entry::Nat { eip, eni, private } => format!(
                "{addr}: EIP {}, association NAT -> {} {private}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
            Entry::Binded { eip, eni } => format!(
                "{addr}: EIP {}, association BINDED -> {}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
            Entry::Multi { eip, eni, .. } => format!(
                "{addr}: EIP {}, association MULTI_BINDED -> {}",
                self.cloud.eips[eip].id,
                self.eni_name(eni)
            ),
        }
    }

    /// The checks of a frame arriving from the Internet (or a hairpin) at `dst`: the ENI it
    /// goes to and the action, or the drop. TTL and guest checks are the caller's (they come
    /// after a hairpin's no-public-address).
    fn inbound(&mut self, dst: Ipv4Addr, step: &'static str) -> Result<(usize, Entry), Outcome> {
        let e = lookup(self.cloud, dst);
        let text = self.entry_text(dst, e);
        let eni = match e {
            Entry::None => {
                return Err(self.drop(
                    step,
                    format!("{dst}: not an EIP of this topology"),
                    DropReason::UnknownDestination,
                ));
            }
            Entry::Private { .. } => {
                return Err(self.drop(
                    step,
                    format!("{text}: a private address is not reachable from the Internet"),
                    DropReason::UnknownDestination,
                ));
            }
            Entry::Unassociated { .. } => {
                return Err(self.drop(step, text, DropReason::EipNotAssociated));
            }
            Entry::Nat { eni, .. } | Entry::Binded { eni, .. } | Entry::Multi { eni, .. } => eni,
        };
        self.pass(step, text);
        Ok((eni, e))
    }

    /// The receiving ENI is attached (checked after the destination).
    fn receiver_attached(&mut self, eni: usize) -> Result<(), Outcome> {
        match self.attached(eni) {
            Some(i) => {
                let t = format!("{} attached to {i}", self.eni_name(eni));
                self.pass("eni", t);
                Ok(())
            }
            None => {
                let t = format!("{} is not attached to an instance", self.eni_name(eni));
                Err(self.drop("eni", t, DropReason::EniDetached))
            }
        }
    }

    fn ttl(&mut self, ttl: u8) -> Result<(), Outcome> {
        if ttl <= 1 {
            return Err(self.drop(
                "ttl",
                format!("TTL {ttl} on arrival at the gateway (must be > 1)"),
                DropReason::TtlExpired,
            ));
        }
        self.pass(
            "ttl",
            format!("TTL {ttl} > 1: the gateway decrements it to {}", ttl - 1),
        );
        Ok(())
    }

    /// The guest's configuration for an inbound EIP (cut-through: DHCP; multi-EIP: configured).
    fn guest(&mut self, dst: Ipv4Addr, e: Entry) -> Result<(), Outcome> {
        match e {
            Entry::Binded { eni, .. } => {
                let inst = self.cloud.enis[eni]
                    .instance
                    .map(|i| &self.cloud.instances[i]);
                match inst {
                    Some(i) if i.dhcp => {
                        self.pass(
                            "guest",
                            format!("{} runs DHCP: its OS configures {dst} (cut-through)", i.id),
                        );
                        Ok(())
                    }
                    _ => Err(self.drop(
                        "guest",
                        format!(
                            "{} has no DHCP on its secondary NICs: cut-through does not take effect",
                            inst.map_or("the instance", |i| i.id.as_str())
                        ),
                        DropReason::GuestNotConfigured,
                    )),
                }
            }
            Entry::Multi {
                eni, configured, ..
            } => {
                let inst = self.cloud.enis[eni]
                    .instance
                    .map(|i| &self.cloud.instances[i]);
                if inst.is_some_and(|i| !i.dhcp) {
                    return Err(self.drop(
                        "guest",
                        format!(
                            "{} has no DHCP on its secondary NICs: multi-EIP mode does not take effect",
                            inst.map_or("the instance", |i| i.id.as_str())
                        ),
                        DropReason::GuestNotConfigured,
                    ));
                }
                if configured {
                    self.pass(
                        "guest",
                        format!(
                            "{dst} is configured in the OS of {}'s instance (static_eips)",
                            self.eni_name(eni)
                        ),
                    );
                    Ok(())
                } else {
                    let t = format!(
                        "{dst} is not in {}'s static_eips: the OS does not answer for it",
                        self.eni_name(eni)
                    );
                    Err(self.drop("guest", t, DropReason::GuestNotConfigured))
                }
            }
            _ => Ok(()),
        }
    }

    /// The walk of a frame from the Internet.
    pub(super) fn walk_internet(&mut self, f: &Facts) -> Outcome {
        let (eni, e) = match self.inbound(f.dst, "destination") {
            Ok(x) => x,
            Err(o) => return o,
        };
        if let Err(o) = self.receiver_attached(eni) {
            return o;
        }
        if let Err(o) = self.ttl(f.ttl) {
            return o;
        }
        if let Err(o) = self.guest(f.dst, e) {
            return o;
        }
        let action = if matches!(e, Entry::Nat { .. }) {
            Action::Dnat
        } else {
            Action::PassThrough
        };
        Outcome::Forward(Port::Eni(eni as u32), action)
    }

    /// The walk of a frame from ENI `x`.
    pub(super) fn walk_eni(&mut self, x: usize, f: &Facts) -> Outcome {
        let cloud = self.cloud;
        let name = cloud.enis[x].id.clone();
        match self.attached(x) {
            Some(i) => {
                let t = format!("{name} attached to {i}");
                self.pass("eni", t);
            }
            None => {
                return self.drop(
                    "eni",
                    format!("{name} is not attached to an instance: it sends nothing"),
                    DropReason::EniDetached,
                );
            }
        }
        let no_private = cloud.private_network_unavailable(x);
        let s = lookup(cloud, f.src);
        // The source: a private IP of x (with its NAT EIP), or an EIP of x.
        let src_nat: Option<Option<usize>> = match s {
            Entry::Private { eni, nat } if eni == x && !no_private => {
                let t = format!(
                    "{} owned by {name} (private IP{})",
                    f.src,
                    nat.map(|i| format!("; NAT EIP {}", self.eip_name(i)))
                        .unwrap_or_default()
                );
                self.pass("source-check", t);
                Some(nat)
            }
            Entry::Binded { eni, eip } | Entry::Multi { eni, eip, .. } if eni == x => {
                let mode = if matches!(s, Entry::Binded { .. }) {
                    "BINDED"
                } else {
                    "MULTI_BINDED"
                };
                let t = format!(
                    "{} owned by {name} (its {mode} EIP {})",
                    f.src, cloud.eips[eip].id
                );
                self.pass("source-check", t);
                None
            }
            Entry::Private { eni, .. } if eni == x => {
                let why = if cloud.is_binded(x) {
                    "in cut-through (BINDED) mode it has no private IP"
                } else {
                    "it lost its private network (a subscription EIP bound in cut-through mode was released)"
                };
                return self.drop(
                    "source-check",
                    format!("{} is a private IP of {name}, but {why}", f.src),
                    DropReason::SourceCheck,
                );
            }
            other => {
                let owner = match other {
                    Entry::Private { eni, .. } => {
                        format!("it is a private IP of {}", cloud.enis[eni].id)
                    }
                    Entry::Binded { eni, eip } | Entry::Multi { eni, eip, .. } => {
                        format!("it is EIP {} of {}", cloud.eips[eip].id, cloud.enis[eni].id)
                    }
                    Entry::Nat { eip, eni, private } => format!(
                        "it is EIP {}, NAT mode: {}'s guest sends from {private}",
                        cloud.eips[eip].id, cloud.enis[eni].id
                    ),
                    Entry::Unassociated { eip } => {
                        format!("it is EIP {}, not associated", cloud.eips[eip].id)
                    }
                    Entry::None => "no ENI owns it".to_string(),
                };
                return self.drop(
                    "source-check",
                    format!("{} is not an address of {name}: {owner}", f.src),
                    DropReason::SourceCheck,
                );
            }
        };
        if in_vpc(cloud, f.dst) {
            let d = lookup(cloud, f.dst);
            let Entry::Private { eni: peer, .. } = d else {
                return self.drop(
                    "destination",
                    format!(
                        "{} is inside the VPC CIDR {} and no ENI owns it",
                        f.dst, cloud.vpc.cidr
                    ),
                    DropReason::UnknownDestination,
                );
            };
            let peer_name = cloud.enis[peer].id.clone();
            if no_private || cloud.private_network_unavailable(peer) {
                let who = if no_private { &name } else { &peer_name };
                return self.drop(
                    "destination",
                    format!(
                        "{}: intra-VPC, but {who} has no private network (cut-through)",
                        self.entry_text(f.dst, d)
                    ),
                    DropReason::PrivateNetworkUnavailable,
                );
            }
            let t = format!("{}: intra-VPC", self.entry_text(f.dst, d));
            self.pass("destination", t);
            if let Err(o) = self.receiver_attached(peer) {
                return o;
            }
            self.pass(
                "ttl",
                format!(
                    "TTL {}: intra-VPC delivery does not pass the gateway, TTL unchanged",
                    f.ttl
                ),
            );
            return Outcome::Forward(Port::Eni(peer as u32), Action::IntraVpc);
        }
        // Towards the Internet, or back in through an EIP of this VPC (hairpin).
        let d = lookup(cloud, f.dst);
        let hairpin = matches!(
            d,
            Entry::Unassociated { .. }
                | Entry::Nat { .. }
                | Entry::Binded { .. }
                | Entry::Multi { .. }
        );
        let mut inbound: Option<Result<(usize, Entry), ()>> = None;
        let mut pending_drop: Option<Hop> = None;
        if hairpin {
            match self.inbound(f.dst, "hairpin") {
                Ok((eni, e)) => {
                    let before = self.hops.len();
                    let r = self.receiver_attached(eni);
                    if r.is_err() {
                        // eni-detached of the hairpin's destination comes after no-public-address.
                        pending_drop = self.hops.pop();
                        self.hops.truncate(before);
                        inbound = Some(Err(()));
                    } else {
                        inbound = Some(Ok((eni, e)));
                    }
                }
                Err(o) => return o,
            }
        } else {
            self.pass(
                "destination",
                format!(
                    "{}: outside the VPC and not an EIP of it: towards the Internet",
                    f.dst
                ),
            );
        }
        let snat = match src_nat {
            Some(None) => {
                return self.drop(
                    "public",
                    format!(
                        "{} is a private IP of {name} with no NAT-mode EIP mapped to it",
                        f.src
                    ),
                    DropReason::NoPublicAddress,
                );
            }
            Some(Some(eip)) => {
                let t = format!(
                    "{} has NAT EIP {}: SNAT to {}",
                    f.src,
                    self.eip_name(eip),
                    cloud.eips[eip].address
                );
                self.pass("public", t);
                true
            }
            None => {
                self.pass(
                    "public",
                    format!("{} is an EIP {name}'s guest owns: sent unchanged", f.src),
                );
                false
            }
        };
        let (egress, entry) = match inbound {
            None => (Port::Internet, None),
            Some(Ok((eni, e))) => (Port::Eni(eni as u32), Some(e)),
            Some(Err(())) => {
                if let Some(h) = pending_drop {
                    self.hops.push(h);
                }
                return Outcome::Drop(DropReason::EniDetached);
            }
        };
        if entry.is_none() && f.tcp_dport == Some(25) {
            if !cloud.account.tcp25_unblocked {
                return self.drop(
                    "smtp",
                    "TCP to port 25 of an Internet address: the provider blocks it by default ([account] tcp25_unblocked is false)".into(),
                    DropReason::Tcp25Restricted,
                );
            }
            self.pass(
                "smtp",
                "TCP to port 25: the account has the provider's block lifted (tcp25_unblocked)"
                    .into(),
            );
        }
        if let Err(o) = self.ttl(f.ttl) {
            return o;
        }
        if let Some(e) = entry
            && let Err(o) = self.guest(f.dst, e)
        {
            return o;
        }
        let action = match (entry, snat) {
            (Some(_), _) => Action::Hairpin,
            (None, true) => Action::Snat,
            (None, false) => Action::PassThrough,
        };
        Outcome::Forward(egress, action)
    }
}
