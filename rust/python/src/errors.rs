//! The one place where core errors become Python exceptions. The classes
//! themselves are defined once, in `ferroq/exceptions.py`.

use ferroq_core::Error;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyModule, PyType};

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
        | Error::InvalidCircuit(_) => "CircuitError",
        Error::InvalidEncoding { .. } => "EncodingError",
        Error::Qasm { .. } => "QasmError",
        Error::InvalidOption { .. } => "OptionError",
        Error::StateTooLarge { .. }
        | Error::OutputTooLarge { .. }
        | Error::AllocationFailed { .. } => "SimulationMemoryError",
        Error::Cancelled => "JobCancelledError",
        // The binding sets a stop flag only after Python raised (Ctrl-C) and
        // returns that exception; this one reaching Python is a bug.
        Error::Internal(_) | Error::Interrupted => "InternalError",
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

/// `ferroq.exceptions`, imported once per interpreter.
static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module =
        EXCEPTIONS.get_or_try_init(py, || py.import("ferroq.exceptions").map(Bound::unbind))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// A `str.format` template rendering to `text` itself.
fn literal(text: &str) -> String {
    text.replace('{', "{{").replace('}', "}}")
}

/// Converts a core error into the matching `ferroq.exceptions` class, with the
/// error's fields as attributes so that no caller parses the message:
/// `option` (and `template`) on option errors, `line` and `column` on QASM
/// errors, `offset` on encoding errors, `circuit_index` and `circuit_name` on an error of one circuit of a
/// batch.
pub fn to_py(err: Error) -> PyErr {
    let name = class_name(&err);
    let circuit = match &err {
        Error::InCircuit { index, name, .. } => Some((*index, name.clone())),
        _ => None,
    };
    Python::attach(|py| {
        let class = match exception_class(py, name) {
            Ok(class) => class,
            // Only reachable when `_core` is imported without its package.
            Err(_) if name == "SimulationMemoryError" => {
                return PyMemoryError::new_err(err.to_string());
            }
            Err(_) => return PyValueError::new_err(err.to_string()),
        };
        let built = match (err.root(), &circuit) {
            (Error::Qasm { line, column, .. }, _) => class.call1((err.to_string(), *line, *column)),
            (Error::InvalidEncoding { offset, .. }, _) => class.call1((err.to_string(), *offset)),
            (Error::InvalidOption { name, reason }, None) => {
                let kwargs = pyo3::types::PyDict::new(py);
                let template = format!("option {{option}} {}", literal(reason));
                kwargs
                    .set_item("option", name)
                    .and_then(|_| kwargs.set_item("template", template))
                    .and_then(|_| class.call((), Some(&kwargs)))
            }
            (Error::InvalidOption { name, .. }, Some(_)) => {
                let kwargs = pyo3::types::PyDict::new(py);
                kwargs
                    .set_item("option", name)
                    .and_then(|_| class.call((err.to_string(),), Some(&kwargs)))
            }
            _ => class.call1((err.to_string(),)),
        };
        let value = match built {
            Ok(value) => value,
            Err(e) => return e,
        };
        if let Some((index, circuit_name)) = circuit {
            let _ = value.setattr("circuit_index", index);
            let _ = value.setattr("circuit_name", circuit_name);
        }
        PyErr::from_value(value)
    })
}
