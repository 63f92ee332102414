//! Fuzzes the outbound payload parser (the driver,
//! `crates/switchyard-core/tests/fuzz_driver/outbound.rs`, states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/switchyard-core/tests/fuzz_driver/outbound.rs"]
mod outbound;

fuzz_target!(|data: &[u8]| outbound::run(data));
