//! The console's operations that change a cloud after it is built, each checked against the
//! seeds' rules: detach, delete, assign and unassign private IPs, release, unassociate, and the
//! read-only DescribeEipGatewayInfo and DescribeNetworkInterfaces; plus billing and the model's
//! invariants. (Create, allocate, associate and attach are in the parent module: the topology
//! loader builds its end state through them.)
//!
//! Deleted ENIs and released EIPs stay in their vectors, flagged, so that every index (the
//! forwarding tables', the output files') stays valid; they own no address, MAC or id lookup,
//! and their ids are not given out again.

use std::fmt;
use std::net::Ipv4Addr;

use serde::Serialize;

use super::{Charge, Cloud, EniKind, InstanceType, Mode, ModelError, Owner, err};

/// What DescribeEipGatewayInfo returns: what the OS needs to configure a MULTI_BINDED EIP
/// statically (seed 003, step 8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayInfo {
    /// The EIP.
    pub ip: Ipv4Addr,
    /// Its gateway.
    pub gateway: Ipv4Addr,
    /// Its subnet mask.
    pub mask: Ipv4Addr,
}

impl fmt::Display for GatewayInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ip {} gateway {} mask {}",
            self.ip, self.gateway, self.mask
        )
    }
}

/// An EIP's billing state as the seeds state it (seed 002, FAQ).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Billing {
    /// `PayByTraffic` or `Subscription`.
    pub charge: &'static str,
    /// Whether the EIP instance fee is charged.
    pub instance_fee: bool,
    /// Why.
    pub why: String,
}

impl fmt::Display for Billing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; instance fee {} ({})",
            self.charge,
            if self.instance_fee {
                "charged"
            } else {
                "not charged"
            },
            self.why
        )
    }
}

impl Cloud {
    /// The ENI, unless deleted.
    pub(super) fn live_eni(&self, eni: usize, subject: &str) -> Result<(), ModelError> {
        if self.enis[eni].deleted {
            return Err(err(
                "eni-deleted",
                subject,
                format!("ENI {} was deleted", self.enis[eni].id),
            ));
        }
        Ok(())
    }

    /// The EIP, unless released.
    pub(super) fn live_eip(&self, eip: usize, subject: &str) -> Result<(), ModelError> {
        if self.eips[eip].released {
            return Err(err(
                "eip-released",
                subject,
                format!("EIP {} was released", self.eips[eip].id),
            ));
        }
        Ok(())
    }

    /// Removes association `i` and rebuilds the association indexes.
    fn remove_association(&mut self, i: usize) {
        self.associations.remove(i);
        self.index.eip_assoc.iter_mut().for_each(|a| *a = None);
        self.index.eni_assocs.iter_mut().for_each(Vec::clear);
        for (k, a) in self.associations.iter().enumerate() {
            self.index.eip_assoc[a.eip] = Some(k);
            self.index.eni_assocs[a.eni].push(k);
        }
    }

    /// Whether ENI `eni` has no private network: bound in cut-through mode, or left without it
    /// by a released subscription EIP (seed 001's note).
    pub fn private_network_unavailable(&self, eni: usize) -> bool {
        self.is_binded(eni) || self.enis[eni].private_network_lost
    }

    /// DetachNetworkInterface: detach a secondary ENI from its instance. Its private IPs and
    /// EIPs stay with it (seed 002: moving an ENI moves its public and private IPs).
    pub fn detach_network_interface(&mut self, eni: usize) -> Result<(), ModelError> {
        let subject = format!("ENI {}", self.enis[eni].id);
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        if e.kind == EniKind::Primary {
            return Err(err(
                "primary-eni-detach",
                subject,
                "a primary ENI belongs to the instance it was created with and cannot be detached",
            ));
        }
        if e.instance.is_none() {
            return Err(err("eni-not-attached", subject, "the ENI is not attached"));
        }
        self.enis[eni].instance = None;
        Ok(())
    }

    /// DeleteNetworkInterface: a detached secondary ENI without EIPs.
    pub fn delete_network_interface(&mut self, eni: usize) -> Result<(), ModelError> {
        let subject = format!("ENI {}", self.enis[eni].id);
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        if e.kind == EniKind::Primary {
            return Err(err(
                "primary-eni-delete",
                subject,
                "a primary ENI is deleted with its instance, not on its own",
            ));
        }
        if let Some(i) = e.instance {
            return Err(err(
                "eni-attached",
                subject,
                format!(
                    "the ENI is attached to instance {}: detach it first",
                    self.instances[i].id
                ),
            ));
        }
        if let Some(a) = self.associations_of(eni).next() {
            return Err(err(
                "eni-has-eip",
                subject,
                format!(
                    "EIP {} is associated with the ENI: unassociate it first",
                    self.eips[a.eip].id
                ),
            ));
        }
        let ips: Vec<Ipv4Addr> = e.private_ips().collect();
        for ip in ips {
            self.index.addrs.remove(&ip);
        }
        let (mac, id) = (e.mac, e.id.clone());
        self.index.macs.remove(&mac);
        self.index.enis.remove(&id);
        self.index.retired.insert(id);
        self.enis[eni].deleted = true;
        Ok(())
    }

