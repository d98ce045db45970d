//! The plan reader reads TOML 1.0 as the `toml` crate does (issue 16): the reference is the
//! `toml` crate of the same parser release deserializing `Plan` with serde, then the plan's own
//! rules. Every spelling TOML allows reads to the same plan, bit for bit; every file the
//! reference refuses, lrplan refuses, and the other way round. One difference is deliberate
//! and tested by name: TOML 1.0 integers are 64-bit signed, and lrplan refuses a larger one
//! where the `toml` crate's serde path would take it for a float or unsigned field.
//!
//!   cargo test -p lrplan-schedule --test toml_conformance

use lrplan_schedule::fields::{FIELDS, SECTIONS, Value};
use lrplan_schedule::plan_file::from_toml;
use lrplan_schedule::{Plan, PlanError};
use proptest::prelude::*;

mod support;
use support::any_plan;

/// The reference reader: the `toml` crate with serde, then `Plan::validate`.
fn reference(text: &str) -> Result<Plan, String> {
    let plan: Plan = toml::from_str(text).map_err(|e| e.to_string())?;
    plan.validate().map_err(|e| e.to_string())?;
    Ok(plan)
}

/// The same plan bit for bit (`==` on floats would equate 0.0 and -0.0).
fn same(a: &Plan, b: &Plan) -> bool {
    FIELDS.iter().all(|f| match (f.get(a), f.get(b)) {
        (Some(Value::Float(x)), Some(Value::Float(y))) => x.to_bits() == y.to_bits(),
        (x, y) => x == y,
    })
}

const BEYOND_I64: &str = "is beyond TOML's integer range";

/// lrplan and the reference give the same verdict, and the same plan when they accept.
fn agree(text: &str) -> Result<(), String> {
    match (from_toml(text), reference(text)) {
        (Ok(a), Ok(b)) if same(&a, &b) => Ok(()),
        (Ok(a), Ok(b)) => Err(format!("different plans:\n{a:?}\n{b:?}")),
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) => Err(format!("lrplan accepts what toml refuses: {e}")),
        (Err(e), Ok(_)) if e.to_string().contains(BEYOND_I64) => Ok(()),
        (Err(e), Ok(_)) => Err(format!("lrplan refuses what toml accepts: {e}")),
    }
}

fn check(text: &str) -> Result<(), TestCaseError> {
    agree(text).map_err(|e| TestCaseError::fail(format!("{e}\n--- file ---\n{text}")))
}

/// Choices for a spelling, read in order; 0 (what proptest shrinks towards) is the plainest.
struct Choices {
    values: Vec<u32>,
    next: usize,
}

impl Choices {
    fn pick(&mut self, n: u32) -> u32 {
        let v = self.values.get(self.next).copied().unwrap_or(0);
        self.next += 1;
        v % n
    }

    fn flag(&mut self) -> bool {
        self.pick(2) == 1
    }
}

/// A key as TOML may write it: bare, quoted, literal, or quoted with an escape.
fn key(name: &str, c: &mut Choices) -> String {
    match c.pick(5) {
        1 => format!("\"{name}\""),
        2 => format!("'{name}'"),
        3 => {
            let first = name.chars().next().unwrap_or('x') as u32;
            format!("\"\\u{first:04X}{}\"", &name[1..])
        }
        _ => name.to_string(),
    }
}

/// Digits with `_` put between two of them, as TOML allows in every number.
fn underscored(digits: &str, c: &mut Choices) -> String {
    let mut out = String::new();
    let mut previous_digit = false;
    for ch in digits.chars() {
        if previous_digit && ch.is_ascii_digit() && c.pick(4) == 1 {
            out.push('_');
        }
        previous_digit = ch.is_ascii_digit();
        out.push(ch);
    }
    out
}

/// A float as any TOML spelling of the same decimal value, so it reads to the same bits.
fn float(x: f64, c: &mut Choices) -> String {
    let sci = format!("{x:e}"); // shortest round-trip digits: "1.25e-3"
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut s = match c.pick(5) {
        // Integral values may be written as integers, in any base.
        1 if x.fract() == 0.0 && x.abs() < 1e15 => match c.pick(3) {
            0 => format!("{}", x as i64),
            1 => format!("0x{:X}", x as i64),
            _ => format!("0o{:o}", x as i64),
        },
        1 | 2 => format!("{int}{frac}e{}", exp - frac.len() as i32),
        3 => {
            let dot = if frac.is_empty() { "" } else { "." };
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{int}{dot}{frac}E{sign}{:03}", exp.abs())
        }
        _ => {
            let plain = format!("{x:?}");
            if plain.contains(['.', 'e']) {
                plain
            } else {
                format!("{plain}.0")
            }
        }
    };
    if !s.starts_with("0x") && !s.starts_with("0o") {
        s = underscored(&s, c);
    }
    if c.flag() && !s.starts_with('-') && !s.starts_with("0x") && !s.starts_with("0o") {
        s.insert(0, '+');
    }
    s
}

