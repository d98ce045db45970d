//! The data pipeline against torchvision and Pillow on real photos (scikit-learn's two, made
//! into every format and variant `tests/py/photos.py` writes): decoding, the validation
//! transform, the random-resized crop's statistics, ImageFolder's listing, batch assembly, and
//! a run with `--augment imagenet` that resumes exactly.
//!
//! Tolerances, per pixel and channel in 0..=255 (what was measured when they were set is in
//! brackets): see [`FULL`], [`REDUCED_VS_DRAFT`] and [`REDUCED_VS_TORCHVISION`].

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

use lrplan_trainer::data::decode::decode_rgb;
use lrplan_trainer::data::transforms::{
    CropBox, central_crop, crop_box, eval_resize, resized_shorter,
};
use lrplan_trainer::data::{
    Dataset, LoaderSpec, Normalize, SampleRng, Style, Transforms, list_split, spawn_loader,
};

/// How far two images may be apart: mean, 99.9th percentile and maximum of |difference|.
#[derive(Debug, Clone, Copy)]
struct Tolerance {
    mean: f64,
    p999: u8,
    max: u8,
}

/// Full-size decoding and Pillow's bilinear resampling by `fast_image_resize`, against
/// torchvision on PIL (libjpeg-turbo): [mean 0.42, p99.9 2, max 3]. Lossless formats differ by
/// the resampling's rounding alone [max 1].
const FULL: Tolerance = Tolerance {
    mean: 0.5,
    p999: 2,
    max: 4,
};

/// A JPEG reduced in the DCT (jpeg-decoder) against the same reduction by libjpeg-turbo
/// through PIL's `draft`: [mean 1.33, p99.9 10, max 19].
const REDUCED_VS_DRAFT: Tolerance = Tolerance {
    mean: 1.5,
    p999: 12,
    max: 24,
};

/// A JPEG reduced in the DCT against torchvision, which always decodes at full size: the price
/// of the speed, largest for detailed photos reduced to small sizes [mean 2.38, p99.9 25,
/// max 31 at 64 px from 640 px; mean 0.68, max 14 at 224 px from 1600 px].
const REDUCED_VS_TORCHVISION: Tolerance = Tolerance {
    mean: 2.5,
    p999: 30,
    max: 40,
};

/// Full-size decoding alone against Pillow's: lossless formats exactly, JPEGs (zune-jpeg
/// against libjpeg-turbo) [mean 0.35, p99.9 2, max 5].
const DECODED_JPEG: Tolerance = Tolerance {
    mean: 0.5,
    p999: 3,
    max: 6,
};

const PHOTOS_PY: &str = "crates/trainer/tests/py/photos.py";

/// Runs `tests/py/photos.py` with the venv's Python, which must have torchvision and Pillow.
fn photos(args: &[&str]) -> String {
    let py = common::python();
    let ok = Command::new(&py)
        .args(["-c", "import torchvision, PIL"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} cannot import torchvision and PIL: run scripts/setup.sh (scripts/requirements.txt \
         pins them) or set LRPLAN_PYTHON",
        py.display()
    );
    let mut all = vec![s(&common::repo().join(PHOTOS_PY))];
    all.extend(args.iter().map(|a| a.to_string()));
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    common::run_python(&all)
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn imagenet() -> Transforms {
    Transforms {
        style: Style::Imagenet,
        flip: true,
        normalize: Normalize::IMAGENET,
    }
}

/// The test photos in every variant and torchvision's outputs on them (`photos.py all`), made
/// once per version of `photos.py` in cargo's scratch folder for tests, so reruns cost nothing.
fn photo_set() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = std::fs::read(common::repo().join(PHOTOS_PY)).unwrap();
        let version = script.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("photos-{version:016x}"));
        if !dir.join(".complete").exists() {
            let partial = dir.with_extension("partial");
            let _ = std::fs::remove_dir_all(&partial);
            photos(&["all", &s(&partial)]);
            std::fs::write(partial.join(".complete"), b"").unwrap();
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&partial, &dir).unwrap();
        }
        dir
    })
}

