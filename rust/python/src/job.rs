//! `ferroq._core.Job`: the Python handle on a scheduled core job. Every wait
//! releases the GIL and wakes at least every 50 ms to let Ctrl-C through.

use crate::errors::to_py;
use crate::result::PyExperiment;
use ferroq_core::ExperimentResult;
use ferroq_core::jobs::{Job, JobGroup, JobView, Scheduler};
use ferroq_core::{Error, JobState, SimJob};
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
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

/// Runs `work` on a thread of its own while this one waits without the GIL,
/// checking for signals every [`SIGNAL_CHECK`]: a long check on user data
/// (a large unitary's, say) releases the GIL and stops promptly on Ctrl-C.
/// On a signal, `work`'s flag is set, the thread is joined (it gives up at
/// its next check) and the signal's exception is raised.
pub fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&AtomicBool) -> T + Send,
) -> PyResult<T> {
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::sync_channel(1);
    let rx = std::sync::Mutex::new(rx);
    std::thread::scope(|scope| {
        let flag = &stop;
        scope.spawn(move || {
            let _ = tx.send(work(flag));
        });
        let mut out = None;
        let waited = wait_interruptibly(py, None, |slice| {
            match rx.lock().map(|rx| rx.recv_timeout(slice)) {
                Ok(Ok(value)) => {
                    out = Some(value);
                    true
                }
                Ok(Err(mpsc::RecvTimeoutError::Timeout)) => false,
                // The worker panicked; the scope re-raises it on exit.
                _ => true,
            }
        });
        if waited.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        waited?;
        out.ok_or_else(|| {
            to_py(Error::Internal(
                "a checking thread ended without a result".into(),
            ))
        })
    })
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
        wait_for_job(py, &self.job, timeout)
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
        steps(self.job.time_per_step())
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

/// `ferroq._core.ExternalJob`: the state of a job whose work runs elsewhere (an
/// executor's task). Python hands it the outcome: `start`, then `finish` or
/// `fail`, or `cancel`; the outcome itself stays with the caller. Transitions
/// are the core state machine's: forward only, one final state.
#[pyclass(module = "ferroq._core", name = "ExternalJob", frozen)]
pub struct PyExternalJob {
    pub job: Arc<Job<()>>,
}

#[pymethods]
impl PyExternalJob {
    /// A new job, QUEUED.
    #[new]
    fn new() -> Self {
        let job = Arc::new(Job::new());
        job.advance(JobState::Queued);
        PyExternalJob { job }
    }

    fn state(&self) -> u8 {
        self.job.state() as u8
    }

    /// Moves to RUNNING unless the job already got there or ended.
    fn start(&self) -> bool {
        self.job.advance(JobState::Running)
    }

    /// Ends the job DONE; whether this call ended it.
    fn finish(&self) -> bool {
        self.job.finish(Ok(()))
    }

    /// Ends the job ERROR (`message` describes the caller's error); whether this call ended it.
    fn fail(&self, message: String) -> bool {
        self.job.finish(Err(Error::External(message)))
    }

    /// Ends the job CANCELLED; whether this call ended it.
    fn cancel(&self) -> bool {
        self.job.cancel()
    }

    /// Blocks until the job ends or `timeout` seconds pass; returns whether it ended.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        wait_for_job(py, &self.job, timeout)
    }

    /// `(state index, seconds since the Unix epoch)` for each state reached.
    fn time_per_step(&self) -> Vec<(u8, f64)> {
        steps(self.job.time_per_step())
    }
}

/// `ferroq._core.JobGroup`: jobs (`Job`s and `ExternalJob`s) seen as one. Its
/// state is summarised from the members' when read; a wait sleeps until the
/// process's "a job ended" signal moves and the summary is final: no polling.
#[pyclass(module = "ferroq._core", name = "JobGroup", frozen)]
pub struct PyJobGroup {
    group: JobGroup,
}

#[pymethods]
impl PyJobGroup {
    #[new]
    fn new(members: Vec<Bound<'_, PyAny>>) -> PyResult<Self> {
        let mut views: Vec<Arc<dyn JobView>> = Vec::with_capacity(members.len());
        for (i, member) in members.iter().enumerate() {
            if let Ok(job) = member.cast::<PyJob>() {
                views.push(job.get().job.clone());
            } else if let Ok(job) = member.cast::<PyExternalJob>() {
                views.push(job.get().job.clone());
            } else {
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "member {i} of a job group must be a _core.Job or _core.ExternalJob, got {}",
                    member.get_type().name()?
                )));
            }
        }
        Ok(PyJobGroup {
            group: JobGroup::new(views),
        })
    }

    /// The summarised state, as an index into Qiskit's JobStatus order.
    fn state(&self) -> u8 {
        self.group.state() as u8
    }

    /// Each member's state index, in order.
    fn states(&self) -> Vec<u8> {
        self.group.states().into_iter().map(|s| s as u8).collect()
    }

    fn __len__(&self) -> usize {
        self.group.len()
    }

    /// Blocks until every member has ended or `timeout` seconds pass; returns
    /// whether they all have.
    #[pyo3(signature = (timeout=None))]
    fn wait(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let group = &self.group;
        if group.state().is_final() {
            return Ok(true);
        }
        wait_interruptibly(py, timeout, |slice| group.wait_timeout(Some(slice)))
    }
}

/// [`wait_interruptibly`] on one job: at once when it has ended.
fn wait_for_job<T: Send>(py: Python<'_>, job: &Job<T>, timeout: Option<f64>) -> PyResult<bool> {
    if job.state().is_final() {
        return Ok(true);
    }
    wait_interruptibly(py, timeout, |slice| job.wait_timeout(slice))
}

fn steps(stamps: Vec<(JobState, u64)>) -> Vec<(u8, f64)> {
    stamps
        .into_iter()
        .map(|(s, ns)| (s as u8, ns as f64 / 1e9))
        .collect()
}

fn experiments(results: Vec<ExperimentResult>) -> Vec<PyExperiment> {
    results.into_iter().map(PyExperiment::new).collect()
}
