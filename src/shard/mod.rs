//! `eipsim merge`: the outputs of the shards of a replay (`replay --shard K/N`,
//! [`crate::replay::shard`]) made the outputs one machine writes, byte for byte.
//!
//! Every shard directory holds a replay's outputs plus `shard.json` (which shard of how many,
//! and the run: topology, inputs, options, frames read, output files by index) and
//! `positions.bin` (per frame kept, in input order: its 1-based position in the whole input,
//! the output it went to and its interface slot, 16 bytes little-endian). The merge checks the
//! shards belong together, merges every capture by position ([`captures`]) and combines the
//! reports ([`json`]).

pub mod captures;
pub mod json;

use std::path::{Path, PathBuf};

use crate::replay::output::{OutputSet, temp_name};
use crate::replay::shard::{MANIFEST, MANIFEST_FORMAT};

/// Why a merge failed (every one exits 1; nothing is left in the output directory).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A shard directory is missing, incomplete, or does not belong with the others.
    #[error("{0}")]
    Input(String),
    /// An output could not be written.
    #[error("cannot write {0}")]
    Output(String),
}

/// What a merge did.
#[derive(Debug)]
pub struct MergeOutcome {
    /// Shards merged.
    pub shards: u32,
    /// Frames placed (the frames of every shard).
    pub frames: u64,
    /// Files written.
    pub written: Vec<PathBuf>,
}

/// A shard directory's `shard.json`: (shard, shards, run).
fn manifest(dir: &Path) -> Result<(u32, u32, serde_json::Value), MergeError> {
    let p = dir.join(MANIFEST);
    let bad = |what: &str| MergeError::Input(format!("{}: {what}", dir.display()));
    let text = std::fs::read_to_string(&p).map_err(|e| {
        bad(&format!(
            "no readable {MANIFEST} ({e}): not the output of `replay --shard`"
        ))
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(&format!("{MANIFEST}: {e}")))?;
    if v["format"] != MANIFEST_FORMAT {
        return Err(bad(&format!("{MANIFEST}: not of format {MANIFEST_FORMAT}")));
    }
    let num = |k: &str| {
        v[k].as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(&format!("{MANIFEST}: no `{k}`")))
    };
    let (k, n) = (num("shard")?, num("shards")?);
    if n == 0 || k >= n {
        return Err(bad(&format!("{MANIFEST}: shard {k} of {n}")));
    }
    Ok((k, n, v["run"].clone()))
}

/// Merges the shard directories `dirs` (any order: each names its shard) into `out`.
pub fn merge(out: &Path, dirs: &[PathBuf]) -> Result<MergeOutcome, MergeError> {
    merge_with_budget(out, dirs, crate::replay::open_file_budget())
}

