//! Helpers shared by the trainer's integration tests: the venv python, the binary, tiny
//! generated image folders and plan files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lrplan_schedule::{Schedule, plan_file, table};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The venv python with torch; a missing one fails the test with instructions (never skips).
pub fn python() -> PathBuf {
    let py = std::env::var_os("LRPLAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    let ok = Command::new(&py)
        .args(["-c", "import torch, safetensors"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{} cannot import torch and safetensors: run scripts/build-trainer.sh (creates .venv) \
         or set LRPLAN_PYTHON",
        py.display()
    );
    py
}

pub fn run_python(args: &[&str]) -> String {
    let out = Command::new(python())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_trainer"))
}

/// Runs `trainer` and asserts success.
pub fn run_ok(args: &[&str]) -> Output {
    let out = trainer().args(args).output().expect("spawn trainer");
    assert!(
        out.status.success(),
        "trainer {args:?} failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs `trainer`, asserts a clean failure, and returns stderr.
pub fn run_err(args: &[&str]) -> String {
    let out = trainer().args(args).output().expect("spawn trainer");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "trainer {args:?} should fail; stdout:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains("panicked"),
        "trainer {args:?} panicked:\n{stderr}"
    );
    assert!(stderr.contains("error"), "no error message:\n{stderr}");
    stderr
}

/// `DIR/{train,val}/<class>/*.png`: `train_n` / `val_n` images per class, 8×8, the class
/// visible as brightness and stripe direction; every third image grayscale.
pub fn image_folder(dir: &Path, classes: &[&str], train_n: usize, val_n: usize) {
    for (split, n) in [("train", train_n), ("val", val_n)] {
        for (c, name) in classes.iter().enumerate() {
            let d = dir.join(split).join(name);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..n {
                let path = d.join(format!("{i:03}.png"));
                let v = |x: u32, y: u32| -> u8 {
                    let stripe = if c % 2 == 0 { x } else { y };
                    ((c as u32 * 60 + stripe * 20 + i as u32 * 7) % 256) as u8
                };
                if i % 3 == 0 {
                    image::GrayImage::from_fn(8, 8, |x, y| image::Luma([v(x, y)]))
                        .save(&path)
                        .unwrap();
                } else {
                    image::RgbImage::from_fn(8, 8, |x, y| {
                        image::Rgb([v(x, y), v(y, x), (i * 13 % 256) as u8])
                    })
                    .save(&path)
                    .unwrap();
                }
            }
        }
    }
}

pub fn write(path: &Path, text: &str) -> PathBuf {
    std::fs::write(path, text).unwrap();
    path.to_path_buf()
}

/// A plan: `decay` cos/step, `per` epoch/iteration, `extra` appended verbatim.
pub fn plan(
    kind: &str,
    decay: &str,
    per: &str,
    total: u32,
    freeze: u32,
    bs: (u32, u32),
    dataset: usize,
) -> String {
    format!(
        r#"
[optimizer]
kind = "{kind}"
momentum = 0.9
weight_decay = 5e-4

[lr]
init = 1e-2
min = 1e-4
nbs = 64

[decay]
kind = "{decay}"
warmup_iters_ratio = 0.05
warmup_lr_ratio = 0.1
no_aug_iter_ratio = 0.05
step_num = 3

[epochs]
total = {total}
start = 0

[phases]
freeze = {}
freeze_epochs = {freeze}
freeze_batch_size = {}
unfreeze_batch_size = {}

[updates]
per = "{per}"
dataset_size = {dataset}
drop_last = true
"#,
        freeze > 0,
        bs.0,
        bs.1
    )
}

/// A constant-lr SGD plan of `total` epochs at batch 8 whose lr, 1e30 from the first step,
/// makes the weights (and then the loss) overflow.
pub fn exploding_plan(total: u32, dataset: usize) -> String {
    plan("sgd", "constant", "iteration", total, 0, (8, 8), dataset)
        .replace(
            "init = 1e-2",
            "init = 1e30\nlimit_max = 1e30\nlimit_min = 1e29",
        )
        .replace("warmup_iters_ratio = 0.05", "warmup_iters_ratio = 0.0")
}

/// Column `i` of a run's log `name` (`steps.csv`, `metrics.csv`) as numbers, header skipped.
pub fn log_column(run: &Path, name: &str, i: usize) -> Vec<f64> {
    let path = run.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (text.lines().skip(1))
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

/// Bits of every lr in a table CSV (header skipped).
pub fn lr_rows(csv: &str) -> Vec<(String, u64)> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let (head, lr) = l.rsplit_once(',').unwrap();
            (head.to_string(), lr.parse::<f64>().unwrap().to_bits())
        })
        .collect()
}

// --- the image set and the runs the binary tests share ---------------------------------

pub const CLASSES: [&str; 2] = ["cat", "dog"];
pub const TRAIN_PER_CLASS: usize = 12;

pub fn data(dir: &Path) -> String {
    let d = dir.join("data");
    if !d.exists() {
        image_folder(&d, &CLASSES, TRAIN_PER_CLASS, 3);
    }
    d.to_string_lossy().into_owned()
}

/// A temporary folder holding the generated image set, its path, and its train-set size.
pub fn setup() -> (tempfile::TempDir, String, usize) {
    let tmp = tempfile::tempdir().unwrap();
    let d = data(tmp.path());
    (tmp, d, CLASSES.len() * TRAIN_PER_CLASS)
}

pub fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

pub fn train_args<'a>(plan: &'a str, data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "--plan",
        plan,
        "--data",
        data,
        "--out",
        out,
        "--image-size",
        "8",
        "--threads",
        "1",
        "--seed",
        "3",
        // Bits compared: never CUDA, whose cuDNN may pick another algorithm per run.
        "--device",
        "cpu",
    ]
}

pub fn expected_table(plan_text: &str) -> String {
    let plan = plan_file::from_toml(plan_text).unwrap();
    table::to_csv(&Schedule::new(&plan).unwrap())
}

pub fn assert_lr_log(run: &Path, plan_text: &str) {
    let got = std::fs::read_to_string(run.join("lr.csv")).unwrap();
    let want = expected_table(plan_text);
    let (g, w) = (lr_rows(&got), lr_rows(&want));
    assert_eq!(g.len(), w.len(), "row count of {}", run.display());
    for (a, b) in g.iter().zip(&w) {
        assert_eq!(a, b, "lr.csv row differs from the schedule table (bits)");
    }
    assert_eq!(got, want);
}
