//! `ferroq._core.Job`: the Python handle on a scheduled core job. Every wait
//! releases the GIL and wakes at least every 50 ms to let Ctrl-C through.

use crate::errors::to_py;
use crate::result::PyExperiment;
use ferroq_core::engine::ExperimentResult;
use ferroq_core::scheduler::Scheduler;
use ferroq_core::{JobState, SimJob};
use pyo3::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a blocking wait stays in Rust before checking for signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Waits in slices of [`SIGNAL_CHECK`] without the GIL until `done` holds or
/// `timeout` (seconds, `None` = forever) passes; raises KeyboardInterrupt
/// (or whatever a signal handler raises) promptly.
pub fn wait_interruptibly(
    py: Python<'_>,
    timeout: Option<f64>,
    mut wait_slice: impl FnMut(Duration) -> bool + Send,
) -> PyResult<bool> {
    let deadline = match timeout {
        Some(t) if t.is_nan() => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "timeout must not be NaN",
            ));
        }
        Some(t) => Some(Instant::now() + Duration::from_secs_f64(t.clamp(0.0, 1e9))),
        None => None,
    };
    loop {
        let slice = match deadline {
            Some(d) => d
                .saturating_duration_since(Instant::now())
                .min(SIGNAL_CHECK),
            None => SIGNAL_CHECK,
        };
        if py.detach(|| wait_slice(slice)) {
            return Ok(true);
        }
        py.check_signals()?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(false);
        }
    }
}

#[pyclass(module = "ferroq._core", name = "Job", frozen)]
pub struct PyJob {
    pub job: Arc<SimJob>,
    pub scheduler: Arc<Scheduler>,
    pub seed: u64,
}

#[pymethods]
impl PyJob {
    /// The state as an index into Qiskit's JobStatus order.
    fn state(&self) -> u8 {
        self.job.state() as u8
    }

    /// The run seed (drawn at submission when the run gave none).
    #[getter]
    fn seed(&self) -> u64 {
        self.seed
    }

    fn cancel(&self, py: Python<'_>) -> bool {
        py.detach(|| self.scheduler.cancel(&self.job))
    }

    /// Blocks until the job ends or `timeout` seconds pass; returns whether it ended.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        if self.job.state().is_final() {
            return Ok(true);
        }
        let job = &self.job;
        wait_interruptibly(py, timeout, |slice| job.wait_timeout(slice))
    }

    /// Moves the result out: `(seed, experiments)` once after DONE, else `None`.
    fn take_result(&self, py: Python<'_>) -> Option<(u64, Vec<PyExperiment>)> {
        let result = py.detach(|| self.job.take_value())?;
        Some((result.seed, experiments(result.experiments)))
    }

    /// Moves out, once, what did succeed of a job that ended ERROR because
    /// some of its circuits failed: `(seed, experiments, [(index, exception)])`
    /// with each failed circuit's index in the batch. `None` otherwise.
    #[allow(clippy::type_complexity)]
    fn take_partial(
        &self,
        py: Python<'_>,
    ) -> Option<(u64, Vec<PyExperiment>, Vec<(usize, Py<PyAny>)>)> {
        let result = py.detach(|| self.job.take_partial())?;
        let failed = result
            .failed
            .into_iter()
            .map(|(i, e)| (i, to_py(e).into_value(py).into_any()))
            .collect();
        Some((result.seed, experiments(result.experiments), failed))
    }

    /// The exception the job ended with (ERROR or CANCELLED), or `None`.
    fn error(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.job.error().map(|e| to_py(e).into_value(py).into_any())
    }

    /// `(state index, seconds since the Unix epoch)` for each state reached.
    fn time_per_step(&self) -> Vec<(u8, f64)> {
        self.job
            .time_per_step()
            .into_iter()
            .map(|(s, ns)| (s as u8, ns as f64 / 1e9))
            .collect()
    }

    /// 0-based place in the queue, or `None` once the job left it.
    fn queue_position(&self) -> Option<usize> {
        if self.job.state() != JobState::Queued {
            return None;
        }
        self.scheduler.queue_position(&self.job)
    }

    fn progress(&self) -> f64 {
        self.job.progress()
    }
}

fn experiments(results: Vec<ExperimentResult>) -> Vec<PyExperiment> {
    results.into_iter().map(PyExperiment::new).collect()
}
