//! `ferroq._core`: glue between Python and `ferroq-core`. Conversions, GIL
//! release and error mapping only; the simulation lives in the core crate.

mod circuit;
mod errors;
mod job;
mod qiskit_capi;
mod result;

use circuit::PyCircuit;
use errors::{guard, to_py};
use ferroq_core::jobs::scheduler;
use ferroq_core::sim::options::UserOptions;
use job::{PyExternalJob, PyJob, PyJobGroup, wait_interruptibly};
use pyo3::prelude::*;
use result::PyExperiment;

/// Validates and queues `circuits`; returns the queued job at once.
#[pyfunction]
#[pyo3(signature = (circuits, *, shots, seed, memory, statevector, max_parallel_threads, parallel_threshold, max_memory_mb, fusion=true, first_index=0, precision="double", max_parallel_experiments=0, fusion_max_qubit=0, fusion_threshold=0))]
#[allow(clippy::too_many_arguments)]
fn submit(
    py: Python<'_>,
    circuits: Vec<PyRef<'_, PyCircuit>>,
    shots: i64,
    seed: Option<i128>,
    memory: bool,
    statevector: bool,
    max_parallel_threads: i64,
    parallel_threshold: i64,
    max_memory_mb: Option<f64>,
    fusion: bool,
    first_index: u64,
    precision: &str,
    max_parallel_experiments: i64,
    fusion_max_qubit: i64,
    fusion_threshold: i64,
) -> PyResult<PyJob> {
    guard(|| {
        let opts = UserOptions {
            shots,
            seed,
            memory,
            statevector,
            max_parallel_threads,
            parallel_threshold,
            max_memory_mb,
            fusion,
            fusion_max_qubit,
            fusion_threshold,
            first_index,
            precision,
            max_parallel_experiments,
        }
        .build()
        .map_err(to_py)?;
        let circuits: Vec<_> = circuits.iter().map(|c| c.inner.clone()).collect();
        let scheduler = scheduler::scheduler();
        let (job, seed) = py
            .detach(|| scheduler.submit(circuits, opts))
            .map_err(to_py)?;
        Ok(PyJob {
            job,
            scheduler,
            seed,
        })
    })
}

/// `(queued jobs, worker threads, maximum worker threads)`.
/// Checks run options as `submit` would (every range and unit, in the core's
/// builder), without running anything: for callers that take options long
/// before a run, as `Simulator(...)` does.
#[pyfunction]
#[pyo3(signature = (*, shots, seed, memory, statevector, max_parallel_threads, parallel_threshold, max_memory_mb, fusion=true, precision="double", max_parallel_experiments=0, fusion_max_qubit=0, fusion_threshold=0))]
#[allow(clippy::too_many_arguments)]
fn check_options(
    shots: i64,
    seed: Option<i128>,
    memory: bool,
    statevector: bool,
    max_parallel_threads: i64,
    parallel_threshold: i64,
    max_memory_mb: Option<f64>,
    fusion: bool,
    precision: &str,
    max_parallel_experiments: i64,
    fusion_max_qubit: i64,
    fusion_threshold: i64,
) -> PyResult<()> {
    guard(|| {
        UserOptions {
            shots,
            seed,
            memory,
            statevector,
            max_parallel_threads,
            parallel_threshold,
            max_memory_mb,
            fusion,
            fusion_max_qubit,
            fusion_threshold,
            first_index: 0,
            precision,
            max_parallel_experiments,
        }
        .build()
        .map(drop)
        .map_err(to_py)
    })
}

#[pyfunction]
fn queue_info() -> (usize, usize, usize) {
    scheduler::scheduler().queue_info()
}

/// How many jobs have ended in this process.
#[pyfunction]
fn completions() -> u64 {
    scheduler::scheduler().completions()
}

