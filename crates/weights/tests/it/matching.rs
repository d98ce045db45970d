//! The matching rule, prefix detection and key mapping on real checkpoints.

use crate::support::{fixture, read};
use lrplan_weights::{KeyMap, match_keys, read_model_keys};

fn keys(name: &str) -> Vec<(String, Vec<usize>)> {
    read_model_keys(&fixture(name)).unwrap()
}

#[test]
fn new_head_gets_backbone_and_refuses_head() {
    let sd = read("net.pt"); // trained with 10 classes
    let model = keys("model_keys_5.json");
    let r = match_keys(&sd, &model, &KeyMap::default());
    let head: Vec<&str> = r
        .shape_mismatch
        .iter()
        .map(|m| m.model_key.as_str())
        .collect();
    assert_eq!(head, vec!["head.weight", "head.bias"]);
    assert_eq!(r.shape_mismatch[0].model_shape, vec![5, 16]);
    assert_eq!(r.shape_mismatch[0].file_shape, vec![10, 16]);
    assert!(r.missing.is_empty() && r.unexpected.is_empty());
    let backbone: Vec<&str> = model
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !k.starts_with("head."))
        .collect();
    let loaded: Vec<&str> = r.loaded.iter().map(|l| l.model_key.as_str()).collect();
    assert_eq!(loaded, backbone);
    assert_eq!(r.counts.loaded, model.len() - 2);
    assert_eq!(
        r.counts.loaded_params,
        r.loaded.iter().map(|l| l.numel).sum::<usize>()
    );
    assert!(r.verdict.starts_with(&format!(
        "loaded {} of {} model tensors",
        model.len() - 2,
        model.len()
    )));
    assert!(r.verdict.contains("2 refused for shape"), "{}", r.verdict);
    assert!(r.suggestion.is_none());
    // The dict layout of the key file gives the same answer.
    let r2 = match_keys(&sd, &keys("model_keys_dict_5.json"), &KeyMap::default());
    assert_eq!(r, r2);
    let text = r.to_string();
    assert!(
        text.contains("head.weight  model [5, 16]  file [10, 16]"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
    assert!(r.render(true).contains("\x1b[33m"));
    let json: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(json["counts"]["shape_mismatch"], 2);
    assert_eq!(json["shape_mismatch"][0]["file_shape"][0], 10);
}

#[test]
fn prefix_problem_is_detected_and_explained() {
    let sd = read("backbone_prefixed.pt");
    let model = keys("model_keys_10.json");
    let r = match_keys(&sd, &model, &KeyMap::default());
    assert_eq!(r.counts.loaded, 0);
    let s = r.suggestion.as_ref().expect("a suggestion");
    assert_eq!(s.strip_prefix.as_deref(), Some("backbone."));
    assert_eq!(s.add_prefix, None);
    assert_eq!(s.loaded_after, model.len());
    assert!(!s.applied);
    let n = model.len();
    assert_eq!(
        r.verdict,
        format!(
            "loaded 0 of {n} model tensors (0 of {} parameters); {n} missing from the file; \
             {n} in the file but not in the model; {n} match after removing 'backbone.' — use \
             --strip-prefix backbone.",
            lrplan_weights::human_count(r.counts.model_params)
        )
    );

    // --auto-prefix applies it.
    let auto = KeyMap {
        auto_prefix: true,
        ..KeyMap::default()
    };
    let r = match_keys(&sd, &model, &auto);
    assert_eq!(r.counts.loaded, n);
    assert!(r.suggestion.as_ref().unwrap().applied);
    assert!(
        r.key_map
            .iter()
            .any(|s| s.contains("backbone.") && s.contains("auto"))
    );

    // The reverse: the model has a prefix the file lacks.
    let plain = read("net.pt");
    let prefixed: Vec<(String, Vec<usize>)> = model
        .iter()
        .map(|(k, s)| (format!("net.{k}"), s.clone()))
        .collect();
    let r = match_keys(&plain, &prefixed, &KeyMap::default());
    let s = r.suggestion.unwrap();
    assert_eq!(
        (s.strip_prefix, s.add_prefix.as_deref()),
        (None, Some("net."))
    );
}

#[test]
fn strip_add_and_rename() {
    let model = keys("model_keys_10.json");
    let n = model.len();
    let strip = KeyMap {
        strip_prefixes: vec!["module.".into()],
        ..KeyMap::default()
    };
    let r = match_keys(&read("module_prefixed.pt"), &model, &strip);
    assert_eq!(r.counts.loaded, n);
    assert_eq!(
        r.loaded[0].file_key,
        format!("module.{}", r.loaded[0].model_key)
    );

    let prefixed: Vec<(String, Vec<usize>)> = model
        .iter()
        .map(|(k, s)| (format!("net.{k}"), s.clone()))
        .collect();
    let add = KeyMap {
        add_prefix: Some("net.".into()),
        ..KeyMap::default()
    };
    assert_eq!(
        match_keys(&read("net.pt"), &prefixed, &add).counts.loaded,
        n
    );

    // Rename head.* to fc.* in a model that calls its classifier fc.
    let fc: Vec<(String, Vec<usize>)> = model
        .iter()
        .map(|(k, s)| (k.replacen("head.", "fc.", 1), s.clone()))
        .collect();
    let plain = match_keys(&read("net.pt"), &fc, &KeyMap::default());
    assert_eq!(plain.counts.loaded, n - 2);
    assert_eq!(plain.missing.len(), 2);
    assert_eq!(plain.unexpected.len(), 2);
    let rename = KeyMap::default()
        .with_rename(r"^head\.(\w+)$=fc.$1")
        .unwrap();
    let r = match_keys(&read("net.pt"), &fc, &rename);
    assert_eq!(r.counts.loaded, n);
    assert!(
        r.loaded
            .iter()
            .any(|l| l.model_key == "fc.weight" && l.file_key == "head.weight")
    );
}

#[test]
fn colliding_keys_are_reported_not_merged() {
    let sd = read("net.pt");
    let model = keys("model_keys_10.json");
    // Every key collapses onto "x".
    let map = KeyMap::default().with_rename(".*=x").unwrap();
    let r = match_keys(&sd, &model, &map);
    assert_eq!(r.counts.loaded, 0);
    assert_eq!(r.unexpected.len(), sd.tensors.len());
    assert!(
        r.unexpected[1]
            .note
            .as_deref()
            .unwrap()
            .contains("same key")
    );
}
