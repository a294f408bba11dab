//! Forwarding-core and replay benchmarks (issue 2, item 9).
//!
//! Run: `cargo bench --bench forwarding` (about 3 minutes on 2 cores; `-- --quick` for a fast
//! sanity pass; a filter such as `-- nat_inbound` runs one family).
//!
//! Reading the output. Every forwarding bench times one *batch* per iteration and declares
//! `Throughput::Elements(batch)`, so criterion's `time` is ns per batch and `thrpt` is frames per
//! second: ns/frame = time / batch = 1e9 / thrpt. Each iteration first copies the batch from
//! pristine templates (frames are rewritten in place), and so does the baseline, so the copy is
//! in both sides of the ratio. The core/baseline ratio for a table size and a batch size is
//!
//!   ratio = time(`<scenario>_<size>/core/<batch>`) / time(`baseline_<size>/rewrite/<batch>`)
//!
//! e.g. `nat_inbound_1k/core/32` at 1.2 µs and `baseline_1k/rewrite/32` at 0.4 µs give 3.0x.
//! The baseline only reads the IPv4 destination, rewrites it and fixes the header checksum
//! (RFC 1624), no lookup. `lookup_1M` puts, on the same NAT-inbound frames, the core's batched
//! calls (`core_packed` = `process_packed`, `core_batch` = `process_batch`, both prefetching;
//! `core_single` = `process` per frame, no prefetching) beside a plain per-frame hash lookup
//! (`fxhash`, `std_hashmap`: a u32 -> u32 map of the core table's key set, every EIP and mapped
//! private IP; look the destination up, then the baseline's rewrite); ratio = time(core_*) / time(fxhash) at the same batch. The same figures
//! are in `target/criterion/<group>/<bench>/<batch>/new/estimates.json` (`mean.point_estimate`,
//! ns per batch).
//!
//! Topologies (N = 1k or 1M EIPs, VPC 10.0.0.0/8, EIPs from 47.0.0.1 up): N/2 NAT EIPs, each
//! mapped to its own private IP on secondary ENIs of P private IPs each, and N/2 MULTI_BINDED
//! EIPs on secondary ENIs of P EIPs each (multi-EIP quota P); every ENI attached to its own
//! `ecs.g5` instance; P = 64 at 1k and 4096 at 1M. The `Cloud` is built through the model's
//! console operations (create, allocate, associate, attach); at 1k it is also written out as
//! TOML and loaded with `Cloud::from_toml`, which must give the same cloud.
//!
//! Frames: 64-byte Ethernet + IPv4 + UDP (etherparse `PacketBuilder`), addresses drawn at random
//! over the table. Pools of 4096 frames at 1k and 1M frames (64 MiB) at 1M, so that at 1M the
//! table lines a batch touches are not in cache. Scenarios: `nat_inbound` (Internet -> NAT EIP,
//! DNAT), `nat_outbound` (ENI private IP -> Internet, SNAT), `pass_through` (Internet ->
//! MULTI_BINDED EIP), `drop` (Internet -> an address of 47.128.0.0/9 that is no EIP:
//! unknown-destination). Every pool is checked once against its expected verdicts.
//!
//! `replay`: `eipsim::replay::run` end to end (read pcap, core, write every output and
//! report.json) over a generated 1M-frame pcap (80 MB, in a temp dir, removed at the end) on
//! the 1k topology, with 1 and 2 workers; `thrpt` is frames per second.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;
use common::{FRAME_LEN, time_batches, time_core_batch, time_core_packed};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main,
};
use eipsim::dataplane::{Action, Dataplane, DropReason, Outcome, Port, Verdict};
use eipsim::model::{
    Account, Charge, Cloud, Eip, Eni, EniKind, Instance, Ipv4Cidr, Mac, Mode, Vpc,
};
use eipsim::replay::{self, ReplayOptions};
use eipsim::wire::LinkType;
use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapPacket, PcapWriter};
use rustc_hash::FxHashMap;

