//! Adapters at the edge: replay captures through the core and write each frame to its egress.
//!
//! Frames are read in packed batches (one buffer, a range per frame) so that memory stays flat
//! whatever the capture size and nothing is allocated per frame once the buffers are warm. With
//! `--workers N` (N > 1) a reader thread, N core workers and the writer (this thread) form a
//! pipeline over crossbeam channels; batches are put back in input order before writing.

pub(crate) mod feed;
pub mod guard;
pub mod input;

mod finish;
pub mod output;
pub(crate) mod pipeline;
mod respond;
mod setup;
pub mod shard;
pub(crate) mod sink;
pub mod split;

pub use split::run_split_shard;

use setup::out_format;
pub use setup::{MAX_OPEN, open_file_budget};

use feed::{Batch, Feeder, Timeline};
pub(crate) use finish::finish;
use pipeline::pipeline;
use sink::{Rewritten, Sink, Trace, grown_snaplen};

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::dataplane::{CapturePoint, Dataplane, IngressHint, Outcome, Port, Tuple, Verdict};
use crate::model::{Cloud, TopologyError};
use crate::pass::{FrameIn, FramePass};
use crate::report::{self, InputReport, Stats};
use crate::wire::LinkType;

use input::{CaptureError, CaptureReader, Format, IfaceDesc, Meta};
use output::{CaptureWriter, OutFormat, OutputError};

/// Frames per batch handed to the core. With several workers each batch crosses four threads;
/// 1,024 frames a batch keeps those hand-offs rare (256 made `--workers 2` about 10% slower,
/// measured on tmpfs) while a batch's frames stay in the caches.
pub const BATCH: usize = 1024;

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
    /// The guests answer (`--respond`): frames delivered to an ENI go to its instance's
    /// guest stack, and what the guests send is replayed too ([`crate::guest`]).
    pub respond: bool,
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
    /// A split's shard does not match the replay asked of it, or its files disagree (exit 1;
    /// the message names the file and what is wrong).
    #[error("{0}")]
    Split(String),
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

