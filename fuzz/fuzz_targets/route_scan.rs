//! Fuzzes the routing scanner differentially against serde_json: wherever serde_json reads a
//! frame, what the scanner extracts agrees with it (the driver,
//! `crates/switchyard-core/tests/fuzz_driver/route.rs`, states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/switchyard-core/tests/fuzz_driver/route.rs"]
mod route;

fuzz_target!(|data: &[u8]| route::run(data));