    /// AssignPrivateIpAddresses: more secondary private IPs on an ENI (seed 004, step 1).
    pub fn assign_private_ip_addresses(
        &mut self,
        eni: usize,
        ips: &[Ipv4Addr],
    ) -> Result<(), ModelError> {
        let subject = format!("ENI {}", self.enis[eni].id);
        self.live_eni(eni, &subject)?;
        if self.private_network_unavailable(eni) {
            return Err(err(
                "binded-no-private-ip",
                subject,
                "the ENI has no private network (cut-through mode, seed 001): it takes no private IP",
            ));
        }
        if ips.is_empty() {
            return Err(err("no-address", subject, "no private IP given"));
        }
        for (n, ip) in ips.iter().enumerate() {
            if !self.vpc.cidr.contains(*ip) {
                return Err(err(
                    "address-outside-vpc",
                    subject,
                    format!(
                        "private IP {ip} is outside the VPC CIDR {} (seed 004: the private IPv4 CIDR blocks)",
                        self.vpc.cidr
                    ),
                ));
            }
            self.vpc_reserved(*ip, &subject)?;
            if let Some(owner) = self.address_owner(*ip) {
                return Err(err(
                    "duplicate-address",
                    subject,
                    format!("private IP {ip} is already {owner}'s"),
                ));
            }
            if ips[..n].contains(ip) {
                return Err(err(
                    "duplicate-address",
                    subject,
                    format!("private IP {ip} is listed twice"),
                ));
            }
        }
        for ip in ips {
            self.index.addrs.insert(*ip, Owner::Eni(eni));
            self.enis[eni].secondary_ips.push(*ip);
        }
        Ok(())
    }

    /// UnassignPrivateIpAddresses: secondary private IPs taken off an ENI. A private IP that a
    /// NAT EIP maps to keeps it until the EIP is unassociated (seed 004: each EIP maps to a
    /// separate private IP).
    pub fn unassign_private_ip_addresses(
        &mut self,
        eni: usize,
        ips: &[Ipv4Addr],
    ) -> Result<(), ModelError> {
        let subject = format!("ENI {}", self.enis[eni].id);
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        for ip in ips {
            if *ip == e.primary_ip {
                return Err(err(
                    "primary-ip-unassign",
                    subject,
                    format!("{ip} is the ENI's primary private IP, which stays with it"),
                ));
            }
            if !e.secondary_ips.contains(ip) {
                return Err(err(
                    "private-ip-not-owned",
                    subject,
                    format!("{ip} is not a secondary private IP of the ENI"),
                ));
            }
            if let Some(a) = self
                .associations_of(eni)
                .find(|a| a.mode == Mode::Nat && a.private_ip == Some(*ip))
            {
                return Err(err(
                    "private-ip-has-eip",
                    subject,
                    format!(
                        "NAT EIP {} maps to {ip}: unassociate it first (seed 004)",
                        self.eips[a.eip].id
                    ),
                ));
            }
        }
        for ip in ips {
            self.index.addrs.remove(ip);
            self.enis[eni].secondary_ips.retain(|x| x != ip);
        }
        Ok(())
    }

    /// UnassociateEipAddress: the EIP is unbound. A cut-through ENI gets its private IP back.
    pub fn unassociate_eip_address(&mut self, eip: usize) -> Result<(), ModelError> {
        let subject = format!("EIP {}", self.eips[eip].id);
        self.live_eip(eip, &subject)?;
        let Some(i) = self.index.eip_assoc[eip] else {
            return Err(err(
                "eip-not-associated",
                subject,
                "the EIP is not associated",
            ));
        };
        self.remove_association(i);
        Ok(())
    }

