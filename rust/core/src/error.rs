//! The one error type of the core. The binding crate maps each variant to a
//! Python exception class in a single place (`rust/python/src/errors.rs`).

use thiserror::Error;

/// Everything that can go wrong in the engine, with enough context to name the
/// problem to the user.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum Error {
    #[error("unknown gate '{0}'")]
    UnknownGate(String),
    #[error("gate '{gate}': qubit {qubit} is out of range for a circuit of {num_qubits} qubits")]
    QubitOutOfRange {
        gate: String,
        qubit: i64,
        num_qubits: usize,
    },
    #[error("gate '{gate}': clbit {clbit} is out of range for a circuit of {num_clbits} clbits")]
    ClbitOutOfRange {
        gate: String,
        clbit: i64,
        num_clbits: usize,
    },
    #[error("gate '{gate}': qubit {qubit} is used more than once")]
    DuplicateQubit { gate: String, qubit: usize },
    #[error("gate '{gate}' acts on {expected} qubit(s), got {got}")]
    WrongQubitCount {
        gate: String,
        expected: String,
        got: usize,
    },
    #[error("gate '{gate}' takes {expected} parameter(s), got {got}")]
    WrongParamCount {
        gate: String,
        expected: usize,
        got: usize,
    },
    #[error("gate '{gate}': parameter {index} is {value}; parameters must be finite")]
    NonFiniteParam {
        gate: String,
        index: usize,
        value: f64,
    },
    #[error(
        "unitary: matrix of shape {rows}x{cols} does not fit {num_qubits} qubit(s) (expected {dim}x{dim})"
    )]
    BadMatrixShape {
        rows: usize,
        cols: usize,
        num_qubits: usize,
        dim: usize,
    },
    #[error("unitary: matrix is not unitary (max |U^dagger U - I| = {deviation:.3e} > 1e-9)")]
    NotUnitary { deviation: f64 },
    #[error("unitary: matrix has a non-finite entry (NaN or infinity)")]
    NonFiniteMatrix,
    #[error("{0}")]
    InvalidCircuit(String),
    /// `Circuit::from_bytes` refused its input; `offset` is where the problem starts.
    #[error("invalid encoding at byte {offset}: {reason}")]
    InvalidEncoding { offset: usize, reason: String },
    #[error("option '{name}' {reason}")]
    InvalidOption { name: String, reason: String },
    #[error(
        "a {num_qubits}-qubit statevector needs {required_bytes} bytes, over the memory limit of {limit_bytes} bytes (set max_memory_mb to change the limit)"
    )]
    StateTooLarge {
        num_qubits: usize,
        required_bytes: u128,
        limit_bytes: u64,
    },
    /// What a run hands back (its shots, their per-shot memory, saved
    /// probabilities) would not fit beside the state.
    #[error(
        "{what} need {required_bytes} bytes beside the statevector, over the memory limit of {limit_bytes} bytes (set max_memory_mb to change the limit)"
    )]
    OutputTooLarge {
        what: String,
        required_bytes: u128,
        limit_bytes: u64,
    },
    #[error("could not allocate {bytes} bytes for a {num_qubits}-qubit statevector")]
    AllocationFailed { num_qubits: usize, bytes: u128 },
    #[error("the job was cancelled")]
    Cancelled,
    /// A long check on user data stopped because its caller asked it to
    /// (Ctrl-C in the binding).
    #[error("interrupted")]
    Interrupted,
    /// An OpenQASM 2 program could not be parsed; `line` and `column` are 1-based.
    #[error("line {line}, column {column}: {message}")]
    Qasm {
        line: usize,
        column: usize,
        message: String,
    },
    /// A job completed outside the engine (an executor's task) failed; the
    /// caller keeps the error itself, this is its description.
    #[error("{0}")]
    External(String),
    /// A bug: a panic caught at a boundary, with its message.
    #[error("internal error: {0}")]
    Internal(String),
    /// `source` stopped circuit `index` (its place in the whole batch) of a run.
    #[error("circuit {index}{}: {source}", circuit_label(.name))]
    InCircuit {
        index: u64,
        name: Option<String>,
        source: Box<Error>,
    },
}

fn circuit_label(name: &Option<String>) -> String {
    name.as_ref()
        .map(|n| format!(" ({n:?})"))
        .unwrap_or_default()
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// This error as one of circuit `index` of a batch, so the message says
    /// which circuit failed. Cancellation belongs to the job, not a circuit,
    /// and an error already placed keeps its place.
    pub fn in_circuit(self, index: u64, name: Option<&str>) -> Error {
        match self {
            Error::Cancelled | Error::InCircuit { .. } => self,
            other => Error::InCircuit {
                index,
                name: name.map(str::to_string),
                source: Box::new(other),
            },
        }
    }

    /// The error itself, without the circuit it happened in.
    pub fn root(&self) -> &Error {
        match self {
            Error::InCircuit { source, .. } => source.root(),
            other => other,
        }
    }

    /// The [`Error::Internal`] for a panic caught with `catch_unwind`, carrying
    /// the panic's message when it has one.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Error {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        Error::Internal(message)
    }
}
