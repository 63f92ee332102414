//! Fuzzes the cache's event parsing: any sequence of events with any payloads leaves the
//! cache consistent and never panics (the driver states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/switchyard-cache/tests/fuzz_driver/mod.rs"]
mod fuzz_driver;

fuzz_target!(|data: &[u8]| fuzz_driver::run(data));
