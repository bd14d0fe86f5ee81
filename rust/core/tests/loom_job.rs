//! Model check of the job state machine: loom runs every interleaving of the
//! threads below (within its preemption bound) and the assertions must hold in
//! all of them.
//!
//! RUSTFLAGS="--cfg loom" cargo test -p ferroq-core --test loom_job --release
#![cfg(loom)]

use ferroq_core::error::Error;
use ferroq_core::jobs::{Job, JobState};
use loom::sync::Arc;
use loom::thread;

/// A worker starts and finishes the job while another thread cancels it and a
/// third waits: exactly one of finish and cancel ends the job, the waiter
/// wakes, and the outcome matches the final state.
#[test]
fn run_finish_cancel_and_wait() {
    loom::model(|| {
        let job = Arc::new(Job::<u32>::new());
        assert!(job.advance(JobState::Queued));
        let worker = {
            let job = job.clone();
            thread::spawn(move || job.advance(JobState::Running) && job.finish(Ok(7)))
        };
        let canceller = {
            let job = job.clone();
            thread::spawn(move || job.cancel())
        };
        let waiter = {
            let job = job.clone();
            thread::spawn(move || {
                job.wait();
                job.state()
            })
        };
        let finished = worker.join().unwrap();
        let cancelled = canceller.join().unwrap();
        let seen = waiter.join().unwrap();
        assert!(finished ^ cancelled, "exactly one party ends the job");
        let state = job.state();
        assert!(state.is_final());
        assert_eq!(seen, state, "the waiter saw the final state");
        match state {
            JobState::Done => {
                assert!(finished);
                assert_eq!(job.take_value(), Some(7));
            }
            JobState::Cancelled => {
                assert!(cancelled);
                assert_eq!(job.error(), Some(Error::Cancelled));
                assert_eq!(job.take_value(), None);
            }
            other => panic!("unexpected final state {other:?}"),
        }
    });
}

/// The engine stops with Cancelled because a cancel asked it to, racing that
/// cancel: the cancel still reports that it ended the job.
#[test]
fn a_stopped_engine_leaves_the_cancel_to_the_canceller() {
    loom::model(|| {
        let job = Arc::new(Job::<u32>::new());
        assert!(job.advance(JobState::Running));
        let worker = {
            let job = job.clone();
            thread::spawn(move || {
                let outcome = if job.cancel_requested() {
                    Err(Error::Cancelled)
                } else {
                    Ok(1)
                };
                job.finish(outcome)
            })
        };
        let cancelled = job.cancel();
        let finished = worker.join().unwrap();
        assert!(finished ^ cancelled, "exactly one party ends the job");
        assert_eq!(cancelled, job.state() == JobState::Cancelled);
    });
}

/// Submission, start and failure race with an observer: the states it sees
/// never go backwards, and once final they stay final with the error set.
#[test]
fn states_only_move_forward() {
    loom::model(|| {
        let job = Arc::new(Job::<u32>::new());
        let driver = {
            let job = job.clone();
            thread::spawn(move || {
                job.advance(JobState::Queued);
                job.advance(JobState::Running);
                job.finish(Err(Error::InvalidCircuit("bad".into())));
            })
        };
        let observer = {
            let job = job.clone();
            thread::spawn(move || {
                let a = job.state();
                let b = job.state();
                let c = job.state();
                assert!(a <= b && b <= c, "{a:?} {b:?} {c:?}");
                if c.is_final() {
                    assert!(job.error().is_some());
                }
            })
        };
        driver.join().unwrap();
        observer.join().unwrap();
        assert_eq!(job.state(), JobState::Error);
    });
}

