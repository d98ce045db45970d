//! TorchScript models (`--model FILE.pt`), held to eager PyTorch: the groups of the
//! original's loop, 20 training steps (freeze phase included), pretrained weights, kill -9 and
//! resume, the files Python loads back, and the inputs refused before any training.
//! The models and the references live in `tests/py/ts_models.py`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use lrplan_schedule::OptimizerKind;
use lrplan_schedule::plan::OptimizerSettings;
use lrplan_schedule::{Schedule, plan_file, table};
use lrplan_trainer::checkpoint::write_tensors_synced;
use lrplan_trainer::groups::{self, GroupBy};
use lrplan_trainer::model::{Mode, Network, Split, Subnet, TensorKind, TorchScript};
use lrplan_trainer::optim::Optimizer;
use lrplan_trainer::pretrained::{self, WeightOptions};
use lrplan_trainer::tensors::read_file as read_tensors;
use tch::{Device, Kind, Reduction, Tensor};

const CLASSES: [&str; 2] = ["cat", "dog"];
const TRAIN_PER_CLASS: usize = 12;

fn ts_models(args: &[&str]) -> String {
    let script = repo().join("crates/trainer/tests/py/ts_models.py");
    let mut all = vec![script.to_str().unwrap()];
    all.extend(args);
    run_python(&all)
}

/// Writes the models and state dicts `specs` name into `dir` (`ts_models.py models`: one
/// Python start for all, which matters on a loaded machine).
fn models(dir: &Path, specs: &[&str]) {
    let mut args = vec!["models", dir.to_str().unwrap()];
    args.extend(specs);
    ts_models(&args);
}

/// The TorchScript file `models` wrote for `spec` (`net-2-script`).
fn pt(dir: &Path, spec: &str) -> PathBuf {
    dir.join(format!("{spec}.pt"))
}

fn load(path: &Path, split: Split) -> TorchScript {
    TorchScript::load(path, &split, Device::Cpu).unwrap()
}

fn names_of(model: &TorchScript, members: &[usize]) -> Vec<String> {
    let e = &model.registry().entries;
    members.iter().map(|&i| e[i].name.clone()).collect()
}

/// The original's groups of the model `models` wrote for `spec`: tensor name → group.
fn reference_groups(dir: &Path, spec: &str) -> BTreeMap<String, usize> {
    let json = dir.join(format!("{spec}.groups.json"));
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

/// The trainer's kind groups of a model file: tensor name → group.
fn trainer_groups(path: &Path) -> BTreeMap<String, usize> {
    let model = load(path, Split::Default);
    let specs = groups::build(model.registry(), GroupBy::Kind, 1.0);
    let mut got = BTreeMap::new();
    for (g, spec) in specs.iter().enumerate() {
        for name in names_of(&model, &spec.members) {
            assert!(
                got.insert(name.clone(), g).is_none(),
                "{name} in two groups"
            );
        }
    }
    got
}

#[test]
fn groups_equal_the_original_loop_over_named_modules() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let tv = ["tv-resnet18-2-script", "tv-mobilenet_v3_small-2-script"];
    let mut specs = vec!["net-2-script", "net-2-trace", "scaled-2-script"];
    specs.extend(tv);
    models(dir, &specs);
    let want = reference_groups(dir, "net-2-script");
    // The rule's telling cases, so the reference itself is checked too.
    assert_eq!(
        want["bn_proj.weight"], 0,
        "Linear named bn_proj: group 0 by name"
    );
    assert_eq!(want["bn_proj.bias"], 2);
    assert_eq!(want["features.0.act.weight"], 1, "PReLU weight decays");
    assert_eq!(want["norm.weight"], 1, "LayerNorm weight decays");
    assert_eq!(want["bn1d.weight"], 0);
    assert!(!want.contains_key("features.0.conv.bias"), "bias-free conv");
    for spec in ["net-2-script", "net-2-trace"] {
        let got = trainer_groups(&pt(dir, spec));
        assert_eq!(got, want, "{spec}: trainer groups vs the original's loop");
    }
    // Buffers are in the registry (checkpointed) but in no group.
    let model = load(&pt(dir, "net-2-script"), Split::Default);
    let nbt = model.entry("bn1d.num_batches_tracked").unwrap();
    assert_eq!(nbt.tensor.kind(), Kind::Int64);
    assert_eq!(nbt.kind, TensorKind::Buffer);
    // A parameter the loop never reaches trains in group 1, and the user is told.
    let scaled = pt(dir, "scaled-2-script");
    let mut want_scaled = reference_groups(dir, "scaled-2-script");
    assert!(!want_scaled.contains_key("scale"));
    want_scaled.insert("scale".into(), 1);
    assert_eq!(trainer_groups(&scaled), want_scaled);
    let notes = load(&scaled, Split::Default).notes().join("\n");
    assert!(notes.contains("group 1 (decay): scale"), "{notes}");
    // Real backbones, as torchvision scripts them (squeeze-excitation, hardswish, ...).
    for spec in tv {
        let got = trainer_groups(&pt(dir, spec));
        assert_eq!(got, reference_groups(dir, spec), "{spec}");
    }
}

