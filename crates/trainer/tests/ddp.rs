//! Data-parallel training (c10d, gloo on the CPU), two ranks on this machine: under
//! `torchrun` and with plain `RANK`/`WORLD_SIZE`/`MASTER_ADDR`/`MASTER_PORT`. Held to the
//! single-process run: the same lr table bit for bit, the same weights (a model without batch
//! norm), resume at another world size, a killed rank named by the survivor, and the plan's
//! batch refused when it does not split among the ranks.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use lrplan_trainer::tensors::read_file as read_tensors;

/// The launcher from the project's venv; a missing one fails the test with the set-up command.
fn torchrun() -> PathBuf {
    let bin = python().parent().unwrap().join("torchrun");
    assert!(
        bin.exists(),
        "{} is missing: run scripts/setup.sh (installs torch into .venv) or set LRPLAN_PYTHON",
        bin.display()
    );
    bin
}

/// A port nobody listens on now, so that tests running at once never share a store.
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A command that sees none of the launcher variables of the environment it runs in.
fn clean(mut cmd: Command) -> Command {
    for v in [
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
    ] {
        cmd.env_remove(v);
    }
    cmd
}

/// `torchrun --no-python --nproc-per-node 2 trainer ARGS`, asserted to succeed.
fn torchrun_ok(args: &[&str]) -> Output {
    torchrun_n(2, args)
}

/// `torchrun --no-python --nproc-per-node N trainer ARGS`, asserted to succeed.
fn torchrun_n(n: usize, args: &[&str]) -> Output {
    let port = free_port().to_string();
    let n = n.to_string();
    let mut cmd = clean(Command::new(torchrun()));
    cmd.args([
        "--no-python",
        "--nproc-per-node",
        &n,
        "--master-addr",
        "127.0.0.1",
    ])
    .args(["--master-port", &port, env!("CARGO_BIN_EXE_trainer")])
    .args(args);
    let out = cmd.output().expect("spawn torchrun");
    assert!(
        out.status.success(),
        "torchrun trainer {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Rank `rank` of two, started by hand with the plain variables.
fn spawn_rank(rank: usize, port: u16, args: &[&str]) -> Child {
    let mut cmd = clean(trainer());
    cmd.env("RANK", rank.to_string())
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd.spawn().expect("spawn trainer")
}

/// Waits for `child` at most `limit`; its exit status, and its standard error.
fn finish(mut child: Child, limit: Duration) -> (std::process::ExitStatus, String) {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("trainer still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status, err)
}

/// Waits (at most a minute) until `run` has finished an epoch: a line in `metrics.csv`, so a
/// checkpoint is written.
fn wait_for_first_epoch(run: &Path) {
    let start = Instant::now();
    while std::fs::read_to_string(run.join("metrics.csv")).map_or(0, |m| m.lines().count()) < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no epoch finished"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TorchScript model without batch norm (two convolutions and a linear head `fc`), whose
/// run is the same split across processes or not.
fn plain_model(dir: &Path) -> String {
    let out = dir.join("plain.pt");
    let script = repo().join("crates/trainer/tests/py/ddp_models.py");
    run_python(&[
        script.to_str().unwrap(),
        "plain",
        "2",
        out.to_str().unwrap(),
    ]);
    s(&out)
}

/// A freeze epoch at batch 8 then `total - 1` at batch 4, on the 24 shared images, with an
/// lr large enough for the weights to move far more than the tolerances.
fn freeze_plan(dir: &Path, total: u32) -> (String, String) {
    let n = CLASSES.len() * TRAIN_PER_CLASS;
    let text =
        plan("sgd", "cos", "iteration", total, 1, (8, 4), n).replace("init = 1e-2", "init = 0.3");
    (s(&write(&dir.join("plan.toml"), &text)), text)
}

fn args<'a>(plan: &'a str, data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = train_args(plan, data, out);
    a.push("--no-charts");
    a.extend(extra);
    a
}

/// The largest difference between the two runs' last checkpoints, and where.
fn weight_diff(a: &Path, b: &Path) -> (f64, String) {
    let a = read_tensors(&a.join("last.safetensors")).unwrap();
    let b = read_tensors(&b.join("last.safetensors")).unwrap();
    assert_eq!(a.len(), b.len());
    let mut worst = (0.0, String::new());
    for (name, ta) in &a {
        let diff = (ta.to_kind(tch::Kind::Double) - b[name].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        if diff >= worst.0 {
            worst = (diff, name.clone());
        }
    }
    worst
}

/// Every tensor of the two runs' last checkpoints within `tol`.
fn assert_same_weights(a: &Path, b: &Path, tol: f64) {
    let (diff, name) = weight_diff(a, b);
    assert!(diff <= tol, "{name} differs by {diff}");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The losses of `steps.csv`, in order.
fn losses(run: &Path) -> Vec<f64> {
    log_column(run, "steps.csv", 4)
}

#[test]
fn two_ranks_train_as_one_process() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, text) = freeze_plan(dir, 3);
    let (one, two) = (dir.join("one"), dir.join("two"));
    let extra = ["--model", model.as_str()];
    run_ok(&args(&p, &d, &s(&one), &extra));
    let out = torchrun_ok(&args(&p, &d, &s(&two), &extra));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("data parallel: 2 processes (gloo)"), "{said}");
    assert_eq!(
        said.matches("epoch 1/3 (").count(),
        1,
        "one rank prints: {said}"
    );
    assert_eq!(read(&one.join("lr.csv")), read(&two.join("lr.csv")));
    assert_lr_log(&two, &text);
    assert_same_weights(&one, &two, 1e-5);
    // Training moved the weights a hundred times that tolerance and more.
    let first = dir.join("first");
    run_ok(&args(
        &p,
        &d,
        &s(&first),
        &["--model", &model, "--max-steps", "1"],
    ));
    let (moved, _) = weight_diff(&first, &two);
    assert!(
        moved > 1e-3,
        "the weights hardly moved ({moved}): the test proves nothing"
    );
    // The losses are the whole batch's on every step, as the single process logs them.
    for (a, b) in losses(&one).iter().zip(losses(&two)) {
        assert!((a - b).abs() <= 1e-5, "step loss {a} vs {b}");
    }
}

#[test]
fn batch_norm_per_rank_keeps_the_plan_and_trains() {
    let (tmp, d, _) = setup();
    let (p, text) = freeze_plan(tmp.path(), 6);
    let run = tmp.path().join("bn");
    torchrun_ok(&args(&p, &d, &s(&run), &["--model", "small-cnn"]));
    assert_lr_log(&run, &text);
    let l = losses(&run);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let (first, last) = (mean(&l[..6]), mean(&l[l.len() - 6..]));
    assert!(last < first, "loss did not fall: {first} -> {last}");
}

#[test]
fn a_run_resumes_at_another_world_size() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, text) = freeze_plan(dir, 4);
    let full = dir.join("full");
    let extra = ["--model", model.as_str()];
    run_ok(&args(&p, &d, &s(&full), &extra));
    // Two ranks stop after the freeze epoch, one process finishes ...
    let a = dir.join("two-then-one");
    let stop = ["--model", model.as_str(), "--stop-after-epochs", "1"];
    torchrun_ok(&args(&p, &d, &s(&a), &stop));
    run_ok(&["train", "--resume", &s(&a)]);
    // ... and the reverse, stopped within the unfrozen phase.
    let b = dir.join("one-then-two");
    let stop = ["--model", model.as_str(), "--stop-after-epochs", "2"];
    run_ok(&args(&p, &d, &s(&b), &stop));
    torchrun_ok(&["train", "--resume", &s(&b), "--data", &d]);
    for run in [&a, &b] {
        assert_eq!(read(&full.join("lr.csv")), read(&run.join("lr.csv")));
        assert_lr_log(run, &text);
        assert_same_weights(&full, run, 1e-5);
    }
}

