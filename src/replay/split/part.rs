//! A split's shard replayed (`replay --shard K/N --split DIR`): the checks against the split,
//! and what the replay takes from it instead of from the inputs.

use std::path::{Path, PathBuf};

use super as split;
use super::super::{ReplayError, ReplayOptions, ReplayOutcome, report, run_with, shard};
use super::super::{feed::PartFeed, input::Format};
use super::{CaptureError, PART_POSITIONS, SPLIT_MANIFEST, SplitManifest};

/// `replay --shard K/N --split DIR`: shard `K` of the split in `DIR` ([`split`]), whose
/// captures hold only that shard's frames; the outputs are those of `replay --shard K/N` over
/// the inputs the split read (`opts.inputs` must be empty: the split names them).
pub fn run_split_shard(
    opts: &ReplayOptions,
    spec: shard::ShardSpec,
    dir: &Path,
) -> Result<ReplayOutcome, ReplayError> {
    if !opts.inputs.is_empty() {
        return Err(ReplayError::Usage(
            "--split DIR replays the captures the split wrote: give no capture".into(),
        ));
    }
    let manifest = split::read_manifest(dir).map_err(ReplayError::Split)?;
    let file = dir.join(split::SPLIT_MANIFEST);
    if manifest.shards != spec.n {
        return Err(ReplayError::Usage(format!(
            "--shard {}/{}: {} splits into {} shards",
            spec.k,
            spec.n,
            file.display(),
            manifest.shards
        )));
    }
    let run = split::split_run(
        &opts.topology,
        opts.events.as_deref(),
        &opts.ingress,
        opts.capture_point,
    );
    let m = &manifest.run;
    let differs = [
        (
            "topology (its bytes)",
            m.topology_fnv64 != run.topology_fnv64,
        ),
        ("events (its bytes)", m.events_fnv64 != run.events_fnv64),
        ("--ingress", m.ingress != run.ingress),
        ("--capture-point", m.capture_point != run.capture_point),
        ("eipsim version", m.eipsim != run.eipsim),
    ];
    if let Some((what, _)) = differs.iter().find(|(_, d)| *d) {
        return Err(ReplayError::Split(format!(
            "{}: split with another {what} than this replay's (split: topology {}, events {}, ingress {}, capture point {}, eipsim {}): give the same, or split again",
            file.display(),
            m.topology,
            m.events.as_deref().unwrap_or("none"),
            m.ingress.as_deref().unwrap_or("by frame"),
            m.capture_point,
            m.eipsim
        )));
    }
    let part = split::Part {
        dir: split::shard_dir(dir, spec.k),
        manifest,
    };
    run_with(opts, report::SPILL_BUFFER, false, Some(spec), Some(&part))
}

/// A split's shard, as its replay reads it.
pub(crate) struct Part {
    /// The shard's directory (`shard-K`).
    pub(crate) dir: PathBuf,
    /// The split's manifest.
    pub(crate) manifest: SplitManifest,
}

impl Part {
    /// `split.json`, for messages.
    pub(crate) fn split_file(&self) -> PathBuf {
        self.dir
            .parent()
            .map_or_else(|| PathBuf::from(SPLIT_MANIFEST), |d| d.join(SPLIT_MANIFEST))
    }

    /// Per input, the shard's copy of it (`None`: the split could not open it).
    pub(crate) fn captures(&self) -> Vec<Option<PathBuf>> {
        self.manifest
            .inputs
            .iter()
            .map(|i| i.part.as_ref().map(|n| self.dir.join(n)))
            .collect()
    }

    /// Per input, its name and format as the report gives them.
    pub(crate) fn inputs_meta(&self) -> Vec<(String, Option<Format>)> {
        self.manifest
            .inputs
            .iter()
            .map(|i| {
                let f = match i.format.as_deref() {
                    Some("pcap") => Some(Format::Pcap),
                    Some("pcapng") => Some(Format::PcapNg),
                    _ => None,
                };
                (i.file.clone(), f)
            })
            .collect()
    }

    /// Per input, its name and size as `shard.json` gives them.
    pub(crate) fn run_inputs(&self) -> Vec<(String, Option<u64>)> {
        self.manifest
            .inputs
            .iter()
            .map(|i| (i.file.clone(), i.bytes))
            .collect()
    }

    /// The faults the split met, by input.
    pub(crate) fn capture_errors(&self) -> Vec<(usize, CaptureError)> {
        self.manifest
            .inputs
            .iter()
            .enumerate()
            .filter_map(|(k, i)| i.capture_error().map(|e| (k, e)))
            .collect()
    }

    /// The reading side of the shard: its `positions.bin`.
    pub(crate) fn feed(&self) -> Result<PartFeed, ReplayError> {
        let path = self.dir.join(PART_POSITIONS);
        let f = std::fs::File::open(&path)
            .map_err(|e| ReplayError::Split(format!("{}: cannot open: {e}", path.display())))?;
        Ok(PartFeed {
            positions: std::io::BufReader::with_capacity(1 << 16, f),
            path,
            seen: Vec::new(),
            fault: None,
            read: 0,
            ended: false,
            last: 0,
            frames: self.manifest.frames,
            slots: self.manifest.slots,
        })
    }
}
