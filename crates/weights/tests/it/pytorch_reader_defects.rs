//! Why this crate has its own restricted unpickler instead of using `pytorch-reader`
//! (=0.23.0-pre.1): these tests pin the behaviour that rules it out. If an upgrade fixes
//! them, they fail, and the choice is worth revisiting.

use crate::support::fixture;
use pytorch_reader::PytorchReader;

#[test]
fn pytorch_reader_accepts_pickles_that_call_os_system() {
    // {"weight": os.system("touch MARKER")}: loads as an empty state dict, no error.
    let r = PytorchReader::new(fixture("evil_os_system.pt")).expect("accepted");
    assert_eq!(r.len(), 0);
    // A torch.save zip with a call to os.system beside a tensor: the call is dropped
    // silently and the tensor loads. We refuse both (see bad_files.rs).
    let r = PytorchReader::new(fixture("evil_in_zip.pt")).expect("accepted");
    assert_eq!(r.keys(), vec!["weight".to_string()]);
}

#[test]
fn pytorch_reader_loses_file_order() {
    // Tensors come back in a HashMap, so the order of the file is gone; with 20 keys the
    // chance that it survives by accident is negligible.
    let r = PytorchReader::new(fixture("zip_basic.pt")).unwrap();
    let ours: Vec<String> = crate::support::read("zip_basic.pt")
        .tensors
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let mut theirs = r.keys();
    assert_eq!(theirs.len(), ours.len());
    theirs.sort();
    let mut sorted = ours.clone();
    sorted.sort();
    assert_eq!(theirs, sorted);
    assert_ne!(r.keys(), ours, "pytorch-reader kept file order after all");
}