const BATCHES: [usize; 2] = [32, 256];
const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Source MAC of frames from the Internet side (no ENI's).
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const REPLAY_FRAMES: usize = 1_000_000;

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

struct Rng(u64);

impl Rng {
    /// splitmix64.
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

    /// A host on the Internet side: 198.18.0.0/15 (benchmarking range, RFC 2544).
    fn internet_host(&mut self) -> u32 {
        0xc612_0000 | (self.next() as u32 & 0x0001_ffff)
    }

    fn port(&mut self) -> u16 {
        1024 + (self.next() % 64_000) as u16
    }
}

// ---------------------------------------------------------------------------------------------
// Topology

/// A NAT mapping and the MAC of the ENI that owns the private side.
#[derive(Clone, Copy)]
struct NatEntry {
    private: u32,
    eip: u32,
    mac: [u8; 6],
}

/// What frame generators need to know about a topology.
#[derive(Default)]
struct Layout {
    nat: Vec<NatEntry>,
    multi: Vec<u32>,
}

fn eni_mac(idx: usize) -> [u8; 6] {
    [
        0x00,
        0x16,
        0x3e,
        (idx >> 16) as u8,
        (idx >> 8) as u8,
        idx as u8,
    ]
}

/// Builds the topology of `n` EIPs directly from the model's public types, in the order the
/// file loader would (instances, ENIs, EIPs, associations in file order; ENIs attached last).
fn build_cloud(n: usize) -> (Cloud, Layout) {
    let per_eni = if n >= 100_000 { 4096 } else { 64 };
    let n_nat = n / 2;
    let n_multi = n - n_nat;
    let mut cloud = Cloud::new(
        "eu-central-1".into(),
        Account {
            multi_eip_authorized: true,
            multi_eip_quota: per_eni as u32,
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
    let mut layout = Layout::default();
    let mut next_private = u32::from(Ipv4Addr::new(10, 0, 0, 10));
    let mut next_eip = u32::from(Ipv4Addr::new(47, 0, 0, 1));
    // Through the console's operations: create the ENI detached, bind its EIPs, then attach it.
    let add_eni = |cloud: &mut Cloud, ips: Vec<Ipv4Addr>| -> usize {
        let idx = cloud.enis.len();
        cloud
            .create_instance(Instance {
                id: format!("i-{idx}"),
                family: "ecs.g5".into(),
                dhcp: true,
                guest: Default::default(),
            })
            .expect("instance");
        cloud
            .create_network_interface(Eni::new(
                format!("eni-{idx}"),
                EniKind::Secondary,
                Mac(eni_mac(idx)),
                ips[0],
                ips[1..].to_vec(),
            ))
            .expect("eni");
        idx
    };
    let attach = |cloud: &mut Cloud, eni: usize| {
        let inst = cloud.instance_index(&format!("i-{eni}")).expect("instance");
        cloud.attach_network_interface(eni, inst).expect("attach");
    };
    let mut add_eip = |cloud: &mut Cloud, eni: usize, mode: Mode, private_ip| -> u32 {
        let e = cloud.eips.len();
        let address = next_eip;
        next_eip += 1;
        cloud
            .allocate_eip_address(Eip::new(
                format!("eip-{e}"),
                Ipv4Addr::from(address),
                Charge::PayByTraffic,
            ))
            .expect("eip");
        cloud
            .associate_eip_address(e, eni, mode, private_ip)
            .expect("associate");
        address
    };
    let mut left = n_nat;
    while left > 0 {
        let k = left.min(per_eni);
        let ips: Vec<Ipv4Addr> = (next_private..next_private + k as u32)
            .map(Ipv4Addr::from)
            .collect();
        next_private += k as u32;
        let eni = add_eni(&mut cloud, ips.clone());
        for ip in ips {
            let eip = add_eip(&mut cloud, eni, Mode::Nat, Some(ip));
            layout.nat.push(NatEntry {
                private: u32::from(ip),
                eip,
                mac: eni_mac(eni),
            });
        }
        left -= k;
    }
    let mut left = n_multi;
    while left > 0 {
        let k = left.min(per_eni);
        let eni = add_eni(&mut cloud, vec![Ipv4Addr::from(next_private)]);
        next_private += 1;
        for _ in 0..k {
            let eip = add_eip(&mut cloud, eni, Mode::MultiBinded, None);
            layout.multi.push(eip);
        }
        left -= k;
    }
    for eni in 0..cloud.enis.len() {
        attach(&mut cloud, eni);
    }
    (cloud, layout)
}

/// The topology file (design.md section 2) describing `cloud`.
fn to_toml(cloud: &Cloud) -> String {
    let mut s = String::new();
    let v = &cloud.vpc;
    let _ = writeln!(
        s,
        "region = \"{}\"\n\n[account]\nmulti_eip_authorized = {}\nmulti_eip_quota = {}\n\n\
         [vpc]\nid = \"{}\"\ncidr = \"{}\"\ngateway_mac = \"{}\"\ninternet_mac = \"{}\"\n",
        cloud.region,
        cloud.account.multi_eip_authorized,
        cloud.account.multi_eip_quota,
        v.id,
        v.cidr,
        v.gateway_mac,
        v.internet_mac
    );
    for i in &cloud.instances {
        let _ = writeln!(
            s,
            "[[instance]]\nid = \"{}\"\nfamily = \"{}\"\ndhcp = {}\n",
            i.id, i.family, i.dhcp
        );
    }
    for e in &cloud.enis {
        let kind = match e.kind {
            EniKind::Primary => "primary",
            EniKind::Secondary => "secondary",
        };
        let secondaries: Vec<String> = e.secondary_ips.iter().map(|a| format!("\"{a}\"")).collect();
        let _ = writeln!(
            s,
            "[[eni]]\nid = \"{}\"\nkind = \"{kind}\"\nmac = \"{}\"\nprimary_ip = \"{}\"\n\
             secondary_ips = [{}]",
            e.id,
            e.mac,
            e.primary_ip,
            secondaries.join(", ")
        );
        if let Some(i) = e.instance {
            let _ = writeln!(s, "instance = \"{}\"", cloud.instances[i].id);
        }
        if let Some(st) = &e.static_eips {
            let list: Vec<String> = st.iter().map(|a| format!("\"{a}\"")).collect();
            let _ = writeln!(s, "static_eips = [{}]", list.join(", "));
        }
        s.push('\n');
    }
    for e in &cloud.eips {
        let charge = match e.charge {
            Charge::PayByTraffic => "PayByTraffic",
            Charge::Subscription => "Subscription",
        };
        let _ = writeln!(
            s,
            "[[eip]]\nid = \"{}\"\naddress = \"{}\"\ncharge = \"{charge}\"\n",
            e.id, e.address
        );
    }
    for a in &cloud.associations {
        let _ = writeln!(
            s,
            "[[association]]\neip = \"{}\"\neni = \"{}\"\nmode = \"{}\"",
            cloud.eips[a.eip].id,
            cloud.enis[a.eni].id,
            a.mode.api_name()
        );
        if let Some(ip) = a.private_ip {
            let _ = writeln!(s, "private_ip = \"{ip}\"");
        }
        s.push('\n');
    }
    s
}

/// A topology of `n` EIPs: through `Cloud::from_toml` when small, else built directly (and the
/// direct build is checked against `from_toml` at 1k first).
fn topology(n: usize) -> (Cloud, Layout) {
    let t = Instant::now();
    let (cloud, layout) = build_cloud(n);
    let cloud = if n <= 10_000 {
        let parsed = Cloud::from_toml(&to_toml(&cloud)).expect("generated topology is valid");
        assert_eq!(
            format!("{parsed:?}"),
            format!("{cloud:?}"),
            "direct build differs from Cloud::from_toml"
        );
        parsed
    } else {
        let (small, _) = build_cloud(1000);
        let parsed = Cloud::from_toml(&to_toml(&small)).expect("generated topology is valid");
        assert_eq!(format!("{parsed:?}"), format!("{small:?}"));
        cloud
    };
    eprintln!(
        "topology: {n} EIPs, {} ENIs, built in {:.2?}",
        cloud.enis.len(),
        t.elapsed()
    );
    (cloud, layout)
}

struct Fixture {
    dp: Dataplane,
    layout: Layout,
}

fn fixture(n: usize) -> Fixture {
    let (cloud, layout) = topology(n);
    let t = Instant::now();
    let dp = Dataplane::new(&cloud);
    eprintln!("dataplane: {n} EIPs compiled in {:.2?}", t.elapsed());
    Fixture { dp, layout }
}

// ---------------------------------------------------------------------------------------------
// Frames

#[derive(Clone, Copy, PartialEq, Eq)]
enum Scenario {
    NatInbound,
    NatOutbound,
    PassThrough,
    Drop,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::NatInbound,
        Scenario::NatOutbound,
        Scenario::PassThrough,
        Scenario::Drop,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::NatInbound => "nat_inbound",
            Scenario::NatOutbound => "nat_outbound",
            Scenario::PassThrough => "pass_through",
            Scenario::Drop => "drop",
        }
    }

    fn expected(self) -> Outcome {
        match self {
            Scenario::NatInbound => Outcome::Forward(Port::Eni(0), Action::Dnat),
            Scenario::NatOutbound => Outcome::Forward(Port::Internet, Action::Snat),
            Scenario::PassThrough => Outcome::Forward(Port::Eni(0), Action::PassThrough),
            Scenario::Drop => Outcome::Drop(DropReason::UnknownDestination),
        }
    }

    /// Whether `v` is this scenario's outcome (any ENI).
    fn matches(self, v: &Verdict) -> bool {
        match (self.expected(), v.outcome) {
            (Outcome::Forward(Port::Eni(_), a), Outcome::Forward(Port::Eni(_), b)) => a == b,
            (e, o) => e == o,
        }
    }

    /// One frame of this scenario with random addresses and ports.
    fn frame(self, layout: &Layout, rng: &mut Rng) -> [u8; FRAME_LEN] {
        let (src_mac, src, dst) = match self {
            Scenario::NatInbound => {
                let e = layout.nat[rng.below(layout.nat.len())];
                (PEER_MAC, rng.internet_host(), e.eip)
            }
            Scenario::NatOutbound => {
                let e = layout.nat[rng.below(layout.nat.len())];
                (e.mac, e.private, rng.internet_host())
            }
            Scenario::PassThrough => {
                let eip = layout.multi[rng.below(layout.multi.len())];
                (PEER_MAC, rng.internet_host(), eip)
            }
            Scenario::Drop => {
                // 47.128.0.0/9: above every allocated EIP (47.0.0.1 + 1M < 47.16.0.0).
                let dst = 0x2f80_0000 | (rng.next() as u32 & 0x007f_ffff);
                (PEER_MAC, rng.internet_host(), dst)
            }
        };
        udp_frame(src_mac, src, dst, rng.port(), rng.port())
    }
}

fn udp_frame(src_mac: [u8; 6], src: u32, dst: u32, sport: u16, dport: u16) -> [u8; FRAME_LEN] {
    let builder = PacketBuilder::ethernet2(src_mac, GATEWAY_MAC)
        .ipv4(src.to_be_bytes(), dst.to_be_bytes(), 64)
        .udp(sport, dport);
    let payload = [0x5a; FRAME_LEN - 14 - 20 - 8];
    let mut v = Vec::with_capacity(FRAME_LEN);
    builder.write(&mut v, &payload).expect("write to a Vec");
    v.try_into().expect("a 64-byte frame")
}

/// `count` frames of `scenario`, packed back to back.
fn pool(scenario: Scenario, layout: &Layout, count: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(count * FRAME_LEN);
    for _ in 0..count {
        out.extend_from_slice(&scenario.frame(layout, &mut rng));
    }
    out
}

/// Runs every frame of the pool once through the core (on a copy) and checks its verdict.
fn check_pool(dp: &Dataplane, scenario: Scenario, pool: &[u8]) {
    let mut buf = pool.to_vec();
    for (i, f) in buf.chunks_exact_mut(FRAME_LEN).enumerate() {
        let v = dp.process(f, LinkType::Ethernet);
        assert!(
            scenario.matches(&v),
            "{} frame {i}: unexpected verdict {:?}",
            scenario.name(),
            v.outcome
        );
    }
}

fn pool_size(n: usize) -> usize {
    if n >= 100_000 { 1 << 20 } else { 4096 }
}

// ---------------------------------------------------------------------------------------------
// Timed loops

/// The core one frame at a time through `process` (no prefetching).
fn time_core_single(
    dp: &Dataplane,
    pool: &[u8],
    batch: usize,
    cursor: &mut usize,
    iters: u64,
) -> Duration {
    time_batches(pool, batch, cursor, iters, |buf| {
        for f in buf.chunks_exact_mut(FRAME_LEN) {
            black_box(dp.process(f, LinkType::Ethernet));
        }
    })
}

const IP: usize = 14;

/// Rewrites the IPv4 destination of an untagged Ethernet frame and updates the header checksum
/// incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')).
#[inline(always)]
fn rewrite_dst(f: &mut [u8], new: u32) {
    let ip = &mut f[IP..IP + 20];
    let old_hi = u16::from_be_bytes([ip[16], ip[17]]);
    let old_lo = u16::from_be_bytes([ip[18], ip[19]]);
    ip[16..20].copy_from_slice(&new.to_be_bytes());
    let hc = u16::from_be_bytes([ip[10], ip[11]]);
    let mut acc =
        u32::from(!hc) + u32::from(!old_hi) + u32::from(!old_lo) + (new >> 16) + (new & 0xffff);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    ip[10..12].copy_from_slice(&(!(acc as u16)).to_be_bytes());
}

#[inline(always)]
fn read_dst(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[IP + 16], f[IP + 17], f[IP + 18], f[IP + 19]])
}

