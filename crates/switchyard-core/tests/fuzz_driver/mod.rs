//! The fuzz drivers of core's parsers, each shared by its cargo-fuzz target (`fuzz/
//! fuzz_targets/`, which includes the file by path) and the corpus replay
//! (`tests/fuzz_corpus.rs`).

pub mod envelope;
pub mod outbound;
pub mod route;
pub mod topic;
