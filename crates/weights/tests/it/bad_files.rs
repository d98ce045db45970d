//! Damaged and hostile input: always an error that says what is wrong, never a panic,
//! never anything executed.

use crate::support::fixture;
use lrplan_weights::{Error, ReadOptions, read_bytes, read_file};
use std::panic::{AssertUnwindSafe, catch_unwind};

fn read_mem(bytes: &[u8]) -> Result<lrplan_weights::StateDict, Error> {
    read_bytes(bytes, &ReadOptions::default())
}

/// Reading must return, not panic; the result itself may be anything.
fn no_panic(what: &str, bytes: &[u8]) -> Option<Result<lrplan_weights::StateDict, Error>> {
    match catch_unwind(AssertUnwindSafe(|| read_mem(bytes))) {
        Ok(r) => Some(r),
        Err(_) => panic!("{what}: read_bytes panicked"),
    }
}

#[test]
fn truncated_files_fail_cleanly_at_every_offset() {
    for (name, step) in [
        ("zip_basic.pt", 3),
        ("legacy_basic.pt", 1),
        ("checkpoint_legacy.pt", 29),
        ("zip_nocrc.pt", 5),
        ("py2_torch04.pt", 1),
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert!(read_mem(&bytes).is_ok(), "{name} itself must read");
        let mut cut = 0;
        while cut < bytes.len() {
            let what = format!("{name} cut at {cut} of {}", bytes.len());
            let err = no_panic(&what, &bytes[..cut])
                .unwrap()
                .err()
                .unwrap_or_else(|| panic!("{what}: read succeeded"));
            let msg = err.to_string();
            assert!(
                msg.starts_with("<memory>: ") && msg.len() > 20,
                "{what}: {msg}"
            );
            cut += step;
        }
    }
}

#[test]
fn random_bytes_are_rejected_with_a_reason() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for len in [0usize, 1, 7, 8, 9, 64, 1000, 100_000] {
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let err = no_panic("random", &bytes).unwrap().unwrap_err().to_string();
        assert!(err.starts_with("<memory>: "), "{err}");
    }
    let err = read_mem(b"").unwrap_err().to_string();
    assert_eq!(err, "<memory>: the file is empty");
    let err = read_mem(b"hello world, not weights")
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a PyTorch or safetensors file"), "{err}");
}

#[test]
fn missing_storage_record_is_named() {
    let path = fixture("zip_missing_storage.pt");
    let err = read_file(&path, &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("zip_missing_storage.pt"), "{msg}");
    assert!(
        msg.contains("storage '0'") && msg.contains("no record"),
        "{msg}"
    );
}

#[test]
fn corrupted_storage_bytes_fail_the_checksum() {
    let err = read_file(&fixture("zip_corrupt.pt"), &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("zip_corrupt.pt") && msg.contains("CRC-32"),
        "{msg}"
    );
    assert!(msg.contains("tensor 'f32'"), "{msg}");
}

#[test]
fn hostile_pickles_are_refused_and_not_run() {
    let marker = fixture("MARKER");
    for (name, global) in [
        ("evil_os_system.pt", "posix.system"),
        ("evil_eval.pt", "__builtin__.eval"),
        ("evil_in_zip.pt", "posix.system"),
    ] {
        let err = read_file(&fixture(name), &ReadOptions::default()).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, Error::Refused { .. }), "{name}: {msg}");
        assert!(
            msg.contains(name) && msg.contains("refused") && msg.contains(global),
            "{msg}"
        );
        assert!(!marker.exists(), "{name} ran its payload");
    }
}

#[test]
fn a_directory_or_missing_file_is_an_io_error() {
    let err = read_file(&fixture("no-such-file.pt"), &ReadOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Io { .. }));
    assert!(
        err.to_string().contains("no-such-file.pt: cannot open"),
        "{err}"
    );
    let dir = fixture("");
    let err = read_file(&dir, &ReadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("directory") || err.contains("cannot"), "{err}");
}

/// Deterministic fuzzing: seeded mutations of real files, a few thousand inputs.
#[test]
fn mutated_files_never_panic() {
    let mut seeds: Vec<(String, Vec<u8>)> = [
        "zip_basic.pt",
        "zip_nocrc.pt",
        "legacy_basic.pt",
        "checkpoint_legacy.pt",
        "evil_os_system.pt",
        "evil_in_zip.pt",
        "py2_torch04_checkpoint.pt",
        "dtype_skipped_legacy.pt",
    ]
    .iter()
    .map(|n| (n.to_string(), std::fs::read(fixture(n)).unwrap()))
    .collect();
    // A safetensors file too.
    let sd = read_file(&fixture("zip_basic.pt"), &ReadOptions::default()).unwrap();
    let st = fixture("fuzz_seed.safetensors");
    lrplan_weights::write_safetensors(&st, &sd.tensors, None).unwrap();
    seeds.push(("fuzz_seed.safetensors".into(), std::fs::read(&st).unwrap()));

    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let start = std::time::Instant::now();
    let mut ok = 0;
    let runs = 4000;
    for i in 0..runs {
        let (name, seed) = &seeds[i % seeds.len()];
        let mut b = seed.clone();
        let mutations = 1 + rng.below(4);
        for _ in 0..mutations {
            match rng.below(6) {
                0 | 1 => {
                    let at = rng.below(b.len().max(1));
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << rng.below(8);
                    }
                }
                2 => {
                    let at = rng.below(b.len() + 1);
                    b.insert(at, rng.next() as u8);
                }
                3 => {
                    if !b.is_empty() {
                        let at = rng.below(b.len());
                        b.remove(at);
                    }
                }
                4 => {
                    let at = rng.below(b.len() + 1);
                    b.truncate(at);
                }
                _ => {
                    let at = rng.below(b.len().max(1));
                    let v = [0x00, 0xff, 0x7f, 0x80, b'.', b'('][rng.below(6)];
                    if let Some(x) = b.get_mut(at) {
                        *x = v;
                    }
                }
            }
        }
        if no_panic(&format!("mutation {i} of {name}"), &b)
            .unwrap()
            .is_ok()
        {
            ok += 1;
        }
    }
    assert!(!fixture("MARKER").exists());
    eprintln!(
        "fuzzed {runs} inputs in {:?} ({ok} still readable)",
        start.elapsed()
    );
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}
