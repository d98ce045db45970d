//! Mixed precision, the EMA of the weights and channels-last (issue 14): the loss scaler
//! against torch's GradScaler, the average against a transcription of the original's
//! ModelEMA, and the trainer's runs with each (bf16 accuracy, fp16 kill -9 and resume bit for
//! bit, the average validated and saved, NHWC losses as NCHW's).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use lrplan_schedule::OptimizerKind;
use lrplan_trainer::amp::{Check, LossScaler, ScalerState};
use lrplan_trainer::checkpoint::write_tensors_synced;
use lrplan_trainer::ema::Ema;
use lrplan_trainer::model::{Arch, Builtin, Init, Network, TensorKind};
use lrplan_trainer::optim::Optimizer;
use lrplan_trainer::tensors::read_file as read_tensors;
use tch::{Device, Kind, Tensor};

/// Runs `steps` steps of SGD (lr 0.1) on one parameter through the loss scaler, with
/// gradient `grad(k)` at step k, here and in torch's GradScaler; the scale, the growth
/// tracker, the skipped steps and the final parameter must agree exactly.
fn scaler_against_torch(interval: u32, steps: usize, grad: impl Fn(usize) -> Vec<f32>) {
    let tmp = tempfile::tempdir().unwrap();
    let p = Tensor::from_slice(&[0.5f32, -1.25, 2.0, 0.0]).set_requires_grad(true);
    let mut file = vec![("p".to_string(), p.detach().copy())];
    let grads: Vec<Tensor> = (0..steps).map(|k| Tensor::from_slice(&grad(k))).collect();
    file.extend((grads.iter().enumerate()).map(|(k, g)| (format!("g.{k}"), g.copy())));
    let (inp, out) = (tmp.path().join("in.st"), tmp.path().join("out.st"));
    write_tensors_synced(&inp, &file, None).unwrap();
    run_python(&[
        &s(&repo().join("crates/trainer/tests/py/scaler_ref.py")),
        &s(&inp),
        &s(&out),
        &interval.to_string(),
    ]);
    let want = read_tensors(&out).unwrap();
    let params = vec![("p".to_string(), p.shallow_clone(), false)];
    let mut opt = Optimizer::new(OptimizerKind::Sgd, 0.0, 0.0, vec![(1.0, params)]);
    opt.set_lr(0.1);
    let mut scaler = LossScaler::new(Device::Cpu, interval, ScalerState::default()).unwrap();
    let mut skipped = 0;
    for (k, g) in grads.iter().enumerate() {
        let scaled = g * f64::from(scaler.current_scale().unwrap());
        let check = scaler.unscale(std::slice::from_ref(&scaled)).unwrap();
        if check == Check::Finite {
            opt.step_with(vec![scaled]).unwrap();
        } else {
            skipped += 1;
        }
        let state = scaler.state().unwrap();
        let value = |name: &str| want[&format!("{name}.{k}")].double_value(&[0]);
        assert_eq!(state.scale, value("scale"), "scale after step {k}");
        assert_eq!(
            f64::from(state.growth_tracker),
            value("tracker"),
            "step {k}"
        );
        let torch_skipped = value("skipped") == 1.0;
        assert_eq!(check != Check::Finite, torch_skipped, "skipped at step {k}");
        assert_eq!(state.skipped_steps, skipped);
    }
    let (ours, theirs) = (Vec::<f32>::try_from(&p).unwrap(), &want["p"]);
    let theirs = Vec::<f32>::try_from(theirs).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&ours), bits(&theirs), "parameter after {steps} steps");
}

#[test]
fn loss_scaler_skips_halves_and_doubles_as_torch_grad_scaler() {
    // Interval 3: the scale doubles after steps 2 and 5 (three good steps each), an inf at
    // step 7 and a NaN at step 8 halve it twice, and it grows again from step 9.
    let bad = |k: usize, x: f32| match k {
        7 => f32::INFINITY,
        8 if x < 0.0 => f32::NAN,
        _ => x,
    };
    scaler_against_torch(3, 16, |k| {
        [0.25f32, -0.5, 1.0 + k as f32, -0.125]
            .iter()
            .map(|&x| bad(k, x))
            .collect()
    });
}

