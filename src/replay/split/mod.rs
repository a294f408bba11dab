//! `eipsim split`: one streaming pass that writes each frame of the inputs, unchanged, into the
//! capture of its machine shard, for replays on several machines (`replay --shard K/N --split
//! DIR`, then `eipsim merge`).
//!
//! A frame's machine shard is the one `replay --shard K/N` gives it ([`super::shard`]): the
//! state shard of its flow's inside endpoint ([`crate::pass::shard_of`] of
//! [`crate::dataplane::Dataplane::owner`]) modulo `N`. To know a frame's inside endpoint the
//! split runs the first two stages of the frame pass (the capture-point restoration and the
//! core) on a copy of it, with the timed events applied as a replay applies them (an event can
//! move an EIP, and so the owner of its frames). The frames are written as read: each record
//! (pcap) or block (pcapng) is copied byte for byte into one shard's file, and what the file
//! needs around its frames (the pcap file header; pcapng section, interface, statistics and
//! other blocks that hold no frame) into every shard's file, so that interface ids, time
//! stamps and options stay those of the input.
//!
//! The output directory holds `split.json` ([`SplitManifest`]) and, per shard `K`, a directory
//! `shard-K` with one capture per input (`I-NAME`, `I` the input's number from 0, `NAME` its
//! file name) and `positions.bin`: per frame of the shard, in order, its 1-based position in
//! the whole input (u64), its input's number (u32) and its interface slot (u32), 16 bytes
//! little-endian. A replay of shard `K` reads those and numbers its frames, applies the events
//! and reports the inputs as the replay of the whole input does.

use std::io::Write as _;
use std::path::{Path, PathBuf};

mod manifest;
mod part;

pub use manifest::{SplitFault, SplitInput, SplitManifest, SplitRun, read_manifest};
pub(crate) use manifest::{fnv64_hex, split_run};
pub(crate) use part::Part;
pub use part::run_split_shard;

use super::feed::{Batch, Feeder};
use super::output::{self, OutputError, OutputSet};
use super::{CaptureError, CapturePoint, CaptureReader, Cloud, ReplayError};

/// `split.json`'s `format` value.
pub const SPLIT_FORMAT: &str = "eipsim-split-1";
/// The manifest of a split's output directory.
pub const SPLIT_MANIFEST: &str = "split.json";
/// A shard's positions file, in its directory.
pub const PART_POSITIONS: &str = "positions.bin";
/// Bytes per frame in a shard's `positions.bin`.
pub const PART_RECORD: usize = 16;

/// The directory of shard `k` in a split's output directory.
pub fn shard_dir(out: &Path, k: u32) -> PathBuf {
    out.join(format!("shard-{k}"))
}

/// What to split and where.
#[derive(Clone, Debug)]
pub struct SplitOptions {
    /// Topology file.
    pub topology: PathBuf,
    /// Output directory.
    pub out: PathBuf,
    /// Machine shards, at least 1.
    pub shards: u32,
    /// Captures, in order (one stream).
    pub inputs: Vec<PathBuf>,
    /// Timed events (they move inside endpoints: the split applies them as the replay will).
    pub events: Option<PathBuf>,
    /// `--ingress`.
    pub ingress: Option<String>,
    /// `--capture-point`.
    pub capture_point: CapturePoint,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// What a split did.
#[derive(Debug)]
pub struct SplitOutcome {
    /// The manifest written.
    pub manifest: SplitManifest,
    /// Inputs that could not be read to their end (the frames before each fault were split).
    pub capture_errors: Vec<CaptureError>,
    /// Files written.
    pub written: Vec<PathBuf>,
}

/// A file being written under its temporary name.
struct PartFile {
    dest: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
}

impl PartFile {
    fn create(dest: PathBuf) -> Result<PartFile, OutputError> {
        let f = std::fs::File::create(output::temp_name(&dest)).map_err(|e| OutputError {
            file: dest.clone(),
            message: e.to_string(),
        })?;
        Ok(PartFile {
            dest,
            w: std::io::BufWriter::with_capacity(1 << 16, f),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.w.write_all(bytes).map_err(|e| OutputError {
            file: self.dest.clone(),
            message: e.to_string(),
        })
    }

    fn finish(self, set: &mut OutputSet) -> Result<(), OutputError> {
        let tmp = output::temp_name(&self.dest);
        let res = self
            .w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_data());
        set.add(tmp, self.dest.clone());
        res.map_err(|e| OutputError {
            file: self.dest,
            message: e.to_string(),
        })
    }

    fn abandon(self) {
        drop(self.w);
        let _ = std::fs::remove_file(output::temp_name(&self.dest));
    }
}

/// The split's files: each shard's `positions.bin`, and the shards' copies of one input at a
/// time (the inputs are read in order), so that 2 N files are open whatever the inputs.
struct Writers {
    /// Per shard, its directory.
    dirs: Vec<PathBuf>,
    /// Per input, its copies' file name (`None`: it could not be opened).
    names: Vec<Option<String>>,
    /// The input whose copies are open, and those copies, by shard.
    current: Option<(usize, Vec<PartFile>)>,
    /// The inputs before this one have been reached.
    next: usize,
    positions: Vec<PartFile>,
    frames: Vec<u64>,
    /// The complete files.
    set: OutputSet,
}

impl Writers {
    fn new(dirs: Vec<PathBuf>, names: Vec<Option<String>>) -> Result<Writers, OutputError> {
        let mut w = Writers {
            frames: vec![0; dirs.len()],
            positions: Vec::with_capacity(dirs.len()),
            dirs,
            names,
            current: None,
            next: 0,
            set: OutputSet::default(),
        };
        for k in 0..w.dirs.len() {
            match PartFile::create(w.dirs[k].join(PART_POSITIONS)) {
                Ok(f) => w.positions.push(f),
                Err(e) => {
                    w.abandon();
                    return Err(e);
                }
            }
        }
        Ok(w)
    }

