//! The items of a TOML file ([`super::syntax`]) to a [`Plan`]: tables to plan sections, keys to
//! fields of the field table ([`FIELDS`]), TOML values to the field's type.
//!
//! A plan file is two levels deep: a table per section, a value per field. The reader follows
//! TOML's rules on how those two levels are defined — a `[section]` header, dotted keys
//! (`lr.init = …`) or an inline table (`lr = { … }`); a key or table defined twice, a header
//! for a table that dotted keys or an inline table already defined, and dotted keys into an
//! inline table are errors — and refuses everything deeper as "not a plan field" without
//! building it, since no plan field takes it. The property tests hold this reader to the
//! `toml` crate's verdict on every file. Of several problems, the one nearest the top of the
//! file is reported.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use toml_parser::decoder::ScalarKind;
use toml_parser::parser::EventKind;

use super::syntax::{self, Item};
use super::text;
use crate::error::PlanError;
use crate::fields::{self, FIELDS, Field, Kind, SECTIONS, Value};
use crate::plan::Plan;

/// The plan a TOML text describes, before `Plan::validate`.
pub(super) fn plan(text: &str) -> Result<Plan, PlanError> {
    let items = syntax::items(text)?;
    let mut reader = Reader {
        text,
        items: &items,
        next: 0,
        plan: Plan::default(),
        tables: Vec::new(),
        problems: Vec::new(),
    };
    reader.document();
    match reader.problems.iter().min_by_key(|p| p.0) {
        Some((at, message)) => Err(PlanError::Parse(format!(
            "line {}: {message}",
            text::line(text, *at)
        ))),
        None => Ok(reader.plan),
    }
}

/// How a plan section was defined; TOML lets only dotted keys add to a table after it exists.
#[derive(PartialEq)]
enum Defined {
    Header,
    DottedKeys,
    InlineTable,
}

/// A section of the plan file seen so far, with the keys set in it.
struct Table<'i> {
    name: &'i str,
    defined: Defined,
    keys: Vec<&'i str>,
}

/// Where the key-values that follow a table header go.
#[derive(Clone, Copy)]
enum Target {
    /// The top of the file (before any header).
    Root,
    /// A plan section: index into `tables`.
    Section(usize),
    /// A table no plan field lives in (already reported).
    Elsewhere,
}

struct Reader<'t, 'i> {
    text: &'t str,
    items: &'t [Item<'i>],
    next: usize,
    plan: Plan,
    tables: Vec<Table<'t>>,
    /// `(byte offset, message)`.
    problems: Vec<(usize, String)>,
}

impl<'t, 'i> Reader<'t, 'i> {
    fn document(&mut self) {
        let mut target = Target::Root;
        while let Some(item) = self.items.get(self.next) {
            self.next += 1;
            match item.kind {
                EventKind::StdTableOpen | EventKind::ArrayTableOpen => {
                    let keys = self.key();
                    self.next += 1; // the closing bracket
                    target = self.header(&keys, item.kind == EventKind::ArrayTableOpen);
                }
                EventKind::SimpleKey => {
                    self.next -= 1;
                    let keys = self.key();
                    self.next += 1; // `=`
                    self.key_value(target, &keys);
                }
                // Nothing else starts a line in a file the parser accepted.
                _ => {}
            }
        }
    }

    /// A key, simple or dotted: its parts, each with the item it was read from.
    fn key(&mut self) -> Vec<&'t Item<'i>> {
        let mut parts = Vec::new();
        while let Some(item) = self.items.get(self.next) {
            match item.kind {
                EventKind::SimpleKey => parts.push(item),
                EventKind::KeySep => {}
                _ => break,
            }
            self.next += 1;
        }
        parts
    }

