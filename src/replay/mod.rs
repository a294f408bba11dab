//! Adapters at the edge: replay captures through the core and write each frame to its egress.
//!
//! Frames are read in packed batches (one buffer, a range per frame) so that memory stays flat
//! whatever the capture size and nothing is allocated per frame once the buffers are warm. With
//! `--workers N` (N > 1) a reader thread, N core workers and the writer (this thread) form a
//! pipeline over crossbeam channels; batches are put back in input order before writing.

pub mod guard;
pub mod input;
pub mod output;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataplane::{CapturePoint, Dataplane, IngressHint, Outcome, Port, Tuple, Verdict};
use crate::model::{Cloud, TopologyError};
use crate::pass::FramePass;
use crate::report::{self, InputReport, Stats};
use crate::wire::LinkType;

use input::{CaptureError, CaptureReader, Format, IfaceDesc, Meta};
use output::{CaptureWriter, OutFormat, OutputError};

/// Frames per batch handed to the core.
pub const BATCH: usize = 256;

/// ENI output files kept open at once when the process's limit is unknown; the others are
/// suspended (closed, reopened to append).
pub const MAX_OPEN: usize = 256;

/// How many ENI output files to keep open: the soft `RLIMIT_NOFILE` (read from
/// `/proc/self/limits`) less a margin for inputs and the other outputs, at most 16384.
pub fn open_file_budget() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|v| v.parse::<usize>().ok())
        });
    match soft {
        Some(n) if n > 128 => (n - 64).min(16384),
        _ => MAX_OPEN,
    }
}

/// What to replay and where to write it.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Topology file.
    pub topology: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// `internet` or an ENI id: every frame's ingress (`--ingress`).
    pub ingress: Option<String>,
    /// Core worker threads (1: all on this thread).
    pub workers: usize,
    /// Captures, replayed in order as one stream.
    pub inputs: Vec<PathBuf>,
    /// Show a progress bar on stderr when it is a terminal and the run is long.
    pub progress: bool,
    /// Write a per-frame trace (TSV) to this file (`--trace`).
    pub trace: Option<PathBuf>,
    /// At most this many ENI output files open at once (default: from the process's limit).
    pub max_open_files: Option<usize>,
    /// Inspect ALG protocols (on unless `--no-alg`).
    pub alg: bool,
    /// `--alg` list (`ftp=translate,sip=translate`), applied over the topology's `[alg]`.
    pub alg_spec: Option<String>,
    /// Timed operations (`--events`, design.md section 2b).
    pub events: Option<PathBuf>,
    /// Where the captures were taken (`--capture-point`, default `gateway`).
    pub capture_point: CapturePoint,
}

/// The per-frame trace: one TSV line per input frame naming its fate and its place in the
/// output it went to.
struct Trace {
    tmp: PathBuf,
    dest: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
}

