//! A guest's cost per delivered frame (`replay --respond`, issue 11) against the forwarding core
//! on the same frames, measured in the same run.
//!
//! Run: `cargo bench --bench guest` (about half a minute; `-- --warm-up-time 1
//! --measurement-time 2` is the default, `-- icmp` for one case).
//!
//! Topology: one instance `i-bench` with one primary ENI in NAT mode (172.16.0.10, EIP
//! 47.0.0.10), `services = ["tcp/80", "udp/5060", "icmp"]`, read with `Cloud::from_toml`.
//! Frames, from 198.18.0.7 on the Internet to the EIP, per case a pool of [`POOL`] frames, each
//! from its own source port (20000 + i):
//!
//! - `icmp`: an ICMP echo request with 32 bytes of data (the guest answers an echo reply);
//! - `udp`: a UDP datagram of 32 bytes to port 5060 (echoed);
//! - `syn`: a TCP SYN to port 80 (a listener answers SYN-ACK and keeps the half-open
//!   connection);
//! - `syn16`: the same SYNs with the guests rebuilt every 16 frames instead of every [`POOL`]
//!   (at most 15 half-open connections instead of 127: smoltcp and the services walk every
//!   socket of the NIC on each poll, so a SYN costs more the more connections are open);
//! - `rst`: a TCP SYN to port 81, where nothing listens (RST).
//!
//! Sides, per frame:
//!
//! - `core`: `Dataplane::process` of the frame as it arrives from the Internet (a copy of it
//!   from the pool into a work buffer, timed, then DNAT to the private IP, both MACs, TTL,
//!   checksums);
//! - `guest`: `Guests::deliver` of the same frame in the guest's Ethernet form (the core's
//!   output: destination MAC the NIC's, source MAC the gateway's, destination IP the private
//!   IP) to the ENI, with the capture time advancing 1 ms per frame: the guest's smoltcp
//!   interface polled until quiet, its services served, its reply collected in `Emitted`
//!   (cleared after each frame, timed).
//!
//! State does not grow across criterion's calls: the guests are rebuilt (`Guests::new` +
//! `start`, not timed; its time is printed apart as `boot`) every [`POOL`] frames (`syn16`:
//! 16), so a `syn`
//! frame meets at most `POOL - 1` half-open connections of the frames before it (the listener
//! keeps at most 256 per port) and every source port is fresh for the guests that see it.
//! Before timing, each case's first frame is delivered to fresh guests and its reply checked
//! (echo reply, the datagram echoed, SYN-ACK, RST); while timing, every frame must make the
//! guest send exactly one frame.
//!
//! Reading the output: criterion's `time` is per frame. At the end the bench prints ns/frame per
//! case and side (the median over criterion's calls of this run, warm-up included) and the
//! ratio guest / core.

use std::cell::RefCell;
use std::hint::black_box;
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eipsim::dataplane::{Action, Dataplane, Outcome, Port};
use eipsim::guest::{Emit, Emitted, Guests};
use eipsim::model::Cloud;
use eipsim::wire::LinkType;
use etherparse::{Icmpv4Type, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};

/// Frames per pool, and frames between two rebuilds of the guests.
const POOL: usize = 128;
/// Capture time between two frames, ns (1 ms).
const TICK: i64 = 1_000_000;
/// The first frame's capture time (2026-12-01, ns).
const T0: i64 = 1_796_083_200_000_000_000;

const TOPOLOGY: &str = r#"
region = "eu-central-1"

[account]
multi_eip_authorized = true
multi_eip_quota = 10

[vpc]
id = "vpc-bench"
cidr = "172.16.0.0/12"
gateway_mac = "ee:ff:ff:ff:ff:ff"
internet_mac = "02:00:00:00:00:01"

[[instance]]
id = "i-bench"
family = "ecs.g5"
dhcp = true
services = ["tcp/80", "udp/5060", "icmp"]

[[eni]]
id = "eni-bench"
kind = "primary"
mac = "00:16:3e:00:00:10"
primary_ip = "172.16.0.10"
instance = "i-bench"

[[eip]]
id = "eip-bench"
address = "47.0.0.10"

[[association]]
eip = "eip-bench"
eni = "eni-bench"
mode = "NAT"
"#;

const PEER: [u8; 4] = [198, 18, 0, 7];
const EIP: [u8; 4] = [47, 0, 0, 10];
const PRIVATE: [u8; 4] = [172, 16, 0, 10];
const NIC_MAC: [u8; 6] = [0x00, 0x16, 0x3e, 0x00, 0x00, 0x10];
const GATEWAY_MAC: [u8; 6] = [0xee, 0xff, 0xff, 0xff, 0xff, 0xff];
const INTERNET_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// The cases, in the order printed.
const CASES: [&str; 5] = ["icmp", "udp", "syn", "syn16", "rst"];

