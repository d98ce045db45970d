//! End-to-end tests of the `trainer` binary on tiny generated image folders.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use lrplan_schedule::{Schedule, plan_file};
use lrplan_trainer::tensors::read_file as read_tensors;

#[test]
fn lr_log_equals_schedule_table_bit_for_bit() {
    let (tmp, d, n) = setup();
    let cases = [
        ("sgd", "cos", "epoch", "kind"),
        ("adam", "cos", "iteration", "subnet"),
        ("adamw", "step", "epoch", "kind"),
        ("sgd", "step", "iteration", "kind"),
    ];
    for (i, (opt, decay, per, group_by)) in cases.iter().enumerate() {
        let text = plan(opt, decay, per, 4, 2, (8, 6), n);
        let p = write(&tmp.path().join(format!("plan{i}.toml")), &text);
        let out = tmp.path().join(format!("run{i}"));
        let (p, o) = (s(&p), s(&out));
        let mut args = train_args(&p, &d, &o);
        args.extend(["--group-by", group_by, "--no-charts"]);
        if *group_by == "subnet" {
            args.extend(["--head-lr-mult", "3"]);
        }
        run_ok(&args);
        assert_lr_log(&out, &text);
        // steps.csv: one row per optimizer step; per-iteration lrs match the table too.
        let steps = std::fs::read_to_string(out.join("steps.csv")).unwrap();
        let schedule = Schedule::new(&plan_file::from_toml(&text).unwrap()).unwrap();
        let rows: Vec<&str> = steps.lines().skip(1).collect();
        let want_steps = 2 * (n / 8) + 2 * (n / 6);
        assert_eq!(rows.len(), want_steps, "{opt} {decay} {per}");
        if *per == "iteration" {
            for (r, st) in rows.iter().zip(schedule.steps()) {
                let lr: f64 = r.split(',').nth(3).unwrap().parse().unwrap();
                assert_eq!(lr.to_bits(), st.lr.to_bits());
            }
        }
        let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        assert_eq!(metrics.lines().count(), 5);
        assert_eq!(
            std::fs::read_to_string(out.join("plan.toml")).unwrap(),
            text
        );
    }
}

#[test]
fn freeze_phase_keeps_backbone_and_trains_head() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "epoch", 3, 2, (8, 8), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let out = tmp.path().join("run");
    let o = s(&out);
    let mut args = train_args(&p, &d, &o);
    args.extend(["--stop-after-epochs", "1", "--no-charts"]);
    run_ok(&args);
    let a = read_tensors(&out.join("last.safetensors")).unwrap();
    run_ok(&["train", "--resume", &o, "--stop-after-epochs", "1"]);
    let b = read_tensors(&out.join("last.safetensors")).unwrap();
    run_ok(&["train", "--resume", &o]);
    let c = read_tensors(&out.join("last.safetensors")).unwrap();
    let mut backbone = 0;
    for (name, ta) in &a {
        let tb = &b[name];
        let same = ta.equal(tb);
        if name.starts_with("backbone.") {
            backbone += 1;
            assert!(same, "{name} changed during the freeze phase");
        } else {
            assert!(
                !same,
                "head tensor {name} did not train in the freeze phase"
            );
        }
    }
    assert!(backbone > 0);
    let w = "backbone.0.conv.weight";
    assert!(
        !b[w].equal(&c[w]),
        "backbone did not train after unfreezing"
    );
    assert_lr_log(&out, &text);
}

