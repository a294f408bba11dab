//! The forwarding core, pure: tables compiled from a [`Cloud`], and a function from a frame (and
//! its ingress) to a verdict, rewriting the frame in place. No I/O, no clock, no allocation per
//! frame, no locks: the tables are read-only once built, so any number of threads can share them.
//!
//! Per frame the core does at most one MAC lookup (Ethernet ingress) and two address lookups
//! (source, only for frames from an ENI or without MACs; destination). A bitmap of the /16
//! prefixes that hold an EIP answers "is this public address an EIP?" without touching the
//! table for the common case of Internet hosts. With large tables the batch functions prefetch
//! the table lines of frames a few places ahead, so that their cache misses overlap.

pub mod flow;
mod owner;
mod table;
mod verdict;

use std::net::Ipv4Addr;

use crate::model::{Association, Cloud, Mode};
#[cfg(debug_assertions)]
use crate::wire::checksum;
use crate::wire::checksum::{Delta, apply_at, apply_udp_at};
use crate::wire::{self, LinkError, LinkType, proto};

pub use flow::FlowKey;
pub use table::{FlatMap, TableKey};
pub use verdict::{
    Action, CapturePoint, DropReason, Fragment, IngressHint, Outcome, Port, Tuple, Verdict,
};

/// What an IPv4 address is to the gateway.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u8)]
enum AddrKind {
    /// A private IP of ENI `eni`; `other` is its NAT-mode EIP or 0.
    #[default]
    Private,
    /// An EIP with no association.
    EipUnassociated,
    /// A NAT-mode EIP of ENI `eni`, mapped to private IP `other`.
    EipNat,
    /// A cut-through EIP of ENI `eni`.
    EipBinded,
    /// A multi-EIP of ENI `eni`; `configured` tells whether the OS configured it.
    EipMulti,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
struct AddrEntry {
    kind: AddrKind,
    configured: bool,
    eni: u32,
    other: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct EniEntry {
    mac: [u8; 6],
    attached: bool,
    binded: bool,
    dhcp: bool,
}

/// A frame handed to [`Dataplane::process_batch`].
#[derive(Debug)]
pub struct Frame<'a> {
    /// The captured bytes; rewritten in place when forwarded.
    pub data: &'a mut [u8],
    /// Its link layer.
    pub link: LinkType,
}

/// How many frames ahead the batch functions prefetch table lines.
pub const PREFETCH_DISTANCE: usize = 8;

/// Tables larger than this (bytes) are prefetched; smaller ones stay in cache anyway.
pub const PREFETCH_ABOVE: usize = 512 * 1024;

/// The compiled forwarding tables.
#[derive(Clone, Debug)]
pub struct Dataplane {
    addrs: FlatMap<u32, AddrEntry>,
    macs: FlatMap<u64, u32>,
    enis: Vec<EniEntry>,
    /// One bit per /16: set when an EIP lies in it.
    eip_prefixes: Vec<u64>,
    vpc_net: u32,
    vpc_mask: u32,
    gateway_mac: [u8; 6],
    internet_mac: [u8; 6],
    ingress: IngressHint,
    capture_point: CapturePoint,
    prefetch: bool,
}

/// What to do to a frame that is forwarded.
struct Plan {
    new_src: Option<u32>,
    new_dst: Option<u32>,
    dec_ttl: bool,
    /// The reverse of a gateway crossing (capture point `instance`): TTL one higher.
    inc_ttl: bool,
    egress: Port,
    action: Action,
}

/// The parsed IPv4 facts the decision needs.
struct Parsed {
    l3: usize,
    ihl: usize,
    /// End of the IP datagram within the captured bytes (min of total length and capture).
    end: usize,
    ttl: u8,
    proto: u8,
    src: u32,
    dst: u32,
    first_fragment: bool,
    /// Fragment or whole datagram, with the identification.
    fragment: Fragment,
    /// Unfragmented (offset 0, MF clear) and wholly captured: a full L4 checksum is checkable.
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    whole: bool,
    sport: u16,
    dport: u16,
}

#[inline]
fn mac_key(m: &[u8]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

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
        let mut eip_prefixes = vec![0u64; 1 << 10];
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
        let prefetch = addrs.footprint() + macs.footprint() > PREFETCH_ABOVE;
        Dataplane {
            addrs,
            macs,
            enis,
            eip_prefixes,
            vpc_net: u32::from(cloud.vpc.cidr.network),
            vpc_mask: cloud.vpc.cidr.mask(),
            gateway_mac: cloud.vpc.gateway_mac.0,
            internet_mac: cloud.vpc.internet_mac.0,
            ingress: IngressHint::Auto,
            capture_point: CapturePoint::Gateway,
            prefetch,
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

    /// Sets how ingress is decided (`--ingress`).
    pub fn set_ingress(&mut self, hint: IngressHint) {
        self.ingress = hint;
    }

    /// The address as seen inside the VPC: a NAT-mode EIP becomes its private IP.
    #[inline]
    pub fn inside_addr(&self, addr: u32) -> u32 {
        match self.addrs.get(addr) {
            Some(e) if e.kind == AddrKind::EipNat => e.other,
            _ => addr,
        }
    }

    /// The NAT-mode EIP of a private address, if it has one.
    pub fn nat_eip_of(&self, private: u32) -> Option<u32> {
        match self.addrs.get(private) {
            Some(e) if e.kind == AddrKind::Private && e.other != 0 => Some(e.other),
            _ => None,
        }
    }

    #[inline]
    fn in_vpc(&self, addr: u32) -> bool {
        addr & self.vpc_mask == self.vpc_net
    }

    /// Whether some EIP lies in `addr`'s /16.
    #[inline]
    fn may_be_eip(&self, addr: u32) -> bool {
        self.eip_prefixes[(addr >> 22) as usize] & (1 << ((addr >> 16) & 63)) != 0
    }

    /// The entry of a public address (an EIP), skipping the table when no EIP is in its /16.
    #[inline]
    fn public_entry(&self, addr: u32) -> Option<AddrEntry> {
        if self.may_be_eip(addr) {
            self.addrs.get(addr)
        } else {
            None
        }
    }

    /// Capture point `instance` (design.md section 5): a frame the instance received through
    /// the gateway is turned back into the frame the Internet sent, in place: destination =
    /// the NAT-mode EIP of the private IP it is addressed to, TTL one higher, the IPv4, L4 and
    /// ICMP checksums updated (RFC 1624), and an ICMP error's quoted source too (RFC 5508).
    /// Returns whether the frame was restored.
    ///
    /// A frame is restored when it does not come from an ENI (not its source MAC, not
    /// `--ingress ENI`), its source lies outside the VPC (a frame from inside never crossed the
    /// gateway) and is no cut-through or multi-EIP address, and its destination is a private
    /// IP with a NAT-mode EIP. A frame with TTL 255 cannot have crossed the gateway and is left
    /// as it is. Frames the instance sent are never touched: they are what the gateway got.
    pub fn restore_received(&self, frame: &mut [u8], link: LinkType) -> bool {
        let from_eni = match self.ingress {
            IngressHint::Fixed(p) => matches!(p, Port::Eni(_)),
            IngressHint::Auto if link.has_macs() => frame
                .get(6..12)
                .is_some_and(|m| self.macs.get(mac_key(m)).is_some()),
            IngressHint::Auto => false,
        };
        if from_eni {
            return false;
        }
        let Ok(p) = parse(link, frame) else {
            return false;
        };
        if self.in_vpc(p.src) || p.ttl == u8::MAX {
            return false;
        }
        if self
            .public_entry(p.src)
            .is_some_and(|e| matches!(e.kind, AddrKind::EipBinded | AddrKind::EipMulti))
        {
            return false;
        }
        let Some(eip) = self.nat_eip_of(p.dst) else {
            return false;
        };
        apply(
            frame,
            &p,
            &Plan {
                new_src: None,
                new_dst: Some(eip),
                dec_ttl: false,
                inc_ttl: true,
                egress: Port::Internet,
                action: Action::Dnat,
            },
        );
        true
    }

    /// Where the captures were taken (`--capture-point`).
    pub fn capture_point(&self) -> CapturePoint {
        self.capture_point
    }

    /// Sets where the captures were taken (`--capture-point`): with
    /// [`CapturePoint::Instance`] the replay restores each frame with
    /// [`Dataplane::restore_received`] before processing it.
    pub fn set_capture_point(&mut self, point: CapturePoint) {
        self.capture_point = point;
    }

    /// Processes a batch: one verdict per frame, in order. With large tables the table lines
    /// of the frame [`PREFETCH_DISTANCE`] places ahead are prefetched while the current one is
    /// translated, so that the cache misses of several frames overlap.
    pub fn process_batch(&self, frames: &mut [Frame<'_>], verdicts: &mut [Verdict]) {
        assert_eq!(frames.len(), verdicts.len(), "one verdict slot per frame");
        if !self.prefetch {
            for (f, v) in frames.iter_mut().zip(verdicts.iter_mut()) {
                *v = self.process(f.data, f.link);
            }
            return;
        }
        for f in frames.iter().take(PREFETCH_DISTANCE) {
            self.prefetch_frame(f.data, f.link);
        }
        for i in 0..frames.len() {
            if let Some(ahead) = frames.get(i + PREFETCH_DISTANCE) {
                self.prefetch_frame(ahead.data, ahead.link);
            }
            let f = &mut frames[i];
            verdicts[i] = self.process(f.data, f.link);
        }
    }

    /// Processes a packed batch: frame `i` is `buf[ranges[i].0..ranges[i].1]` with link type
    /// `ranges[i].2`. Same semantics and prefetching as [`Dataplane::process_batch`], without
    /// building a slice of frame references (the replay's batches are packed this way).
    pub fn process_packed(
        &self,
        buf: &mut [u8],
        ranges: &[(usize, usize, LinkType)],
        verdicts: &mut [Verdict],
    ) {
        assert_eq!(ranges.len(), verdicts.len(), "one verdict slot per frame");
        if !self.prefetch {
            for (&(s, e, link), v) in ranges.iter().zip(verdicts.iter_mut()) {
                *v = self.process(&mut buf[s..e], link);
            }
            return;
        }
        for &(s, e, link) in ranges.iter().take(PREFETCH_DISTANCE) {
            self.prefetch_frame(&buf[s..e], link);
        }
        for i in 0..ranges.len() {
            if let Some(&(s, e, link)) = ranges.get(i + PREFETCH_DISTANCE) {
                self.prefetch_frame(&buf[s..e], link);
            }
            let (s, e, link) = ranges[i];
            verdicts[i] = self.process(&mut buf[s..e], link);
        }
    }

    /// Prefetches the table lines a frame will touch: its source MAC's, its source address's
    /// and its destination address's (the EIP bitmap spares Internet hosts).
    #[inline]
    fn prefetch_frame(&self, data: &[u8], link: LinkType) {
        if link.has_macs()
            && let Some(m) = data.get(6..12)
        {
            self.macs.prefetch(mac_key(m));
        }
        if let Ok(l3) = wire::ipv4_offset(link, data)
            && let Some(h) = data.get(l3 + 12..l3 + 20)
        {
            let src = u32::from_be_bytes([h[0], h[1], h[2], h[3]]);
            let dst = u32::from_be_bytes([h[4], h[5], h[6], h[7]]);
            if self.in_vpc(src) || self.may_be_eip(src) {
                self.addrs.prefetch(src);
            }
            if self.in_vpc(dst) || self.may_be_eip(dst) {
                self.addrs.prefetch(dst);
            }
        }
    }

    /// Processes one frame: decides its fate and, when it is forwarded, rewrites it in place
    /// (addresses, TTL, checksums, MACs). A dropped frame is left unchanged.
    #[inline(always)]
    pub fn process(&self, frame: &mut [u8], link: LinkType) -> Verdict {
        let mac_ingress = match self.ingress {
            IngressHint::Fixed(p) => Some(p),
            IngressHint::Auto if link.has_macs() && frame.len() >= 12 => Some(
                self.macs
                    .get(mac_key(&frame[6..12]))
                    .map_or(Port::Internet, Port::Eni),
            ),
            IngressHint::Auto => None,
        };
        let p = match parse(link, frame) {
            Ok(p) => p,
            Err(e) => {
                let reason = match e {
                    LinkError::Malformed => DropReason::Malformed,
                    LinkError::NotIpv4 => DropReason::NotIpv4,
                };
                return Verdict::early_drop(reason, mac_ingress);
            }
        };
        // The source's entry: needed for frames from an ENI (source check, SNAT) and to find
        // the ingress of frames without MACs; never for Ethernet frames from the Internet.
        let mut src_entry = None;
        let ingress = match mac_ingress {
            Some(port) => port,
            None => {
                src_entry = self.addrs.get(p.src);
                match src_entry {
                    Some(e)
                        if matches!(
                            e.kind,
                            AddrKind::Private | AddrKind::EipBinded | AddrKind::EipMulti
                        ) =>
                    {
                        Port::Eni(e.eni)
                    }
                    _ => Port::Internet,
                }
            }
        };
        let tuple = Tuple {
            proto: p.proto,
            src: p.src,
            dst: p.dst,
            sport: p.sport,
            dport: p.dport,
        };
        let mut v = Verdict {
            outcome: Outcome::Drop(DropReason::Malformed),
            ingress: Some(ingress),
            tuple,
            inside_dst: p.dst,
            eni: None,
            mode: None,
            eip: None,
            fragment: p.fragment,
        };
        match self.decide(&p, ingress, src_entry, &mut v) {
            Ok(plan) => {
                apply(frame, &p, &plan);
                if link.has_macs() {
                    let dst = match plan.egress {
                        Port::Internet => self.internet_mac,
                        Port::Eni(e) => self.enis[e as usize].mac,
                    };
                    let macs: &mut [u8; 12] = (&mut frame[..12])
                        .try_into()
                        .expect("an Ethernet frame that parsed has its MACs");
                    macs[..6].copy_from_slice(&dst);
                    macs[6..].copy_from_slice(&self.gateway_mac);
                }
                v.outcome = Outcome::Forward(plan.egress, plan.action);
            }
            Err(r) => v.outcome = Outcome::Drop(r),
        }
        v
    }

    /// The forwarding decision (design.md section 5), checks in the documented precedence.
    #[inline(always)]
    fn decide(
        &self,
        p: &Parsed,
        ingress: Port,
        src_entry: Option<AddrEntry>,
        v: &mut Verdict,
    ) -> Result<Plan, DropReason> {
        match ingress {
            Port::Internet => {
                let (egress, new_dst, mode, guest_ok) =
                    self.inbound(p.dst, self.public_entry(p.dst), v)?;
                if p.ttl <= 1 {
                    return Err(DropReason::TtlExpired);
                }
                if !guest_ok {
                    return Err(DropReason::GuestNotConfigured);
                }
                Ok(Plan {
                    new_src: None,
                    new_dst,
                    dec_ttl: true,
                    inc_ttl: false,
                    egress,
                    action: if mode == Mode::Nat {
                        Action::Dnat
                    } else {
                        Action::PassThrough
                    },
                })
            }
            Port::Eni(e) => {
                let eni = self.enis[e as usize];
                v.eni = Some(e);
                if !eni.attached {
                    return Err(DropReason::EniDetached);
                }
                let src = match src_entry {
                    Some(s) => Some(s),
                    None => self.addrs.get(p.src),
                }
                .filter(|s| s.eni == e);
                // What the source is: a private IP (with its NAT EIP or 0) or an EIP of e.
                let src_nat = match src {
                    Some(s) if s.kind == AddrKind::Private && !eni.binded => Some(s.other),
                    Some(s) if matches!(s.kind, AddrKind::EipBinded | AddrKind::EipMulti) => {
                        v.mode = Some(if s.kind == AddrKind::EipBinded {
                            Mode::Binded
                        } else {
                            Mode::MultiBinded
                        });
                        v.eip = Some(p.src);
                        None
                    }
                    _ => return Err(DropReason::SourceCheck),
                };
                if let Some(eip) = src_nat.filter(|x| *x != 0) {
                    v.mode = Some(Mode::Nat);
                    v.eip = Some(eip);
                }
                if self.in_vpc(p.dst) {
                    let d = match self.addrs.get(p.dst) {
                        Some(d) if d.kind == AddrKind::Private => d,
                        _ => return Err(DropReason::UnknownDestination),
                    };
                    let peer = self.enis[d.eni as usize];
                    if eni.binded || peer.binded {
                        return Err(DropReason::PrivateNetworkUnavailable);
                    }
                    if !peer.attached {
                        return Err(DropReason::EniDetached);
                    }
                    return Ok(Plan {
                        new_src: None,
                        new_dst: None,
                        dec_ttl: false,
                        inc_ttl: false,
                        egress: Port::Eni(d.eni),
                        action: Action::IntraVpc,
                    });
                }
                // Towards the Internet, or back in through an EIP of this VPC (hairpin).
                let dst_entry = self.public_entry(p.dst);
                let mut inbound = None;
                if dst_entry.is_some_and(|d| d.kind != AddrKind::Private) {
                    // The destination's own checks come first: eip-not-associated precedes
                    // no-public-address, and eni-detached follows it.
                    let mut scratch = *v;
                    match self.inbound(p.dst, dst_entry, &mut scratch) {
                        Err(DropReason::EipNotAssociated) => {
                            return Err(DropReason::EipNotAssociated);
                        }
                        r => inbound = Some(r),
                    }
                }
                let new_src = match src_nat {
                    Some(0) => return Err(DropReason::NoPublicAddress),
                    Some(eip) => Some(eip),
                    None => None,
                };
                let (egress, new_dst, guest_ok, action) = match inbound {
                    None => (
                        Port::Internet,
                        None,
                        true,
                        if new_src.is_some() {
                            Action::Snat
                        } else {
                            Action::PassThrough
                        },
                    ),
                    Some(r) => {
                        let (egress, new_dst, _, guest_ok) = r?;
                        if let Some(d) = new_dst {
                            v.inside_dst = d;
                        }
                        (egress, new_dst, guest_ok, Action::Hairpin)
                    }
                };
                if p.ttl <= 1 {
                    return Err(DropReason::TtlExpired);
                }
                if !guest_ok {
                    return Err(DropReason::GuestNotConfigured);
                }
                Ok(Plan {
                    new_src,
                    new_dst,
                    dec_ttl: true,
                    inc_ttl: false,
                    egress,
                    action,
                })
            }
        }
    }

    /// The checks of a frame arriving from the Internet at `dst` (whose table entry is `d`):
    /// egress, DNAT target, mode and whether the guest is configured for it.
    #[inline(always)]
    fn inbound(
        &self,
        dst: u32,
        d: Option<AddrEntry>,
        v: &mut Verdict,
    ) -> Result<(Port, Option<u32>, Mode, bool), DropReason> {
        let d = d.ok_or(DropReason::UnknownDestination)?;
        let mode = match d.kind {
            AddrKind::Private => return Err(DropReason::UnknownDestination),
            AddrKind::EipUnassociated => {
                v.eip = Some(dst);
                return Err(DropReason::EipNotAssociated);
            }
            AddrKind::EipNat => {
                // Both sides of the gateway share the inside view: the private address.
                v.inside_dst = d.other;
                Mode::Nat
            }
            AddrKind::EipBinded => Mode::Binded,
            AddrKind::EipMulti => Mode::MultiBinded,
        };
        v.eni = Some(d.eni);
        v.mode = Some(mode);
        v.eip = Some(dst);
        let eni = self.enis[d.eni as usize];
        if !eni.attached {
            return Err(DropReason::EniDetached);
        }
        let (new_dst, guest_ok) = match mode {
            Mode::Nat => (Some(d.other), true),
            Mode::Binded => (None, eni.dhcp),
            // Seed 003: multi-EIP needs DHCP on the instance too, and the EIP configured.
            Mode::MultiBinded => (None, d.configured && eni.dhcp),
        };
        Ok((Port::Eni(d.eni), new_dst, mode, guest_ok))
    }
}

/// Parses the link and IPv4 headers (etherparse checks version and IHL).
#[inline(always)]
fn parse(link: LinkType, frame: &[u8]) -> Result<Parsed, LinkError> {
    let l3 = wire::ipv4_offset(link, frame)?;
    let ip =
        etherparse::Ipv4HeaderSlice::from_slice(&frame[l3..]).map_err(|_| LinkError::Malformed)?;
    let ihl = ip.slice().len();
    let total = usize::from(ip.total_len());
    if total < ihl {
        return Err(LinkError::Malformed);
    }
    let end = (l3 + total).min(frame.len());
    let frag_off = ip.fragments_offset().value();
    let first_fragment = frag_off == 0;
    let fragment = match (frag_off, ip.more_fragments()) {
        (0, false) => Fragment::Whole,
        (0, true) => Fragment::First(ip.identification()),
        _ => Fragment::Later(ip.identification()),
    };
    let whole = first_fragment && !ip.more_fragments() && l3 + total <= frame.len();
    let proto = ip.protocol().0;
    let l4 = &frame[l3 + ihl..end];
    let (sport, dport) = if !first_fragment {
        (0, 0)
    } else {
        match proto {
            proto::TCP | proto::UDP if l4.len() >= 4 => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            proto::ICMP if l4.len() >= 6 && wire::icmp_has_identifier(l4[0]) => {
                let id = u16::from_be_bytes([l4[4], l4[5]]);
                (id, id)
            }
            _ => (0, 0),
        }
    };
    Ok(Parsed {
        l3,
        ihl,
        end,
        ttl: ip.ttl(),
        proto,
        src: u32::from_be_bytes(ip.source()),
        dst: u32::from_be_bytes(ip.destination()),
        first_fragment,
        fragment,
        whole,
        sport,
        dport,
    })
}

/// Writes an address at `buf[at..at + 4]` if it is there and holds `expect`; returns whether it
/// changed it.
#[inline]
fn set_addr(buf: &mut [u8], at: usize, expect: u32, new: u32) -> bool {
    match buf.get_mut(at..at + 4) {
        Some(f) if u32::from_be_bytes([f[0], f[1], f[2], f[3]]) == expect => {
            f.copy_from_slice(&new.to_be_bytes());
            true
        }
        _ => false,
    }
}

/// Applies a plan to the frame: addresses, TTL, IPv4 / L4 / ICMP checksums (RFC 1624), and the
/// quoted packet of ICMP errors (RFC 5508).
#[inline(always)]
fn apply(frame: &mut [u8], p: &Parsed, plan: &Plan) {
    let translated = plan.new_src.is_some() || plan.new_dst.is_some();
    if !translated && !plan.dec_ttl && !plan.inc_ttl {
        return;
    }
    #[cfg(debug_assertions)]
    let before = checks(frame, p);

    let l3 = p.l3;
    // The IPv4 header is wholly present (parse checked IHL against the captured bytes).
    // The fixed 20 bytes of the header, as an array: one bounds check for all the fields.
    let hdr: &mut [u8; 20] = (&mut frame[l3..l3 + 20])
        .try_into()
        .expect("parse checked the header is present");
    let mut addr_delta = Delta::ZERO;
    if let Some(s) = plan.new_src {
        hdr[12..16].copy_from_slice(&s.to_be_bytes());
        addr_delta = addr_delta.addr32(p.src, s);
    }
    if let Some(d) = plan.new_dst {
        hdr[16..20].copy_from_slice(&d.to_be_bytes());
        addr_delta = addr_delta.addr32(p.dst, d);
    }
    let mut ip_delta = addr_delta;
    if plan.dec_ttl {
        let old = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] = p.ttl - 1;
        ip_delta = ip_delta.word(old, old - 0x0100);
    } else if plan.inc_ttl {
        let old = u16::from_be_bytes([hdr[8], hdr[9]]);
        hdr[8] = p.ttl + 1;
        ip_delta = ip_delta.word(old, old + 0x0100);
    }
    let hc = u16::from_be_bytes([hdr[10], hdr[11]]);
    hdr[10..12].copy_from_slice(&ip_delta.apply(hc).to_be_bytes());
    if p.first_fragment && translated {
        let seg = &mut frame[l3 + p.ihl..p.end];
        match p.proto {
            proto::TCP => {
                apply_at(seg, wire::TCP_CHECKSUM_AT, addr_delta);
            }
            proto::UDP => {
                apply_udp_at(seg, wire::UDP_CHECKSUM_AT, addr_delta);
            }
            proto::ICMP if seg.first().is_some_and(|t| wire::icmp_is_error(*t)) => {
                translate_icmp_error(seg, p, plan);
            }
            _ => {}
        }
    }

    #[cfg(debug_assertions)]
    {
        let after = checks(frame, p);
        for (b, a) in before.iter().zip(after.iter()) {
            if *b == Some(true) {
                debug_assert_eq!(
                    *a,
                    Some(true),
                    "incremental checksum differs from a full recomputation"
                );
            }
        }
    }
}

/// RFC 5508: an ICMP error's quoted packet travelled the other way, so the quoted source is the
/// outer destination before DNAT and the quoted destination the outer source before SNAT.
fn translate_icmp_error(icmp: &mut [u8], p: &Parsed, plan: &Plan) {
    let mut icmp_delta = Delta::ZERO;
    let inner = 8;
    let mut inner_delta = Delta::ZERO;
    let mut changed = false;
    if let Some(d) = plan.new_dst
        && set_addr(icmp, inner + 12, p.dst, d)
    {
        inner_delta = inner_delta.addr32(p.dst, d);
        changed = true;
    }
    if let Some(s) = plan.new_src
        && set_addr(icmp, inner + 16, p.src, s)
    {
        inner_delta = inner_delta.addr32(p.src, s);
        changed = true;
    }
    if !changed {
        return;
    }
    // The changed address words are inside the ICMP message too.
    icmp_delta = icmp_delta.plus(inner_delta);
    if let Some((o, n)) = apply_at(icmp, inner + 10, inner_delta) {
        icmp_delta = icmp_delta.word(o, n);
    }
    // The quoted L4 checksum, when the quoted packet is a first fragment and the field is there.
    let ver_ihl = icmp[inner];
    let inner_ihl = usize::from(ver_ihl & 0x0f) * 4;
    let frag = icmp
        .get(inner + 6..inner + 8)
        .map(|b| u16::from_be_bytes([b[0], b[1]]) & 0x1fff);
    if ver_ihl >> 4 == 4 && inner_ihl >= 20 && frag == Some(0) {
        let l4 = inner + inner_ihl;
        let changed = match icmp.get(inner + 9).copied() {
            Some(proto::TCP) => apply_at(icmp, l4 + wire::TCP_CHECKSUM_AT, inner_delta),
            Some(proto::UDP) => apply_udp_at(icmp, l4 + wire::UDP_CHECKSUM_AT, inner_delta),
            _ => None,
        };
        if let Some((o, n)) = changed {
            icmp_delta = icmp_delta.word(o, n);
        }
    }
    apply_at(icmp, wire::ICMP_CHECKSUM_AT, icmp_delta);
}

/// Debug builds: which checksums of the frame verify (IPv4 header, L4 when whole).
#[cfg(debug_assertions)]
fn checks(frame: &[u8], p: &Parsed) -> [Option<bool>; 2] {
    let hdr = &frame[p.l3..p.l3 + p.ihl];
    let ip_ok = Some(checksum::checksum(hdr) == 0);
    let l4_ok = if p.whole {
        let seg = &frame[p.l3 + p.ihl..p.end];
        let src = [hdr[12], hdr[13], hdr[14], hdr[15]];
        let dst = [hdr[16], hdr[17], hdr[18], hdr[19]];
        match p.proto {
            proto::TCP if seg.len() >= 20 => {
                Some(checksum::l4_checksum(src, dst, p.proto, seg) == 0)
            }
            proto::UDP if seg.len() >= 8 => {
                if seg[6] == 0 && seg[7] == 0 {
                    None
                } else {
                    Some(checksum::l4_checksum(src, dst, p.proto, seg) == 0)
                }
            }
            proto::ICMP if seg.len() >= 4 => Some(checksum::checksum(seg) == 0),
            _ => None,
        }
    } else {
        None
    };
    [ip_ok, l4_ok]
}