    /// ReleaseEipAddress. A pay-by-traffic EIP must be unassociated first. A subscription EIP
    /// is released when its subscription ends, associated or not; when it was bound in
    /// cut-through mode to an attached ENI, that ENI has no private network until it is
    /// detached and bound again in cut-through mode (seed 001's note).
    pub fn release_eip_address(&mut self, eip: usize) -> Result<(), ModelError> {
        let subject = format!("EIP {}", self.eips[eip].id);
        self.live_eip(eip, &subject)?;
        if let Some(i) = self.index.eip_assoc[eip] {
            let a = self.associations[i].clone();
            if self.eips[eip].charge == Charge::PayByTraffic {
                return Err(err(
                    "eip-in-use",
                    subject,
                    format!(
                        "the pay-by-traffic EIP is associated with ENI {}: unassociate it before releasing it",
                        self.enis[a.eni].id
                    ),
                ));
            }
            if a.mode == Mode::Binded && self.enis[a.eni].instance.is_some() {
                self.enis[a.eni].private_network_lost = true;
            }
            self.remove_association(i);
        }
        let (address, id) = (self.eips[eip].address, self.eips[eip].id.clone());
        self.index.addrs.remove(&address);
        self.index.eips.remove(&id);
        self.index.retired.insert(id);
        self.eips[eip].released = true;
        Ok(())
    }

    /// DescribeEipGatewayInfo: the gateway and mask the OS needs for a MULTI_BINDED EIP (seed
    /// 003, steps 8 and 9).
    pub fn describe_eip_gateway_info(&self, eip: usize) -> Result<GatewayInfo, ModelError> {
        let e = &self.eips[eip];
        let subject = format!("EIP {}", e.id);
        self.live_eip(eip, &subject)?;
        match self.association_of_eip(eip) {
            Some(a) if a.mode == Mode::MultiBinded => Ok(self.gateway_info(eip)),
            _ => Err(err(
                "not-multi-binded",
                subject,
                "only an EIP associated in multi-EIP to ENI mode has a gateway for the OS (seed 003)",
            )),
        }
    }

    /// The gateway and mask of an EIP (see [`super::Eip::gateway`]).
    pub(super) fn gateway_info(&self, eip: usize) -> GatewayInfo {
        let e = &self.eips[eip];
        let mask = e.mask.unwrap_or(Ipv4Addr::new(255, 255, 255, 0));
        let net = u32::from(e.address) & u32::from(mask);
        let first = Ipv4Addr::from(net | 1);
        let last = Ipv4Addr::from((net | !u32::from(mask)) - 1);
        let gateway = e
            .gateway
            .unwrap_or(if first == e.address { last } else { first });
        GatewayInfo {
            ip: e.address,
            gateway,
            mask,
        }
    }

    /// DescribeNetworkInterfaces for one ENI: its kind, instance, private IPs (none while it
    /// has no private network), EIPs with their modes, and state.
    pub fn describe_network_interface(&self, eni: usize) -> Result<String, ModelError> {
        use std::fmt::Write as _;
        let e = &self.enis[eni];
        let subject = format!("ENI {}", e.id);
        self.live_eni(eni, &subject)?;
        let mut s = format!(
            "{} {} {} {}",
            e.id,
            match e.kind {
                EniKind::Primary => "primary",
                EniKind::Secondary => "secondary",
            },
            e.mac,
            match e.instance {
                Some(i) => format!("attached to {}", self.instances[i].id),
                None => "detached".into(),
            }
        );
        if self.private_network_unavailable(eni) {
            let why = if self.is_binded(eni) {
                "cut-through"
            } else {
                "lost with a released subscription EIP (seed 001)"
            };
            let _ = write!(s, "; private IPs: none ({why})");
        } else {
            let ips: Vec<String> = e.private_ips().map(|i| i.to_string()).collect();
            let _ = write!(s, "; private IPs: {}", ips.join(", "));
        }
        let eips: Vec<String> = self
            .associations_of(eni)
            .map(|a| {
                let ip = self.eips[a.eip].address;
                match a.mode {
                    Mode::Nat => format!(
                        "{} {ip} NAT -> {}",
                        self.eips[a.eip].id,
                        a.private_ip.unwrap_or(e.primary_ip)
                    ),
                    m => format!("{} {ip} {}", self.eips[a.eip].id, m.api_name()),
                }
            })
            .collect();
        let _ = write!(
            s,
            "; EIPs: {}",
            if eips.is_empty() {
                "none".into()
            } else {
                eips.join(", ")
            }
        );
        Ok(s)
    }