impl Trace {
    fn create(dest: &Path) -> Result<Trace, OutputError> {
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

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The topology is invalid (exit 1).
    #[error(transparent)]
    Topology(#[from] TopologyError),
    /// No capture could be opened (every one is unreadable or its header is bad; exit 1):
    /// nothing was written. When only some cannot be opened, the others are replayed and the
    /// outcome carries the errors.
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// An output could not be written (exit 1); partial files were removed.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The arguments do not make sense (exit 2).
    #[error("{0}")]
    Usage(String),
    /// A stop was asked (SIGINT: 130, SIGTERM: 143) and every output was removed.
    #[error("stopped by a signal: no output written")]
    Interrupted(u8),
    /// The events file is unreadable or malformed (exit 1).
    #[error("events {0}")]
    Events(#[from] crate::model::scenario::ScenarioError),
}

/// The result of a replay that ran.
#[derive(Debug)]
pub struct ReplayOutcome {
    /// The counters.
    pub stats: Stats,
    /// Per input.
    pub inputs: Vec<InputReport>,
    /// The terminal summary.
    pub summary: String,
    /// The first capture that could not be read to its end (the first of `capture_errors`).
    pub capture_error: Option<CaptureError>,
    /// Every capture that could not be read to its end, in input order: one whose header is
    /// bad (none of its frames read) or one corrupt or cut short midway (the frames before the
    /// fault were replayed and written). The replay went on with the next input each time.
    pub capture_errors: Vec<CaptureError>,
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Times an output capture file was opened (created, or reopened to append when more ENIs
    /// have frames than files may stay open).
    pub output_opens: u64,
}

/// A packed batch of frames.
#[derive(Default)]
struct Batch {
    seq: u64,
    buf: Vec<u8>,
    ranges: Vec<(usize, usize, LinkType)>,
    metas: Vec<(usize, Meta)>,
    verdicts: Vec<Verdict>,
    /// The state shard of each frame's flow ([`crate::pass::shard_of`]), set with the verdicts.
    shards: Vec<u8>,
    /// Frames before this batch's first frame in the replay.
    first_frame: u64,
    /// Each frame's capture time, in seconds.
    times: Vec<i64>,
    /// Capture point `instance`: frames restored to what the Internet sent.
    restored: u64,
    /// Interfaces first seen in this batch, by [`Meta::slot`].
    new_ifaces: Vec<(u32, IfaceDesc)>,
    /// Bytes read (for the progress bar).
    bytes: u64,
    /// With timed events: the tables for this batch (swapped whole between batches).
    dp: Option<Arc<Dataplane>>,
    /// With timed events: the cloud after the events applied at this batch's first frame.
    cloud: Option<Arc<Cloud>>,
    /// Events applied at this batch's first frame: (at, operation, outcome).
    applied: Vec<AppliedEvent>,
}

/// An event as applied: `at` as written, the operation, and its outcome.
type AppliedEvent = (String, String, Result<(), crate::model::ModelError>);

/// Timed events during a replay: the cloud they change and the tables compiled from it.
struct Timeline {
    events: Vec<crate::model::scenario::Event>,
    next: usize,
    cloud: Cloud,
    dp: Arc<Dataplane>,
    hint: Option<Port>,
    point: CapturePoint,
}

impl Timeline {
    /// Whether an event is due for a frame at `ts`.
    fn due(&self, ts: i128) -> bool {
        self.events.get(self.next).is_some_and(|e| e.at_ns <= ts)
    }

    /// Applies every event due at `ts`; rebuilds the tables when one succeeded.
    fn apply(&mut self, ts: i128) -> (Vec<AppliedEvent>, bool) {
        let mut out = Vec::new();
        let mut changed = false;
        while self.due(ts) {
            let e = &self.events[self.next];
            self.next += 1;
            // A failing operation changes nothing (the operations check before they change).
            let r = e.op.apply(&mut self.cloud).map(|_| ());
            changed |= r.is_ok();
            out.push((e.at.clone(), e.op.to_string(), r));
        }
        if changed {
            self.dp = Arc::new(dataplane(&self.cloud, self.hint, self.point));
        }
        (out, changed)
    }
}

impl Batch {
    fn clear(&mut self) {
        self.buf.clear();
        self.ranges.clear();
        self.metas.clear();
        self.verdicts.clear();
        self.shards.clear();
        self.times.clear();
        self.restored = 0;
        self.new_ifaces.clear();
        self.bytes = 0;
        self.dp = None;
        self.cloud = None;
        self.applied.clear();
    }

    /// Stages 1 and 2 of the frame pass on the whole batch (restore, core), then the shard of
    /// each frame's flow.
    fn process(&mut self, dp: &Dataplane) {
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

    fn forward(&mut self, dp: &Dataplane) {
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
struct Feeder {
    /// Per input, in order; `None` for an input that could not be opened.
    readers: Vec<Option<CaptureReader>>,
    current: usize,
    /// Per input, per [`Meta::iface_no`]: the run-wide [`Meta::slot`].
    slots: Vec<Vec<u32>>,
    /// Slots given so far.
    next_slot: u32,
    counts: Vec<u64>,
    /// The inputs whose reading ended on a fault: the frames before it were read, and reading
    /// went on with the next input.
    errors: Vec<(usize, CaptureError)>,
    seq: u64,
    timeline: Option<Timeline>,
    /// A frame read but left for the next batch (an event is due at it): bytes, input, meta.
    carry: Option<(Vec<u8>, usize, Meta)>,
    /// A stop was asked (SIGINT, SIGTERM): reading ended there.
    stopped: bool,
    /// Frames handed out in batches so far.
    frames: u64,
}

impl Feeder {
    /// Fills `b`; returns false when there is nothing more. An input that ends on a fault is
    /// left there (the fault is kept) and reading goes on with the next one.
    fn fill(&mut self, b: &mut Batch) -> bool {
        b.clear();
        b.seq = self.seq;
        self.seq += 1;
        b.first_frame = self.frames;
        if let Some((bytes, input, meta)) = self.carry.take() {
            let ts = self.readers[input].as_ref().map_or(0, |r| r.time_ns(&meta));
            self.begin(b, ts);
            let start = b.buf.len();
            b.buf.extend_from_slice(&bytes);
            b.ranges.push((start, b.buf.len(), meta.link));
            b.metas.push((input, meta));
            b.times.push(seconds(ts));
            b.bytes += bytes.len() as u64 + 16;
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
                    self.counts[self.current] += 1;
                    let ts = r.time_ns(&meta);
                    if let Some(t) = &self.timeline
                        && t.due(ts)
                    {
                        if !b.ranges.is_empty() {
                            // The batch ends here: this frame opens the next one.
                            self.carry = Some((b.buf[start..].to_vec(), self.current, meta));
                            b.buf.truncate(start);
                            break;
                        }
                        self.begin(b, ts);
                    }
                    b.ranges.push((start, b.buf.len(), meta.link));
                    b.times.push(seconds(ts));
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
        if let Some(t) = &self.timeline {
            b.dp.get_or_insert_with(|| t.dp.clone());
        }
        self.frames += b.ranges.len() as u64;
        !b.ranges.is_empty()
    }

    /// Opens a batch whose first frame is at `ts`: applies the events due, and gives the batch
    /// the tables (and, when they changed, the cloud) to use.
    fn begin(&mut self, b: &mut Batch, ts: i128) {
        let Some(t) = &mut self.timeline else {
            return;
        };
        if t.due(ts) {
            let (applied, changed) = t.apply(ts);
            b.applied = applied;
            if changed {
                b.cloud = Some(Arc::new(t.cloud.clone()));
            }
        }
        b.dp = Some(t.dp.clone());
    }
}

/// The writers and counters: the serial end of the pipeline.
struct Sink {
    /// The cloud as it stands (timed events change it).
    cloud: Arc<Cloud>,
    out: PathBuf,
    internet: CaptureWriter,
    enis: output::EniWriters,
    dropped: CaptureWriter,
    /// By [`Meta::slot`].
    ifaces: Vec<IfaceDesc>,
    /// The leader's counters: the timeline and its segments, frames restored. The shards of
    /// the frame pass count the rest and are merged into these at the end.
    stats: Stats,
    frame_no: u64,
    progress: Option<indicatif::ProgressBar>,
    trace: Option<Trace>,
    /// What-if ALG translation is on (frames may grow past the input's snap length).
    translating: bool,
}

/// The frames of a batch that stage 5 (what-if translation) rewrote: (index in the batch,
/// range in `buf`, new original length), in index order.
#[derive(Default)]
struct Rewritten {
    frames: Vec<(u32, usize, usize, u32)>,
    buf: Vec<u8>,
}

impl Rewritten {
    fn clear(&mut self) {
        self.frames.clear();
        self.buf.clear();
    }

    /// Adds the rewritten frames of another worker's shards (the batch's frames in order).
    fn absorb(&mut self, other: &Rewritten) {
        let base = self.buf.len();
        self.buf.extend_from_slice(&other.buf);
        self.frames.extend(
            other
                .frames
                .iter()
                .map(|&(i, s, e, l)| (i, s + base, e + base, l)),
        );
        self.frames.sort_unstable_by_key(|f| f.0);
    }
}

/// Nanoseconds of capture time as whole seconds.
fn seconds(ns: i128) -> i64 {
    (ns.div_euclid(1_000_000_000)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Stages 3 to 6 of the frame pass for the frames of `b` whose shard `pass` holds; the frames
/// the translation rewrote go to `rw`.
fn pass_batch(pass: &mut FramePass, b: &Batch, rw: &mut Rewritten, scratch: &mut Vec<u8>) {
    if let Some(c) = &b.cloud {
        pass.follow(c);
    }
    for (i, &(s, e, link)) in b.ranges.iter().enumerate() {
        let shard = usize::from(b.shards[i]);
        if !pass.owns(shard) {
            continue;
        }
        let mut v = b.verdicts[i];
        let no = b.first_frame + i as u64 + 1;
        if pass.frame(shard, no, b.times[i], &mut v, &b.buf[s..e], link, scratch) {
            let grown = scratch.len() as i64 - (e - s) as i64;
            let orig = (i64::from(b.metas[i].1.orig_len) + grown)
                .clamp(scratch.len() as i64, i64::from(u32::MAX)) as u32;
            let start = rw.buf.len();
            rw.buf.extend_from_slice(scratch);
            rw.frames.push((i as u32, start, rw.buf.len(), orig));
        }
    }
}

impl Sink {
    /// The serial end of the pipeline for one batch: events and interfaces first seen, then
    /// each frame written to its egress (the rewritten bytes when stage 5 rewrote it).
    fn take(&mut self, b: &Batch, rw: &Rewritten) -> Result<(), OutputError> {
        if let Some(c) = &b.cloud {
            self.cloud = c.clone();
            self.enis.resize(self.cloud.enis.len());
            self.stats.follow(&self.cloud);
        }
        self.stats.restored += b.restored;
        if !b.applied.is_empty() {
            self.stats
                .record_events(self.frame_no + 1, b.applied.clone());
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
            debug_assert_eq!(*slot as usize, self.ifaces.len(), "slots come in order");
            self.ifaces.push(d);
        }
        let mut rewritten = rw.frames.iter().peekable();
        for (i, &(s, e, _)) in b.ranges.iter().enumerate() {
            let (input, meta) = &b.metas[i];
            let v = &b.verdicts[i];
            self.frame_no += 1;
            self.stats.count_segment(v);
            let mut data = &b.buf[s..e];
            let mut translated_meta = *meta;
            let meta = &mut translated_meta;
            if let Some(&(_, rs, re, orig)) = rewritten.next_if(|r| r.0 as usize == i) {
                data = &rw.buf[rs..re];
                meta.orig_len = orig;
            }
            let desc = &self.ifaces[meta.slot as usize];
            let out_frame = match v.outcome {
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
                    self.dropped.write(meta, desc, data, Some(r.as_str()))?;
                    self.dropped.frames
                }
            };
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
        if let Some(p) = &self.progress {
            p.inc(b.bytes);
        }
        Ok(())
    }

    fn abandon(self) {
        if let Some(t) = self.trace {
            drop(t.w);
            let _ = std::fs::remove_file(&t.tmp);
        }
        self.internet.abandon();
        self.dropped.abandon();
        self.enis.abandon();
    }
}

pub(crate) use crate::pass::inspect_alg;

/// The frames' ingress for `--ingress`: `internet`, an ENI id of `cloud`, or none (decided per
/// frame).
pub(crate) fn ingress_hint(
    cloud: &Cloud,
    ingress: &Option<String>,
) -> Result<Option<Port>, ReplayError> {
    let Some(ing) = ingress else {
        return Ok(None);
    };
    if ing == "internet" {
        return Ok(Some(Port::Internet));
    }
    let i = cloud.eni_index(ing).ok_or_else(|| {
        ReplayError::Usage(format!(
            "--ingress {ing:?}: neither `internet` nor an ENI id of the topology"
        ))
    })?;
    Ok(Some(Port::Eni(i as u32)))
}

/// The core's tables for `cloud`, with the ingress fixed when `hint` says so and the capture
/// point set.
pub(crate) fn dataplane(cloud: &Cloud, hint: Option<Port>, point: CapturePoint) -> Dataplane {
    let mut dp = Dataplane::new(cloud);
    if let Some(h) = hint {
        dp.set_ingress(IngressHint::Fixed(h));
    }
    dp.set_capture_point(point);
    dp
}

/// The bundled demo: `pcaps/demo-topology.toml` and `pcaps/demo.pcap`, found from the current
/// directory or, failing that, from the source tree eipsim was built from.
pub fn demo_paths() -> (PathBuf, PathBuf) {
    let local = Path::new("pcaps");
    let dir = if local.join("demo.pcap").exists() {
        local.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pcaps")
    };
    (dir.join("demo-topology.toml"), dir.join("demo.pcap"))
}

/// The snap length of an output whose frames a what-if translation may lengthen: 0 (no limit in
/// pcapng) stays, anything else becomes at least 262144 (libpcap's largest).
fn grown_snaplen(snaplen: u32) -> u32 {
    if snaplen == 0 {
        0
    } else {
        snaplen.max(262_144)
    }
}

fn out_format(readers: &[Option<CaptureReader>]) -> OutFormat {
    let mut first = None;
    for r in readers.iter().flatten() {
        match (r.pcap_header(), first) {
            (None, _) => return OutFormat::PcapNg,
            (Some(h), None) => first = Some(h),
            (Some(h), Some(f)) => {
                if h.datalink != f.datalink || h.ts_resolution != f.ts_resolution {
                    return OutFormat::PcapNg;
                }
                if h.snaplen > f.snaplen {
                    first = Some(pcap_file::pcap::PcapHeader {
                        snaplen: h.snaplen,
                        ..f
                    });
                }
            }
        }
    }
    match first {
        Some(h) => OutFormat::Pcap(h),
        None => OutFormat::PcapNg,
    }
}

/// Runs a replay. A capture corrupt midway is not an `Err`: the frames before it are replayed
/// and written, and the outcome carries the error (the CLI then exits 1).
pub fn run(opts: &ReplayOptions) -> Result<ReplayOutcome, ReplayError> {
    let cloud = Cloud::load(&opts.topology)?;
    let mut policy = cloud.alg;
    if let Some(spec) = &opts.alg_spec {
        policy
            .apply_spec(spec)
            .map_err(|m| ReplayError::Usage(format!("--alg: {m}")))?;
        if !opts.alg && policy.any() {
            return Err(ReplayError::Usage(
                "--alg asks for translation, --no-alg turns ALG handling off: choose one".into(),
            ));
        }
    }
    let hint = ingress_hint(&cloud, &opts.ingress)?;
    let point = opts.capture_point;
    let dp = dataplane(&cloud, hint, point);
    if opts.inputs.is_empty() {
        return Err(ReplayError::Usage("no capture to replay".into()));
    }
    let timeline = match &opts.events {
        Some(path) => {
            let events = crate::model::scenario::load_events(path)?;
            Some(Timeline {
                events,
                next: 0,
                cloud: cloud.clone(),
                dp: Arc::new(dataplane(&cloud, hint, point)),
                hint,
                point,
            })
        }
        None => None,
    };
    // An input that cannot be opened is reported and skipped, unless none can be.
    let mut readers = Vec::new();
    let mut open_errors = Vec::new();
    let mut total_bytes = 0;
    for (i, p) in opts.inputs.iter().enumerate() {
        match CaptureReader::open(p) {
            Ok(mut r) => {
                r.keep_unsupported_links();
                readers.push(Some(r));
                total_bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            }
            Err(e) => {
                readers.push(None);
                open_errors.push((i, e));
            }
        }
    }
    if readers.iter().all(Option::is_none)
        && let Some((_, e)) = open_errors.first()
    {
        return Err(e.clone().into());
    }
    let mut format = out_format(&readers);
    if opts.alg
        && policy.any()
        && let OutFormat::Pcap(h) = &mut format
    {
        h.snaplen = grown_snaplen(h.snaplen);
    }
    // The output directory: one replay at a time, no output over an input, debris of killed
    // runs removed. Held until the outputs are in place.
    let mut protected: Vec<&Path> = opts.inputs.iter().map(PathBuf::as_path).collect();
    protected.push(&opts.topology);
    if let Some(e) = &opts.events {
        protected.push(e);
    }
    if let Some(t) = &opts.trace {
        guard::refuse_overwrite(t, &protected)?;
        protected.push(t);
    }
    let mut outputs: Vec<PathBuf> = ["internet.pcap", "dropped.pcapng", "report.json"]
        .iter()
        .map(|n| opts.out.join(n))
        .collect();
    outputs.extend(
        cloud
            .enis
            .iter()
            .map(|e| opts.out.join(format!("{}.pcap", e.id))),
    );
    let _claim = guard::claim(&opts.out, &outputs, &protected)?;
    let inputs_meta: Vec<(String, Option<Format>)> = readers
        .iter()
        .zip(&opts.inputs)
        .map(|(r, p)| {
            (
                p.display().to_string(),
                r.as_ref().map(CaptureReader::format),
            )
        })
        .collect();
    let internet = CaptureWriter::create(opts.out.join("internet.pcap"), format)?;
    let dropped = match CaptureWriter::create(opts.out.join("dropped.pcapng"), OutFormat::PcapNg) {
        Ok(d) => d,
        Err(e) => {
            internet.abandon();
            return Err(e.into());
        }
    };
    let progress = (opts.progress && std::io::stderr().is_terminal() && total_bytes > 8 << 20)
        .then(|| {
            let p = indicatif::ProgressBar::new(total_bytes);
            p.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} replay [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            p
        });
    let trace = match opts.trace.as_deref().map(Trace::create).transpose() {
        Ok(t) => t,
        Err(e) => {
            internet.abandon();
            dropped.abandon();
            return Err(e.into());
        }
    };
    let mut sink = Sink {
        cloud: Arc::new(cloud.clone()),
        out: opts.out.clone(),
        internet,
        enis: output::EniWriters::new(
            cloud.enis.len(),
            format,
            opts.max_open_files.unwrap_or_else(open_file_budget),
        ),
        dropped,
        ifaces: Vec::new(),
        stats: Stats::for_cloud(&cloud),
        frame_no: 0,
        progress,
        trace,
        translating: opts.alg && policy.any(),
    };
    if sink.translating {
        sink.stats.translation = crate::alg::translate::Translator::new(policy).policy();
    }
    sink.stats.capture_point = point;
    if timeline.is_some() {
        sink.stats.start_timeline();
    }
    let mut feeder = Feeder {
        counts: vec![0; readers.len()],
        readers,
        current: 0,
        slots: vec![Vec::new(); opts.inputs.len()],
        next_slot: 0,
        errors: open_errors,
        seq: 0,
        timeline,
        carry: None,
        stopped: false,
        frames: 0,
    };
    // Per-flow state in SHARDS fixed shards; worker w holds the shards s with s % N == w.
    let workers = opts.workers.max(1);
    let passes: Vec<FramePass> = (0..workers)
        .map(|w| {
            FramePass::new(
                &cloud,
                crate::pass::SHARDS,
                |s| s % workers == w,
                opts.alg,
                Some(policy),
            )
        })
        .collect();
    let (res, passes) = if workers == 1 {
        let mut pass = passes.into_iter().next().expect("one pass");
        let mut b = Batch::default();
        let mut rw = Rewritten::default();
        let mut scratch = Vec::new();
        let mut res = Ok(());
        while feeder.fill(&mut b) {
            b.process(&dp);
            rw.clear();
            pass_batch(&mut pass, &b, &mut rw, &mut scratch);
            if let Err(e) = sink.take(&b, &rw) {
                res = Err(e);
                break;
            }
        }
        (res, vec![pass])
    } else {
        pipeline(&mut feeder, &dp, &mut sink, passes)
    };
    FramePass::merge_into(
        &mut sink.stats,
        passes.into_iter().flat_map(FramePass::into_shards),
    );
    if let Some(p) = &sink.progress {
        p.finish_and_clear();
    }
    if let Err(e) = res {
        sink.abandon();
        return Err(e.into());
    }
    if feeder.stopped {
        // Stopped by a signal: nothing half-written stays.
        sink.abandon();
        return Err(ReplayError::Interrupted(
            guard::stop_requested().unwrap_or(130),
        ));
    }
    let mut errors = std::mem::take(&mut feeder.errors);
    errors.sort_by_key(|(i, _)| *i);
    let inputs: Vec<InputReport> = inputs_meta
        .into_iter()
        .zip(feeder.counts.iter())
        .enumerate()
        .map(|(k, ((file, fmt), n))| InputReport {
            file,
            format: fmt.map_or("unknown", Format::as_str).into(),
            frames: *n,
            error: errors
                .iter()
                .find(|(i, _)| *i == k)
                .map(|(_, e)| e.to_string()),
        })
        .collect();
    let capture_errors: Vec<CaptureError> = errors.into_iter().map(|(_, e)| e).collect();
    // Events after the last frame: no frame reached them.
    if let Some(t) = &feeder.timeline {
        for e in &t.events[t.next..] {
            sink.stats.record_unreached(e.at.clone(), e.op.to_string());
        }
    }
    finish(sink, opts, inputs, capture_errors)
}

fn finish(
    sink: Sink,
    opts: &ReplayOptions,
    inputs: Vec<InputReport>,
    capture_errors: Vec<CaptureError>,
) -> Result<ReplayOutcome, ReplayError> {
    let Sink {
        internet,
        dropped,
        enis,
        stats,
        trace,
        cloud,
        ..
    } = sink;
    let cloud = cloud.as_ref();
    // All or nothing: every output is completed under its temporary name, then all are renamed.
    let mut set = output::OutputSet::default();
    let mut enis = enis;
    let mut failed: Option<OutputError> = enis.flush().err();
    let output_opens = internet.opens + dropped.opens + enis.opens();
    let mut enis = enis.into_writers();
    for w in [internet, dropped]
        .into_iter()
        .chain(enis.iter_mut().filter_map(Option::take))
    {
        if failed.is_some() {
            w.abandon();
            continue;
        }
        match w.close() {
            Ok((tmp, dest)) => set.add(tmp, dest),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(Trace { tmp, dest, w }) = trace {
        match w.into_inner() {
            Ok(f) => {
                drop(f);
                set.add(tmp, dest);
            }
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                failed.get_or_insert(OutputError {
                    file: dest,
                    message: e.error().to_string(),
                });
            }
        }
    }
    let report_path = opts.out.join("report.json");
    if failed.is_none() {
        let tmp = output::temp_name(&report_path);
        let written_json = std::fs::File::create(&tmp).and_then(|f| {
            report::write_json(
                std::io::BufWriter::new(f),
                &stats,
                cloud,
                &opts.topology.display().to_string(),
                &inputs,
            )
        });
        match written_json {
            Ok(()) => set.add(tmp, report_path),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                failed = Some(OutputError {
                    file: report_path,
                    message: e.to_string(),
                });
            }
        }
    }
    if let Some(e) = failed {
        set.abandon();
        return Err(e.into());
    }
    let written = set.commit()?;
    // An ENI that received no frame gets no file (a stale one from an earlier run into the same
    // directory would claim otherwise: it goes).
    // (Every writer was taken above: `written` tells which ENIs have a file, looked up in a
    // set so that tens of thousands of ENIs are not compared pairwise.)
    let done: std::collections::HashSet<&PathBuf> = written.iter().collect();
    for (i, w) in enis.iter().enumerate() {
        if w.is_none() {
            let path = opts.out.join(format!("{}.pcap", cloud.enis[i].id));
            if !done.contains(&path) && path.is_file() {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let summary = report::summary(&stats, cloud, &inputs, &opts.out.display().to_string());
    Ok(ReplayOutcome {
        stats,
        inputs,
        summary,
        capture_error: capture_errors.first().cloned(),
        capture_errors,
        written,
        output_opens,
    })
}

/// The multi-threaded pipeline, in input order:
/// reader -> N core workers (stages 1-2, any batch) -> N shard owners (stages 3-6, every batch,
/// the frames of their shards, in order) -> writer (this thread). Returns the owners' passes.
fn pipeline(
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
                            pass_batch(&mut pass, &b, &mut rw, &mut scratch);
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

/// The addresses of a tuple as text, for messages.
pub fn tuple_text(t: &Tuple) -> String {
    format!(
        "{}:{} -> {}:{}",
        std::net::Ipv4Addr::from(t.src),
        t.sport,
        std::net::Ipv4Addr::from(t.dst),
        t.dport
    )
}
