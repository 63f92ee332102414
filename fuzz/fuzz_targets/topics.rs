//! Fuzzes topics and patterns differentially against a plain reference matcher (the driver,
//! `crates/switchyard-core/tests/fuzz_driver/topic.rs`, states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/switchyard-core/tests/fuzz_driver/topic.rs"]
mod topic;

fuzz_target!(|data: &[u8]| topic::run(data));
