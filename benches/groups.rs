//! The security-group stage (stage 4 of the frame pass, `eipsim::groups`) per frame, and the
//! session table at a million sessions (issue 10).
//!
//! Run: `cargo bench --bench groups` (about a minute on 2 cores; `-- stage` or `-- sessions` for
//! one part, `-- --quick` for a fast pass).
//!
//! **Stage.** The NAT inbound topology of `benches/core_vs_baseline.rs` at 1k EIPs (16 ENIs of
//! 64 private IPs, one NAT-mode EIP each) and its frames (4,000 64-byte UDP frames from
//! 198.18.0.0/15, random ports 1024..65023, to every EIP in random order), with every ENI in one
//! basic group of R = 10 or R = 1,000 ingress rules. R - 1 rules never match these frames:
//! 40% UDP, 40% TCP, 10% ICMP, 5% GRE, 5% all protocols; TCP and UDP rules are a quarter each
//! every port, one port, a range of 1,000 ports and 1024-65535; their peers are /24s of
//! 100.64.0.0/10; priorities 1 to 99, one in five a drop. The last rule, priority 100 (so met
//! last), is `accept udp 1024/65535 from 198.18.0.0/15` (every frame matches it, after walking
//! every other rule that covers its protocol and port), or, for the `miss` case, the same from
//! 198.20.0.0/15 (no frame matches: every frame walks its candidates and gets the basic
//! group's default, an ingress drop). Cases, per frame (batches of 256):
//!
//! - `core`: `Dataplane::process_packed` alone (the replay's call), the batch's copy included;
//! - `core+new_R`: the core, then `GroupStage::check` on each frame's verdict, every frame a new
//!   connection: the stage holds 1,024 sessions and the frames cycle in whole batches (3,840
//!   of the 4,000), so no frame finds its session; each walks the rules, is accepted by the
//!   last one and opens a session, evicting the longest idle (a full table, as in a long
//!   replay);
//! - `core+hit_R`: the same with a stage of `SESSIONS_PER_SHARD` sessions that has seen every
//!   frame once: every frame hits its session (step 1 of a check) and refreshes it;
//! - `core+miss_R`: every frame refused by the default after its candidates;
//! - `stage_new_R`, `stage_hit_R`, `stage_miss_R`: `GroupStage::check` alone on the core's
//!   verdicts, computed once before timing (each check gets a copy of its verdict).
//!
//! Every case's outcome is checked before timing (accepted with a session opened, accepted by
//! the session, refused by the default) and the session counters after it (every `new` frame
//! opened a session, no `hit` frame did). The bench prints how many rules a lookup walks
//! (`GroupTables::candidates`: the rules of the frame's protocol whose port range covers its
//! destination port) against R.
//!
//! **Sessions.** `Sessions::new(1 << 20)` filled with 2^20 sessions (keys of 1,024 ENIs, random
//! peers and ports): `hit` = a lookup of a held session in random order, refreshed (what a frame
//! of a known connection does); `open` = a new session into the full table (the longest idle
//! evicted). Both make their key from a counter with the same few instructions. Bytes per
//! session: the resident set (`VmRSS` of /proc/self/status) before and after filling the table,
//! divided by 2^20, beside the figure computed from the structures' sizes.
//!
//! Reading the output: criterion's `time` is per batch of 256 frames (stage) or per lookup
//! (sessions). At the end the bench prints ns/frame per case (the median over criterion's calls,
//! warm-up included) and the ratios (core + stage) / core, within the same run.

use std::cell::{OnceCell, RefCell};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[allow(dead_code)]
mod common;
use common::{FRAME_LEN, time_core_packed};
#[allow(dead_code)]
mod nat_inbound;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eipsim::dataplane::{Action, Dataplane, DropReason, Outcome, Port, Verdict};
use eipsim::groups::session::{SessionKey, Sessions};
use eipsim::groups::{Decider, GroupStage, GroupTables, SESSIONS_PER_SHARD, Views};
use eipsim::model::Ipv4Cidr;
use eipsim::model::sg::{Direction, GroupType, InnerAccess, Peer, Policy, Protocol, Rule};
use eipsim::wire::LinkType;

const BATCH: usize = 256;
const EIPS: usize = 1_000;
/// Sessions of the `new` cases' stages: fewer than the frames, so no frame finds its own.
const NEW_CAPACITY: usize = 1024;
/// Capture time between two frames, ns.
const TICK: i64 = 1_000;