#[test]
fn loss_scaler_doubles_after_2000_good_steps() {
    // GradScaler's own interval: the first doubling comes with step 2000, not before.
    scaler_against_torch(2000, 2001, |k| vec![1e-3 * (k % 7) as f32, -2e-3, 0.5, 0.0]);
}

#[test]
fn ema_matches_a_transcription_of_model_ema() {
    let (decay, tau, steps) = (0.9999, 20.0, 50);
    tch::manual_seed(5);
    let model = Builtin::new(Arch::SmallCnn, 10, Device::Cpu, Init::Normal).unwrap();
    let registry = model.registry();
    let mut ema = Ema::new(registry, decay, tau, 0).unwrap();
    let state = |k: usize| {
        (registry.entries.iter())
            .map(move |e| (format!("s.{k}.{}", e.name), e.tensor.detach().copy()))
    };
    let mut states: Vec<(String, Tensor)> = state(0).collect();
    for k in 1..=steps {
        // A training step's change: noise on every float tensor, one more batch counted.
        tch::no_grad(|| {
            for e in &registry.entries {
                let mut t = e.tensor.shallow_clone();
                match e.tensor.kind() {
                    Kind::Int64 => drop(t.g_add_scalar_(1)),
                    _ => drop(t.g_add_(&(t.randn_like() * 0.05))),
                }
            }
        });
        ema.update(registry).unwrap();
        states.extend(state(k));
    }
    let tmp = tempfile::tempdir().unwrap();
    let (inp, out) = (tmp.path().join("states.st"), tmp.path().join("ema.st"));
    let buffers: Vec<&str> = (registry.entries.iter())
        .filter(|e| e.kind == TensorKind::Buffer)
        .map(|e| e.name.as_str())
        .collect();
    let meta = BTreeMap::from([("buffers".to_string(), buffers.join(","))]);
    write_tensors_synced(&inp, &states, Some(&meta)).unwrap();
    run_python(&[
        &s(&repo().join("crates/trainer/tests/py/ema_ref.py")),
        &s(&inp),
        &s(&out),
        &decay.to_string(),
        &tau.to_string(),
    ]);
    let want = read_tensors(&out).unwrap();
    assert_eq!(ema.updates, steps as u64);
    for (name, t) in ema.named(registry, "") {
        let diff = (t.to_kind(Kind::Double) - want[&name].to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff <= 1e-6, "{name}: the average differs by {diff}");
    }
    // A swap puts the average in the model; a second one puts every tensor back.
    let before: Vec<Tensor> = registry.entries.iter().map(|e| e.tensor.copy()).collect();
    let average: Vec<Tensor> = ema.tensors().iter().map(Tensor::copy).collect();
    ema.swap(registry).unwrap();
    for (e, a) in registry.entries.iter().zip(&average) {
        assert!(
            e.tensor.equal(a),
            "{} is not the average after a swap",
            e.name
        );
    }
    ema.swap(registry).unwrap();
    for (e, b) in registry.entries.iter().zip(before) {
        assert!(e.tensor.equal(&b), "{} changed by two swaps", e.name);
    }
}

#[test]
fn channels_last_lays_out_conv_weights_nhwc_with_the_same_values() {
    tch::manual_seed(1);
    let model = Builtin::new(Arch::Resnet18, 10, Device::Cpu, Init::Normal).unwrap();
    let before: Vec<Tensor> = model
        .registry
        .entries
        .iter()
        .map(|e| e.tensor.copy())
        .collect();
    lrplan_trainer::model::to_channels_last(&model).unwrap();
    for (e, b) in model.registry.entries.iter().zip(before) {
        assert!(e.tensor.equal(&b), "{} changed value", e.name);
        if e.tensor.dim() == 4 {
            let (size, stride) = (e.tensor.size(), e.tensor.stride());
            // NHWC: channels vary fastest.
            assert_eq!(stride[1], 1, "{}: strides {stride:?}", e.name);
            assert_eq!(stride[0], size[1] * size[2] * size[3], "{}", e.name);
        }
    }
}

