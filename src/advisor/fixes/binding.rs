//! The fixes that change a binding or the guest: a cut-through ENI out of cut-through mode, and
//! `guest-not-configured`'s settings.

use super::propose::{Proposer, ip, s, step};
use super::{Change, Setting};
use crate::model::Mode;
use crate::report::DroppedFlow;

impl Proposer<'_> {
    /// A cut-through ENI made multi-EIP (the OS keeps the EIP, the ENI gets its private
    /// network back): unassociate, detach, associate MULTI_BINDED, attach again (a multi-EIP
    /// binding needs the ENI detached). When multi-EIP is not possible, NAT mode.
    pub(super) fn convert(&mut self, x: usize) -> Result<(Vec<Change>, String), String> {
        let c = self.cloud;
        let e = &c.enis[x];
        if let Some(ch) = self.by_eni.get(&x) {
            return Ok((ch.clone(), format!("{} out of cut-through mode", e.id)));
        }
        let a = c
            .associations_of(x)
            .find(|a| a.mode == Mode::Binded)
            .ok_or_else(|| {
                format!(
                    "{} lost its private network with a released subscription EIP: detach it and bind an EIP in cut-through mode",
                    e.id
                )
            })?;
        let eip = &c.eips[a.eip].id;
        let inst = e.instance.map(|i| c.instances[i].id.clone());
        let mut multi = vec![step("UnassociateEipAddress", vec![("eip", s(eip))])?];
        if inst.is_some() {
            multi.push(step("DetachNetworkInterface", vec![("eni", s(&e.id))])?);
        }
        multi.push(step(
            "AssociateEipAddress",
            vec![
                ("eip", s(eip)),
                ("eni", s(&e.id)),
                ("mode", s("MULTI_BINDED")),
            ],
        )?);
        if let Some(i) = &inst {
            multi.push(step(
                "AttachNetworkInterface",
                vec![("eni", s(&e.id)), ("instance", s(i))],
            )?);
        }
        let (ch, note) = match self.applies(&multi) {
            Ok(()) => (
                multi,
                format!(
                    "{} from cut-through (BINDED) to multi-EIP (MULTI_BINDED): the guest keeps {} and the ENI its private network",
                    e.id, c.eips[a.eip].address
                ),
            ),
            Err(why) => {
                let nat = vec![
                    step("UnassociateEipAddress", vec![("eip", s(eip))])?,
                    step(
                        "AssociateEipAddress",
                        vec![("eip", s(eip)), ("eni", s(&e.id)), ("mode", s("NAT"))],
                    )?,
                ];
                self.applies(&nat)?;
                (
                    nat,
                    format!(
                        "{} from cut-through to NAT mode (multi-EIP is not possible: {why})",
                        e.id
                    ),
                )
            }
        };
        self.by_eni.insert(x, ch.clone());
        Ok((ch, note))
    }

    /// `guest-not-configured`: DHCP on the instance (cut-through, and multi-EIP without
    /// DHCP), or the multi-EIP address configured in the guest.
    pub(super) fn guest(&mut self, f: &DroppedFlow) -> Result<(Vec<Change>, String), String> {
        let c = self.cloud;
        let addrs = [f.public, Some(f.local.0), Some(f.remote.0)];
        let a = addrs
            .into_iter()
            .flatten()
            .find_map(|a| {
                let x = self.owner(ip(a))?;
                c.associations_of(x)
                    .find(|s| s.mode != Mode::Nat && c.eips[s.eip].address == ip(a))
            })
            .ok_or("no cut-through or multi-EIP address in the flow")?;
        let e = &c.enis[a.eni];
        let inst = e
            .instance
            .map(|i| &c.instances[i])
            .ok_or_else(|| format!("{} is detached", e.id))?;
        let addr = c.eips[a.eip].address;
        if !inst.dhcp {
            return Ok((
                vec![Change::Setting(Setting::Dhcp {
                    instance: inst.id.clone(),
                })],
                format!(
                    "no console operation: turn DHCP on for {}'s secondary NICs in its OS ({} mode takes effect only with it)",
                    inst.id,
                    a.mode.api_name()
                ),
            ));
        }
        Ok((
            vec![Change::Setting(Setting::StaticEip {
                eni: e.id.clone(),
                address: addr,
            })],
            format!(
                "no console operation: configure {addr} in the OS of {} on {}'s NIC (DescribeEipGatewayInfo gives its gateway and mask)",
                inst.id, e.id
            ),
        ))
    }
}
