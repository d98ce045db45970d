//! The values the planner hands to JavaScript are the native schedule crate's, bit for bit.
//!
//! Runs in Node under `wasm-bindgen-test-runner` (scripts/test-web.sh). The reference tables
//! are not pasted in: the script first runs the native `lrplan` CLI on every plan in
//! `tests/plans/` and writes `<name>.csv` and `<name>.summary` into the folder named by
//! `LRPLAN_WEB_REFS` at build time; this test reads them through Node's `fs` and compares
//! every step, the fits and the chart envelope by `to_bits`.
#![cfg(target_arch = "wasm32")]

use lrplan_web::Planner;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen(module = "fs")]
extern "C" {
    #[wasm_bindgen(js_name = readFileSync, catch)]
    fn read_file_sync(path: &str, encoding: &str) -> Result<String, JsValue>;
    #[wasm_bindgen(js_name = readdirSync)]
    fn read_dir_sync(path: &str) -> js_sys::Array;
}

/// Every schedule kind, both granularities (fixed and dataset-derived iteration counts),
/// phase jumps, clamps both ways, custom limits and resumed starts.
const PLANS: &[(&str, &str)] = &[
    ("default", include_str!("plans/default.toml")),
    (
        "step_adam_iteration_jump",
        include_str!("plans/step_adam_iteration_jump.toml"),
    ),
    (
        "linear_dataset_resume",
        include_str!("plans/linear_dataset_resume.toml"),
    ),
    (
        "constant_adamw_epoch",
        include_str!("plans/constant_adamw_epoch.toml"),
    ),
    (
        "cos_iteration_custom_limits",
        include_str!("plans/cos_iteration_custom_limits.toml"),
    ),
    (
        "step_epoch_resume",
        include_str!("plans/step_epoch_resume.toml"),
    ),
    (
        "linear_epoch_short",
        include_str!("plans/linear_epoch_short.toml"),
    ),
];

fn native(name: &str, ext: &str) -> String {
    // Read at run time of the build, not pasted in; without it the test must fail, not skip.
    let Some(dir) = option_env!("LRPLAN_WEB_REFS") else {
        panic!(
            "LRPLAN_WEB_REFS (set by scripts/test-web.sh) must name the native reference folder"
        );
    };
    let path = format!("{dir}/{name}.{ext}");
    read_file_sync(&path, "utf8")
        .unwrap_or_else(|e| panic!("cannot read native reference {path}: {e:?}"))
}

struct Row {
    index: u64,
    epoch: u32,
    iteration: u64,
    phase: String,
    batch_size: u32,
    lr: f64,
}

fn rows(csv: &str) -> Vec<Row> {
    csv.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            Row {
                index: f[0].parse().unwrap(),
                epoch: f[1].parse().unwrap(),
                iteration: f[2].parse().unwrap(),
                phase: f[3].into(),
                batch_size: f[4].parse().unwrap(),
                lr: f[5].parse().unwrap(),
            }
        })
        .collect()
}

/// `[init, min]` per phase from the CLI summary's `init_lr_fit X, min_lr_fit Y` lines.
fn native_fits(summary: &str) -> Vec<f64> {
    summary
        .lines()
        .filter_map(|l| l.split_once("init_lr_fit ").map(|(_, rest)| rest))
        .flat_map(|rest| {
            let (init, min) = rest
                .split_once(", min_lr_fit ")
                .expect("summary line shape");
            [
                init.trim().parse::<f64>().unwrap(),
                min.trim().parse::<f64>().unwrap(),
            ]
        })
        .collect()
}

/// The CSV download: every piece the page writes, joined.
fn whole_csv(planner: &Planner) -> String {
    let mut pieces = planner.table_csv().unwrap();
    std::iter::from_fn(|| pieces.next_piece()).collect()
}