// --- the trainer's runs ---------------------------------------------------------------

fn csv(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

fn record(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&csv(dir, "last.json")).unwrap()
}

/// Every tensor of two safetensors files, bit for bit.
fn assert_same_bits(a: &Path, b: &Path) {
    let (ta, tb) = (read_tensors(a).unwrap(), read_tensors(b).unwrap());
    assert_eq!(
        ta.keys().collect::<Vec<_>>(),
        tb.keys().collect::<Vec<_>>(),
        "{a:?}"
    );
    for (name, x) in &ta {
        assert!(x.equal(&tb[name]), "{}: {name} differs", a.display());
    }
}

#[test]
fn bf16_trains_the_digits_job_to_95_percent() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run_python(&[&s(&repo().join("scripts/prepare-digits.py")), &s(&data)]);
    let (pre, fine) = (tmp.path().join("pre"), tmp.path().join("fine"));
    let example = |name: &str| s(&repo().join("examples").join(name));
    let common = [
        "--model",
        "small-cnn",
        "--image-size",
        "16",
        "--no-flip",
        "--threads",
        "2",
        "--device",
        "cpu",
        "--no-charts",
        "--precision",
        "bf16",
    ];
    let mut args = vec!["train", "--plan"];
    let (p1, d1, o1) = (
        example("digits-pretrain.toml"),
        s(&data.join("digits04")),
        s(&pre),
    );
    args.extend([p1.as_str(), "--data", &d1, "--out", &o1, "--seed", "1"]);
    args.extend(common);
    let out = run_ok(&args);
    assert!(String::from_utf8_lossy(&out.stdout).contains("numerics: bf16"));
    let weights = s(&pre.join("last.safetensors"));
    let (p2, d2, o2) = (
        example("digits-finetune.toml"),
        s(&data.join("digits")),
        s(&fine),
    );
    let mut args = vec!["train", "--plan", &p2, "--data", &d2, "--out", &o2];
    args.extend(["--seed", "2", "--weights", &weights]);
    args.extend(common);
    run_ok(&args);
    let acc = *log_column(&fine, "metrics.csv", 4).last().unwrap();
    assert!(acc >= 0.95, "bf16 digits job: validation accuracy {acc}");
}

/// The fp16 run of the kill test: the scale doubles after 2 good steps, so fp16's range is
/// soon exceeded and the scaler skips steps by itself; the EMA's tau is short.
fn fp16_args<'a>(p: &'a str, d: &'a str, o: &'a str) -> Vec<&'a str> {
    let mut args = train_args(p, d, o);
    args.extend([
        "--no-charts",
        "--precision",
        "fp16",
        "--loss-scale-interval",
    ]);
    args.extend(["2", "--ema", "--ema-tau", "10"]);
    args
}

