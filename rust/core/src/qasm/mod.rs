//! OpenQASM input: ferroq's own OpenQASM 2 parser (OpenQASM 3 goes through
//! Qiskit's importer, on the Python side).

pub mod qasm2;