    /// A `[header]` or `[[header]]`: where its key-values go.
    fn header(&mut self, keys: &[&'t Item<'i>], array: bool) -> Target {
        let Some(first) = keys.first() else {
            return Target::Elsewhere;
        };
        let (name, at): (&'t str, usize) = (&first.decoded, first.span.start());
        if !is_section(name) {
            self.problem(at, not_a_section(name, true));
            return Target::Elsewhere;
        }
        if keys.len() == 1 && self.table(name).is_some() {
            self.problem(
                at,
                format!("`{name}` is defined twice (TOML allows one definition of a table)"),
            );
            return Target::Elsewhere;
        }
        if array {
            self.problem(
                at,
                format!("`{name}` must be a table, got an array of tables"),
            );
            return Target::Elsewhere;
        }
        if let Some(key) = keys.get(1) {
            self.problem(key.span.start(), not_a_field(name, &key.decoded, "a table"));
            return Target::Elsewhere;
        }
        self.tables.push(Table {
            name,
            defined: Defined::Header,
            keys: Vec::new(),
        });
        Target::Section(self.tables.len() - 1)
    }

    /// `keys = value` in `target`; the value's items are consumed.
    fn key_value(&mut self, target: Target, keys: &[&'t Item<'i>]) {
        let (section, field_keys) = match target {
            Target::Elsewhere => return self.skip_value(),
            Target::Section(i) => (Some(i), keys),
            Target::Root => match keys {
                [name] => return self.root_value(name),
                [name, rest @ ..] => (self.dotted_section(name), rest),
                [] => return self.skip_value(),
            },
        };
        let Some(i) = section else {
            return self.skip_value();
        };
        self.field_value(i, field_keys);
    }

    /// A section's table opened by dotted keys at the top (`lr.init = …`).
    fn dotted_section(&mut self, name: &'t Item<'i>) -> Option<usize> {
        let at = name.span.start();
        if !is_section(&name.decoded) {
            self.problem(at, not_a_section(&name.decoded, true));
            return None;
        }
        match self.table(&name.decoded) {
            Some(i) if self.tables[i].defined == Defined::DottedKeys => Some(i),
            // Before any header, the table can only be an inline one.
            Some(_) => {
                let n = &name.decoded;
                let rule = "TOML does not let dotted keys add to an inline table";
                self.problem(
                    at,
                    format!("`{n}` is already defined by `{n} = {{ ... }}`; {rule}"),
                );
                None
            }
            None => {
                self.tables.push(Table {
                    name: &name.decoded,
                    defined: Defined::DottedKeys,
                    keys: Vec::new(),
                });
                Some(self.tables.len() - 1)
            }
        }
    }

    /// `name = value` at the top: a section as an inline table, or a problem.
    fn root_value(&mut self, name: &'t Item<'i>) {
        let at = name.span.start();
        let n = &*name.decoded;
        let value = self.items.get(self.next);
        let inline = value.is_some_and(|v| v.kind == EventKind::InlineTableOpen);
        if self.table(n).is_some() {
            self.problem(
                at,
                format!("`{n}` is defined twice (TOML allows one definition of a table)"),
            );
        } else if !is_section(n) {
            self.problem(at, not_a_section(n, inline));
        } else if !inline {
            let got = value.map_or("nothing", |v| type_name(v));
            self.problem(
                at,
                format!("`{n}` must be a table (`[{n}]` or `{n} = {{ ... }}`), got {got}"),
            );
        } else {
            self.tables.push(Table {
                name: &name.decoded,
                defined: Defined::InlineTable,
                keys: Vec::new(),
            });
            return self.inline_section(self.tables.len() - 1);
        }
        self.skip_value();
    }

    /// The key-values of `{ … }` for section `i`; the braces are consumed.
    fn inline_section(&mut self, i: usize) {
        self.next += 1; // `{`
        while let Some(item) = self.items.get(self.next) {
            match item.kind {
                EventKind::InlineTableClose => {
                    self.next += 1;
                    return;
                }
                EventKind::SimpleKey => {
                    let keys = self.key();
                    self.next += 1; // `=`
                    self.field_value(i, &keys);
                }
                _ => self.next += 1, // `,`
            }
        }
    }

    /// `keys = value` inside section `i`: a field's value, or a problem.
    fn field_value(&mut self, i: usize, keys: &[&'t Item<'i>]) {
        let section = self.tables[i].name;
        let Some(key) = keys.first() else {
            return self.skip_value();
        };
        let at = key.span.start();
        let name: &'t str = &key.decoded;
        if self.tables[i].keys.contains(&name) {
            self.problem(
                at,
                format!("`{section}.{name}` is set twice (TOML allows one value per key)"),
            );
            return self.skip_value();
        }
        self.tables[i].keys.push(name);
        if keys.len() > 1 {
            self.problem(at, not_a_field(section, name, "a table"));
            return self.skip_value();
        }
        let path = format!("{section}.{name}");
        let Some(field) = fields::find(&path) else {
            let keys: Vec<&str> = fields::in_section(section).map(Field::key).collect();
            self.problem(
                at,
                format!(
                    "unknown key `{path}`; [{section}] takes {}",
                    keys.join(", ")
                ),
            );
            return self.skip_value();
        };
        let Some(value) = self.items.get(self.next) else {
            return;
        };
        let stored = match value.scalar {
            Some(kind) => value_of(field, kind, &value.decoded).and_then(|v| {
                let written = self.text.get(value.span.start()..value.span.end());
                field
                    .set(&mut self.plan, Some(v))
                    .map_err(|rule| format!("{rule} (got {})", written.unwrap_or_default()))
            }),
            None => Err(format!(
                "expects {}, got {}",
                expects(field.kind()),
                type_name(value)
            )),
        };
        if let Err(rule) = stored {
            self.problem(value.span.start(), format!("{path} {rule}"));
        }
        self.skip_value();
    }

    /// Steps over one value: a scalar, or an array or inline table with all it holds.
    fn skip_value(&mut self) {
        let mut depth = 0usize;
        while let Some(item) = self.items.get(self.next) {
            self.next += 1;
            match item.kind {
                EventKind::ArrayOpen | EventKind::InlineTableOpen => depth += 1,
                EventKind::ArrayClose | EventKind::InlineTableClose => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                return;
            }
        }
    }

    fn table(&self, name: &str) -> Option<usize> {
        self.tables.iter().position(|t| t.name == name)
    }

    fn problem(&mut self, at: usize, message: String) {
        self.problems.push((at, message));
    }
}

fn is_section(name: &str) -> bool {
    SECTIONS.iter().any(|s| s.name == name)
}

/// The message for a name at the top that is not a plan section.
fn not_a_section(name: &str, table: bool) -> String {
    let tables: Vec<String> = SECTIONS.iter().map(|s| format!("[{}]", s.name)).collect();
    let tables = tables.join(", ");
    if table {
        return format!("unknown table `[{name}]`, expected one of {tables}");
    }
    match FIELDS.iter().find(|f| f.key() == name) {
        Some(f) => format!(
            "`{name}` must be inside a table: `{}` at the top, or `{name}` under `[{}]`",
            f.path,
            f.section()
        ),
        None => format!("unknown key `{name}`; a plan file has the tables {tables}"),
    }
}

/// The message for a table or array where `section.key` should be.
fn not_a_field(section: &str, key: &str, got: &str) -> String {
    let path = format!("{section}.{key}");
    match fields::find(&path) {
        Some(f) => format!("{path} expects {}, got {got}", expects(f.kind())),
        None => {
            let keys: Vec<&str> = fields::in_section(section).map(Field::key).collect();
            format!(
                "unknown key `{path}`; [{section}] takes {}",
                keys.join(", ")
            )
        }
    }
}

/// A scalar as the field's type; the message is the rule it breaks.
fn value_of(field: &Field, kind: ScalarKind, text: &str) -> Result<Value, String> {
    match (field.kind(), kind) {
        (Kind::Float, ScalarKind::Float) => {
            let x: f64 = text.parse().map_err(|_| "is not a float")?;
            // As the toml crate: a finite literal that rounds to infinity is an error.
            if x.is_infinite() && !text.ends_with("inf") {
                return Err("is beyond the largest float".into());
            }
            Ok(Value::Float(x))
        }
        // TOML writes `300` for a whole number; a float field takes it as exactly that.
        (Kind::Float, ScalarKind::Integer(radix)) => Ok(Value::Float(integer(text, radix)? as f64)),
        (Kind::Int { .. }, ScalarKind::Integer(radix)) => match integer(text, radix)? {
            n if n < 0 => Err(format!("expects a whole number of at least 0 (got {n})")),
            n => Ok(Value::Int(n as u64)),
        },
        (Kind::Bool, ScalarKind::Boolean(b)) => Ok(Value::Bool(b)),
        (Kind::Choice(names), ScalarKind::String) => names
            .iter()
            .find(|n| **n == text)
            .map(|n| Value::Choice(n))
            .ok_or_else(|| format!("must be one of {} (got \"{text}\")", names.join(", "))),
        (kind, scalar) => Err(format!(
            "expects {}, got {}",
            expects(kind),
            scalar_name(scalar, text)
        )),
    }
}

/// A TOML integer: 64-bit signed, as TOML 1.0 requires ("an integer that cannot be
/// represented losslessly is an error").
fn integer(digits: &str, radix: toml_parser::decoder::IntegerRadix) -> Result<i64, String> {
    i64::from_str_radix(digits, radix.value())
        .map_err(|_| "is beyond TOML's integer range (-2^63 to 2^63 - 1)".into())
}

/// What a field takes, for "expects …" messages.
fn expects(kind: Kind) -> String {
    match kind {
        Kind::Choice(names) => format!("a string, one of {}", names.join(", ")),
        other => other.describe(),
    }
}

fn type_name(item: &Item<'_>) -> &'static str {
    match (item.kind, item.scalar) {
        (_, Some(scalar)) => scalar_name(scalar, &item.decoded),
        (EventKind::ArrayOpen, _) => "an array",
        (EventKind::InlineTableOpen, _) => "a table",
        _ => "nothing",
    }
}

fn scalar_name(kind: ScalarKind, text: &str) -> &'static str {
    match kind {
        ScalarKind::String => "a string",
        ScalarKind::Integer(_) => "an integer",
        ScalarKind::Float => "a float",
        ScalarKind::Boolean(_) => "a boolean",
        // Told apart by shape: a plan never takes one, so its exact form is not checked.
        ScalarKind::DateTime => match (text.contains('-'), text.contains(':')) {
            (true, true) => "a date-time",
            (true, false) => "a date",
            _ => "a time",
        },
    }
}