#[test]
fn fp16_scaler_and_ema_survive_kill_9_and_resume_bit_for_bit() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "iteration", 8, 2, (8, 6), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let (full, part) = (tmp.path().join("full"), tmp.path().join("part"));
    let (f, pa) = (s(&full), s(&part));
    run_ok(&fp16_args(&p, &d, &f));
    let quiet = |mut c: std::process::Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let mut child = quiet(trainer())
        .args(fp16_args(&p, &d, &pa))
        .spawn()
        .unwrap();
    for delay in [0u64, 60, 25] {
        let t = Instant::now();
        while !part.join("last.json").exists() && t.elapsed() < Duration::from_secs(120) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        child = quiet(trainer())
            .args(["train", "--resume", &pa])
            .spawn()
            .unwrap();
    }
    let _ = child.wait();
    run_ok(&["train", "--resume", &pa]);
    for log in ["steps.csv", "skipped.csv", "lr.csv", "metrics.csv"] {
        let (a, b) = (csv(&full, log), csv(&part, log));
        if log == "metrics.csv" {
            // Seconds differ; everything else is the same.
            let cut = |t: &str| -> Vec<String> {
                let rows = t.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string());
                rows.collect()
            };
            assert_eq!(cut(&a), cut(&b), "metrics.csv");
        } else {
            assert_eq!(a, b, "{log}");
        }
    }
    for file in ["last.safetensors", "last.optim.safetensors"] {
        assert_same_bits(&full.join(file), &part.join(file));
    }
    let (ra, rb) = (record(&full), record(&part));
    assert_eq!(ra["scaler"], rb["scaler"]);
    assert_eq!(ra["ema_updates"], rb["ema_updates"]);
    assert_scaler_rules(&full, 2);
    // The skipped steps kept their lrs: lr.csv is the schedule's table, bit for bit.
    assert_lr_log(&full, &text);
}

/// The scale GradScaler's rules give, walked through the run's steps with the skips the run
/// logged: each skip at the scale logged, halving it; doubling after `interval` good steps.
/// The walk must end at the scaler state of the checkpoint.
fn assert_scaler_rules(run: &Path, interval: i64) {
    let skipped = csv(run, "skipped.csv");
    let skips: BTreeMap<u64, f64> = (skipped.lines().skip(1))
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    assert!(
        skips.len() >= 2,
        "the run should overflow fp16 and skip steps:\n{skipped}"
    );
    let rec = record(run);
    let steps = rec["optimizer_steps"].as_u64().unwrap();
    let (mut scale, mut tracker) = (65536.0f64, 0i64);
    for step in 0..steps {
        match skips.get(&step) {
            Some(&at) => {
                assert_eq!(at, scale, "scale of skipped step {step}");
                (scale, tracker) = (scale * 0.5, 0);
            }
            None if tracker + 1 == interval => (scale, tracker) = (scale * 2.0, 0),
            None => tracker += 1,
        }
    }
    let state = &rec["scaler"];
    assert_eq!(state["scale"].as_f64().unwrap(), scale);
    assert_eq!(state["growth_tracker"].as_i64().unwrap(), tracker);
    assert_eq!(state["skipped_steps"].as_u64().unwrap(), skips.len() as u64);
}

