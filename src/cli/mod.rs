//! The subcommands of the `eipsim` command line, one small function each, and the one error
//! type they return: [`CliError`] says what to print on stderr and which exit code to give.

mod advise;
mod args;
mod live;
mod replay;
mod shard;
mod topology;

pub(crate) use args::{Cli, Cmd};

use eipsim::advisor::AdvisorError;
use eipsim::replay::ReplayError;

/// Why a subcommand failed, and so the process's exit code.
#[derive(Debug)]
pub(crate) enum CliError {
    /// The arguments do not make sense (exit 2).
    Usage(String),
    /// An input is bad, or the output cannot be written (exit 1).
    Input(String),
    /// Several inputs are bad, one message each, after the work that could be done (exit 1).
    Inputs(Vec<String>),
    /// Stopped by a signal, with the code to exit with (130 for SIGINT, 143 for SIGTERM).
    Interrupted(u8, String),
    /// The command ran and printed why it fails (a scenario step that differs): exit 1 and
    /// nothing more to say.
    Reported,
}

impl CliError {
    /// The process exit code: 2 for usage, 1 for bad input, 130/143 when interrupted.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::Input(_) | CliError::Inputs(_) | CliError::Reported => 1,
            CliError::Interrupted(code, _) => *code,
        }
    }

    /// Prints the error on stderr, one `eipsim: ` line per message.
    pub(crate) fn report(&self) {
        let messages = match self {
            CliError::Usage(m) | CliError::Input(m) | CliError::Interrupted(_, m) => {
                std::slice::from_ref(m)
            }
            CliError::Inputs(ms) => ms.as_slice(),
            CliError::Reported => &[],
        };
        for m in messages {
            eprintln!("eipsim: {m}");
        }
    }
}

impl From<ReplayError> for CliError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Usage(_) => CliError::Usage(e.to_string()),
            ReplayError::Interrupted(code) => CliError::Interrupted(code, e.to_string()),
            _ => CliError::Input(e.to_string()),
        }
    }
}

impl From<AdvisorError> for CliError {
    fn from(e: AdvisorError) -> Self {
        match e {
            AdvisorError::Usage(_) => CliError::Usage(e.to_string()),
            _ => CliError::Input(e.to_string()),
        }
    }
}

/// Runs one subcommand.
pub(crate) fn dispatch(cmd: Cmd) -> Result<(), CliError> {
    match cmd {
        Cmd::Replay(a) => replay::replay(a),
        Cmd::Modes(a) => replay::modes(a),
        Cmd::Scenario(a) => topology::scenario(a),
        Cmd::Check(a) => topology::check(a),
        Cmd::Import(a) => topology::import(a),
        Cmd::Trace(a) => advise::trace(a),
        Cmd::Diff(a) => advise::diff(a),
        Cmd::Suggest(a) => advise::suggest(a),
        Cmd::Live(a) => live::live(a),
        Cmd::Split(a) => shard::split(a),
        Cmd::Merge(a) => shard::merge(a),
    }
}

/// Writes to stdout; a reader that went away (`eipsim ... | head`) is not an error worth a
/// panic: the rest of the output is simply not wanted.
fn emit(text: &str) -> Result<(), CliError> {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        // `> /dev/full`: the output is lost; say so and fail (the work itself is done).
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::Input(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// SIGINT and SIGTERM set the replay's stop flag (130 and 143): a replay stops between
/// batches and removes what it started writing; a live run ends and writes its outputs.
fn stop_on_signals() {
    let stop = eipsim::replay::guard::stop_flag();
    for (sig, code) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        if let Err(e) = signal_hook::flag::register_usize(sig, stop.clone(), code) {
            eprintln!("eipsim: cannot handle signal {sig}: {e}");
        }
    }
}

/// The summary of a run on stdout; exit 1 when an input (a capture, an interface) could not be
/// read to its end.
fn summary_and_status(o: &eipsim::replay::ReplayOutcome) -> Result<(), CliError> {
    emit(&o.summary)?;
    if o.capture_errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Inputs(
            o.capture_errors.iter().map(ToString::to_string).collect(),
        ))
    }
}

/// Prints a value as one JSON object.
fn print_json<T: serde::Serialize>(v: &T) -> Result<(), CliError> {
    let s = serde_json::to_string_pretty(v).map_err(|e| CliError::Input(e.to_string()))?;
    emit(&format!("{s}\n"))
}
