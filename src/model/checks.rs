//! The model's error codes in one list (a scenario's `expect` is checked against it), and the
//! text of TOML errors as shown to the user (a line of the file is never echoed whole).

/// Every error code the model's operations and the topology loader give, sorted. A scenario
/// step's `expect` must be `ok`, `error` or one of these. A unit test checks that every code
/// written in `src/model` is listed.
pub const ERROR_CODES: &[&str] = &[
    "address-outside-vpc",
    "binded-exclusive",
    "binded-no-private-ip",
    "binded-one-eip",
    "cidr-or-group",
    "duplicate-address",
    "duplicate-group",
    "duplicate-id",
    "duplicate-mac",
    "eip-associated-twice",
    "eip-in-use",
    "eip-inside-vpc",
    "eip-not-associated",
    "eip-released",
    "eni-attached",
    "eni-deleted",
    "eni-has-eip",
    "eni-mac-group",
    "eni-mac-reserved",
    "eni-not-attached",
    "gateway-mac-is-internet-mac",
    "inner-access-basic-only",
    "instance-nat-only",
    "instance-no-primary-eni",
    "instance-one-eip",
    "instance-one-primary-eni",
    "invalid-address",
    "invalid-alg",
    "invalid-association",
    "invalid-id",
    "invalid-port-range",
    "invalid-priority",
    "mixed-group-types",
    "mode-not-in-region",
    "multi-eip-exclusive",
    "multi-eip-instance-family",
    "multi-eip-not-authorized",
    "multi-eip-quota",
    "no-address",
    "not-multi-binded",
    "one-eip-per-private-ip",
    "primary-eni-delete",
    "primary-eni-detach",
    "primary-eni-nat-only",
    "primary-eni-needs-instance",
    "primary-eni-one-eip",
    "primary-ip-unassign",
    "private-ip-has-eip",
    "private-ip-nat-only",
    "private-ip-not-owned",
    "private-network-lost",
    "reserved-id",
    "static-eip-not-owned",
    "too-many-rules",
    "unknown-group",
    "unknown-id",
    "unknown-region",
    "vpc-reserved-address",
];

/// The known code nearest to `code` (edit distance at most 3), to suggest for a misspelling.
pub fn closest_code(code: &str) -> Option<&'static str> {
    let a: Vec<char> = code.chars().take(64).collect();
    ERROR_CODES
        .iter()
        .map(|c| (distance(&a, &c.chars().collect::<Vec<_>>()), *c))
        .filter(|(d, _)| *d <= 3)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance.
fn distance(a: &[char], b: &[char]) -> usize {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// At most this many characters of any line of a TOML error are shown.
pub const MAX_LINE: usize = 200;

/// A TOML error as one line: the parser's lines (position, the offending line of the file, the
/// caret, the reason) each cut to [`MAX_LINE`] characters, joined with spaces.
pub fn toml_error_text(e: &impl std::fmt::Display) -> String {
    e.to_string()
        .trim_end()
        .lines()
        .map(|l| match l.char_indices().nth(MAX_LINE) {
            Some((cut, _)) => format!("{}...", &l[..cut]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `err("code", ...)` and string code in the model's sources is listed.
    #[test]
    fn every_code_in_the_sources_is_listed() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("checks.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // `err(` followed by a string literal, possibly on the next line.
            for (i, _) in text.match_indices("err(") {
                let rest = text[i + 4..].trim_start();
                if let Some(lit) = rest.strip_prefix('"')
                    && let Some(end) = lit.find('"')
                {
                    let code = &lit[..end];
                    if !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
                    {
                        found.push((code.to_string(), path.display().to_string()));
                    }
                }
            }
        }
        // The one code chosen through a variable.
        found.push(("binded-one-eip".into(), "mod.rs".into()));
        assert!(found.len() > 40, "found only {}", found.len());
        for (code, file) in &found {
            assert!(
                ERROR_CODES.contains(&code.as_str()),
                "{code} ({file}) is missing from ERROR_CODES"
            );
        }
        let mut sorted = ERROR_CODES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, ERROR_CODES, "sorted, no duplicates");
    }

    #[test]
    fn misspellings_find_their_code() {
        assert_eq!(closest_code("eni-atached"), Some("eni-attached"));
        assert_eq!(closest_code("mutli-eip-quota"), Some("multi-eip-quota"));
        assert_eq!(closest_code("completely-unrelated-words"), None);
    }

    #[test]
    fn long_lines_are_cut() {
        let line = "x".repeat(5000);
        let t = toml_error_text(&format!("first\n{line}\nlast"));
        assert!(t.starts_with("first "));
        assert!(t.ends_with("... last"));
        assert!(t.len() < 220, "{}", t.len());
        // Multi-byte characters are cut on a character boundary.
        let t = toml_error_text(&"é".repeat(300));
        assert_eq!(t.chars().count(), 203);
    }
}