#[test]
fn resume_reproduces_an_uninterrupted_run() {
    let (tmp, d, n) = setup();
    let text = plan("adam", "cos", "iteration", 4, 1, (8, 6), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let full = tmp.path().join("full");
    let part = tmp.path().join("part");
    let (f, pa) = (s(&full), s(&part));
    let mut args = train_args(&p, &d, &f);
    args.push("--no-charts");
    run_ok(&args);
    let mut args = train_args(&p, &d, &pa);
    args.extend(["--no-charts", "--stop-after-epochs", "2"]);
    run_ok(&args);
    run_ok(&["train", "--resume", &pa]);
    for log in ["lr.csv", "steps.csv"] {
        let a = std::fs::read_to_string(full.join(log)).unwrap();
        let b = std::fs::read_to_string(part.join(log)).unwrap();
        if log == "lr.csv" {
            assert_eq!(a, b, "{log}");
        } else {
            // step, epoch, iteration, lr identical; losses within float noise.
            for (ra, rb) in a.lines().zip(b.lines()).skip(1) {
                let (ha, la) = ra.rsplit_once(',').unwrap();
                let (hb, lb) = rb.rsplit_once(',').unwrap();
                assert_eq!(ha, hb);
                let (la, lb): (f64, f64) = (la.parse().unwrap(), lb.parse().unwrap());
                assert!((la - lb).abs() <= 1e-5 * la.abs().max(1.0), "{ra} vs {rb}");
            }
        }
    }
    assert_lr_log(&part, &text);
    let a = read_tensors(&full.join("last.safetensors")).unwrap();
    let b = read_tensors(&part.join("last.safetensors")).unwrap();
    assert_eq!(a.len(), b.len());
    for (name, ta) in &a {
        let diff = (ta.to_kind(tch::Kind::Double) - b[name].to_kind(tch::Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= 1e-6, "{name} differs by {diff}");
    }
}

#[test]
fn streamed_data_trains_like_data_in_memory() {
    let (tmp, d, n) = setup();
    let text = plan("adam", "cos", "iteration", 2, 1, (8, 6), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let (mem, stream) = (tmp.path().join("mem"), tmp.path().join("stream"));
    let (m, st) = (s(&mem), s(&stream));
    let mut args = train_args(&p, &d, &m);
    args.push("--no-charts");
    run_ok(&args);
    let mut args = train_args(&p, &d, &st);
    args.push("--no-charts");
    let out = trainer()
        .args(&args)
        .env("LRPLAN_MEMORY_LIMIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = read_tensors(&mem.join("last.safetensors")).unwrap();
    let b = read_tensors(&stream.join("last.safetensors")).unwrap();
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name}");
    }
    // A file that passes the header check but fails to decode stops the run, named.
    let broken = tmp.path().join("trunc");
    image_folder(&broken, &CLASSES, TRAIN_PER_CLASS, 3);
    let good = std::fs::read(broken.join("train/cat/001.png")).unwrap();
    std::fs::write(broken.join("train/cat/001.png"), &good[..good.len() / 2]).unwrap();
    let bs = s(&broken);
    let stopped = s(&tmp.path().join("stopped"));
    let mut args = train_args(&p, &bs, &stopped);
    args.push("--no-charts");
    let out = trainer()
        .args(&args)
        .env("LRPLAN_MEMORY_LIMIT", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("001.png"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn kill_at_any_moment_then_resume_completes() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "iteration", 12, 3, (8, 6), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let out = tmp.path().join("run");
    let o = s(&out);
    let args = train_args(&p, &d, &o);
    let quiet = |mut c: std::process::Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let mut child = quiet(trainer()).args(&args).spawn().unwrap();
    // Kill -9 at several moments: right after the first checkpoint, then at varied delays
    // (some land inside a checkpoint write), resuming each time.
    let delays = [0u64, 37, 5, 80, 13];
    for (k, delay) in delays.iter().enumerate() {
        let t = Instant::now();
        while !out.join("last.json").exists() && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill();
        let _ = child.wait();
        if k + 1 < delays.len() {
            child = quiet(trainer())
                .args(["train", "--resume", &o])
                .spawn()
                .unwrap();
        }
    }
    run_ok(&["train", "--resume", &o]);
    assert_lr_log(&out, &text);
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 13);
    let epochs: Vec<u32> = metrics
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(epochs, (0..12).collect::<Vec<_>>());
}

#[test]
fn ctrl_c_saves_a_checkpoint_mid_epoch_and_resume_finishes() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "iteration", 40, 2, (4, 2), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let out = tmp.path().join("run");
    let o = s(&out);
    let mut args = train_args(&p, &d, &o);
    args.push("--no-charts");
    let child = trainer()
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while !out.join("last.json").exists() && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(20));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("--resume") && !stderr.contains("panicked"),
        "{stderr}"
    );
    run_ok(&["train", "--resume", &o]);
    assert_lr_log(&out, &text);
}

