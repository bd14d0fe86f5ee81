//! Per-circuit results handed to Python. Counts and bitstrings are built here
//! from the core's packed outcomes; the statevector moves into numpy without
//! a copy.

use crate::errors::{guard, to_py};
use ferroq_core::sim::result::codec::ResultBatch;
use ferroq_core::sim::result::{SavedValue, write_bits, write_hex};
use ferroq_core::{ExperimentResult, StateVector, format_bits};
use numpy::{Complex32, Complex64, PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::IntoPyObjectExt;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use std::sync::Mutex;

#[pyclass(module = "ferroq._core", name = "ExperimentData", frozen)]
pub struct PyExperiment {
    inner: ExperimentResult,
    /// The state until numpy takes it over on first access.
    state: Mutex<Option<StateVector>>,
    array: PyOnceLock<Py<PyAny>>,
}

/// Moves a state into a new numpy array of its own precision (no copy).
pub fn state_to_numpy(py: Python<'_>, state: StateVector) -> Bound<'_, PyAny> {
    match state {
        StateVector::Double(v) => PyArray1::from_vec(py, v).into_any(),
        StateVector::Single(v) => PyArray1::from_vec(py, v).into_any(),
    }
}

/// A state pickled as a complex128 or complex64 array.
fn state_from_numpy(array: &Bound<'_, PyAny>) -> PyResult<StateVector> {
    if let Ok(a) = array.extract::<PyReadonlyArray1<'_, Complex64>>() {
        return Ok(StateVector::Double(a.to_vec()?));
    }
    if let Ok(a) = array.extract::<PyReadonlyArray1<'_, Complex32>>() {
        return Ok(StateVector::Single(a.to_vec()?));
    }
    Err(pyo3::exceptions::PyValueError::new_err(
        "corrupt experiment statevector: expected a 1-d complex128 or complex64 array",
    ))
}

impl PyExperiment {
    /// Each shot's record through `format`, in shot order; `None` when
    /// memory was not kept, and no rows for a circuit without clbits.
    fn memory_rows(
        &self,
        mut format: impl FnMut(&[u64]) -> String,
    ) -> PyResult<Option<Vec<String>>> {
        guard(|| {
            let Some(memory) = self.inner.memory.as_ref() else {
                return Ok(None);
            };
            if self.inner.num_clbits == 0 {
                return Ok(Some(Vec::new()));
            }
            Ok(Some(
                memory
                    .chunks_exact(self.inner.words)
                    .map(&mut format)
                    .collect(),
            ))
        })
    }

    pub fn new(mut inner: ExperimentResult) -> Self {
        let state = inner.statevector.take();
        PyExperiment {
            inner,
            state: Mutex::new(state),
            array: PyOnceLock::new(),
        }
    }

    /// The experiment as the core holds it, state included (a copy).
    fn owned(&self, py: Python<'_>) -> PyResult<ExperimentResult> {
        let mut copy = self.inner.clone();
        copy.statevector = match self.array.get(py) {
            Some(array) => Some(state_from_numpy(array.bind(py))?),
            None => self.state.lock().map(|s| s.clone()).unwrap_or(None),
        };
        Ok(copy)
    }

    fn bits(&self, record: &[u64]) -> String {
        format_bits(record, self.inner.num_clbits)
    }
}

/// `(outcomes, counts)` as two uint64 arrays.
type CountsArrays<'py> = (Bound<'py, PyArray1<u64>>, Bound<'py, PyArray1<u64>>);

/// Everything an experiment held in the pickles of ferroq 0.1 (before results
/// had a binary form of their own), read by [`_experiment_from_state`].
type ExperimentState = (
    Option<String>,
    usize,
    usize,
    u64,
    u64,
    usize,
    Vec<u64>,
    Vec<u64>,
    Option<Vec<u64>>,
    f64,
);

/// A saved value as `(label, kind, payload)`: complex values as interleaved
/// real and imaginary parts, so that one float64 array carries any kind.
type SavedState<'py> = (String, String, PyReadonlyArray1<'py, f64>);

/// The kind of a saved value, of the values it gathers for a gathered one
/// (`"expectation_value"` for an empty gathering, which holds nothing).
fn saved_kind(value: &SavedValue) -> &'static str {
    match value.first_plain() {
        Some(SavedValue::Statevector(_)) => "statevector",
        Some(SavedValue::Probabilities(_)) => "probabilities",
        Some(SavedValue::ProbabilitiesDict(_)) => "probabilities_dict",
        Some(SavedValue::Amplitudes(_)) => "amplitudes",
        _ => "expectation_value",
    }
}

fn saved_mode(value: &SavedValue) -> &'static str {
    match value {
        SavedValue::PerShot(_) => "pershot",
        SavedValue::Conditional(map) => match map.first() {
            Some((_, SavedValue::PerShot(_))) => "conditional_pershot",
            _ => "conditional",
        },
        _ => "average",
    }
}

