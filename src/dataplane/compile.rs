//! Compiling the tables from a cloud, patching them for one ENI, and checking or comparing
//! them.

use std::net::Ipv4Addr;

use super::{AddrEntry, AddrKind, Dataplane, EniEntry, FlatMap, PREFETCH_ABOVE, mac_filter_bit};
use crate::dataplane::{CapturePoint, IngressHint};
use crate::model::{Association, Cloud, Mode};

/// The entry of an EIP with no association.
const UNASSOCIATED: AddrEntry = AddrEntry {
    kind: AddrKind::EipUnassociated,
    configured: false,
    eni: 0,
    other: 0,
};

/// The entry of a private IP of ENI `eni` (its NAT-mode EIP is filled in by the association).
fn private_entry(eni: u32) -> AddrEntry {
    AddrEntry {
        kind: AddrKind::Private,
        configured: true,
        eni,
        other: 0,
    }
}

/// The ENI entry of `cloud`'s ENI `i`.
fn eni_entry(cloud: &Cloud, i: usize) -> EniEntry {
    let e = &cloud.enis[i];
    EniEntry {
        mac: e.mac.0,
        attached: e.instance.is_some(),
        // No private network: cut-through, or lost with a released subscription EIP.
        binded: cloud.private_network_unavailable(i),
        dhcp: e.instance.is_some_and(|x| cloud.instances[x].dhcp),
    }
}

/// The EIP (host order) of association `a` of `cloud` and its entry, naming the ENI `eni` (its
/// index in the tables). A NAT entry's `other` is the private IP it maps to.
fn association_entry(cloud: &Cloud, a: &Association, eni: u32) -> (u32, AddrEntry) {
    let eip = u32::from(cloud.eips[a.eip].address);
    let e = &cloud.enis[a.eni];
    let entry = match a.mode {
        Mode::Nat => AddrEntry {
            kind: AddrKind::EipNat,
            configured: true,
            eni,
            other: u32::from(a.private_ip.unwrap_or(e.primary_ip)),
        },
        Mode::Binded => AddrEntry {
            kind: AddrKind::EipBinded,
            configured: true,
            eni,
            other: 0,
        },
        Mode::MultiBinded => AddrEntry {
            kind: AddrKind::EipMulti,
            configured: e
                .static_eips
                .as_ref()
                .is_none_or(|s| s.contains(&Ipv4Addr::from(eip))),
            eni,
            other: 0,
        },
    };
    (eip, entry)
}

/// The filter in front of the MAC table: 16 bits per MAC (at least 4096), the bit of each MAC's
/// hash set (about one Internet frame in 16 then probes the table for nothing). Returns the
/// words and the shift that takes a hash to its bit.
fn mac_filter(macs: &FlatMap<u64, u32>) -> (Vec<u64>, u32) {
    let bits = (macs.len() * 16).max(4096).next_power_of_two();
    let shift = 32 - bits.trailing_zeros();
    let mut words = vec![0u64; bits / 64];
    for (mac, _) in macs.iter() {
        let bit = mac_filter_bit(&mac.to_be_bytes()[2..], shift);
        words[bit >> 6] |= 1 << (bit & 63);
    }
    (words, shift)
}

/// What [`Dataplane::patch_eni`] replaced, to put back with [`Dataplane::restore`].
#[derive(Debug)]
#[must_use = "the tables stay patched until the patch is restored"]
pub struct EniPatch {
    eni: u32,
    entry: EniEntry,
    /// Replaced address entries, in the order they were replaced.
    addrs: Vec<(u32, AddrEntry)>,
}

impl Dataplane {
    /// Compiles the tables of `cloud`.
    pub fn new(cloud: &Cloud) -> Dataplane {
        let mut addrs = FlatMap::with_capacity(
            cloud.eips.len()
                + cloud
                    .enis
                    .iter()
                    .map(|e| 1 + e.secondary_ips.len())
                    .sum::<usize>(),
        );
        let mut macs = FlatMap::with_capacity(cloud.enis.len());
        let mut enis = Vec::with_capacity(cloud.enis.len());
        let mut eip_prefixes = Box::new([0u64; 1 << 10]);
        for (i, e) in cloud.enis.iter().enumerate() {
            enis.push(eni_entry(cloud, i));
            if e.deleted {
                // Kept for its index; it owns no MAC and no address.
                continue;
            }
            macs.insert(e.mac.to_u64(), i as u32);
            for ip in e.private_ips() {
                addrs.insert(u32::from(ip), private_entry(i as u32));
            }
        }
        for eip in cloud.eips.iter().filter(|e| !e.released) {
            let a = u32::from(eip.address);
            eip_prefixes[(a >> 22) as usize] |= 1 << ((a >> 16) & 63);
            addrs.insert(a, UNASSOCIATED);
        }
        for a in &cloud.associations {
            let (eip, entry) = association_entry(cloud, a, a.eni as u32);
            if a.mode == Mode::Nat
                && let Some(mut p) = addrs.get(entry.other)
            {
                p.other = eip;
                addrs.insert(entry.other, p);
            }
            addrs.insert(eip, entry);
        }
        let (mac_filter, mac_filter_shift) = mac_filter(&macs);
        let prefetch = addrs.footprint() + macs.footprint() > PREFETCH_ABOVE;
        Dataplane {
            addrs,
            macs,
            mac_filter,
            mac_filter_shift,
            enis,
            eip_prefixes,
            vpc_net: u32::from(cloud.vpc.cidr.network),
            vpc_mask: cloud.vpc.cidr.mask(),
            gateway_mac: cloud.vpc.gateway_mac.0,
            internet_mac: cloud.vpc.internet_mac.0,
            ingress: IngressHint::Auto,
            capture_point: CapturePoint::Gateway,
            prefetch,
            fast_path: true,
            tcp25_unblocked: cloud.account.tcp25_unblocked,
        }
    }

