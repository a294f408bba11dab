//! NAT inbound: the forwarding core against a bare lookup-and-rewrite baseline (issue 9).
//!
//! Run: `cargo bench --bench core_vs_baseline` (about a minute on 2 cores; `-- --quick` for a
//! fast pass; `-- 1k` or `-- 1M` for one table size).
//!
//! Both sides get the same frames, Internet -> NAT EIP (DNAT), 64-byte Ethernet + IPv4 + UDP with
//! a UDP checksum, and do their work in place on a copy of the next batch (the copy is timed on
//! both sides):
//!
//! - `core_packed` = `Dataplane::process_packed` (the replay's call), `core_batch` =
//!   `Dataplane::process_batch`: everything the gateway does (MAC lookup of the ingress, parse,
//!   table lookup of the destination, checks, DNAT, TTL, MACs, checksums, a verdict per frame);
//! - `baseline`: a `rustc_hash::FxHashMap<u32, u32>` lookup of the destination (EIP -> private
//!   IP), the destination rewritten, and the IPv4 and UDP checksums fixed incrementally with
//!   `eipsim::wire::checksum::Delta` (RFC 1624).
//!
//! Topologies: N = 1k and 1M NAT EIPs (VPC 10.0.0.0/8, EIPs from 47.0.0.1 up), each mapped to its
//! own private IP on secondary ENIs of 64 (1k) or 4096 (1M) private IPs, each ENI attached to its
//! own instance, built through the model's console operations. Frames: every EIP of the table in
//! random order (a shuffled permutation; at 1k four of them, 4096 frames; at 1M one, 1M frames,
//! 64 MiB, so the table lines a batch touches are mostly not in cache). Before timing, every
//! frame is run once through both sides, which must agree on the new destination and leave valid
//! checksums.
//!
//! Reading the output: every bench declares `Throughput::Elements(batch)`, so criterion's `time`
//! is ns per batch of 32 or 256 frames, and ns/frame = time / batch. At the end the bench prints
//! a table of ns/frame per size, batch and side (the median over criterion's calls of this
//! bench, warm-up included) and the ratio core / baseline (target: at most 1.5). The same
//! figures from criterion's own estimates: `target/criterion/core_vs_baseline_<size>/<side>/
//! <batch>/new/estimates.json`, `mean.point_estimate` (ns per batch).

use std::cell::{OnceCell, RefCell};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

mod common;
use common::{FRAME_LEN, time_batches, time_core_batch, time_core_packed};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eipsim::dataplane::Dataplane;
use eipsim::dataplane::{Action, Outcome, Port};
use eipsim::model::{
    Account, Charge, Cloud, Eip, Eni, EniKind, Instance, Ipv4Cidr, Mac, Mode, Vpc,
};
use eipsim::wire::LinkType;
use eipsim::wire::checksum::{self, Delta};
use etherparse::PacketBuilder;
use rustc_hash::FxHashMap;