fn expectation_to_py<'py>(py: Python<'py>, z: &Complex64) -> PyResult<Bound<'py, PyAny>> {
    if z.im.abs() <= 1e-12 * z.re.abs().max(1.0) {
        z.re.into_bound_py_any(py)
    } else {
        z.into_bound_py_any(py)
    }
}

/// A saved value as Python holds it: numpy arrays for states, probabilities
/// and amplitudes, a dict of the non-zero probabilities (hex keys) for
/// `probabilities_dict`, a float (complex when the operator is not
/// Hermitian) for an expectation value; gathered per shot, a list of those
/// (a numpy array for expectation values); per memory, a dict from the
/// memory's hex to that.
fn saved_to_py<'py>(py: Python<'py>, value: &SavedValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        SavedValue::Statevector(StateVector::Double(a)) | SavedValue::Amplitudes(a) => {
            PyArray1::from_slice(py, a).into_any()
        }
        SavedValue::Statevector(StateVector::Single(a)) => PyArray1::from_slice(py, a).into_any(),
        SavedValue::Probabilities(p) => PyArray1::from_slice(py, p).into_any(),
        SavedValue::ProbabilitiesDict(p) => {
            let d = PyDict::new(py);
            for (k, &v) in p.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                d.set_item(format!("{k:#x}"), v)?;
            }
            d.into_any()
        }
        SavedValue::ExpectationValue(z) => expectation_to_py(py, z)?,
        SavedValue::PerShot(list) => {
            let values: Option<Vec<Complex64>> = list
                .iter()
                .map(|v| match v {
                    SavedValue::ExpectationValue(z) => Some(*z),
                    _ => None,
                })
                .collect();
            match values {
                Some(zs) if !zs.is_empty() => {
                    if zs.iter().all(|z| z.im.abs() <= 1e-12 * z.re.abs().max(1.0)) {
                        let re: Vec<f64> = zs.iter().map(|z| z.re).collect();
                        PyArray1::from_vec(py, re).into_any()
                    } else {
                        PyArray1::from_vec(py, zs).into_any()
                    }
                }
                _ => {
                    let out = PyList::empty(py);
                    for v in list {
                        out.append(saved_to_py(py, v)?)?;
                    }
                    out.into_any()
                }
            }
        }
        SavedValue::Conditional(map) => {
            let d = PyDict::new(py);
            let mut key = String::new();
            for (memory, v) in map {
                write_hex(memory, &mut key);
                d.set_item(PyString::new(py, &key), saved_to_py(py, v)?)?;
            }
            d.into_any()
        }
    })
}

fn saved_from_state((label, kind, payload): SavedState<'_>) -> PyResult<(String, SavedValue)> {
    let data = payload.as_slice()?;
    let corrupt = || {
        pyo3::exceptions::PyValueError::new_err(format!(
            "corrupt saved value {label:?} of kind {kind:?} ({} floats)",
            data.len()
        ))
    };
    let complex = || -> PyResult<Vec<Complex64>> {
        if data.len() % 2 != 0 {
            return Err(corrupt());
        }
        Ok(data
            .chunks_exact(2)
            .map(|p| Complex64::new(p[0], p[1]))
            .collect())
    };
    let value = match kind.as_str() {
        "statevector" => SavedValue::Statevector(StateVector::Double(complex()?)),
        "statevector/single" => SavedValue::Statevector(StateVector::Single(
            complex()?
                .iter()
                .map(|z| Complex32::new(z.re as f32, z.im as f32))
                .collect(),
        )),
        "amplitudes" => SavedValue::Amplitudes(complex()?),
        "probabilities" => SavedValue::Probabilities(data.to_vec()),
        "probabilities_dict" => SavedValue::ProbabilitiesDict(data.to_vec()),
        "expectation_value" if data.len() == 2 => {
            SavedValue::ExpectationValue(Complex64::new(data[0], data[1]))
        }
        _ => return Err(corrupt()),
    };
    Ok((label, value))
}