/// The test photos, sorted by name: (file name, path).
fn photo_files() -> Vec<(String, PathBuf)> {
    let mut files: Vec<_> = std::fs::read_dir(photo_set().join("imgs"))
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), p)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 60, "{} test photos", files.len());
    files
}

/// Asserts `ours` is within `tol` of `theirs`.
fn assert_close(what: &str, ours: &[u8], theirs: &[u8], tol: Tolerance) {
    assert_eq!(ours.len(), theirs.len(), "{what}: sizes differ");
    let mut d: Vec<u8> = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| a.abs_diff(*b))
        .collect();
    let mean = d.iter().map(|&v| v as f64).sum::<f64>() / d.len() as f64;
    d.sort_unstable();
    let (p999, max) = (d[d.len() * 999 / 1000], d[d.len() - 1]);
    assert!(
        mean <= tol.mean && p999 <= tol.p999 && max <= tol.max,
        "{what}: mean {mean:.3}, p99.9 {p999}, max {max} exceed {tol:?}"
    );
}

fn is_jpeg(name: &str) -> bool {
    name.ends_with(".jpg")
}

#[test]
fn every_format_decodes_upright_as_pillow_does() {
    let files = photo_files();
    let refs = photo_set().join("pixels");
    for (name, path) in &files {
        let ours = decode_rgb(path, |w, h| (w, h)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(ours.reduction, 1, "{name}");
        let reference = std::fs::read(refs.join(format!("{name}.rgb"))).unwrap();
        let newline = reference.iter().position(|&b| b == b'\n').unwrap();
        let dims = std::str::from_utf8(&reference[..newline]).unwrap();
        let size = format!("{} {}", ours.image.width(), ours.image.height());
        assert_eq!(size, dims, "{name}: upright size");
        let theirs = &reference[newline + 1..];
        if is_jpeg(name) {
            assert_close(name, ours.image.as_raw(), theirs, DECODED_JPEG);
        } else {
            assert!(ours.image.as_raw() == theirs, "{name}: pixels differ");
        }
    }
}

#[test]
fn validation_transform_matches_torchvision_on_real_photos() {
    let files = photo_files();
    let mut reduced = 0;
    for size in [224usize, 64] {
        let refs = photo_set().join(format!("ref{size}"));
        let drafts = photo_set().join(format!("draft{size}"));
        let tf = imagenet().eval(size);
        for (name, path) in &files {
            let what = format!("{name} at {size} px");
            let ours = tf.load(path, &mut SampleRng::new(0, 0, 0)).unwrap();
            let tv = std::fs::read(refs.join(format!("{name}.rgb"))).unwrap();
            let draft = std::fs::read(drafts.join(format!("{name}.rgb"))).unwrap();
            let resize = eval_resize(size as u32);
            let k = decode_rgb(path, |w, h| resized_shorter(w, h, resize))
                .unwrap()
                .reduction;
            if k == 1 {
                assert_close(&what, &ours, &tv, FULL);
            } else {
                reduced += 1;
                assert_close(
                    &format!("{what} vs PIL draft"),
                    &ours,
                    &draft,
                    REDUCED_VS_DRAFT,
                );
                assert_close(&what, &ours, &tv, REDUCED_VS_TORCHVISION);
            }
        }
    }
    assert!(
        reduced >= 30,
        "only {reduced} reduced decodes were compared"
    );
}

/// Kolmogorov–Smirnov distance between two samples.
fn ks(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
    a.sort_by(f64::total_cmp);
    b.sort_by(f64::total_cmp);
    let (mut i, mut j, mut d) = (0, 0, 0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / a.len() as f64 - j as f64 / b.len() as f64).abs());
    }
    d
}

/// A number describing a crop box of a `w × h` image.
type Feature = fn(&CropBox, u32, u32) -> f64;