/// The `i`th frame of `case` as it arrives from the Internet.
fn inbound(case: &str, i: usize) -> Vec<u8> {
    let sport = 20_000 + i as u16;
    let data = [0x5a_u8; 32];
    let b = PacketBuilder::ethernet2(INTERNET_MAC, GATEWAY_MAC).ipv4(PEER, EIP, 64);
    let mut out = Vec::new();
    let w = match case {
        "icmp" => b
            .icmpv4_echo_request(0x4242, i as u16)
            .write(&mut out, &data),
        "udp" => b.udp(sport, 5060).write(&mut out, &data),
        "syn" | "syn16" | "rst" => {
            let port = if case == "rst" { 81 } else { 80 };
            b.tcp(sport, port, 0x1000_0000 + i as u32, 64_240)
                .syn()
                .write(&mut out, &[])
        }
        _ => unreachable!("case {case}"),
    };
    w.expect("write to a Vec");
    out
}

/// A case's frames: as they arrive, and as the core delivers them to the guest.
struct Pool {
    name: &'static str,
    /// Frames between two rebuilds of the guests.
    rebuild: usize,
    inbound: Vec<Vec<u8>>,
    delivered: Vec<Vec<u8>>,
}

/// Everything the sides share.
struct Fixture {
    cloud: Cloud,
    dp: Dataplane,
    eni: usize,
    pools: Vec<Pool>,
}

fn fixture() -> Fixture {
    let cloud = Cloud::from_toml(TOPOLOGY).expect("the bench topology is valid");
    let dp = Dataplane::new(&cloud);
    let eni = cloud
        .enis
        .iter()
        .position(|e| e.id == "eni-bench")
        .expect("eni-bench");
    let pools = CASES
        .iter()
        .map(|&name| {
            let inbound: Vec<Vec<u8>> = (0..POOL).map(|i| inbound(name, i)).collect();
            let delivered = inbound
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let mut g = f.clone();
                    let v = dp.process(&mut g, LinkType::Ethernet);
                    assert_eq!(
                        v.outcome,
                        Outcome::Forward(Port::Eni(eni as u32), Action::Dnat),
                        "{name} frame {i}"
                    );
                    assert_eq!(&g[0..6], &NIC_MAC, "{name} frame {i}: destination MAC");
                    assert_eq!(&g[6..12], &GATEWAY_MAC, "{name} frame {i}: source MAC");
                    assert_eq!(&g[30..34], &PRIVATE, "{name} frame {i}: destination IP");
                    g
                })
                .collect();
            Pool {
                name,
                rebuild: if name == "syn16" { 16 } else { POOL },
                inbound,
                delivered,
            }
        })
        .collect();
    let f = Fixture {
        cloud,
        dp,
        eni,
        pools,
    };
    for p in &f.pools {
        check_reply(&f, p);
    }
    f
}

/// Fresh guests, started at `now`.
fn boot(cloud: &Cloud, now: i64) -> Guests {
    let mut g = Guests::new(cloud);
    let out = g.start(cloud, now);
    assert!(
        out.frames.is_empty(),
        "a NAT-mode guest sends nothing at start"
    );
    g
}

/// The first frame of `p` delivered to fresh guests: exactly one reply, the expected one.
fn check_reply(f: &Fixture, p: &Pool) {
    let mut guests = boot(&f.cloud, T0);
    let mut out = Emitted::default();
    assert!(guests.deliver(f.eni, &p.delivered[0], T0 + TICK, &mut out));
    assert_eq!(out.frames.len(), 1, "{}: one reply", p.name);
    let (eni, emit, reply) = &out.frames[0];
    assert_eq!((*eni, *emit), (f.eni, Emit::Sent), "{}", p.name);
    let s = SlicedPacket::from_ethernet(reply).unwrap_or_else(|e| panic!("{}: {e}", p.name));
    let Some(NetSlice::Ipv4(ip)) = &s.net else {
        panic!("{}: not IPv4", p.name)
    };
    assert_eq!(ip.header().source(), PRIVATE, "{}", p.name);
    assert_eq!(ip.header().destination(), PEER, "{}", p.name);
    match (p.name, &s.transport) {
        ("icmp", Some(TransportSlice::Icmpv4(i))) => {
            assert!(
                matches!(i.icmp_type(), Icmpv4Type::EchoReply(_)),
                "icmp: {:?}",
                i.icmp_type()
            );
        }
        ("udp", Some(TransportSlice::Udp(u))) => {
            assert_eq!((u.source_port(), u.destination_port()), (5060, 20_000));
            assert_eq!(u.payload(), &[0x5a; 32], "udp: the datagram echoed");
        }
        ("syn" | "syn16", Some(TransportSlice::Tcp(t))) => {
            assert!(t.syn() && t.ack() && !t.rst(), "syn: SYN-ACK");
            assert_eq!(t.acknowledgment_number(), 0x1000_0001);
        }
        ("rst", Some(TransportSlice::Tcp(t))) => {
            assert!(t.rst() && !t.syn(), "rst: RST");
            assert_eq!(t.source_port(), 81);
        }
        (name, t) => panic!("{name}: unexpected reply {t:?}"),
    }
}

