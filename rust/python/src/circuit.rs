//! `ferroq._core.Circuit`: the Python handle on a core circuit.

use crate::errors::{guard, to_py};
use crate::job::interruptible;
use crate::qiskit_capi as capi;
use ferroq_core::circuit::SaveMode;
use ferroq_core::circuit::control::{BinaryOp, MAX_NESTING, UnaryOp};
use ferroq_core::{Circuit, Error, Expr, Instruction};
use numpy::{
    Complex64, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyReadonlyArrayDyn,
    PyUntypedArrayMethods,
};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyIterator, PyString, PyTuple};

#[pyclass(module = "ferroq._core", name = "Circuit", from_py_object)]
#[derive(Clone)]
pub struct PyCircuit {
    pub inner: Circuit,
}

fn bad_condition(why: String) -> PyErr {
    to_py(Error::InvalidCircuit(format!("condition: {why}")))
}

/// A condition from its nested-tuple form (see `PyCircuit::if_else`).
fn expr(value: &Bound<'_, PyAny>, depth: usize) -> PyResult<Expr> {
    if depth > MAX_NESTING {
        return Err(bad_condition(format!(
            "nests deeper than {MAX_NESTING} levels"
        )));
    }
    let tuple = value
        .cast::<PyTuple>()
        .map_err(|_| bad_condition(format!("expected a tuple, got {value}")))?;
    let tag: String = tuple
        .get_item(0)
        .and_then(|t| t.extract())
        .map_err(|_| bad_condition(format!("expected a tag string first, got {value}")))?;
    let arg = |i: usize| tuple.get_item(i);
    let index = |v: u64| {
        usize::try_from(v).map_err(|_| bad_condition(format!("clbit {v} is out of range")))
    };
    let shape = |n: usize| {
        if tuple.len() == n {
            Ok(())
        } else {
            Err(bad_condition(format!(
                "'{tag}' takes {} argument(s), got {value}",
                n - 1
            )))
        }
    };
    Ok(match tag.as_str() {
        "bit" => {
            shape(2)?;
            Expr::Bit(index(arg(1)?.extract()?)?)
        }
        "register" => {
            shape(2)?;
            let bits: Vec<u64> = arg(1)?.extract()?;
            Expr::Register(bits.into_iter().map(index).collect::<PyResult<_>>()?)
        }
        "value" => {
            shape(2)?;
            Expr::Value(arg(1)?.extract()?)
        }
        "not" => {
            shape(2)?;
            Expr::Unary(UnaryOp::Not, Box::new(expr(&arg(1)?, depth + 1)?))
        }
        "bitnot" => {
            shape(3)?;
            let width: u32 = arg(2)?.extract()?;
            if width > 64 {
                return Err(bad_condition(format!("bit width {width} is over 64")));
            }
            Expr::Unary(UnaryOp::BitNot(width), Box::new(expr(&arg(1)?, depth + 1)?))
        }
        op => {
            let op = BinaryOp::parse(op)
                .ok_or_else(|| bad_condition(format!("unknown operation '{op}'")))?;
            shape(3)?;
            Expr::Binary(
                op,
                Box::new(expr(&arg(1)?, depth + 1)?),
                Box::new(expr(&arg(2)?, depth + 1)?),
            )
        }
    })
}

fn count(what: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| {
        to_py(Error::InvalidCircuit(format!(
            "{what} must be non-negative, got {value}"
        )))
    })
}

// Below these sizes encoding or decoding takes a few microseconds, less than
// releasing and taking back the GIL is worth to other threads.
const DETACH_INSTRUCTIONS: usize = 2_000;
const DETACH_BYTES: usize = 32 * 1024;

