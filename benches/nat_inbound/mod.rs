//! NAT inbound fixture shared by `benches/core_vs_baseline.rs` and `examples/core_profile.rs`:
//! the topology, the frames, and the baseline (a bare `FxHashMap` lookup doing the fixed work
//! the core does on a NAT inbound frame). The top of `benches/core_vs_baseline.rs` says what each
//! side does.

use std::net::Ipv4Addr;

use eipsim::dataplane::{Action, Dataplane, DropReason, Outcome, Port};
use eipsim::model::{
    Account, Charge, Cloud, Eip, Eni, EniKind, Instance, Ipv4Cidr, Mac, Mode, Vpc,
};
use eipsim::wire::LinkType;
use eipsim::wire::checksum::{self, Delta};
use etherparse::PacketBuilder;
use rustc_hash::FxHashMap;

/// Bytes per frame in a pool.
pub const FRAME_LEN: usize = 64;
/// The gateway's MAC (source MAC of every forwarded frame).
pub const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Source MAC of the frames (no ENI's: they come from the Internet).
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Offsets in an untagged Ethernet frame.
const ETHER_TYPE: usize = 12;
const IP: usize = 14;
const IP_TOTAL_LEN: usize = IP + 2;
const IP_FLG_OFF: usize = IP + 6;
const IP_TTL: usize = IP + 8;
const IP_PROTO: usize = IP + 9;
const IP_CSUM: usize = IP + 10;
const IP_DST: usize = IP + 16;
/// Offsets of the checksum inside the L4 header.
const UDP_CSUM_AT: usize = 6;
const TCP_CSUM_AT: usize = 16;

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Where a NAT EIP leads: what the baseline's map holds per EIP.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The private IP (host order) the EIP is mapped to.
    pub private: u32,
    /// The MAC of the ENI holding it.
    pub mac: [u8; 6],
    /// The ENI's index (the core's `Port::Eni`).
    pub eni: u32,
}

/// The baseline's table: EIP (host order) -> target.
pub type BaselineMap = FxHashMap<u32, Target>;

/// `n` NAT EIPs, each on its own private IP; returns the cloud and (EIP, target) per EIP.
pub fn nat_cloud(n: usize) -> (Cloud, Vec<(u32, Target)>) {
    let per_eni = if n >= 100_000 { 4096 } else { 64 };
    let mut cloud = Cloud::new(
        "eu-central-1".into(),
        Account {
            multi_eip_authorized: false,
            multi_eip_quota: 10,
            tcp25_unblocked: false,
        },
        Vpc {
            id: "vpc-bench".into(),
            cidr: Ipv4Cidr {
                network: Ipv4Addr::new(10, 0, 0, 0),
                prefix: 8,
            },
            gateway_mac: Mac(GATEWAY_MAC),
            internet_mac: Mac(INTERNET_MAC),
        },
    )
    .expect("region");
    let mut pairs = Vec::with_capacity(n);
    let mut next_private = u32::from(Ipv4Addr::new(10, 0, 0, 10));
    let mut next_eip = u32::from(Ipv4Addr::new(47, 0, 0, 1));
    while pairs.len() < n {
        let k = (n - pairs.len()).min(per_eni);
        let eni = cloud.enis.len();
        let ips: Vec<Ipv4Addr> = (next_private..next_private + k as u32)
            .map(Ipv4Addr::from)
            .collect();
        next_private += k as u32;
        cloud
            .create_instance(Instance {
                id: format!("i-{eni}"),
                family: "ecs.g5".into(),
                dhcp: true,
                guest: Default::default(),
            })
            .expect("instance");
        let mac = [
            0x00,
            0x16,
            0x3e,
            (eni >> 16) as u8,
            (eni >> 8) as u8,
            eni as u8,
        ];
        cloud
            .create_network_interface(Eni::new(
                format!("eni-{eni}"),
                EniKind::Secondary,
                Mac(mac),
                ips[0],
                ips[1..].to_vec(),
            ))
            .expect("eni");
        for ip in ips {
            let e = cloud.eips.len();
            cloud
                .allocate_eip_address(Eip::new(
                    format!("eip-{e}"),
                    Ipv4Addr::from(next_eip),
                    Charge::PayByTraffic,
                ))
                .expect("eip");
            cloud
                .associate_eip_address(e, eni, Mode::Nat, Some(ip))
                .expect("associate");
            let target = Target {
                private: u32::from(ip),
                mac,
                eni: eni as u32,
            };
            pairs.push((next_eip, target));
            next_eip += 1;
        }
        let inst = cloud.instance_index(&format!("i-{eni}")).expect("instance");
        cloud.attach_network_interface(eni, inst).expect("attach");
    }
    (cloud, pairs)
}