/// Blocks (without the GIL, Ctrl-C honoured) until more than `seen` jobs have
/// ended or `timeout` seconds pass; returns the count of ended jobs.
#[pyfunction]
#[pyo3(signature = (seen, timeout=None))]
fn wait_completions(py: Python<'_>, seen: u64, timeout: Option<f64>) -> PyResult<u64> {
    let scheduler = scheduler::scheduler();
    let mut latest = seen;
    wait_interruptibly(py, timeout, |slice| {
        latest = scheduler.wait_completions(seen, slice);
        latest > seen
    })?;
    Ok(latest)
}

/// The final state of a measurement-free circuit, as a new complex128 (or
/// complex64) array.
#[pyfunction]
#[pyo3(signature = (circuit, *, max_parallel_threads, parallel_threshold, max_memory_mb, fusion=true, precision="double", fusion_max_qubit=0, fusion_threshold=0))]
#[allow(clippy::too_many_arguments)]
fn statevector<'py>(
    py: Python<'py>,
    circuit: PyRef<'_, PyCircuit>,
    max_parallel_threads: i64,
    parallel_threshold: i64,
    max_memory_mb: Option<f64>,
    fusion: bool,
    precision: &str,
    fusion_max_qubit: i64,
    fusion_threshold: i64,
) -> PyResult<Bound<'py, PyAny>> {
    guard(|| {
        let opts = UserOptions {
            max_parallel_threads,
            parallel_threshold,
            max_memory_mb,
            fusion,
            fusion_max_qubit,
            fusion_threshold,
            precision,
            ..UserOptions::default()
        }
        .build()
        .map_err(to_py)?;
        // A short one runs here (without the GIL): the scheduler's hand-off
        // would cost more than the simulation.
        if ferroq_core::sim::engine::runs_inline(&circuit.inner) {
            let circuit = &circuit.inner;
            let state = py
                .detach(|| ferroq_core::statevector(circuit, &opts))
                .map_err(to_py)?;
            return Ok(result::state_to_numpy(py, state));
        }
        // Run as a job so that Ctrl-C can stop a long simulation.
        let scheduler = scheduler::scheduler();
        let circuit = circuit.inner.clone();
        let job = py
            .detach(|| scheduler.submit_statevector(circuit, opts))
            .map_err(to_py)?;
        if let Err(interrupted) = wait_interruptibly(py, None, |slice| job.wait_timeout(slice)) {
            scheduler.cancel(&job);
            return Err(interrupted);
        }
        let state = py
            .detach(|| scheduler::take_statevector(&job))
            .map_err(to_py)?;
        Ok(result::state_to_numpy(py, state))
    })
}

/// `(name, num_qubits or None, num_params)` for every named gate.
#[pyfunction]
fn gate_table() -> Vec<(&'static str, Option<usize>, usize)> {
    ferroq_core::GateKind::ALL
        .iter()
        .map(|k| (k.name(), k.num_qubits(), k.num_params()))
        .collect()
}

/// Parses an OpenQASM 2.0 program into a circuit (raises `QasmError`).
#[pyfunction]
fn parse_qasm2(py: Python<'_>, text: &str) -> PyResult<PyCircuit> {
    guard(|| {
        let text = text.to_owned();
        py.detach(move || ferroq_core::qasm::qasm2::parse(&text))
            .map(|inner| PyCircuit { inner })
            .map_err(errors::to_py)
    })
}

/// Bytes of memory available to this process (the engine's default limit).
#[pyfunction]
fn available_memory() -> u64 {
    ferroq_core::sim::state::available_memory_bytes()
}

/// The thread count used when a run does not set one.
#[pyfunction]
fn default_threads() -> usize {
    ferroq_core::sim::parallel::default_threads()
}

/// The vector instruction set the kernels use in this process: `"avx512"`,
/// `"avx2"`, `"neon"` or `"portable"` (after `FERROQ_NO_SIMD` and
/// `FERROQ_NO_AVX512`).
#[pyfunction]
fn instruction_set() -> &'static str {
    ferroq_core::sim::simd::isa().name()
}

