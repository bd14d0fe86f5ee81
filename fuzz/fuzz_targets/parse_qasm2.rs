//! Arbitrary text through the OpenQASM 2 parser: it must return a circuit or a
//! `Qasm` error with a position inside the text, never panic or hang.
#![no_main]

use ferroq_core::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ferroq_core::qasm::qasm2::parse(text) {
        Ok(circuit) => {
            // What parses must survive the IR round trip.
            let bytes = circuit.to_bytes();
            ferroq_core::Circuit::from_bytes(&bytes).expect("a parsed circuit encodes");
        }
        Err(Error::Qasm { line, column, .. }) => {
            assert!(line >= 1 && column >= 1, "positions are 1-based");
            assert!(
                line <= text.lines().count().max(1) + 1,
                "line {line} past the end"
            );
        }
        Err(_) => {}
    }
});
