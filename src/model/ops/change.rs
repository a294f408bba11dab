//! The operations that change a cloud's resources after they exist: DetachNetworkInterface,
//! DeleteNetworkInterface, AssignPrivateIpAddresses, UnassignPrivateIpAddresses,
//! UnassociateEipAddress and ReleaseEipAddress.

use std::net::Ipv4Addr;

use super::super::index::Owner;
use super::super::rules::{ModelError, RuleCode, err};
use super::super::{Charge, Cloud, EniKind, Mode};

impl Cloud {
    /// DetachNetworkInterface: detach a secondary ENI from its instance. Its private IPs and
    /// EIPs stay with it (seed 002: moving an ENI moves its public and private IPs).
    pub fn detach_network_interface(&mut self, eni: usize) -> Result<(), ModelError> {
        let subject = format!("ENI {}", self.enis[eni].id);
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        if e.kind == EniKind::Primary {
            return Err(err(
                RuleCode::PrimaryEniDetach,
                subject,
                "a primary ENI belongs to the instance it was created with and cannot be detached",
            ));
        }
        if e.instance.is_none() {
            return Err(err(
                RuleCode::EniNotAttached,
                subject,
                "the ENI is not attached",
            ));
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
                RuleCode::PrimaryEniDelete,
                subject,
                "a primary ENI is deleted with its instance, not on its own",
            ));
        }
        if let Some(i) = e.instance {
            return Err(err(
                RuleCode::EniAttached,
                subject,
                format!(
                    "the ENI is attached to instance {}: detach it first",
                    self.instances[i].id
                ),
            ));
        }
        if let Some(a) = self.associations_of(eni).next() {
            return Err(err(
                RuleCode::EniHasEip,
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
        self.index.enis.remove(&self.enis, eni);
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
                RuleCode::BindedNoPrivateIp,
                subject,
                "the ENI has no private network (cut-through mode, seed 001): it takes no private IP",
            ));
        }
        if ips.is_empty() {
            return Err(err(RuleCode::NoAddress, subject, "no private IP given"));
        }
        for (n, ip) in ips.iter().enumerate() {
            if !self.vpc.cidr.contains(*ip) {
                return Err(err(
                    RuleCode::AddressOutsideVpc,
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
                    RuleCode::DuplicateAddress,
                    subject,
                    format!("private IP {ip} is already {owner}'s"),
                ));
            }
            if ips[..n].contains(ip) {
                return Err(err(
                    RuleCode::DuplicateAddress,
                    subject,
                    format!("private IP {ip} is listed twice"),
                ));
            }
        }
        for ip in ips {
            self.index.addrs.insert(*ip, Owner::eni(eni));
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
                    RuleCode::PrimaryIpUnassign,
                    subject,
                    format!("{ip} is the ENI's primary private IP, which stays with it"),
                ));
            }
            if !e.secondary_ips.contains(ip) {
                return Err(err(
                    RuleCode::PrivateIpNotOwned,
                    subject,
                    format!("{ip} is not a secondary private IP of the ENI"),
                ));
            }
            if let Some(a) = self
                .associations_of(eni)
                .find(|a| a.mode == Mode::Nat && a.private_ip == Some(*ip))
            {
                return Err(err(
                    RuleCode::PrivateIpHasEip,
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
        let Some(i) = self.index.eip_assoc.get(eip) else {
            return Err(err(
                RuleCode::EipNotAssociated,
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
        if let Some(i) = self.index.eip_assoc.get(eip) {
            let a = self.associations[i].clone();
            if self.eips[eip].charge == Charge::PayByTraffic {
                return Err(err(
                    RuleCode::EipInUse,
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
        self.index.eips.remove(&self.eips, eip);
        self.index.retired.insert(id);
        self.eips[eip].released = true;
        Ok(())
    }
}