/// Bytes of the last-level cache the engine sizes cache blocking by
/// (`FERROQ_CACHE_BYTES` when set), or None when unknown. A bad
/// `FERROQ_CACHE_BYTES` raises `OptionError` naming it.
#[pyfunction]
fn cache_bytes() -> PyResult<Option<u64>> {
    ferroq_core::sim::env::cache_bytes().map_err(to_py)?;
    Ok(ferroq_core::sim::plan::last_level_cache_bytes())
}

/// Bytes of the machine's last-level cache (Linux sysfs), whatever
/// `FERROQ_CACHE_BYTES` says, or None when unknown.
#[pyfunction]
fn system_cache_bytes() -> Option<u64> {
    ferroq_core::sim::plan::system_last_level_cache_bytes()
}

/// Fault injection for the reliability tests: `"next_job"` makes the next job a
/// worker runs panic; `"here"` panics in this call, inside the entry-point guard.
/// Compiled only with the `fault-injection` feature (test builds).
#[cfg(feature = "fault-injection")]
#[pyfunction(name = "_inject_fault")]
fn inject_fault(kind: &str) -> PyResult<()> {
    guard(|| match kind {
        "next_job" => {
            ferroq_core::jobs::fault::panic_next_job();
            Ok(())
        }
        "here" => panic!("injected fault: this entry point panicked on purpose"),
        other => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "unknown fault {other:?}: expected \"next_job\" or \"here\""
        ))),
    })
}

/// Whether `Circuit.extend_qiskit_native` can read Qiskit circuits through
/// Qiskit's C API: the running Qiskit exports it in a layout we know, and
/// `FERROQ_QISKIT_CAPI=0` is not set. Imports `qiskit._accelerate`.
#[pyfunction]
fn qiskit_capi_available(py: Python<'_>) -> PyResult<bool> {
    ferroq_core::sim::env::qiskit_capi().map_err(to_py)?;
    Ok(qiskit_capi::api(py).is_some())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add(
        "DEFAULT_PARALLEL_THRESHOLD",
        ferroq_core::sim::options::DEFAULT_PARALLEL_THRESHOLD,
    )?;
    let defaults = ferroq_core::RunOptions::default();
    m.add("DEFAULT_FUSION_MAX_QUBIT", defaults.fusion_max_qubits)?;
    m.add("DEFAULT_FUSION_THRESHOLD", defaults.fusion_threshold)?;
    m.add_class::<PyCircuit>()?;
    m.add_class::<PyExperiment>()?;
    m.add_class::<PyJob>()?;
    m.add_class::<PyExternalJob>()?;
    m.add_class::<PyJobGroup>()?;
    m.add_function(wrap_pyfunction!(submit, m)?)?;
    m.add_function(wrap_pyfunction!(result::_experiment_from_state, m)?)?;
    m.add_function(wrap_pyfunction!(result::encode_result_batch, m)?)?;
    m.add_function(wrap_pyfunction!(result::decode_result_batch, m)?)?;
    m.add_function(wrap_pyfunction!(check_options, m)?)?;
    m.add_function(wrap_pyfunction!(queue_info, m)?)?;
    m.add_function(wrap_pyfunction!(completions, m)?)?;
    m.add_function(wrap_pyfunction!(wait_completions, m)?)?;
    m.add_function(wrap_pyfunction!(statevector, m)?)?;
    m.add_function(wrap_pyfunction!(gate_table, m)?)?;
    m.add_function(wrap_pyfunction!(default_threads, m)?)?;
    m.add_function(wrap_pyfunction!(available_memory, m)?)?;
    m.add_function(wrap_pyfunction!(parse_qasm2, m)?)?;
    m.add_function(wrap_pyfunction!(instruction_set, m)?)?;
    m.add_function(wrap_pyfunction!(cache_bytes, m)?)?;
    m.add_function(wrap_pyfunction!(system_cache_bytes, m)?)?;
    // A private attribute, not in `__all__`: test builds only.
    #[cfg(feature = "fault-injection")]
    m.setattr("_inject_fault", wrap_pyfunction!(inject_fault, m)?)?;
    m.add_function(wrap_pyfunction!(qiskit_capi_available, m)?)?;
    Ok(())
}
