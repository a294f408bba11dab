//! `live`: the gateway between real interfaces until `--duration` or a signal.

use eipsim::live::{self, LiveOptions};

use super::CliError;
use super::args::LiveArgs;

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
        alg: !a.alg.no_alg,
        alg_spec: a.alg.alg,
    };
    super::stop_on_signals();
    let o = live::run(&opts)?;
    super::summary_and_status(&o)
}
