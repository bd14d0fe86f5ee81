//! Fault injection for the reliability tests: the Python suite must be able to
//! make a worker panic on purpose, to check that the panic becomes that job's
//! error and that the scheduler keeps serving other jobs. Production runs pay
//! one relaxed atomic load per job.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;

static PANIC_NEXT_JOB: AtomicBool = AtomicBool::new(false);

/// The next job a worker runs panics (once) instead of simulating.
pub fn panic_next_job() {
    PANIC_NEXT_JOB.store(true, Relaxed);
}

/// Panics if a fault was injected and not yet consumed.
pub(crate) fn maybe_panic() {
    if PANIC_NEXT_JOB.load(Relaxed) && PANIC_NEXT_JOB.swap(false, Relaxed) {
        panic!("injected fault: this worker panicked on purpose");
    }
}
