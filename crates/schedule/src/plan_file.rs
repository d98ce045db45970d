//! The plan file: TOML, because people edit it by hand. The page downloads it, the trainer
//! reads it, and both go through these two functions, so the format has one definition.
//!
//! Every key is optional and defaults to the original's value; unknown keys are refused so a
//! typo does not silently fall back to a default. Floats are written in Rust's shortest
//! round-trip form, so a plan survives write → read bit for bit.
//!
//! The reader handles the part of TOML a plan uses — `[section]` tables, `key = value` with
//! strings, integers, floats and booleans, comments — and refuses the rest (arrays, inline
//! tables, dates) by name. A full TOML parser with serde costs the page about 57 KB gzipped,
//! more than a third of its whole download budget; this reader costs a few, and its messages
//! name the line and the plan field.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::error::PlanError;
use crate::plan::{DecayKind, OptimizerKind, Plan, UpdateUnit};

/// The tables of a plan file and the keys each takes, for lookups and for error messages.
const TABLES: [(&str, &[&str]); 6] = [
    ("optimizer", &["kind", "momentum", "weight_decay"]),
    ("lr", &["init", "min", "nbs", "limit_max", "limit_min"]),
    (
        "decay",
        &[
            "kind",
            "warmup_iters_ratio",
            "warmup_lr_ratio",
            "no_aug_iter_ratio",
            "step_num",
        ],
    ),
    ("epochs", &["total", "start"]),
    (
        "phases",
        &[
            "freeze",
            "freeze_epochs",
            "freeze_batch_size",
            "unfreeze_batch_size",
        ],
    ),
    (
        "updates",
        &["per", "iters_per_epoch", "dataset_size", "drop_last"],
    ),
];

/// A TOML scalar.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a boolean",
        }
    }
}

/// Parses and validates a plan file.
pub fn from_toml(text: &str) -> Result<Plan, PlanError> {
    let mut plan = Plan::default();
    let mut table: Option<&str> = None;
    let mut seen_tables: Vec<&str> = Vec::new();
    let mut seen_keys: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let err = |msg: String| PlanError::Parse(format!("line {n}: {msg}"));
        let line = strip_comment(raw).map_err(err)?.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if rest.starts_with('[') {
                return Err(err(
                    "arrays of tables ([[...]]) are not part of a plan file".into(),
                ));
            }
            let name = rest
                .strip_suffix(']')
                .ok_or_else(|| err("a table header needs a closing `]`".into()))?
                .trim();
            let (known, _) = TABLES.iter().find(|(t, _)| *t == name).ok_or_else(|| {
                err(format!(
                    "unknown table `[{name}]`, expected one of {}",
                    table_list()
                ))
            })?;
            if seen_tables.contains(known) {
                return Err(err(format!("table `[{name}]` appears twice")));
            }
            seen_tables.push(known);
            table = Some(known);
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| err(format!("expected `key = value`, found `{line}`")))?;
        let key = key.trim();
        if key.is_empty()
            || !key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return Err(err(format!("`{key}` is not a plan key")));
        }
        let path = match table {
            Some(t) => format!("{t}.{key}"),
            None => key.to_string(),
        };
        let Some((t, k)) = path.split_once('.') else {
            return Err(err(format!(
                "`{key}` must be inside a table ({}) or written as `table.{key}`",
                table_list()
            )));
        };
        let Some((_, keys)) = TABLES.iter().find(|(name, _)| *name == t) else {
            return Err(err(format!(
                "unknown table `{t}` in `{path}`, expected one of {}",
                table_list()
            )));
        };
        if !keys.contains(&k) {
            return Err(err(format!(
                "unknown key `{path}`; [{t}] takes {}",
                keys.join(", ")
            )));
        }
        if seen_keys.contains(&path) {
            return Err(err(format!("`{path}` is set twice")));
        }
        let value = parse_value(value.trim()).map_err(|m| err(format!("{path}: {m}")))?;
        assign(&mut plan, &path, value).map_err(|m| err(format!("{path} {m}")))?;
        seen_keys.push(path);
    }
    plan.validate()?;
    Ok(plan)
}

fn table_list() -> String {
    let names: Vec<String> = TABLES.iter().map(|(t, _)| format!("[{t}]")).collect();
    names.join(", ")
}

/// The line without its `# comment`, minding `#` inside strings.
fn strip_comment(line: &str) -> Result<&str, String> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => return Ok(&line[..i]),
            None => {}
        }
    }
    match quote {
        Some(_) => Err("a string is not closed on its line".into()),
        None => Ok(line),
    }
}

