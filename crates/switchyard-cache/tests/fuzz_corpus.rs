//! Replays the cargo-fuzz corpus of the cache's event parsing (`fuzz/corpus/cache_events`)
//! on stable, so that every finding stays a regression test.

mod fuzz_driver;

use std::path::PathBuf;

#[test]
fn the_cache_fuzz_corpus_replays_without_a_fault() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/cache_events");
    let entries =
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        fuzz_driver::run(&data);
        n += 1;
    }
    assert!(n >= 30, "only {n} corpus files in {}", dir.display());
}