#[test]
fn interrupted_checkpoint_writes_leave_a_resumable_run() {
    let (tmp, d, n) = setup();
    let text = plan("adamw", "cos", "epoch", 3, 0, (8, 8), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let out = tmp.path().join("run");
    let o = s(&out);
    let mut args = train_args(&p, &d, &o);
    args.extend(["--stop-after-epochs", "1"]);
    run_ok(&args);
    // Killed while writing temporaries, before the commit point: garbage temporaries.
    std::fs::write(out.join("last.safetensors.tmp"), b"partial").unwrap();
    std::fs::write(out.join("last.json.tmp"), b"{").unwrap();
    // The weights writer's own partial file, killed inside it.
    let partial = out.join(".last.optim.safetensors.tmp.partial-12345");
    std::fs::write(&partial, b"partial").unwrap();
    run_ok(&["train", "--resume", &o, "--stop-after-epochs", "1"]);
    assert!(!out.join("last.safetensors.tmp").exists());
    assert!(!partial.exists());
    // Killed after the commit point: complete temporaries plus the journal get replayed.
    for f in ["last.safetensors", "last.optim.safetensors", "last.json"] {
        std::fs::copy(out.join(f), out.join(format!("{f}.tmp"))).unwrap();
    }
    std::fs::remove_file(out.join("last.json")).unwrap();
    std::fs::write(
        out.join("checkpoint.journal"),
        "last.safetensors\nlast.optim.safetensors\nlast.json",
    )
    .unwrap();
    run_ok(&["train", "--resume", &o]);
    assert!(!out.join("checkpoint.journal").exists());
    assert_lr_log(&out, &text);
    // Charts of the finished run are valid PNGs with text: a title above the plot and tick
    // labels left of it (nothing else is drawn there).
    for chart in ["lr.png", "loss.png", "accuracy.png"] {
        let img = image::open(out.join(chart)).unwrap().to_luma8();
        assert_eq!(img.dimensions(), (720, 440), "{chart}");
        let dark = |xs: std::ops::Range<u32>, ys: std::ops::Range<u32>| {
            ys.flat_map(|y| xs.clone().map(move |x| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0[0] < 128)
                .count()
        };
        assert!(dark(0..720, 0..36) > 100, "{chart}: no title");
        assert!(dark(0..90, 50..400) > 100, "{chart}: no y tick labels");
    }
}

#[test]
fn bad_inputs_fail_with_clear_messages() {
    let (tmp, d, n) = setup();
    let good = s(&write(
        &tmp.path().join("good.toml"),
        &plan("sgd", "cos", "epoch", 2, 0, (8, 8), n),
    ));
    let o = s(&tmp.path().join("run"));

    // Invalid plan: names the field.
    let bad = s(&write(
        &tmp.path().join("bad.toml"),
        &plan("sgd", "cos", "epoch", 2, 0, (8, 8), n).replace("init = 1e-2", "init = -1.0"),
    ));
    let e = run_err(&train_args(&bad, &d, &o));
    assert!(e.contains("lr.init") && e.contains("bad.toml"), "{e}");
    let e = run_err(&train_args(
        &s(&write(
            &tmp.path().join("typo.toml"),
            "[optimizer]\nkindd = 1\n",
        )),
        &d,
        &o,
    ));
    assert!(e.contains("typo.toml"), "{e}");

    // Data folder missing, empty, a class with no images, an undecodable image.
    let missing = s(&tmp.path().join("nope"));
    let e = run_err(&train_args(&good, &missing, &o));
    assert!(e.contains("nope") && e.contains("does not exist"), "{e}");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("train")).unwrap();
    let e = run_err(&train_args(&good, &s(&empty), &o));
    assert!(e.contains("no class folders"), "{e}");
    let hollow = tmp.path().join("hollow");
    image_folder(&hollow, &CLASSES, TRAIN_PER_CLASS, 3);
    std::fs::create_dir_all(hollow.join("train/zebra")).unwrap();
    let e = run_err(&train_args(&good, &s(&hollow), &o));
    assert!(e.contains("zebra") && e.contains("no images"), "{e}");
    let broken = tmp.path().join("broken");
    image_folder(&broken, &CLASSES, TRAIN_PER_CLASS, 3);
    std::fs::write(broken.join("train/cat/zz-broken.png"), b"not a png").unwrap();
    let e = run_err(&train_args(&good, &s(&broken), &o));
    assert!(
        e.contains("zz-broken.png") && e.contains("--skip-bad-images"),
        "{e}"
    );
    let broken_s = s(&broken);
    let skipped_out = s(&tmp.path().join("run-skipped"));
    let mut args = train_args(&good, &broken_s, &skipped_out);
    args.push("--skip-bad-images");
    let out = run_ok(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("skipped 1") && stdout.contains("zz-broken.png"),
        "{stdout}"
    );

    // Plan and data disagree.
    let wrong = s(&write(
        &tmp.path().join("wrong.toml"),
        &plan("sgd", "cos", "iteration", 2, 0, (8, 8), n + 5),
    ));
    let e = run_err(&train_args(&wrong, &d, &o));
    assert!(
        e.contains(&format!("{}", n + 5)) && e.contains(&format!("{n}")),
        "{e}"
    );

    // Weights of another architecture.
    let w = tmp.path().join("r18.pt");
    run_python(&[
        &s(&repo().join("crates/trainer/tests/py/resnet_state_dict.py")),
        &s(&w),
        "10",
    ]);
    let mut args = train_args(&good, &d, &o);
    args.extend(["--weights", w.to_str().unwrap()]);
    let e = run_err(&args);
    assert!(
        e.contains("r18.pt") && e.contains("another architecture"),
        "{e}"
    );

    // Unwritable run folder (a file in the way; root ignores permission bits).
    let blocker = tmp.path().join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let e = run_err(&train_args(&good, &d, &s(&blocker.join("run"))));
    assert!(e.contains("blocker"), "{e}");
    assert_eq!(e.matches("os error").count(), 1, "said twice: {e}");

    // Resume of a folder without a checkpoint.
    let e = run_err(&["train", "--resume", &s(&tmp.path().join("empty"))]);
    assert!(e.contains("checkpoint"), "{e}");
}

/// A small tmpfs, unmounted when dropped: a real full disk (ENOSPC), not a simulation.
/// Mounting needs root (as on the test machines); without it the test fails and says so.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "the full-disk test mounts a {size} tmpfs and needs root for it: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        SmallDisk(at.to_path_buf())
    }

    /// Fills the disk, then frees `leave` bytes of the filler.
    fn fill(&self, leave: u64) {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 4096];
        while f.write_all(&chunk).is_ok() {}
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(leave)).unwrap();
    }

    fn empty(&self) {
        let _ = std::fs::remove_file(self.0.join("filler"));
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_is_an_error_and_keeps_the_last_checkpoint() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "epoch", 3, 0, (8, 8), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let disk = SmallDisk::mount(&tmp.path().join("disk"), "4m");
    // No room for the first checkpoint: nothing to resume, and the message says so.
    disk.fill(32 << 10);
    let first = s(&disk.0.join("first"));
    let e = run_err(&train_args(&p, &d, &first));
    assert!(
        e.contains("No space left on device") && e.contains("no checkpoint yet"),
        "{e}"
    );
    disk.empty();
    let out = disk.0.join("run");
    let o = s(&out);
    let mut args = train_args(&p, &d, &o);
    args.extend(["--stop-after-epochs", "1"]);
    run_ok(&args);
    let files = [
        "last.safetensors",
        "last.optim.safetensors",
        "last.json",
        "best.json",
    ];
    let saved: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    // An epoch's logs fit, a checkpoint does not; then not even a new page is free.
    for leave in [32 << 10, 0] {
        disk.fill(leave);
        let e = run_err(&["train", "--resume", &o]);
        assert!(
            e.contains("No space left on device") && e.contains(&format!("--resume {o}")),
            "leave {leave}: {e}"
        );
        assert_eq!(e.matches("os error").count(), 1, "said twice: {e}");
        disk.empty();
        for (f, bytes) in files.iter().zip(&saved) {
            assert!(
                std::fs::read(out.join(f)).unwrap() == *bytes,
                "leave {leave}: {f} changed"
            );
        }
        let strays: Vec<String> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp") || n.contains("journal"))
            .collect();
        assert!(strays.is_empty(), "leave {leave}: left behind {strays:?}");
    }
    // With space again, the run resumes from the kept checkpoint and ends as if never stopped.
    run_ok(&["train", "--resume", &o]);
    assert_lr_log(&out, &text);
}