/// A job completed from outside (an executor's future): its done-callback
/// finishes it while a user cancels it and a group over it and a second,
/// already finished job waits. Exactly one party ends it; the group's waiter
/// wakes (no lost notification) and sees the summary of the final states.
#[test]
fn external_completion_cancel_and_group_wait() {
    use ferroq_core::jobs::{JobGroup, JobView, Signal};
    loom::model(|| {
        let signal = std::sync::Arc::new(Signal::new());
        let external = std::sync::Arc::new(Job::<()>::with_signal(signal.clone()));
        let other = std::sync::Arc::new(Job::<()>::with_signal(signal.clone()));
        assert!(external.advance(JobState::Queued));
        assert!(other.finish(Ok(())));
        let members: Vec<std::sync::Arc<dyn JobView>> = vec![external.clone(), other.clone()];
        let group = std::sync::Arc::new(JobGroup::with_signal(members, signal));
        let finisher = {
            let job = external.clone();
            thread::spawn(move || job.advance(JobState::Running) && job.finish(Ok(())))
        };
        let canceller = {
            let job = external.clone();
            thread::spawn(move || job.cancel())
        };
        let waiter = {
            let group = group.clone();
            thread::spawn(move || {
                assert!(group.wait_timeout(None));
                group.state()
            })
        };
        let finished = finisher.join().unwrap();
        let cancelled = canceller.join().unwrap();
        let seen = waiter.join().unwrap();
        assert!(finished ^ cancelled, "exactly one party ends the job");
        let expected = if finished {
            JobState::Done
        } else {
            JobState::Cancelled
        };
        assert_eq!(external.state(), expected);
        assert_eq!(seen, expected, "the group's waiter saw the final summary");
    });
}

/// Two members of a group end on two threads while a third waits on the group:
/// the waiter wakes once both have ended, whichever order they end in, and an
/// error in either makes the group ERROR.
#[test]
fn group_of_two_ending_concurrently() {
    use ferroq_core::jobs::{JobGroup, JobView, Signal};
    loom::model(|| {
        let signal = std::sync::Arc::new(Signal::new());
        let a = std::sync::Arc::new(Job::<u8>::with_signal(signal.clone()));
        let b = std::sync::Arc::new(Job::<u8>::with_signal(signal.clone()));
        let members: Vec<std::sync::Arc<dyn JobView>> = vec![a.clone(), b.clone()];
        let group = std::sync::Arc::new(JobGroup::with_signal(members, signal));
        let ta = thread::spawn(move || a.finish(Ok(1)));
        let tb = thread::spawn(move || b.finish(Err(Error::Internal("boom".into()))));
        let waiter = {
            let group = group.clone();
            thread::spawn(move || {
                assert!(group.wait_timeout(None));
                group.state()
            })
        };
        assert!(ta.join().unwrap() && tb.join().unwrap());
        assert_eq!(waiter.join().unwrap(), JobState::Error);
    });
}

/// The outcome is published without a lock: a partial finish races two
/// takers and an error reader. Whoever sees the final state sees its outcome:
/// exactly one taker gets the value, the reader gets the error whenever it
/// sees ERROR, and a job dropped with its value untaken frees it.
#[test]
fn lock_free_outcome_is_taken_once_and_read_safely() {
    loom::model(|| {
        let job = Arc::new(Job::<std::sync::Arc<u32>>::new());
        let value = std::sync::Arc::new(5u32);
        let finisher = {
            let (job, value) = (job.clone(), value.clone());
            thread::spawn(move || job.finish_partial(value, Error::Internal("c1".into())))
        };
        let takers: Vec<_> = (0..2)
            .map(|_| {
                let job = job.clone();
                thread::spawn(move || job.take_partial())
            })
            .collect();
        let reader = {
            let job = job.clone();
            thread::spawn(move || (job.state(), job.error(), job.state()))
        };
        assert!(finisher.join().unwrap());
        let taken: Vec<_> = takers
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();
        let (before, error, after) = reader.join().unwrap();
        if before == JobState::Error {
            assert_eq!(error, Some(Error::Internal("c1".into())));
        }
        if after != JobState::Error {
            assert_eq!(error, None, "no error before the final state");
        }
        assert!(taken.len() <= 1, "the value is handed out once");
        if taken.is_empty() {
            // Neither taker saw the final state: the value is still there.
            assert_eq!(job.take_partial().as_deref(), Some(&5));
        }
        assert_eq!(job.take_partial(), None);
        drop(taken);
        drop(job);
        assert_eq!(
            std::sync::Arc::strong_count(&value),
            1,
            "the job freed its value"
        );
    });
}