fn integer(n: u64, c: &mut Choices) -> String {
    match c.pick(5) {
        1 => format!("0x{n:x}"),
        2 => format!("0x00{n:X}"),
        3 => format!("0o{n:o}"),
        4 => format!("0b{n:b}"),
        _ => {
            let s = underscored(&n.to_string(), c);
            if c.flag() { format!("+{s}") } else { s }
        }
    }
}

fn string(s: &str, c: &mut Choices) -> String {
    match c.pick(7) {
        1 => format!("'{s}'"),
        2 => format!("\"\"\"{s}\"\"\""),
        3 => format!("'''{s}'''"),
        4 => format!("\"\"\"\n{s}\"\"\""), // the newline after the opening quotes is dropped
        5 => {
            let escaped: String = s
                .chars()
                .map(|ch| format!("\\u{:04x}", ch as u32))
                .collect();
            format!("\"{escaped}\"")
        }
        6 if s.len() > 1 => format!("\"\"\"{}\\\n    {}\"\"\"", &s[..1], &s[1..]), // line-ending backslash
        _ => format!("\"{s}\""),
    }
}

fn value(v: Value, c: &mut Choices) -> String {
    match v {
        Value::Float(x) => float(x, c),
        Value::Int(n) => integer(n, c),
        Value::Bool(b) => b.to_string(),
        Value::Choice(name) => string(name, c),
    }
}

fn equals(c: &mut Choices) -> &'static str {
    [" = ", "=", "\t=  ", " =\t"][c.pick(4) as usize]
}

fn comment(c: &mut Choices) -> &'static str {
    ["", " # note", "\t# \"quoted\" # 'x' [lr] = é", " #"][c.pick(4) as usize]
}

/// `plan` written as a TOML file, each table as a `[header]`, dotted keys at the top or an
/// inline table, with quoted keys, every number and string spelling, comments, blank lines,
/// CRLF or LF line ends per line, fields in any order, defaults written or left out, and a
/// byte-order mark or not.
fn spell(plan: &Plan, c: &mut Choices) -> String {
    let mut top: Vec<String> = Vec::new();
    let mut tables: Vec<String> = Vec::new();
    let mut sections: Vec<&str> = SECTIONS.iter().map(|s| s.name).collect();
    let rotate = c.pick(sections.len() as u32) as usize;
    sections.rotate_left(rotate);
    for section in sections {
        let mut entries: Vec<(String, String)> = Vec::new();
        for f in FIELDS.iter().filter(|f| f.section() == section) {
            let Some(v) = f.get(plan) else { continue };
            if f.get(&Plan::default()) == Some(v) && c.flag() {
                continue; // a default may be left out
            }
            entries.push((key(f.key(), c), value(v, c)));
        }
        let rotate = c.pick(entries.len().max(1) as u32) as usize % entries.len().max(1);
        entries.rotate_left(rotate);
        let name = key(section, c);
        match c.pick(3) {
            1 => {
                for (k, v) in entries {
                    let dot = [".", " . "][c.pick(2) as usize];
                    top.push(format!("{name}{dot}{k}{}{v}{}", equals(c), comment(c)));
                }
            }
            2 => {
                let inner: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{k}{}{v}", equals(c)))
                    .collect();
                top.push(format!("{name} = {{ {} }}{}", inner.join(", "), comment(c)));
            }
            _ => {
                let header =
                    [format!("[{name}]"), format!("[ {name} ]")][c.pick(2) as usize].clone();
                tables.push(format!("{header}{}", comment(c)));
                for (k, v) in entries {
                    let indent = ["", "  ", "\t"][c.pick(3) as usize];
                    tables.push(format!("{indent}{k}{}{v}{}", equals(c), comment(c)));
                }
            }
        }
        if c.flag() {
            tables.push(String::new());
        }
    }
    let mut text = String::new();
    if c.flag() {
        text.push('\u{feff}');
    }
    if c.flag() {
        text.push_str("# a plan file\n");
    }
    for line in top.iter().chain(&tables) {
        text.push_str(line);
        text.push_str(["\n", "\r\n"][c.pick(2) as usize]);
    }
    text
}

