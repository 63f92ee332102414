//! Fuzz driver of the configuration loader ([`super::Config::from_sources`]), shared by the
//! cargo-fuzz target `config` (which includes the `config` module and this file by path) and
//! the corpus replay below.
//!
//! An input is TOML text, then optionally a NUL byte and `NAME=value` lines read as the
//! environment. Whatever they hold: no panic; a refusal is an error that says something;
//! the same sources always load, or are refused with the same message.

/// Checks one input; panics on a broken promise.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = text.split_once('\0').unwrap_or((text, ""));
    let env: Vec<(String, String)> = env
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let first = super::Config::from_sources(toml, "fuzz.toml", env.clone());
    let again = super::Config::from_sources(toml, "fuzz.toml", env);
    match (&first, &again) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => {
            let message = format!("{a:#}");
            assert_eq!(message, format!("{b:#}"));
            assert!(!message.trim().is_empty());
        }
        _ => panic!("the same sources loaded once and failed once"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn the_config_fuzz_corpus_replays_without_a_fault() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()));
        let mut n = 0;
        for entry in entries {
            let path = entry.expect("corpus entry").path();
            super::run(&std::fs::read(&path).expect("read corpus file"));
            n += 1;
        }
        assert!(n >= 5, "only {n} corpus files in {}", dir.display());
    }
}
