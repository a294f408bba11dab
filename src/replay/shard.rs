//! `replay --shard K/N`: one machine's part of a replay split by inside endpoint.
//!
//! Every frame has exactly one machine shard: the frame pass already keeps per-flow state in
//! [`crate::pass::SHARDS`] fixed state shards, chosen by the inside endpoint of the frame's flow
//! ([`crate::pass::shard_of`] of [`crate::dataplane::Dataplane::owner`]); machine shard `K` of
//! `N` holds the state shards `s` with `s % N == K`. A frame with no inside endpoint (malformed,
//! not IPv4, Internet to Internet) has the owner the frame pass gives it, and so a state shard,
//! as in any replay. A machine shard is thus exactly what worker `K` of `--workers N` holds:
//! every state shard lives whole on one machine, with the same flows, table limits and session
//! capacities as on one machine.
//!
//! The shard reads every input (the frames are numbered by their place in the whole input, and
//! timed events apply at the same frames), keeps its frames, and writes the usual outputs plus
//! two files for `eipsim merge` ([`crate::shard`]): `positions.bin` and `shard.json`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use super::output::{self, OutputError, OutputSet};
use super::{ReplayError, ReplayOptions};
use crate::model::Cloud;

/// The positions sidecar of a shard's output directory.
pub const POSITIONS: &str = "positions.bin";
/// The manifest of a shard's output directory.
pub const MANIFEST: &str = "shard.json";
/// The manifest's `format` value.
pub const MANIFEST_FORMAT: &str = "eipsim-shard-1";

/// Machine shard `k` of `n` (`replay --shard K/N`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShardSpec {
    /// This shard, `0..n`.
    pub k: u32,
    /// Shards in all, at least 1.
    pub n: u32,
}

impl std::str::FromStr for ShardSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<ShardSpec, String> {
        let bad = || format!("--shard {s:?}: expected K/N with N >= 1 and 0 <= K < N (e.g. 0/4)");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: u32 = k.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if n == 0 || k >= n {
            return Err(bad());
        }
        Ok(ShardSpec { k, n })
    }
}

impl ShardSpec {
    /// Whether this machine shard holds state shard `s`.
    #[inline]
    pub fn holds(&self, s: usize) -> bool {
        s as u64 % u64::from(self.n) == u64::from(self.k)
    }
}

/// The options `--shard` cannot take: a usage error naming them.
pub(crate) fn refuse(opts: &ReplayOptions, fixes: bool) -> Result<(), ReplayError> {
    let bad = if fixes {
        Some("--fixes (each fix is verified by a replay of every frame)")
    } else if opts.respond {
        Some("--respond (a guest's answers join the frames of every endpoint of its instance)")
    } else if opts.trace.is_some() {
        Some("--trace (its out_frame numbers are those of one machine)")
    } else {
        None
    };
    match bad {
        Some(b) => Err(ReplayError::Usage(format!(
            "--shard cannot be used with {b}"
        ))),
        None => Ok(()),
    }
}

/// The sink's side of a shard: the positions of the frames it keeps, in input order.
pub(crate) struct ShardSink {
    /// Which shard.
    pub(crate) spec: ShardSpec,
    dest: PathBuf,
    w: std::io::BufWriter<std::fs::File>,
    /// The run's inputs as `shard.json` names them: (file, size).
    inputs: Vec<(String, Option<u64>)>,
    /// Replaying a split's shard: the frames the split read from every input (the replay
    /// itself reads only its shard's).
    pub(crate) split_frames: Option<u64>,
}

/// The output index of a frame's fate in `positions.bin` and `shard.json`'s `outputs`.
pub(crate) fn output_index(outcome: crate::dataplane::Outcome) -> u32 {
    use crate::dataplane::{Outcome, Port};
    match outcome {
        Outcome::Forward(Port::Internet, _) => 0,
        Outcome::Drop(_) => 1,
        Outcome::Forward(Port::Eni(x), _) => 2 + x,
    }
}

impl ShardSink {
    /// Creates `positions.bin` in `out` (under its temporary name).
    pub(crate) fn create(
        out: &Path,
        spec: ShardSpec,
        inputs: Vec<(String, Option<u64>)>,
        split_frames: Option<u64>,
    ) -> Result<ShardSink, OutputError> {
        let dest = out.join(POSITIONS);
        let f = std::fs::File::create(output::temp_name(&dest)).map_err(|e| OutputError {
            file: dest.clone(),
            message: e.to_string(),
        })?;
        Ok(ShardSink {
            spec,
            dest,
            w: std::io::BufWriter::with_capacity(1 << 16, f),
            inputs,
            split_frames,
        })
    }

