//! Every layout torch.save writes reads back exactly as torch itself reads it.

use crate::support::{assert_matches_torch, fixture, read};
use lrplan_weights::{DType, Format, ReadOptions, read_bytes, read_file};

#[test]
fn zip_format_every_dtype_and_view() {
    let sd = read("zip_basic.pt");
    assert_eq!(sd.format, Format::Zip);
    assert_eq!(sd.entry, None);
    assert_matches_torch("zip_basic.pt", &sd);
    let dtypes: Vec<DType> = sd.tensors.iter().map(|(_, t)| t.dtype).collect();
    for d in [
        DType::F32,
        DType::F64,
        DType::F16,
        DType::BF16,
        DType::I64,
        DType::I32,
        DType::I16,
        DType::I8,
        DType::U8,
        DType::Bool,
    ] {
        assert!(dtypes.contains(&d), "fixture lacks {d}");
    }
}

#[test]
fn legacy_format() {
    let sd = read("legacy_basic.pt");
    assert_eq!(sd.format, Format::Legacy);
    assert_matches_torch("legacy_basic.pt", &sd);
}

#[test]
fn pickle_protocol_4() {
    let zip = read("zip_proto4.pt");
    assert_eq!(zip.format, Format::Zip);
    assert_matches_torch("zip_proto4.pt", &zip);
    let legacy = read("legacy_proto4.pt");
    assert_eq!(legacy.format, Format::Legacy);
    assert_matches_torch("legacy_proto4.pt", &legacy);
}

#[test]
fn storages_recorded_on_cuda_read_on_cpu() {
    for name in ["zip_cuda.pt", "legacy_cuda.pt"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        assert!(
            bytes.windows(6).any(|w| w == b"cuda:0"),
            "{name} is not a cuda file"
        );
        assert_matches_torch(name, &read(name));
    }
}

#[test]
fn zip_saved_without_checksums() {
    assert_matches_torch("zip_nocrc.pt", &read("zip_nocrc.pt"));
}

#[test]
fn non_contiguous_views_match_torch() {
    // Already covered value by value above; spelled out because it is the classic bug.
    let sd = read("zip_basic.pt");
    let t = sd.get("weight_t").unwrap();
    let base = sd.get("base").unwrap().to_f32_vec();
    assert_eq!(t.shape, vec![5, 6]);
    let v = t.to_f32_vec();
    for i in 0..5 {
        for j in 0..6 {
            assert_eq!(v[i * 6 + j].to_bits(), base[j * 5 + i].to_bits());
        }
    }
    let slice = sd.get("slice").unwrap().to_f32_vec();
    assert_eq!(slice, base[10..25].to_vec());
}

#[test]
fn checkpoint_wrappers_are_found_and_named() {
    for name in ["checkpoint.pt", "checkpoint_legacy.pt"] {
        let sd = read(name);
        assert_eq!(sd.entry.as_deref(), Some("model"), "{name}");
        assert_eq!(sd.skipped, vec!["epoch", "optimizer", "config"], "{name}");
        assert_matches_torch(name, &sd);
    }
    let sd = read("checkpoint_ema.pt");
    assert_eq!(sd.entry.as_deref(), Some("state_dict_ema"));
    assert_matches_torch("checkpoint_ema.pt", &sd);
}

#[test]
fn entry_option_selects_and_explains() {
    let opts = ReadOptions {
        entry: Some("optimizer".into()),
    };
    let sd = read_file(&fixture("checkpoint.pt"), &opts).unwrap();
    assert!(
        sd.tensors.iter().any(|(k, _)| k.starts_with("state.0.")),
        "{:?}",
        sd.tensors.len()
    );

    let opts = ReadOptions {
        entry: Some("weights".into()),
    };
    let err = read_file(&fixture("checkpoint.pt"), &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("checkpoint.pt") && err.contains("--entry weights"),
        "{err}"
    );
    assert!(
        err.contains("model (dict)") && err.contains("epoch (int)"),
        "{err}"
    );

    let opts = ReadOptions {
        entry: Some("epoch".into()),
    };
    let err = read_file(&fixture("checkpoint.pt"), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds a int"), "{err}");
}

#[test]
fn nested_dicts_flatten_with_dots_and_parameters_read() {
    let sd = read("nested.pt");
    assert_matches_torch("nested.pt", &sd);
    assert!(sd.get("encoder.layer.weight").is_some());
    assert_matches_torch("parameters.pt", &read("parameters.pt"));
    assert_matches_torch("module_prefixed.pt", &read("module_prefixed.pt"));
}

#[test]
fn read_bytes_equals_read_file() {
    for name in ["zip_basic.pt", "legacy_basic.pt", "checkpoint.pt"] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let a = read_bytes(&bytes, &ReadOptions::default()).unwrap();
        let b = read(name);
        assert_eq!(a.tensors, b.tensors, "{name}");
        assert_eq!(a.entry, b.entry, "{name}");
    }
}

#[test]
fn python2_era_legacy_files() {
    // PyTorch 0.3 and 0.4 under Python 2 (tests/support/old_torch.py): an OrderedDict as
    // REDUCE of [key, value] *lists*, _metadata set by BUILD, storages on cuda:0.
    for name in ["py2_torch03.pt", "py2_torch04.pt"] {
        let sd = read(name);
        assert_eq!(sd.format, Format::Legacy, "{name}");
        assert_eq!(sd.entry, None, "{name}");
        assert_matches_torch(name, &sd);
    }

    // Parameters as 0.4 pickled them (REDUCE of torch.nn.parameter.Parameter).
    let name = "py2_torch04_checkpoint.pt";
    let sd = read(name);
    assert_eq!(sd.entry.as_deref(), Some("model"));
    assert_eq!(sd.skipped, vec!["epoch", "state_dict_ema"]);
    assert_eq!(sd.alternatives, vec!["state_dict_ema"]);
    assert_matches_torch(name, &sd);
    let opts = ReadOptions {
        entry: Some("state_dict_ema".into()),
    };
    let ema = read_file(&fixture(name), &opts).unwrap();
    assert_matches_torch(&format!("{name}#state_dict_ema"), &ema);
}

#[test]
fn state_set_as_dict_and_slots_is_dropped() {
    // BUILD((None, {'_metadata': ...})): Python's (dict state, slot state) spelling.
    assert_matches_torch("build_slot_state.pt", &read("build_slot_state.pt"));
}

#[test]
fn unread_dtypes_are_named_with_their_tensor() {
    for dtype in [
        "complex64",
        "complex128",
        "float8_e4m3fn",
        "uint16",
        "qint8",
    ] {
        for name in [
            format!("dtype_{dtype}.pt"),
            format!("dtype_{dtype}_legacy.pt"),
        ] {
            let err = read_file(&fixture(&name), &ReadOptions::default()).unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, lrplan_weights::Error::Format { .. }), "{msg}");
            assert!(
                msg.contains(&format!(
                    "tensor 'odd' has dtype {dtype}, which this reader"
                )),
                "{msg}"
            );
            assert!(!msg.contains("could run code"), "{msg}");
        }
    }
    // Where such a tensor is not among the weights, the file reads; in the legacy format
    // its bytes come first and are stepped over.
    for name in ["dtype_skipped.pt", "dtype_skipped_legacy.pt"] {
        let sd = read(name);
        assert_eq!(sd.skipped, vec!["extra"], "{name}");
        assert_matches_torch(name, &sd);
    }
}