#[test]
fn ema_weights_are_validated_and_saved() {
    let (tmp, d, n) = setup();
    let text = plan("adam", "cos", "iteration", 5, 0, (8, 8), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    let runs: Vec<_> = ["plain", "d0", "slow"]
        .iter()
        .map(|r| tmp.path().join(r))
        .collect();
    let o: Vec<String> = runs.iter().map(|r| s(r)).collect();
    let flags: [&[&str]; 3] = [
        &[],
        &["--ema", "--ema-decay", "0"],
        &["--ema", "--ema-decay", "0.99999", "--ema-tau", "0.001"],
    ];
    for (o, extra) in o.iter().zip(flags) {
        let mut args = train_args(&p, &d, o);
        args.push("--no-charts");
        args.extend(extra);
        run_ok(&args);
    }
    // Decay 0: the average is the weights, so the run is the plain one, and the weights
    // file (the average) equals the training weights kept beside the optimizer state.
    let metrics = |i: usize| log_column(&runs[i], "metrics.csv", 3);
    assert_eq!(metrics(0), metrics(1));
    let (avg, training) = (
        read_tensors(&runs[1].join("last.safetensors")).unwrap(),
        read_tensors(&runs[1].join("last.optim.safetensors")).unwrap(),
    );
    for (name, t) in &avg {
        assert!(t.equal(&training[&format!("train.{name}")]), "{name}");
    }
    assert_eq!(
        record(&runs[1])["ema_updates"],
        record(&runs[1])["optimizer_steps"]
    );
    // Decay 0.99999 from the first update: the average barely leaves the initial weights
    // (its batch-norm statistics, copied, do move), so its validation loss stays close to
    // where it started while the plain run's moves.
    let (plain, slow) = (metrics(0), metrics(2));
    let spread = |v: &[f64]| {
        let max = v.iter().cloned().fold(f64::MIN, f64::max);
        max - v.iter().cloned().fold(f64::MAX, f64::min)
    };
    assert!(
        spread(&slow) * 5.0 < spread(&plain),
        "validation did not see the average: {slow:?} vs the plain run's {plain:?}"
    );
}

/// Channels-last against NCHW: the same weights and batches give the same loss up to float
/// rounding (the convolutions' NHWC kernels round differently). The small CNN stays within
/// 1e-4 over a whole run; ResNet-18 at this size (batch norm over 8 images of 1x1 pixels
/// in its last stages) amplifies any rounding difference a hundredfold per step (one thread
/// against two does the same by step 5), so only its first step is compared.
#[test]
fn channels_last_gives_the_losses_of_nchw() {
    let (tmp, d, n) = setup();
    let text = plan("sgd", "cos", "iteration", 3, 1, (8, 6), n);
    let p = s(&write(&tmp.path().join("plan.toml"), &text));
    for (model, steps) in [("small-cnn", usize::MAX), ("resnet18", 1)] {
        let (a, b) = (
            tmp.path().join(model),
            tmp.path().join(format!("{model}-cl")),
        );
        for (o, cl) in [(&a, false), (&b, true)] {
            let o = s(o);
            let mut args = train_args(&p, &d, &o);
            args.extend(["--no-charts", "--model", model]);
            if cl {
                args.push("--channels-last");
            }
            run_ok(&args);
        }
        let (la, lb) = (
            log_column(&a, "steps.csv", 4),
            log_column(&b, "steps.csv", 4),
        );
        assert_eq!(la.len(), lb.len());
        for (x, y) in la.iter().zip(&lb).take(steps) {
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{model}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn fp16_stops_when_the_scaler_cannot_recover() {
    let (tmp, d, n) = setup();
    // An lr of 1e30 makes the weights overflow fp16 after the first step: every later
    // forward pass is inf, and halving the scale cannot help.
    let p = s(&write(&tmp.path().join("nan.toml"), &exploding_plan(12, n)));
    let o = s(&tmp.path().join("run"));
    let mut args = train_args(&p, &d, &o);
    args.extend(["--precision", "fp16"]);
    let e = run_err(&args);
    assert!(
        e.contains("cannot recover") && e.contains("loss scale"),
        "{e}"
    );
    let skipped = csv(&tmp.path().join("run"), "skipped.csv");
    assert!(skipped.lines().count() > 10, "{skipped}");
}

#[test]
fn numeric_flags_are_checked() {
    let (tmp, d, n) = setup();
    let p = s(&write(
        &tmp.path().join("plan.toml"),
        &plan("sgd", "cos", "iteration", 2, 0, (8, 8), n),
    ));
    let o = s(&tmp.path().join("run"));
    let cases: [(&[&str], &str); 5] = [
        (&["--loss-scale-interval", "10"], "--loss-scale-interval"),
        (
            &["--precision", "fp16", "--loss-scale-interval", "0"],
            "at least 1",
        ),
        (&["--ema", "--ema-decay", "1"], "--ema-decay"),
        (&["--ema", "--ema-tau", "0"], "--ema-tau"),
        (&["--ema-decay", "0.5"], "--ema"),
    ];
    for (extra, want) in cases {
        let mut args = train_args(&p, &d, &o);
        args.extend(extra);
        let e = run_err(&args);
        assert!(e.contains(want), "{extra:?}: {e}");
    }
    let mut args = train_args(&p, &d, &o);
    args.extend([
        "--no-charts",
        "--stop-after-epochs",
        "1",
        "--precision",
        "bf16",
    ]);
    run_ok(&args);
    let e = run_err(&["train", "--resume", &o, "--precision", "fp32"]);
    assert!(
        e.contains("--precision") && e.contains("cannot change"),
        "{e}"
    );
}
