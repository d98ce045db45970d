//! Any byte string must give a `StateDict` or an error: never a panic, hang or abort.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lrplan_weights::{ReadOptions, read_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(sd) = read_bytes(data, &ReadOptions::default()) {
        // Whatever was read must be internally consistent.
        for (_, t) in &sd.tensors {
            assert_eq!(t.data.len(), t.nbytes());
        }
    }
});
