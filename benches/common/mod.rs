//! Timing loops shared by the benches: each timed batch copies its frames from a pool of
//! prepared frames into a work buffer, then runs the work on it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use eipsim::dataplane::{Dataplane, DropReason, Frame, Verdict};
use eipsim::wire::LinkType;

/// Bytes per frame in a pool.
pub const FRAME_LEN: usize = 64;

/// Times `iters` batches of `batch` frames: copy the next batch from the pristine pool into a
/// work buffer, then `work` on it.
pub fn time_batches(
    pool: &[u8],
    batch: usize,
    cursor: &mut usize,
    iters: u64,
    mut work: impl FnMut(&mut [u8]),
) -> Duration {
    let frames = pool.len() / FRAME_LEN;
    let mut buf = vec![0u8; batch * FRAME_LEN];
    let start = Instant::now();
    for _ in 0..iters {
        if *cursor + batch > frames {
            *cursor = 0;
        }
        let off = *cursor * FRAME_LEN;
        buf.copy_from_slice(&pool[off..off + batch * FRAME_LEN]);
        work(&mut buf);
        black_box(&mut buf);
        *cursor += batch;
    }
    start.elapsed()
}

/// The core through `process_packed` (the replay's call).
pub fn time_core_packed(
    dp: &Dataplane,
    pool: &[u8],
    batch: usize,
    cursor: &mut usize,
    iters: u64,
) -> Duration {
    let ranges: Vec<(usize, usize, LinkType)> = (0..batch)
        .map(|i| (i * FRAME_LEN, (i + 1) * FRAME_LEN, LinkType::Ethernet))
        .collect();
    let mut verdicts = vec![Verdict::early_drop(DropReason::Malformed, None); batch];
    time_batches(pool, batch, cursor, iters, |buf| {
        dp.process_packed(buf, &ranges, &mut verdicts);
        black_box(&mut verdicts);
    })
}

/// The core through `process_batch` (a slice of frame references, copied into frame by frame).
pub fn time_core_batch(
    dp: &Dataplane,
    pool: &[u8],
    batch: usize,
    cursor: &mut usize,
    iters: u64,
) -> Duration {
    let n = pool.len() / FRAME_LEN;
    let mut buf = vec![0u8; batch * FRAME_LEN];
    let mut frames: Vec<Frame<'_>> = buf
        .chunks_exact_mut(FRAME_LEN)
        .map(|data| Frame {
            data,
            link: LinkType::Ethernet,
        })
        .collect();
    let mut verdicts = vec![Verdict::early_drop(DropReason::Malformed, None); batch];
    let start = Instant::now();
    for _ in 0..iters {
        if *cursor + batch > n {
            *cursor = 0;
        }
        let src = &pool[*cursor * FRAME_LEN..(*cursor + batch) * FRAME_LEN];
        for (f, s) in frames.iter_mut().zip(src.chunks_exact(FRAME_LEN)) {
            f.data.copy_from_slice(s);
        }
        dp.process_batch(&mut frames, &mut verdicts);
        black_box(&mut verdicts);
        black_box(&mut frames);
        *cursor += batch;
    }
    start.elapsed()
}

/// The median of `v` (NaN when empty).
#[allow(dead_code)] // each bench includes this module; not every one takes medians
pub fn median(mut v: Vec<f64>) -> f64 {
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
