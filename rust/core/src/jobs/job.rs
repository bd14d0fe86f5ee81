//! The job state machine.
//!
//! A job's state is one atomic byte that only moves forward:
//! INITIALIZING -> QUEUED -> VALIDATING -> RUNNING -> DONE | ERROR | CANCELLED
//! (steps may be skipped, never revisited). Non-final transitions are plain
//! compare-and-swaps. Reaching a final state is a two-step publication, with
//! no lock: the first party to *claim* the job (the worker finishing it, or a
//! canceller; one atomic swap decides) writes the outcome into two atomic
//! pointers (the value, the error), then moves the state to final with a
//! release compare-and-swap. So exactly one final state is ever reached, and
//! anyone who sees it (an acquire load) also sees the outcome that goes with
//! it. The value is moved out once, by swapping its pointer for null; the
//! error is never changed after it is written and lives as long as the job.
//!
//! Only waiting blocks: waiters park on a condition variable, and the
//! finisher takes its mutex for an instant after publishing, so that a waiter
//! between its check of the state and its sleep cannot miss the wake-up. No
//! data is kept under that mutex.

use super::signal::{self, Signal};
use super::sync::{AtomicBool, AtomicPtr, AtomicU8, AtomicU64, Condvar, Mutex, MutexGuard};
use crate::error::Error;
use std::marker::PhantomData;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed, Release};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Qiskit's job states, in Qiskit's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum JobState {
    Initializing = 0,
    Queued = 1,
    Validating = 2,
    Running = 3,
    Cancelled = 4,
    Done = 5,
    Error = 6,
}

impl JobState {
    pub const ALL: [JobState; 7] = [
        JobState::Initializing,
        JobState::Queued,
        JobState::Validating,
        JobState::Running,
        JobState::Cancelled,
        JobState::Done,
        JobState::Error,
    ];

    fn from_u8(v: u8) -> JobState {
        JobState::ALL[v as usize]
    }

    pub fn is_final(self) -> bool {
        self as u8 >= JobState::Cancelled as u8
    }

    /// Position along the life of a job; the three final states share one.
    fn rank(self) -> u8 {
        (self as u8).min(JobState::Cancelled as u8)
    }
}

/// A job carrying a value of type `T` once it succeeds.
#[derive(Debug)]
pub struct Job<T> {
    state: AtomicU8,
    claimed: AtomicBool,
    cancel_requested: AtomicBool,
    /// Wall-clock time (ns since the Unix epoch) each state was reached; 0 = never.
    stamps: [AtomicU64; 7],
    /// The success value, or what did succeed of a job that failed in part
    /// ([`Job::finish_partial`]): written once by the claimer before the final
    /// state is published, moved out once (swapped for null). Null otherwise.
    value: AtomicPtr<T>,
    /// The error of a job that ended ERROR or CANCELLED: written once by the
    /// claimer before the final state is published, then never changed until
    /// the job is dropped. Null otherwise.
    error: AtomicPtr<Error>,
    /// Parks waiters; guards no data (see the module documentation).
    park: Mutex<()>,
    finished: Condvar,
    work_done: AtomicU64,
    work_total: AtomicU64,
    /// Told when this job reaches its final state (see [`signal`]).
    signal: Arc<Signal>,
    /// Owns a `T` that threads hand over: `Send` and `Sync` when `T` is
    /// `Send`, as a `Mutex<T>` would be (raw pointers alone would claim more).
    _owns: PhantomData<std::sync::Mutex<T>>,
}

impl<T> Drop for Job<T> {
    fn drop(&mut self) {
        let value = self.value.swap(ptr::null_mut(), Acquire);
        if !value.is_null() {
            // SAFETY: a non-null value pointer came from `Box::into_raw` in
            // `finalize` and was not taken (taking swaps it for null).
            drop(unsafe { Box::from_raw(value) });
        }
        let error = self.error.swap(ptr::null_mut(), Acquire);
        if !error.is_null() {
            // SAFETY: as above; the error is only ever borrowed, never taken.
            drop(unsafe { Box::from_raw(error) });
        }
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        .max(1)
}

impl<T> Default for Job<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Job<T> {
    /// A new job in INITIALIZING, notifying the process's [`signal::global`] when it ends.
    pub fn new() -> Job<T> {
        Job::with_signal(signal::global())
    }