/// A /`prefix` block at `a.b.c.d`.
fn cidr(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Ipv4Cidr {
    Ipv4Cidr {
        network: Ipv4Addr::new(a, b, c, d),
        prefix,
    }
}

/// `n` ingress rules: `n - 1` that no bench frame matches, then the last (see the top).
fn rules(n: usize, last_matches: bool) -> Vec<Rule> {
    let mut out: Vec<Rule> = (0..n - 1)
        .map(|i| {
            let protocol = match i % 20 {
                0..=7 => Protocol::Udp,
                8..=15 => Protocol::Tcp,
                16 | 17 => Protocol::Icmp,
                18 => Protocol::Gre,
                _ => Protocol::All,
            };
            let p = 1024 + (i * 7919 % 64_000) as u16;
            let ports = if protocol.has_ports() {
                match (i / 20) % 4 {
                    0 => None,
                    1 => Some((p, p)),
                    2 => Some((p, p.saturating_add(999))),
                    _ => Some((1024, 65535)),
                }
            } else {
                None
            };
            Rule {
                direction: Direction::Ingress,
                policy: if i % 5 == 0 {
                    Policy::Drop
                } else {
                    Policy::Accept
                },
                priority: 1 + (i % 99) as u8,
                protocol,
                ports,
                peer: Peer::Cidr(cidr(100, 64 + (i % 64) as u8, (i / 64) as u8, 0, 24)),
            }
        })
        .collect();
    out.push(Rule {
        direction: Direction::Ingress,
        policy: Policy::Accept,
        priority: 100,
        protocol: Protocol::Udp,
        ports: Some((1024, 65535)),
        peer: Peer::Cidr(if last_matches {
            cidr(198, 18, 0, 0, 15)
        } else {
            cidr(198, 20, 0, 0, 15)
        }),
    });
    out
}

/// One rule count's fixture: the tables with every ENI in a group of `rules` rules.
struct Case {
    rules: usize,
    tables: Arc<GroupTables>,
    miss: Arc<GroupTables>,
}

/// The frames, the core's tables, its verdicts and the frames as it left them.
struct Fixture {
    dp: Dataplane,
    pool: Vec<u8>,
    verdicts: Vec<Verdict>,
    after: Vec<u8>,
    cases: Vec<Case>,
}

fn tables_for(cloud: &eipsim::model::Cloud, n: usize, last_matches: bool) -> Arc<GroupTables> {
    let mut c = cloud.clone();
    c.security_groups.push(eipsim::model::sg::SecurityGroup {
        id: "sg-bench".into(),
        kind: GroupType::Basic,
        inner_access: InnerAccess::Accept,
        rules: rules(n, last_matches),
    });
    for e in &mut c.enis {
        e.security_groups = vec!["sg-bench".into()];
    }
    assert!(n <= eipsim::model::sg::MAX_RULES_PER_ENI);
    Arc::new(GroupTables::new(&c))
}

fn fixture() -> Fixture {
    let t = Instant::now();
    let (cloud, pairs) = nat_inbound::nat_cloud(EIPS);
    let pool = nat_inbound::nat_inbound_pool(&pairs, 4096 / EIPS, 0x5eed ^ EIPS as u64);
    let dp = Dataplane::new(&cloud);
    let mut after = pool.clone();
    let verdicts: Vec<Verdict> = after
        .chunks_exact_mut(FRAME_LEN)
        .map(|f| dp.process(f, LinkType::Ethernet))
        .collect();
    for (i, v) in verdicts.iter().enumerate() {
        assert!(
            matches!(v.outcome, Outcome::Forward(Port::Eni(_), Action::Dnat)),
            "frame {i}: {:?}",
            v.outcome
        );
    }
    let cases = [10, 1000]
        .into_iter()
        .map(|n| Case {
            rules: n,
            tables: tables_for(&cloud, n, true),
            miss: tables_for(&cloud, n, false),
        })
        .collect();
    let f = Fixture {
        dp,
        pool,
        verdicts,
        after,
        cases,
    };
    for c in &f.cases {
        check_outcomes(&f, c);
    }
    eprintln!(
        "groups: {EIPS} NAT EIPs, {} frames, rule sets built and checked in {:.2?}",
        f.verdicts.len(),
        t.elapsed()
    );
    f
}

/// Every frame accepted by the last rule (a session opened), then by its session; refused by
/// the default in the miss case. Prints the rules a lookup walks.
fn check_outcomes(f: &Fixture, c: &Case) {
    let mut s = GroupStage::new(c.tables.clone(), SESSIONS_PER_SHARD);
    let mut miss = GroupStage::new(c.miss.clone(), SESSIONS_PER_SHARD);
    let (mut sum, mut max) = (0usize, 0usize);
    for round in 0..2 {
        for i in 0..f.verdicts.len() {
            let mut v = f.verdicts[i];
            let r = s.check(&f.dp, &mut v, views(f, i), i as i64 * TICK);
            assert_eq!(r, None, "{} rules, frame {i}, round {round}", c.rules);
            assert_eq!(v.outcome, f.verdicts[i].outcome);
            let mut v = f.verdicts[i];
            let r = miss.check(&f.dp, &mut v, views(f, i), i as i64 * TICK);
            let r = r.expect("refused");
            assert!(matches!(r.decider, Decider::Default(_)), "{r:?}");
            assert_eq!(v.outcome, Outcome::Drop(DropReason::SecurityGroup));
            if round == 0 {
                let t = f.verdicts[i].tuple;
                let eni = f.verdicts[i].eni.expect("receiver");
                let k = c
                    .tables
                    .candidates(eni, Direction::Ingress, t.proto, t.dport);
                sum += k;
                max = max.max(k);
            }
        }
    }
    let frames = f.verdicts.len() as u64;
    assert_eq!(s.counts().opened, frames, "one session per frame");
    assert_eq!(miss.counts().opened, 0);
    eprintln!(
        "groups: {} rules per ENI: a lookup walks {:.1} candidate rules on average, {max} at \
         most ({:.1}% of the rules)",
        c.rules,
        sum as f64 / frames as f64,
        100.0 * sum as f64 / (frames as f64 * c.rules as f64)
    );
}

fn views(f: &Fixture, i: usize) -> Views<'_> {
    let r = i * FRAME_LEN..(i + 1) * FRAME_LEN;
    Views {
        after: &f.after[r.clone()],
        before: &f.pool[r],
        link: LinkType::Ethernet,
    }
}

