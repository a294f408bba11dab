//! Reading side of a replay: batches of frames from the inputs, with the timed events due.

use super::*;

/// A packed batch of frames.
#[derive(Default)]
pub(crate) struct Batch {
    pub(crate) seq: u64,
    pub(crate) buf: Vec<u8>,
    pub(crate) ranges: Vec<(usize, usize, LinkType)>,
    pub(crate) metas: Vec<(usize, Meta)>,
    pub(crate) verdicts: Vec<Verdict>,
    /// The state shard of each frame's flow ([`crate::pass::shard_of`]), set with the verdicts.
    pub(crate) shards: Vec<u8>,
    /// Frames before this batch's first frame in the replay.
    pub(crate) first_frame: u64,
    /// Each frame's capture time, in seconds.
    pub(crate) times: Vec<i64>,
    /// Each frame's capture time, in nanoseconds (clamped to 64 bits: before 2262).
    pub(crate) nanos: Vec<i64>,
    /// With security groups: `buf` as the frames arrived at the core (after the capture-point
    /// restoration), for the frames a group refuses.
    pub(crate) before: Vec<u8>,
    /// Whether to keep `before`.
    pub(crate) keep_before: bool,
    /// Capture point `instance`: frames restored to what the Internet sent.
    pub(crate) restored: u64,
    /// Interfaces first seen in this batch, by [`Meta::slot`].
    pub(crate) new_ifaces: Vec<(u32, IfaceDesc)>,
    /// Bytes read (for the progress bar).
    pub(crate) bytes: u64,
    /// With timed events: the tables for this batch (swapped whole between batches).
    pub(crate) dp: Option<Arc<Dataplane>>,
    /// With timed events: the cloud after the events applied at this batch's first frame.
    pub(crate) cloud: Option<Arc<Cloud>>,
    /// Events applied at this batch's first frame: (at, operation, outcome).
    pub(crate) applied: Vec<AppliedEvent>,
    /// The 1-based position in the whole input of the frame each of `applied` applied to
    /// first (the batch's first frame, or in a shard of a split, the one the split saw).
    pub(crate) applied_at: Vec<u64>,
    /// In a shard of a split: each frame's 1-based position in the whole input (empty
    /// otherwise: the frames follow `first_frame`).
    pub(crate) positions: Vec<u64>,
    /// With raw bytes kept (`eipsim split`): per frame, what its file needs before it (file
    /// header, pcapng blocks that hold no frame) and its record, as read.
    pub(crate) raw: Vec<u8>,
    /// Per frame: the ends in `raw` of its shared bytes and of its record (each frame's bytes
    /// start where the previous frame's end).
    pub(crate) raw_ends: Vec<(usize, usize)>,
}

/// An event as applied: `at` as written, the operation, and its outcome.
pub(crate) type AppliedEvent = (String, String, Result<(), crate::model::ModelError>);

/// Timed events during a replay: the cloud they change and the tables compiled from it.
pub(crate) struct Timeline {
    pub(crate) events: Vec<crate::model::scenario::Event>,
    pub(crate) next: usize,
    pub(crate) cloud: Cloud,
    pub(crate) dp: Arc<Dataplane>,
    pub(crate) hint: Option<Port>,
    pub(crate) point: CapturePoint,
    /// In a shard of a split: per event, the position of the frame the split saw it apply to
    /// (`None`: none); the events apply by position instead of by time.
    pub(crate) at_frames: Option<Vec<Option<u64>>>,
}

impl Timeline {
    /// Whether an event is due for the frame at `ts`, position `pos`.
    pub(crate) fn due(&self, ts: i128, pos: u64) -> bool {
        match &self.at_frames {
            Some(at) => at
                .get(self.next)
                .copied()
                .flatten()
                .is_some_and(|p| p <= pos),
            None => self.events.get(self.next).is_some_and(|e| e.at_ns <= ts),
        }
    }

