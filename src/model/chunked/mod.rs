//! Reading a large topology file a few sections at a time.
//!
//! The `toml` crate builds the whole document (tokens, parse events, a spanned tree) before serde
//! sees it: about 35 bytes per byte of text, 450 MB for a 13 MB file of 50,000 ENIs. Here the
//! file is cut at its table headers, found with `toml_parser`'s own lexer (a multi-line string is
//! one token to it, and a `[` inside a multi-line array or inline table is counted as a bracket,
//! not taken for a header), and:
//!
//! - each run of `[[instance]]`, `[[eni]]`, `[[eip]]` and `[[association]]` elements (about
//!   [`BATCH`] bytes of them at a time) is parsed and deserialised on its own, its elements
//!   appended in file order;
//! - every other section (the root keys, `[vpc]`, `[account]`, `[alg]`, `[[security_group]]` and
//!   its rules, ...) is gathered, in file order, into one smaller document parsed as a whole.
//!
//! That is the same document as long as the gathered sections say nothing of those four arrays
//! (an `eni = [...]`, an `[eni.x]`, a quoted `[["eni"]]`), which is checked. Whenever anything
//! does not parse, does not deserialise, or is not of that shape, [`read`] gives `None` and the
//! caller parses the whole text as before: errors, their line and column in the whole file, and
//! what is accepted stay exactly those of one `toml::from_str` over the file.

use std::ops::Range;

use serde::Deserialize;
use toml_parser::lexer::TokenKind;

use super::file::{AssociationFile, EipFile, EniFile, InstanceFile, TopologyFile};

/// The arrays of tables whose elements are read a few at a time.
const ELEMENT_ARRAYS: [&str; 4] = ["instance", "eni", "eip", "association"];

/// About this many bytes of elements are parsed at once (a parse costs some 35 bytes per byte).
pub(super) const BATCH: usize = 64 * 1024;

/// Elements of the four arrays, as one batch of sections deserialises.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Elements {
    #[serde(default)]
    instance: Vec<InstanceFile>,
    #[serde(default)]
    eni: Vec<EniFile>,
    #[serde(default)]
    eip: Vec<EipFile>,
    #[serde(default)]
    association: Vec<AssociationFile>,
}

impl Elements {
    fn append(&mut self, mut more: Elements) {
        self.instance.append(&mut more.instance);
        self.eni.append(&mut more.eni);
        self.eip.append(&mut more.eip);
        self.association.append(&mut more.association);
    }
}

/// The topology file read section by section, or `None` when it must be parsed whole (it has
/// no element sections, or something in it does not parse or is not of the plain shape).
pub(super) fn read(text: &str) -> Option<TopologyFile> {
    // A first pass counts the elements, so that each list is allocated once, to its size.
    let mut counts = [0; ELEMENT_ARRAYS.len()];
    for (_, element) in Sections::new(text) {
        if let Some(k) = element {
            counts[k] += 1;
        }
    }
    if counts.iter().all(|&n| n == 0) {
        return None;
    }
    let mut elements = Elements {
        instance: Vec::with_capacity(counts[0]),
        eni: Vec::with_capacity(counts[1]),
        eip: Vec::with_capacity(counts[2]),
        association: Vec::with_capacity(counts[3]),
    };
    let mut rest = String::new();
    let mut batch: Option<usize> = None;
    for (range, element) in Sections::new(text) {
        if element.is_some() {
            let start = *batch.get_or_insert(range.start);
            if range.end - start >= BATCH {
                elements.append(toml::from_str(&text[start..range.end]).ok()?);
                batch = None;
            }
        } else {
            if let Some(start) = batch.take() {
                elements.append(toml::from_str(&text[start..range.start]).ok()?);
            }
            rest.push_str(&text[range]);
        }
    }
    if let Some(start) = batch {
        elements.append(toml::from_str(&text[start..]).ok()?);
    }
    let table = toml::de::DeTable::parse(&rest).ok()?;
    if ELEMENT_ARRAYS
        .iter()
        .any(|name| table.get_ref().contains_key(*name))
    {
        return None;
    }
    let mut file = TopologyFile::deserialize(toml::de::Deserializer::from(table)).ok()?;
    file.instance = elements.instance;
    file.eni = elements.eni;
    file.eip = elements.eip;
    file.association = elements.association;
    Some(file)
}