#[test]
fn non_finite_loss_stops_with_step_and_lr() {
    let (tmp, d, n) = setup();
    let p = s(&write(&tmp.path().join("nan.toml"), &exploding_plan(3, n)));
    let o = s(&tmp.path().join("run"));
    let e = run_err(&train_args(&p, &d, &o));
    assert!(
        e.contains("loss is") && e.contains("step") && e.contains("lr"),
        "{e}"
    );
}

#[test]
fn binary_links_libtorch_cuda_and_has_runpath() {
    let out = std::process::Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_trainer")])
        .output()
        .expect("readelf (binutils) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("libtorch_cuda.so"), "{text}");
    assert!(text.contains("RUNPATH") || text.contains("RPATH"), "{text}");
    let doctor = run_ok(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        text.contains("libtorch:") && text.contains("CUDA available"),
        "{text}"
    );
}

#[test]
fn a_plan_with_a_byte_order_mark_trains_as_the_page_and_the_cli_read_it() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "epoch", 2, 0, (8, 8), n);
    let p = tmp.path().join("bom.toml");
    std::fs::write(&p, format!("\u{feff}{text}")).unwrap();
    let out = tmp.path().join("run");
    let (ps, o) = (s(&p), s(&out));
    let mut args = train_args(&ps, &d, &o);
    args.push("--no-charts");
    run_ok(&args);
    assert_lr_log(&out, &text);
    // UTF-16 is refused by the trainer with the same rule as everywhere else.
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(|u| u.to_le_bytes()))
        .collect();
    std::fs::write(&p, utf16).unwrap();
    let e = run_err(&train_args(&s(&p), &d, &s(&tmp.path().join("run16"))));
    assert!(e.contains("bom.toml") && e.contains("UTF-8"), "{e}");
}