    /// Checks the compiled tables against `cloud` (the fuzz target `scenario` calls it after
    /// every operation): every address and MAC entry points at an existing, live ENI, the ENI
    /// owning that MAC or address; every live EIP and private IP has its entry.
    pub fn check_tables(&self, cloud: &Cloud) -> Result<(), String> {
        if self.enis.len() != cloud.enis.len() {
            return Err("the ENI table and the cloud differ in length".into());
        }
        for (mac, i) in self.macs.iter() {
            let e = cloud
                .enis
                .get(i as usize)
                .ok_or("a MAC entry points past the ENIs")?;
            if e.deleted || e.mac.to_u64() != mac {
                return Err(format!("MAC entry {mac:012x} points at {}", e.id));
            }
        }
        for (addr, a) in self.addrs.iter() {
            let ip = Ipv4Addr::from(addr);
            if a.kind == AddrKind::EipUnassociated {
                continue;
            }
            let e = cloud
                .enis
                .get(a.eni as usize)
                .ok_or_else(|| format!("{ip} points past the ENIs"))?;
            if e.deleted {
                return Err(format!("{ip} points at deleted ENI {}", e.id));
            }
            if a.kind == AddrKind::Private && !e.private_ips().any(|p| p == ip) {
                return Err(format!("{ip} is not a private IP of {}", e.id));
            }
        }
        for e in cloud.enis.iter().filter(|e| !e.deleted) {
            for ip in e.private_ips() {
                if self.addrs.get(u32::from(ip)).is_none() {
                    return Err(format!("private IP {ip} of {} has no entry", e.id));
                }
            }
        }
        for (i, eip) in cloud.eips.iter().enumerate() {
            let entry = self.addrs.get(u32::from(eip.address));
            match (eip.released, entry, cloud.association_of_eip(i)) {
                // A released address may have been allocated again as another EIP.
                (true, Some(_), _)
                    if !cloud
                        .eips
                        .iter()
                        .any(|o| !o.released && o.address == eip.address) =>
                {
                    return Err(format!("released EIP {} still has an entry", eip.id));
                }
                (false, None, _) => return Err(format!("EIP {} has no entry", eip.id)),
                (false, Some(a), Some(assoc)) if a.eni as usize != assoc.eni => {
                    return Err(format!("EIP {} points at the wrong ENI", eip.id));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Rewrites, in place, what the tables hold about ENI `eni` (its index in the tables) for
    /// another binding of it: its ENI entry, the entries of its private IPs and of the EIPs
    /// `eips` (those bound to it in the tables now), compiled as [`Dataplane::new`] compiles
    /// them from `variant`, a cloud in which the same ENI is `variant_eni` (a cloud holding only
    /// the ENI and its neighbours will do). An EIP of `eips` that `variant` does not bind to the
    /// ENI becomes unassociated. Only existing entries are rewritten: no key is added, so the
    /// table layout stays the same. Every other entry is untouched: when `variant` differs from
    /// the compiled cloud only in this ENI's associations and guest configuration, the patched
    /// tables equal `Dataplane::new` of the whole variant. Costs a handful of table writes.
    pub fn patch_eni(
        &mut self,
        variant: &Cloud,
        variant_eni: usize,
        eni: u32,
        eips: &[Ipv4Addr],
    ) -> EniPatch {
        let mut undo = EniPatch {
            eni,
            entry: self.enis[eni as usize],
            addrs: Vec::new(),
        };
        /// Replaces an existing entry, remembering the old one.
        fn set(addrs: &mut FlatMap<u32, AddrEntry>, undo: &mut EniPatch, key: u32, val: AddrEntry) {
            if let Some(old) = addrs.get(key) {
                undo.addrs.push((key, old));
                addrs.insert(key, val);
            }
        }
        let e = &variant.enis[variant_eni];
        if !e.deleted {
            for ip in e.private_ips() {
                set(
                    &mut self.addrs,
                    &mut undo,
                    u32::from(ip),
                    private_entry(eni),
                );
            }
        }
        for a in eips {
            set(&mut self.addrs, &mut undo, u32::from(*a), UNASSOCIATED);
        }
        for a in variant.associations_of(variant_eni) {
            let (eip, entry) = association_entry(variant, a, eni);
            if a.mode == Mode::Nat
                && let Some(mut p) = self.addrs.get(entry.other)
            {
                p.other = eip;
                set(&mut self.addrs, &mut undo, entry.other, p);
            }
            set(&mut self.addrs, &mut undo, eip, entry);
        }
        self.enis[eni as usize] = eni_entry(variant, variant_eni);
        undo
    }

    /// Puts back what [`Dataplane::patch_eni`] replaced: the tables are again as they were.
    pub fn restore(&mut self, undo: EniPatch) {
        for (key, old) in undo.addrs.into_iter().rev() {
            self.addrs.insert(key, old);
        }
        self.enis[undo.eni as usize] = undo.entry;
    }

    /// The first difference between the tables of two dataplanes (entries, ENIs, MACs, the EIP
    /// prefix bitmap and the settings), or `None` when they forward every frame alike.
    pub fn diff_tables(&self, other: &Dataplane) -> Option<String> {
        if self.addrs.len() != other.addrs.len() {
            return Some(format!(
                "{} address entries against {}",
                self.addrs.len(),
                other.addrs.len()
            ));
        }
        for (k, a) in self.addrs.iter() {
            let b = other.addrs.get(k);
            if b != Some(a) {
                return Some(format!("{}: {a:?} against {b:?}", Ipv4Addr::from(k)));
            }
        }
        if self.macs.len() != other.macs.len()
            || self.macs.iter().any(|(k, v)| other.macs.get(k) != Some(v))
        {
            return Some("the MAC tables differ".into());
        }
        if let Some(i) = (0..self.enis.len().max(other.enis.len()))
            .find(|i| self.enis.get(*i) != other.enis.get(*i))
        {
            return Some(format!(
                "ENI {i}: {:?} against {:?}",
                self.enis.get(i),
                other.enis.get(i)
            ));
        }
        let settings = |d: &Dataplane| {
            (
                d.vpc_net,
                d.vpc_mask,
                d.gateway_mac,
                d.internet_mac,
                d.ingress,
                d.capture_point,
                d.prefetch,
                d.fast_path,
                d.tcp25_unblocked,
            )
        };
        if self.eip_prefixes != other.eip_prefixes {
            return Some("the EIP prefix bitmaps differ".into());
        }
        if settings(self) != settings(other) {
            return Some("the settings differ".into());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataplane::Port;
    use crate::model::{Account, Eni, EniKind, Ipv4Cidr, Mac, Vpc};

    /// Every ENI's MAC passes the filter in front of the MAC table and finds its ENI; most
    /// other MACs are turned away by the filter alone.
    #[test]
    fn mac_filter_keeps_every_eni_and_few_others() {
        let mut cloud = Cloud::new(
            "eu-central-1".into(),
            Account {
                multi_eip_authorized: false,
                multi_eip_quota: 10,
                tcp25_unblocked: false,
            },
            Vpc {
                id: "vpc-t".into(),
                cidr: Ipv4Cidr {
                    network: Ipv4Addr::new(10, 0, 0, 0),
                    prefix: 8,
                },
                gateway_mac: Mac([0xee, 0xff, 0xff, 0xff, 0xff, 0xff]),
                internet_mac: Mac([0x02, 0, 0, 0, 0, 1]),
            },
        )
        .unwrap();
        let n = 3000u32;
        let mac = |i: u32| [0x00, 0x16, 0x3e, (i >> 16) as u8, (i >> 8) as u8, i as u8];
        for i in 0..n {
            let eni = Eni::new(
                format!("eni-{i}"),
                EniKind::Secondary,
                Mac(mac(i)),
                Ipv4Addr::from(0x0a00_0000 + 10 + i),
                Vec::new(),
            );
            cloud.create_network_interface(eni).unwrap();
        }
        let dp = Dataplane::new(&cloud);
        assert!(dp.mac_filter.len() * 64 >= 16 * n as usize);
        for i in 0..n {
            assert_eq!(dp.mac_port(&mac(i)), Port::Eni(i), "ENI {i}");
        }
        let mut passed = 0;
        for i in 0..10_000u32 {
            let other = [0x02, 0x42, (i >> 16) as u8, (i >> 8) as u8, i as u8, 0x77];
            assert_eq!(dp.mac_port(&other), Port::Internet);
            let bit = mac_filter_bit(&other, dp.mac_filter_shift);
            passed += usize::from(dp.mac_filter[bit >> 6] & (1 << (bit & 63)) != 0);
        }
        assert!(
            passed < 10_000 / 8,
            "{passed} of 10000 other MACs pass the filter"
        );
    }
}
