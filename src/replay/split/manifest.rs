//! `split.json`: what a split read and the run its shards must be replayed with.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::super::{CaptureError, CapturePoint};
use super::{SPLIT_FORMAT, SPLIT_MANIFEST};

/// The most interface slots a split names (a capture with more interfaces is a damaged one).
const MAX_SLOTS: u64 = 1 << 20;

/// `split.json`: the run the shards belong to, the inputs as read, where each event applied.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitManifest {
    /// [`SPLIT_FORMAT`].
    pub format: String,
    /// Machine shards.
    pub shards: u32,
    /// State shards of this eipsim ([`crate::pass::SHARDS`]): a replay with another count
    /// would place frames elsewhere.
    pub state_shards: usize,
    /// What decides each frame's shard: the replay of a shard must be given the same.
    pub run: SplitRun,
    /// The inputs, in order.
    pub inputs: Vec<SplitInput>,
    /// Frames read from every input.
    pub frames: u64,
    /// Interface slots given (the run-wide interfaces the frames came from): every slot in a
    /// shard's `positions.bin` is below it.
    pub slots: u32,
    /// Frames the capture point `instance` restored, over every input.
    pub restored: u64,
    /// Per timed event, in the events file's order: the 1-based position of the first frame
    /// it applied to, or `null` when no frame came at or after its time.
    pub events: Vec<Option<u64>>,
    /// Frames per shard.
    pub shard_frames: Vec<u64>,
}

/// The part of a split that the replay of a shard must match.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitRun {
    /// eipsim's version.
    pub eipsim: String,
    /// The topology file as given.
    pub topology: String,
    /// FNV-1a (64 bits) of its bytes.
    pub topology_fnv64: Option<String>,
    /// The events file as given.
    pub events: Option<String>,
    /// FNV-1a (64 bits) of its bytes.
    pub events_fnv64: Option<String>,
    /// `--ingress`.
    pub ingress: Option<String>,
    /// `--capture-point`.
    pub capture_point: String,
}

/// One input of a split.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitInput {
    /// The file as given.
    pub file: String,
    /// Its size.
    pub bytes: Option<u64>,
    /// `pcap` or `pcapng`; `null` when it could not be opened.
    pub format: Option<String>,
    /// Frames read from it.
    pub frames: u64,
    /// Why reading it stopped before its end, if it did.
    pub error: Option<SplitFault>,
    /// Its file's name in every shard directory; `null` when it could not be opened.
    pub part: Option<String>,
}

/// A capture fault as the split met it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitFault {
    /// The 1-based record, when the fault is in one.
    pub record: Option<u64>,
    /// What is wrong.
    pub message: String,
}

impl SplitInput {
    /// The fault as the replay reports it (naming the input, not the shard's copy).
    pub fn capture_error(&self) -> Option<CaptureError> {
        self.error.as_ref().map(|e| CaptureError {
            file: PathBuf::from(&self.file),
            record: e.record,
            message: e.message.clone(),
        })
    }
}

/// FNV-1a (64 bits) of a file's bytes as 16 hex digits; `None` when unreadable.
pub(crate) fn fnv64_hex(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Some(format!("{h:016x}"))
}

/// The run fields of a split or of a shard's replay with these options.
pub(crate) fn split_run(
    topology: &Path,
    events: Option<&Path>,
    ingress: &Option<String>,
    point: CapturePoint,
) -> SplitRun {
    SplitRun {
        eipsim: env!("CARGO_PKG_VERSION").into(),
        topology: topology.display().to_string(),
        topology_fnv64: fnv64_hex(topology),
        events: events.map(|p| p.display().to_string()),
        events_fnv64: events.and_then(fnv64_hex),
        ingress: ingress.clone(),
        capture_point: point.as_str().into(),
    }
}

/// Reads `split.json` of a split's output directory, naming the file in every error.
pub fn read_manifest(dir: &Path) -> Result<SplitManifest, String> {
    let p = dir.join(SPLIT_MANIFEST);
    let text = std::fs::read_to_string(&p).map_err(|e| {
        format!(
            "{}: cannot read ({e}): not the output directory of `eipsim split`",
            p.display()
        )
    })?;
    let m: SplitManifest =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
    if m.format != SPLIT_FORMAT {
        return Err(format!(
            "{}: format {:?}, expected {SPLIT_FORMAT:?}",
            p.display(),
            m.format
        ));
    }
    if u64::from(m.slots) > m.frames.min(MAX_SLOTS) {
        return Err(format!(
            "{}: {} interface slots for {} frames: damaged",
            p.display(),
            m.slots,
            m.frames
        ));
    }
    if m.state_shards != crate::pass::SHARDS {
        return Err(format!(
            "{}: made with {} state shards, this eipsim has {}: split again with this eipsim",
            p.display(),
            m.state_shards,
            crate::pass::SHARDS
        ));
    }
    Ok(m)
}
