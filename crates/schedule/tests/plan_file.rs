//! The plan file: defaults, round trips, and a clear refusal naming the field for bad input.

use lrplan_schedule::plan_file::{from_bytes, from_toml, to_toml};
use lrplan_schedule::{DecayKind, OptimizerKind, Plan, PlanError, UpdateUnit};
use proptest::prelude::*;

mod support;
use support::any_plan;

#[test]
fn an_empty_file_is_the_default_plan() {
    assert_eq!(from_toml("").unwrap(), Plan::default());
    let d = Plan::default();
    assert_eq!(d.optimizer.kind, OptimizerKind::Sgd);
    assert_eq!((d.lr.init, d.lr.min, d.lr.nbs), (1e-2, 1e-4, 64));
    assert_eq!(d.decay.kind, DecayKind::Cos);
    assert_eq!((d.epochs.total, d.phases.freeze_epochs), (300, 50));
    assert_eq!(
        (d.phases.freeze_batch_size, d.phases.unfreeze_batch_size),
        (16, 8)
    );
}

#[test]
fn the_shipped_example_parses() {
    let text = include_str!("../../../examples/plan.toml");
    let plan = from_toml(text).unwrap();
    assert_eq!(plan.optimizer.kind, OptimizerKind::Adam);
    assert_eq!(plan.updates.per, UpdateUnit::Iteration);
}

#[test]
fn partial_files_keep_defaults_for_the_rest() {
    let plan = from_toml("[lr]\ninit = 1e-3\n[optimizer]\nkind = \"adamw\"\n").unwrap();
    assert_eq!(plan.lr.init, 1e-3);
    assert_eq!(plan.optimizer.kind, OptimizerKind::AdamW);
    assert_eq!(plan.lr.min, Plan::default().lr.min);
}

fn violations(text: &str) -> Vec<&'static str> {
    match from_toml(text) {
        Err(PlanError::Invalid(v)) => v.iter().map(|v| v.field).collect(),
        other => panic!("expected an invalid plan, got {other:?}"),
    }
}

#[test]
fn every_bad_field_is_named() {
    assert_eq!(violations("[lr]\ninit = -1.0\nmin = 1e-9"), ["lr.init"]);
    assert_eq!(
        violations("[lr]\ninit = 0.0\nmin = 0.0"),
        ["lr.init", "lr.min"]
    );
    assert_eq!(violations("[lr]\ninit = 1e-3\nmin = 1e-2"), ["lr.min"]);
    assert_eq!(violations("[lr]\ninit = nan"), ["lr.init"]);
    assert_eq!(violations("[lr]\nmin = inf"), ["lr.min"]);
    assert_eq!(violations("[lr]\nnbs = 0"), ["lr.nbs"]);
    assert_eq!(violations("[lr]\nlimit_min = 1.0"), ["lr.limit_min"]);
    assert_eq!(violations("[lr]\nlimit_max = -inf"), ["lr.limit_max"]);
    assert_eq!(
        violations("[epochs]\ntotal = 0"),
        ["epochs.total", "phases.freeze_epochs"]
    );
    assert_eq!(violations("[epochs]\nstart = 300"), ["epochs.start"]);
    assert_eq!(
        violations("[decay]\nkind = \"step\"\nstep_num = 1"),
        ["decay.step_num"]
    );
    assert_eq!(
        violations("[decay]\nkind = \"step\"\nstep_num = 400"),
        ["decay.step_num"],
        "step size below one epoch"
    );
    assert_eq!(
        violations("[decay]\nwarmup_lr_ratio = nan"),
        ["decay.warmup_lr_ratio"]
    );
    assert_eq!(
        violations("[phases]\nfreeze_epochs = 301"),
        ["phases.freeze_epochs"]
    );
    assert_eq!(
        violations("[phases]\nfreeze_batch_size = 0"),
        ["phases.freeze_batch_size"]
    );
    assert_eq!(
        violations("[phases]\nunfreeze_batch_size = 0"),
        ["phases.unfreeze_batch_size"]
    );
    assert_eq!(
        violations("[optimizer]\nmomentum = 1.0"),
        ["optimizer.momentum"]
    );
    assert_eq!(
        violations("[optimizer]\nweight_decay = -1e-4"),
        ["optimizer.weight_decay"]
    );
    assert_eq!(
        violations("[updates]\nper = \"iteration\""),
        ["updates.iters_per_epoch"]
    );
    assert_eq!(
        violations("[updates]\nper = \"iteration\"\ndataset_size = 10"),
        ["updates.dataset_size"],
        "10 images give no full batch of 16"
    );
    let e = from_toml("[lr]\ninit = -1.0\nmin = 1e-9")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lr.init must be a finite number greater than 0 (got -1)"),
        "{e}"
    );
}