/// Rebuilds an experiment pickled by ferroq 0.1 (or kept in a 0.1 job store),
/// whose pickles name this function.
#[pyfunction]
#[pyo3(signature = (state, statevector, saved=Vec::new()))]
pub fn _experiment_from_state(
    state: ExperimentState,
    statevector: Option<Bound<'_, PyAny>>,
    saved: Vec<SavedState<'_>>,
) -> PyResult<PyExperiment> {
    guard(|| {
        let (
            name,
            num_qubits,
            num_clbits,
            shots,
            seed,
            words,
            count_keys,
            count_values,
            memory,
            time_taken,
        ) = state;
        // The one field the binary form does not carry: it follows from the clbits.
        if words != num_clbits.div_ceil(64).max(1) {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "corrupt experiment state: {num_clbits} clbits in {words} words"
            )));
        }
        let statevector = statevector.as_ref().map(state_from_numpy).transpose()?;
        let legacy = ExperimentResult {
            name,
            num_qubits,
            num_clbits,
            shots,
            seed,
            words,
            count_keys,
            count_values,
            memory,
            statevector,
            saved: saved
                .into_iter()
                .map(saved_from_state)
                .collect::<PyResult<_>>()?,
            time_taken,
            fusion: None,
        };
        // Checked as the core checks decoded bytes: a corrupted pickle or
        // store row cannot make an experiment whose accessors fail later.
        let checked = ExperimentResult::from_bytes(&legacy.to_bytes()).map_err(to_py)?;
        Ok(PyExperiment::new(checked))
    })
}

/// The bytes of a batch as the job store keeps it (`ResultBatch`): the run
/// seed, the experiments that ran, and `(index, error kind, message)` of each
/// circuit that failed.
#[pyfunction]
pub fn encode_result_batch<'py>(
    py: Python<'py>,
    seed: u64,
    experiments: Vec<PyRef<'py, PyExperiment>>,
    failed: Vec<(u64, String, String)>,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let experiments = experiments
            .iter()
            .map(|e| e.owned(py))
            .collect::<PyResult<Vec<_>>>()?;
        let batch = ResultBatch {
            seed,
            experiments,
            failed,
        };
        let bytes = py.detach(|| batch.to_bytes());
        Ok(PyBytes::new(py, &bytes))
    })
}

/// `(seed, experiments, [(index, error kind, message)])`.
type DecodedBatch = (u64, Vec<PyExperiment>, Vec<(u64, String, String)>);

/// What [`encode_result_batch`] wrote: `(seed, experiments, failed)`.
#[pyfunction]
pub fn decode_result_batch(py: Python<'_>, data: &[u8]) -> PyResult<DecodedBatch> {
    guard(|| {
        let batch = py.detach(|| ResultBatch::from_bytes(data)).map_err(to_py)?;
        let experiments = batch
            .experiments
            .into_iter()
            .map(PyExperiment::new)
            .collect();
        Ok((batch.seed, experiments, batch.failed))
    })
}

