//! The one place where core errors become Python exceptions. The classes
//! themselves are defined once, in `ferroq/exceptions.py`.

use ferroq_core::Error;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyType;

fn class_name(err: &Error) -> &'static str {
    match err {
        Error::UnknownGate(_)
        | Error::QubitOutOfRange { .. }
        | Error::ClbitOutOfRange { .. }
        | Error::DuplicateQubit { .. }
        | Error::WrongQubitCount { .. }
        | Error::WrongParamCount { .. }
        | Error::NonFiniteParam { .. }
        | Error::BadMatrixShape { .. }
        | Error::NotUnitary { .. }
        | Error::NonFiniteMatrix
        | Error::InvalidCircuit(_)
        | Error::InvalidEncoding { .. } => "CircuitError",
        Error::Qasm { .. } => "QasmError",
        Error::InvalidOption { .. } => "OptionError",
        Error::StateTooLarge { .. }
        | Error::OutputTooLarge { .. }
        | Error::AllocationFailed { .. } => "SimulationMemoryError",
        Error::Cancelled => "JobCancelledError",
        Error::Internal(_) => "InternalError",
        Error::External(_) => "JobError",
        Error::InCircuit { source, .. } => class_name(source),
    }
}

/// Runs an entry point's body, turning a panic in it (a bug) into
/// `ferroq.exceptions.InternalError` with the panic's message. PyO3 would raise
/// its `PanicException`, a `BaseException` that `except Exception` misses.
pub fn guard<T>(body: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body))
        .unwrap_or_else(|payload| Err(to_py(Error::from_panic(&*payload))))
}

/// Converts a core error into the matching `ferroq.exceptions` class.
pub fn to_py(err: Error) -> PyErr {
    let message = err.to_string();
    let name = class_name(&err);
    // QasmError also carries the position, as its `line` and `column`.
    let position = match *err.root() {
        Error::Qasm { line, column, .. } => Some((line, column)),
        _ => None,
    };
    Python::attach(|py| {
        let class = py
            .import("ferroq.exceptions")
            .and_then(|m| m.getattr(name))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match class {
            Ok(class) => match position {
                Some((line, column)) => PyErr::from_type(class, (message, line, column)),
                None => PyErr::from_type(class, message),
            },
            // Only reachable when `_core` is imported without its package.
            Err(_) if name == "SimulationMemoryError" => PyMemoryError::new_err(message),
            Err(_) => PyValueError::new_err(message),
        }
    })
}