    /// Applies every event due for the frame at `ts`, position `pos`: the events as applied,
    /// the position each applied at, and whether one succeeded (the tables were rebuilt).
    pub(crate) fn apply(&mut self, ts: i128, pos: u64) -> (Vec<AppliedEvent>, Vec<u64>, bool) {
        let (mut applied, mut applied_at) = (Vec::new(), Vec::new());
        let mut changed = false;
        while self.due(ts, pos) {
            let e = &self.events[self.next];
            let at = self
                .at_frames
                .as_ref()
                .and_then(|a| a[self.next])
                .unwrap_or(pos);
            self.next += 1;
            // A failing operation changes nothing (the operations check before they change).
            let r = e.op.apply(&mut self.cloud).map(|_| ());
            changed |= r.is_ok();
            applied.push((e.at.clone(), e.op.to_string(), r));
            applied_at.push(at);
        }
        if changed {
            self.dp = Arc::new(dataplane(&self.cloud, self.hint, self.point));
        }
        (applied, applied_at, changed)
    }
}

/// A shard of a split being replayed (`replay --shard K/N --split DIR`): each frame's place in
/// the whole input, its input and its interface slot, from the shard's `positions.bin`.
pub(crate) struct PartFeed {
    pub(crate) positions: std::io::BufReader<std::fs::File>,
    pub(crate) path: std::path::PathBuf,
    /// Interface slots handed to the writer so far.
    pub(crate) seen: Vec<bool>,
    /// `positions.bin` does not match the captures: what is wrong (reading stopped).
    pub(crate) fault: Option<String>,
    /// Records read.
    pub(crate) read: u64,
    /// The events left after the last frame were applied.
    pub(crate) ended: bool,
    /// The position of the last record read.
    pub(crate) last: u64,
    /// Frames the split read in all: every position is at most this.
    pub(crate) frames: u64,
    /// Interface slots the split gave: every slot is below this.
    pub(crate) slots: u32,
}

impl PartFeed {
    /// The next record: (position, input, slot); `None` at the end of the file.
    fn next(&mut self) -> Result<Option<(u64, u32, u32)>, String> {
        let mut e = [0u8; super::split::PART_RECORD];
        match crate::shard::captures::read_exact_or_eof(&mut self.positions, &mut e) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(x) if x.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(format!(
                    "{}: cut short in record {}",
                    self.path.display(),
                    self.read + 1
                ));
            }
            Err(x) => return Err(format!("{}: {x}", self.path.display())),
        }
        self.read += 1;
        let pos = u64::from_le_bytes(e[..8].try_into().expect("8 bytes"));
        let input = u32::from_le_bytes(e[8..12].try_into().expect("4 bytes"));
        let slot = u32::from_le_bytes(e[12..].try_into().expect("4 bytes"));
        // Positions rise and stay within the input; slots stay within the split's.
        if pos <= self.last || pos > self.frames || slot >= self.slots {
            return Err(format!(
                "{}: record {}: position {pos} after {} (at most {}), interface slot {slot} (below {}): damaged",
                self.path.display(),
                self.read,
                self.last,
                self.frames,
                self.slots
            ));
        }
        self.last = pos;
        Ok(Some((pos, input, slot)))
    }
}

