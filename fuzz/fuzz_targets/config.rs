//! Fuzzes the configuration loader of the `switchyard` binary: TOML text and environment
//! variables never crash it (the driver, `crates/switchyard/src/config/fuzz_driver.rs`,
//! states what is checked). The binary's `config` module is included by path.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../crates/switchyard/src/config/mod.rs"]
mod config;
#[path = "../../crates/switchyard/src/config/fuzz_driver.rs"]
mod fuzz_driver;

use config::Config;

fuzz_target!(|data: &[u8]| fuzz_driver::run(data));
