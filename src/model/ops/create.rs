//! The operations that create resources: CreateInstance, CreateNetworkInterface and
//! AllocateEipAddress, with the address and MAC rules they check.

use std::net::Ipv4Addr;

use super::super::index::Owner;
use super::super::rules::{ModelError, RuleCode, err};
use super::super::{Cloud, Eip, Eni, EniKind, Instance, Mac};

/// The block a non-public address belongs to, when it is one no EIP can have: "this network"
/// (0/8), loopback (127/8), link-local (169.254/16), multicast (224/4), reserved (240/4).
fn non_public_range(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    match o[0] {
        0 => Some("0.0.0.0/8 (this network)"),
        127 => Some("127.0.0.0/8 (loopback)"),
        169 if o[1] == 254 => Some("169.254.0.0/16 (link-local)"),
        224..=239 => Some("224.0.0.0/4 (multicast)"),
        240..=255 => Some("240.0.0.0/4 (reserved)"),
        _ => None,
    }
}

impl Cloud {
    /// Why `ip` cannot be a private IP of an ENI although it lies in the VPC CIDR: it is the
    /// CIDR's network or broadcast address (for a /30 or wider block).
    pub(crate) fn vpc_reserved(&self, ip: Ipv4Addr, subject: &str) -> Result<(), ModelError> {
        let c = self.vpc.cidr;
        if c.prefix > 30 || !c.contains(ip) {
            return Ok(());
        }
        let which = if ip == c.network {
            "network"
        } else if u32::from(ip) == u32::from(c.network) | !c.mask() {
            "broadcast"
        } else {
            return Ok(());
        };
        Err(err(
            RuleCode::VpcReservedAddress,
            subject,
            format!("private IP {ip} is the {which} address of the VPC CIDR {c}"),
        ))
    }

    /// Why `mac` cannot be an ENI's: the gateway's or the Internet next hop's MAC, or a group
    /// (broadcast or multicast) address.
    fn eni_mac_rule(&self, mac: Mac, subject: &str) -> Result<(), ModelError> {
        for (field, m) in [
            ("gateway_mac", self.vpc.gateway_mac),
            ("internet_mac", self.vpc.internet_mac),
        ] {
            if mac == m {
                return Err(err(
                    RuleCode::EniMacReserved,
                    subject,
                    format!(
                        "MAC {mac} is the VPC's {field}: frames could not be told from the gateway's"
                    ),
                ));
            }
        }
        if mac.0[0] & 1 != 0 {
            let what = if mac.0 == [0xff; 6] {
                "the broadcast address"
            } else {
                "a multicast address (the I/G bit of its first byte is set)"
            };
            return Err(err(
                RuleCode::EniMacGroup,
                subject,
                format!("MAC {mac} is {what}: an ENI's MAC is a unicast address"),
            ));
        }
        Ok(())
    }

    /// CreateInstance (the instance side of the topology; not a rule-bearing operation).
    pub fn create_instance(&mut self, inst: Instance) -> Result<(), ModelError> {
        let subject = format!("instance {}", inst.id);
        if self.id_taken(&inst.id) {
            return Err(err(RuleCode::DuplicateId, subject, "the id is used twice"));
        }
        self.instances.push(inst);
        self.index
            .instances
            .insert(&self.instances, self.instances.len() - 1);
        Ok(())
    }