#[test]
fn split_by_prefix_for_subnet_groups_and_the_freeze_phase() {
    let tmp = tempfile::tempdir().unwrap();
    models(tmp.path(), &["net-2-script"]);
    let pt = pt(tmp.path(), "net-2-script");
    let head = |m: &TorchScript| -> Vec<String> {
        let e = &m.registry().entries;
        e.iter()
            .filter(|e| e.subnet == Subnet::Head)
            .map(|e| e.name.clone())
            .collect()
    };
    let default = load(&pt, Split::Default);
    assert_eq!(head(&default), ["fc.weight", "fc.bias"]);
    let by_head = load(&pt, Split::Head(vec!["fc.".into()]));
    assert_eq!(head(&by_head), head(&default));
    let specs = groups::build(by_head.registry(), GroupBy::Subnet, 10.0);
    assert_eq!(
        names_of(&by_head, &specs[1].members),
        ["fc.weight", "fc.bias"]
    );
    assert_eq!(specs[1].lr_mult, 10.0);
    let features = load(&pt, Split::Freeze(vec!["features.".into()]));
    let h = head(&features);
    assert!(h.contains(&"bn_proj.weight".to_string()) && h.contains(&"fc.bias".to_string()));
    assert!(!h.iter().any(|n| n.starts_with("features.")));
    assert!(
        features.notes()[0].contains("--freeze-prefix features."),
        "{:?}",
        features.notes()
    );
}

/// Fixed data for `steps` steps (`x.k`, `y.k`) and the class count, written for Python.
fn fixed_data(path: &Path, steps: usize) -> Vec<(Tensor, Tensor)> {
    tch::manual_seed(11);
    let batches: Vec<(Tensor, Tensor)> = (0..steps)
        .map(|_| {
            let x = Tensor::randn([6, 3, 8, 8], (Kind::Float, Device::Cpu));
            let y = Tensor::randint(2, [6], (Kind::Int64, Device::Cpu));
            (x, y)
        })
        .collect();
    let mut file = vec![("classes".to_string(), Tensor::from(2i64))];
    for (k, (x, y)) in batches.iter().enumerate() {
        file.push((format!("x.{k}"), x.shallow_clone()));
        file.push((format!("y.{k}"), y.shallow_clone()));
    }
    write_tensors_synced(path, &file, None).unwrap();
    batches
}

/// The learner's step, written out: forward, mean cross-entropy, gradients, update.
fn step(model: &TorchScript, opt: &mut Optimizer, x: &Tensor, y: &Tensor, mode: Mode) {
    let logits = model.forward(x, mode).unwrap();
    let loss = logits.cross_entropy_loss::<Tensor>(y, None, Reduction::Mean, -100, 0.0);
    let grads = Tensor::run_backward(&[&loss], &opt.params(), false, false);
    opt.step_with(grads).unwrap();
}

fn snapshot(model: &TorchScript) -> Vec<(String, Tensor, Subnet)> {
    let e = &model.registry().entries;
    e.iter()
        .map(|e| (e.name.clone(), e.tensor.detach().copy(), e.subnet))
        .collect()
}

