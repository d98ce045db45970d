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

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("lrplan-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `--epochs` rows: (epoch, phase, batch, lr) after the table's header.
fn epoch_rows(summary: &str) -> Vec<(String, String, String, f64)> {
    let table = summary
        .split("\nepoch  phase     batch  lr\n")
        .nth(1)
        .unwrap();
    table
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f[0].into(), f[1].into(), f[2].into(), f[3].parse().unwrap())
        })
        .collect()
}

#[test]
fn epochs_lists_the_first_step_of_every_epoch_as_the_csv_has_it() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/plan.toml");
    let (ok, summary, err) = lrplan(&[example, "--epochs"]);
    assert!(ok, "{err}");
    let (_, csv, _) = lrplan(&[example, "--format", "csv"]);
    let firsts: Vec<(String, String, String, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[2] == "0")
        .map(|f| (f[1].into(), f[3].into(), f[4].into(), f[5].parse().unwrap()))
        .collect();
    let rows = epoch_rows(&summary);
    assert_eq!(rows.len(), 100);
    for (row, first) in rows.iter().zip(&firsts) {
        assert_eq!((&row.0, &row.1, &row.2), (&first.0, &first.1, &first.2));
        assert_eq!(row.3.to_bits(), first.3.to_bits(), "epoch {}", row.0);
    }
}

#[test]
fn epochs_does_not_walk_every_step() {
    // 10,000 epochs of 100,000,000 iterations: 10^12 steps, days to walk. The rows are
    // computed directly, so this is 10,000 rows. The deadline only stops a hang (the rows take
    // milliseconds); it is not a speed measurement.
    let dir = temp_dir("epochs");
    let path = dir.join("long.toml");
    std::fs::write(
        &path,
        "[epochs]\ntotal = 10000\n[phases]\nfreeze_epochs = 5000\n\
         [updates]\nper = \"iteration\"\niters_per_epoch = 100000000\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_lrplan"))
        .args([path.to_str().unwrap(), "--epochs"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let reader = std::thread::spawn({
        let mut stdout = child.stdout.take().unwrap();
        move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("lrplan --epochs walked the steps of a 10^12-step plan (killed after 120 s)");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = reader.join().unwrap().unwrap();
    let rows = epoch_rows(&out);
    assert_eq!(rows.len(), 10_000);
    assert_eq!(rows[4999].1, "freeze");
    assert_eq!(rows[5000].1, "unfreeze");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_format_exits_quietly_when_the_reader_closes_the_pipe() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/plan.toml");
    let dir = temp_dir("pipe");
    let long = dir.join("long.toml");
    std::fs::write(&long, "[epochs]\ntotal = 100000\n").unwrap();
    // Each prints far more than a pipe holds, so it is still writing when the pipe closes.
    let cases: [&[&str]; 3] = [
        &[example, "--format", "csv"],
        &[example, "--format", "json"],
        &[long.to_str().unwrap(), "--epochs"],
    ];
    for args in cases {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lrplan"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 64];
        std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
        drop(stdout); // `| head -c 64`
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(out.status.success(), "{args:?}: {:?}: {err}", out.status);
        assert_eq!(err, "", "{args:?}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn numbers_in_messages_are_written_as_a_person_writes_them() {
    let dir = temp_dir("numbers");
    let path = dir.join("extreme.toml");
    std::fs::write(&path, "[lr]\ninit = 1e-320\nmin = 1e300\n").unwrap();
    let (ok, _, err) = lrplan(&[path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.ends_with("lr.min must not exceed lr.init (1e-320) (got 1e300)\n"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_binary_file_is_refused_in_printable_words() {
    let dir = temp_dir("binary");
    let path = dir.join("model.pth");
    // The start of a zip (torch.save's format): valid UTF-8, full of control characters.
    std::fs::write(&path, b"PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl").unwrap();
    let (ok, _, err) = lrplan(&[path.to_str().unwrap()]);
    assert!(!ok);
    assert!(!err.trim_end().contains(char::is_control), "{err:?}");
    assert!(
        err.ends_with(
            "model.pth: plan file: line 1, column 3: control character U+0003 is not allowed \
             in TOML; a plan file is text\n"
        ),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