fn parse_error(text: &str) -> String {
    match from_toml(text) {
        Err(PlanError::Parse(msg)) => msg,
        other => panic!("{text:?}: expected a parse error, got {other:?}"),
    }
}

#[test]
fn malformed_files_are_parse_errors_naming_line_and_field() {
    for (text, needle) in [
        (
            "[decay]\nkind = \"cosine\"",
            "line 2: decay.kind must be one of cos, step, linear, constant (got \"cosine\")",
        ),
        (
            "[lr]\niint = 1.0",
            "line 2: unknown key `lr.iint`; [lr] takes init, min, nbs, limit_max, limit_min",
        ),
        (
            "[lr]\ninit = \"big\"",
            "line 2: lr.init expects a number, got a string",
        ),
        (
            "[epochs]\ntotal = -3",
            "line 2: epochs.total expects a whole number of at least 0",
        ),
        (
            "[epochs]\ntotal = 2.5",
            "line 2: epochs.total expects a whole number, got a float",
        ),
        (
            "[phases]\nfreeze = 1",
            "line 2: phases.freeze expects true or false, got an integer",
        ),
        ("[model]\n", "line 1: unknown table `[model]`"),
        ("init = 1e-3", "line 1: `init` must be inside a table"),
        ("[lr]\ninit =", "a value is missing"),
    ] {
        let msg = parse_error(text);
        assert!(msg.contains(needle), "{text:?}: {msg}");
    }
}

/// TOML syntax and TOML's table rules: the line (and the column of a syntax error), the field
/// being written, and the rule as the TOML parser states it. Issue 16 lists what the old reader
/// accepted although TOML forbids it, and causes it named wrongly; each is here.
#[test]
fn toml_errors_name_line_column_field_and_rule() {
    for (text, message) in [
        (
            "[lr\n",
            "line 1, column 4: lr: unclosed table, expected `]`",
        ),
        (
            "[lr]\n[lr]\n",
            "line 2: `lr` is defined twice (TOML allows one definition of a table)",
        ),
        (
            "[lr]\ninit = 1e-3\ninit = 1e-3",
            "line 3: `lr.init` is set twice (TOML allows one value per key)",
        ),
        (
            "lr.init = 1e-3\n[lr]\nmin = 1e-5",
            "line 2: `lr` is defined twice (TOML allows one definition of a table)",
        ),
        (
            "lr = { init = 1e-3 }\nlr.min = 1e-5",
            "line 2: `lr` is already defined by `lr = { ... }`; \
             TOML does not let dotted keys add to an inline table",
        ),
        (
            "[lr]\ninit = [1e-3]",
            "line 2: lr.init expects a number, got an array",
        ),
        (
            "[lr]\ninit = 1e-3 1e-4",
            "line 2, column 8: lr.init: string values must be quoted, expected literal string \
             (found `1e-3 1e-4`)",
        ),
        (
            "[lr]\ninit = 1e-3e4",
            "line 2, column 12: lr.init: invalid float, expected nothing (found `e4`)",
        ),
        (
            "[decay]\nkind = \"cos",
            "line 2, column 12: decay.kind: invalid basic string, expected `\"`",
        ),
        (
            "[decay]\nkind = \"cos\" x",
            "line 2, column 14: decay.kind: unexpected key or value, expected newline, `#`",
        ),
        (
            "[lr]\njust words",
            "line 2, column 6: lr.just: key with no value, expected `=`",
        ),
        (
            "[epochs]\ntotal = 1__000",
            "line 2, column 11: epochs.total: `_` may only go between digits (found `_`)",
        ),
        (
            "[epochs]\ntotal = _1000",
            "line 2, column 9: epochs.total: `_` may only go between digits, expected nothing \
             (found `_`)",
        ),
        (
            "[epochs]\ntotal = 0300",
            "line 2, column 9: epochs.total: unexpected leading zero, expected nothing (found `0`)",
        ),
        (
            "[lr]\ninit = .5",
            "line 2, column 8: lr.init: invalid mantissa, expected digits",
        ),
        (
            "[lr]\ninit = 1.",
            "line 2, column 10: lr.init: invalid fraction, expected digits",
        ),
        (
            "[lr]\ninit = 1e_3",
            "line 2, column 10: lr.init: `_` may only go between digits (found `_`)",
        ),
        // An inline table at the top is a table (once: "`lr` must be inside a table").
        ("lr = { init = 1e-3 }\n", ""),
        // A date is a date (once: "not a valid integer").
        (
            "[lr]\ninit = 1979-05-27",
            "line 2: lr.init expects a number, got a date",
        ),
        // A byte-order mark is allowed (once: "expected `key = value`").
        ("\u{feff}[lr]\ninit = 1e-3", ""),
        (
            "[lr]\nnbs = 9223372036854775808",
            "line 2: lr.nbs is beyond TOML's integer range (-2^63 to 2^63 - 1)",
        ),
        (
            "[lr]\ninit = 1e400",
            "line 2: lr.init is beyond the largest float",
        ),
        (
            "[lr]\rinit = 1",
            "line 1, column 6: lr.init: carriage return must be followed by newline, expected newline",
        ),
    ] {
        match message {
            "" => assert!(from_toml(text).is_ok(), "{text:?}"),
            _ => assert_eq!(parse_error(text), message, "{text:?}"),
        }
    }
}

