//! The `lrplan-weights` binary end to end.

use crate::support::fixture;
use std::path::Path;
use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lrplan-weights"))
        .args(args)
        .output()
        .expect("run lrplan-weights")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn inspect_text_and_json() {
    let f = fixture("checkpoint.pt");
    let out = cli(&["inspect", s(&f)]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("weights from entry 'model'"), "{text}");
    assert!(text.contains("skipped: epoch, optimizer, config"), "{text}");
    assert!(text.contains("head.weight"), "{text}");
    assert!(!text.contains('\x1b'), "no colour when piped");

    let out = cli(&["inspect", s(&f), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["entry"], "model");
    assert_eq!(v["format"], "zip");
    assert_eq!(v["tensors"][0]["dtype"], "f32");
    assert!(v["total_params"].as_u64().unwrap() > 0);
}

#[test]
fn match_text_and_json() {
    let f = fixture("module_prefixed.pt");
    let keys = fixture("model_keys_5.json");
    let out = cli(&[
        "match",
        s(&f),
        "--keys",
        s(&keys),
        "--strip-prefix",
        "module.",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2 refused for shape"), "{text}");
    assert!(text.contains("key map: strip prefix 'module.'"), "{text}");

    let out = cli(&[
        "match",
        s(&f),
        "--keys",
        s(&keys),
        "--json",
        "--auto-prefix",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["suggestion"]["strip_prefix"], "module.");
    assert_eq!(v["suggestion"]["applied"], true);
    assert_eq!(v["counts"]["shape_mismatch"], 2);

    let out = cli(&[
        "match",
        s(&fixture("checkpoint_ema.pt")),
        "--keys",
        s(&fixture("model_keys_10.json")),
        "--rename",
        r"^head\.=head.",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("entry 'state_dict_ema'"), "{text}");
}

fn assert_clean_failure(out: &Output, must_name: &str) {
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(must_name),
        "stderr does not name {must_name}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(
        err.matches("os error").count() <= 1,
        "cause said twice: {err}"
    );
}

#[test]
fn bad_input_is_one_clear_line() {
    let keys = fixture("model_keys_5.json");
    assert_clean_failure(
        &cli(&["inspect", "/no/such/weights.pt"]),
        "/no/such/weights.pt",
    );
    let out = cli(&["match", "/no/such/weights.pt", "--keys", s(&keys)]);
    assert_clean_failure(&out, "/no/such/weights.pt");
    let out = cli(&["match", s(&fixture("net.pt")), "--keys", "/no/keys.json"]);
    assert_clean_failure(&out, "/no/keys.json");
    // A weight file given as the key list.
    let out = cli(&[
        "match",
        s(&fixture("net.pt")),
        "--keys",
        s(&fixture("expected.json")),
    ]);
    assert_clean_failure(&out, "expected.json");
    let out = cli(&[
        "match",
        s(&fixture("net.pt")),
        "--keys",
        s(&keys),
        "--rename",
        "x",
    ]);
    assert_clean_failure(&out, "--rename");
    let out = cli(&["inspect", s(&fixture("evil_os_system.pt"))]);
    assert_clean_failure(&out, "refused");
    let out = cli(&["inspect", s(&fixture("checkpoint.pt")), "--entry", "nope"]);
    assert_clean_failure(&out, "--entry nope");
}

#[test]
fn match_takes_inspect_json_as_the_key_list() {
    // The keys of the model's own weights, as `inspect --json` prints them.
    let out = cli(&["inspect", s(&fixture("net.pt")), "--json"]);
    assert!(out.status.success());
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("net_keys.json");
    std::fs::write(&keys, &out.stdout).unwrap();

    let f = fixture("module_prefixed.pt");
    let args = [
        "match",
        s(&f),
        "--keys",
        s(&keys),
        "--strip-prefix",
        "module.",
    ];
    let out = cli(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&[&args[..], &["--json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = v["counts"]["model_tensors"].as_u64().unwrap();
    assert!(n > 10);
    assert_eq!(v["counts"]["loaded"], n);
}
