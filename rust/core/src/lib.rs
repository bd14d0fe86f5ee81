//! ferroq-core: a multithreaded statevector simulator, pure Rust.
//!
//! Conventions follow Qiskit: qubit 0 is the least significant bit of an
//! amplitude's index, gate matrices are little endian over the gate's qubits,
//! and bitstrings put clbit 0 rightmost.

pub mod circuit;
pub mod engine;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod fusion;
pub mod gates;
pub mod job;
pub mod kernels;
pub mod matrix;
pub mod parallel;
pub mod plan;
pub mod precision;
pub mod qasm2;
pub mod rng;
pub mod sample;
pub mod scheduler;
pub mod simd;
pub mod state;
mod sync;
#[cfg(test)]
mod testing;

pub use circuit::{Circuit, Instruction};
pub use engine::{ExperimentResult, RunOptions, RunResult, format_bits, run, statevector};
pub use error::{Error, Result};
pub use gates::GateKind;
pub use job::{Job, JobState};
pub use num_complex::{Complex32, Complex64};
pub use precision::{Amplitude, Precision, StateVector};
pub use scheduler::{SimJob, scheduler};