    /// A new job in INITIALIZING that notifies `signal` when it ends.
    pub fn with_signal(signal: Arc<Signal>) -> Job<T> {
        let job = Job {
            state: AtomicU8::new(JobState::Initializing as u8),
            claimed: AtomicBool::new(false),
            cancel_requested: AtomicBool::new(false),
            stamps: std::array::from_fn(|_| AtomicU64::new(0)),
            value: AtomicPtr::new(ptr::null_mut()),
            error: AtomicPtr::new(ptr::null_mut()),
            park: Mutex::new(()),
            finished: Condvar::new(),
            work_done: AtomicU64::new(0),
            work_total: AtomicU64::new(0),
            signal,
            _owns: PhantomData,
        };
        job.stamps[JobState::Initializing as usize].store(now_ns(), Relaxed);
        job
    }

    pub fn state(&self) -> JobState {
        JobState::from_u8(self.state.load(Acquire))
    }

    /// Moves to the non-final state `next` if that is forward and nobody has
    /// claimed the job for a final state. Returns whether it moved.
    pub fn advance(&self, next: JobState) -> bool {
        debug_assert!(
            !next.is_final(),
            "final states are reached through finish or cancel"
        );
        let mut current = self.state.load(Acquire);
        loop {
            if self.claimed.load(Acquire) || JobState::from_u8(current).rank() >= next.rank() {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(current, next as u8, AcqRel, Acquire)
            {
                Ok(_) => {
                    self.stamps[next as usize].store(now_ns(), Relaxed);
                    return true;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Ends the job with `result` (DONE or ERROR) unless it already ended.
    /// Returns whether this call ended it.
    pub fn finish(&self, result: Result<T, Error>) -> bool {
        match result {
            Ok(v) => self.finalize(JobState::Done, Some(v), None),
            Err(Error::Cancelled) => {
                // An engine stops with Cancelled only once `cancel()` has asked
                // it to, and that call ends the job itself right after asking:
                // leaving the claim to it keeps `cancel()` returning true
                // exactly when the job ends CANCELLED.
                if self.cancel_requested() {
                    return false;
                }
                self.finalize(JobState::Cancelled, None, Some(Error::Cancelled))
            }
            Err(e) => self.finalize(JobState::Error, None, Some(e)),
        }
    }

    /// Ends the job ERROR with `error`, keeping `value` (what did succeed)
    /// for [`Job::take_partial`]. Returns whether this call ended it.
    pub fn finish_partial(&self, value: T, error: Error) -> bool {
        if error == Error::Cancelled {
            return self.finish(Err(error));
        }
        self.finalize(JobState::Error, Some(value), Some(error))
    }

    /// Cancels the job: at once if it has not ended, whether queued or
    /// running (a running engine sees [`Job::cancel_requested`] and stops; its
    /// late result is dropped). Returns whether the job ended CANCELLED here.
    pub fn cancel(&self) -> bool {
        if self.state().is_final() {
            return false;
        }
        self.cancel_requested.store(true, Release);
        self.finalize(JobState::Cancelled, None, Some(Error::Cancelled))
    }

    /// Whether the engine running this job should stop.
    pub fn cancel_requested(&self) -> bool {
        self.cancel_requested.load(Acquire)
    }

    /// Ends the job in `final_state` with `value` and `error`, if nobody has
    /// claimed it yet. Returns whether this call ended it.
    fn finalize(&self, final_state: JobState, value: Option<T>, error: Option<Error>) -> bool {
        if self.claimed.swap(true, AcqRel) {
            return false;
        }
        // Only the claimer writes these, once; the release compare-and-swap
        // below publishes them with the final state.
        if let Some(v) = value {
            self.value.store(Box::into_raw(Box::new(v)), Relaxed);
        }
        if let Some(e) = error {
            self.error.store(Box::into_raw(Box::new(e)), Relaxed);
        }
        // No one else moves the state once the job is claimed, except an
        // `advance` whose check raced with the claim: a forward step, which
        // the loop below simply steps over.
        let mut current = self.state.load(Acquire);
        while let Err(actual) =
            self.state
                .compare_exchange_weak(current, final_state as u8, AcqRel, Acquire)
        {
            current = actual;
        }
        self.stamps[final_state as usize].store(now_ns(), Relaxed);
        // A waiter holds the mutex from its check of the state until it
        // sleeps: taking it here orders this wake-up after that sleep.
        drop(self.park_lock());
        self.finished.notify_all();
        self.signal.notify();
        true
    }

    fn park_lock(&self) -> MutexGuard<'_, ()> {
        self.park
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Blocks until the job ends.
    pub fn wait(&self) {
        let mut guard = self.park_lock();
        while !self.state().is_final() {
            guard = self.finished.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Blocks until the job ends or `timeout` passes (monotonic clock).
    /// Returns whether the job has ended.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut guard = self.park_lock();
        while !self.state().is_final() {
            let Some(deadline) = deadline else {
                guard = self.finished.wait(guard).unwrap_or_else(|p| p.into_inner());
                continue;
            };
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .finished
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// The error the job ended with, if it failed or was cancelled.
    pub fn error(&self) -> Option<Error> {
        if !self.state().is_final() {
            return None;
        }
        let error = self.error.load(Acquire);
        // SAFETY: a non-null error pointer was written by the claimer before
        // the final state was published (seen above), and is never freed or
        // changed before the job is dropped, which `&self` rules out.
        (!error.is_null()).then(|| unsafe { (*error).clone() })
    }

    /// Moves the value out of a job that ended in `state`, once.
    fn take_in(&self, state: JobState) -> Option<T> {
        if self.state() != state {
            return None;
        }
        let value = self.value.swap(ptr::null_mut(), AcqRel);
        // SAFETY: a non-null value pointer came from `Box::into_raw` in
        // `finalize`; the swap hands it to exactly one caller.
        (!value.is_null()).then(|| *unsafe { Box::from_raw(value) })
    }

    /// Moves the success value out (once). `None` before the end, after a
    /// failure, or when already taken.
    pub fn take_value(&self) -> Option<T> {
        self.take_in(JobState::Done)
    }

    /// Moves out (once) the value of a job that ended ERROR with part of its
    /// work done ([`Job::finish_partial`]); the error stays. `None` otherwise.
    pub fn take_partial(&self) -> Option<T> {
        self.take_in(JobState::Error)
    }

    /// `(state, wall-clock ns since the Unix epoch)` for every state reached,
    /// in order. A stamp is written just after its transition, so a step
    /// racing a cancel may be stamped after the final state: times are
    /// clamped to be non-decreasing along the steps.
    pub fn time_per_step(&self) -> Vec<(JobState, u64)> {
        let mut latest = 0;
        JobState::ALL
            .iter()
            .filter_map(|&s| {
                let t = self.stamps[s as usize].load(Relaxed);
                (t != 0).then_some((s, t))
            })
            .map(|(s, t)| {
                latest = latest.max(t);
                (s, latest)
            })
            .collect()
    }

    /// Declares how many units of work the job has.
    pub fn set_work_total(&self, total: u64) {
        self.work_total.store(total, Relaxed);
    }

    /// Records `units` more units of work done.
    pub fn add_work_done(&self, units: u64) {
        self.work_done.fetch_add(units, Relaxed);
    }

    /// Fraction of the work done, in [0, 1]; 1 once DONE.
    pub fn progress(&self) -> f64 {
        if self.state() == JobState::Done {
            return 1.0;
        }
        let total = self.work_total.load(Relaxed);
        if total == 0 {
            return 0.0;
        }
        (self.work_done.load(Relaxed) as f64 / total as f64).min(1.0)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn states_move_forward_only() {
        let job: Job<u32> = Job::new();
        assert!(job.advance(JobState::Queued));
        assert!(!job.advance(JobState::Initializing));
        assert!(!job.advance(JobState::Queued));
        assert!(job.advance(JobState::Running));
        assert!(!job.advance(JobState::Validating));
        assert!(job.finish(Ok(7)));
        assert!(!job.finish(Ok(8)));
        assert!(!job.cancel());
        assert!(!job.advance(JobState::Running));
        assert_eq!(job.state(), JobState::Done);
        assert_eq!(job.take_value(), Some(7));
        assert_eq!(job.take_value(), None);
        let steps: Vec<JobState> = job.time_per_step().iter().map(|s| s.0).collect();
        assert_eq!(
            steps,
            vec![
                JobState::Initializing,
                JobState::Queued,
                JobState::Running,
                JobState::Done
            ]
        );
    }

    #[test]
    fn a_partial_failure_is_error_and_keeps_its_value_once() {
        let job: Job<u32> = Job::new();
        job.advance(JobState::Running);
        assert_eq!(job.take_partial(), None, "not before the end");
        assert!(job.finish_partial(3, Error::Internal("circuit 2 failed".into())));
        assert!(!job.cancel());
        assert_eq!(job.state(), JobState::Error);
        assert_eq!(job.take_value(), None, "a failed job has no complete value");
        assert_eq!(job.take_partial(), Some(3));
        assert_eq!(job.take_partial(), None);
        // The error outlives the value.
        assert_eq!(
            job.error(),
            Some(Error::Internal("circuit 2 failed".into()))
        );
        let cancelled: Job<u32> = Job::new();
        assert!(cancelled.finish_partial(1, Error::Cancelled));
        assert_eq!(cancelled.state(), JobState::Cancelled);
        assert_eq!(cancelled.take_partial(), None);
    }

    #[test]
    fn a_dropped_job_frees_what_nobody_took() {
        let value = Arc::new(());
        let done: Job<Arc<()>> = Job::new();
        done.finish(Ok(value.clone()));
        let partial: Job<Arc<()>> = Job::new();
        partial.finish_partial(value.clone(), Error::Internal("x".into()));
        let taken: Job<Arc<()>> = Job::new();
        taken.finish(Ok(value.clone()));
        let out = taken.take_value();
        assert_eq!(Arc::strong_count(&value), 4);
        drop((done, partial, taken));
        assert_eq!(
            Arc::strong_count(&value),
            2,
            "only the taken value lives on"
        );
        drop(out);
        assert_eq!(Arc::strong_count(&value), 1);
    }

    #[test]
    fn cancel_wins_over_a_late_finish() {
        let job: Job<u32> = Job::new();
        job.advance(JobState::Queued);
        job.advance(JobState::Running);
        assert!(job.cancel());
        assert!(job.cancel_requested());
        assert!(!job.finish(Ok(1)));
        assert_eq!(job.state(), JobState::Cancelled);
        assert_eq!(job.error(), Some(Error::Cancelled));
        assert_eq!(job.take_value(), None);
    }

    #[test]
    fn failure_is_error_with_its_message() {
        let job: Job<u32> = Job::new();
        assert!(job.finish(Err(Error::InvalidCircuit("boom".into()))));
        assert_eq!(job.state(), JobState::Error);
        assert_eq!(job.error().unwrap().to_string(), "boom");
    }

    #[test]
    fn waiters_wake_when_the_job_ends() {
        let job: Arc<Job<u32>> = Arc::new(Job::new());
        assert!(!job.wait_timeout(Duration::from_millis(20)));
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let job = job.clone();
                std::thread::spawn(move || {
                    let start = Instant::now();
                    assert!(job.wait_timeout(Duration::from_secs(10)));
                    start.elapsed()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        job.finish(Ok(1));
        for w in waiters {
            assert!(w.join().unwrap() < Duration::from_secs(5));
        }
        job.wait();
    }
}
