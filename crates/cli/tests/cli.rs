//! The `lrplan` command as a user runs it.

use std::process::Command;

fn lrplan(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lrplan"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn default_plan_prints_summary_and_table() {
    let (ok, out, _) = lrplan(&[]);
    assert!(ok);
    assert!(out.contains("init_lr_fit 2.5e-3"), "{out}");
    assert!(out.contains("phase boundary: epoch 50"), "{out}");
    assert!(out.contains("warm-up: 3 epochs"), "{out}");
    assert!(out.contains("tail: 15 epochs"), "{out}");
    let rows = |phase| {
        out.lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(phase))
            .count()
    };
    assert_eq!((rows("freeze"), rows("unfreeze")), (50, 250));
}

#[test]
fn csv_and_json_list_every_step() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/plan.toml");
    let (ok, csv, err) = lrplan(&[example, "--format", "csv"]);
    assert!(ok, "{err}");
    // 20 epochs of 1000/32 = 31 iterations, then 80 of 1000/16 = 62.
    assert_eq!(csv.lines().count(), 1 + 20 * 31 + 80 * 62);
    let (ok, json, _) = lrplan(&[example, "--format", "json"]);
    assert!(ok);
    let rows: serde_json::Value = serde_json::from_str(&json).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 20 * 31 + 80 * 62);
    for (row, line) in rows.iter().zip(csv.lines().skip(1)) {
        let lr: f64 = line.rsplit(',').next().unwrap().parse().unwrap();
        assert_eq!(row["lr"].as_f64().unwrap().to_bits(), lr.to_bits());
    }
}

#[test]
fn print_default_round_trips() {
    let (ok, text, _) = lrplan(&["--print-default"]);
    assert!(ok);
    let dir = std::env::temp_dir().join(format!("lrplan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("default.toml");
    std::fs::write(&path, text).unwrap();
    let (ok, a, _) = lrplan(&[path.to_str().unwrap(), "--format", "csv"]);
    let (_, b, _) = lrplan(&["--format", "csv"]);
    assert!(ok);
    assert_eq!(a, b);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_names_the_file_and_field_and_fails_cleanly() {
    let dir = std::env::temp_dir().join(format!("lrplan-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "[lr]\ninit = 0.0\n").unwrap();
    let (ok, _, err) = lrplan(&[path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("bad.toml") && err.contains("lr.init must be"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    let (ok, _, err) = lrplan(&["/nonexistent/plan.toml"]);
    assert!(!ok);
    assert!(
        err.contains("cannot read plan file /nonexistent/plan.toml"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_plan_file_is_utf8_with_or_without_a_byte_order_mark() {
    let dir = std::env::temp_dir().join(format!("lrplan-cli-bom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("plan.toml");
    let path_str = path.to_str().unwrap();
    std::fs::write(&path, "\u{feff}[lr]\r\ninit = 2e-3\r\n").unwrap();
    let (ok, with_bom, err) = lrplan(&[path_str, "--format", "csv"]);
    assert!(ok, "{err}");
    std::fs::write(&path, "[lr]\ninit = 2e-3\n").unwrap();
    let (_, without, _) = lrplan(&[path_str, "--format", "csv"]);
    assert_eq!(with_bom, without);
    let utf16: Vec<u8> = "\u{feff}[lr]\ninit = 2e-3\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&path, utf16).unwrap();
    let (ok, _, err) = lrplan(&[path_str]);
    assert!(!ok);
    assert!(err.contains("plan.toml") && err.contains("UTF-16"), "{err}");
    assert!(!err.contains("panicked"));
    std::fs::remove_dir_all(dir).unwrap();
}