    /// CreateNetworkInterface: a new ENI in the VPC, created detached; when `eni.instance` is set
    /// it is then attached to that instance index (AttachNetworkInterface).
    pub fn create_network_interface(&mut self, eni: Eni) -> Result<(), ModelError> {
        let subject = format!("ENI {}", eni.id);
        if self.id_taken(&eni.id) {
            return Err(err(RuleCode::DuplicateId, subject, "the id is used twice"));
        }
        // The id names an output file (`<eni-id>.pcap`) and an `--ingress` value.
        let safe = !eni.id.is_empty()
            && !eni.id.starts_with('.')
            && eni
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !safe {
            return Err(err(
                RuleCode::InvalidId,
                format!("ENI {:?}", eni.id),
                "an ENI id is letters, digits, '-', '_' and '.', not starting with '.' (it names the file <eni-id>.pcap)",
            ));
        }
        if eni.id == "internet" || eni.id == "dropped" || eni.id == "report" {
            return Err(err(
                RuleCode::ReservedId,
                subject,
                "`internet`, `dropped` and `report` name the replay's other outputs",
            ));
        }
        self.eni_mac_rule(eni.mac, &subject)?;
        if let Some(other) = self.index.macs.get(&eni.mac) {
            return Err(err(
                RuleCode::DuplicateMac,
                subject,
                format!(
                    "MAC {} is already ENI {}'s",
                    eni.mac, self.enis[*other as usize].id
                ),
            ));
        }
        let mut seen: Vec<Ipv4Addr> = Vec::new();
        for ip in eni.private_ips() {
            if !self.vpc.cidr.contains(ip) {
                return Err(err(
                    RuleCode::AddressOutsideVpc,
                    subject,
                    format!("private IP {ip} is outside the VPC CIDR {}", self.vpc.cidr),
                ));
            }
            self.vpc_reserved(ip, &subject)?;
            if let Some(owner) = self.address_owner(ip) {
                return Err(err(
                    RuleCode::DuplicateAddress,
                    subject,
                    format!("private IP {ip} is already {owner}'s"),
                ));
            }
            if seen.contains(&ip) {
                return Err(err(
                    RuleCode::DuplicateAddress,
                    subject,
                    format!("private IP {ip} is listed twice"),
                ));
            }
            seen.push(ip);
        }
        if let Some(inst) = eni.instance {
            // Checked before anything is recorded: a refused attach leaves no ENI behind.
            if inst >= self.instances.len() {
                return Err(err(RuleCode::UnknownId, subject, "no such instance"));
            }
            if eni.kind == EniKind::Primary
                && let Some(other) = self.index.primary(inst)
            {
                return Err(err(
                    RuleCode::InstanceOnePrimaryEni,
                    subject,
                    format!(
                        "instance {} already has primary ENI {}",
                        self.instances[inst].id, self.enis[other].id
                    ),
                ));
            }
        }
        let idx = self.enis.len();
        for ip in eni.private_ips() {
            self.index.addrs.insert(ip, Owner::eni(idx));
        }
        self.index.macs.insert(eni.mac, idx as u32);
        self.index.eni_assocs.push_eni();
        let attach = eni.instance;
        self.enis.push(Eni {
            instance: None,
            ..eni
        });
        self.index.enis.insert(&self.enis, idx);
        if let Some(inst) = attach {
            self.attach_network_interface(idx, inst)?;
        }
        Ok(())
    }

    /// AllocateEipAddress: a new, unbound EIP.
    pub fn allocate_eip_address(&mut self, eip: Eip) -> Result<(), ModelError> {
        let subject = format!("EIP {}", eip.id);
        if self.id_taken(&eip.id) {
            return Err(err(RuleCode::DuplicateId, subject, "the id is used twice"));
        }
        if self.vpc.cidr.contains(eip.address) {
            return Err(err(
                RuleCode::EipInsideVpc,
                subject,
                format!(
                    "address {} lies inside the VPC CIDR {}: an EIP is a public address",
                    eip.address, self.vpc.cidr
                ),
            ));
        }
        if let Some(range) = non_public_range(eip.address) {
            return Err(err(
                RuleCode::InvalidAddress,
                subject,
                format!("address {} is in {range}: it cannot be an EIP", eip.address),
            ));
        }
        if let Some(owner) = self.address_owner(eip.address) {
            return Err(err(
                RuleCode::DuplicateAddress,
                subject,
                format!("address {} is already {owner}'s", eip.address),
            ));
        }
        let idx = self.eips.len();
        self.index.addrs.insert(eip.address, Owner::eip(idx));
        self.index.eip_assoc.push(None);
        self.eips.push(eip);
        self.index.eips.insert(&self.eips, idx);
        Ok(())
    }
}
