//! `live`: the gateway between real interfaces until `--duration` or a signal.

use eipsim::replay::guard;
use eipsim::replay::live::{self, LiveOptions};

use super::args::LiveArgs;
use super::{CliError, emit};

/// `eipsim live`: the summary on stdout once the run ends; exit 1 when an interface could not
/// be read to the end.
pub(super) fn live(a: LiveArgs) -> Result<(), CliError> {
    let opts = LiveOptions {
        topology: a.topology,
        out: a.out,
        internet: a.internet,
        enis: a.eni,
        duration: a.duration,
        events: a.events,
    };
    // SIGINT and SIGTERM end the run: the outputs are written and the exit status is 0.
    let stop = guard::stop_flag();
    for (sig, code) in [
        (signal_hook::consts::SIGINT, 130),
        (signal_hook::consts::SIGTERM, 143),
    ] {
        if let Err(e) = signal_hook::flag::register_usize(sig, stop.clone(), code) {
            eprintln!("eipsim: cannot handle signal {sig}: {e}");
        }
    }
    let o = live::run(&opts)?;
    emit(&o.summary)?;
    if o.capture_errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Inputs(
            o.capture_errors.iter().map(ToString::to_string).collect(),
        ))
    }
}