/// A case's guests and where it stands in its pool.
struct GuestRun {
    guests: Guests,
    at: usize,
    now: i64,
    out: Emitted,
}

/// `iters` frames through the guests; rebuilds every `p.rebuild` frames, not timed.
fn time_guest(f: &Fixture, p: &Pool, r: &mut GuestRun, boots: &Samples, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters as usize;
    while left > 0 {
        if r.at == p.rebuild {
            let t = Instant::now();
            r.guests = boot(&f.cloud, r.now);
            boots
                .borrow_mut()
                .push(("boot".into(), t.elapsed().as_nanos() as f64));
            r.at = 0;
        }
        let n = left.min(p.rebuild - r.at);
        let mut sent = 0usize;
        let start = Instant::now();
        for frame in &p.delivered[r.at..r.at + n] {
            r.now += TICK;
            black_box(r.guests.deliver(f.eni, frame, r.now, &mut r.out));
            sent += r.out.frames.len();
            r.out.frames.clear();
        }
        total += start.elapsed();
        assert_eq!(sent, n, "{}: one reply per frame", p.name);
        r.at += n;
        left -= n;
    }
    total
}

/// `iters` frames through the core, each copied from the pool first.
fn time_core(f: &Fixture, p: &Pool, at: &mut usize, iters: u64) -> Duration {
    let mut buf = vec![0u8; p.inbound.iter().map(Vec::len).max().unwrap_or(0)];
    let start = Instant::now();
    for _ in 0..iters {
        if *at == POOL {
            *at = 0;
        }
        let src = &p.inbound[*at];
        let b = &mut buf[..src.len()];
        b.copy_from_slice(src);
        black_box(f.dp.process(b, LinkType::Ethernet));
        *at += 1;
    }
    start.elapsed()
}

/// ns per frame of every call criterion made, per case and side.
type Samples = RefCell<Vec<(String, f64)>>;

fn record(s: &Samples, key: String, iters: u64, d: Duration) {
    s.borrow_mut()
        .push((key, d.as_nanos() as f64 / iters as f64));
}

fn median(s: &Samples, key: &str) -> f64 {
    common::median(
        s.borrow()
            .iter()
            .filter(|x| x.0 == key)
            .map(|x| x.1)
            .collect(),
    )
}

fn benches(c: &mut Criterion) {
    let samples = Samples::default();
    let f = fixture();
    let mut g = c.benchmark_group("guest");
    g.throughput(Throughput::Elements(1));
    for p in &f.pools {
        let mut at = 0;
        g.bench_function(BenchmarkId::new("core", p.name), |b| {
            b.iter_custom(|iters| {
                let d = time_core(&f, p, &mut at, iters);
                record(&samples, format!("core_{}", p.name), iters, d);
                d
            })
        });
        let mut run = GuestRun {
            guests: boot(&f.cloud, T0),
            at: 0,
            now: T0,
            out: Emitted::default(),
        };
        g.bench_function(BenchmarkId::new("guest", p.name), |b| {
            b.iter_custom(|iters| {
                let d = time_guest(&f, p, &mut run, &samples, iters);
                record(&samples, format!("guest_{}", p.name), iters, d);
                d
            })
        });
    }
    g.finish();
    print_summary(&samples);
}

fn print_summary(s: &Samples) {
    if s.borrow().is_empty() {
        return;
    }
    eprintln!(
        "\nguest: one NAT-mode NIC, services tcp/80 udp/5060 icmp, ns/frame (median of \
         criterion's calls)"
    );
    eprintln!(
        "  {:<6} {:>10} {:>12} {:>12}",
        "case", "core", "guest", "guest/core"
    );
    for case in CASES {
        let core = median(s, &format!("core_{case}"));
        let guest = median(s, &format!("guest_{case}"));
        if core.is_nan() && guest.is_nan() {
            continue;
        }
        eprintln!(
            "  {case:<6} {core:>10.1} {guest:>12.1} {:>11.1}x",
            guest / core
        );
    }
    let boot = median(s, "boot");
    if !boot.is_nan() {
        eprintln!(
            "  boot (Guests::new + start, every {POOL} frames or 16, not timed): {:.1} us",
            boot / 1000.0
        );
    }
}

criterion_group! {
    name = guest;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(guest);
