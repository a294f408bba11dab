//! The committed seeds of the `guest` fuzz target (fuzz/corpus/guest/) are what this test
//! builds: a real DHCP DISCOVER (the one a cut-through NIC's DHCP client sends), the gateway's
//! ARP request for a NAT NIC's address, a TCP SYN, an ICMP echo request and a UDP datagram to
//! the fuzz topology's NICs. Each seed is the target's selector byte (low bit: the NIC, 0 the
//! NAT NIC, 1 the cut-through NIC; the other bits: how far time advances) and an Ethernet frame.
//!
//! `EIPSIM_WRITE_SEEDS=1 cargo test --test guest_seeds` writes them again.

use std::net::Ipv4Addr;
use std::path::Path;

use eipsim::guest::dhcp::{self, Request};
use eipsim::guest::nic::{self, Nic};
use eipsim::guest::plan;
use eipsim::model::Cloud;
use etherparse::PacketBuilder;
use smoltcp::wire::ArpOperation;

const GW: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const NAT_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x10];
const CUT_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x20];
const CLIENT: [u8; 4] = [198, 51, 100, 7];
const START_NS: i64 = 1_700_000_000_000_000_000;

/// The fuzz target's topology (kept in step with fuzz/fuzz_targets/guest.rs).
fn cloud() -> Cloud {
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets/guest.rs"),
    )
    .unwrap();
    let start = src.find("r#\"").expect("the target's topology") + 3;
    let end = start + src[start..].find("\"#").unwrap();
    Cloud::from_toml(&src[start..end]).unwrap()
}

/// The first frame the cut-through NIC's DHCP client sends.
fn discover(cloud: &Cloud) -> Vec<u8> {
    let attached = plan::attached(cloud);
    let plan = plan::nics(cloud, 0, &attached[0])
        .into_iter()
        .find(|p| p.binded)
        .expect("a cut-through NIC");
    assert_eq!(plan.mac, CUT_MAC);
    let mut nic = Nic::new(plan, &[], GW, String::new(), START_NS).unwrap();
    for _ in 0..4 {
        nic.step(START_NS);
        if let Some(f) = nic.dev.tx.first() {
            return f.clone();
        }
    }
    panic!("the DHCP client sent nothing");
}

fn tcp_syn() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(GW, NAT_MAC)
        .ipv4(CLIENT, [172, 16, 0, 10], 64)
        .tcp(50_000, 80, 1000, 64240)
        .syn()
        .write(&mut v, b"")
        .unwrap();
    v
}

fn ping() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(GW, CUT_MAC)
        .ipv4(CLIENT, [47, 0, 0, 20], 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

fn dns() -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(GW, NAT_MAC)
        .ipv4(CLIENT, [172, 16, 0, 10], 64)
        .udp(40_000, 53)
        .write(&mut v, b"hello")
        .unwrap();
    v
}

/// The seeds: file name, selector byte, frame.
fn seeds() -> Vec<(&'static str, u8, Vec<u8>)> {
    let cloud = cloud();
    let arp = nic::arp_frame(
        ArpOperation::Request,
        (GW, Ipv4Addr::new(172, 31, 255, 253)),
        ([0; 6], Ipv4Addr::new(172, 16, 0, 10)),
        [0xff; 6],
    );
    vec![
        ("dhcp-discover", 0x01, discover(&cloud)),
        ("arp-request", 0x00, arp),
        ("tcp-syn", 0x00, tcp_syn()),
        ("icmp-echo", 0x03, ping()),
        ("udp-53", 0x04, dns()),
    ]
}

#[test]
fn the_guest_fuzz_targets_seeds_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/guest");
    let write = std::env::var_os("EIPSIM_WRITE_SEEDS").is_some();
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, sel, frame) in seeds() {
        let bytes = [&[sel][..], &frame].concat();
        let path = dir.join(name);
        if write {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            committed, bytes,
            "{name}: regenerate with EIPSIM_WRITE_SEEDS=1"
        );
    }
}

/// The DISCOVER seed is one: the VPC's DHCP server offers the lease to it.
#[test]
fn the_discover_seed_is_a_dhcp_discover() {
    let cloud = cloud();
    let f = discover(&cloud);
    assert!(dhcp::is_client_message(&f));
    let lease = dhcp::Lease {
        address: Ipv4Addr::new(47, 0, 0, 20),
        mask: Ipv4Addr::new(255, 255, 255, 0),
        gateway: Ipv4Addr::new(47, 0, 0, 1),
        lease_s: 86_400,
    };
    let server = dhcp::Server {
        mac: GW,
        server: lease.gateway,
    };
    let mut out = Vec::new();
    assert_eq!(
        dhcp::answer(&f, CUT_MAC, Some(&lease), &server, &mut out),
        Ok(Some(Request::Discover))
    );
    assert!(!out.is_empty(), "an OFFER");
}

/// The seeds reach the guests' stacks the way the fuzz target feeds them (started at the first
/// frame's time, the frame delivered to the NIC the selector picks): the SYN gets a SYN-ACK,
/// the ping an echo reply, the UDP datagram its echo, and the ARP request and the DISCOVER
/// nothing the frame pass would see.
#[test]
fn the_seeds_are_answered_by_the_fuzz_targets_guests() {
    use eipsim::guest::{Emit, Emitted, Guests};
    let cloud = cloud();
    for (name, sel, frame) in seeds() {
        let mut g = Guests::new(&cloud);
        let started = g.start(&cloud, START_NS);
        assert_eq!(
            started
                .frames
                .iter()
                .filter(|f| f.1 == Emit::Served)
                .count(),
            2,
            "{name}: OFFER and ACK at the start"
        );
        let mut out = Emitted::default();
        assert!(g.deliver(usize::from(sel & 1), &frame, START_NS, &mut out));
        let sent: Vec<&Vec<u8>> = out
            .frames
            .iter()
            .filter(|f| f.1 == Emit::Sent)
            .map(|f| &f.2)
            .collect();
        let want: Option<(u8, usize)> = match name {
            // (IP protocol, offset of a byte to check in the Ethernet frame, its value below)
            "tcp-syn" => Some((6, 14 + 20 + 13)),
            "icmp-echo" => Some((1, 14 + 20)),
            "udp-53" => Some((17, 14 + 20 + 8)),
            _ => None,
        };
        match want {
            None => assert!(sent.is_empty(), "{name}: {sent:02x?}"),
            Some((proto, at)) => {
                assert_eq!(sent.len(), 1, "{name}: one reply");
                let f = sent[0];
                assert_eq!(f[14 + 9], proto, "{name}: protocol");
                let expect = match proto {
                    6 => 0x12, // SYN-ACK
                    1 => 0,    // echo reply
                    _ => b'h', // the echoed "hello"
                };
                assert_eq!(f[at], expect, "{name}: {f:02x?}");
            }
        }
    }
}
