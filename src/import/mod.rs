//! Configurations in: a topology file from the user's real configuration, either the JSON of
//! `terraform show -json` ([`terraform`]) or the JSON responses of the provider's Describe* APIs
//! as the aliyun CLI prints them ([`aliyun`]).
//!
//! Both front ends fill one [`Draft`] (what the input says, each entry with where it came from);
//! [`finish`] resolves it (the VPC, the region, each instance's primary ENI, attachments,
//! associations, security groups), applies the stated defaults and inferences (each default is
//! reported as a note), writes the topology TOML with a comment above each entry naming its
//! origin, and validates it with [`Cloud::from_toml`](crate::model::Cloud::from_toml), so an import that `eipsim check` would
//! refuse is an error naming the rule and the resource it came from.
//!
//! The functions here are pure (text in, text and notes out); [`import_terraform`],
//! [`import_aliyun`] and [`write_atomically`] are the thin I/O around them.

//!
//! Layout: [`draft`] holds the [`Draft`] types the front ends fill; `finish` resolves a draft in
//! stages (`place`: VPC, region and instance families; `enis`; `groups`: security group rules;
//! `assocs`: EIPs and associations; `write`: the TOML text) and validates the result.

pub mod aliyun;
pub mod draft;
mod finish;
pub mod terraform;

use std::path::Path;

use crate::model::regions;

pub use draft::{DAssoc, DAttach, DEip, DEni, DGroup, DInstance, DRule, DVpc, DVswitch, Draft};
pub use finish::finish;

/// Which configuration format to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The JSON of `terraform show -json`.
    Terraform,
    /// JSON responses of the Describe* APIs (DescribeVpcs, DescribeVSwitches, DescribeInstances,
    /// DescribeNetworkInterfaces, DescribeEipAddresses, DescribeSecurityGroupAttribute).
    Aliyun,
}

/// An imported topology.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The topology file (TOML), valid for [`Cloud::from_toml`](crate::model::Cloud::from_toml).
    pub toml: String,
    /// What the input lacked and was given a default, or was skipped (one line each, without
    /// the `note: ` prefix).
    pub notes: Vec<String>,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// An input file is not JSON.
    #[error("{file}: malformed JSON at line {line}, column {column}: {message}")]
    Json {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// The input is incomplete, unknown or inconsistent.
    #[error("{subject}: {message}")]
    Input {
        /// The resource concerned (a Terraform address, or a response file and id).
        subject: String,
        /// What is wrong.
        message: String,
    },
    /// The imported topology breaks a rule `eipsim check` enforces.
    #[error("{origin}: the imported topology would be refused: {message} [rule {code}]")]
    Rule {
        /// The rule code.
        code: &'static str,
        /// Where the entry that broke it came from.
        origin: String,
        /// The model's message.
        message: String,
    },
}

pub(crate) fn input(subject: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Input {
        subject: subject.into(),
        message: message.into(),
    }
}

pub(crate) fn json_error(file: &str, e: &serde_json::Error) -> ImportError {
    ImportError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points

/// Imports `terraform show -json` text; `name` names the input in messages and comments.
pub fn import_terraform_text(
    text: &str,
    name: &str,
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    finish(terraform::parse(text, name)?, region)
}

/// Imports Describe* API responses: `(file name, JSON text)` pairs, each recognised by its
/// top-level keys.
pub fn import_aliyun_texts(
    files: &[(String, String)],
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    finish(aliyun::parse(files)?, region)
}

/// The pure entry point for one text of either source (an aliyun text is one response file,
/// named `input.json`).
pub fn import_text(
    source: Source,
    text: &str,
    region: Option<&str>,
) -> Result<Imported, ImportError> {
    match source {
        Source::Terraform => import_terraform_text(text, "state.json", region),
        Source::Aliyun => import_aliyun_texts(&[("input.json".into(), text.into())], region),
    }
}

/// Reads a Terraform state JSON file and imports it.
pub fn import_terraform(path: &Path, region: Option<&str>) -> Result<Imported, ImportError> {
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    );
    import_terraform_text(&text, &name, region)
}

/// Reads every `*.json` file of a directory (in name order) and imports them.
pub fn import_aliyun(dir: &Path, region: Option<&str>) -> Result<Imported, ImportError> {
    let io = |source| ImportError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.is_file()
            && p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            names.push(p);
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(input(
            dir.display().to_string(),
            "no *.json file: save the responses of the Describe* APIs there",
        ));
    }
    let mut files = Vec::new();
    for p in names {
        let text = std::fs::read_to_string(&p).map_err(|source| ImportError::Io {
            path: p.display().to_string(),
            source,
        })?;
        let name = p
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into());
        files.push((name, text));
    }
    import_aliyun_texts(&files, region)
}

/// Writes `text` to `path` through a temporary name in the same directory, renamed when
/// complete: a failed write leaves no partial file.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ImportError> {
    let io = |source| ImportError::Io {
        path: path.display().to_string(),
        source,
    };
    let name = path
        .file_name()
        .map_or_else(|| "topology".into(), |n| n.to_string_lossy().to_string());
    let tmp = path.with_file_name(format!(".{name}.tmp{}", std::process::id()));
    if let Err(e) = std::fs::write(&tmp, text) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// `ecs.g5.large` -> `ecs.g5`: the longest multi-EIP family the type starts with, else the
/// type's first two dot-separated parts.
pub fn family_of(instance_type: &str) -> String {
    if let Some(f) = regions::MULTI_BINDED_FAMILIES
        .iter()
        .filter(|f| {
            instance_type.len() > f.len()
                && instance_type.starts_with(**f)
                && instance_type.as_bytes()[f.len()] == b'.'
        })
        .max_by_key(|f| f.len())
    {
        return (*f).to_string();
    }
    let parts: Vec<&str> = instance_type.split('.').collect();
    if parts.len() >= 3 {
        parts[..2].join(".")
    } else {
        instance_type.to_string()
    }
}

/// `eu-central-1a` -> `eu-central-1`, `cn-hangzhou-h` -> `cn-hangzhou`: the known region the
/// zone id starts with (followed by a zone letter, with or without a dash); for an unknown
/// region, the zone id without its trailing letters.
pub fn region_of_zone(zone: &str) -> String {
    let mut best: Option<&str> = None;
    for (r, _) in regions::REGIONS {
        if let Some(rest) = zone.strip_prefix(r) {
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            if rest.bytes().all(|b| b.is_ascii_lowercase())
                && best.is_none_or(|b| b.len() < r.len())
            {
                best = Some(r);
            }
        }
    }
    if let Some(r) = best {
        return r.to_string();
    }
    let t = zone.trim_end_matches(|c: char| c.is_ascii_lowercase());
    let t = t.trim_end_matches('-');
    if t.is_empty() {
        zone.to_string()
    } else {
        t.to_string()
    }
}
