//! Any bytes through the guests' side of `replay --respond`: the VPC's DHCP server, the framing
//! between the capture's link types and the guests' Ethernet, and the guests' IP stacks.
//!
//! The first byte is a selector, the rest a frame:
//! - `dhcp::answer` gets the frame as a client's frame, with a lease and without one;
//! - `link::to_ethernet` gets it in every link type, `link::from_ethernet` as an Ethernet frame
//!   to write in every link type, both ways;
//! - a `Guests` of a small fixed topology (one instance with DHCP on and services tcp/80,
//!   udp/53 and icmp; `eth0` a NAT NIC, `eth1` a cut-through NIC leased its EIP by DHCP) is
//!   started, then the frame is delivered to the NIC the selector's low bit picks, at a time
//!   its other bits advance (0 to about 57 hours in growing steps: retransmissions, the DHCP
//!   renewal at 12 h, the lease's end at 24 h), then the guests' timers run then and later.
//!
//! Invariants: no panic. The DHCP server answers only with a lease, only a DISCOVER or a
//! REQUEST, to the NIC's MAC from the gateway's, UDP 67 -> 68, with checksums that verify; an
//! unanswered frame leaves the output empty. A re-framed packet starts with the Ethernet header
//! asked for and carries the bytes from the IPv4 header on; a written frame has the link
//! header's length plus the packet's. Every frame the guests' side emits comes from the NIC's
//! MAC (the guest) or the gateway's (the DHCP server) and every checksum of its IPv4 header and
//! whole TCP, UDP or ICMP message verifies. The checks use the RFC 1071 routine below, not
//! eipsim's.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::LazyLock;

use eipsim::guest::dhcp::{self, Lease, Request, Server};
use eipsim::guest::link::{self, Way};
use eipsim::guest::{Emit, Emitted, Guests};
use eipsim::model::Cloud;
use eipsim::wire::{LinkType, ipv4_offset};
use libfuzzer_sys::fuzz_target;

const LINKS: [(LinkType, usize); 7] = [
    (LinkType::Ethernet, 0),
    (LinkType::RawIp, 0),
    (LinkType::Ipv4, 0),
    (LinkType::LinuxSll, link::SLL_LEN),
    (LinkType::LinuxSll2, link::SLL2_LEN),
    (LinkType::Null, link::NULL_LEN),
    (LinkType::Loop, link::NULL_LEN),
];

/// One instance, a NAT NIC (`eni-nat`, index 0) and a cut-through NIC with DHCP (`eni-cut`,
/// index 1).
const TOPOLOGY: &str = r#"
region = "eu-central-1"

[vpc]
id = "vpc-f"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-f"
family = "ecs.g5"
dhcp = true
services = ["tcp/80", "udp/53", "icmp"]

[[eni]]
id = "eni-nat"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-f"

[[eni]]
id = "eni-cut"
kind = "secondary"
mac = "00:16:3e:00:00:20"
primary_ip = "172.16.0.20"
instance = "i-f"

[[eip]]
id = "eip-nat"
address = "47.0.0.10"

[[eip]]
id = "eip-cut"
address = "47.0.0.20"

[[association]]
eip = "eip-nat"
eni = "eni-nat"
mode = "NAT"

[[association]]
eip = "eip-cut"
eni = "eni-cut"
mode = "BINDED"
"#;

const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const NIC_MACS: [[u8; 6]; 2] = [
    [0x00, 0x16, 0x3e, 0x00, 0x00, 0x10],
    [0x00, 0x16, 0x3e, 0x00, 0x00, 0x20],
];
/// The first frame's capture time (ns).
const START_NS: i64 = 1_700_000_000_000_000_000;

static CLOUD: LazyLock<Cloud> =
    LazyLock::new(|| Cloud::from_toml(TOPOLOGY).expect("the fuzz topology is valid"));

const LEASE: Lease = Lease {
    address: Ipv4Addr::new(47, 0, 0, 20),
    mask: Ipv4Addr::new(255, 255, 255, 0),
    gateway: Ipv4Addr::new(47, 0, 0, 1),
    lease_s: 86_400,
};
const SERVER: Server = Server {
    mac: GATEWAY_MAC,
    server: Ipv4Addr::new(47, 0, 0, 1),
};