#[test]
fn a_killed_rank_is_named_and_the_run_resumes() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, text) = freeze_plan(dir, 60);
    let run = dir.join("run");
    let (r, port) = (s(&run), free_port());
    let a = args(&p, &d, &r, &["--model", &model, "--dist-timeout", "5"]);
    let rank0 = spawn_rank(0, port, &a);
    let mut rank1 = spawn_rank(1, port, &a);
    // Kill rank 1 once a checkpoint is written (the first epoch's line in metrics.csv).
    wait_for_first_epoch(&run);
    // SIGKILL: no word from rank 1; rank 0 must find out by itself, by the heartbeats (5 s
    // here, the timeout; the bound below leaves room for a loaded machine, far below the
    // 600 s default).
    rank1.kill().unwrap();
    let killed = Instant::now();
    let _ = rank1.wait();
    let (status, err) = finish(rank0, Duration::from_secs(30));
    assert!(!status.success(), "rank 0 went on without rank 1");
    assert!(
        killed.elapsed() < Duration::from_secs(20),
        "rank 0 took {:?} to stop",
        killed.elapsed()
    );
    assert!(err.contains("rank 1") && err.contains("lost"), "{err}");
    assert!(err.contains(&format!("--resume {r}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    run_ok(&["train", "--resume", &r]);
    assert_lr_log(&run, &text);
}

#[test]
fn plain_variables_train_and_an_unsplittable_batch_is_refused() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, text) = freeze_plan(dir, 2);
    let (one, two) = (dir.join("one"), dir.join("two"));
    run_ok(&args(&p, &d, &s(&one), &["--model", &model]));
    let t = s(&two);
    let a = args(&p, &d, &t, &["--model", &model]);
    let port = free_port();
    let ranks = [spawn_rank(0, port, &a), spawn_rank(1, port, &a)];
    for (rank, child) in ranks.into_iter().enumerate() {
        let (status, err) = finish(child, Duration::from_secs(60));
        assert!(status.success(), "rank {rank}: {err}");
    }
    assert_lr_log(&two, &text);
    assert_same_weights(&one, &two, 1e-5);

    let n = CLASSES.len() * TRAIN_PER_CLASS;
    let odd = plan("sgd", "cos", "iteration", 2, 1, (8, 3), n);
    let odd = s(&write(&dir.join("odd.toml"), &odd));
    let o = s(&dir.join("odd"));
    let a = args(&odd, &d, &o, &["--model", &model]);
    let port = free_port();
    let ranks = [spawn_rank(0, port, &a), spawn_rank(1, port, &a)];
    let [(s0, e0), (s1, e1)] = ranks.map(|c| finish(c, Duration::from_secs(60)));
    assert!(!s0.success() && !s1.success(), "{e0}\n{e1}");
    assert!(
        e0.contains("batch size 3 does not split among 2 processes")
            && e0.contains("multiple of 2"),
        "{e0}"
    );
    assert!(e1.contains("rank 0"), "rank 1 does not say why: {e1}");
    assert!(
        !e0.contains("panicked") && !e1.contains("panicked"),
        "{e0}\n{e1}"
    );
    assert!(!dir.join("odd").join("steps.csv").exists());
}