#[test]
fn twenty_steps_equal_pytorch_eager_for_sgd_and_adamw() {
    tch::set_num_threads(1);
    let tmp = tempfile::tempdir().unwrap();
    models(tmp.path(), &["net-2-script"]);
    let pt = pt(tmp.path(), "net-2-script");
    let (steps, frozen) = (20, 5);
    // Varied lrs, passed to Python in shortest round-trip form (it parses the same bits).
    let lrs: Vec<f64> = (0..steps).map(|k| 0.05 / (1.0 + k as f64 * 0.37)).collect();
    let lr_list: Vec<String> = lrs.iter().map(f64::to_string).collect();
    let data = tmp.path().join("data.safetensors");
    let batches = fixed_data(&data, steps);
    for (kind, name) in [(OptimizerKind::Sgd, "sgd"), (OptimizerKind::AdamW, "adamw")] {
        let model = load(&pt, Split::Default);
        let settings = OptimizerSettings {
            kind,
            momentum: 0.9,
            weight_decay: 5e-4,
        };
        let specs = groups::build(model.registry(), GroupBy::Kind, 1.0);
        let mut opt = Optimizer::for_groups(&settings, model.registry(), &specs);
        let before = snapshot(&model);
        for (k, (x, y)) in batches.iter().enumerate() {
            opt.set_lr(lrs[k]);
            let mode = if k < frozen {
                Mode::TrainFrozen
            } else {
                Mode::Train
            };
            step(&model, &mut opt, x, y, mode);
            if k + 1 == frozen {
                assert_freeze_kept_backbone(&before, &model);
            }
        }
        let out = tmp.path().join(format!("{name}.safetensors"));
        let (p, d, o) = (
            pt.to_str().unwrap(),
            data.to_str().unwrap(),
            out.to_str().unwrap(),
        );
        ts_models(&[
            "train",
            p,
            d,
            &lr_list.join(","),
            name,
            &frozen.to_string(),
            o,
        ]);
        let want = read_tensors(&out).unwrap();
        assert_eq!(want.len(), model.registry().entries.len());
        for e in &model.registry().entries {
            let w = &want[&e.name];
            let diff = (e.tensor.detach().to_kind(Kind::Double) - w.to_kind(Kind::Double))
                .abs()
                .max()
                .double_value(&[]);
            assert!(
                diff <= 1e-5,
                "{name}: {} differs from eager PyTorch by {diff}",
                e.name
            );
        }
    }
}

/// After the freeze phase's steps: every backbone tensor (running statistics included) is
/// bit for bit what it was, every head tensor moved.
fn assert_freeze_kept_backbone(before: &[(String, Tensor, Subnet)], model: &TorchScript) {
    for ((name, old, subnet), e) in before.iter().zip(&model.registry().entries) {
        let same = old.equal(&e.tensor.detach());
        match subnet {
            Subnet::Backbone => assert!(same, "{name} changed in the freeze phase"),
            Subnet::Head => assert!(!same, "head tensor {name} did not train"),
        }
    }
}

#[test]
fn pretrained_weights_match_by_name_and_shape() {
    let tmp = tempfile::tempdir().unwrap();
    // Weights of another head (5 classes): fc is refused for its shape, the rest loads.
    let files = ["net-5-3.safetensors", "net-5-3.pth"];
    models(tmp.path(), &["net-2-script", files[0], files[1]]);
    let pt = pt(tmp.path(), "net-2-script");
    for file in files {
        let w = tmp.path().join(file);
        let model = load(&pt, Split::Default);
        let fc_before = model.entry("fc.weight").unwrap().tensor.detach().copy();
        let loaded = pretrained::load(&model, &w, &WeightOptions::default()).unwrap();
        let n = model.registry().entries.len();
        assert_eq!(loaded.loaded.len(), n - 2, "{}", loaded.report);
        assert!(loaded.report.contains("fc.weight"), "{}", loaded.report);
        let sd = read_tensors_any(&w);
        let conv = &model.entry("features.1.2.0.conv.weight").unwrap().tensor;
        assert!(conv.detach().equal(&sd["features.1.2.0.conv.weight"]));
        assert!(
            model
                .entry("fc.weight")
                .unwrap()
                .tensor
                .detach()
                .equal(&fc_before)
        );
    }
}