/// [`merge`] holding at most about `budget` files open at once (the shards' `positions.bin`,
/// then half the rest for shard captures read and half for merged captures written: the
/// least recently used are closed and reopened where they were left).
pub fn merge_with_budget(
    out: &Path,
    dirs: &[PathBuf],
    budget: usize,
) -> Result<MergeOutcome, MergeError> {
    if dirs.is_empty() {
        return Err(MergeError::Input("no shard directory to merge".into()));
    }
    let mut by_shard: Vec<Option<PathBuf>> = Vec::new();
    let mut first: Option<(PathBuf, u32, serde_json::Value)> = None;
    for d in dirs {
        let (k, n, run) = manifest(d)?;
        let here = |what: String| MergeError::Input(format!("{}: {what}", d.display()));
        match &first {
            None => {
                by_shard = vec![None; n as usize];
                first = Some((d.clone(), n, run));
            }
            Some((d0, n0, run0)) => {
                if n != *n0 {
                    return Err(here(format!(
                        "shard {k} of {n}, but {} is a shard of {n0}",
                        d0.display()
                    )));
                }
                if run != *run0 {
                    let diff = run
                        .as_object()
                        .into_iter()
                        .flatten()
                        .find(|(key, v)| run0.get(key.as_str()) != Some(v))
                        .map_or("the run".to_string(), |(key, _)| format!("`{key}`"));
                    return Err(here(format!(
                        "another replay than {}: {diff} differs in {MANIFEST}",
                        d0.display()
                    )));
                }
            }
        }
        if let Some(other) = &by_shard[k as usize] {
            return Err(here(format!(
                "shard {k} given twice (also {})",
                other.display()
            )));
        }
        by_shard[k as usize] = Some(d.clone());
    }
    let (_, n, run) = first.expect("one shard at least");
    if let Some(k) = by_shard.iter().position(Option::is_none) {
        return Err(MergeError::Input(format!(
            "shard {k} of {n} is missing: give every shard's directory"
        )));
    }
    let dirs: Vec<PathBuf> = by_shard.into_iter().flatten().collect();
    for d in &dirs {
        if same_dir(d, out) {
            return Err(MergeError::Input(format!(
                "{}: --out is a shard directory: choose another",
                d.display()
            )));
        }
    }
    let outputs: Vec<String> = run["outputs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if outputs.len() < 2 {
        return Err(MergeError::Input(format!(
            "{}: {MANIFEST} names no outputs",
            dirs[0].display()
        )));
    }
    let mut names = outputs.clone();
    names.push("report.json".into());
    // One run at a time in `out`; temporary files of a merge that died are removed.
    let paths: Vec<PathBuf> = names.iter().map(|n| out.join(n)).collect();
    let _claim = crate::replay::guard::claim(out, &paths, &[])
        .map_err(|e| MergeError::Output(e.to_string()))?;
    let mut set = OutputSet::default();
    let res = merge_into(
        &dirs,
        &outputs,
        out,
        &mut set,
        run["frames"].as_u64(),
        budget,
    );
    match res {
        Ok(frames) => {
            let written = set
                .commit()
                .map_err(|e| MergeError::Output(e.to_string()))?;
            // An ENI without frames has no file (an earlier run's would claim otherwise).
            for name in &outputs[2..] {
                let p = out.join(name);
                if !written.contains(&p) && p.is_file() {
                    let _ = std::fs::remove_file(&p);
                }
            }
            Ok(MergeOutcome {
                shards: n,
                frames,
                written,
            })
        }
        Err(e) => {
            set.abandon();
            for name in &names {
                let _ = std::fs::remove_file(temp_name(&out.join(name)));
            }
            Err(e)
        }
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn merge_into(
    dirs: &[PathBuf],
    outputs: &[String],
    out: &Path,
    set: &mut OutputSet,
    frames_read: Option<u64>,
    budget: usize,
) -> Result<u64, MergeError> {
    let frames = captures::merge_captures(dirs, outputs, out, set, budget)?;
    if let Some(read) = frames_read
        && read != frames
    {
        return Err(MergeError::Input(format!(
            "the shards placed {frames} frames of the {read} read: a shard's positions.bin is incomplete"
        )));
    }
    let mut reports = Vec::new();
    for d in dirs {
        let p = d.join("report.json");
        let text =
            std::fs::read(&p).map_err(|e| MergeError::Input(format!("{}: {e}", p.display())))?;
        let v: json::Json = serde_json::from_slice(&text)
            .map_err(|e| MergeError::Input(format!("{}: {e}", p.display())))?;
        reports.push(v);
    }
    let merged = json::merge_reports(reports)
        .map_err(|e| MergeError::Input(format!("report.json of the shards: {e}")))?;
    let dest = out.join("report.json");
    let tmp = temp_name(&dest);
    let mut text = serde_json::to_vec_pretty(&merged)
        .map_err(|e| MergeError::Output(format!("{}: {e}", dest.display())))?;
    text.push(b'\n');
    std::fs::write(&tmp, text)
        .map_err(|e| MergeError::Output(format!("{}: {e}", dest.display())))?;
    set.add(tmp, dest);
    Ok(frames)
}
