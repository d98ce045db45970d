//! Pretrained weights for lrplan: read them, match them to a model, say what happened.
//!
//! Fine-tuning starts from someone else's checkpoint, and the two classic ways that goes
//! wrong are silent: a loader that runs whatever code the pickle names, and a loader that
//! drops every tensor whose key or shape differs without saying so, leaving you to train
//! a half-initialized network. This crate exists to make both loud.
//!
//! * **Reading** ([`read_file`], [`read_bytes`]): PyTorch's zip format (torch.save since
//!   1.6), its legacy stream format, and safetensors, told apart by content. Storages saved
//!   on `cuda:N` read fine on any machine; strided views (a transposed weight saved as-is,
//!   a slice with a storage offset) come out as contiguous row-major bytes. The pickle is
//!   run by a restricted unpickler that knows only tensor rebuilding and plain containers
//!   and refuses anything else ([`Error::Refused`]); nothing is imported or executed.
//!   Checkpoint wrappers (`{"epoch": .., "model": {..}}`) are found automatically.
//! * **Matching** ([`match_keys`]): an entry is loaded only where the model has the same
//!   key and the tensor has the same shape. The [`Report`] lists what loaded, what the file
//!   has that the model does not, what the model has that the file does not, and what was
//!   refused for shape (with both shapes), and suggests a prefix fix when few keys match.
//! * **Key mapping** ([`KeyMap`]): strip/add prefixes and regex renames, applied before
//!   matching.
//! * **Writing** ([`write_safetensors`]): the trainer's checkpoints, in a format that can
//!   be read back here or by Python without any pickle.
//!
//! It deliberately does not link libtorch: inspecting or matching a checkpoint should not
//! need a 2 GB runtime, and a crate that only moves bytes is easy to fuzz.

mod dtype;
mod error;
mod keymap;
mod matching;
mod model_keys;
mod read;
mod report;
mod safetensors_io;
mod tensor;

pub use dtype::DType;
pub use error::Error;
pub use keymap::KeyMap;
pub use matching::match_keys;
pub use model_keys::{parse_model_keys, read_model_keys};
pub use read::{Format, ReadOptions, StateDict, read_bytes, read_file};
pub use report::{
    Counts, Inventory, InventoryItem, Loaded, Mismatch, Missing, Report, Suggestion, Unexpected,
    human_count,
};
pub use safetensors_io::write_safetensors;
pub use tensor::Tensor;