fn choices() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(any::<u32>(), 0..400)
}

/// Characters that change what TOML text means, for mutations.
const SIGNIFICANT: &[char] = &[
    '[', ']', '{', '}', '=', '.', ',', '"', '\'', '#', '\n', '\r', ' ', '\t', '_', '+', '-', 'e',
    'E', '0', '1', '9', 'x', 'o', 'b', '\\', 'u', 'a', ':', 'T', 'Z', 'i', 'n', 'f', '\u{feff}',
    '\u{0}', '\u{7f}', 'é',
];

/// Applies an edit picked by `what` at `at` (both taken modulo the sizes).
fn mutate(text: &str, what: u32, at: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = if chars.is_empty() {
        0
    } else {
        at % (chars.len() + 1)
    };
    let mut out = chars.clone();
    match what % 4 {
        0 | 1 => out.insert(at, SIGNIFICANT[(what as usize / 4) % SIGNIFICANT.len()]),
        2 if at < chars.len() => {
            out.remove(at);
        }
        _ => {
            // Repeat a line: a key or table defined twice.
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            if !lines.is_empty() {
                let line = lines[at % lines.len()];
                let mut s: String = text.to_string();
                s.push_str(if s.ends_with('\n') || s.is_empty() {
                    ""
                } else {
                    "\n"
                });
                s.push_str(line);
                return s;
            }
        }
    }
    out.into_iter().collect()
}

/// Plan-shaped lines from parts that are often wrong: keys at the wrong level or unknown,
/// and values of every TOML kind, valid or not.
fn plan_shaped() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "lr.init",
        "lr.min",
        "init",
        "lr",
        "decay.kind",
        "kind",
        "lr.nbs",
        "epochs.total",
        "updates.dataset_size",
        "phases.freeze",
        "[lr]",
        "[decay]",
        "[[lr]]",
        "[lr.x]",
        "x",
        "\"lr\".init",
        "lr.init.x",
        "optimizer",
    ]);
    let values = prop::sample::select(vec![
        "1e-3",
        "3",
        "0x1F",
        "1__0",
        "0300",
        ".5",
        "1.",
        "1e_3",
        "inf",
        "nan",
        "-0",
        "+0.0",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e400",
        "\"step\"",
        "'st\\u0065p'",
        "\"st\\u0065p\"",
        "\"\\e\"",
        "\"\\x41\"",
        "true",
        "True",
        "1979-05-27",
        "07:32:00",
        "07:32",
        "[1, 2]",
        "{}",
        "{ init = 1e-3 }",
        "{ init = 1e-3, }",
        "{ init = 1e-3, init = 2e-3 }",
        "\"\"\"\nlinear\"\"\"",
        "''",
        "{ min = 1e-5, kind = \"adam\" }",
    ]);
    prop::collection::vec((keys, values), 0..6).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(k, v)| {
                if k.starts_with('[') {
                    format!("{k}\n")
                } else {
                    format!("{k} = {v}\n")
                }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_spelling_of_a_plan_reads_to_that_plan_as_toml_reads_it(
        plan in any_plan(),
        values in choices(),
    ) {
        let text = spell(&plan, &mut Choices { values, next: 0 });
        let read = from_toml(&text)
            .map_err(|e| TestCaseError::fail(format!("{e}\n--- file ---\n{text}")))?;
        prop_assert!(same(&read, &plan), "{read:?}\n--- file ---\n{text}");
        check(&text)?;
    }

    #[test]
    fn an_edited_plan_file_is_refused_exactly_when_toml_refuses_it(
        plan in any_plan(),
        values in choices(),
        edits in prop::collection::vec((any::<u32>(), any::<usize>()), 1..4),
    ) {
        let mut text = spell(&plan, &mut Choices { values, next: 0 });
        for (what, at) in edits {
            text = mutate(&text, what, at);
        }
        check(&text)?;
    }

    #[test]
    fn plan_shaped_lines_are_refused_exactly_when_toml_refuses_them(text in plan_shaped()) {
        check(&text)?;
    }

    #[test]
    fn any_text_is_refused_exactly_when_toml_refuses_it(
        text in "[\\[\\]{}=.,\"'#\n _a-z0-9+:\\-\\\\]{0,80}",
    ) {
        check(&text)?;
    }
}

