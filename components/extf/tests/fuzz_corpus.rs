//! Replays the cargo-fuzz seed corpus (`fuzz/corpus/*`) and the shared DATEV sample through the
//! fuzz oracles, so their invariants are checked in every `cargo test` even where cargo-fuzz
//! does not run.
use extf::fuzzing;

fn files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let path = format!("{}/fuzz/corpus/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .map(|e| {
            let p = e.unwrap_or_else(|e| panic!("{e}")).path();
            (
                p.display().to_string(),
                std::fs::read(&p).unwrap_or_else(|e| panic!("{e}")),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn tokenize_corpus() {
    let corpus = files("tokenize");
    assert!(corpus.len() >= 2);
    for (name, data) in corpus {
        eprintln!("{name}");
        fuzzing::tokenize(&data);
    }
}

#[test]
fn validate_corpus() {
    let mut corpus = files("validate");
    assert!(corpus.len() >= 3);
    let sample = format!(
        "{}/../../../shared/reference/samples/extf/EXTF_Buchungsstapel.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    corpus.push((
        sample.clone(),
        std::fs::read(&sample).unwrap_or_else(|e| panic!("{sample}: {e}")),
    ));
    for (name, data) in corpus {
        eprintln!("{name}");
        fuzzing::tokenize(&data);
        fuzzing::validate_and_parse(&data);
        // Every prefix too: truncated files are a classic source of panics.
        for cut in (0..data.len()).step_by(211) {
            fuzzing::validate_and_parse(&data[..cut]);
        }
    }
}