impl Batch {
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.ranges.clear();
        self.metas.clear();
        self.verdicts.clear();
        self.shards.clear();
        self.times.clear();
        self.nanos.clear();
        self.before.clear();
        self.restored = 0;
        self.new_ifaces.clear();
        self.bytes = 0;
        self.dp = None;
        self.cloud = None;
        self.applied.clear();
        self.applied_at.clear();
        self.positions.clear();
        self.raw.clear();
        self.raw_ends.clear();
    }

    /// Frame `i`'s 1-based position in the whole input.
    #[inline]
    pub(crate) fn position(&self, i: usize) -> u64 {
        match self.positions.get(i) {
            Some(&p) => p,
            None => self.first_frame + i as u64 + 1,
        }
    }

    /// Frame `i`'s shared bytes and record, as read (raw bytes kept).
    pub(crate) fn raw(&self, i: usize) -> (&[u8], &[u8]) {
        let start = if i == 0 { 0 } else { self.raw_ends[i - 1].1 };
        let (shared, end) = self.raw_ends[i];
        (&self.raw[start..shared], &self.raw[shared..end])
    }

    /// Stages 1 and 2 of the frame pass on the whole batch (restore, core), then the shard of
    /// each frame's flow.
    pub(crate) fn process(&mut self, dp: &Dataplane) {
        let own = self.dp.clone();
        let dp = own.as_deref().unwrap_or(dp);
        self.forward(dp);
        self.shards.clear();
        self.shards.extend(
            self.verdicts
                .iter()
                .map(|v| crate::pass::shard_of(dp.owner(v))),
        );
    }

    pub(crate) fn forward(&mut self, dp: &Dataplane) {
        let blank = Verdict::early_drop(crate::dataplane::DropReason::Malformed, None);
        self.verdicts.resize(self.ranges.len(), blank);
        let unsupported = |(_, m): &(usize, Meta)| m.unsupported_link;
        if dp.capture_point() == CapturePoint::Instance {
            // The capture-point stage: frames the instance received become the Internet's.
            for (&(s, e, link), m) in self.ranges.iter().zip(&self.metas) {
                if !unsupported(m) {
                    self.restored += u64::from(dp.restore_received(&mut self.buf[s..e], link));
                }
            }
        }
        if self.keep_before {
            self.before.clear();
            self.before.extend_from_slice(&self.buf);
        }
        if !self.metas.iter().any(unsupported) {
            dp.process_packed(&mut self.buf, &self.ranges, &mut self.verdicts);
            return;
        }
        // Frames of an interface whose link type is not replayed never reach the core.
        let n = self.ranges.len();
        let mut i = 0;
        while i < n {
            if unsupported(&self.metas[i]) {
                self.verdicts[i] =
                    Verdict::early_drop(crate::dataplane::DropReason::UnsupportedLink, None);
                i += 1;
                continue;
            }
            let j = self.metas[i..]
                .iter()
                .position(unsupported)
                .map_or(n, |k| i + k);
            dp.process_packed(&mut self.buf, &self.ranges[i..j], &mut self.verdicts[i..j]);
            i = j;
        }
    }
}

/// Reads frames from the inputs, one batch at a time. With timed events a batch ends before
/// the first frame an event is due for, and the events are applied before that frame's batch.
pub(crate) struct Feeder {
    /// Per input, in order; `None` for an input that could not be opened.
    pub(crate) readers: Vec<Option<CaptureReader>>,
    pub(crate) current: usize,
    /// Per input, per [`Meta::iface_no`]: the run-wide [`Meta::slot`].
    pub(crate) slots: Vec<Vec<u32>>,
    /// Slots given so far.
    pub(crate) next_slot: u32,
    pub(crate) counts: Vec<u64>,
    /// The inputs whose reading ended on a fault: the frames before it were read, and reading
    /// went on with the next input.
    pub(crate) errors: Vec<(usize, CaptureError)>,
    pub(crate) seq: u64,
    pub(crate) timeline: Option<Timeline>,
    /// A frame read but left for the next batch (an event is due at it): bytes, input, meta.
    pub(crate) carry: Option<(Vec<u8>, usize, Meta)>,
    /// A stop was asked (SIGINT, SIGTERM): reading ended there.
    pub(crate) stopped: bool,
    /// Frames handed out in batches so far.
    pub(crate) frames: u64,
    /// Batches keep their frames as they arrived ([`Batch::before`]).
    pub(crate) keep_before: bool,
    /// Batches keep the bytes as read ([`Batch::raw`]; the readers must keep them too).
    pub(crate) keep_raw: bool,
    /// The raw bytes of the frame in `carry`: shared bytes then record, and where they meet.
    pub(crate) carry_raw: (Vec<u8>, usize),
    /// The position of the frame in `carry`.
    pub(crate) carry_pos: u64,
    /// Replaying a shard of a split: positions, slots and events from the split.
    pub(crate) part: Option<PartFeed>,
}