/// An epoch's last batch smaller than the number of processes (`drop_last = false`): 26
/// images at batch 6 end with a batch of 2 among 3 processes, so one trains on no image of
/// it. Every step is still the whole batch's, batch norm included, and the run ends.
#[test]
fn a_last_batch_smaller_than_the_world_leaves_a_rank_empty_handed() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    image_folder(&d, &CLASSES, 13, 3);
    let n = CLASSES.len() * 13;
    let text = plan("sgd", "cos", "iteration", 2, 0, (6, 6), n)
        .replace("drop_last = true", "drop_last = false");
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let run = tmp.path().join("run");
    let (d, r) = (s(&d), s(&run));
    torchrun_n(3, &args(&p, &d, &r, &["--model", "small-cnn"]));
    assert_lr_log(&run, &text);
    let l = losses(&run);
    assert_eq!(l.len(), 2 * 5, "two epochs of five steps");
    assert!(l.iter().all(|x| x.is_finite()), "{l:?}");
}

/// Ctrl-C on one rank stops every rank at the same step: both exit as an interrupted run
/// does (130, a checkpoint saved), and the run resumes to the planned end.
#[test]
fn ctrl_c_on_one_rank_stops_all_at_one_step() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, text) = freeze_plan(dir, 60);
    let run = dir.join("run");
    let (r, port) = (s(&run), free_port());
    let a = args(&p, &d, &r, &["--model", &model]);
    let rank0 = spawn_rank(0, port, &a);
    let rank1 = spawn_rank(1, port, &a);
    wait_for_first_epoch(&run);
    let status = Command::new("kill")
        .args(["-INT", &rank1.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    for (rank, child) in [rank0, rank1].into_iter().enumerate() {
        let (status, err) = finish(child, Duration::from_secs(60));
        assert_eq!(status.code(), Some(130), "rank {rank}: {err}");
        assert!(!err.contains("panicked"), "rank {rank}: {err}");
    }
    let at_stop = losses(&run).len();
    run_ok(&["train", "--resume", &r]);
    assert_lr_log(&run, &text);
    let total = losses(&run).len();
    assert!(
        at_stop < total,
        "stopped at step {at_stop} of {total}: not early"
    );
}

#[test]
fn the_average_of_the_weights_and_the_loss_scaler_run_on_every_rank() {
    let (tmp, d, _) = setup();
    let dir = tmp.path();
    let model = plain_model(dir);
    let (p, _) = freeze_plan(dir, 4);
    let ema = ["--model", model.as_str(), "--ema", "--ema-tau", "5"];
    let (one, two) = (dir.join("one"), dir.join("two"));
    run_ok(&args(&p, &d, &s(&one), &ema));
    // Stopped and resumed: rank 1 gets rank 0's average from the checkpoint by broadcast;
    // each rank validates its share of the images with its average.
    let mut stop = ema.to_vec();
    stop.extend(["--stop-after-epochs", "2"]);
    torchrun_ok(&args(&p, &d, &s(&two), &stop));
    torchrun_ok(&["train", "--resume", &s(&two), "--data", &d]);
    assert_same_weights(&one, &two, 1e-5);
    let val_losses = |run| log_column(run, "metrics.csv", 3);
    for (a, b) in val_losses(&one).iter().zip(val_losses(&two)) {
        assert!((a - b).abs() <= 1e-5, "validation loss {a} vs {b}");
    }
    // fp16: the ranks' gradients are summed before the scaler checks them, so every rank
    // skips the same steps and the job neither hangs nor parts ways.
    let f16 = dir.join("fp16");
    let scaler = [
        "--model",
        &model,
        "--precision",
        "fp16",
        "--loss-scale-interval",
        "2",
    ];
    torchrun_ok(&args(&p, &d, &s(&f16), &scaler));
    let skipped = read(&f16.join("skipped.csv"));
    assert!(skipped.lines().count() > 1, "no step skipped: {skipped}");
}
