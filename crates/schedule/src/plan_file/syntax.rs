//! TOML text to a list of decoded items, by `toml_parser` (the `toml` crate's own lexer, parser
//! and decoder): every syntax rule of TOML 1.0 — numbers, strings and their escapes, keys,
//! comments, newlines, nesting — is checked there, none here. What this module adds is the
//! message: the line and column a person reads, the field the error is in, and the parser's
//! rule.
//!
//! The `toml` crate itself (its `DeTable` document on top of this parser) would cost the page
//! about 19 KB of its gzipped wasm, more than the page's remaining budget; the parser alone
//! costs about 16 KB, and [`super::read`] assembles the little a plan file can hold.

use alloc::borrow::Cow;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use toml_parser::decoder::ScalarKind;
use toml_parser::parser::{self, Event, EventKind, RecursionGuard, ValidateWhitespace};
use toml_parser::{Expected, ParseError, Source, Span};

use super::text;
use crate::error::PlanError;

/// The `toml` crate's nesting limit (arrays, inline tables, dotted keys), which it enforces
/// as a parse error; the same limit here keeps the two readers' verdicts the same.
const NESTING_LIMIT: u32 = 80;

/// One meaningful event of the file (whitespace, comments and newlines are validated and
/// dropped), with its key or scalar decoded.
pub(super) struct Item<'i> {
    pub kind: EventKind,
    pub span: Span,
    /// A key's name or a scalar's value (escapes resolved, `_` removed from numbers).
    pub decoded: Cow<'i, str>,
    /// What a scalar is; `None` for every other item.
    pub scalar: Option<ScalarKind>,
}

/// The file's items, or its first TOML syntax error as a message.
pub(super) fn items(text: &str) -> Result<Vec<Item<'_>>, PlanError> {
    let source = Source::new(text);
    let tokens = source.lex().into_vec();
    let mut events: Vec<Event> = Vec::with_capacity(tokens.len());
    let mut errors: Vec<ParseError> = Vec::new();
    {
        let mut validate = ValidateWhitespace::new(&mut events, source);
        let mut guard = RecursionGuard::new(&mut validate, NESTING_LIMIT);
        parser::parse_document(&tokens, &mut guard, &mut errors);
    }
    let items: Vec<Item<'_>> = events
        .iter()
        .filter(|e| {
            !matches!(
                e.kind(),
                EventKind::Whitespace | EventKind::Comment | EventKind::Newline
            )
        })
        .map(|e| decode(source, e, &mut errors))
        .collect();
    check_key_depth(&items, &mut errors);
    match errors.iter().min_by_key(|e| at(e, text.len())) {
        Some(e) => Err(syntax_error(text, &items, e)),
        None => Ok(items),
    }
}

fn decode<'i>(source: Source<'i>, event: &Event, errors: &mut Vec<ParseError>) -> Item<'i> {
    let mut decoded = Cow::Borrowed("");
    let mut scalar = None;
    if let Some(raw) = source.get(event) {
        match event.kind() {
            EventKind::SimpleKey => raw.decode_key(&mut decoded, errors),
            EventKind::Scalar => scalar = Some(raw.decode_scalar(&mut decoded, errors)),
            _ => {}
        }
    }
    Item {
        kind: event.kind(),
        span: event.span(),
        decoded,
        scalar,
    }
}

/// A dotted key or table header of more than [`NESTING_LIMIT`] parts is refused, as the
/// `toml` crate refuses it.
fn check_key_depth(items: &[Item<'_>], errors: &mut Vec<ParseError>) {
    let mut parts = 0;
    for item in items {
        match item.kind {
            EventKind::KeySep => parts += 1,
            EventKind::SimpleKey => {}
            _ => parts = 0,
        }
        if parts == NESTING_LIMIT {
            errors.push(ParseError::new("recursion limit").with_unexpected(item.span));
        }
    }
}

fn at(e: &ParseError, end: usize) -> usize {
    e.unexpected().map_or(end, |s| s.start())
}

/// A syntax error as a person reads it: line and column, the field it is in when the items
/// before it tell, and the parser's rule with the text it stopped at.
fn syntax_error(text: &str, items: &[Item<'_>], e: &ParseError) -> PlanError {
    let start = at(e, text.len());
    let end = e.unexpected().map_or(start, |s| s.end());
    let (line, column) = text::position(text, start);
    let rest_of_line = text[start..].split('\n').next().unwrap_or("");
    let mut message = String::from(e.description());
    if message.starts_with("string values must be quoted")
        && matches!(rest_of_line.trim().chars().next(), None | Some('#'))
    {
        // The parser reads a missing value as an empty unquoted string.
        message = "a value is missing after `=`".into();
    } else {
        if let Some(expected) = e.expected() {
            message.push_str(", expected ");
            message.push_str(&expectation(expected));
        }
        if let Some(found) = text.get(start..end).filter(|s| !s.trim().is_empty()) {
            message.push_str(&format!(" (found `{}`)", found.trim_end()));
        }
    }
    let field = path_at(text, items, start)
        .map(|p| format!("{p}: "))
        .unwrap_or_default();
    PlanError::Parse(format!("line {line}, column {column}: {field}{message}"))
}

fn expectation(expected: &[Expected]) -> String {
    if expected.is_empty() {
        return "nothing".into();
    }
    let names: Vec<String> = expected
        .iter()
        .map(|e| match e {
            // The parser's only literal with a control character.
            Expected::Literal("\n") => "newline".into(),
            Expected::Literal(s) => format!("`{s}`"),
            Expected::Description(s) => String::from(*s),
            _ => "something else".into(),
        })
        .collect();
    names.join(", ")
}

/// The dotted path of the key being defined at byte `offset`, if a key or table header
/// starts on the same line before it: `decay.kind` for an error in `kind = "cos` under
/// `[decay]`.
fn path_at(text: &str, items: &[Item<'_>], offset: usize) -> Option<String> {
    let line = text::line(text, offset);
    let mut header: Vec<&str> = Vec::new();
    let mut in_header = false;
    let mut outer: Vec<usize> = Vec::new(); // key lengths of the enclosing inline tables
    let mut key: Vec<&str> = Vec::new();
    let mut key_start = 0;
    let mut after_sep = false;
    for item in items.iter().take_while(|i| i.span.start() <= offset) {
        match item.kind {
            EventKind::StdTableOpen | EventKind::ArrayTableOpen => {
                (header, key, in_header, key_start) =
                    (Vec::new(), Vec::new(), true, item.span.start());
            }
            EventKind::StdTableClose | EventKind::ArrayTableClose => in_header = false,
            EventKind::SimpleKey if in_header => header.push(&item.decoded),
            EventKind::SimpleKey => {
                if !after_sep {
                    key.truncate(outer.last().copied().unwrap_or(0));
                    key_start = item.span.start();
                }
                key.push(&item.decoded);
            }
            EventKind::InlineTableOpen => outer.push(key.len()),
            EventKind::InlineTableClose => {
                outer.pop();
            }
            _ => {}
        }
        after_sep = item.kind == EventKind::KeySep;
    }
    if text::line(text, key_start) != line {
        return None;
    }
    let path: Vec<&str> = header.into_iter().chain(key).collect();
    (!path.is_empty()).then(|| path.join("."))
}