    /// Completes the open copies: what their input holds after its last frame (or, without
    /// frames, at all) goes to every shard's copy.
    fn close_current(&mut self, readers: &mut [Option<CaptureReader>]) -> Result<(), OutputError> {
        let Some((i, files)) = self.current.take() else {
            return Ok(());
        };
        let mut tail = Vec::new();
        if let Some(r) = &mut readers[i] {
            r.take_shared(&mut tail);
        }
        let mut failed = None;
        for mut f in files {
            let r = if tail.is_empty() {
                Ok(())
            } else {
                f.write(&tail)
            };
            match r.and_then(|()| f.finish(&mut self.set)) {
                Ok(()) => {}
                Err(e) => {
                    failed.get_or_insert(e);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Makes input `i` the one whose copies are open (the inputs before it complete).
    fn reach(
        &mut self,
        i: usize,
        readers: &mut [Option<CaptureReader>],
    ) -> Result<(), OutputError> {
        while self.next <= i {
            self.close_current(readers)?;
            let k = self.next;
            self.next += 1;
            if let Some(name) = &self.names[k] {
                let mut files = Vec::with_capacity(self.dirs.len());
                for d in &self.dirs {
                    match PartFile::create(d.join(name)) {
                        Ok(f) => files.push(f),
                        Err(e) => {
                            self.current = Some((k, files));
                            return Err(e);
                        }
                    }
                }
                self.current = Some((k, files));
            }
        }
        Ok(())
    }

    /// Every input's copies and every `positions.bin` complete.
    fn finish(&mut self, readers: &mut [Option<CaptureReader>]) -> Result<(), OutputError> {
        if !self.names.is_empty() {
            self.reach(self.names.len() - 1, readers)?;
        }
        self.close_current(readers)?;
        let mut failed = None;
        for f in std::mem::take(&mut self.positions) {
            if let Err(e) = f.finish(&mut self.set) {
                failed.get_or_insert(e);
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Removes every file written (a failed or stopped split).
    fn abandon(self) {
        if let Some((_, files)) = self.current {
            files.into_iter().for_each(PartFile::abandon);
        }
        self.positions.into_iter().for_each(PartFile::abandon);
        self.set.abandon();
    }
}

/// Splits the inputs of `opts` into `opts.shards` shards (see the module's documentation).
pub fn split(opts: &SplitOptions) -> Result<SplitOutcome, ReplayError> {
    if opts.shards == 0 {
        return Err(ReplayError::Usage("--shards must be at least 1".into()));
    }
    if opts.inputs.is_empty() {
        return Err(ReplayError::Usage("no capture to split".into()));
    }
    let cloud = Cloud::load(&opts.topology)?;
    let hint = super::ingress_hint(&cloud, &opts.ingress)?;
    let point = opts.capture_point;
    let dp = super::dataplane(&cloud, hint, point);
    let timeline = super::timeline(opts.events.as_deref(), &cloud, hint, point)?;
    let events = timeline.as_ref().map_or(0, |t| t.events.len());
    let mut readers = Vec::new();
    let mut open_errors = Vec::new();
    let mut total_bytes = 0;
    for (i, p) in opts.inputs.iter().enumerate() {
        match CaptureReader::open(p) {
            Ok(mut r) => {
                r.keep_unsupported_links();
                r.keep_raw();
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
    let part_names: Vec<Option<String>> = readers
        .iter()
        .zip(&opts.inputs)
        .enumerate()
        .map(|(i, (r, p))| {
            r.as_ref().map(|_| {
                let name = p.file_name().map_or_else(
                    || "capture".to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                format!("{i}-{name}")
            })
        })
        .collect();
    // Claim the directory and every shard's: one run at a time, no output over an input.
    let mut protected: Vec<&Path> = opts.inputs.iter().map(PathBuf::as_path).collect();
    protected.push(&opts.topology);
    if let Some(e) = &opts.events {
        protected.push(e);
    }
    let mut claims = vec![super::guard::claim(
        &opts.out,
        &[opts.out.join(SPLIT_MANIFEST)],
        &protected,
    )?];
    for k in 0..opts.shards {
        let dir = shard_dir(&opts.out, k);
        let mut outs: Vec<PathBuf> = part_names.iter().flatten().map(|n| dir.join(n)).collect();
        outs.push(dir.join(PART_POSITIONS));
        claims.push(super::guard::claim(&dir, &outs, &protected)?);
    }
    let dirs = (0..opts.shards).map(|k| shard_dir(&opts.out, k)).collect();
    let mut w = Writers::new(dirs, part_names.clone())?;
    let progress = (opts.progress
        && std::io::IsTerminal::is_terminal(&std::io::stderr())
        && total_bytes > 8 << 20)
        .then(|| {
            let p = indicatif::ProgressBar::new(total_bytes);
            p.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} split [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            p
        });
    let mut feeder = Feeder {
        keep_before: false,
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
        keep_raw: true,
        carry_raw: Default::default(),
        carry_pos: 0,
        part: None,
    };
    let mut applied_at: Vec<Option<u64>> = Vec::with_capacity(events);
    let mut restored = 0;
    let mut b = Batch::default();
    let mut res: Result<(), OutputError> = Ok(());
    while res.is_ok() && feeder.fill(&mut b) {
        b.process(&dp);
        restored += b.restored;
        applied_at.extend(b.applied.iter().map(|_| Some(b.first_frame + 1)));
        res = write_batch(&b, &mut w, &mut feeder.readers);
        if let Some(p) = &progress {
            p.inc(b.bytes);
        }
    }
    if let Some(p) = &progress {
        p.finish_and_clear();
    }
    if feeder.stopped {
        w.abandon();
        return Err(ReplayError::Interrupted(
            super::guard::stop_requested().unwrap_or(130),
        ));
    }
    if let Err(e) = res.and_then(|()| w.finish(&mut feeder.readers)) {
        w.abandon();
        return Err(e.into());
    }
    applied_at.resize(events, None);
    let mut errors = std::mem::take(&mut feeder.errors);
    errors.sort_by_key(|(i, _)| *i);
    let inputs: Vec<SplitInput> = opts
        .inputs
        .iter()
        .enumerate()
        .map(|(i, p)| SplitInput {
            file: p.display().to_string(),
            bytes: std::fs::metadata(p).map(|m| m.len()).ok(),
            format: feeder.readers[i]
                .as_ref()
                .map(|r| r.format().as_str().to_string()),
            frames: feeder.counts[i],
            error: errors
                .iter()
                .find(|(k, _)| *k == i)
                .map(|(_, e)| SplitFault {
                    record: e.record,
                    message: e.message.clone(),
                }),
            part: part_names[i].clone(),
        })
        .collect();
    let manifest = SplitManifest {
        format: SPLIT_FORMAT.into(),
        shards: opts.shards,
        state_shards: crate::pass::SHARDS,
        run: split_run(&opts.topology, opts.events.as_deref(), &opts.ingress, point),
        inputs,
        frames: feeder.frames,
        slots: feeder.next_slot,
        restored,
        events: applied_at,
        shard_frames: w.frames.clone(),
    };
    let mut set = w.set;
    let dest = opts.out.join(SPLIT_MANIFEST);
    let tmp = output::temp_name(&dest);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
    set.add(tmp.clone(), dest.clone());
    if let Err(e) = std::fs::write(&tmp, text) {
        set.abandon();
        return Err(OutputError {
            file: dest,
            message: e.to_string(),
        }
        .into());
    }
    let written = set.commit()?;
    drop(claims);
    Ok(SplitOutcome {
        manifest,
        capture_errors: errors.into_iter().map(|(_, e)| e).collect(),
        written,
    })
}

/// Writes each frame of `b` to its shard's copy of its input, and what the file needs before
/// it to every shard's copy.
fn write_batch(
    b: &Batch,
    w: &mut Writers,
    readers: &mut [Option<CaptureReader>],
) -> Result<(), OutputError> {
    let n = w.dirs.len() as u32;
    for i in 0..b.ranges.len() {
        let (input, meta) = &b.metas[i];
        w.reach(*input, readers)?;
        let Some((_, files)) = &mut w.current else {
            unreachable!("a frame's input opened")
        };
        let (shared, record) = b.raw(i);
        if !shared.is_empty() {
            for f in files.iter_mut() {
                f.write(shared)?;
            }
        }
        let k = (u32::from(b.shards[i]) % n) as usize;
        files[k].write(record)?;
        let mut e = [0u8; PART_RECORD];
        e[..8].copy_from_slice(&b.position(i).to_le_bytes());
        e[8..12].copy_from_slice(&(*input as u32).to_le_bytes());
        e[12..].copy_from_slice(&meta.slot.to_le_bytes());
        w.positions[k].write(&e)?;
        w.frames[k] += 1;
    }
    Ok(())
}
