//! Replays the inputs kept in `fuzz/regressions/` (crashes the fuzzers found,
//! once fixed, and hand-made edge cases) through the same checks as the
//! `cargo fuzz` targets, so they run on stable in every `cargo test`.

use ferroq_core::sim::result::codec::ResultBatch;
use ferroq_core::{Circuit, Error, ExperimentResult};
use std::path::PathBuf;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions")
        .join(target);
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).expect("a readable regression input");
            (p, data)
        })
        .collect();
    found.sort();
    assert!(
        !found.is_empty(),
        "no regression inputs in {}",
        dir.display()
    );
    found
}

#[test]
fn decoder_regressions_decode_or_fail_cleanly() {
    for (path, data) in inputs("decode_circuit") {
        if let Ok(circuit) = Circuit::from_bytes(&data) {
            let again = circuit.to_bytes();
            let decoded = Circuit::from_bytes(&again)
                .unwrap_or_else(|e| panic!("{}: own encoding fails: {e}", path.display()));
            assert_eq!(decoded.to_bytes(), again, "{}", path.display());
        }
    }
}

#[test]
fn parser_regressions_parse_or_fail_with_a_position() {
    for (path, data) in inputs("parse_qasm2") {
        let Ok(text) = std::str::from_utf8(&data) else {
            continue;
        };
        match ferroq_core::qasm::qasm2::parse(text) {
            Ok(circuit) => {
                Circuit::from_bytes(&circuit.to_bytes())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            Err(Error::Qasm { line, column, .. }) => {
                assert!(line >= 1 && column >= 1, "{}", path.display());
                assert!(
                    line <= text.lines().count().max(1) + 1,
                    "{}",
                    path.display()
                );
            }
            Err(_) => {}
        }
    }
}

#[test]
fn result_decoder_regressions_decode_canonically_or_fail_cleanly() {
    for (path, data) in inputs("decode_result") {
        match ExperimentResult::from_bytes(&data) {
            Ok(result) => assert_eq!(result.to_bytes(), data, "{}", path.display()),
            Err(Error::InvalidEncoding { offset, .. }) => {
                assert!(offset <= data.len(), "{}", path.display())
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
        match ResultBatch::from_bytes(&data) {
            Ok(batch) => assert_eq!(batch.to_bytes(), data, "{}", path.display()),
            Err(Error::InvalidEncoding { offset, .. }) => {
                assert!(offset <= data.len(), "{}", path.display())
            }
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
}
