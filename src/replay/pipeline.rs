//! The threads of a replay and stages 3 to 7 of the frame pass over a batch.

use super::*;

/// Stages 3 to 7 of the frame pass for the frames of `b` whose shard `pass` holds (`dp`: the
/// tables of a batch that brings none); the frames the translation rewrote, and those a
/// security group refused, go to `rw`.
pub(crate) fn pass_batch(
    pass: &mut FramePass,
    dp: &Dataplane,
    b: &Batch,
    rw: &mut Rewritten,
    scratch: &mut Vec<u8>,
) {
    if let Some(c) = &b.cloud {
        pass.follow(c);
    }
    let dp = b.dp.as_deref().unwrap_or(dp);
    for i in 0..b.ranges.len() {
        pass_one(pass, dp, b, i, rw, scratch);
    }
}

/// Stages 3 to 7 for frame `i` of `b` (none when `pass` does not hold its shard); the final
/// verdict when it does.
pub(crate) fn pass_one(
    pass: &mut FramePass,
    dp: &Dataplane,
    b: &Batch,
    i: usize,
    rw: &mut Rewritten,
    scratch: &mut Vec<u8>,
) -> Option<Verdict> {
    let (s, e, link) = b.ranges[i];
    let shard = usize::from(b.shards[i]);
    if !pass.owns(shard) {
        return None;
    }
    let mut v = b.verdicts[i];
    let before = if b.keep_before {
        &b.before[s..e]
    } else {
        &b.buf[s..e]
    };
    let f = FrameIn {
        dp,
        frame_no: b.position(i),
        now_s: b.times[i],
        now_ns: b.nanos[i],
        data: &b.buf[s..e],
        before,
        link,
    };
    let done = pass.frame(shard, f, &mut v, scratch);
    if let Some(r) = done.refused {
        let detail = pass
            .groups(shard)
            .map(|g| r.detail(g.tables()))
            .unwrap_or_default();
        let start = rw.buf.len();
        rw.buf.extend_from_slice(before);
        rw.frames
            .push((i as u32, start, rw.buf.len(), b.metas[i].1.orig_len));
        rw.verdicts.push((i as u32, v, detail));
    } else if done.rewritten {
        let grown = scratch.len() as i64 - (e - s) as i64;
        let orig = (i64::from(b.metas[i].1.orig_len) + grown)
            .clamp(scratch.len() as i64, i64::from(u32::MAX)) as u32;
        let start = rw.buf.len();
        rw.buf.extend_from_slice(scratch);
        rw.frames.push((i as u32, start, rw.buf.len(), orig));
    }
    Some(v)
}

/// The multi-threaded pipeline, in input order:
/// reader -> N core workers (stages 1-2, any batch) -> N shard owners (stages 3-6, every batch,
/// the frames of their shards, in order) -> writer (this thread). Returns the owners' passes.
pub(crate) fn pipeline(
    feeder: &mut Feeder,
    dp: &Dataplane,
    sink: &mut Sink,
    passes: Vec<FramePass>,
) -> (Result<(), OutputError>, Vec<FramePass>) {
    use crossbeam_channel::{Sender, bounded};
    let workers = passes.len();
    let depth = workers * 4;
    let (to_work, work_rx) = bounded::<Batch>(depth);
    let (recycle, recycled) = bounded::<Batch>(depth * 2 + 2);
    for _ in 0..depth * 2 {
        let _ = recycle.send(Batch::default());
    }
    let (owner_txs, owner_rxs): (Vec<Sender<Arc<Batch>>>, Vec<_>) =
        (0..workers).map(|_| bounded::<Arc<Batch>>(depth)).unzip();
    // An owner's report on a batch: (seq, the batch from owner 0, its rewritten frames).
    type Done = (u64, Option<Arc<Batch>>, Rewritten);
    let (to_write, write_rx) = bounded::<Done>(depth * workers);
    std::thread::scope(|s| {
        s.spawn(move || {
            loop {
                let mut b = recycled.try_recv().unwrap_or_default();
                if !feeder.fill(&mut b) || to_work.send(b).is_err() {
                    break;
                }
            }
        });
        for _ in 0..workers {
            let rx = work_rx.clone();
            let txs = owner_txs.clone();
            s.spawn(move || {
                for mut b in rx {
                    b.process(dp);
                    let b = Arc::new(b);
                    if txs.iter().any(|tx| tx.send(b.clone()).is_err()) {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(owner_txs);
        let owners: Vec<_> = passes
            .into_iter()
            .zip(owner_rxs)
            .enumerate()
            .map(|(w, (mut pass, rx))| {
                let tx = to_write.clone();
                s.spawn(move || {
                    let mut next = 0u64;
                    let mut parked: BTreeMap<u64, Arc<Batch>> = BTreeMap::new();
                    let mut scratch = Vec::new();
                    'recv: for b in rx {
                        parked.insert(b.seq, b);
                        while let Some(b) = parked.remove(&next) {
                            next += 1;
                            let mut rw = Rewritten::default();
                            pass_batch(&mut pass, dp, &b, &mut rw, &mut scratch);
                            let seq = b.seq;
                            // Owner 0 hands the batch on; the others let go of it first.
                            let b = (w == 0).then_some(b);
                            if tx.send((seq, b, rw)).is_err() {
                                break 'recv;
                            }
                        }
                    }
                    pass
                })
            })
            .collect();
        drop(to_write);
        let mut next = 0u64;
        let mut parked: BTreeMap<u64, (Option<Arc<Batch>>, Rewritten, usize)> = BTreeMap::new();
        let mut res = Ok(());
        for (seq, b, rw) in write_rx.iter() {
            let e = parked.entry(seq).or_default();
            e.0 = e.0.take().or(b);
            e.1.absorb(&rw);
            e.2 += 1;
            while parked.get(&next).is_some_and(|e| e.2 == workers) {
                let (b, rw, _) = parked.remove(&next).expect("complete");
                next += 1;
                let b = b.expect("owner 0 hands the batch on");
                if res.is_ok() {
                    res = sink.take(&b, &rw);
                }
                if let Ok(b) = Arc::try_unwrap(b) {
                    let _ = recycle.try_send(b);
                }
            }
            if res.is_err() {
                break;
            }
        }
        drop(write_rx);
        drop(recycle);
        let passes = owners
            .into_iter()
            .map(|h| h.join().expect("a shard owner panicked"))
            .collect();
        (res, passes)
    })
}