type InstructionTuple = (&'static str, Vec<usize>, Vec<usize>, Vec<f64>);
/// `(name, qubits, clbits, params)` as given by Python.
type RawInstruction = (String, Vec<i64>, Vec<i64>, Vec<f64>);

#[pymethods]
impl PyCircuit {
    #[new]
    #[pyo3(signature = (num_qubits, num_clbits=0, name=None))]
    fn new(num_qubits: i64, num_clbits: i64, name: Option<String>) -> PyResult<Self> {
        let mut inner = Circuit::with_width(
            count("num_qubits", num_qubits)?,
            count("num_clbits", num_clbits)?,
        )
        .map_err(to_py)?;
        inner.name = name;
        Ok(PyCircuit { inner })
    }

    #[getter]
    fn num_qubits(&self) -> usize {
        self.inner.num_qubits()
    }

    #[getter]
    fn num_clbits(&self) -> usize {
        self.inner.num_clbits()
    }

    #[getter]
    fn name(&self) -> Option<String> {
        self.inner.name.clone()
    }

    #[setter]
    fn set_name(&mut self, name: Option<String>) {
        self.inner.name = name;
    }

    #[getter]
    fn global_phase(&self) -> f64 {
        self.inner.global_phase()
    }

    #[setter]
    fn set_global_phase(&mut self, phase: f64) -> PyResult<()> {
        self.inner.set_global_phase(phase).map_err(to_py)
    }

    fn append(&mut self, name: &str, qubits: Vec<i64>, params: Vec<f64>) -> PyResult<()> {
        guard(|| {
            self.inner
                .append_gate(name, &qubits, &params)
                .map_err(to_py)
        })
    }

    fn unitary(
        &mut self,
        py: Python<'_>,
        matrix: PyReadonlyArrayDyn<'_, Complex64>,
        qubits: Vec<i64>,
    ) -> PyResult<()> {
        guard(|| {
            let shape = matrix.shape().to_vec();
            let (rows, cols) = match shape[..] {
                [r, c] => (r, c),
                _ => {
                    return Err(to_py(Error::InvalidCircuit(format!(
                        "unitary: matrix must be 2-dimensional, got shape {shape:?}"
                    ))));
                }
            };
            // Logical (row-major) order, whatever the array's memory layout.
            let data: Vec<Complex64> = matrix.as_array().iter().copied().collect();
            // Checking a large matrix for unitarity is heavy (cubic in its
            // dimension): without the GIL, and Ctrl-C stops it.
            let inner = &mut self.inner;
            if rows >= 64 {
                interruptible(py, |stop| {
                    inner.append_unitary_until(data, rows, cols, &qubits, stop)
                })?
            } else {
                inner.append_unitary(data, rows, cols, &qubits)
            }
            .map_err(to_py)
        })
    }

    fn set_statevector(&mut self, state: PyReadonlyArray1<'_, Complex64>) -> PyResult<()> {
        guard(|| {
            let data = state.as_array().to_vec();
            self.inner.set_statevector(data).map_err(to_py)
        })
    }

    fn measure(&mut self, qubit: i64, clbit: i64) -> PyResult<()> {
        self.inner.measure(qubit, clbit).map_err(to_py)
    }

    fn reset(&mut self, qubit: i64) -> PyResult<()> {
        self.inner.reset(qubit).map_err(to_py)
    }

    fn barrier(&mut self, qubits: Vec<i64>) -> PyResult<()> {
        guard(|| self.inner.barrier(&qubits).map_err(to_py))
    }

    /// Appends `if (condition) then_body else else_body`. A condition is a
    /// nested tuple: `("bit", c)`, `("register", [c, ...])` (the first clbit
    /// least significant), `("value", v)`, `("not", e)`, `("bitnot", e, width)`
    /// or `(op, a, b)` with `op` one of and, or, bitand, bitor, bitxor, eq, ne,
    /// lt, le, gt, ge.
    #[pyo3(signature = (condition, then_body, else_body=None))]
    fn if_else(
        &mut self,
        condition: &Bound<'_, PyAny>,
        then_body: PyRef<'_, PyCircuit>,
        else_body: Option<PyRef<'_, PyCircuit>>,
    ) -> PyResult<()> {
        let condition = expr(condition, 0)?;
        guard(|| {
            self.inner
                .append_if_else(
                    condition,
                    &then_body.inner,
                    else_body.as_ref().map(|b| &b.inner),
                )
                .map_err(to_py)
        })
    }

    /// Appends `store`: `value` (an expression in the nested-tuple form of
    /// `if_else`) written into the clbits `targets`.
    fn store(&mut self, targets: Vec<i64>, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let value = expr(value, 0)?;
        guard(|| self.inner.append_store(&targets, value).map_err(to_py))
    }

    /// Gives the `if` just appended its `else` block.
    fn attach_else(&mut self, else_body: PyRef<'_, PyCircuit>) -> PyResult<()> {
        guard(|| self.inner.attach_else(&else_body.inner).map_err(to_py))
    }

    /// Appends `while (condition) body` (conditions as in `if_else`).
    fn while_loop(
        &mut self,
        condition: &Bound<'_, PyAny>,
        body: PyRef<'_, PyCircuit>,
    ) -> PyResult<()> {
        let condition = expr(condition, 0)?;
        guard(|| {
            self.inner
                .append_while(condition, &body.inner)
                .map_err(to_py)
        })
    }

    /// Appends `switch (target)`: `cases` are `(values, body)` pairs; the
    /// first case listing the target's value runs, else `default`.
    #[pyo3(signature = (target, cases, default=None))]
    fn switch_case(
        &mut self,
        target: &Bound<'_, PyAny>,
        cases: Vec<(Vec<u64>, PyRef<'_, PyCircuit>)>,
        default: Option<PyRef<'_, PyCircuit>>,
    ) -> PyResult<()> {
        let target = expr(target, 0)?;
        guard(|| {
            let cases: Vec<(Vec<u64>, &Circuit)> =
                cases.iter().map(|(v, b)| (v.clone(), &b.inner)).collect();
            self.inner
                .append_switch(target, &cases, default.as_ref().map(|b| &b.inner))
                .map_err(to_py)
        })
    }

    fn break_loop(&mut self) {
        self.inner.append_break();
    }

    fn continue_loop(&mut self) {
        self.inner.append_continue();
    }

    /// `mode`: "average", "pershot", "conditional" or "conditional_pershot".
    #[pyo3(signature = (kind, label, qubits, indices=Vec::new(), terms=Vec::new(), mode="average"))]
    fn save(
        &mut self,
        kind: &str,
        label: &str,
        qubits: Vec<i64>,
        indices: Vec<u64>,
        terms: Vec<(String, Complex64)>,
        mode: &str,
    ) -> PyResult<()> {
        guard(|| {
            let mode = SaveMode::from_name(mode).ok_or_else(|| {
                to_py(Error::InvalidCircuit(format!(
                    "save_{kind}: unknown save mode {mode:?}"
                )))
            })?;
            self.inner
                .save_as(kind, label, &qubits, &indices, &terms, mode)
                .map_err(to_py)
        })
    }

    /// Appends many `(name, qubits, clbits, params)` in one call: gates by
    /// name, `measure` (one qubit, one clbit), `reset` and `barrier`. Stops at
    /// the first bad instruction, keeping the ones before it.
    fn extend(&mut self, instructions: Vec<RawInstruction>) -> PyResult<()> {
        guard(|| {
            for (name, qubits, clbits, params) in instructions {
                let done = match name.as_str() {
                    "measure" => match (qubits.as_slice(), clbits.as_slice()) {
                        ([q], [c]) => self.inner.measure(*q, *c),
                        _ => Err(Error::InvalidCircuit(
                            "measure takes one qubit and one clbit".into(),
                        )),
                    },
                    "reset" => match qubits.as_slice() {
                        [q] => self.inner.reset(*q),
                        _ => Err(Error::InvalidCircuit("reset takes one qubit".into())),
                    },
                    "barrier" => self.inner.barrier(&qubits),
                    _ => self.inner.append_gate(&name, &qubits, &params),
                };
                done.map_err(to_py)?;
            }
            Ok(())
        })
    }

    /// Takes instructions from an iterator over a Qiskit `CircuitData` for as
    /// long as they are native standard gates with numeric parameters,
    /// measures, resets or barriers, mapping bits through the two dicts.
    /// Returns the first instruction it leaves to the caller (which then calls
    /// again with the same iterator), or `None` at the end: doing the common
    /// case here avoids a Python loop over every instruction.
    fn extend_qiskit<'py>(
        &mut self,
        instructions: &Bound<'py, PyIterator>,
        qubit_index: &Bound<'py, PyDict>,
        clbit_index: &Bound<'py, PyDict>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            let index_of = |dict: &Bound<'_, PyDict>, bit: Bound<'_, PyAny>| -> PyResult<i64> {
                match dict.get_item(bit)? {
                    Some(i) => i.extract(),
                    None => Err(to_py(Error::InvalidCircuit(
                        "instruction on a bit outside the circuit".into(),
                    ))),
                }
            };
            let py = instructions.py();
            for inst in instructions.clone() {
                let inst = inst?;
                let name_obj = inst.getattr(intern!(py, "name"))?;
                let name = name_obj.cast::<PyString>()?.to_str()?;
                let qubits = inst
                    .getattr(intern!(py, "qubits"))?
                    .cast_into::<PyTuple>()?
                    .iter()
                    .map(|q| index_of(qubit_index, q))
                    .collect::<PyResult<Vec<i64>>>()?;
                let done = match name {
                    "measure" => {
                        let clbits = inst
                            .getattr(intern!(py, "clbits"))?
                            .cast_into::<PyTuple>()?
                            .iter()
                            .map(|c| index_of(clbit_index, c))
                            .collect::<PyResult<Vec<i64>>>()?;
                        match (qubits.as_slice(), clbits.as_slice()) {
                            ([q], [c]) => self.inner.measure(*q, *c),
                            _ => return Ok(Some(inst)),
                        }
                    }
                    "reset" if qubits.len() == 1 => self.inner.reset(qubits[0]),
                    "barrier" => self.inner.barrier(&qubits),
                    _ => {
                        let Ok(kind) = ferroq_core::GateKind::from_name(name) else {
                            return Ok(Some(inst));
                        };
                        if !inst
                            .call_method0(intern!(py, "is_standard_gate"))?
                            .extract::<bool>()?
                        {
                            return Ok(Some(inst));
                        }
                        let params = if kind.num_params() == 0 {
                            Vec::new()
                        } else {
                            // Unbound or symbolic parameters go to the caller, which names them.
                            match inst.getattr(intern!(py, "params"))?.extract::<Vec<f64>>() {
                                Ok(p) => p,
                                Err(_) => return Ok(Some(inst)),
                            }
                        };
                        self.inner.append_gate(name, &qubits, &params)
                    }
                };
                done.map_err(to_py)?;
            }
            Ok(None)
        })
    }

    /// Appends the instructions of a Qiskit `CircuitData` from `start` on,
    /// read through Qiskit's C API (see `qiskit_capi`), with the circuit's
    /// bit `i` placed on `qubit_map[i]` / `clbit_map[i]`. Returns the index of
    /// the first instruction the Python side must handle (a definition to
    /// expand, a save, something to refuse by name), or None when all are in.
    fn extend_qiskit_native(
        &mut self,
        data: &Bound<'_, PyAny>,
        start: usize,
        qubit_map: Vec<i64>,
        clbit_map: Vec<i64>,
    ) -> PyResult<Option<usize>> {
        guard(|| {
            let unavailable = || {
                to_py(Error::InvalidCircuit(
                    "Qiskit's C API is not available for this object".into(),
                ))
            };
            let api = capi::api(data.py()).ok_or_else(unavailable)?;
            let view = capi::CircuitView::new(api, data).ok_or_else(unavailable)?;
            if view.num_qubits() != qubit_map.len() || view.num_clbits() != clbit_map.len() {
                return Err(to_py(Error::InvalidCircuit(format!(
                    "bit maps of {} qubits and {} clbits for a circuit of {} and {}",
                    qubit_map.len(),
                    clbit_map.len(),
                    view.num_qubits(),
                    view.num_clbits()
                ))));
            }
            let mut qubits: Vec<i64> = Vec::with_capacity(4);
            let mut params: Vec<f64> = Vec::with_capacity(4);
            for index in start..view.len() {
                let Some(inst) = view.get(index) else {
                    return Ok(Some(index));
                };
                qubits.clear();
                // Indices come from Qiskit's own circuit, so they are in range
                // of the maps checked above.
                qubits.extend(inst.qubits.iter().map(|&q| qubit_map[q as usize]));
                let done = match inst.kind {
                    capi::KIND_GATE => {
                        if ferroq_core::GateKind::from_name(inst.name).is_err()
                            || !view.real_params(&inst, &mut params)
                        {
                            return Ok(Some(index));
                        }
                        self.inner.append_gate(inst.name, &qubits, &params)
                    }
                    capi::KIND_MEASURE => match (qubits.as_slice(), inst.clbits) {
                        ([q], [c]) => self.inner.measure(*q, clbit_map[*c as usize]),
                        _ => return Ok(Some(index)),
                    },
                    capi::KIND_RESET if qubits.len() == 1 => self.inner.reset(qubits[0]),
                    capi::KIND_BARRIER => self.inner.barrier(&qubits),
                    // A delay is the identity for an ideal simulator.
                    capi::KIND_DELAY => Ok(()),
                    _ => return Ok(Some(index)),
                };
                done.map_err(to_py)?;
            }
            Ok(None)
        })
    }

    fn add_clbits(&mut self, count: usize) -> PyResult<()> {
        self.inner.add_clbits(count).map_err(to_py)
    }

    fn inverse(&self) -> PyResult<PyCircuit> {
        guard(|| {
            Ok(PyCircuit {
                inner: self.inner.inverse().map_err(to_py)?,
            })
        })
    }

    fn compose(&mut self, other: PyRef<'_, PyCircuit>) -> PyResult<()> {
        guard(|| self.inner.compose(&other.inner).map_err(to_py))
    }

    fn copy(&self) -> PyCircuit {
        self.clone()
    }

    /// `(name, qubits, clbits, params)` for each instruction.
    fn instructions(&self) -> Vec<InstructionTuple> {
        self.inner
            .instructions()
            .iter()
            .map(|inst| {
                let clbits = match inst {
                    Instruction::Measure { clbit, .. } => vec![*clbit],
                    _ => vec![],
                };
                (
                    inst.name(),
                    inst.qubits().to_vec(),
                    clbits,
                    inst.params().to_vec(),
                )
            })
            .collect()
    }

    /// The matrix of each `unitary` instruction, in order, flattened row-major.
    fn unitary_matrices<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyArray1<Complex64>>> {
        self.inner
            .instructions()
            .iter()
            .filter_map(|inst| match inst {
                Instruction::Unitary { matrix, .. } => {
                    Some(PyArray1::from_slice(py, matrix.data()))
                }
                _ => None,
            })
            .collect()
    }

    /// The circuit in ferroq-core's binary form (see `Circuit::to_bytes`).
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let data = if self.inner.instructions().len() > DETACH_INSTRUCTIONS {
            py.detach(|| self.inner.to_bytes())
        } else {
            self.inner.to_bytes()
        };
        PyBytes::new(py, &data)
    }

    /// One copy per row of `values` (a float64 array of `len(slots)`
    /// columns), each with its row written into the gate parameters `slots`
    /// names (`(instruction index, parameter index)`; see
    /// `Circuit::with_params`).
    fn with_params(
        &self,
        py: Python<'_>,
        slots: Vec<(usize, usize)>,
        values: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<Vec<PyCircuit>> {
        guard(|| {
            let [rows, cols] = [values.shape()[0], values.shape()[1]];
            if cols != slots.len() {
                return Err(to_py(Error::InvalidCircuit(format!(
                    "parameter values: {cols} columns for {} slots",
                    slots.len()
                ))));
            }
            let data: Vec<f64> = values.as_array().iter().copied().collect();
            let inner = &self.inner;
            let copies = if rows * self.inner.instructions().len() > DETACH_INSTRUCTIONS {
                py.detach(|| inner.with_params(&slots, &data))
            } else {
                inner.with_params(&slots, &data)
            }
            .map_err(to_py)?;
            Ok(copies
                .into_iter()
                .map(|inner| PyCircuit { inner })
                .collect())
        })
    }

    /// The circuit on its active qubits only, renumbered in ascending order,
    /// and those qubits; `None` when every qubit is active (see
    /// `Circuit::truncated`).
    fn truncated(&self) -> Option<(PyCircuit, Vec<usize>)> {
        self.inner
            .truncated()
            .map(|(inner, active)| (PyCircuit { inner }, active))
    }

    /// The circuit `to_bytes` wrote, validated like one built by hand.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<PyCircuit> {
        guard(|| {
            let inner = if data.len() > DETACH_BYTES {
                interruptible(py, |stop| Circuit::from_bytes_until(data, stop))?
            } else {
                Circuit::from_bytes(data)
            };
            Ok(PyCircuit {
                inner: inner.map_err(to_py)?,
            })
        })
    }

    fn __len__(&self) -> usize {
        self.inner.instructions().len()
    }

    fn __eq__(&self, other: PyRef<'_, PyCircuit>) -> bool {
        self.inner == other.inner
    }
}