fn check(name: &str, text: &str) {
    let mut planner = Planner::new();
    planner
        .load_plan_file(text)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    assert!(
        planner.valid(),
        "{name}: form from the plan file is invalid"
    );

    let csv = native(name, "csv");
    let rows = rows(&csv);
    assert!(!rows.is_empty(), "{name}: empty native table");
    assert_eq!(
        planner.total_steps(),
        rows.len() as f64,
        "{name}: step count"
    );
    // The CSV download, byte for byte.
    assert!(
        whole_csv(&planner) == csv,
        "{name}: CSV differs from `lrplan --format csv`"
    );

    for r in &rows {
        let s = planner
            .step(r.index as f64)
            .unwrap_or_else(|| panic!("{name}: no step {}", r.index));
        assert_eq!(
            (s.epoch, s.iteration, s.phase.as_str(), s.batch_size),
            (r.epoch, r.iteration as f64, r.phase.as_str(), r.batch_size),
            "{name}: step {}",
            r.index
        );
        assert_eq!(
            s.lr.to_bits(),
            r.lr.to_bits(),
            "{name}: lr of step {}",
            r.index
        );
        let lr = planner.lr(r.epoch, r.iteration as u32);
        assert_eq!(
            lr.to_bits(),
            r.lr.to_bits(),
            "{name}: lr({}, {})",
            r.epoch,
            r.iteration
        );
    }
    assert!(
        planner.step(rows.len() as f64).is_none(),
        "{name}: step past the end"
    );

    let fits = planner.fits();
    let expected = native_fits(&native(name, "summary"));
    assert_eq!(fits.len(), expected.len(), "{name}: phase count");
    for (a, b) in fits.iter().zip(&expected) {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{name}: fitted lr {a:e} vs native {b:e}"
        );
    }

    // What the chart draws: each column's lo/hi is exactly the native min/max of its steps.
    for columns in [7, 97, 1000] {
        let env = planner.envelope(columns);
        let mut covered = 0;
        for c in env.chunks(4) {
            let (first, end) = (c[0] as usize, c[1] as usize);
            assert_eq!(first, covered, "{name}: envelope columns must tile the run");
            covered = end;
            let lrs = rows[first..end].iter().map(|r| r.lr);
            let lo = lrs.clone().fold(f64::INFINITY, f64::min);
            let hi = lrs.fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(
                c[2].to_bits(),
                lo.to_bits(),
                "{name}: envelope lo, columns {columns}"
            );
            assert_eq!(
                c[3].to_bits(),
                hi.to_bits(),
                "{name}: envelope hi, columns {columns}"
            );
        }
        assert_eq!(covered, rows.len(), "{name}: envelope covers every step");
    }

    // The page path: the same plan typed into the form gives the same table.
    let (names, values): (Vec<String>, Vec<String>) = planner
        .fields()
        .into_iter()
        .map(|f| (f.name, f.value))
        .unzip();
    let mut typed = Planner::new();
    assert!(
        typed.set_fields(names, values),
        "{name}: form values invalid"
    );
    assert!(
        whole_csv(&typed) == csv,
        "{name}: form round trip changes the table"
    );
    assert!(
        typed.plan_toml() == planner.plan_toml(),
        "{name}: form round trip changes the plan"
    );
}

#[wasm_bindgen_test]
fn every_plan_file_is_checked() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/plans");
    let mut on_disk: Vec<String> = read_dir_sync(dir)
        .iter()
        .filter_map(|f| f.as_string())
        .filter_map(|f| f.strip_suffix(".toml").map(str::to_owned))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = PLANS.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "tests/plans/*.toml and PLANS must list the same plans"
    );
}

#[wasm_bindgen_test]
fn every_plan_matches_the_native_crate_bit_for_bit() {
    for (name, text) in PLANS {
        check(name, text);
    }
}

#[wasm_bindgen_test]
fn invalid_fields_carry_the_schedule_crates_message() {
    let mut planner = Planner::new();
    let before = whole_csv(&planner);
    let ok = planner.set_fields(vec!["lr.init".into()], vec!["-1".into()]);
    assert!(!ok);
    let errors = planner.errors();
    assert!(
        errors.iter().any(|e| e.field == "lr.init"
            && e.message.contains("must be a finite number greater than 0")),
        "{:?}",
        errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
    );
    // The last valid schedule stays.
    assert!(whole_csv(&planner) == before);
}