#[test]
fn random_resized_crops_follow_torchvision() {
    const N: usize = 20_000;
    // Two-sample KS critical distance at alpha = 1e-4: 2.23 * sqrt(2 / N).
    let critical = 2.23 * (2.0 / N as f64).sqrt();
    let (scale, ratio) = ((0.08, 1.0), (3.0 / 4.0, 4.0 / 3.0));
    let sizes = [
        (500u32, 375u32),
        (375, 500),
        (1000, 100),
        (100, 1000),
        (37, 23),
    ];
    let mut args = vec!["boxes".to_string(), N.to_string()];
    args.extend(sizes.iter().map(|(w, h)| format!("{w}x{h}")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let drawn = photos(&args);
    for (w, h) in sizes {
        let theirs: Vec<CropBox> = drawn
            .lines()
            .map(|l| {
                l.split(' ')
                    .map(|x| x.parse().unwrap())
                    .collect::<Vec<u32>>()
            })
            .filter(|v| (v[0], v[1]) == (w, h))
            .map(|v| CropBox {
                top: v[2],
                left: v[3],
                height: v[4],
                width: v[5],
            })
            .collect();
        assert_eq!(theirs.len(), N, "{w}x{h}");
        let ours: Vec<CropBox> = (0..N as u64)
            .map(|i| crop_box(w, h, scale, ratio, &mut SampleRng::new(11, 3, i)))
            .collect();
        // The fallback (after ten misses) is deterministic: the same box, as often.
        let fallback = central_crop(w, h, ratio);
        let rate = |v: &[CropBox]| v.iter().filter(|b| **b == fallback).count() as f64 / N as f64;
        let (p, q) = (rate(&ours), rate(&theirs));
        let sd = ((p + q) / 2.0 * (1.0 - (p + q) / 2.0) * 2.0 / N as f64).sqrt();
        assert!(
            (p - q).abs() <= 4.0 * sd + 1e-12,
            "{w}x{h}: fallback {p} vs {q}"
        );
        let features: [(&str, Feature); 4] = [
            ("area", |b, w, h| {
                (b.width * b.height) as f64 / (w * h) as f64
            }),
            ("aspect", |b, _, _| (b.width as f64 / b.height as f64).ln()),
            ("left", |b, w, _| {
                (b.left as f64 + 0.5) / (w - b.width + 1) as f64
            }),
            ("top", |b, _, h| {
                (b.top as f64 + 0.5) / (h - b.height + 1) as f64
            }),
        ];
        for (what, f) in features {
            let a = ours.iter().map(|b| f(b, w, h)).collect();
            let b = theirs.iter().map(|b| f(b, w, h)).collect();
            let d = ks(a, b);
            assert!(
                d <= critical,
                "{w}x{h} {what}: KS distance {d:.4} > {critical:.4}"
            );
        }
    }
}

/// Writes an empty file (listing never opens files).
fn touch(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"").unwrap();
}

#[test]
fn listing_walks_class_folders_as_image_folder_does() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("data");
    let train = root.join("train");
    for f in [
        "cat/b.png",
        "cat/A.JPG",
        "cat/.jpg",
        "cat/notes.txt",
        "cat/sub/c.webp",
        "cat/sub/deeper/d.tiff",
        "cat/sub-x/e.bmp",
        "cat/sub.x/f.ppm",
        "dog/only/in/sub/g.pgm",
        "dog/h.jpeg",
        "dog/i.gif",
    ] {
        touch(&train.join(f));
    }
    touch(&tmp.path().join("elsewhere/j.tif"));
    std::os::unix::fs::symlink(tmp.path().join("elsewhere"), train.join("dog/linked")).unwrap();
    let ours = list_split(&root, "train", None).unwrap();
    let want: Vec<String> = photos(&["samples", &s(&train)])
        .lines()
        .map(str::to_string)
        .collect();
    let got: Vec<String> = ours
        .files
        .iter()
        .map(|(p, label)| format!("{label}\t{}", p.display()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 10, "{got:#?}");

    // A link back up would be walked forever: refused, named.
    std::os::unix::fs::symlink(&train, train.join("cat/sub/loop")).unwrap();
    let e = list_split(&root, "train", None).unwrap_err().to_string();
    assert!(e.contains("loop") && e.contains("never end"), "{e}");
    std::fs::remove_file(train.join("cat/sub/loop")).unwrap();

    // A class without images names every extension that would have counted.
    touch(&train.join("emu/k.gif"));
    let e = list_split(&root, "train", None).unwrap_err().to_string();
    assert!(
        e.contains("emu") && e.contains(".bmp") && e.contains(".webp"),
        "{e}"
    );
    assert!(!e.contains(".gif"), "{e}");
}

/// All batches of one epoch of `data`, concatenated.
fn epoch_pixels(data: &Arc<Dataset>, batch_size: usize) -> Vec<u32> {
    let spec = LoaderSpec {
        batch_size,
        drop_last: false,
        train: true,
        seed: 5,
        epoch: 2,
        first_batch: 0,
        pinned: false,
    };
    spawn_loader(data.clone(), spec)
        .into_iter()
        .flat_map(|b| b.unwrap().pixels.to_vec())
        .map(f32::to_bits)
        .collect()
}

#[test]
fn batches_assemble_alike_on_one_thread_or_many() {
    let tf = Transforms {
        style: Style::Cifar,
        ..imagenet()
    };
    let data = Arc::new(Dataset::synthetic(64, tf.train(224), 9));
    let per_image = 3 * 224 * 224;
    let serial = 8;
    let parallel = 32;
    assert!(serial * per_image < lrplan_trainer::data::PARALLEL_FROM);
    assert!(parallel * per_image >= lrplan_trainer::data::PARALLEL_FROM);
    assert!(epoch_pixels(&data, serial) == epoch_pixels(&data, parallel));
}

/// `DIR/{train,val}/{china,flower}/…`: the test photos by the photo they come from; three
/// EXIF variants of each photo validate, the rest train.
fn photo_folder(dir: &Path) -> usize {
    let mut train = 0;
    for (name, path) in photo_files() {
        let class = name.split('-').next().unwrap();
        let val = ["exif2", "exif3", "exif4"].iter().any(|e| name.contains(e));
        let split = if val { "val" } else { "train" };
        train += usize::from(!val);
        let to = dir.join(split).join(class).join(&name);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(path, to).unwrap();
    }
    train
}

#[test]
fn imagenet_transforms_train_and_resume_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let n = photo_folder(&data);
    let plan = common::write(
        &tmp.path().join("plan.toml"),
        &common::plan("sgd", "cos", "epoch", 2, 0, (8, 8), n),
    );
    let run = |out: &Path, extra: &[&str]| {
        let mut args = vec![
            "train".to_string(),
            "--plan".into(),
            s(&plan),
            "--data".into(),
            s(&data),
            "--out".into(),
            s(out),
        ];
        args.extend(
            [
                "--augment",
                "imagenet",
                "--image-size",
                "32",
                "--threads",
                "1",
                "--seed",
                "4",
                "--device",
                "cpu",
                "--no-charts",
            ]
            .map(String::from),
        );
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_ok(&args)
    };
    let (whole, parts) = (tmp.path().join("whole"), tmp.path().join("parts"));
    let out = run(&whole, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{n} train / 6 val images")),
        "{stdout}"
    );
    run(&parts, &["--stop-after-epochs", "1"]);
    common::run_ok(&["train", "--resume", &s(&parts), "--no-charts"]);
    let a = lrplan_trainer::tensors::read_file(&whole.join("last.safetensors")).unwrap();
    let b = lrplan_trainer::tensors::read_file(&parts.join("last.safetensors")).unwrap();
    for (name, t) in &a {
        assert!(t.equal(&b[name]), "{name} differs after resuming");
    }
    let metrics = |d: &Path| std::fs::read_to_string(d.join("metrics.csv")).unwrap();
    let strip = |m: String| {
        m.lines()
            .map(|l| l.rsplit_once(',').unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(metrics(&whole)), strip(metrics(&parts)));
}

#[test]
fn transform_flags_are_checked() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    common::image_folder(&data, &["a", "b"], 4, 2);
    let plan = common::write(
        &tmp.path().join("plan.toml"),
        &common::plan("sgd", "cos", "epoch", 1, 0, (4, 4), 8),
    );
    let (p, d, o) = (s(&plan), s(&data), s(&tmp.path().join("run")));
    let base = [
        "train", "--plan", &p, "--data", &d, "--out", &o, "--device", "cpu",
    ];
    let err = |extra: &[&str]| common::run_err(&[&base[..], extra].concat());
    let e = err(&["--augment", "imagenet", "--no-augment"]);
    assert!(e.contains("--no-augment") && e.contains("--augment"), "{e}");
    let e = err(&["--mean", "0.5,0.5"]);
    assert!(e.contains("--mean") && e.contains("three values"), "{e}");
    let e = err(&["--std", "0.2,0,0.2"]);
    assert!(e.contains("--std") && e.contains("positive"), "{e}");
    let e = err(&["--augment", "sideways"]);
    assert!(e.contains("imagenet") && e.contains("cifar"), "{e}");
    let synthetic = [
        "train",
        "--plan",
        &p,
        "--synthetic",
        "8",
        "--out",
        &o,
        "--augment",
        "imagenet",
    ];
    let e = common::run_err(&synthetic);
    assert!(e.contains("--augment") && e.contains("--synthetic"), "{e}");
}

