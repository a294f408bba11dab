//! The serial end of a replay: each frame to its egress capture, `dropped.pcapng` and the
//! trace, in input order.

use super::*;

/// The per-frame trace: one TSV line per input frame naming its fate and its place in the
/// output it went to.
pub(crate) struct Trace {
    pub(crate) tmp: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) w: std::io::BufWriter<std::fs::File>,
}

impl Trace {
    pub(crate) fn create(dest: &Path) -> Result<Trace, OutputError> {
        use std::io::Write as _;
        let tmp = output::temp_name(dest);
        let fail = |e: std::io::Error| OutputError {
            file: dest.to_path_buf(),
            message: e.to_string(),
        };
        let f = std::fs::File::create(&tmp).map_err(fail)?;
        let mut w = std::io::BufWriter::new(f);
        writeln!(w, "frame\tinput\trecord\tverdict\tegress\tout_frame").map_err(fail)?;
        Ok(Trace {
            tmp,
            dest: dest.to_path_buf(),
            w,
        })
    }
}

/// The writers and counters: the serial end of the pipeline.
pub(crate) struct Sink {
    /// The cloud as it stands (timed events change it).
    pub(crate) cloud: Arc<Cloud>,
    pub(crate) out: PathBuf,
    pub(crate) internet: CaptureWriter,
    pub(crate) enis: output::EniWriters,
    pub(crate) dropped: CaptureWriter,
    /// By [`Meta::slot`].
    pub(crate) ifaces: Vec<IfaceDesc>,
    /// The leader's counters: the timeline and its segments, frames restored. The shards of
    /// the frame pass count the rest and are merged into these at the end.
    pub(crate) stats: Stats,
    pub(crate) frame_no: u64,
    pub(crate) progress: Option<indicatif::ProgressBar>,
    pub(crate) trace: Option<Trace>,
    /// What-if ALG translation is on (frames may grow past the input's snap length).
    pub(crate) translating: bool,
    /// `replay --shard`: the frames kept and their positions ([`super::shard`]).
    pub(crate) shard: Option<super::shard::ShardSink>,
}

/// The frames of a batch that stage 5 (what-if translation) rewrote: (index in the batch,
/// range in `buf`, new original length), in index order.
#[derive(Default)]
pub(crate) struct Rewritten {
    pub(crate) frames: Vec<(u32, usize, usize, u32)>,
    pub(crate) buf: Vec<u8>,
    /// Frames whose verdict the frame pass changed (a security group refused them): the
    /// frame's index, its verdict, and the detail of its drop comment.
    pub(crate) verdicts: Vec<(u32, Verdict, String)>,
}

impl Rewritten {
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.buf.clear();
        self.verdicts.clear();
    }

    /// Adds the rewritten frames of another worker's shards (the batch's frames in order).
    pub(crate) fn absorb(&mut self, other: &Rewritten) {
        let base = self.buf.len();
        self.buf.extend_from_slice(&other.buf);
        self.frames.extend(
            other
                .frames
                .iter()
                .map(|&(i, s, e, l)| (i, s + base, e + base, l)),
        );
        self.frames.sort_unstable_by_key(|f| f.0);
        self.verdicts.extend(other.verdicts.iter().cloned());
        self.verdicts.sort_unstable_by_key(|f| f.0);
    }
}

/// What became of a frame the guests' side produced.
pub(crate) enum GenOut {
    /// A guest sent it: its verdict in the frame pass and the detail of its drop comment.
    Pass(Verdict, String),
    /// The VPC's DHCP server answered ENI `0` with it.
    Served(u32),
}

/// A frame the guests' side produced during a batch: written before the batch's input frame
/// `before` (the batch's length: after its last frame), its bytes `buf[start..end]` in the
/// link type of `meta`.
pub(crate) struct GenFrame {
    pub(crate) before: u32,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) meta: Meta,
    pub(crate) outcome: GenOut,
}

/// The frames the guests' side produced during a batch, in order.
#[derive(Default)]
pub(crate) struct GenFrames {
    pub(crate) frames: Vec<GenFrame>,
    pub(crate) buf: Vec<u8>,
}

impl GenFrames {
    pub(crate) fn clear(&mut self) {
        self.frames.clear();
        self.buf.clear();
    }
}

impl Sink {
    /// The serial end of the pipeline for one batch: events and interfaces first seen, then
    /// each frame written to its egress (the rewritten bytes when stage 5 rewrote it).
    pub(crate) fn take(&mut self, b: &Batch, rw: &Rewritten) -> Result<(), OutputError> {
        self.take_with(b, rw, None)
    }

