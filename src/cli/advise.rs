//! `trace`, `diff` and `suggest`: questions answered without writing capture files.

use eipsim::advisor::{self, AdvisorError, diff, suggest, trace};

use super::args::{DiffArgs, SuggestArgs, TraceArgs};
use super::{CliError, emit, print_json};

/// The outcome of `trace` or `diff`: as JSON or text.
fn advised<T: serde::Serialize>(
    r: Result<T, AdvisorError>,
    json: bool,
    text: fn(&T) -> String,
) -> Result<(), CliError> {
    let v = r?;
    if json {
        print_json(&v)
    } else {
        emit(&text(&v))
    }
}

/// `eipsim trace`: one synthetic packet and its reply, hop by hop.
pub(super) fn trace(a: TraceArgs) -> Result<(), CliError> {
    let opts = trace::TraceOptions {
        topology: a.topology,
        from: a.from,
        to: a.to,
        proto: a.proto,
        sport: a.sport,
        ttl: a.ttl,
    };
    advised(trace::run(&opts), a.json, trace::text)
}

/// `eipsim diff`: the flows whose fate differs between topology A and topology B.
pub(super) fn diff(a: DiffArgs) -> Result<(), CliError> {
    let mut t = a.topologies.into_iter();
    let (Some(topology_a), topology_b, None) = (t.next(), t.next(), t.next()) else {
        return Err(CliError::Usage(
            "diff takes --topology at most twice (A and B)".into(),
        ));
    };
    let opts = diff::DiffOptions {
        topology_a,
        topology_b,
        apply: a.apply,
        inputs: a.inputs,
        ingress: a.ingress,
        capture_point: a.capture_point,
    };
    advised(diff::run(&opts), a.json, advisor::diff::text)
}

/// `eipsim suggest`: the topology on stdout, the one-line note on stderr.
pub(super) fn suggest(a: SuggestArgs) -> Result<(), CliError> {
    let t = suggest::suggest(&a.inputs).map_err(|e| CliError::Input(e.to_string()))?;
    emit(&t.text)?;
    eprintln!("{}", t.note);
    Ok(())
}