/// The timed events of `events` (none without a file) over `cloud`, applied by time.
pub(crate) fn timeline(
    events: Option<&Path>,
    cloud: &Cloud,
    hint: Option<Port>,
    point: CapturePoint,
) -> Result<Option<Timeline>, ReplayError> {
    let Some(path) = events else {
        return Ok(None);
    };
    Ok(Some(Timeline {
        events: crate::model::scenario::load_events(path)?,
        next: 0,
        cloud: Cloud::clone(cloud),
        dp: Arc::new(dataplane(cloud, hint, point)),
        hint,
        point,
        at_frames: None,
    }))
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

/// Runs a replay. A capture corrupt midway is not an `Err`: the frames before it are replayed
/// and written, and the outcome carries the error (the CLI then exits 1).
pub fn run(opts: &ReplayOptions) -> Result<ReplayOutcome, ReplayError> {
    run_spilling(opts, report::SPILL_BUFFER)
}

/// [`run`], with `buffer` ended flows per shard kept in memory before they go to the shard's
/// spill file (tests: the report must not depend on it).
#[doc(hidden)]
pub fn run_spilling(opts: &ReplayOptions, buffer: usize) -> Result<ReplayOutcome, ReplayError> {
    run_inner(opts, buffer, false)
}

/// [`run_spilling`], with `fixes`: `replay --fixes` ([`crate::advisor::fixes::replay`]).
pub(crate) fn run_inner(
    opts: &ReplayOptions,
    buffer: usize,
    fixes: bool,
) -> Result<ReplayOutcome, ReplayError> {
    run_with(opts, buffer, fixes, None, None)
}

/// `replay --shard K/N` ([`shard`]): the frames of machine shard `spec` only, with the files
/// `eipsim merge` needs.
pub fn run_shard(
    opts: &ReplayOptions,
    spec: shard::ShardSpec,
) -> Result<ReplayOutcome, ReplayError> {
    run_with(opts, report::SPILL_BUFFER, false, Some(spec), None)
}

fn run_with(
    opts: &ReplayOptions,
    buffer: usize,
    fixes: bool,
    spec: Option<shard::ShardSpec>,
    part: Option<&split::Part>,
) -> Result<ReplayOutcome, ReplayError> {
    if spec.is_some() {
        shard::refuse(opts, fixes)?;
    }
    let cloud = Arc::new(Cloud::load(&opts.topology)?);
    let policy = cloud
        .alg
        .for_run(opts.alg, opts.alg_spec.as_deref())
        .map_err(ReplayError::Usage)?;
    let hint = ingress_hint(&cloud, &opts.ingress)?;
    let point = opts.capture_point;
    let dp = dataplane(&cloud, hint, point);
    if opts.inputs.is_empty() && part.is_none() {
        return Err(ReplayError::Usage("no capture to replay".into()));
    }
    let mut timeline = timeline(opts.events.as_deref(), &cloud, hint, point)?;
    // A split's shard: its captures stand for the inputs (one per input that opened).
    let sources: Vec<Option<PathBuf>> = match part {
        Some(p) => {
            if let Some(t) = &mut timeline {
                if t.events.len() != p.manifest.events.len() {
                    return Err(ReplayError::Split(format!(
                        "{}: {} events, the events file has {}",
                        p.split_file().display(),
                        p.manifest.events.len(),
                        t.events.len()
                    )));
                }
                t.at_frames = Some(p.manifest.events.clone());
            }
            p.captures()
        }
        None => opts.inputs.iter().cloned().map(Some).collect(),
    };
    // An input that cannot be opened is reported and skipped, unless none can be.
    let mut readers = Vec::new();
    let mut open_errors = Vec::new();
    let mut total_bytes = 0;
    for (i, p) in sources.iter().enumerate() {
        let Some(p) = p else {
            // Not opened by the split: the manifest has its error.
            readers.push(None);
            continue;
        };
        match CaptureReader::open(p) {
            Ok(mut r) => {
                r.keep_unsupported_links();
                readers.push(Some(r));
                total_bytes += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            }
            Err(e) if part.is_some() => return Err(e.into()),
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
    let mut protected: Vec<&Path> = sources.iter().flatten().map(PathBuf::as_path).collect();
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
    if fixes {
        outputs.push(opts.out.join("fixes.toml"));
    }
    if spec.is_some() {
        outputs.extend([shard::POSITIONS, shard::MANIFEST].map(|n| opts.out.join(n)));
    }
    outputs.extend(
        cloud
            .enis
            .iter()
            .map(|e| opts.out.join(format!("{}.pcap", e.id))),
    );
    let _claim = guard::claim(&opts.out, &outputs, &protected)?;
    let inputs_meta: Vec<(String, Option<Format>)> = match part {
        Some(p) => p.inputs_meta(),
        None => readers
            .iter()
            .zip(&opts.inputs)
            .map(|(r, p)| {
                (
                    p.display().to_string(),
                    r.as_ref().map(CaptureReader::format),
                )
            })
            .collect(),
    };
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
    // `--shard` refuses `--trace`: at most one of them has a file to remove.
    let run_inputs = match part {
        Some(p) => p.run_inputs(),
        None => opts
            .inputs
            .iter()
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::metadata(p).map(|m| m.len()).ok(),
                )
            })
            .collect(),
    };
    let part_feed = match part.map(split::Part::feed).transpose() {
        Ok(f) => f,
        Err(e) => {
            internet.abandon();
            dropped.abandon();
            return Err(e);
        }
    };
    let split_frames = part.map(|p| p.manifest.frames);
    let shard_sink =
        match spec.map(|k| shard::ShardSink::create(&opts.out, k, run_inputs, split_frames)) {
            Some(Err(e)) => {
                internet.abandon();
                dropped.abandon();
                return Err(e.into());
            }
            p => p.transpose().ok().flatten(),
        };
    let mut sink = Sink {
        cloud: cloud.clone(),
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
        shard: shard_sink,
    };
    if sink.translating {
        sink.stats.translation = crate::alg::translate::Translator::new(policy).policy();
    }
    sink.stats.capture_point = point;
    if timeline.is_some() {
        sink.stats.start_timeline();
    }
    // The security-group stage writes refused frames as they arrived: batches keep a copy.
    let filtered = |e: &crate::model::Eni| !e.deleted && !e.security_groups.is_empty();
    let keep_before = timeline.is_some() || cloud.enis.iter().any(filtered);
    let mut feeder = Feeder {
        keep_before,
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
        keep_raw: false,
        carry_raw: Default::default(),
        carry_pos: 0,
        part: part_feed,
    };
    // Per-flow state in SHARDS fixed shards; worker w holds the shards s with s % N == w.
    // With the guests answering, one thread sees every frame in input order.
    let workers = if opts.respond { 1 } else { opts.workers.max(1) };
    let passes: Vec<FramePass> = (0..workers)
        .map(|w| {
            let mut p = FramePass::new(
                &cloud,
                crate::pass::SHARDS,
                |s| s % workers == w && spec.is_none_or(|k| k.holds(s)),
                opts.alg,
                Some(policy),
            );
            // Ended flows: a spill file per shard, under a temporary name (removed however
            // the run ends; a killed run's is removed by the next claim).
            let spill = |s: usize| output::temp_name(&opts.out.join(format!("flows-{s}.spill")));
            p.spill_to(spill, buffer);
            p
        })
        .collect();
    let (res, passes) = if workers == 1 {
        let responder = opts.respond.then(|| respond::Responder::new(cloud.clone()));
        let pass = passes.into_iter().next().expect("one pass");
        respond::serial(&mut feeder, &dp, &mut sink, pass, responder)
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
    let mut counts = std::mem::take(&mut feeder.counts);
    if let Some(p) = part {
        // The shard's captures must read to their end, in step with positions.bin.
        let fault = feeder.part.as_mut().and_then(|f| f.fault.take());
        if let Some(m) = fault {
            sink.abandon();
            return Err(ReplayError::Split(m));
        }
        if let Some((_, e)) = errors.into_iter().next() {
            sink.abandon();
            return Err(e.into());
        }
        // The report shows the inputs as the split read them.
        errors = p.capture_errors();
        counts = p.manifest.inputs.iter().map(|i| i.frames).collect();
        sink.stats.restored = p.manifest.restored;
    }
    let inputs: Vec<InputReport> = inputs_meta
        .into_iter()
        .zip(counts.iter())
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
    finish(sink, opts, inputs, capture_errors, fixes)
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
