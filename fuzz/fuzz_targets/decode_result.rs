//! Arbitrary bytes through the result decoders (one result, and a batch with
//! its failures): they must return a value or an `InvalidEncoding` error,
//! never panic or allocate what the input cannot justify; a value they return
//! must encode back to exactly the bytes it came from (the form is canonical).
#![no_main]

use ferroq_core::ExperimentResult;
use ferroq_core::sim::result::codec::ResultBatch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(result) = ExperimentResult::from_bytes(data) {
        assert_eq!(result.to_bytes(), data, "a result's encoding is not canonical");
    }
    if let Ok(batch) = ResultBatch::from_bytes(data) {
        assert_eq!(batch.to_bytes(), data, "a batch's encoding is not canonical");
    }
});
