//! What a run folder guarantees (issue 18): one trainer at a time, no silent overwrite, and a
//! resume that checks what it trusts — its record, its tensor files, its plan, its data — and
//! runs from any working directory with only the settings that may change.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use lrplan_trainer::checkpoint::Meta;

/// A run of `epochs` epochs stopped after the first one.
fn one_epoch_of(tmp: &Path, d: &str, n: usize, epochs: u32, out: &str) -> String {
    let text = plan("sgd", "cos", "epoch", epochs, 0, (8, 8), n);
    let p = s(&write(&tmp.join(format!("plan-{epochs}.toml")), &text));
    let mut args = train_args(&p, d, out);
    args.extend(["--stop-after-epochs", "1", "--no-charts"]);
    run_ok(&args);
    text
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_run_folder_is_never_overwritten_silently() {
    let (tmp, d, n) = setup();
    let out = tmp.path().join("run");
    let o = s(&out);
    let text = one_epoch_of(tmp.path(), &d, n, 3, &o);
    let record = read(&out.join("last.json"));
    let p = s(&tmp.path().join("plan-3.toml"));
    let e = run_err(&train_args(&p, &d, &o));
    assert!(
        e.contains("already holds a run")
            && e.contains(&format!("--resume {o}"))
            && e.contains("--start-over"),
        "{e}"
    );
    assert_eq!(
        read(&out.join("last.json")),
        record,
        "the refused run wrote"
    );
    let mut args = train_args(&p, &d, &o);
    args.extend(["--start-over", "--no-charts"]);
    let stdout = String::from_utf8_lossy(&run_ok(&args).stdout).into_owned();
    let aside = tmp.path().join("run.previous-1");
    assert!(stdout.contains("run.previous-1"), "{stdout}");
    assert_eq!(
        read(&aside.join("last.json")),
        record,
        "the old run was not kept"
    );
    assert_lr_log(&out, &text);
    // Logs without a checkpoint (killed before the first one) are a run too.
    let young = tmp.path().join("young");
    std::fs::create_dir_all(&young).unwrap();
    std::fs::write(young.join("lr.csv"), "step\n").unwrap();
    let e = run_err(&train_args(&p, &d, &s(&young)));
    assert!(
        e.contains("no checkpoint") && e.contains("--start-over"),
        "{e}"
    );
}

#[test]
fn one_trainer_per_run_folder() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "iteration", 200, 0, (4, 4), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let out = tmp.path().join("run");
    let o = s(&out);
    let mut child = trainer()
        .args(train_args(&p, &d, &o))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !out.join("last.json").exists() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let holder = format!("process {}", child.id());
    let t = Instant::now();
    let e = run_err(&["train", "--resume", &o]);
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "it waited for the lock"
    );
    assert!(e.contains("another trainer") && e.contains(&holder), "{e}");
    let mut args = train_args(&p, &d, &o);
    args.push("--start-over");
    let e = run_err(&args);
    assert!(e.contains("another trainer") && e.contains(&holder), "{e}");
    assert!(
        !tmp.path().join("run.previous-1").exists(),
        "moved a live run"
    );
    // The OS releases the lock of a killed trainer: the resume that follows is not blocked.
    let _ = child.kill();
    let _ = child.wait();
    run_ok(&["train", "--resume", &o, "--max-steps", "1"]);
}

#[test]
fn resume_holds_the_data_against_the_run() {
    let (tmp, d, n) = setup();
    let o = s(&tmp.path().join("run"));
    one_epoch_of(tmp.path(), &d, n, 3, &o);
    // A renamed class folder would swap what the labels mean.
    let data = Path::new(&d);
    for split in ["train", "val"] {
        std::fs::rename(data.join(split).join("cat"), data.join(split).join("zebra")).unwrap();
    }
    let e = run_err(&["train", "--resume", &o]);
    assert!(
        e.contains("\"dog\", \"zebra\"") && e.contains("\"cat\", \"dog\""),
        "{e}"
    );
    for split in ["train", "val"] {
        std::fs::rename(data.join(split).join("zebra"), data.join(split).join("cat")).unwrap();
    }
    // One more image changes the order and the epochs.
    let extra = data.join("train/dog/zz-extra.png");
    std::fs::copy(data.join("train/dog/001.png"), &extra).unwrap();
    let e = run_err(&["train", "--resume", &o]);
    assert!(e.contains("25 train") && e.contains("24"), "{e}");
    std::fs::remove_file(extra).unwrap();
    run_ok(&["train", "--resume", &o]);
}