/// A state dict from safetensors or a torch.save file, through the weights crate.
fn read_tensors_any(path: &Path) -> BTreeMap<String, Tensor> {
    let sd = lrplan_weights::read_file(path, &Default::default()).unwrap();
    sd.tensors
        .iter()
        .map(|(k, t)| (k.clone(), lrplan_trainer::tensors::to_tch(t).unwrap()))
        .collect()
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The image folder, a plan with a freeze phase, the scripted model for 2 classes (and the
/// `extra` specs of `models`).
fn run_setup(tmp: &Path, extra: &[&str]) -> (String, String, String, String) {
    let d = tmp.join("data");
    image_folder(&d, &CLASSES, TRAIN_PER_CLASS, 3);
    let n = CLASSES.len() * TRAIN_PER_CLASS;
    let text = plan("sgd", "cos", "iteration", 8, 2, (8, 6), n);
    let p = write(&tmp.join("plan.toml"), &text);
    let mut specs = vec!["net-2-script"];
    specs.extend(extra);
    models(tmp, &specs);
    (s(&d), s(&p), s(&pt(tmp, "net-2-script")), text)
}

/// The shared run's flags (common::train_args) with a TorchScript `model` and no charts.
fn model_args<'a>(plan: &'a str, data: &'a str, model: &'a str, out: &'a str) -> Vec<&'a str> {
    let mut args = train_args(plan, data, out);
    args.extend(["--model", model, "--no-charts"]);
    args
}

#[test]
fn kill_and_resume_ends_with_the_uninterrupted_weights() {
    let tmp = tempfile::tempdir().unwrap();
    let (d, p, pt, text) = run_setup(tmp.path(), &[]);
    let full = tmp.path().join("full");
    let out = run_ok(&model_args(&p, &d, &pt, &s(&full)));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("head = fc.*"),
        "default split not printed:\n{stdout}"
    );

    let run = tmp.path().join("run");
    let o = s(&run);
    let quiet = |mut c: std::process::Command| {
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c
    };
    let mut child = quiet(trainer())
        .args(model_args(&p, &d, &pt, &o))
        .spawn()
        .unwrap();
    // Kill -9 after the first checkpoint, at varied delays (some inside a checkpoint write,
    // some in the freeze phase), resuming each time.
    for (k, delay) in [0u64, 23, 61, 7].iter().enumerate() {
        let t = Instant::now();
        while !run.join("last.json").exists() && t.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = child.kill();
        let _ = child.wait();
        if k < 3 {
            child = quiet(trainer())
                .args(["train", "--resume", &o])
                .spawn()
                .unwrap();
        }
    }
    run_ok(&["train", "--resume", &o]);

    let want_table = table::to_csv(&Schedule::new(&plan_file::from_toml(&text).unwrap()).unwrap());
    let got_table = std::fs::read_to_string(run.join("lr.csv")).unwrap();
    assert_eq!(lr_rows(&got_table), lr_rows(&want_table), "lr.csv bits");
    assert_eq!(got_table, want_table);
    let a = read_tensors(&full.join("last.safetensors")).unwrap();
    let b = read_tensors(&run.join("last.safetensors")).unwrap();
    assert_eq!(a.len(), b.len());
    for (name, ta) in &a {
        let diff = (ta.to_kind(Kind::Double) - b[name].to_kind(Kind::Double))
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            diff <= 1e-6,
            "{name} differs by {diff} after kill and resume"
        );
    }
    // best.pt / last.pt: TorchScript with the checkpoint's weights, loaded by Python.
    assert_eq!(
        ts_models(&["check", &s(&full), "last", "best"]).trim(),
        "ok"
    );
    assert_eq!(ts_models(&["check", &o, "last"]).trim(), "ok");
}

#[test]
fn bad_models_fail_before_any_training() {
    let tmp = tempfile::tempdir().unwrap();
    let extra = [
        "net-2-0.pth",
        "net-3-script",
        "flat-2-script",
        "tied-2-script",
        "reassign-2-script",
        "noparams-2-script",
    ];
    let (d, p, pt, _) = run_setup(tmp.path(), &extra);
    let file = |spec: &str| s(&tmp.path().join(spec));
    let out = tmp.path().join("run");
    let o = s(&out);
    let refused = |model: &str, extra: &[&str], want: &[&str]| {
        let mut args = model_args(&p, &d, model, &o);
        args.extend(extra);
        let e = run_err(&args);
        for w in want {
            assert!(e.contains(w), "{model} {extra:?}: {w:?} not in:\n{e}");
        }
        assert!(
            !out.join("steps.csv").exists(),
            "{model} {extra:?}: training started"
        );
    };
    let garbage = write(&tmp.path().join("garbage.pt"), "not a model");
    refused(&s(&garbage), &[], &["garbage.pt", "not a TorchScript file"]);
    let state_dict = ["net-2-0.pth", "a torch.save file (weights)", "--weights"];
    refused(&file("net-2-0.pth"), &[], &state_dict);
    let three = ["outputs 3 classes", "data has 2"];
    refused(&file("net-3-script.pt"), &[], &three);
    let flat = ["flat-2-script.pt", "shape [4]", "[N, classes]"];
    refused(&file("flat-2-script.pt"), &[], &flat);
    let tied = ["fc.weight and twin.weight", "tied weights"];
    refused(&file("tied-2-script.pt"), &[], &tied);
    let reassign = ["forward replaces calls", "in place"];
    refused(&file("reassign-2-script.pt"), &[], &reassign);
    let none = ["noparams-2-script.pt", "no parameters"];
    refused(&file("noparams-2-script.pt"), &[], &none);
    refused(
        &pt,
        &["--freeze-prefix", "nope."],
        &["--freeze-prefix", "\"nope.\"", "matches no tensor"],
    );
    refused(
        &pt,
        &["--freeze-prefix", "features.0.bn.w"],
        &["splits module", "features.0.bn"],
    );
    refused(
        &pt,
        &["--freeze-prefix", ""],
        &["every parameter in the backbone"],
    );
    refused(
        &pt,
        &["--head-prefix", "fc.", "--freeze-prefix", "features."],
        &["cannot be used with"],
    );
    refused(
        "small-cnn",
        &["--freeze-prefix", "backbone."],
        &["--freeze-prefix", "TorchScript"],
    );
    refused("resnet19", &[], &["resnet19", "neither a built-in model"]);
}
