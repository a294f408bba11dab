//! The forwarding core, pure: tables compiled from a [`Cloud`](crate::model::Cloud), and a function from a frame (and
//! its ingress) to a verdict, rewriting the frame in place. No I/O, no clock, no allocation per
//! frame, no locks: the tables are read-only once built, so any number of threads can share them.
//!
//! Per frame the core does at most one MAC lookup (Ethernet ingress) and two address lookups
//! (source, only for frames from an ENI or without MACs; destination). A filter of the ENI MACs'
//! hashes spares most frames from the Internet the MAC lookup. A bitmap of the /16
//! prefixes that hold an EIP answers "is this public address an EIP?" without touching the
//! table for the common case of Internet hosts. With large tables the batch functions prefetch
//! the table lines of frames a few places ahead, so that their cache misses overlap.
//!
//! A plain frame ([`crate::wire::plain`]) from the Internet to an attached NAT-mode EIP takes a
//! fast path: the same checks and rewrite through fixed offsets, the same verdict and bytes as
//! the general path, which decides every other frame ([`Dataplane::set_fast_path`]).

mod apply;
mod compile;
pub mod flow;
mod owner;
mod process;
mod table;
mod verdict;

use crate::wire::{Layout, LinkType};

pub use compile::EniPatch;
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
    /// A filter in front of `macs`: the bit of every ENI MAC's hash is set, so most frames
    /// from the Internet (whose source MAC is no ENI's) learn it without probing the table.
    mac_filter: Vec<u64>,
    /// The shift that takes a MAC's hash to its bit of `mac_filter`: `32 - log2(bits)`.
    mac_filter_shift: u32,
    enis: Vec<EniEntry>,
    /// One bit per /16: set when an EIP lies in it (fixed size: indexing needs no check).
    eip_prefixes: Box<[u64; 1 << 10]>,
    vpc_net: u32,
    vpc_mask: u32,
    gateway_mac: [u8; 6],
    internet_mac: [u8; 6],
    ingress: IngressHint,
    capture_point: CapturePoint,
    prefetch: bool,
    /// Whether plain NAT-inbound frames take the fast path ([`Dataplane::set_fast_path`]).
    fast_path: bool,
    /// `[account] tcp25_unblocked`: outbound TCP to port 25 is let through.
    tcp25_unblocked: bool,
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
    /// Where the headers are, for the verdict.
    layout: Layout,
}

/// The bit of a MAC address (6 bytes) in the MAC filter: a multiplicative hash of its last four
/// bytes (where the MACs of one vendor differ), `shift` = 32 - log2(the filter's bits).
#[inline(always)]
fn mac_filter_bit(m: &[u8], shift: u32) -> usize {
    (u32::from_le_bytes([m[2], m[3], m[4], m[5]]).wrapping_mul(0x9E37_79B1) >> shift) as usize
}

/// The table key of a MAC address (6 bytes).
#[inline]
fn mac_key(m: &[u8]) -> u64 {
    u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]])
}

impl Dataplane {
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

    /// Whether ENI `eni` (an index into the cloud's ENIs) is attached to an instance.
    pub fn eni_attached(&self, eni: u32) -> bool {
        self.enis.get(eni as usize).is_some_and(|e| e.attached)
    }

    /// The ENI an address leads to: the ENI of a private IP, or the ENI an EIP is associated
    /// with (any mode).
    pub fn addr_eni(&self, addr: u32) -> Option<u32> {
        match self.addrs.get(addr) {
            Some(e) if e.kind != AddrKind::EipUnassociated => Some(e.eni),
            _ => None,
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

    /// The port a frame with source MAC `m` (6 bytes) comes in from: the ENI owning the MAC,
    /// else the Internet.
    #[inline(always)]
    fn mac_port(&self, m: &[u8]) -> Port {
        if !self.mac_may_be_eni(m) {
            return Port::Internet;
        }
        self.macs.get(mac_key(m)).map_or(Port::Internet, Port::Eni)
    }

    /// The MAC filter: false when MAC `m` (6 bytes) is surely no ENI's.
    #[inline(always)]
    fn mac_may_be_eni(&self, m: &[u8]) -> bool {
        let bit = mac_filter_bit(m, self.mac_filter_shift);
        self.mac_filter[bit >> 6] & (1 << (bit & 63)) != 0
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

    /// Turns the fast path off (or on again). With it on (the default), a plain frame (see
    /// [`crate::wire::plain`]) from the Internet to a NAT-mode EIP is decided and rewritten by
    /// a path specialised for it; with it off every frame takes the general path. Both give
    /// the same verdict and the same bytes: the tests compare them, the benches measure both.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
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
}