/// Frames to every EIP of `pairs` in random order, `rounds` shuffled permutations, packed.
pub fn nat_inbound_pool(pairs: &[(u32, Target)], rounds: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(pairs.len() * rounds * FRAME_LEN);
    let mut order: Vec<u32> = pairs.iter().map(|p| p.0).collect();
    let payload = [0x5a; FRAME_LEN - 14 - 20 - 8];
    for _ in 0..rounds {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for &eip in &order {
            // Internet side: 198.18.0.0/15 (RFC 2544), any port.
            let src = 0xc612_0000 | (rng.next() as u32 & 0x0001_ffff);
            let sport = 1024 + (rng.next() % 64_000) as u16;
            let dport = 1024 + (rng.next() % 64_000) as u16;
            PacketBuilder::ethernet2(PEER_MAC, GATEWAY_MAC)
                .ipv4(src.to_be_bytes(), eip.to_be_bytes(), 64)
                .udp(sport, dport)
                .write(&mut out, &payload)
                .expect("write to a Vec");
        }
    }
    assert_eq!(
        out.len(),
        pairs.len() * rounds * FRAME_LEN,
        "64-byte frames"
    );
    out
}

/// A table size's fixture: the core's tables, the baseline's map and the frames.
pub struct Fixture {
    /// The core's tables.
    pub dp: Dataplane,
    /// The same tables with the fast path off ([`Dataplane::set_fast_path`]): every frame
    /// takes the general path.
    pub general: Dataplane,
    /// The baseline's map.
    pub map: BaselineMap,
    /// The frames, packed, `FRAME_LEN` bytes each.
    pub pool: Vec<u8>,
}

/// Builds and checks the fixture of `n` NAT EIPs (at 1k four rounds of frames, 4096; from 100k
/// one round).
pub fn fixture(n: usize) -> Fixture {
    let (cloud, pairs) = nat_cloud(n);
    let dp = Dataplane::new(&cloud);
    drop(cloud);
    let map: BaselineMap = pairs.iter().copied().collect();
    let rounds = if n >= 100_000 { 1 } else { (4096 / n).max(1) };
    let pool = nat_inbound_pool(&pairs, rounds, 0x5eed ^ n as u64);
    let mut general = dp.clone();
    general.set_fast_path(false);
    check_pool(&dp, &map, &pool);
    check_pool(&general, &map, &pool);
    Fixture {
        dp,
        general,
        map,
        pool,
    }
}

#[inline(always)]
fn be16(f: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([f[at], f[at + 1]])
}