/// The baseline's address change: no lookup, 47.x.y.z -> 10.x.y.z.
#[inline(always)]
fn baseline_map(dst: u32) -> u32 {
    (dst & 0x00ff_ffff) | 0x0a00_0000
}

fn time_baseline(pool: &[u8], batch: usize, cursor: &mut usize, iters: u64) -> Duration {
    time_batches(pool, batch, cursor, iters, |buf| {
        for f in buf.chunks_exact_mut(FRAME_LEN) {
            let dst = read_dst(f);
            rewrite_dst(f, baseline_map(dst));
        }
    })
}

fn time_hash<S: std::hash::BuildHasher>(
    map: &HashMap<u32, u32, S>,
    pool: &[u8],
    batch: usize,
    cursor: &mut usize,
    iters: u64,
) -> Duration {
    time_batches(pool, batch, cursor, iters, |buf| {
        for f in buf.chunks_exact_mut(FRAME_LEN) {
            if let Some(&private) = map.get(&read_dst(f)) {
                rewrite_dst(f, private);
            }
        }
    })
}

/// RFC 1071 sum of `data` (even length), folded; 0xffff means the checksum verifies.
fn ones_sum(data: &[u8]) -> u16 {
    let mut s: u32 = data
        .chunks_exact(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The baseline's rewrite leaves a valid IPv4 header (checked once, outside the timings).
fn check_baseline(pool: &[u8]) {
    let mut f: [u8; FRAME_LEN] = pool[..FRAME_LEN].try_into().expect("one frame");
    assert_eq!(ones_sum(&f[IP..IP + 20]), 0xffff);
    let dst = read_dst(&f);
    rewrite_dst(&mut f, baseline_map(dst));
    assert_eq!(ones_sum(&f[IP..IP + 20]), 0xffff, "baseline checksum");
}

// ---------------------------------------------------------------------------------------------
// Benches

fn forwarding_size(c: &mut Criterion, n: usize, label: &str) {
    let fx: OnceCell<Fixture> = OnceCell::new();
    let fixture = || fx.get_or_init(|| fixture(n));
    let pools: [OnceCell<Vec<u8>>; 4] = Default::default();
    let pool_of = |s: Scenario| {
        let i = Scenario::ALL
            .iter()
            .position(|x| *x == s)
            .expect("scenario");
        pools[i].get_or_init(|| {
            let f = fixture();
            let p = pool(s, &f.layout, pool_size(n), 0x5eed + i as u64);
            check_pool(&f.dp, s, &p);
            p
        })
    };

    for s in Scenario::ALL {
        let mut g = short_group(c, format!("{}_{label}", s.name()));
        let mut cursor = 0;
        for batch in BATCHES {
            g.throughput(Throughput::Elements(batch as u64));
            g.bench_function(BenchmarkId::new("core", batch), |b| {
                let (dp, p) = (&fixture().dp, pool_of(s));
                b.iter_custom(|iters| time_core_packed(dp, p, batch, &mut cursor, iters))
            });
        }
        g.finish();
    }

    let mut g = short_group(c, format!("baseline_{label}"));
    let mut cursor = 0;
    for batch in BATCHES {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new("rewrite", batch), |b| {
            let p = pool_of(Scenario::NatInbound);
            check_baseline(p);
            b.iter_custom(|iters| time_baseline(p, batch, &mut cursor, iters))
        });
    }
    g.finish();

    if n < 100_000 {
        return;
    }
    // The core's batched calls against a plain per-frame hash lookup, same frames.
    let map_cell: OnceCell<(FxHashMap<u32, u32>, HashMap<u32, u32>)> = OnceCell::new();
    let maps = || {
        map_cell.get_or_init(|| {
            // The key set of the core's address table: every EIP and every mapped private IP.
            let l = &fixture().layout;
            let entries = || {
                l.nat
                    .iter()
                    .flat_map(|e| [(e.eip, e.private), (e.private, e.eip)])
                    .chain(l.multi.iter().map(|&eip| (eip, eip)))
            };
            (entries().collect(), entries().collect())
        })
    };
    let mut g = short_group(c, format!("lookup_{label}"));
    let mut cursor = 0;
    for batch in BATCHES {
        g.throughput(Throughput::Elements(batch as u64));
        g.bench_function(BenchmarkId::new("core_packed", batch), |b| {
            let (dp, p) = (&fixture().dp, pool_of(Scenario::NatInbound));
            b.iter_custom(|iters| time_core_packed(dp, p, batch, &mut cursor, iters))
        });
        g.bench_function(BenchmarkId::new("core_batch", batch), |b| {
            let (dp, p) = (&fixture().dp, pool_of(Scenario::NatInbound));
            b.iter_custom(|iters| time_core_batch(dp, p, batch, &mut cursor, iters))
        });
        g.bench_function(BenchmarkId::new("core_single", batch), |b| {
            let (dp, p) = (&fixture().dp, pool_of(Scenario::NatInbound));
            b.iter_custom(|iters| time_core_single(dp, p, batch, &mut cursor, iters))
        });
        g.bench_function(BenchmarkId::new("fxhash", batch), |b| {
            let (m, p) = (&maps().0, pool_of(Scenario::NatInbound));
            b.iter_custom(|iters| time_hash(m, p, batch, &mut cursor, iters))
        });
        g.bench_function(BenchmarkId::new("std_hashmap", batch), |b| {
            let (m, p) = (&maps().1, pool_of(Scenario::NatInbound));
            b.iter_custom(|iters| time_hash(m, p, batch, &mut cursor, iters))
        });
    }
    g.finish();
}

/// A group with the settings every forwarding group uses: 10 samples, 0.5 s warm-up, 2 s.
fn short_group(c: &mut Criterion, name: String) -> BenchmarkGroup<'_, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g
}