/// The core then the stage on each frame of the batch.
fn time_core_stage(
    f: &Fixture,
    stage: &mut GroupStage,
    cursor: &mut usize,
    clock: &mut i64,
    iters: u64,
) -> Duration {
    let frames = f.pool.len() / FRAME_LEN;
    let ranges: Vec<(usize, usize, LinkType)> = (0..BATCH)
        .map(|i| (i * FRAME_LEN, (i + 1) * FRAME_LEN, LinkType::Ethernet))
        .collect();
    let mut verdicts = vec![Verdict::early_drop(DropReason::Malformed, None); BATCH];
    let mut buf = vec![0u8; BATCH * FRAME_LEN];
    let start = Instant::now();
    for _ in 0..iters {
        if *cursor + BATCH > frames {
            *cursor = 0;
        }
        let before = &f.pool[*cursor * FRAME_LEN..(*cursor + BATCH) * FRAME_LEN];
        buf.copy_from_slice(before);
        f.dp.process_packed(&mut buf, &ranges, &mut verdicts);
        for (i, v) in verdicts.iter_mut().enumerate() {
            let r = i * FRAME_LEN..(i + 1) * FRAME_LEN;
            let views = Views {
                after: &buf[r.clone()],
                before: &before[r],
                link: LinkType::Ethernet,
            };
            *clock += TICK;
            black_box(stage.check(&f.dp, v, views, *clock));
        }
        black_box(&mut verdicts);
        *cursor += BATCH;
    }
    start.elapsed()
}

/// The stage alone on the core's verdicts (a copy each).
fn time_stage(
    f: &Fixture,
    stage: &mut GroupStage,
    cursor: &mut usize,
    clock: &mut i64,
    iters: u64,
) -> Duration {
    let frames = f.verdicts.len();
    let start = Instant::now();
    for _ in 0..iters {
        if *cursor + BATCH > frames {
            *cursor = 0;
        }
        for i in *cursor..*cursor + BATCH {
            let mut v = f.verdicts[i];
            *clock += TICK;
            black_box(stage.check(&f.dp, &mut v, views(f, i), *clock));
            black_box(&mut v);
        }
        *cursor += BATCH;
    }
    start.elapsed()
}

/// ns per frame (or per lookup) of every call criterion made, per case.
type Samples = RefCell<Vec<(String, f64)>>;