#[inline(always)]
fn be32(f: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

/// The baseline's work on one frame, NAT inbound only, written plainly. Validation, as the core
/// does on the fields it reads: an Ethernet II frame of IPv4 (no VLAN tags in these frames),
/// version 4, header length at least 20 and captured, total length covering the header (the
/// datagram ends at the total length or the end of the capture), the fragment offset (only a
/// first fragment has an L4 checksum to fix), the destination in the map, TTL above 1. Then:
/// destination = the private IP, TTL - 1, the IPv4 checksum fixed for both (RFC 1624), the UDP
/// or TCP checksum fixed for the address when its field was captured (a UDP checksum of 0 stays
/// 0), destination MAC = the ENI's, source MAC = the gateway's. Returns the outcome, as the
/// core's verdict does (a dropped frame is left unchanged).
#[inline(always)]
pub fn baseline_frame(map: &BaselineMap, f: &mut [u8]) -> Outcome {
    if f.len() < IP + 20 {
        return Outcome::Drop(DropReason::Malformed);
    }
    if be16(f, ETHER_TYPE) != 0x0800 {
        return Outcome::Drop(DropReason::NotIpv4);
    }
    let ver_ihl = f[IP];
    let ihl = usize::from(ver_ihl & 0x0f) * 4;
    let total = usize::from(be16(f, IP_TOTAL_LEN));
    if ver_ihl >> 4 != 4 || ihl < 20 || f.len() < IP + ihl || total < ihl {
        return Outcome::Drop(DropReason::Malformed);
    }
    let end = IP + total.min(f.len() - IP);
    let first_fragment = be16(f, IP_FLG_OFF) & 0x1fff == 0;
    let (ttl, proto) = (f[IP_TTL], f[IP_PROTO]);
    let dst = be32(f, IP_DST);
    let Some(t) = map.get(&dst) else {
        return Outcome::Drop(DropReason::UnknownDestination);
    };
    if ttl <= 1 {
        return Outcome::Drop(DropReason::TtlExpired);
    }
    f[IP_DST..IP_DST + 4].copy_from_slice(&t.private.to_be_bytes());
    f[IP_TTL] = ttl - 1;
    let addr = Delta::ZERO.addr32(dst, t.private);
    let ttl_word = u16::from_be_bytes([ttl, proto]);
    checksum::apply_at(f, IP_CSUM, addr.word(ttl_word, ttl_word - 0x0100));
    if first_fragment {
        let l4 = &mut f[IP + ihl..end];
        match proto {
            17 => checksum::apply_udp_at(l4, UDP_CSUM_AT, addr),
            6 => checksum::apply_at(l4, TCP_CSUM_AT, addr),
            _ => None,
        };
    }
    f[0..6].copy_from_slice(&t.mac);
    f[6..12].copy_from_slice(&GATEWAY_MAC);
    Outcome::Forward(Port::Eni(t.eni), Action::Dnat)
}

/// The baseline over a packed batch: one outcome per frame. The frame length is a run-time
/// value, as the core's ranges are: the compiler cannot drop the length checks.
#[inline(never)]
pub fn baseline_batch(map: &BaselineMap, buf: &mut [u8], out: &mut [Outcome]) {
    let len = std::hint::black_box(FRAME_LEN);
    for (f, o) in buf.chunks_exact_mut(len).zip(out.iter_mut()) {
        *o = baseline_frame(map, f);
    }
}

/// Runs every frame of the pool once through both sides (on copies): the same outcome (DNAT to
/// the same ENI), byte for byte the same frame out, valid IPv4 and UDP checksums.
pub fn check_pool(dp: &Dataplane, map: &BaselineMap, pool: &[u8]) {
    for (i, orig) in pool.chunks_exact(FRAME_LEN).enumerate() {
        let (mut core, mut base) = (orig.to_vec(), orig.to_vec());
        let v = dp.process(&mut core, LinkType::Ethernet);
        assert!(
            matches!(v.outcome, Outcome::Forward(Port::Eni(_), Action::Dnat)),
            "frame {i}: core verdict {:?}",
            v.outcome
        );
        assert_eq!(baseline_frame(map, &mut base), v.outcome, "frame {i}");
        assert_eq!(core, base, "frame {i}: the two sides' frames differ");
        assert_ne!(core, orig, "frame {i}: rewritten");
        assert_eq!(checksum::checksum(&core[IP..IP + 20]), 0, "frame {i}: IPv4");
        let (src, dst) = (&core[IP + 12..IP + 16], &core[IP_DST..IP_DST + 4]);
        let l4 = checksum::l4_checksum(
            src.try_into().expect("4 bytes"),
            dst.try_into().expect("4 bytes"),
            17,
            &core[IP + 20..],
        );
        assert_eq!(l4, 0, "frame {i}: UDP checksum");
    }
}