#[test]
fn an_edited_record_or_tensor_file_is_refused() {
    let (tmp, d, n) = setup();
    let out = tmp.path().join("run");
    let o = s(&out);
    one_epoch_of(tmp.path(), &d, n, 3, &o);
    let record_path = out.join("last.json");
    let record = String::from_utf8(read(&record_path)).unwrap();
    for (from, to) in [
        ("\"iteration\": 0", "\"iteration\": 1000"),
        ("\"epoch\": 1,", "\"epoch\": 99,"),
    ] {
        assert!(record.contains(from), "{record}");
        std::fs::write(&record_path, record.replacen(from, to, 1)).unwrap();
        let e = run_err(&["train", "--resume", &o]);
        assert!(e.contains("last.json") && e.contains("checksum"), "{e}");
    }
    // A record with a valid checksum that no run of this plan can reach.
    let meta = Meta::from_json(&record, &record_path).unwrap();
    let forged = |m: Meta| std::fs::write(&record_path, m.to_json().unwrap()).unwrap();
    forged(Meta {
        epoch: 99,
        ..meta.clone()
    });
    let e = run_err(&["train", "--resume", &o]);
    assert!(
        e.contains("epoch 99") && e.contains("plan trains epochs 0 to 2"),
        "{e}"
    );
    forged(Meta {
        iteration: 1000,
        ..meta.clone()
    });
    let e = run_err(&["train", "--resume", &o]);
    assert!(e.contains("iteration 1000"), "{e}");
    forged(Meta {
        optimizer_steps: 7,
        ..meta.clone()
    });
    let e = run_err(&["train", "--resume", &o]);
    assert!(e.contains("7 optimizer steps"), "{e}");
    std::fs::write(&record_path, &record).unwrap();
    // Weights that are not the ones the record was written with.
    let weights = out.join("last.safetensors");
    let original = read(&weights);
    std::fs::copy(out.join("best.optim.safetensors"), &weights).unwrap();
    let e = run_err(&["train", "--resume", &o]);
    assert!(
        e.contains("last.safetensors") && e.contains("checksum"),
        "{e}"
    );
    std::fs::write(&weights, original).unwrap();
    run_ok(&["train", "--resume", &o]);
}

#[test]
fn an_edited_plan_file_is_refused_and_a_deleted_one_restored() {
    let (tmp, d, n) = setup();
    let out = tmp.path().join("run");
    let o = s(&out);
    let text = one_epoch_of(tmp.path(), &d, n, 3, &o);
    let copy = out.join("plan.toml");
    std::fs::write(&copy, text.replace("init = 1e-2", "init = 5e-2")).unwrap();
    let e = run_err(&["train", "--resume", &o]);
    assert!(
        e.contains("plan.toml") && e.contains("cannot change mid-run"),
        "{e}"
    );
    std::fs::remove_file(&copy).unwrap();
    run_ok(&["train", "--resume", &o]);
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), text);
    assert_lr_log(&out, &text);
}

