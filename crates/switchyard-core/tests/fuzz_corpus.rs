//! Replays the cargo-fuzz corpora of core's parsers (`fuzz/corpus/{route_scan, topics,
//! envelope, outbound}`) on stable through the same checks as the fuzz targets, so that every
//! finding stays a regression test.

mod fuzz_driver;

use std::path::PathBuf;

/// Runs `check` on every file of the corpus `name`; how many there were.
fn replay(name: &str, check: fn(&[u8])) -> usize {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(name);
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        eprintln!("{}", path.display());
        check(&data);
        n += 1;
    }
    n
}

#[test]
fn the_routing_scanner_corpus_agrees_with_serde_json() {
    assert!(replay("route_scan", fuzz_driver::route::run) >= 5);
}

#[test]
fn the_topics_corpus_agrees_with_the_reference_matcher() {
    assert!(replay("topics", fuzz_driver::topic::run) >= 5);
}

#[test]
fn the_envelope_corpus_round_trips() {
    assert!(replay("envelope", fuzz_driver::envelope::run) >= 3);
}

#[test]
fn the_outbound_corpus_keeps_the_parser_s_promises() {
    assert!(replay("outbound", fuzz_driver::outbound::run) >= 5);
}