/// RFC 1071: the one's-complement sum of `data` as big-endian 16-bit words (an odd last byte
/// padded with zero), plus `initial`, folded to 16 bits. A checksum verifies when the sum over
/// the covered bytes (checksum field included) is 0xffff.
fn ones_sum(initial: u32, data: &[u8]) -> u16 {
    let mut sum = u64::from(initial);
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// Checks an Ethernet frame a stack or the DHCP server wrote: an ARP frame, or an IPv4 packet
/// (whole, unfragmented) whose header checksum and TCP/UDP/ICMP checksum verify. Returns the
/// IPv4 protocol and the L4 bytes (None for ARP).
fn well_formed(eth: &[u8], what: &str) -> Option<(u8, Vec<u8>)> {
    assert!(eth.len() >= 14, "{what}: shorter than an Ethernet header");
    match [eth[12], eth[13]] {
        [0x08, 0x06] => {
            assert!(eth.len() >= 14 + 28, "{what}: ARP cut short");
            return None;
        }
        [0x08, 0x00] => {}
        t => panic!("{what}: ethertype {t:02x?}"),
    }
    let ip = &eth[14..];
    assert!(ip.len() >= 20 && ip[0] >> 4 == 4, "{what}: not IPv4");
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    assert!(
        ihl >= 20 && total >= ihl && total <= ip.len(),
        "{what}: IPv4 lengths (ihl {ihl}, total {total}, {} present)",
        ip.len()
    );
    assert_eq!(
        ones_sum(0, &ip[..ihl]),
        0xffff,
        "{what}: IPv4 header checksum"
    );
    let flags_frag = u16::from_be_bytes([ip[6], ip[7]]);
    assert_eq!(flags_frag & 0x3fff, 0, "{what}: a fragment");
    let proto = ip[9];
    let seg = &ip[ihl..total];
    let pseudo = [12, 14, 16, 18]
        .iter()
        .map(|&i| u32::from(u16::from_be_bytes([ip[i], ip[i + 1]])))
        .sum::<u32>()
        + u32::from(proto)
        + seg.len() as u32;
    match proto {
        6 => {
            assert!(seg.len() >= 20, "{what}: TCP header cut short");
            assert_eq!(ones_sum(pseudo, seg), 0xffff, "{what}: TCP checksum");
        }
        17 => {
            assert!(seg.len() >= 8, "{what}: UDP header cut short");
            assert_eq!(
                usize::from(u16::from_be_bytes([seg[4], seg[5]])),
                seg.len(),
                "{what}: UDP length"
            );
            if seg[6..8] != [0, 0] {
                assert_eq!(ones_sum(pseudo, seg), 0xffff, "{what}: UDP checksum");
            }
        }
        1 => {
            assert!(seg.len() >= 8, "{what}: ICMP header cut short");
            assert_eq!(ones_sum(0, seg), 0xffff, "{what}: ICMP checksum");
        }
        p => panic!("{what}: IP protocol {p}"),
    }
    Some((proto, seg.to_vec()))
}

/// The DHCP server, with and without a lease.
fn server(frame: &[u8], nic: usize) {
    let mac = NIC_MACS[nic];
    let mut out = vec![0xaa];
    let client = dhcp::is_client_message(frame);
    for lease in [None, Some(&LEASE)] {
        match dhcp::answer(frame, mac, lease, &SERVER, &mut out) {
            Ok(None) => {
                assert!(!client, "a client message gives Some");
                assert!(out.is_empty(), "no answer to a non-client frame");
            }
            Ok(Some(kind)) => {
                assert!(client, "only client messages are answered");
                if out.is_empty() {
                    continue;
                }
                assert!(lease.is_some(), "no answer without a lease");
                assert!(
                    matches!(kind, Request::Discover | Request::Request),
                    "{kind:?} answered"
                );
                assert_eq!(&out[..6], &mac[..], "the answer goes to the NIC");
                assert_eq!(&out[6..12], &GATEWAY_MAC[..], "from the gateway MAC");
                let (proto, udp) = well_formed(&out, "DHCP answer").expect("an IPv4 answer");
                assert_eq!(
                    (proto, &udp[..4]),
                    (17, &[0, 67, 0, 68][..]),
                    "UDP 67 -> 68"
                );
            }
            Err(e) => {
                assert!(client, "an error only for what looks like a client message");
                assert!(!e.is_empty());
                assert!(out.is_empty(), "no answer with an error");
            }
        }
    }
}

/// Both ways of the framing.
fn framing(frame: &[u8]) {
    let (src, dst) = (NIC_MACS[0], GATEWAY_MAC);
    let mut out = vec![0xaa];
    for (link, _) in LINKS {
        match link::to_ethernet(link, frame, src, dst, &mut out) {
            None => assert!(out.is_empty(), "{link:?}: nothing written without IPv4"),
            Some(()) => {
                let off = ipv4_offset(link, frame).expect("an IPv4 packet was found");
                assert!(out.len() > 14, "{link:?}: a packet follows the header");
                assert_eq!(&out[..6], &dst[..], "{link:?}: destination MAC");
                assert_eq!(&out[6..12], &src[..], "{link:?}: source MAC");
                assert_eq!(&out[12..14], &[0x08, 0x00], "{link:?}: ethertype");
                let ip = &out[14..];
                assert_eq!(
                    ip,
                    &frame[off..off + ip.len()],
                    "{link:?}: the packet's bytes"
                );
            }
        }
    }
    let ip_len = frame.len().saturating_sub(14);
    for (link, header) in LINKS {
        for way in [Way::ToHost, Way::FromHost] {
            link::from_ethernet(link, frame, way, &mut out);
            if link == LinkType::Ethernet {
                assert_eq!(out, frame, "Ethernet is written as is");
            } else {
                assert_eq!(out.len(), header + ip_len, "{link:?} {way:?}: length");
                assert_eq!(&out[header..], &frame[frame.len() - ip_len..], "{link:?}");
            }
        }
    }
}

/// Checks what the guests' side emitted.
fn check_emitted(out: &Emitted) {
    for (eni, who, f) in &out.frames {
        assert!(*eni < 2, "ENI {eni} is not one of the fuzz topology's");
        let what = format!("{who:?} on ENI {eni}");
        let src = match who {
            Emit::Sent => NIC_MACS[*eni],
            Emit::Served => GATEWAY_MAC,
        };
        assert!(f.len() >= 14, "{what}: shorter than an Ethernet header");
        assert_eq!(&f[6..12], &src[..], "{what}: source MAC");
        let l4 = well_formed(f, &what);
        if *who == Emit::Served {
            let (proto, udp) = l4.expect("the DHCP server answers with IPv4");
            assert_eq!((proto, &udp[..4]), (17, &[0, 67, 0, 68][..]), "{what}");
        }
    }
}

/// The guests of the fuzz topology: started, fed the frame, their timers run.
fn guests(sel: u8, frame: &[u8]) {
    let eni = usize::from(sel & 1);
    let step = i64::from(sel >> 1);
    // 0 to 127^3 tenths of a second (about 57 hours).
    let later = START_NS + step * step * step * 100_000_000;
    let mut g = Guests::new(&CLOUD);
    let out = g.start(&CLOUD, START_NS);
    check_emitted(&out);
    let mut out = Emitted::default();
    g.tick(later, &mut out);
    assert!(
        g.deliver(eni, frame, later, &mut out),
        "ENI {eni} has a guest"
    );
    assert!(!g.deliver(2, frame, later, &mut out), "no ENI 2");
    g.tick(later, &mut out);
    g.tick(later + 3_000_000_000, &mut out);
    // The same frame again after the timers ran (a retransmission, a second SYN).
    assert!(g.deliver(eni, frame, later + 3_000_000_000, &mut out));
    g.tick(later + 120_000_000_000, &mut out);
    check_emitted(&out);
    let c = g.counts;
    assert_eq!(c.delivered, 2, "two frames delivered");
    assert!(c.dhcp_answered <= c.dhcp_received, "{c:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    server(frame, usize::from(sel & 1));
    framing(frame);
    guests(sel, frame);
});