fn parse_value(s: &str) -> Result<Value, String> {
    if let Some(body) = s.strip_prefix('"') {
        let body = body
            .strip_suffix('"')
            .filter(|b| !b.ends_with('\\') || b.ends_with("\\\\"))
            .ok_or("the string must end with `\"` and nothing may follow it")?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    other => {
                        return Err(format!("unsupported escape `\\{}`", other.unwrap_or(' ')));
                    }
                },
                '"' => return Err("nothing may follow a closing `\"`".into()),
                c => out.push(c),
            }
        }
        return Ok(Value::Str(out));
    }
    if let Some(body) = s.strip_prefix('\'') {
        let body = body
            .strip_suffix('\'')
            .filter(|b| !b.contains('\''))
            .ok_or("the string must end with `'` and nothing may follow it")?;
        return Ok(Value::Str(body.to_string()));
    }
    match s {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "inf" | "+inf" => return Ok(Value::Float(f64::INFINITY)),
        "-inf" => return Ok(Value::Float(f64::NEG_INFINITY)),
        "nan" | "+nan" | "-nan" => return Ok(Value::Float(f64::NAN)),
        "" => return Err("a value is missing after `=`".into()),
        _ => {}
    }
    if s.starts_with('[') || s.starts_with('{') {
        return Err("arrays and inline tables are not part of a plan file".into());
    }
    let digits: String = s.chars().filter(|&c| c != '_').collect();
    let numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if !numeric {
        return Err(format!(
            "`{s}` is not a number, a boolean or a quoted string"
        ));
    }
    if digits.contains(['.', 'e', 'E']) {
        digits
            .parse::<f64>()
            .map(Value::Float)
            .map_err(|_| format!("`{s}` is not a valid float"))
    } else {
        digits
            .parse::<i64>()
            .map(Value::Int)
            .map_err(|_| format!("`{s}` is not a valid integer"))
    }
}

/// Stores `value` at `path`, checking its type. Range rules are `Plan::validate`'s job.
fn assign(plan: &mut Plan, path: &str, value: Value) -> Result<(), String> {
    let o = &mut plan.optimizer;
    let lr = &mut plan.lr;
    let d = &mut plan.decay;
    let e = &mut plan.epochs;
    let p = &mut plan.phases;
    let u = &mut plan.updates;
    match path {
        "optimizer.kind" => {
            let name = string(&value)?;
            o.kind = OptimizerKind::from_name(name)
                .ok_or_else(|| format!("must be one of sgd, adam, adamw (got \"{name}\")"))?;
        }
        "optimizer.momentum" => o.momentum = float(&value)?,
        "optimizer.weight_decay" => o.weight_decay = float(&value)?,
        "lr.init" => lr.init = float(&value)?,
        "lr.min" => lr.min = float(&value)?,
        "lr.nbs" => lr.nbs = whole(&value)?,
        "lr.limit_max" => lr.limit_max = Some(float(&value)?),
        "lr.limit_min" => lr.limit_min = Some(float(&value)?),
        "decay.kind" => {
            let name = string(&value)?;
            d.kind = DecayKind::from_name(name).ok_or_else(|| {
                format!("must be one of cos, step, linear, constant (got \"{name}\")")
            })?;
        }
        "decay.warmup_iters_ratio" => d.warmup_iters_ratio = float(&value)?,
        "decay.warmup_lr_ratio" => d.warmup_lr_ratio = float(&value)?,
        "decay.no_aug_iter_ratio" => d.no_aug_iter_ratio = float(&value)?,
        "decay.step_num" => d.step_num = whole(&value)?,
        "epochs.total" => e.total = whole(&value)?,
        "epochs.start" => e.start = whole(&value)?,
        "phases.freeze" => p.freeze = boolean(&value)?,
        "phases.freeze_epochs" => p.freeze_epochs = whole(&value)?,
        "phases.freeze_batch_size" => p.freeze_batch_size = whole(&value)?,
        "phases.unfreeze_batch_size" => p.unfreeze_batch_size = whole(&value)?,
        "updates.per" => {
            u.per = match string(&value)? {
                "epoch" => UpdateUnit::Epoch,
                "iteration" => UpdateUnit::Iteration,
                other => {
                    return Err(format!(
                        "must be \"epoch\" or \"iteration\" (got \"{other}\")"
                    ));
                }
            }
        }
        "updates.iters_per_epoch" => u.iters_per_epoch = Some(whole(&value)?),
        "updates.dataset_size" => u.dataset_size = Some(whole(&value)?),
        "updates.drop_last" => u.drop_last = boolean(&value)?,
        // `from_toml` only passes keys listed in TABLES, and every one is matched above.
        _ => return Err("is not a plan key".into()),
    }
    Ok(())
}

fn float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(x) => Ok(*x),
        // TOML writes `300` for a whole number; a float field takes it as exactly that.
        Value::Int(i) => Ok(*i as f64),
        other => Err(format!("expects a number, got {}", other.kind())),
    }
}

fn whole<T: TryFrom<i64>>(v: &Value) -> Result<T, String> {
    match v {
        Value::Int(i) => T::try_from(*i)
            .map_err(|_| format!("expects a whole number of at least 0 within range (got {i})")),
        other => Err(format!("expects a whole number, got {}", other.kind())),
    }
}

fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        other => Err(format!("expects true or false, got {}", other.kind())),
    }
}

fn string(v: &Value) -> Result<&str, String> {
    match v {
        Value::Str(s) => Ok(s),
        other => Err(format!("expects a quoted string, got {}", other.kind())),
    }
}

/// Writes a plan as a commented TOML file that [`from_toml`] reads back to the same plan.
pub fn to_toml(plan: &Plan) -> String {
    let o = &plan.optimizer;
    let lr = &plan.lr;
    let d = &plan.decay;
    let e = &plan.epochs;
    let p = &plan.phases;
    let u = &plan.updates;
    let limit = |name: &str, v: Option<f64>| match v {
        Some(x) => format!("{name} = {}\n", toml_float(x)),
        None => format!("# {name} = ...   (absent: the optimizer's default)\n"),
    };
    let mut out = String::new();
    out.push_str("# lrplan plan file: read by `trainer train --plan` and by the planner page.\n");
    out.push_str(
        "# Every key is optional; an absent key takes the default shown in the README.\n\n",
    );
    out.push_str("[optimizer]\n");
    out.push_str(&format!(
        "kind = \"{}\"              # sgd | adam | adamw\n",
        o.kind.name()
    ));
    out.push_str(&format!(
        "momentum = {}           # SGD momentum (Nesterov), Adam beta1\n",
        toml_float(o.momentum)
    ));
    out.push_str(&format!(
        "weight_decay = {}\n\n",
        toml_float(o.weight_decay)
    ));
    out.push_str("[lr]\n");
    out.push_str("# Fitted per phase: min(max(bs / nbs * init, limit_min), limit_max);\n");
    out.push_str("# min uses limit_min * 1e-2 and limit_max * 1e-2.\n");
    out.push_str(&format!("init = {}\n", toml_float(lr.init)));
    out.push_str(&format!("min = {}\n", toml_float(lr.min)));
    out.push_str(&format!("nbs = {}\n", lr.nbs));
    out.push_str(&limit("limit_max", lr.limit_max));
    out.push_str(&limit("limit_min", lr.limit_min));
    out.push_str("\n[decay]\n");
    out.push_str(&format!(
        "kind = \"{}\"              # cos | step | linear | constant\n",
        d.kind.name()
    ));
    out.push_str(&format!(
        "warmup_iters_ratio = {}  # warm-up epochs = min(max(ratio * total, 1), 3)\n",
        toml_float(d.warmup_iters_ratio)
    ));
    out.push_str(&format!(
        "warmup_lr_ratio = {}     # warm-up starts at max(ratio * lr, 1e-6)\n",
        toml_float(d.warmup_lr_ratio)
    ));
    out.push_str(&format!(
        "no_aug_iter_ratio = {}   # tail epochs = min(max(ratio * total, 1), 15)\n",
        toml_float(d.no_aug_iter_ratio)
    ));
    out.push_str(&format!(
        "step_num = {}               # step decay: number of distinct values\n\n",
        d.step_num
    ));
    out.push_str("[epochs]\n");
    out.push_str(&format!("total = {}\n", e.total));
    out.push_str(&format!("start = {}\n\n", e.start));
    out.push_str("[phases]\n");
    out.push_str(&format!(
        "freeze = {}              # train a frozen-backbone phase first\n",
        p.freeze
    ));
    out.push_str(&format!("freeze_epochs = {}\n", p.freeze_epochs));
    out.push_str(&format!("freeze_batch_size = {}\n", p.freeze_batch_size));
    out.push_str(&format!(
        "unfreeze_batch_size = {}\n\n",
        p.unfreeze_batch_size
    ));
    out.push_str("[updates]\n");
    out.push_str(&format!(
        "per = \"{}\"               # epoch | iteration\n",
        match u.per {
            UpdateUnit::Epoch => "epoch",
            UpdateUnit::Iteration => "iteration",
        }
    ));
    match (u.iters_per_epoch, u.dataset_size) {
        (Some(n), _) => out.push_str(&format!("iters_per_epoch = {n}\n")),
        (None, Some(n)) => out.push_str(&format!("dataset_size = {n}\n")),
        (None, None) => out
            .push_str("# iters_per_epoch = 100   (or dataset_size = N: per-iteration needs one)\n"),
    }
    out.push_str(&format!(
        "drop_last = {}          # with dataset_size: floor (true) or ceil (false)\n",
        u.drop_last
    ));
    out
}

/// A TOML float that parses back to the same bits: Rust's shortest round-trip digits, with a
/// `.0` where Rust would print an integer (TOML would read that as an integer).
fn toml_float(x: f64) -> String {
    let s = format!("{x:?}");
    if s.contains(['.', 'e', 'E', 'n', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}
