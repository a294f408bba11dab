//! NAT inbound: the forwarding core against a bare lookup-and-rewrite baseline doing the same
//! fixed work (issue 9).
//!
//! Run: `cargo bench --bench core_vs_baseline` (about a minute on 2 cores; `-- --quick` for a
//! fast pass; `-- 1k` or `-- 1M` for one table size). Instruction counts of the same work:
//! `examples/core_profile.rs` under callgrind (its top says how).
//!
//! Both sides get the same frames, Internet -> NAT EIP (DNAT), 64-byte Ethernet + IPv4 + UDP with
//! a UDP checksum, do their work in place on a copy of the next batch (the copy is timed on both
//! sides) and write one result per frame into a slice. Per frame:
//!
//! - `core_packed` = `Dataplane::process_packed` (the replay's call), `core_batch` =
//!   `Dataplane::process_batch`: everything the gateway does. The ingress from the source MAC
//!   (the filter in front of the MAC table, then the table when the filter lets it pass), the
//!   link and IPv4 headers and the ports, the destination's table entry (behind the bitmap of
//!   EIP /16s), the checks in the documented precedence (unknown destination, unassociated
//!   EIP, detached ENI, TTL, guest configuration), DNAT, the TTL decremented, the IPv4 and L4
//!   checksums (RFC 1624), both MACs, and a 64-byte `Verdict` (outcome, ingress, tuple, inside
//!   destination, ENI, mode, EIP, fragment, layout). At 1M EIPs the table lines of the frame 8
//!   places ahead are prefetched. These frames are plain (`eipsim::wire::plain`: untagged
//!   Ethernet, IPv4 without options, whole, TCP or UDP), so the core takes its fast path: the
//!   same checks through a fixed-offset view, any other outcome handed to the general path.
//! - `general`: `process_packed` with the fast path off (`Dataplane::set_fast_path(false)`),
//!   for comparison: the general path, which handles tags, options, fragments, cut frames,
//!   every ingress and every outcome, on the same frames (same verdicts, same bytes).
//! - `baseline`: the fixed work of a NAT inbound frame around a bare
//!   `rustc_hash::FxHashMap<u32, (private IP, ENI MAC, ENI index)>` lookup of the destination,
//!   written plainly (`nat_inbound::baseline_frame`; the frame length is a run-time value, as
//!   in the core's ranges). It validates what the core validates on
//!   the fields it reads: the Ethernet type is IPv4, version 4, header length at least 20 and
//!   captured, total length at least the header (the datagram ends at the total length or the
//!   end of the capture), the fragment offset (only a first fragment gets its L4 checksum
//!   fixed), the destination in the map, TTL above 1. Then the destination becomes the private
//!   IP, the TTL is decremented, the IPv4 checksum is fixed for both and the UDP (or TCP)
//!   checksum for the address (`eipsim::wire::checksum::Delta`, RFC 1624; a UDP checksum of 0
//!   stays 0), the destination MAC becomes the ENI's and the source MAC the gateway's, and it
//!   writes an `Outcome` (`Forward(Eni(i), Dnat)` or `Drop(reason)`). It does not decide the
//!   ingress (it knows the frames come from the Internet), reads no ports, knows no other
//!   address kind or mode, has no VLAN, SLL or ICMP-error path, and hands back no flow tuple,
//!   layout or inside view.
//!
//! So the ratio measures what the core's own work costs beyond a bare hash lookup doing the
//! fixed work: the ingress lookup, its tables and their layout, its decision logic and its
//! verdict.
//!
//! Topologies: N = 1k and 1M NAT EIPs (VPC 10.0.0.0/8, EIPs from 47.0.0.1 up), each mapped to its
//! own private IP on secondary ENIs of 64 (1k) or 4096 (1M) private IPs, each ENI attached to its
//! own instance, built through the model's console operations. Frames: every EIP of the table in
//! random order (a shuffled permutation; at 1k four of them, 4096 frames; at 1M one, 1M frames,
//! 64 MiB, so the table lines a batch touches are mostly not in cache). Before timing, every
//! frame is run once through both sides, which must give the same outcome and byte for byte the
//! same frame, with valid checksums.
//!
//! Reading the output: every bench declares `Throughput::Elements(batch)`, so criterion's `time`
//! is ns per batch of 32 or 256 frames, and ns/frame = time / batch. At the end the bench prints
//! a table of ns/frame per size, batch and side (the median over criterion's calls of this
//! bench, warm-up included) and the ratio core / baseline (target: at most 1.5). The same
//! figures from criterion's own estimates: `target/criterion/core_vs_baseline_<size>/<side>/
//! <batch>/new/estimates.json`, `mean.point_estimate` (ns per batch).

use std::cell::{OnceCell, RefCell};
use std::hint::black_box;
use std::time::{Duration, Instant};

mod common;
use common::{FRAME_LEN, median, time_batches, time_core_batch, time_core_packed};
mod nat_inbound;
use nat_inbound::{BaselineMap, Fixture, baseline_batch};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use eipsim::dataplane::{DropReason, Outcome};

const BATCHES: [usize; 2] = [32, 256];

fn time_baseline(
    map: &BaselineMap,
    pool: &[u8],
    batch: usize,
    c: &mut usize,
    iters: u64,
) -> Duration {
    let mut out = vec![Outcome::Drop(DropReason::Malformed); batch];
    time_batches(pool, batch, c, iters, |buf| {
        baseline_batch(map, buf, &mut out);
        black_box(&mut out);
    })
}

/// ns per frame of every call criterion made, per (size, side, batch).
type Samples = RefCell<Vec<(String, &'static str, usize, f64)>>;

fn record(s: &Samples, size: &str, side: &'static str, batch: usize, iters: u64, d: Duration) {
    let ns = d.as_nanos() as f64 / (iters as f64 * batch as f64);
    s.borrow_mut().push((size.to_string(), side, batch, ns));
}

const SIDES: [&str; 4] = ["core_packed", "core_batch", "general", "baseline"];

fn fixture(n: usize, label: &str) -> Fixture {
    let t = Instant::now();
    let f = nat_inbound::fixture(n);
    eprintln!(
        "core_vs_baseline {label}: {n} NAT EIPs, {} frames, built and checked in {:.2?}",
        f.pool.len() / FRAME_LEN,
        t.elapsed()
    );
    f
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
                        "general" => {
                            time_core_packed(&f.general, &f.pool, batch, &mut cursor, iters)
                        }
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
        "  {:<5} {:>5} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12} {:>13}",
        "EIPs",
        "batch",
        "core_packed",
        "core_batch",
        "general",
        "baseline",
        "packed/base",
        "batch/base",
        "general/base"
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
            let (p, b, g) = (m("core_packed"), m("core_batch"), m("general"));
            let base = m("baseline");
            eprintln!(
                "  {size:<5} {batch:>5} {p:>12.2} {b:>12.2} {g:>12.2} {base:>12.2} {:>11.2}x \
                 {:>11.2}x {:>12.2}x",
                p / base,
                b / base,
                g / base
            );
        }
    }
    eprintln!("  target: core (packed, batch) / baseline <= 1.5x; general is for comparison");
}

fn benches(c: &mut Criterion) {
    let samples = Samples::default();
    compare_size(c, &samples, 1_000, "1k");
    compare_size(c, &samples, 1_000_000, "1M");
    print_ratios(&samples);
}

criterion_group!(core_vs_baseline, benches);
criterion_main!(core_vs_baseline);
