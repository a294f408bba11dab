//! The advice as the terminal shows it (a flow x mode matrix per ENI) and as `modes.json`.

use std::path::{Path, PathBuf};

use super::{Advice, MODES};
use crate::replay::output::{self, OutputError};
use crate::report::FlowSummary;

/// Writes `modes.json` into `dir` (through a temporary name, renamed when complete).
pub(super) fn write_json(dir: &Path, advice: &Advice) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|e| OutputError {
        file: dir.to_path_buf(),
        message: format!("cannot create the output directory: {e}"),
    })?;
    let dest = dir.join("modes.json");
    let tmp = output::temp_name(&dest);
    let fail = |e: std::io::Error| OutputError {
        file: dest.clone(),
        message: e.to_string(),
    };
    let res = std::fs::File::create(&tmp).and_then(|f| {
        use std::io::Write as _;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, advice).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        w.flush()
    });
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    std::fs::rename(&tmp, &dest).map_err(fail)?;
    Ok(dest)
}

/// The terminal matrix.
pub(super) fn matrix(advice: &Advice, written: &Path) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "eipsim modes: {} frames, {} ENI(s) with traffic; each cell is the flow's verdict with the ENI's EIPs bound in that mode (* = as in the topology)",
        advice.frames,
        advice.enis.len()
    );
    for e in &advice.enis {
        let _ = writeln!(
            s,
            "\n{} ({}, now {})",
            e.eni,
            e.kind,
            if e.current.is_empty() {
                "no EIP".to_string()
            } else {
                e.current.join("+")
            }
        );
        let label = |f: &FlowSummary| match f.ports {
            Some([a, b]) => format!(
                "{} {}:{} <-> {}:{}",
                f.protocol, f.addresses[0], a, f.addresses[1], b
            ),
            None => format!("{} {} <-> {}", f.protocol, f.addresses[0], f.addresses[1]),
        };
        let labels: Vec<String> = e
            .flows
            .iter()
            .map(|r| match r.flow.alg_protocol {
                Some(p) => format!("{} [{p}]", label(&r.flow)),
                None => label(&r.flow),
            })
            .collect();
        let w0 = labels.iter().map(String::len).max().unwrap_or(4).max(4);
        let heads: Vec<String> = MODES
            .iter()
            .map(|m| {
                let n = m.api_name();
                if e.current.contains(&n) {
                    format!("{n}*")
                } else {
                    n.to_string()
                }
            })
            .collect();
        let widths: Vec<usize> = MODES
            .iter()
            .enumerate()
            .map(|(i, m)| {
                e.flows
                    .iter()
                    .map(|r| r.modes[m.api_name()].text().len())
                    .chain([heads[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let _ = write!(s, "  {:<w0$}", "flow");
        for (h, w) in heads.iter().zip(&widths) {
            let _ = write!(s, "  {h:<w$}");
        }
        let _ = writeln!(s);
        for (r, l) in e.flows.iter().zip(&labels) {
            let _ = write!(s, "  {l:<w0$}");
            for (m, w) in MODES.iter().zip(&widths) {
                let _ = write!(s, "  {:<w$}", r.modes[m.api_name()].text());
            }
            let _ = writeln!(s);
        }
        for m in MODES {
            if let Some(a) = e.availability.get(m.api_name()) {
                let _ = writeln!(
                    s,
                    "  {:<13} {}{}",
                    m.api_name(),
                    if a.available { "" } else { "not available: " },
                    a.note
                );
            }
        }
        let _ = writeln!(
            s,
            "  every flow ok in: {}",
            if e.all_ok.is_empty() {
                "no mode".to_string()
            } else {
                e.all_ok.join(", ")
            }
        );
    }
    let _ = writeln!(s, "\nmatrix and reasons in {}", written.display());
    s
}