#[pymethods]
impl PyExperiment {
    /// Pickled as its bytes (`to_bytes`), ferroq-core's own versioned form.
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        guard(|| {
            let rebuild = py.get_type::<PyExperiment>().getattr("from_bytes")?;
            let bytes = self.to_bytes(py)?;
            Ok((rebuild, (bytes,).into_pyobject(py)?.into_any()))
        })
    }

    /// The experiment in ferroq-core's versioned binary form (see
    /// `ExperimentResult::to_bytes`): what pickling and the job store keep.
    fn to_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let bytes = match self.array.get(py) {
                // numpy holds the state: read it back (a copy).
                Some(array) => {
                    let state = state_from_numpy(array.bind(py))?;
                    py.detach(|| self.inner.to_bytes_with(Some(&state)))
                }
                None => {
                    let state = self.state.lock().map_err(|_| {
                        pyo3::exceptions::PyRuntimeError::new_err("experiment state lock poisoned")
                    })?;
                    let state = state.as_ref();
                    py.detach(|| self.inner.to_bytes_with(state))
                }
            };
            Ok(PyBytes::new(py, &bytes))
        })
    }

    /// The experiment `to_bytes` wrote. Bytes that are not one, or describe an
    /// experiment ferroq could not have run, raise `EncodingError`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<PyExperiment> {
        guard(|| {
            let inner = py
                .detach(|| ExperimentResult::from_bytes(data))
                .map_err(to_py)?;
            Ok(PyExperiment::new(inner))
        })
    }

    #[getter]
    fn name(&self) -> Option<String> {
        self.inner.name.clone()
    }
    #[getter]
    fn num_qubits(&self) -> usize {
        self.inner.num_qubits
    }
    #[getter]
    fn num_clbits(&self) -> usize {
        self.inner.num_clbits
    }
    #[getter]
    fn shots(&self) -> u64 {
        self.inner.shots
    }
    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }
    #[getter]
    fn time_taken(&self) -> f64 {
        self.inner.time_taken
    }
    /// The fusion pass's `(gates in, kernel ops out)` for the gates simulated
    /// once, or `None` when none were.
    #[getter]
    fn fusion(&self) -> Option<(u64, u64)> {
        self.inner.fusion.map(|f| (f.gates, f.ops))
    }
    #[getter]
    fn has_memory(&self) -> bool {
        self.inner.memory.is_some()
    }
    #[getter]
    fn has_statevector(&self, py: Python<'_>) -> bool {
        self.array.get(py).is_some() || self.state.lock().map(|s| s.is_some()).unwrap_or(false)
    }

    /// Outcomes as integers (clbit 0 the least significant bit) and their
    /// counts, as two uint64 arrays in ascending outcome order: no Python
    /// object per outcome. Up to 64 clbits.
    fn counts_array<'py>(&self, py: Python<'py>) -> PyResult<CountsArrays<'py>> {
        guard(|| {
            if self.inner.words != 1 {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "counts as integers need at most 64 clbits; circuit {:?} has {}: use counts()",
                    self.inner.name, self.inner.num_clbits
                )));
            }
            Ok((
                PyArray1::from_slice(py, &self.inner.count_keys),
                PyArray1::from_slice(py, &self.inner.count_values),
            ))
        })
    }

    /// Every shot's outcome as a `(shots, words)` uint64 array, in shot
    /// order (clbit `c` is bit `c % 64` of word `c / 64`), or `None` when
    /// memory was not kept: no Python object per shot.
    fn memory_array<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyArray2<u64>>>> {
        guard(|| {
            let Some(memory) = self.inner.memory.as_ref() else {
                return Ok(None);
            };
            let words = self.inner.words;
            let rows = memory.len().checked_div(words).unwrap_or(0);
            let flat = PyArray1::from_slice(py, memory);
            Ok(Some(flat.reshape([rows, words])?))
        })
    }

    /// Bitstring -> count, in ascending bitstring order.
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let dict = PyDict::new(py);
            if self.inner.num_clbits == 0 {
                return Ok(dict);
            }
            let w = self.inner.words;
            let nbits = self.inner.num_clbits;
            // One buffer for every key: a result can hold a million of them.
            let mut buf = vec![b'0'; nbits];
            for (key, &value) in self
                .inner
                .count_keys
                .chunks_exact(w)
                .zip(&self.inner.count_values)
            {
                write_bits(key, &mut buf);
                let text = std::str::from_utf8(&buf).expect("ASCII digits");
                dict.set_item(PyString::new(py, text), value)?;
            }
            Ok(dict)
        })
    }

    /// As `counts()`, keyed by Python's `hex()` of the outcome ("0x5"): the
    /// layout of Qiskit's `Result` data, built here rather than by one
    /// `int(key, 2)` and `hex()` per outcome in Python.
    fn counts_hex<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let dict = PyDict::new(py);
            if self.inner.num_clbits == 0 {
                return Ok(dict);
            }
            let mut text = String::with_capacity(2 + self.inner.num_clbits / 4 + 1);
            for (key, &value) in self
                .inner
                .count_keys
                .chunks_exact(self.inner.words)
                .zip(&self.inner.count_values)
            {
                write_hex(key, &mut text);
                dict.set_item(PyString::new(py, &text), value)?;
            }
            Ok(dict)
        })
    }

    /// As `memory()`, each shot as Python's `hex()` of its outcome.
    fn memory_hex(&self) -> PyResult<Option<Vec<String>>> {
        let mut text = String::new();
        self.memory_rows(|r| {
            write_hex(r, &mut text);
            text.clone()
        })
    }

    /// `label -> value` for the circuit's save instructions: numpy arrays for
    /// statevectors, probabilities and amplitudes, a dict of the non-zero
    /// probabilities (hex keys) for `probabilities_dict`, and a float (complex
    /// when the operator is not Hermitian) for expectation values.
    fn saved<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guard(|| {
            let out = PyDict::new(py);
            for (label, value) in &self.inner.saved {
                out.set_item(label, saved_to_py(py, value)?)?;
            }
            Ok(out)
        })
    }

    /// `(label, kind, mode)` of each saved value: its kind ("statevector",
    /// "probabilities", ...) and how it was gathered over the shots
    /// ("average", "pershot", "conditional" or "conditional_pershot").
    fn saved_kinds(&self) -> Vec<(String, &'static str, &'static str)> {
        self.inner
            .saved
            .iter()
            .map(|(label, v)| (label.clone(), saved_kind(v), saved_mode(v)))
            .collect()
    }

    /// Bitstrings in shot order, or `None` when memory was not kept.
    fn memory(&self) -> PyResult<Option<Vec<String>>> {
        self.memory_rows(|r| self.bits(r))
    }

    /// The final state as a read-only complex128 array (complex64 when run in
    /// single precision), the same array on every call, or `None` when it was
    /// not kept.
    fn statevector<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            if let Some(array) = self.array.get(py) {
                return Ok(Some(array.bind(py).clone()));
            }
            let taken = self.state.lock().map(|mut s| s.take()).unwrap_or(None);
            let Some(state) = taken else {
                return Ok(None);
            };
            let array = state_to_numpy(py, state);
            // Shared between calls, so nobody may write to it.
            array.getattr("flags")?.setattr("writeable", false)?;
            let array = self.array.get_or_init(py, || array.unbind());
            Ok(Some(array.bind(py).clone()))
        })
    }
}