/// The file's sections in order, each a byte range from a line start (the first from the file's
/// start) to the next section's, and, when it is one element of the four arrays, which one (its
/// position in [`ELEMENT_ARRAYS`]; the header exactly `[[instance]]`, `[[eni]]`, `[[eip]]` or
/// `[[association]]`, spaces and a comment allowed). The ranges cover the text without gaps.
pub(super) struct Sections<'i> {
    text: &'i str,
    lexer: toml_parser::lexer::Lexer<'i>,
    /// Open `[` and `{` of the value being read.
    depth: u32,
    /// Nothing but whitespace yet on this line, outside any value.
    line_start: bool,
    /// Where the current line starts.
    line_begin: usize,
    /// The section being read: its start, and which array it is an element of.
    start: usize,
    element: Option<usize>,
    /// The header being read, while on its line.
    header: Option<Header>,
    done: bool,
}

/// The tokens of a header line, as far as needed to tell an element header.
#[derive(Default)]
struct Header {
    /// Kind and span of its tokens other than whitespace and comments (the first six).
    tokens: Vec<(TokenKind, Range<usize>)>,
    /// Tokens other than whitespace and comments, counted.
    count: usize,
}

impl Header {
    fn push(&mut self, kind: TokenKind, span: Range<usize>) {
        if matches!(kind, TokenKind::Whitespace | TokenKind::Comment) {
            return;
        }
        self.count += 1;
        if self.tokens.len() < 6 {
            self.tokens.push((kind, span));
        }
    }

    /// `[[NAME]]`, the brackets paired without a space, NAME one of [`ELEMENT_ARRAYS`]: its
    /// position there.
    fn element(&self, text: &str) -> Option<usize> {
        use TokenKind::{Atom, LeftSquareBracket as L, RightSquareBracket as R};
        match self.tokens.as_slice() {
            [(L, l1), (L, l2), (Atom, name), (R, r1), (R, r2)]
                if self.count == 5 && l1.end == l2.start && r1.end == r2.start =>
            {
                ELEMENT_ARRAYS
                    .iter()
                    .position(|a| *a == &text[name.clone()])
            }
            _ => None,
        }
    }
}

impl<'i> Sections<'i> {
    /// The sections of `text`.
    pub(super) fn new(text: &'i str) -> Sections<'i> {
        Sections {
            text,
            lexer: toml_parser::Source::new(text).lex(),
            depth: 0,
            line_start: true,
            line_begin: 0,
            start: 0,
            element: None,
            header: None,
            done: false,
        }
    }
}

impl Iterator for Sections<'_> {
    type Item = (Range<usize>, Option<usize>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        for token in self.lexer.by_ref() {
            let kind = token.kind();
            let span = token.span().start()..token.span().end();
            if kind == TokenKind::Eof {
                break;
            }
            if self.header.is_some() {
                if kind == TokenKind::Newline {
                    if let Some(h) = self.header.take() {
                        self.element = h.element(self.text);
                    }
                    self.line_start = true;
                    self.line_begin = span.end;
                } else if let Some(h) = &mut self.header {
                    h.push(kind, span);
                }
                continue;
            }
            match kind {
                TokenKind::Whitespace => {}
                TokenKind::Newline => {
                    if self.depth == 0 {
                        self.line_start = true;
                        self.line_begin = span.end;
                    }
                }
                TokenKind::LeftSquareBracket if self.depth == 0 && self.line_start => {
                    let mut h = Header::default();
                    h.push(kind, span);
                    self.header = Some(h);
                    self.line_start = false;
                    let previous = (self.start..self.line_begin, self.element);
                    self.start = self.line_begin;
                    self.element = None;
                    if !previous.0.is_empty() {
                        return Some(previous);
                    }
                }
                TokenKind::LeftSquareBracket | TokenKind::LeftCurlyBracket => {
                    self.depth += 1;
                    self.line_start = false;
                }
                TokenKind::RightSquareBracket | TokenKind::RightCurlyBracket => {
                    self.depth = self.depth.saturating_sub(1);
                    self.line_start = false;
                }
                _ => self.line_start = false,
            }
        }
        if let Some(h) = self.header.take() {
            self.element = h.element(self.text);
        }
        self.done = true;
        Some((self.start..self.text.len(), self.element)).filter(|(r, _)| !r.is_empty())
    }
}

#[cfg(test)]
mod tests;
