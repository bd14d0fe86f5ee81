//! Criterion benches live in `kernels.rs`; this crate has no library code.
