//! Fuzzes the client frame decoder and connection query parser of Switchyard's two gateway
//! servers (the fake Discord and the face): any input must give an operation or a close code
//! from Discord's table, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(reason) = switchyard_core::gateway_proto::frame::decode_client_frame(data) {
        assert!((4000..=4014).contains(&reason.code) && reason.code != 4006);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = switchyard_core::gateway_proto::query::parse_query(Some(text));
    }
});