impl Feeder {
    /// Fills `b`; returns false when there is nothing more. An input that ends on a fault is
    /// left there (the fault is kept) and reading goes on with the next one.
    pub(crate) fn fill(&mut self, b: &mut Batch) -> bool {
        b.clear();
        b.keep_before = self.keep_before;
        b.seq = self.seq;
        self.seq += 1;
        b.first_frame = self.frames;
        if let Some((bytes, input, meta)) = self.carry.take() {
            let ts = self.readers[input].as_ref().map_or(0, |r| r.time_ns(&meta));
            let pos = self.carry_pos;
            self.begin(b, ts, pos);
            if self.part.is_some() {
                b.positions.push(pos);
            }
            let start = b.buf.len();
            b.buf.extend_from_slice(&bytes);
            b.ranges.push((start, b.buf.len(), meta.link));
            b.metas.push((input, meta));
            b.times.push(seconds(ts));
            b.nanos.push(nanos(ts));
            b.bytes += bytes.len() as u64 + 16;
            if self.keep_raw {
                let (raw, at) = std::mem::take(&mut self.carry_raw);
                b.raw.extend_from_slice(&raw);
                b.raw_ends.push((at, raw.len()));
            }
        }
        if guard::stop_requested().is_some() {
            self.stopped = true;
            return false;
        }
        while b.ranges.len() < BATCH && self.current < self.readers.len() {
            let Some(r) = &mut self.readers[self.current] else {
                self.current += 1;
                continue;
            };
            let start = b.buf.len();
            match r.next_frame(&mut b.buf) {
                Ok(Some(mut meta)) => {
                    let pos = if let Some(part) = &mut self.part {
                        // The split's record of this frame: its position, input and slot.
                        let rec = match part.next() {
                            Ok(Some((_, input, _))) if input as usize != self.current => {
                                Err(format!(
                                    "{}: record {} is a frame of input {input}, but the shard's captures give one of input {}",
                                    part.path.display(),
                                    part.read,
                                    self.current
                                ))
                            }
                            Ok(Some(rec)) => Ok(rec),
                            Ok(None) => Err(format!(
                                "{}: ends before frame {} of the shard's captures",
                                part.path.display(),
                                part.read + 1
                            )),
                            Err(m) => Err(m),
                        };
                        let (pos, _, slot) = match rec {
                            Ok(rec) => rec,
                            Err(m) => {
                                part.fault = Some(m);
                                b.buf.truncate(start);
                                self.current = self.readers.len();
                                break;
                            }
                        };
                        meta.slot = slot;
                        let seen = &mut part.seen;
                        if seen.len() <= slot as usize {
                            seen.resize(slot as usize + 1, false);
                        }
                        if !seen[slot as usize] {
                            seen[slot as usize] = true;
                            b.new_ifaces.push((slot, r.iface_desc(&meta)));
                        }
                        pos
                    } else {
                        let slots = &mut self.slots[self.current];
                        if let Some(&slot) = slots.get(meta.iface_no as usize) {
                            meta.slot = slot;
                        } else {
                            // Interface numbers come in order: this is the file's next one.
                            meta.slot = self.next_slot;
                            self.next_slot += 1;
                            slots.push(meta.slot);
                            b.new_ifaces.push((meta.slot, r.iface_desc(&meta)));
                        }
                        self.frames + b.ranges.len() as u64 + 1
                    };
                    self.counts[self.current] += 1;
                    let ts = r.time_ns(&meta);
                    let raw_start = b.raw.len();
                    if self.keep_raw {
                        r.take_shared(&mut b.raw);
                        let at = b.raw.len();
                        b.raw.extend_from_slice(r.raw_record());
                        b.raw_ends.push((at, b.raw.len()));
                    }
                    if let Some(t) = &self.timeline
                        && t.due(ts, pos)
                    {
                        if !b.ranges.is_empty() {
                            // The batch ends here: this frame opens the next one.
                            self.carry = Some((b.buf[start..].to_vec(), self.current, meta));
                            self.carry_pos = pos;
                            b.buf.truncate(start);
                            if self.keep_raw {
                                let (at, _) = b.raw_ends.pop().expect("this frame's");
                                self.carry_raw = (b.raw[raw_start..].to_vec(), at - raw_start);
                                b.raw.truncate(raw_start);
                            }
                            break;
                        }
                        self.begin(b, ts, pos);
                    }
                    if self.part.is_some() {
                        b.positions.push(pos);
                    }
                    b.ranges.push((start, b.buf.len(), meta.link));
                    b.times.push(seconds(ts));
                    b.nanos.push(nanos(ts));
                    b.metas.push((self.current, meta));
                    b.bytes += (b.buf.len() - start) as u64 + 16;
                }
                Ok(None) => self.current += 1,
                Err(e) => {
                    b.buf.truncate(start);
                    self.errors.push((self.current, e));
                    self.current += 1;
                }
            }
        }
        if b.ranges.is_empty()
            && let Some(part) = &mut self.part
            && !part.ended
            && part.fault.is_none()
        {
            part.ended = true;
            match part.next() {
                Ok(None) => {}
                Ok(Some(_)) => {
                    part.fault = Some(format!(
                        "{}: more records than the shard's captures have frames ({})",
                        part.path.display(),
                        part.read - 1
                    ))
                }
                Err(m) => part.fault = Some(m),
            }
            if part.fault.is_none() {
                // Events the split saw apply after this shard's last frame: applied here, in
                // a batch without frames, so that the report and the tables follow them.
                self.begin(b, i128::MAX, u64::MAX);
            }
            if let Some(t) = &self.timeline {
                b.dp.get_or_insert_with(|| t.dp.clone());
            }
            return !b.applied.is_empty();
        }
        if let Some(t) = &self.timeline {
            b.dp.get_or_insert_with(|| t.dp.clone());
        }
        self.frames += b.ranges.len() as u64;
        !b.ranges.is_empty()
    }

