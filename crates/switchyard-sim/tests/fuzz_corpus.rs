//! Replays the cargo-fuzz corpus of the gateway frame decoder (`fuzz/corpus/gateway_frame`)
//! on stable Rust: every input decodes to an operation or to one of Discord's close codes.

use std::path::PathBuf;

use switchyard_sim::{ClientOp, decode_client_frame};

#[test]
fn fuzz_corpus_replays_without_panics() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/gateway_frame");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let mut seen = 0;
    let mut ok = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        match decode_client_frame(&data) {
            Ok(_) => ok += 1,
            Err(reason) => assert!(
                (4000..=4014).contains(&reason.code) && reason.code != 4006,
                "{}: close code {} is not Discord's",
                path.display(),
                reason.code
            ),
        }
        if let Ok(text) = std::str::from_utf8(&data) {
            let _ = switchyard_sim::parse_gateway_query(Some(text));
        }
        seen += 1;
    }
    assert!(
        seen >= 19,
        "the corpus has at least its seed inputs, found {seen}"
    );
    assert!(ok >= 10, "the valid seed frames decode, {ok} did");
    let identify = std::fs::read(dir.join("identify")).expect("identify seed");
    assert!(matches!(
        decode_client_frame(&identify),
        Ok(ClientOp::Identify(_))
    ));
}
