//! The model's invariants, checked after any sequence of operations (by tests and the fuzz
//! targets).

use std::net::Ipv4Addr;

use super::sg::{self, GroupType, InnerAccess, Peer};
use super::{Cloud, EniKind, Mode};

impl Cloud {
    /// The model's invariants, whatever operations ran: an EIP bound at most once, to a live
    /// ENI; the quotas of each mode; a cut-through ENI with one EIP and nothing else; a NAT
    /// mapping to a private IP the ENI owns, one EIP per private IP; a primary ENI with one EIP
    /// in NAT mode; a multi-EIP ENI attached only to a listed family; the indexes agree with
    /// the public fields; the security groups' invariants ([`Cloud::check_group_invariants`]).
    /// Returns the first one broken.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_group_invariants()?;
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
            if self.index.eip_assoc.get(a.eip) != Some(k)
                || !self.index.eni_assocs.of(a.eni).any(|x| x == k)
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
                    .any(|ip| self.index.addrs.get(&ip).is_some_and(|o| o.is_eni(i)))
                {
                    return Err(format!("deleted ENI {} still owns an address", e.id));
                }
            } else {
                for ip in e.private_ips() {
                    if !self.index.addrs.get(&ip).is_some_and(|o| o.is_eni(i)) {
                        return Err(format!("{ip} of ENI {} is not indexed to it", e.id));
                    }
                }
            }
        }
        Ok(())
    }

    /// The security groups' invariants: group ids unique; every rule's priority 1..100, no
    /// ports for ICMP, GRE and all, a port range `from <= to` from 1, its peer group defined;
    /// every live ENI's groups defined, listed once, all of one type, at most 1,000 rules over
    /// them.
    pub fn check_group_invariants(&self) -> Result<(), String> {
        for (n, g) in self.security_groups.iter().enumerate() {
            if self.security_groups[..n].iter().any(|x| x.id == g.id) {
                return Err(format!("security group id {} is used twice", g.id));
            }
            if g.kind == GroupType::Enterprise && g.inner_access != InnerAccess::Drop {
                return Err(format!("enterprise group {} has inner access", g.id));
            }
            for (k, r) in g.rules.iter().enumerate() {
                let bad = !(1..=100).contains(&r.priority)
                    || match r.ports {
                        Some((from, to)) => !r.protocol.has_ports() || from == 0 || from > to,
                        None => false,
                    }
                    || matches!(&r.peer, Peer::Group(p) if self.security_group_index(p).is_none());
                if bad {
                    return Err(format!(
                        "security group {} rule {} is not valid: {r}",
                        g.id,
                        k + 1
                    ));
                }
            }
        }
        for e in self.enis.iter().filter(|e| !e.deleted) {
            sg::check_eni_groups(&self.security_groups, &e.id, &e.security_groups)
                .map_err(|broken| broken.to_string())?;
        }
        Ok(())
    }
}