/// Hand-written cases from the TOML 1.0.0 specification: `(file, valid TOML)`. Each is checked
/// three ways: the `toml` crate's verdict on the file as a plain table is the specification's
/// (so the reference is right), lrplan agrees with the reference on the plan, and a file that
/// is not TOML is refused as a TOML error (`line …, column …`) or a TOML table rule.
const CORPUS: &[(&str, bool)] = &[
    // Integers: `_` only between digits, no leading zeros, lowercase prefixes, no sign on them.
    ("[epochs]\ntotal = 1_000", true),
    ("[epochs]\ntotal = 1__000", false),
    ("[epochs]\ntotal = _1000", false),
    ("[epochs]\ntotal = 1000_", false),
    ("[epochs]\ntotal = 0300", false),
    ("[epochs]\ntotal = +300", true),
    ("[epochs]\ntotal = 0x12C", true),
    ("[epochs]\ntotal = 0x12c", true),
    ("[epochs]\ntotal = 0x012C", true),
    ("[epochs]\ntotal = 0X12C", false),
    ("[epochs]\ntotal = +0x12C", false),
    ("[epochs]\ntotal = 0x_12C", false),
    ("[epochs]\ntotal = 0o454", true),
    ("[epochs]\ntotal = 0b100101100", true),
    ("[epochs]\ntotal = 0b102", false),
    ("[epochs]\ntotal = 0b-_", false), // once a debug-build panic in toml_parser 1.0.4
    ("[epochs]\nstart = -0", true),
    ("[epochs]\nstart = 00", false),
    ("[lr]\nnbs = 9223372036854775807", true),
    ("[lr]\nnbs = -9223372036854775808", true),
    ("[lr]\nnbs = 9223372036854775808", false),
    // Floats: digits on both sides of the point, `_` between digits, exponents, inf and nan.
    ("[lr]\ninit = .5", false),
    ("[lr]\ninit = 1.", false),
    ("[lr]\ninit = 1e_3", false),
    ("[lr]\ninit = 1_e3", false),
    ("[lr]\ninit = 1e3_", false),
    ("[lr]\ninit = 00.5", false),
    ("[lr]\ninit = 5e-3", true),
    ("[lr]\ninit = 5E-3", true),
    ("[lr]\ninit = 5e-0_3", true),
    ("[lr]\ninit = 0.00_5", true),
    ("[lr]\ninit = 1.5e-3", true),
    ("[lr]\ninit = +1.5e-3", true),
    ("[lr]\ninit = -0.0", true),
    ("[lr]\ninit = inf", true),
    ("[lr]\ninit = +inf", true),
    ("[lr]\ninit = -nan", true),
    ("[lr]\ninit = Inf", false),
    ("[lr]\ninit = NaN", false),
    ("[lr]\ninit = infinity", false),
    ("[lr]\ninit = 1e400", false),
    ("[optimizer]\nweight_decay = 0", true),
    // Strings: four kinds, escapes (`\u`, `\U`; no `\e` or `\x`: TOML 1.1), no raw newlines
    // or control characters in single-line ones.
    ("[decay]\nkind = \"step\"", true),
    ("[decay]\nkind = 'step'", true),
    ("[decay]\nkind = \"\"\"step\"\"\"", true),
    ("[decay]\nkind = '''step'''", true),
    ("[decay]\nkind = \"\"\"\nstep\"\"\"", true),
    ("[decay]\nkind = \"\"\"st\\\n   ep\"\"\"", true),
    ("[decay]\nkind = \"st\\u0065p\"", true),
    ("[decay]\nkind = \"st\\U00000065p\"", true),
    ("[decay]\nkind = 'st\\u0065p'", true),
    ("[decay]\nkind = \"st\\x65p\"", false),
    ("[decay]\nkind = \"st\\ep\"", false),
    ("[decay]\nkind = \"st\\u006p\"", false),
    ("[decay]\nkind = \"\\uD800\"", false),
    ("[decay]\nkind = \"step", false),
    ("[decay]\nkind = 'step", false),
    ("[decay]\nkind = \"st\nep\"", false),
    ("[decay]\nkind = \"st\tep\"", true),
    ("[decay]\nkind = \"st\u{1}ep\"", false),
    // Keys: quoted and bare are the same key; dotted keys; whitespace around dots and in
    // headers; an empty quoted key is a key, an empty bare one is not.
    ("[\"lr\"]\ninit = 1e-3", true),
    ("['lr']\n'init' = 1e-3", true),
    ("[ lr ]\n  init = 1e-3", true),
    ("lr . init = 1e-3", true),
    ("\"lr\".\"init\" = 1e-3", true),
    ("[lr]\n\"in\\u0069t\" = 1e-3", true),
    ("[lr]\n= 1e-3", false),
    ("[lr]\n\"\" = 1e-3", true),
    ("[lr]\nin it = 1", false),
    ("[lr]\ninit. = 1", false),
    ("[lr.]\n", false),
    ("[]\n", false),
    // Tables: inline (one line, no trailing comma in 1.0), dotted, headers; nothing defined
    // twice; an inline table is closed; arrays of tables.
    ("lr = { init = 1e-3, min = 1e-5 }", true),
    ("lr = {}", true),
    ("lr = { init = 1e-3, }", false),
    ("lr = { init = 1e-3,\n min = 1e-5 }", false),
    ("lr = { init = 1e-3 }\n[lr]", false),
    ("lr.init = 1e-3\n[lr]\nmin = 1e-5", false),
    ("[lr]\n[lr]", false),
    ("[lr]\ninit = 1e-3\ninit = 2e-3", false),
    ("[lr]\ninit = 1e-3\n\"init\" = 2e-3", false),
    ("lr = { init = 1e-3, init = 2e-3 }", false),
    ("lr = { init = 1e-3 }\nlr.min = 1e-5", false),
    ("lr.init = 1e-3\nlr.min = 1e-5", true),
    ("lr.init = 1e-3\nlr = { min = 1e-5 }", false),
    ("[[lr]]\ninit = 1e-3", true),
    ("[lr]\n[[lr]]", false),
    ("[lr.sub]\n[lr]\ninit = 1e-3", true),
    ("[lr]\ninit.x = 1", true),
    ("[lr]\ninit = 1\ninit.x = 2", false),
    ("lr = [1, 'x']", true),
    ("lr = [ { init = 1 } ]", true),
    // Dates and times (never a plan value; TOML 1.0 needs the seconds).
    ("[lr]\ninit = 1979-05-27", true),
    ("[lr]\ninit = 1979-05-27T07:32:00Z", true),
    ("[lr]\ninit = 1979-05-27 07:32:00", true),
    ("[lr]\ninit = 07:32:00", true),
    ("[lr]\ninit = 07:32", false),
    ("[lr]\ninit = 1979-13-27", false),
    // Whitespace, comments, line ends and the byte-order mark.
    ("[lr]\r\ninit = 1e-3\r\n", true),
    ("[lr]\rinit = 1e-3", false),
    ("\u{feff}[lr]\ninit = 1e-3", true),
    ("\u{feff}\u{feff}[lr]", false),
    ("[lr] # c\ninit = 1e-3 # c", true),
    ("[lr]\ninit = 1e-3 # \u{7f}", false),
    ("[lr]\ninit = 1e-3 # \u{1}", false),
    ("[lr]\n\tinit\t=\t1e-3", true),
    ("[lr]\ninit = 1e-3\u{0}", false),
    // Values that are missing or of no TOML type.
    ("[lr]\ninit =", false),
    ("[lr]\ninit = # c", false),
    ("[phases]\nfreeze = false", true),
    ("[phases]\nfreeze = False", false),
    ("[phases]\nfreeze = 'false'", true),
    ("[phases]\nfreeze = TRUE", false),
];

