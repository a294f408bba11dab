//! The operations that bind: AssociateEipAddress (to an ENI in one of the three modes, or to an
//! ECS instance), the guest's static multi-EIP configuration, and AttachNetworkInterface.

use std::net::Ipv4Addr;

use super::super::rules::{ModelError, RuleCode, err};
use super::super::{Association, Cloud, EniKind, InstanceType, Mode, regions};

impl Cloud {
    /// AssociateEipAddress with InstanceType NetworkInterface.
    pub fn associate_eip_address(
        &mut self,
        eip: usize,
        eni: usize,
        mode: Mode,
        private_ip: Option<Ipv4Addr>,
    ) -> Result<(), ModelError> {
        let subject = format!(
            "EIP {} -> ENI {} ({mode})",
            self.eips[eip].id, self.enis[eni].id
        );
        self.live_eip(eip, &subject)?;
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        if let Some(a) = self.association_of_eip(eip) {
            return Err(err(
                RuleCode::EipAssociatedTwice,
                subject,
                format!(
                    "EIP {} is already associated with ENI {}: an EIP is bound once",
                    self.eips[eip].id, self.enis[a.eni].id
                ),
            ));
        }
        if !regions::region_offers(&self.region, mode) {
            let seed = if mode == Mode::Binded {
                "seed 001"
            } else {
                "seed 003"
            };
            return Err(err(
                RuleCode::ModeNotInRegion,
                subject,
                format!(
                    "{mode} mode is not offered in region {} ({}) per {seed}'s region list",
                    self.region,
                    regions::region_name(&self.region).unwrap_or("?")
                ),
            ));
        }
        if e.private_network_lost && mode != Mode::Binded {
            return Err(err(
                RuleCode::PrivateNetworkLost,
                subject,
                "the ENI lost its private network with a released subscription EIP: detach it and bind an EIP in cut-through mode to restore it (seed 001)",
            ));
        }
        let others: Vec<&Association> = self.associations_of(eni).collect();
        match mode {
            Mode::Nat => {
                let ip = private_ip.unwrap_or(e.primary_ip);
                if e.kind == EniKind::Primary && !others.is_empty() {
                    return Err(err(
                        RuleCode::PrimaryEniOneEip,
                        subject,
                        "a primary ENI can be associated with 1 EIP (seed 002)",
                    ));
                }
                if others.iter().any(|a| a.mode == Mode::Binded) {
                    return Err(err(
                        RuleCode::BindedExclusive,
                        subject,
                        "the ENI is bound in cut-through mode, which takes no other association (seed 001: each secondary ENI can be associated with only one EIP)",
                    ));
                }
                if others.iter().any(|a| a.mode == Mode::MultiBinded) {
                    return Err(err(
                        RuleCode::MultiEipExclusive,
                        subject,
                        "the ENI is bound in multi-EIP to ENI mode; NAT and multi-EIP do not mix on one ENI",
                    ));
                }
                if !e.private_ips().any(|a| a == ip) {
                    return Err(err(
                        RuleCode::PrivateIpNotOwned,
                        subject,
                        format!("private IP {ip} is not one of the ENI's private IPs"),
                    ));
                }
                if let Some(a) = others.iter().find(|a| a.private_ip == Some(ip)) {
                    return Err(err(
                        RuleCode::OneEipPerPrivateIp,
                        subject,
                        format!(
                            "private IP {ip} is already mapped to EIP {}: each EIP maps to a separate private IP (seed 004)",
                            self.eips[a.eip].id
                        ),
                    ));
                }
                self.push_association(Association {
                    eip,
                    eni,
                    mode,
                    private_ip: Some(ip),
                    instance_type: InstanceType::NetworkInterface,
                });
            }
            Mode::Binded | Mode::MultiBinded => {
                if let Some(ip) = private_ip {
                    return Err(err(
                        RuleCode::PrivateIpNatOnly,
                        subject,
                        format!(
                            "private_ip {ip} is given, but only NAT mode maps an EIP to a private IP"
                        ),
                    ));
                }
                if e.kind == EniKind::Primary {
                    return Err(err(
                        RuleCode::PrimaryEniNatOnly,
                        subject,
                        format!(
                            "a primary ENI supports NAT mode only; {mode} needs a secondary ENI (seed 002)"
                        ),
                    ));
                }
                if e.instance.is_some() {
                    return Err(err(
                        RuleCode::EniAttached,
                        subject,
                        "the secondary ENI is attached to an instance: detach it before binding (seeds 000, 001, 003)",
                    ));
                }
                if mode == Mode::Binded {
                    if let Some(a) = others.first() {
                        let code = if a.mode == Mode::Binded {
                            RuleCode::BindedOneEip
                        } else {
                            RuleCode::BindedExclusive
                        };
                        return Err(err(
                            code,
                            subject,
                            format!(
                                "the ENI already has EIP {} ({}): in cut-through mode each secondary ENI can be associated with only one EIP (seed 001)",
                                self.eips[a.eip].id, a.mode
                            ),
                        ));
                    }
                } else {
                    if !self.account.multi_eip_authorized {
                        return Err(err(
                            RuleCode::MultiEipNotAuthorized,
                            subject,
                            "the account is not authorised for multi-EIP to ENI mode, which takes no new applications (seed 003)",
                        ));
                    }
                    if let Some(a) = others.iter().find(|a| a.mode != Mode::MultiBinded) {
                        return Err(err(
                            RuleCode::MultiEipExclusive,
                            subject,
                            format!(
                                "the ENI already has EIP {} in {} mode; multi-EIP does not mix with other modes on one ENI",
                                self.eips[a.eip].id, a.mode
                            ),
                        ));
                    }
                    if others.len() as u64 >= u64::from(self.account.multi_eip_quota) {
                        return Err(err(
                            RuleCode::MultiEipQuota,
                            subject,
                            format!(
                                "the ENI already has {} EIPs, the multi-EIP quota is {} (seed 003: at most 10, raised by ticket)",
                                others.len(),
                                self.account.multi_eip_quota
                            ),
                        ));
                    }
                }
                self.push_association(Association {
                    eip,
                    eni,
                    mode,
                    private_ip: None,
                    instance_type: InstanceType::NetworkInterface,
                });
                if mode == Mode::Binded {
                    // Seed 001's note: bound again in cut-through mode, the ENI is whole again.
                    self.enis[eni].private_network_lost = false;
                }
            }
        }
        Ok(())
    }