    /// Opens a batch whose first frame is at `ts`, position `pos`: applies the events due,
    /// and gives the batch the tables (and, when they changed, the cloud) to use.
    pub(crate) fn begin(&mut self, b: &mut Batch, ts: i128, pos: u64) {
        let Some(t) = &mut self.timeline else {
            return;
        };
        if t.due(ts, pos) {
            let (applied, at, changed) = t.apply(ts, pos);
            b.applied = applied;
            b.applied_at = at;
            if changed {
                b.cloud = Some(Arc::new(t.cloud.clone()));
            }
        }
        b.dp = Some(t.dp.clone());
    }
}

/// Nanoseconds of capture time as whole seconds.
/// A capture time in nanoseconds, clamped to 64 bits.
pub(crate) fn nanos(ns: i128) -> i64 {
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

pub(crate) fn seconds(ns: i128) -> i64 {
    match i64::try_from(ns) {
        // Every capture time before 2262: a 64-bit division (the 128-bit one is a call).
        Ok(ns) => ns.div_euclid(1_000_000_000),
        Err(_) => {
            (ns.div_euclid(1_000_000_000)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn seconds_round_down_on_both_paths() {
        assert_eq!(seconds(0), 0);
        assert_eq!(seconds(1_999_999_999), 1);
        assert_eq!(seconds(-1), -1);
        assert_eq!(seconds(-1_000_000_000), -1);
        assert_eq!(seconds(-1_000_000_001), -2);
        // Past what 64 bits of nanoseconds hold: the 128-bit path, clamped.
        let big = i128::from(i64::MAX) + 1;
        assert_eq!(seconds(big), (big / 1_000_000_000) as i64);
        assert_eq!(seconds(i128::MAX), i64::MAX);
        assert_eq!(seconds(i128::MIN), i64::MIN);
    }
}