/// FNV-1a over the bits of an epoch of `cifar` batches of the tests' generated image folder.
fn cifar_epoch_hash(dir: &Path, size: usize, flip: bool) -> u64 {
    let tf = Transforms {
        style: Style::Cifar,
        flip,
        normalize: Normalize::IMAGENET,
    };
    let listing = list_split(dir, "train", None).unwrap();
    let data = Arc::new(Dataset::load(listing, tf.train(size), false).unwrap());
    let spec = LoaderSpec {
        batch_size: 5,
        drop_last: false,
        train: true,
        seed: 3,
        epoch: 1,
        first_batch: 0,
        pinned: false,
    };
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for batch in spawn_loader(data, spec) {
        let batch = batch.unwrap();
        for v in batch
            .pixels
            .iter()
            .map(|v| v.to_bits())
            .chain(batch.labels.iter().map(|&l| l as u32))
        {
            hash = (hash ^ v as u64).wrapping_mul(0x100_0000_01b3);
        }
    }
    hash
}

/// The `cifar` and `none` transforms are what the trainer did before `--augment` existed, bit
/// for bit, so a run started then resumes on the same data. The hashes are what the trainer of
/// commit f20876d computes for the same epochs (its `LoaderSpec` with `augment: true`); whole
/// runs of both versions were also compared weight for weight and found identical (PNG folders
/// at 8 and 16 px, JPEG and PNG photo variants at 32 px; flip, no flip, no augmentation; in
/// memory and streamed).
#[test]
fn cifar_batches_keep_the_bits_of_earlier_versions() {
    let tmp = tempfile::tempdir().unwrap();
    common::image_folder(tmp.path(), &["cat", "dog"], 12, 3);
    let got = [
        cifar_epoch_hash(tmp.path(), 8, true),
        cifar_epoch_hash(tmp.path(), 16, true),
        cifar_epoch_hash(tmp.path(), 16, false),
    ];
    assert_eq!(
        got,
        [
            0xe024_6f1e_10f3_2c05,
            0xd444_512b_3406_fbf6,
            0x7808_ba15_a31f_3c08
        ]
    );
}