    /// AssociateEipAddress with InstanceType EcsInstance: NAT to the instance's primary ENI's
    /// primary private IP. Each ECS instance takes only one EIP this way (seed 004), and its
    /// primary ENI only one EIP in any way (seed 002).
    pub fn associate_eip_address_to_instance(
        &mut self,
        eip: usize,
        inst: usize,
    ) -> Result<(), ModelError> {
        let subject = format!(
            "EIP {} -> instance {} (NAT)",
            self.eips[eip].id, self.instances[inst].id
        );
        let Some(primary) = self.index.primary(inst) else {
            return Err(err(
                RuleCode::InstanceNoPrimaryEni,
                subject,
                "the instance has no primary ENI to carry the EIP",
            ));
        };
        if let Some(a) = self.associations_of(primary).next() {
            return Err(err(
                RuleCode::InstanceOneEip,
                subject,
                format!(
                    "the instance already has EIP {} on its primary ENI: each ECS instance can be associated with only one EIP (seed 004)",
                    self.eips[a.eip].id
                ),
            ));
        }
        self.associate_eip_address(eip, primary, Mode::Nat, None)
            .map_err(|mut e| {
                e.subject = subject;
                e
            })?;
        let last = self.associations.len() - 1;
        self.associations[last].instance_type = InstanceType::EcsInstance;
        Ok(())
    }

    /// Records which multi-EIP addresses the OS of ENI `eni` configured statically. Any address
    /// is accepted: the guest's configuration is not a console rule, and a topology file may
    /// list one on a NAT-mode ENI. Only the ENI's MULTI_BINDED EIPs it lists are delivered by
    /// the forwarding core.
    pub fn set_static_eips(&mut self, eni: usize, addrs: Vec<Ipv4Addr>) -> Result<(), ModelError> {
        self.enis[eni].static_eips = Some(addrs);
        Ok(())
    }

    /// A topology file's `static_eips` on an ENI bound in multi-EIP mode: each entry must be an
    /// EIP associated with that ENI (a typo would leave the EIP meant unconfigured in the
    /// guest). On other ENIs the list has no effect and is not checked.
    pub(in crate::model) fn static_eips_rule(
        &self,
        eni: usize,
        addrs: &[Ipv4Addr],
    ) -> Result<(), ModelError> {
        if !self
            .associations_of(eni)
            .any(|a| a.mode == Mode::MultiBinded)
        {
            return Ok(());
        }
        for a in addrs {
            let owned = self
                .associations_of(eni)
                .any(|x| self.eips[x.eip].address == *a);
            if !owned {
                return Err(err(
                    RuleCode::StaticEipNotOwned,
                    format!("ENI {}", self.enis[eni].id),
                    format!("static_eips lists {a}, which is not an EIP associated with this ENI"),
                ));
            }
        }
        Ok(())
    }

    /// AttachNetworkInterface: attach ENI `eni` to instance `inst`.
    pub fn attach_network_interface(&mut self, eni: usize, inst: usize) -> Result<(), ModelError> {
        let subject = format!(
            "ENI {} -> instance {}",
            self.enis[eni].id, self.instances[inst].id
        );
        self.live_eni(eni, &subject)?;
        let e = &self.enis[eni];
        let i = &self.instances[inst];
        if let Some(cur) = e.instance {
            return Err(err(
                RuleCode::EniAttached,
                subject,
                format!(
                    "the ENI is already attached to instance {}",
                    self.instances[cur].id
                ),
            ));
        }
        if e.kind == EniKind::Primary
            && let Some(other) = self.index.primary(inst)
        {
            return Err(err(
                RuleCode::InstanceOnePrimaryEni,
                subject,
                format!(
                    "the instance already has primary ENI {}",
                    self.enis[other].id
                ),
            ));
        }
        if self
            .associations_of(eni)
            .any(|a| a.mode == Mode::MultiBinded)
            && !regions::family_allows_multi_eip(&i.family)
        {
            return Err(err(
                RuleCode::MultiEipInstanceFamily,
                subject,
                format!(
                    "instance family {:?} is not in seed 003's list of families that take a multi-EIP ENI",
                    i.family
                ),
            ));
        }
        if self.enis[eni].kind == EniKind::Primary {
            self.index.set_primary(inst, eni);
        }
        self.enis[eni].instance = Some(inst);
        Ok(())
    }
}
