//! Fuzzes the embedded broker's RESP request parser: any bytes, at once or in chunks, give
//! the same requests and errors, within the limits (the driver,
//! `crates/switchyard-broker/src/embedded/resp/fuzz_driver.rs`, states what is checked).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/switchyard-broker/src/embedded/resp/codec.rs"]
mod codec;
#[path = "../../crates/switchyard-broker/src/embedded/resp/fuzz_driver.rs"]
mod fuzz_driver;

fuzz_target!(|data: &[u8]| fuzz_driver::run(data));