#[test]
fn the_toml_spec_corpus_reads_as_toml_reads_it() {
    for &(text, valid) in CORPUS {
        let table = toml::from_str::<toml::Table>(text);
        assert_eq!(
            table.is_ok(),
            valid,
            "the toml crate on {text:?}: {table:?}"
        );
        agree(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        if !valid {
            match from_toml(text) {
                Err(PlanError::Parse(m)) => assert!(
                    m.contains(", column ")
                        || m.contains("(TOML allows")
                        || m.contains("TOML does not")
                        || m.contains(BEYOND_I64)
                        || m.contains("beyond the largest float")
                        || m.contains("got a date")
                        || m.contains("got a time"),
                    "{text:?}: not named as a TOML error: {m}"
                ),
                other => panic!("{text:?}: expected a parse error, got {other:?}"),
            }
        }
    }
}

/// The one deliberate difference: TOML 1.0 says an integer that does not fit 64 signed bits
/// is an error; the `toml` crate's serde path takes it for a float or unsigned field.
#[test]
fn integers_beyond_64_signed_bits_are_refused_as_toml_1_0_says() {
    let text = "[lr]\ninit = 9223372036854775808";
    assert!(
        reference(text).is_ok(),
        "the toml crate's serde path takes it"
    );
    assert!(
        toml::from_str::<toml::Table>(text).is_err(),
        "as a TOML value it is refused"
    );
    let e = from_toml(text).unwrap_err().to_string();
    assert!(e.contains(BEYOND_I64), "{e}");
}