#[test]
fn the_reader_takes_what_toml_allows_in_a_plan() {
    let text = "# comment\n[lr] # trailing\ninit = 1_000e-6 # a comment with \"quotes\"\nmin = 1e-5\n\
                [epochs]\ntotal = +30\n[phases]\nfreeze = false\n[optimizer]\nkind = 'adamw'\n[decay]\nkind = \"st\\u0065p\"\n";
    // A `\u` escape is TOML: "st\u0065p" is "step".
    assert_eq!(from_toml(text).unwrap().decay.kind, DecayKind::Step);
    let text = text.replace("\"st\\u0065p\"", "\"step\" # hash # inside");
    let plan = from_toml(&text).unwrap();
    assert_eq!(plan.lr.init, 1e-3);
    assert_eq!(plan.epochs.total, 30);
    assert_eq!(plan.optimizer.kind, OptimizerKind::AdamW);
    assert_eq!(plan.decay.kind, DecayKind::Step);
    let dotted = from_toml("lr.init = 2e-3\nlr.min = 2e-5\n").unwrap();
    assert_eq!((dotted.lr.init, dotted.lr.min), (2e-3, 2e-5));
    let inline = from_toml("lr = { init = 2e-3, 'min' = 2e-5 }\n\"decay\".kind = '''linear'''");
    let inline = inline.unwrap();
    assert_eq!((inline.lr.init, inline.lr.min), (2e-3, 2e-5));
    assert_eq!(inline.decay.kind, DecayKind::Linear);
}

#[test]
fn bytes_are_utf8_with_or_without_a_byte_order_mark() {
    let plain = from_bytes(b"[lr]\ninit = 2e-3\r\n").unwrap();
    assert_eq!(
        from_bytes(b"\xEF\xBB\xBF[lr]\ninit = 2e-3\r\n").unwrap(),
        plain
    );
    assert_eq!(from_toml("\u{feff}[lr]\ninit = 2e-3").unwrap(), plain);
    let utf16: Vec<u8> = "\u{feff}[lr]\ninit = 2e-3"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let e = from_bytes(&utf16).unwrap_err().to_string();
    assert!(e.contains("UTF-16") && e.contains("must be UTF-8"), "{e}");
    let e = from_bytes(b"[decay]\nkind = \"\xFF\"")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "plan file: line 2, column 9: byte 0xFF is not UTF-8; TOML must be UTF-8"
    );
}

proptest! {
    #[test]
    fn write_then_read_gives_the_same_plan_bit_for_bit(plan in any_plan()) {
        let text = to_toml(&plan);
        let back = from_toml(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        // What we write is real TOML: a full parser reads the same numbers.
        let doc: toml::Table = toml::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        let init = doc["lr"]["init"].as_float().unwrap();
        prop_assert_eq!(init.to_bits(), plan.lr.init.to_bits());
        prop_assert_eq!(back, plan);
        prop_assert_eq!(back.lr.init.to_bits(), plan.lr.init.to_bits());
        prop_assert_eq!(back.lr.min.to_bits(), plan.lr.min.to_bits());
    }

    #[test]
    fn files_written_by_a_standard_toml_writer_read_the_same(plan in any_plan()) {
        let text = toml::to_string(&plan).unwrap();
        let back = from_toml(&text).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        prop_assert_eq!(back, plan);
    }

    #[test]
    fn no_input_makes_the_reader_panic(text in "\\PC{0,200}") {
        let _ = from_toml(&text);
    }
}