    /// Whether the shard keeps a frame of state shard `s`.
    #[inline]
    pub(crate) fn keeps(&self, s: u8) -> bool {
        self.spec.holds(usize::from(s))
    }

    /// One kept frame: its 1-based place in the whole input, the output it went to and its
    /// interface slot.
    pub(crate) fn record(
        &mut self,
        position: u64,
        output: u32,
        slot: u32,
    ) -> Result<(), OutputError> {
        let mut e = [0u8; 16];
        e[..8].copy_from_slice(&position.to_le_bytes());
        e[8..12].copy_from_slice(&output.to_le_bytes());
        e[12..].copy_from_slice(&slot.to_le_bytes());
        self.w.write_all(&e).map_err(|e| OutputError {
            file: self.dest.clone(),
            message: e.to_string(),
        })
    }

    /// Completes `positions.bin` and writes `shard.json`, both added to `set`.
    pub(crate) fn finish(
        self,
        set: &mut OutputSet,
        opts: &ReplayOptions,
        cloud: &Cloud,
        frames: u64,
    ) -> Result<(), OutputError> {
        let ShardSink {
            spec,
            dest,
            w,
            inputs,
            split_frames,
        } = self;
        let frames = split_frames.unwrap_or(frames);
        let fail = |file: &Path, e: &dyn std::fmt::Display| OutputError {
            file: file.to_path_buf(),
            message: e.to_string(),
        };
        let tmp = output::temp_name(&dest);
        if let Err(e) = w
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_data())
        {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(&dest, &e));
        }
        set.add(tmp, dest);
        let manifest = manifest(spec, opts, cloud, &inputs, frames);
        let path = opts.out.join(MANIFEST);
        let tmp = output::temp_name(&path);
        let text = serde_json::to_string_pretty(&manifest).unwrap_or_default() + "\n";
        if let Err(e) = std::fs::write(&tmp, text) {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(&path, &e));
        }
        set.add(tmp, path);
        Ok(())
    }

    /// Removes the temporary `positions.bin` (a failed run).
    pub(crate) fn abandon(self) {
        drop(self.w);
        let _ = std::fs::remove_file(output::temp_name(&self.dest));
    }
}

/// `shard.json`: which shard, what run (every field of `run` is the same in every shard of one
/// replay), frames read and the output files by index.
fn manifest(
    spec: ShardSpec,
    opts: &ReplayOptions,
    cloud: &Cloud,
    inputs: &[(String, Option<u64>)],
    frames: u64,
) -> serde_json::Value {
    let inputs: Vec<serde_json::Value> = inputs
        .iter()
        .map(|(file, bytes)| serde_json::json!({ "file": file, "bytes": bytes }))
        .collect();
    let mut outputs = vec!["internet.pcap".to_string(), "dropped.pcapng".to_string()];
    outputs.extend(cloud.enis.iter().map(|e| format!("{}.pcap", e.id)));
    serde_json::json!({
        "format": MANIFEST_FORMAT,
        "shard": spec.k,
        "shards": spec.n,
        "run": {
            "eipsim": env!("CARGO_PKG_VERSION"),
            "topology": opts.topology.display().to_string(),
            "topology_fnv64": super::split::fnv64_hex(&opts.topology),
            "inputs": inputs,
            "events": opts.events.as_ref().map(|p| p.display().to_string()),
            "events_fnv64": opts.events.as_deref().map(super::split::fnv64_hex),
            "ingress": opts.ingress,
            "capture_point": opts.capture_point.as_str(),
            "alg": opts.alg,
            "alg_spec": opts.alg_spec,
            "state_shards": crate::pass::SHARDS,
            "frames": frames,
            "outputs": outputs,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::ShardSpec;

    #[test]
    fn shard_specs_parse_or_say_why() {
        assert_eq!("2/7".parse::<ShardSpec>(), Ok(ShardSpec { k: 2, n: 7 }));
        assert_eq!("0/1".parse::<ShardSpec>(), Ok(ShardSpec { k: 0, n: 1 }));
        for bad in ["7/7", "0/0", "1", "-1/2", "a/b", "1/2/3", ""] {
            let e = bad.parse::<ShardSpec>().unwrap_err();
            assert!(e.contains("K/N"), "{bad}: {e}");
        }
    }

    #[test]
    fn every_state_shard_has_one_machine_shard() {
        for n in 1..=20u32 {
            for s in 0..crate::pass::SHARDS {
                let holders = (0..n).filter(|&k| ShardSpec { k, n }.holds(s)).count();
                assert_eq!(holders, 1, "state shard {s} of {n}");
            }
        }
    }
}
