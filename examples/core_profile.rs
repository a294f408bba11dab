//! Drives one side of `benches/core_vs_baseline.rs` (NAT inbound, same topology, frames and
//! baseline) in a loop, for instruction counts under callgrind, which are steady where the
//! shared machine's wall time is not:
//!
//! ```text
//! cargo build --release --example core_profile
//! valgrind --tool=callgrind --toggle-collect='*core_profile*run_*' \
//!     target/release/examples/core_profile core 1000 32 200
//! ```
//!
//! Arguments: the side (`core` = `Dataplane::process_packed`, `general` = the same with the
//! fast path off, `baseline` = the bench's bare
//! `FxHashMap` lookup doing the same fixed work), the number of NAT EIPs, the batch size and
//! how many times to run every frame of the pool. Prints the number of frames processed:
//! callgrind's total of the collected functions divided by it is instructions per frame (the
//! copy of each batch from the pool, the same on both sides, included).

use std::hint::black_box;
use std::process::ExitCode;

#[path = "../benches/nat_inbound/mod.rs"]
mod nat_inbound;
use nat_inbound::{FRAME_LEN, Fixture, baseline_batch};

use eipsim::dataplane::{DropReason, Outcome, Verdict};
use eipsim::wire::LinkType;

/// Runs the core over the pool `rounds` times, `batch` frames per call.
#[inline(never)]
fn run_core(dp: &eipsim::dataplane::Dataplane, f: &Fixture, batch: usize, rounds: usize) -> usize {
    let ranges: Vec<(usize, usize, LinkType)> = (0..batch)
        .map(|i| (i * FRAME_LEN, (i + 1) * FRAME_LEN, LinkType::Ethernet))
        .collect();
    let mut verdicts = vec![Verdict::early_drop(DropReason::Malformed, None); batch];
    let mut buf = vec![0u8; batch * FRAME_LEN];
    let mut n = 0;
    for _ in 0..rounds {
        for chunk in f.pool.chunks_exact(batch * FRAME_LEN) {
            buf.copy_from_slice(chunk);
            dp.process_packed(&mut buf, &ranges, &mut verdicts);
            black_box(&mut verdicts);
            n += batch;
        }
    }
    n
}

/// Runs the baseline over the pool `rounds` times, `batch` frames per call.
#[inline(never)]
fn run_baseline(f: &Fixture, batch: usize, rounds: usize) -> usize {
    let mut out = vec![Outcome::Drop(DropReason::Malformed); batch];
    let mut buf = vec![0u8; batch * FRAME_LEN];
    let mut n = 0;
    for _ in 0..rounds {
        for chunk in f.pool.chunks_exact(batch * FRAME_LEN) {
            buf.copy_from_slice(chunk);
            baseline_batch(&f.map, &mut buf, &mut out);
            black_box(&mut out);
            n += batch;
        }
    }
    n
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: core_profile core|general|baseline EIPS BATCH ROUNDS";
    let [side, n, batch, rounds] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let (Ok(n), Ok(batch), Ok(rounds)) = (
        n.parse::<usize>(),
        batch.parse::<usize>(),
        rounds.parse::<usize>(),
    ) else {
        eprintln!("{usage}: EIPS, BATCH and ROUNDS are numbers");
        return ExitCode::from(2);
    };
    if n == 0 || batch == 0 {
        eprintln!("{usage}: EIPS and BATCH are at least 1");
        return ExitCode::from(2);
    }
    let f = nat_inbound::fixture(n);
    let frames = match side.as_str() {
        "core" => run_core(&f.dp, &f, batch, rounds),
        "general" => run_core(&f.general, &f, batch, rounds),
        "baseline" => run_baseline(&f, batch, rounds),
        _ => {
            eprintln!("{usage}: the side is `core`, `general` or `baseline`");
            return ExitCode::from(2);
        }
    };
    println!("{frames} frames");
    ExitCode::SUCCESS
}
