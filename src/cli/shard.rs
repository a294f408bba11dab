//! `merge`: the shards of a replay made one ([`eipsim::shard`]).

use super::args::MergeArgs;
use super::{CliError, emit};

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
