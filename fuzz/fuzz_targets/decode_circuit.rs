//! Arbitrary bytes through the circuit IR decoder: it must return a circuit or
//! an `InvalidEncoding` error, never panic or allocate what the input cannot
//! justify; a circuit it returns must encode back to the same bytes.
#![no_main]

use ferroq_core::{Circuit, Error};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match Circuit::from_bytes(data) {
        Ok(circuit) => {
            let again = circuit.to_bytes();
            let decoded = Circuit::from_bytes(&again).expect("a circuit's own encoding decodes");
            assert_eq!(decoded.to_bytes(), again, "encoding is not stable");
        }
        Err(Error::InvalidEncoding { .. }) | Err(_) => {}
    }
});
