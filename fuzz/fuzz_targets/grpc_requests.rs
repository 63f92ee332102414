//! Fuzzes the gRPC services' request messages: any bytes, decoded as each request, never
//! panic, round-trip, and become a cache query or a clear refusal (the driver states what is
//! checked; it lives in `crates/switchyard-api/src/fuzz_driver.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| switchyard_api::fuzz_driver::run(data));