    /// The billing state of an EIP: the instance fee is charged unless the EIP is associated
    /// with an ECS instance; associated with an ENI, it is charged (seed 002, FAQ).
    pub fn billing(&self, eip: usize) -> Billing {
        let e = &self.eips[eip];
        let charge = match e.charge {
            Charge::PayByTraffic => "PayByTraffic",
            Charge::Subscription => "Subscription",
        };
        let (instance_fee, why) = if e.released {
            (false, "released".to_string())
        } else {
            match self.association_of_eip(eip) {
                Some(a) if a.instance_type == InstanceType::EcsInstance => (
                    false,
                    "bound to an ECS instance: the one case without it, seed 002".to_string(),
                ),
                Some(_) => (true, "bound to an ENI, seed 002".to_string()),
                None => (true, "not bound".to_string()),
            }
        };
        Billing {
            charge,
            instance_fee,
            why,
        }
    }

    /// The model's invariants, whatever operations ran: an EIP bound at most once, to a live
    /// ENI; the quotas of each mode; a cut-through ENI with one EIP and nothing else; a NAT
    /// mapping to a private IP the ENI owns, one EIP per private IP; a primary ENI with one EIP
    /// in NAT mode; a multi-EIP ENI attached only to a listed family; the indexes agree with
    /// the public fields. Returns the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        let mut bound = vec![0u32; self.eips.len()];
        for (k, a) in self.associations.iter().enumerate() {
            let (eip, eni) = (&self.eips[a.eip], &self.enis[a.eni]);
            bound[a.eip] += 1;
            if eip.released {
                return Err(format!("released EIP {} is associated", eip.id));
            }
            if eni.deleted {
                return Err(format!("EIP {} is bound to deleted ENI {}", eip.id, eni.id));
            }
            if self.index.eip_assoc[a.eip] != Some(k) || !self.index.eni_assocs[a.eni].contains(&k)
            {
                return Err(format!(
                    "the association index disagrees for EIP {}",
                    eip.id
                ));
            }
            if a.mode == Mode::Nat {
                let ip = a.private_ip.unwrap_or(eni.primary_ip);
                if !eni.private_ips().any(|p| p == ip) {
                    return Err(format!("NAT EIP {} maps to {ip}, not {}'s", eip.id, eni.id));
                }
            } else if eni.kind == EniKind::Primary {
                return Err(format!("primary ENI {} is bound in {}", eni.id, a.mode));
            }
        }
        if let Some(i) = bound.iter().position(|n| *n > 1) {
            return Err(format!(
                "EIP {} is bound {} times",
                self.eips[i].id, bound[i]
            ));
        }
        for (i, e) in self.enis.iter().enumerate() {
            let assocs: Vec<_> = self.associations_of(i).collect();
            let count = |m: Mode| assocs.iter().filter(|a| a.mode == m).count();
            let (nat, binded, multi) = (
                count(Mode::Nat),
                count(Mode::Binded),
                count(Mode::MultiBinded),
            );
            if binded > 0 && assocs.len() > 1 {
                return Err(format!(
                    "cut-through ENI {} has {} EIPs",
                    e.id,
                    assocs.len()
                ));
            }
            if multi > 0 && nat > 0 {
                return Err(format!("ENI {} mixes NAT and multi-EIP", e.id));
            }
            if multi as u64 > u64::from(self.account.multi_eip_quota) {
                return Err(format!("ENI {} exceeds the multi-EIP quota", e.id));
            }
            if e.kind == EniKind::Primary && assocs.len() > 1 {
                return Err(format!("primary ENI {} has {} EIPs", e.id, assocs.len()));
            }
            let mut privates: Vec<Ipv4Addr> = assocs
                .iter()
                .filter(|a| a.mode == Mode::Nat)
                .map(|a| a.private_ip.unwrap_or(e.primary_ip))
                .collect();
            let n = privates.len();
            privates.sort();
            privates.dedup();
            if privates.len() != n {
                return Err(format!("two NAT EIPs map to one private IP of {}", e.id));
            }
            if multi > 0
                && let Some(inst) = e.instance
                && !super::regions::family_allows_multi_eip(&self.instances[inst].family)
            {
                return Err(format!("multi-EIP ENI {} on an unlisted family", e.id));
            }
            if e.deleted {
                if !assocs.is_empty() || e.instance.is_some() {
                    return Err(format!("deleted ENI {} still bound or attached", e.id));
                }
                if e.private_ips()
                    .any(|ip| matches!(self.index.addrs.get(&ip), Some(Owner::Eni(x)) if *x == i))
                {
                    return Err(format!("deleted ENI {} still owns an address", e.id));
                }
            } else {
                for ip in e.private_ips() {
                    if !matches!(self.index.addrs.get(&ip), Some(Owner::Eni(x)) if *x == i) {
                        return Err(format!("{ip} of ENI {} is not indexed to it", e.id));
                    }
                }
            }
        }
        Ok(())
    }
}
