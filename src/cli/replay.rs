//! `replay` and `modes`: captures replayed through a topology into an output directory.

use std::path::PathBuf;

use eipsim::advisor::modes::{self, ModesOptions};
use eipsim::replay::{self, ReplayOptions};

use super::args::{ModesArgs, ReplayArgs, RunArgs};
use super::{CliError, emit};

/// The topology and captures of `replay` or `modes`: both given, or neither (the bundled demo).
fn topology_and_inputs(cmd: &str, run: &RunArgs) -> Result<(PathBuf, Vec<PathBuf>), CliError> {
    match (&run.topology, run.inputs.is_empty()) {
        (None, true) => {
            let (t, c) = replay::demo_paths();
            Ok((t, vec![c]))
        }
        (Some(t), false) => Ok((t.clone(), run.inputs.clone())),
        (None, false) => Err(CliError::Usage(format!(
            "{cmd} needs --topology FILE with captures"
        ))),
        (Some(_), true) => Err(CliError::Usage(format!(
            "{cmd} needs at least one capture after --topology"
        ))),
    }
}

/// `eipsim replay`: the summary on stdout; exit 1 when a capture could not be read to its end.
pub(super) fn replay(a: ReplayArgs) -> Result<(), CliError> {
    let (topology, inputs) = match (&a.split, &a.run.topology) {
        // A split's shard: the split names the captures.
        (Some(_), Some(t)) if a.run.inputs.is_empty() => (t.clone(), Vec::new()),
        (Some(_), Some(_)) => {
            return Err(CliError::Usage(
                "--split DIR replays the captures the split wrote: give no capture".into(),
            ));
        }
        (Some(_), None) => {
            return Err(CliError::Usage(
                "--split DIR needs --topology FILE (the one the split was made with)".into(),
            ));
        }
        (None, _) => topology_and_inputs("replay", &a.run)?,
    };
    let opts = ReplayOptions {
        topology,
        out: a.run.out,
        ingress: a.run.ingress,
        workers: usize::from(a.workers),
        inputs,
        progress: !a.no_progress,
        trace: a.trace,
        max_open_files: None,
        alg: !a.alg.no_alg,
        alg_spec: a.alg.alg,
        events: a.events,
        capture_point: a.run.capture_point,
        respond: a.respond,
    };
    super::stop_on_signals();
    let o = if let Some(spec) = a.shard {
        if a.fixes {
            return Err(CliError::Usage(
                "--shard cannot be used with --fixes (each fix is verified by a replay of every frame)".into(),
            ));
        }
        match &a.split {
            Some(dir) => replay::run_split_shard(&opts, spec, dir)?,
            None => replay::run_shard(&opts, spec)?,
        }
    } else if a.fixes {
        eipsim::advisor::fixes::replay(&opts)?
    } else {
        replay::run(&opts)?
    };
    super::summary_and_status(&o)
}

/// `eipsim modes`: the matrix on stdout (and `modes.json` in the output directory).
pub(super) fn modes(a: ModesArgs) -> Result<(), CliError> {
    let (topology, inputs) = topology_and_inputs("modes", &a.run)?;
    let opts = ModesOptions {
        topology,
        inputs,
        out: a.run.out,
        ingress: a.run.ingress,
        capture_point: a.run.capture_point,
    };
    let o = modes::run(&opts)?;
    emit(&o.text)
}
