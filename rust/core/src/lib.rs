//! ferroq-core: a multithreaded statevector simulator, pure Rust.
//!
//! Conventions follow Qiskit: qubit 0 is the least significant bit of an
//! amplitude's index, gate matrices are little endian over the gate's qubits,
//! and bitstrings put clbit 0 rightmost.

pub mod circuit;
pub mod engine;
pub mod error;
pub mod fusion;
pub mod gates;
pub mod jobs;
pub mod kernels;
pub mod matrix;
pub mod parallel;
pub mod plan;
pub mod precision;
pub mod qasm2;
pub mod rng;
pub mod sample;
pub mod simd;
pub mod state;
#[cfg(test)]
mod testing;

pub use circuit::{Circuit, Instruction};
pub use engine::{ExperimentResult, RunOptions, RunResult, format_bits, run, statevector};
pub use error::{Error, Result};
pub use gates::GateKind;
pub use jobs::{Job, JobGroup, JobState, SimJob, scheduler};
pub use num_complex::{Complex32, Complex64};
pub use precision::{Amplitude, Precision, StateVector};