#[test]
fn resume_runs_from_anywhere_with_only_the_settings_that_may_change() {
    let (tmp, _, n) = setup();
    let text = plan("adam", "cos", "iteration", 3, 1, (8, 6), n);
    write(&tmp.path().join("plan.toml"), &text);
    // Relative paths at the start...
    let mut args = train_args("plan.toml", "data", "run");
    args.extend(["--stop-after-epochs", "1", "--no-charts"]);
    let out = trainer()
        .args(&args)
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // ...resumed from elsewhere, the data moved and named again.
    let run = s(&tmp.path().join("run"));
    std::fs::rename(tmp.path().join("data"), tmp.path().join("moved")).unwrap();
    let e = run_err(&["train", "--resume", &run]);
    assert!(e.contains("data") && e.contains("does not exist"), "{e}");
    for (flag, value, says) in [
        ("--model", "resnet18", "cannot change when a run resumes"),
        ("--plan", "plan.toml", "cannot change mid-run"),
        ("--seed", "4", "cannot change when a run resumes"),
    ] {
        let e = run_err(&["train", "--resume", &run, flag, value]);
        assert!(e.contains(flag) && e.contains(says), "{flag}: {e}");
    }
    let moved = s(&tmp.path().join("moved"));
    let resume = [
        "train",
        "--resume",
        &run,
        "--data",
        &moved,
        "--device",
        "cpu",
        "--threads",
        "1",
        "--no-charts",
        "--stop-after-epochs",
        "1",
    ];
    let out = trainer().args(resume).current_dir("/").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The relocation is remembered: the next resume needs no --data.
    run_ok(&["train", "--resume", &run]);
    assert_lr_log(&tmp.path().join("run"), &text);
    assert!(
        !tmp.path().join("run/lr.png").exists(),
        "--no-charts was ignored"
    );
}

#[test]
fn a_batch_larger_than_memory_is_refused_up_front() {
    let (tmp, d, n) = setup();
    let p = s(&write(
        &tmp.path().join("plan.toml"),
        &plan("sgd", "cos", "epoch", 2, 0, (8, 8), n),
    ));
    let o = s(&tmp.path().join("run"));
    let mut args = train_args(&p, &d, &o);
    let i = args.iter().position(|a| *a == "--image-size").unwrap();
    args[i + 1] = "100000";
    let e = run_err(&args);
    assert!(e.contains("--image-size") && e.contains("memory"), "{e}");
}

#[test]
fn a_first_epoch_nan_says_there_is_no_checkpoint() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "constant", "iteration", 3, 0, (8, 8), n)
        .replace(
            "init = 1e-2",
            "init = 1e30\nlimit_max = 1e30\nlimit_min = 1e29",
        )
        .replace("warmup_iters_ratio = 0.05", "warmup_iters_ratio = 0.0");
    let p = s(&write(&tmp.path().join("nan.toml"), &text));
    let e = run_err(&train_args(&p, &d, &s(&tmp.path().join("run"))));
    assert!(
        e.contains("no checkpoint had been written yet") && !e.contains("is kept"),
        "{e}"
    );
}

#[test]
fn resuming_a_finished_run_says_it_is_finished() {
    let (tmp, d, n) = setup();
    let out = tmp.path().join("run");
    let o = s(&out);
    let text = plan("sgd", "cos", "epoch", 2, 0, (8, 8), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let mut args = train_args(&p, &d, &o);
    args.push("--no-charts");
    run_ok(&args);
    let lr = read(&out.join("lr.csv"));
    let stdout = String::from_utf8_lossy(&run_ok(&["train", "--resume", &o]).stdout).into_owned();
    assert!(
        stdout.contains("the run is finished") && !stdout.contains("done: 0 steps"),
        "{stdout}"
    );
    assert!(!stdout.contains("resuming"), "{stdout}");
    assert_eq!(read(&out.join("lr.csv")), lr);
}

#[test]
fn an_unusable_run_folder_is_reported_before_the_data_is_decoded() {
    let (tmp, d, n) = setup();
    let p = s(&write(
        &tmp.path().join("plan.toml"),
        &plan("sgd", "cos", "epoch", 2, 0, (8, 8), n),
    ));
    // An image that cannot be decoded would stop the run once decoding starts.
    std::fs::write(Path::new(&d).join("train/cat/zz-broken.png"), b"not a png").unwrap();
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let e = run_err(&train_args(&p, &d, &s(&blocker.join("run"))));
    assert!(e.contains("blocker") && !e.contains("zz-broken"), "{e}");
}
