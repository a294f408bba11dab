//! `split` and `merge`: a replay over several machines ([`eipsim::replay::split`],
//! [`eipsim::shard`]).

use eipsim::replay::split::{self, SplitOptions};

use super::args::{MergeArgs, SplitArgs};
use super::{CliError, emit};

/// `eipsim split`: one line per shard on stdout; exit 1 when a capture could not be read to
/// its end (the frames before the fault are split) or an output cannot be written.
pub(super) fn split(a: SplitArgs) -> Result<(), CliError> {
    let opts = SplitOptions {
        topology: a.topology,
        out: a.out,
        shards: a.shards,
        inputs: a.inputs,
        events: a.events,
        ingress: a.ingress,
        capture_point: a.capture_point,
        progress: !a.no_progress,
    };
    super::stop_on_signals();
    let o = split::split(&opts)?;
    let m = &o.manifest;
    let mut text = format!(
        "split {} frames of {} input(s) into {} shard(s) in {}\n",
        m.frames,
        m.inputs.len(),
        m.shards,
        opts.out.display()
    );
    // The options a shard's replay must repeat.
    let mut same = String::new();
    if let Some(e) = &opts.events {
        same += &format!(" --events {}", e.display());
    }
    if let Some(i) = &opts.ingress {
        same += &format!(" --ingress {i}");
    }
    if opts.capture_point != eipsim::dataplane::CapturePoint::Gateway {
        same += &format!(" --capture-point {}", opts.capture_point.as_str());
    }
    for (k, n) in m.shard_frames.iter().enumerate() {
        text += &format!(
            "  shard {k}: {n} frames: eipsim replay --topology {} --shard {k}/{} --split {}{same} --out OUT-{k}\n",
            opts.topology.display(),
            m.shards,
            opts.out.display(),
        );
    }
    if m.shards as usize > m.state_shards {
        text += &format!(
            "  (shards {} and up hold no frames: a machine shard is a union of the {} state shards)\n",
            m.state_shards, m.state_shards
        );
    }
    emit(&text)?;
    if o.capture_errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Inputs(
            o.capture_errors.iter().map(ToString::to_string).collect(),
        ))
    }
}

/// `eipsim merge --out DIR SHARD_OUT...`: one line on stdout; exit 1 when the shards do not
/// belong together or an output cannot be written.
pub(super) fn merge(a: MergeArgs) -> Result<(), CliError> {
    let o = eipsim::shard::merge(&a.out, &a.dirs).map_err(|e| CliError::Input(e.to_string()))?;
    emit(&format!(
        "merged {} shard(s): {} frames, {} files in {}\n",
        o.shards,
        o.frames,
        o.written.len(),
        a.out.display()
    ))
}
