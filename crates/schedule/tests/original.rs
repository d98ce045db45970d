//! lrplan's per-epoch rates against the original's Python (`scripts/original-lr.py`, run with
//! the project venv's Python, whose `math.cos` and `math.pow` are glibc's on Linux) over
//! thousands of random plans: at least 99.9% bit-identical, every difference a value where
//! glibc's cos or pow was not correctly rounded, and every value identical to the original's
//! formulas evaluated with correctly rounded cos and pow (mpmath).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use lrplan_schedule::{Schedule, plan_file};

const PLANS: u64 = 3000;

/// SplitMix64: a seeded, dependency-free source of plan parameters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform integer in [lo, hi].
    fn int(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    /// `10^u` for `u` uniform in [lo, hi).
    fn log10(&mut self, lo: f64, hi: f64) -> f64 {
        10f64.powf(lo + (hi - lo) * self.unit())
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A per-epoch plan file with every key the transcription reads written out.
fn random_plan(rng: &mut Rng) -> String {
    let kind = ["sgd", "adam", "adamw"][rng.int(0, 2) as usize];
    let init = rng.log10(-5.0, -0.5);
    let min = init
        * if rng.chance(0.5) {
            0.01
        } else {
            rng.log10(-4.0, 0.0)
        };
    let nbs = if rng.chance(0.5) { 64 } else { rng.int(1, 512) };
    let total = if rng.chance(0.3) {
        rng.int(1, 40)
    } else {
        rng.int(40, 400)
    };
    let ratio = |rng: &mut Rng, default: f64| {
        if rng.chance(0.5) {
            default
        } else {
            0.3 * rng.unit()
        }
    };
    let mut t = String::new();
    writeln!(
        t,
        "[optimizer]\nkind = \"{kind}\"\n[lr]\ninit = {init:?}\nmin = {min:?}"
    )
    .unwrap();
    writeln!(t, "nbs = {nbs}").unwrap();
    if rng.chance(0.3) {
        let max = rng.log10(-4.0, -0.5);
        writeln!(
            t,
            "limit_max = {max:?}\nlimit_min = {:?}",
            max * rng.log10(-3.0, 0.0)
        )
        .unwrap();
    }
    let decay = if rng.chance(0.6) { "cos" } else { "step" };
    writeln!(t, "[decay]\nkind = \"{decay}\"").unwrap();
    writeln!(t, "warmup_iters_ratio = {:?}", ratio(rng, 0.05)).unwrap();
    writeln!(t, "warmup_lr_ratio = {:?}", ratio(rng, 0.1)).unwrap();
    writeln!(t, "no_aug_iter_ratio = {:?}", ratio(rng, 0.05)).unwrap();
    writeln!(t, "step_num = {}", rng.int(2, total.clamp(2, 40))).unwrap();
    writeln!(t, "[epochs]\ntotal = {total}\nstart = 0").unwrap();
    let freeze = rng.chance(0.5);
    writeln!(
        t,
        "[phases]\nfreeze = {freeze}\nfreeze_epochs = {}",
        rng.int(0, total)
    )
    .unwrap();
    writeln!(t, "freeze_batch_size = {}", rng.int(1, 256)).unwrap();
    writeln!(t, "unfreeze_batch_size = {}", rng.int(1, 256)).unwrap();
    writeln!(t, "[updates]\nper = \"epoch\"").unwrap();
    t
}

fn python() -> PathBuf {
    std::env::var_os("LRPLAN_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"))
}

#[test]
fn per_epoch_rates_match_the_original_python_where_glibc_rounds_correctly() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("original-lr");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng(0x5EED_0001);
    let (mut rates, mut written) = (String::new(), 0);
    for i in 0..PLANS {
        let text = random_plan(&mut rng);
        // Plans lrplan refuses (say, step decay with steps shorter than an epoch) are left
        // out: the original raises or divides by zero on them.
        let Ok(schedule) = plan_file::from_toml(&text).and_then(|p| Schedule::new(&p)) else {
            continue;
        };
        std::fs::write(dir.join(format!("plan-{i:04}.toml")), &text).unwrap();
        let plan = schedule.plan();
        for epoch in plan.epochs.start..plan.epochs.total {
            writeln!(rates, "{i} {epoch} {:?}", schedule.lr(epoch, 0)).unwrap();
        }
        written += 1;
    }
    assert!(
        written > PLANS * 9 / 10,
        "only {written} of {PLANS} plans valid"
    );
    std::fs::write(dir.join("lrplan.txt"), rates).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/original-lr.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} ({e}): run scripts/setup.sh",
                python().display()
            )
        });
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(
        out.status.success(),
        "{} failed (run scripts/setup.sh if mpmath is missing):\n{report}",
        script.display()
    );
}
