//! ferroq-core: a multithreaded statevector simulator, pure Rust.
//!
//! Conventions follow Qiskit: qubit 0 is the least significant bit of an
//! amplitude's index, gate matrices are little endian over the gate's qubits,
//! and bitstrings put clbit 0 rightmost.

pub mod circuit;
pub mod error;
pub mod jobs;
pub mod qasm;
pub mod sim;
#[cfg(test)]
mod testing;
mod wire;

pub use circuit::gates::GateKind;
pub use circuit::{Circuit, Expr, Instruction};
pub use error::{Error, Result};
pub use jobs::{Job, JobGroup, JobState, SimJob, scheduler};
pub use num_complex::{Complex32, Complex64};
pub use sim::engine::{run, statevector};
pub use sim::options::RunOptions;
pub use sim::precision::{Amplitude, Precision, StateVector};
pub use sim::result::{ExperimentResult, RunResult, format_bits};
