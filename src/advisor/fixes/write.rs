//! `fixes.toml` (an operations file with a comment per fix) and the summary's section.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{Change, Fixes, LISTED_FLOWS, MAX_FIXES, MAX_VERIFIED, Status};

/// Fixes the terminal summary lists at most; `report.json` has them all.
pub const SUMMARY_FIXES: usize = 10;

/// The keys of a step in the order written (others after them).
const KEY_ORDER: [&str; 15] = [
    "op",
    "group",
    "id",
    "address",
    "eip",
    "eni",
    "instance",
    "mode",
    "private_ip",
    "policy",
    "priority",
    "protocol",
    "port_range",
    "cidr",
    "peer_group",
];

/// A step's table as TOML lines, `op` first and the rule's fields in their usual order.
fn step_text(t: &toml::Table) -> String {
    let mut s = String::from("\n[[step]]\n");
    let rest = t.keys().filter(|k| !KEY_ORDER.contains(&k.as_str()));
    for k in KEY_ORDER.iter().copied().chain(rest.map(String::as_str)) {
        if let Some(v) = t.get(k) {
            let _ = writeln!(s, "{k} = {v}");
        }
    }
    s
}

/// `fixes.toml`: per fix, a comment (its status, changes, reason and flows) and its console
/// operations as `[[step]]` tables; a step that an earlier fix already has is given once.
/// The file (`this`) is an operations file for `eipsim diff --topology TOPOLOGY --apply
/// fixes.toml CAPTURE...`; the comment at its top gives that command for `inputs`.
pub fn fixes_toml(f: &Fixes, topology: &Path, this: &Path, inputs: &[PathBuf]) -> String {
    let mut s = String::new();
    let t = topology.display();
    let this = this.display();
    let captures = inputs
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ");
    let _ = writeln!(
        s,
        "# eipsim replay --fixes: for each dropped flow, the change that would admit it (narrowest\n\
         # first), checked by replaying the captures with it applied.\n\
         # Topology: {t}\n\
         # Every step below applied to it, flow by flow:\n\
         #   eipsim diff --topology {t} --apply {this} {captures}\n\
         # A change that no console operation makes (the guest's DHCP or static multi-EIP\n\
         # addresses, the provider's TCP port 25 block) is a comment: change the topology file (and\n\
         # the guest, or ask the provider) as it says."
    );
    if f.flows_without_fix > 0 {
        let _ = writeln!(
            s,
            "# {} more dropped flows got no fix: at most {MAX_FIXES} distinct fixes are proposed.",
            f.flows_without_fix
        );
    }
    let mut written: Vec<(&toml::Table, usize, usize)> = Vec::new();
    for (n, fix) in f.fixes.iter().enumerate() {
        let _ = writeln!(
            s,
            "\n# Fix {}: {} ({})",
            n + 1,
            fix.status.as_str(),
            fix.reasons.join(", ")
        );
        for c in &fix.changes {
            let _ = writeln!(s, "#   {}", c.text());
        }
        let _ = writeln!(s, "#   why: {}", fix.note);
        let _ = writeln!(s, "#   flows ({}):", fix.flow_count);
        for l in fix.flow_notes.iter().take(LISTED_FLOWS) {
            let _ = writeln!(s, "#     {l}");
        }
        if fix.flow_count > LISTED_FLOWS as u64 {
            let _ = writeln!(
                s,
                "#     ... and {} more (report.json)",
                fix.flow_count - LISTED_FLOWS as u64
            );
        }
        if fix.status != Status::NonePossible {
            let _ = writeln!(s, "#   verification: {}", fix.detail);
        }
        for (k, c) in fix.changes.iter().enumerate() {
            let Change::Op(_, table) = c else {
                continue;
            };
            if let Some((_, fx, st)) = written.iter().find(|(w, ..)| *w == table) {
                let _ = writeln!(s, "# (step {} of fix {fx}, above: applied once)", st);
                continue;
            }
            s.push_str(&step_text(table));
            written.push((table, n + 1, k + 1));
        }
    }
    s
}

/// The terminal summary's section: the counts per status and the first fixes.
pub fn summary_text(f: &Fixes) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  {:<30} {:>10}", "fixes (fixes.toml)", f.fixes.len());
    for st in [
        Status::Verified,
        Status::NotVerified,
        Status::Unverified,
        Status::NonePossible,
    ] {
        let n = f.fixes.iter().filter(|x| x.status == st).count();
        if n > 0 {
            let _ = writeln!(s, "    {:<28} {:>10}", st.as_str(), n);
        }
    }
    for (n, fix) in f.fixes.iter().enumerate().take(SUMMARY_FIXES) {
        let what = if fix.changes.is_empty() {
            fix.note.clone()
        } else {
            fix.changes
                .iter()
                .map(Change::text)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let flows = match fix.flow_count {
            1 => "1 flow".to_string(),
            k => format!("{k} flows"),
        };
        let _ = writeln!(
            s,
            "    {}. {} [{}, {flows}]: {what}",
            n + 1,
            fix.status.as_str(),
            fix.reasons.join(", ")
        );
        if fix.status == Status::NotVerified {
            let _ = writeln!(s, "       {}", fix.detail);
        }
    }
    if f.fixes.len() > SUMMARY_FIXES {
        let _ = writeln!(
            s,
            "    ... and {} more fixes (report.json fixes)",
            f.fixes.len() - SUMMARY_FIXES
        );
    }
    let unverified = f.unverified();
    if unverified > 0 {
        let _ = writeln!(
            s,
            "    {unverified} fixes were not replayed: at most {MAX_VERIFIED} verification replays are run"
        );
    }
    if f.flows_without_fix > 0 {
        let _ = writeln!(
            s,
            "    {} dropped flows got no fix: at most {MAX_FIXES} distinct fixes are proposed",
            f.flows_without_fix
        );
    }
    s
}
