//! The model's error codes in one list (the codes of [`super::RuleCode`]; a scenario's `expect` is
//! checked against it), and the text of TOML errors as shown to the user (a line of the file is
//! never echoed whole).

/// Every error code the model's operations and the topology loader give, sorted: the codes of
/// [`RuleCode::ALL`](super::RuleCode::ALL). A scenario step's `expect` must be `ok`, `error` or
/// one of these.
pub const ERROR_CODES: &[&str] = &super::rules::CODES;

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