const BATCHES: [usize; 2] = [32, 256];
const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Source MAC of the frames (no ENI's: they come from the Internet).
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// Offsets in an untagged Ethernet frame.
const IP: usize = 14;
const IP_CSUM: usize = IP + 10;
const IP_DST: usize = IP + 16;
const UDP_CSUM: usize = IP + 20 + 6;

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

/// `n` NAT EIPs, each on its own private IP; returns the cloud and the (EIP, private) pairs.
fn nat_cloud(n: usize) -> (Cloud, Vec<(u32, u32)>) {
    let per_eni = if n >= 100_000 { 4096 } else { 64 };
    let mut cloud = Cloud::new(
        "eu-central-1".into(),
        Account {
            multi_eip_authorized: false,
            multi_eip_quota: 10,
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
            pairs.push((next_eip, u32::from(ip)));
            next_eip += 1;
        }
        let inst = cloud.instance_index(&format!("i-{eni}")).expect("instance");
        cloud.attach_network_interface(eni, inst).expect("attach");
    }
    (cloud, pairs)
}

/// Frames to every EIP of `pairs` in random order, `rounds` shuffled permutations, packed.
fn nat_inbound_pool(pairs: &[(u32, u32)], rounds: usize, seed: u64) -> Vec<u8> {
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

/// The baseline's work on one frame: look the destination up, rewrite it, fix both checksums.
#[inline(always)]
fn baseline_frame(map: &FxHashMap<u32, u32>, f: &mut [u8]) -> bool {
    let dst = u32::from_be_bytes([f[IP_DST], f[IP_DST + 1], f[IP_DST + 2], f[IP_DST + 3]]);
    let Some(&private) = map.get(&dst) else {
        return false;
    };
    f[IP_DST..IP_DST + 4].copy_from_slice(&private.to_be_bytes());
    let d = Delta::ZERO.addr32(dst, private);
    checksum::apply_at(f, IP_CSUM, d);
    checksum::apply_udp_at(f, UDP_CSUM, d);
    true
}

/// Runs every frame of the pool once through both sides (on copies): same destination, valid
/// IPv4 and UDP checksums, the core's verdict DNAT to an ENI.
fn check_pool(dp: &Dataplane, map: &FxHashMap<u32, u32>, pool: &[u8]) {
    let valid = |f: &[u8], who: &str, i: usize| {
        assert_eq!(
            checksum::checksum(&f[IP..IP + 20]),
            0,
            "{who} frame {i}: IPv4 checksum"
        );
        let (src, dst) = (&f[IP + 12..IP + 16], &f[IP_DST..IP_DST + 4]);
        let l4 = checksum::l4_checksum(
            src.try_into().expect("4 bytes"),
            dst.try_into().expect("4 bytes"),
            17,
            &f[IP + 20..],
        );
        assert_eq!(l4, 0, "{who} frame {i}: UDP checksum");
    };
    for (i, orig) in pool.chunks_exact(FRAME_LEN).enumerate() {
        let (mut core, mut base) = (orig.to_vec(), orig.to_vec());
        let v = dp.process(&mut core, LinkType::Ethernet);
        assert!(
            matches!(v.outcome, Outcome::Forward(Port::Eni(_), Action::Dnat)),
            "frame {i}: core verdict {:?}",
            v.outcome
        );
        assert!(baseline_frame(map, &mut base), "frame {i}: baseline lookup");
        assert_eq!(
            core[IP_DST..IP_DST + 4],
            base[IP_DST..IP_DST + 4],
            "frame {i}"
        );
        valid(&core, "core", i);
        valid(&base, "baseline", i);
    }
}

fn time_baseline(
    map: &FxHashMap<u32, u32>,
    pool: &[u8],
    batch: usize,
    c: &mut usize,
    iters: u64,
) -> Duration {
    time_batches(pool, batch, c, iters, |buf| {
        for f in buf.chunks_exact_mut(FRAME_LEN) {
            black_box(baseline_frame(map, f));
        }
    })
}

/// ns per frame of every call criterion made, per (size, side, batch).
type Samples = RefCell<Vec<(String, &'static str, usize, f64)>>;

fn record(s: &Samples, size: &str, side: &'static str, batch: usize, iters: u64, d: Duration) {
    let ns = d.as_nanos() as f64 / (iters as f64 * batch as f64);
    s.borrow_mut().push((size.to_string(), side, batch, ns));
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

const SIDES: [&str; 3] = ["core_packed", "core_batch", "baseline"];

/// One table size's dataplane, baseline map and checked frames.
struct Fixture {
    dp: Dataplane,
    map: FxHashMap<u32, u32>,
    pool: Vec<u8>,
}

fn fixture(n: usize, label: &str) -> Fixture {
    let t = Instant::now();
    let (cloud, pairs) = nat_cloud(n);
    let dp = Dataplane::new(&cloud);
    drop(cloud);
    let map: FxHashMap<u32, u32> = pairs.iter().copied().collect();
    let rounds = if n >= 100_000 { 1 } else { (4096 / n).max(1) };
    let pool = nat_inbound_pool(&pairs, rounds, 0x5eed ^ n as u64);
    check_pool(&dp, &map, &pool);
    eprintln!(
        "core_vs_baseline {label}: {n} NAT EIPs, {} frames, built and checked in {:.2?}",
        pool.len() / FRAME_LEN,
        t.elapsed()
    );
    Fixture { dp, map, pool }
}

fn compare_size(c: &mut Criterion, samples: &Samples, n: usize, label: &str) {
    // Built on first use: a filter that leaves this size out never builds its table.
    let fx: OnceCell<Fixture> = OnceCell::new();
    let mut g = c.benchmark_group(format!("core_vs_baseline_{label}"));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let mut cursor = 0;
    for batch in BATCHES {
        g.throughput(Throughput::Elements(batch as u64));
        for side in SIDES {
            g.bench_function(BenchmarkId::new(side, batch), |b| {
                let f = fx.get_or_init(|| fixture(n, label));
                b.iter_custom(|iters| {
                    let d = match side {
                        "core_packed" => {
                            time_core_packed(&f.dp, &f.pool, batch, &mut cursor, iters)
                        }
                        "core_batch" => time_core_batch(&f.dp, &f.pool, batch, &mut cursor, iters),
                        _ => time_baseline(&f.map, &f.pool, batch, &mut cursor, iters),
                    };
                    record(samples, label, side, batch, iters, d);
                    d
                })
            });
        }
    }
    g.finish();
}

fn print_ratios(samples: &Samples) {
    let s = samples.borrow();
    if s.is_empty() {
        return;
    }
    eprintln!("\ncore_vs_baseline: NAT inbound, ns/frame (median of criterion's calls)");
    eprintln!(
        "  {:<5} {:>5} {:>12} {:>12} {:>12} {:>14} {:>14}",
        "EIPs", "batch", "core_packed", "core_batch", "baseline", "packed/base", "batch/base"
    );
    let mut sizes: Vec<&String> = s.iter().map(|x| &x.0).collect();
    sizes.dedup();
    for size in sizes {
        for batch in BATCHES {
            let m = |side: &str| {
                median(
                    s.iter()
                        .filter(|x| &x.0 == size && x.1 == side && x.2 == batch)
                        .map(|x| x.3)
                        .collect(),
                )
            };
            let (p, b, base) = (m("core_packed"), m("core_batch"), m("baseline"));
            eprintln!(
                "  {size:<5} {batch:>5} {p:>12.2} {b:>12.2} {base:>12.2} {:>13.2}x {:>13.2}x",
                p / base,
                b / base
            );
        }
    }
    eprintln!("  target: core / baseline <= 1.5x");
}

fn benches(c: &mut Criterion) {
    let samples = Samples::default();
    compare_size(c, &samples, 1_000, "1k");
    compare_size(c, &samples, 1_000_000, "1M");
    print_ratios(&samples);
}

criterion_group!(core_vs_baseline, benches);
criterion_main!(core_vs_baseline);