fn record(s: &Samples, case: &str, per: f64, iters: u64, d: Duration) {
    let ns = d.as_nanos() as f64 / (iters as f64 * per);
    s.borrow_mut().push((case.to_string(), ns));
}

fn median(s: &Samples, case: &str) -> f64 {
    let v: Vec<f64> = s
        .borrow()
        .iter()
        .filter(|x| x.0 == case)
        .map(|x| x.1)
        .collect();
    common::median(v)
}

/// A stage per case, its cursor and clock: each case keeps its own order of frames.
struct Run {
    stage: GroupStage,
    cursor: usize,
    clock: i64,
    /// Frames checked while timed.
    frames: u64,
}

fn stage_bench(c: &mut Criterion, samples: &Samples) {
    let fx: OnceCell<Fixture> = OnceCell::new();
    let mut g = c.benchmark_group("groups_stage");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(BATCH as u64));
    let mut cursor = 0;
    g.bench_function(BenchmarkId::new("core", BATCH), |b| {
        let f = fx.get_or_init(fixture);
        b.iter_custom(|iters| {
            let d = time_core_packed(&f.dp, &f.pool, BATCH, &mut cursor, iters);
            record(samples, "core", BATCH as f64, iters, d);
            d
        })
    });
    for n in [10, 1000] {
        for kind in ["new", "hit", "miss"] {
            for alone in [false, true] {
                let name = if alone {
                    format!("stage_{kind}_{n}")
                } else {
                    format!("core+{kind}_{n}")
                };
                let mut run: Option<Run> = None;
                g.bench_function(BenchmarkId::new(name.as_str(), BATCH), |b| {
                    let f = fx.get_or_init(fixture);
                    let r = run.get_or_insert_with(|| new_run(f, n, kind));
                    b.iter_custom(|iters| {
                        let d = if alone {
                            time_stage(f, &mut r.stage, &mut r.cursor, &mut r.clock, iters)
                        } else {
                            time_core_stage(f, &mut r.stage, &mut r.cursor, &mut r.clock, iters)
                        };
                        r.frames += iters * BATCH as u64;
                        record(samples, &name, BATCH as f64, iters, d);
                        d
                    })
                });
                if let (Some(r), Some(f)) = (&run, fx.get()) {
                    check_counts(f, r, kind, &name);
                }
            }
        }
    }
    g.finish();
}

fn new_run(f: &Fixture, n: usize, kind: &str) -> Run {
    let case = f.cases.iter().find(|c| c.rules == n).expect("case");
    let stage = match kind {
        "new" => GroupStage::new(case.tables.clone(), NEW_CAPACITY),
        "hit" => GroupStage::new(case.tables.clone(), SESSIONS_PER_SHARD),
        _ => GroupStage::new(case.miss.clone(), SESSIONS_PER_SHARD),
    };
    let mut run = Run {
        stage,
        cursor: 0,
        clock: 0,
        frames: 0,
    };
    if kind == "hit" {
        // Every frame seen once: its session is open.
        for i in 0..f.verdicts.len() {
            let mut v = f.verdicts[i];
            run.clock += TICK;
            run.stage.check(&f.dp, &mut v, views(f, i), run.clock);
        }
    }
    run
}

/// After timing: every `new` frame opened a session (the warm-up's too), no `hit` frame did
/// (beyond the first pass), no `miss` frame did.
fn check_counts(f: &Fixture, r: &Run, kind: &str, name: &str) {
    let c = r.stage.counts();
    let frames = f.verdicts.len() as u64;
    match kind {
        "new" => assert_eq!(c.opened, r.frames, "{name}: {c:?}"),
        "hit" => assert_eq!((c.opened, c.evicted), (frames, 0), "{name}: {c:?}"),
        _ => assert_eq!(c.opened, 0, "{name}: {c:?}"),
    }
}

/// The resident set, KiB (`VmRSS` of /proc/self/status; 0 when it cannot be read).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The `n`th key of the table: a counter mixed into an ENI, a peer and ports.
#[inline(always)]
fn key(n: u64) -> SessionKey {
    let x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    SessionKey {
        eni: (n % 1024) as u32,
        local: 0x0a00_0000 | (n % 1024) as u32,
        remote: (x >> 32) as u32,
        lport: 40_000 + (n % 1000) as u16,
        rport: (n >> 10) as u16 ^ (x as u16),
        proto: 17,
    }
}

const SESSIONS: u64 = 1 << 20;