fn forwarding_1k(c: &mut Criterion) {
    forwarding_size(c, 1_000, "1k");
}

fn forwarding_1m(c: &mut Criterion) {
    forwarding_size(c, 1_000_000, "1M");
}

/// A temp dir holding the replay's topology, capture and outputs; removed when dropped.
struct ReplayFixture {
    dir: PathBuf,
    topology: PathBuf,
    capture: PathBuf,
}

impl Drop for ReplayFixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn replay_fixture() -> ReplayFixture {
    let t = Instant::now();
    let dir = std::env::temp_dir().join(format!("eipsim-bench-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (cloud, layout) = build_cloud(1000);
    let topology = dir.join("topology.toml");
    std::fs::write(&topology, to_toml(&cloud)).expect("write topology");
    // 4096 flows of the four scenarios (4:3:2:1), each frame from a random flow.
    let mut rng = Rng(0xca97);
    let kinds = [
        Scenario::NatInbound,
        Scenario::NatInbound,
        Scenario::NatInbound,
        Scenario::NatInbound,
        Scenario::NatOutbound,
        Scenario::NatOutbound,
        Scenario::NatOutbound,
        Scenario::PassThrough,
        Scenario::PassThrough,
        Scenario::Drop,
    ];
    let flows: Vec<[u8; FRAME_LEN]> = (0..4096)
        .map(|i| kinds[i % kinds.len()].frame(&layout, &mut rng))
        .collect();
    let capture = dir.join("bench.pcap");
    let file = std::fs::File::create(&capture).expect("create capture");
    let mut w = PcapWriter::new(BufWriter::with_capacity(1 << 20, file)).expect("pcap header");
    let t0 = Duration::from_secs(1_790_000_000);
    for i in 0..REPLAY_FRAMES {
        let f = &flows[rng.below(flows.len())];
        let ts = t0 + Duration::from_micros(i as u64 * 10);
        w.write_packet(&PcapPacket::new(ts, FRAME_LEN as u32, f))
            .expect("write frame");
    }
    drop(w);
    eprintln!(
        "replay: {REPLAY_FRAMES} frames written to {} in {:.2?}",
        capture.display(),
        t.elapsed()
    );
    ReplayFixture {
        dir,
        topology,
        capture,
    }
}

fn replay_bench(c: &mut Criterion) {
    let fx: OnceCell<ReplayFixture> = OnceCell::new();
    let mut g = c.benchmark_group("replay");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements(REPLAY_FRAMES as u64));
    // Workers 1 and 2 with ALG inspection on; and workers 1 with it off (`--no-alg`): the
    // frames carry no ALG protocol, so the ratio alg-on / alg-off is what inspection costs
    // traffic that does not need it (target: within 5%).
    for (name, workers, alg) in [
        ("1M_frames_workers", 1, true),
        ("1M_frames_workers", 2, true),
        ("1M_frames_alg_off_workers", 1, false),
    ] {
        g.bench_function(BenchmarkId::new(name, workers), |b| {
            let f = fx.get_or_init(replay_fixture);
            let opts = ReplayOptions {
                capture_point: Default::default(),
                respond: false,
                topology: f.topology.clone(),
                out: f.dir.join(format!("out-{name}-{workers}")),
                ingress: None,
                workers,
                inputs: vec![f.capture.clone()],
                progress: false,
                trace: None,
                max_open_files: None,
                alg,
                alg_spec: None,
                events: None,
            };
            let check = replay::run(&opts).expect("replay runs");
            assert!(check.capture_error.is_none());
            assert_eq!(check.stats.frames_in, REPLAY_FRAMES as u64);
            assert_eq!(
                check.stats.frames_in,
                check.stats.forwarded + check.stats.dropped.iter().sum::<u64>()
            );
            b.iter(|| replay::run(&opts).expect("replay runs"))
        });
    }
    g.finish();
}

criterion_group!(benches, forwarding_1k, forwarding_1m, replay_bench);
criterion_main!(benches);
