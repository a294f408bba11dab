//! Clouds made again from a cloud through the console's operations: [`Cloud::rebuilt`] with other
//! bindings (the mode advisor's variants) and [`Cloud::excerpt`], the part of a cloud a few ENIs
//! live in.

use std::net::Ipv4Addr;

use super::rules::{ModelError, RuleCode, err};
use super::{Cloud, Eni, InstanceType, Mode};

impl Cloud {
    /// The same cloud with other associations (`(eip, eni, mode, private_ip)`, indexes into this
    /// cloud) and other `static_eips` per ENI, built again through the console's operations in
    /// the order the seeds prescribe, so that every rule is checked. The mode advisor's
    /// variants are made this way.
    pub fn rebuilt(
        &self,
        associations: &[(usize, usize, Mode, Option<Ipv4Addr>, InstanceType)],
        static_eips: &[(usize, Option<Vec<Ipv4Addr>>)],
    ) -> Result<Cloud, ModelError> {
        let mut c = Cloud::new(self.region.clone(), self.account.clone(), self.vpc.clone())?;
        for i in &self.instances {
            c.create_instance(i.clone())?;
        }
        // Tombstones stay tombstones, at the same indexes, owning nothing.
        for e in &self.enis {
            if e.deleted {
                c.push_tombstone(e);
                continue;
            }
            c.create_network_interface(Eni {
                instance: None,
                static_eips: None,
                ..e.clone()
            })?;
        }
        for e in &self.eips {
            if e.released {
                c.index.retired.insert(e.id.clone());
                c.index.eip_assoc.push(None);
                c.eips.push(e.clone());
                continue;
            }
            c.allocate_eip_address(e.clone())?;
        }
        let named = |eip: usize, eni: usize, mode: Mode| {
            let subject = format!(
                "{} -> {} ({})",
                self.eips[eip].id,
                self.enis[eni].id,
                mode.api_name()
            );
            move |mut e: ModelError| {
                e.subject = subject;
                e
            }
        };
        for &(eip, eni, mode, private_ip, kind) in associations {
            if kind == InstanceType::EcsInstance {
                continue; // bound to the instance once its primary ENI is attached
            }
            c.associate_eip_address(eip, eni, mode, private_ip)
                .map_err(|mut e| {
                    e.subject = format!(
                        "{} -> {} ({})",
                        self.eips[eip].id,
                        self.enis[eni].id,
                        mode.api_name()
                    );
                    e
                })?;
        }
        for (i, e) in self.enis.iter().enumerate() {
            let s = static_eips
                .iter()
                .find(|(x, _)| *x == i)
                .map_or_else(|| e.static_eips.clone(), |(_, s)| s.clone());
            if let Some(s) = s {
                c.set_static_eips(i, s)?;
            }
        }
        for (i, e) in self.enis.iter().enumerate() {
            if let Some(inst) = e.instance {
                c.attach_network_interface(i, inst)?;
            }
        }
        for &(eip, eni, mode, _, kind) in associations {
            if kind == InstanceType::EcsInstance {
                let inst = self.enis[eni].instance.ok_or_else(|| {
                    err(
                        RuleCode::InstanceNoPrimaryEni,
                        self.enis[eni].id.clone(),
                        "an EcsInstance binding needs the primary ENI attached",
                    )
                })?;
                c.associate_eip_address_to_instance(eip, inst)
                    .map_err(named(eip, eni, mode))?;
            }
        }
        c.alg = self.alg;
        c.security_groups = self.security_groups.clone();
        Ok(c)
    }

    /// The part of this cloud that ENIs `enis` live in: the instances they are attached to,
    /// those ENIs (in the order given) and the EIPs `eips` (in the order given), with the same
    /// ids, MACs, addresses, guest settings and attachments, and no association. Binding them
    /// again with [`Cloud::rebuilt`] of the excerpt runs the same console operations, with the
    /// same refusals, as rebuilding the whole cloud, as long as the rest of the cloud is
    /// unchanged (the binding rules of an ENI see only itself, its instance and that
    /// instance's ENIs, and its EIPs): the mode advisor validates a variant this way at the
    /// cost of a few operations instead of the whole topology's. Deleted ENIs and released
    /// EIPs stay tombstones. Indexes into the excerpt follow `enis` and `eips`.
    pub fn excerpt(&self, enis: &[usize], eips: &[usize]) -> Result<Cloud, ModelError> {
        let mut c = Cloud::new(self.region.clone(), self.account.clone(), self.vpc.clone())?;
        let mut instances: Vec<usize> = Vec::new();
        for &i in enis {
            let e = &self.enis[i];
            let inst = match e.instance {
                Some(g) => match instances.iter().position(|x| *x == g) {
                    Some(l) => Some(l),
                    None => {
                        c.create_instance(self.instances[g].clone())?;
                        instances.push(g);
                        Some(instances.len() - 1)
                    }
                },
                None => None,
            };
            if e.deleted {
                c.push_tombstone(e);
                continue;
            }
            c.create_network_interface(Eni {
                instance: None,
                ..e.clone()
            })?;
            // Recorded, not attached: `rebuilt` attaches it after binding, as the whole
            // cloud's rebuild does.
            let k = c.enis.len() - 1;
            c.enis[k].instance = inst;
        }
        for &j in eips {
            let e = &self.eips[j];
            if e.released {
                c.index.retired.insert(e.id.clone());
                c.index.eip_assoc.push(None);
                c.eips.push(e.clone());
                continue;
            }
            c.allocate_eip_address(e.clone())?;
        }
        c.alg = self.alg;
        Ok(c)
    }
}
