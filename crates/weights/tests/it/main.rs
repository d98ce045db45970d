//! Integration tests against files written by real PyTorch (see `tests/support/`).
//!
//! One test binary, so the fixture script runs once for all of them.

mod bad_files;
mod cli;
mod corpus;
mod matching;
mod pytorch_reader_defects;
mod read_torch;
mod safetensors;
mod support;