fn sessions_bench(c: &mut Criterion, samples: &Samples) {
    let table: OnceCell<RefCell<Sessions>> = OnceCell::new();
    let fill = || {
        let before = rss_kib();
        let mut s = Sessions::new(SESSIONS as usize);
        let t = Instant::now();
        for n in 0..SESSIONS {
            s.open(key(n), n as i64);
        }
        let took = t.elapsed();
        let after = rss_kib();
        assert_eq!(s.len() as u64, SESSIONS, "distinct keys");
        let per = (after.saturating_sub(before) * 1024) as f64 / SESSIONS as f64;
        samples.borrow_mut().push(("bytes_per_session".into(), per));
        samples
            .borrow_mut()
            .push(("fill".into(), took.as_nanos() as f64 / SESSIONS as f64));
        RefCell::new(s)
    };
    let mut g = c.benchmark_group("groups_sessions");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    let now = SESSIONS as i64;
    let mut j: u64 = 0;
    g.bench_function("hit_1M", |b| {
        let s = table.get_or_init(fill);
        let mut s = s.borrow_mut();
        b.iter_custom(|iters| {
            let mut missed = 0u64;
            let start = Instant::now();
            for _ in 0..iters {
                // An odd multiplier: a permutation of the 2^20 keys, in random order.
                j = j.wrapping_add(1);
                let n = j.wrapping_mul(0x2545_F491) & (SESSIONS - 1);
                missed += u64::from(!s.hit(&black_box(key(n)), now, true));
            }
            let d = start.elapsed();
            assert_eq!(missed, 0, "every key is held");
            record(samples, "hit_1M", 1.0, iters, d);
            d
        })
    });
    let mut fresh = SESSIONS;
    g.bench_function("open_1M", |b| {
        let s = table.get_or_init(fill);
        let mut s = s.borrow_mut();
        b.iter_custom(|iters| {
            let evicted = s.counts.evicted;
            let start = Instant::now();
            for _ in 0..iters {
                s.open(black_box(key(fresh)), now);
                fresh += 1;
            }
            let d = start.elapsed();
            assert_eq!(s.counts.evicted - evicted, iters, "each open a new session");
            record(samples, "open_1M", 1.0, iters, d);
            d
        })
    });
    g.finish();
}

fn print_summary(s: &Samples) {
    if s.borrow().is_empty() {
        return;
    }
    let m = |case: &str| median(s, case);
    let core = m("core");
    if !core.is_nan() {
        eprintln!(
            "\ngroups: NAT inbound, {EIPS} EIPs, batches of {BATCH}, ns/frame (median of \
             criterion's calls)"
        );
        eprintln!(
            "  {:<7} {:<5} {:>10} {:>12} {:>12} {:>14}",
            "rules", "case", "core", "core+stage", "stage alone", "(core+stage)/core"
        );
        for n in [10, 1000] {
            for kind in ["new", "hit", "miss"] {
                let both = m(&format!("core+{kind}_{n}"));
                let alone = m(&format!("stage_{kind}_{n}"));
                eprintln!(
                    "  {n:<7} {kind:<5} {core:>10.2} {both:>12.2} {alone:>12.2} {:>16.2}x",
                    both / core
                );
            }
        }
    }
    let (hit, open) = (m("hit_1M"), m("open_1M"));
    if !hit.is_nan() || !open.is_nan() {
        eprintln!("groups: sessions, a table of 2^20 (1,048,576) sessions");
        eprintln!("  lookup of a held session (refreshed), ns  {hit:>8.2}");
        eprintln!("  open into the full table (evicting), ns   {open:>8.2}");
        eprintln!(
            "  filling it, ns per open                   {:>8.2}",
            m("fill")
        );
        let key = std::mem::size_of::<SessionKey>();
        // hashbrown: 2^21 buckets of (key, u32) and a control byte each for 2^20 items; the
        // slots: the key, the last time (i64), two u32 links, aligned to 8.
        let bucket = std::mem::size_of::<(SessionKey, u32)>() + 1;
        let slot = (key + 8 + 8).next_multiple_of(8);
        eprintln!(
            "  bytes per session, measured (VmRSS)       {:>8.1}   (computed: map {} x 2 + \
             slot {slot} = {})",
            m("bytes_per_session"),
            bucket,
            2 * bucket + slot
        );
    }
}

fn benches(c: &mut Criterion) {
    let samples = Samples::default();
    sessions_bench(c, &samples);
    stage_bench(c, &samples);
    print_summary(&samples);
}

criterion_group!(groups, benches);
criterion_main!(groups);