    /// [`Sink::take`], with the frames the guests produced during the batch written in their
    /// places (`replay --respond`).
    pub(crate) fn take_with(
        &mut self,
        b: &Batch,
        rw: &Rewritten,
        generated: Option<&GenFrames>,
    ) -> Result<(), OutputError> {
        if let Some(c) = &b.cloud {
            self.cloud = c.clone();
            self.enis.resize(self.cloud.enis.len());
            self.stats.follow(&self.cloud);
        }
        self.stats.restored += b.restored;
        // Events, by the frame they applied to first (a split's shard may apply several
        // positions' events before one of its frames).
        // (Live batches give no positions: their events apply at the batch's first frame.)
        let at_of = |k: usize| b.applied_at.get(k).copied().unwrap_or(b.first_frame + 1);
        let mut k = 0;
        while k < b.applied.len() {
            let at = at_of(k);
            let n = (k..b.applied.len()).take_while(|&j| at_of(j) == at).count();
            self.stats.record_events(at, b.applied[k..k + n].to_vec());
            k += n;
        }
        for (slot, d) in &b.new_ifaces {
            let mut d = d.clone();
            if self.translating {
                // A translated frame may grow past the input's snap length.
                d.snaplen = grown_snaplen(d.snaplen);
                if let Some(idb) = &mut d.idb {
                    idb.snaplen = grown_snaplen(idb.snaplen);
                }
            }
            // Slots come in order, but for a split's shard, which has only some of them.
            let slot = *slot as usize;
            if self.ifaces.len() <= slot {
                self.ifaces.resize(slot + 1, d.clone());
            }
            self.ifaces[slot] = d;
        }
        let mut rewritten = rw.frames.iter().peekable();
        let mut changed = rw.verdicts.iter().peekable();
        let mut gens = generated.map(|g| (g, g.frames.iter().peekable()));
        for (i, &(s, e, _)) in b.ranges.iter().enumerate() {
            if let Some((g, it)) = &mut gens {
                while let Some(f) = it.next_if(|f| f.before as usize <= i) {
                    self.write_generated(g, f)?;
                }
            }
            let (input, meta) = &b.metas[i];
            let mut v = &b.verdicts[i];
            let mut detail = None;
            if let Some((_, cv, d)) = changed.next_if(|c| c.0 as usize == i) {
                v = cv;
                detail = Some(d.as_str());
            }
            self.frame_no = b.position(i);
            if let Some(p) = &mut self.shard {
                if !p.keeps(b.shards[i]) {
                    if p.split_frames.is_some() {
                        return Err(OutputError {
                            file: self.out.join(super::shard::POSITIONS),
                            message: format!(
                                "frame {} is not a frame of shard {}/{} here: the split placed it with other tables (another topology, events or options)",
                                self.frame_no, p.spec.k, p.spec.n
                            ),
                        });
                    }
                    continue;
                }
                let out = super::shard::output_index(v.outcome);
                p.record(self.frame_no, out, meta.slot)?;
            }
            self.stats.count_segment(v);
            let mut data = &b.buf[s..e];
            let mut translated_meta = *meta;
            let meta = &mut translated_meta;
            if let Some(&(_, rs, re, orig)) = rewritten.next_if(|r| r.0 as usize == i) {
                data = &rw.buf[rs..re];
                meta.orig_len = orig;
            }
            let out_frame = self.write_one(meta, data, v.outcome, detail)?;
            if let Some(t) = &mut self.trace {
                use std::io::Write as _;
                let (verdict, egress) = match v.outcome {
                    Outcome::Forward(Port::Internet, a) => (a.as_str(), "internet"),
                    Outcome::Forward(Port::Eni(x), a) => {
                        (a.as_str(), self.cloud.enis[x as usize].id.as_str())
                    }
                    Outcome::Drop(r) => (r.as_str(), "dropped"),
                };
                writeln!(
                    t.w,
                    "{}\t{}\t{}\t{verdict}\t{egress}\t{out_frame}",
                    self.frame_no,
                    input + 1,
                    meta.record
                )
                .map_err(|e| OutputError {
                    file: t.dest.clone(),
                    message: e.to_string(),
                })?;
            }
        }
        if let Some((g, it)) = &mut gens {
            for f in it {
                self.write_generated(g, f)?;
            }
        }
        if let Some(p) = &self.progress {
            p.inc(b.bytes);
        }
        Ok(())
    }

    /// Writes one frame to its egress, or to the drops with its comment; gives its number in
    /// the output it went to.
    fn write_one(
        &mut self,
        meta: &Meta,
        data: &[u8],
        outcome: Outcome,
        detail: Option<&str>,
    ) -> Result<u64, OutputError> {
        let desc = &self.ifaces[meta.slot as usize];
        Ok(match outcome {
            Outcome::Forward(Port::Internet, _) => {
                self.internet.write(meta, desc, data, None)?;
                self.internet.frames
            }
            Outcome::Forward(Port::Eni(x), _) => {
                let x = x as usize;
                let (out, cloud) = (&self.out, &self.cloud);
                let path = || out.join(format!("{}.pcap", cloud.enis[x].id));
                self.enis.write(x, path, meta, desc, data)?
            }
            Outcome::Drop(r) => {
                let comment = match detail {
                    Some(d) if !d.is_empty() => format!("{}: {d}", r.as_str()),
                    _ => r.as_str().to_string(),
                };
                self.dropped.write(meta, desc, data, Some(&comment))?;
                self.dropped.frames
            }
        })
    }

    /// Writes a frame the guests' side produced.
    fn write_generated(&mut self, g: &GenFrames, f: &GenFrame) -> Result<(), OutputError> {
        let data = &g.buf[f.start..f.end];
        match &f.outcome {
            GenOut::Pass(v, detail) => {
                self.write_one(&f.meta, data, v.outcome, Some(detail))?;
            }
            GenOut::Served(x) => {
                let action = crate::dataplane::Action::PassThrough;
                self.write_one(&f.meta, data, Outcome::Forward(Port::Eni(*x), action), None)?;
            }
        }
        Ok(())
    }

    pub(crate) fn abandon(self) {
        if let Some(p) = self.shard {
            p.abandon();
        }
        if let Some(t) = self.trace {
            drop(t.w);
            let _ = std::fs::remove_file(&t.tmp);
        }
        self.internet.abandon();
        self.dropped.abandon();
        self.enis.abandon();
    }
}

/// The snap length of an output whose frames a what-if translation may lengthen: 0 (no limit in
/// pcapng) stays, anything else becomes at least 262144 (libpcap's largest).
pub(crate) fn grown_snaplen(snaplen: u32) -> u32 {
    if snaplen == 0 {
        0
    } else {
        snaplen.max(262_144)
    }
}
