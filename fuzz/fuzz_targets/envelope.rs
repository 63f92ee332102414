//! Fuzzes the envelope: encode then decode gives back what went in (the driver,
//! `crates/switchyard-core/tests/fuzz_driver/envelope.rs`, states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/switchyard-core/tests/fuzz_driver/envelope.rs"]
mod envelope;

fuzz_target!(|data: &[u8]| envelope::run(data));
