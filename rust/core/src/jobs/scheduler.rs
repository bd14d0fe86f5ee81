//! The scheduler: a FIFO queue of jobs and a pool of worker threads sized to
//! the machine. Each worker takes the oldest queued job, runs the engine under
//! the job's cancel flag, and publishes the outcome. A batch's circuits are
//! spread over the shared rayon pool by the engine itself.
//!
//! The scheduler is created on first use and again in a child after `fork`
//! (the parent's workers do not exist there).

#[cfg(feature = "fault-injection")]
use super::fault;
use super::job::{Job, JobState};
use super::signal::{self, Signal};
use crate::circuit::Circuit;
use crate::error::{Error, Result};
use crate::sim::engine::{self, Monitor, RunOptions, RunResult};
use crate::sim::parallel;
use crate::sim::precision::StateVector;
use crate::sim::rng;
use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A job of the engine: circuits in, a [`RunResult`] out.
pub type SimJob = Job<RunResult>;

struct Task {
    job: Arc<SimJob>,
    circuits: Vec<Circuit>,
    opts: RunOptions,
    seed: u64,
}

struct Queue {
    tasks: VecDeque<Task>,
    /// Live worker threads, and how many of them wait for work.
    workers: usize,
    idle: usize,
}

pub struct Scheduler {
    pid: u32,
    queue: Mutex<Queue>,
    work_available: Condvar,
    /// The process's "a job ended" signal (see [`signal`]).
    ended: Arc<Signal>,
    max_workers: usize,
}

static SCHEDULER: Mutex<Option<Arc<Scheduler>>> = Mutex::new(None);

/// The process's scheduler.
pub fn scheduler() -> Arc<Scheduler> {
    let mut slot = SCHEDULER.lock().unwrap_or_else(|p| p.into_inner());
    let pid = std::process::id();
    match slot.as_ref() {
        Some(s) if s.pid == pid => s.clone(),
        stale => {
            // After fork: the old scheduler's workers are gone; leak it rather
            // than touch locks a vanished thread may have held.
            if let Some(old) = stale {
                std::mem::forget(old.clone());
            }
            let fresh = Arc::new(Scheduler {
                pid,
                queue: Mutex::new(Queue {
                    tasks: VecDeque::new(),
                    workers: 0,
                    idle: 0,
                }),
                work_available: Condvar::new(),
                ended: signal::global(),
                max_workers: parallel::default_threads().max(1),
            });
            *slot = Some(fresh.clone());
            fresh
        }
    }
}

struct JobMonitor<'a>(&'a SimJob);

impl Monitor for JobMonitor<'_> {
    fn cancelled(&self) -> bool {
        self.0.cancel_requested()
    }
    fn advance(&self, units: u64) {
        self.0.add_work_done(units);
    }
}

impl Scheduler {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Validates and queues a batch; the returned job is QUEUED (bad input
    /// is an error here, before any job exists). The run seed is drawn now
    /// when not given, so the job can report it before it runs.
    pub fn submit(
        self: &Arc<Self>,
        circuits: Vec<Circuit>,
        opts: RunOptions,
    ) -> Result<(Arc<SimJob>, u64)> {
        engine::validate(&circuits, &opts)?;
        let seed = opts.seed.unwrap_or_else(rng::random_seed);
        let job = Arc::new(SimJob::new());
        job.set_work_total(engine::work_units(&circuits));
        job.advance(JobState::Queued);
        let mut queue = self.lock();
        queue.tasks.push_back(Task {
            job: job.clone(),
            circuits,
            opts,
            seed,
        });
        if queue.idle == 0 && queue.workers < self.max_workers {
            queue.workers += 1;
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ferroq-worker".into())
                .spawn(move || me.work());
            if spawned.is_err() {
                queue.workers -= 1;
                if queue.workers == 0 {
                    // No thread at all to run it: fail the job rather than hang.
                    let task = queue.tasks.pop_back().expect("just pushed");
                    drop(queue);
                    task.job.finish(Err(Error::Internal(
                        "could not start a worker thread".into(),
                    )));
                    self.ended();
                    return Ok((job, seed));
                }
            }
        }
        drop(queue);
        self.work_available.notify_one();
        Ok((job, seed))
    }

    /// Worker loop: idle workers exit after a while, so an idle process holds
    /// no threads.
    fn work(self: Arc<Self>) {
        loop {
            let task = {
                let mut queue = self.lock();
                loop {
                    if let Some(task) = queue.tasks.pop_front() {
                        break task;
                    }
                    queue.idle += 1;
                    let (q, timeout) = self
                        .work_available
                        .wait_timeout(queue, Duration::from_secs(2))
                        .unwrap_or_else(|p| p.into_inner());
                    queue = q;
                    queue.idle -= 1;
                    if timeout.timed_out() && queue.tasks.is_empty() {
                        queue.workers -= 1;
                        return;
                    }
                }
            };
            self.execute(task);
        }
    }

    fn execute(&self, task: Task) {
        let job = &task.job;
        if job.advance(JobState::Validating) {
            // Validation runs under catch_unwind too: a panic must end this
            // job, never the worker, whose job would otherwise stay unfinished.
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                if let Err(e) = engine::validate(&task.circuits, &task.opts) {
                    return Some(Err(e));
                }
                if !job.advance(JobState::Running) {
                    return None; // cancelled meanwhile
                }
                #[cfg(feature = "fault-injection")]
                fault::maybe_panic();
                Some(engine::run_monitored(
                    &task.circuits,
                    &task.opts,
                    task.seed,
                    &JobMonitor(job),
                ))
            }))
            .unwrap_or_else(|payload| Some(Err(Error::from_panic(&*payload))));
            match outcome {
                None => {}
                Some(Ok(result)) if !result.failed.is_empty() => {
                    // The job fails with its first failing circuit's error and
                    // keeps the others' results for a partial result.
                    let error = result.failed[0].1.clone();
                    job.finish_partial(result, error);
                }
                Some(other) => {
                    job.finish(other);
                }
            }
        }
        // Cancelled while queued: nothing to run.
        self.ended();
    }

    /// A worker left a job (ended, or found cancelled): waiters for "any job"
    /// look again, so that they also see a worker freed.
    fn ended(&self) {
        self.ended.notify();
    }

    /// Queues the simulation of one measurement-free circuit for its final
    /// state: a job like any other, so that it can be cancelled (Ctrl-C).
    /// `opts` give threads, memory, fusion and precision; shots, seed and
    /// what is kept are the statevector's own.
    pub fn submit_statevector(
        self: &Arc<Self>,
        circuit: Circuit,
        opts: RunOptions,
    ) -> Result<Arc<SimJob>> {
        engine::require_unitary(&circuit)?;
        let opts = RunOptions {
            shots: 1,
            seed: Some(0),
            memory: false,
            statevector: true,
            ..opts
        };
        Ok(self.submit(vec![circuit], opts)?.0)
    }

    /// Cancels `job`: removes it from the queue if it is still there, or
    /// stops it if it runs. Returns whether it ended CANCELLED by this call.
    pub fn cancel(&self, job: &Arc<SimJob>) -> bool {
        let cancelled = job.cancel();
        if cancelled {
            // Drop a queued job's circuits now rather than when a worker
            // reaches it; a running one stops at its next check.
            // (The job's own final transition notified the signal.)
            self.lock().tasks.retain(|t| !Arc::ptr_eq(&t.job, job));
        }
        cancelled
    }

    /// 0-based position among the queued jobs, or `None` once it left the queue.
    pub fn queue_position(&self, job: &Arc<SimJob>) -> Option<usize> {
        let queue = self.lock();
        queue.tasks.iter().position(|t| Arc::ptr_eq(&t.job, job))
    }

    /// (queued jobs, busy or idle workers, maximum workers).
    pub fn queue_info(&self) -> (usize, usize, usize) {
        let queue = self.lock();
        (queue.tasks.len(), queue.workers, self.max_workers)
    }

    /// How many job endings the process's signal has seen (see [`signal`]).
    pub fn completions(&self) -> u64 {
        self.ended.count()
    }

    /// Blocks until more than `seen` jobs have ended, or `timeout` passes.
    /// Returns the new count.
    pub fn wait_completions(&self, seen: u64, timeout: Duration) -> u64 {
        self.ended.wait(seen, timeout)
    }
}

/// The final state of a finished [`Scheduler::submit_statevector`] job, or its error.
pub fn take_statevector(job: &SimJob) -> Result<StateVector> {
    job.take_value()
        .and_then(|mut r| r.experiments.pop())
        .and_then(|e| e.statevector)
        .ok_or_else(|| {
            job.error().unwrap_or(Error::Internal(
                "a finished statevector job has neither a state nor an error".into(),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::engine::tests::bell;

    #[test]
    fn thousands_of_jobs_all_finish() {
        let s = scheduler();
        let opts = RunOptions {
            shots: 10,
            seed: Some(3),
            threads: 1,
            ..Default::default()
        };
        let jobs: Vec<_> = (0..2000)
            .map(|_| s.submit(vec![bell()], opts.clone()).unwrap().0)
            .collect();
        for job in &jobs {
            assert!(job.wait_timeout(Duration::from_secs(60)));
            assert_eq!(job.state(), JobState::Done);
            assert_eq!(job.progress(), 1.0);
        }
        let first = jobs[0].take_value().unwrap();
        assert_eq!(first.experiments[0].count_values.iter().sum::<u64>(), 10);
    }

    #[test]
    fn a_running_job_stops_promptly_when_cancelled() {
        let s = scheduler();
        // An entangling brickwork that fusion cannot fold away: seconds of work.
        let mut c = Circuit::new(18, 0);
        for _ in 0..3000 {
            for q in 0..18 {
                c.append_gate("rx", &[q], &[0.3]).unwrap();
            }
            for q in 0..17 {
                c.append_gate("cx", &[q, q + 1], &[]).unwrap();
            }
        }
        let opts = RunOptions {
            threads: 1,
            ..Default::default()
        };
        let (job, _) = s.submit(vec![c], opts).unwrap();
        while job.state() != JobState::Running {
            std::thread::yield_now();
        }
        let start = std::time::Instant::now();
        assert!(s.cancel(&job));
        assert_eq!(job.state(), JobState::Cancelled);
        // The worker holds the job until it leaves the engine: it must let go
        // at its next check, not run the circuit to its end.
        while Arc::strong_count(&job) > 1 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the worker still runs a job cancelled 20 s ago"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let done = job.progress();
        assert!(
            done < 0.5,
            "the cancelled job ran on to {done:.2} of its work"
        );
        assert!(job.take_value().is_none());
    }

    #[test]
    fn a_failing_circuit_fails_the_job_and_the_others_are_kept() {
        let s = scheduler();
        // A statevector saved after a measurement, over several shots, is
        // refused only when the circuit runs.
        let mut late = Circuit::new(1, 1);
        late.measure(0, 0).unwrap();
        late.append_gate("x", &[0], &[]).unwrap();
        late.save("statevector", "sv", &[], &[], &[]).unwrap();
        for threads in [1, 2] {
            let opts = RunOptions {
                shots: 50,
                seed: Some(9),
                threads,
                ..Default::default()
            };
            let batch = vec![bell(), late.clone(), bell()];
            let (job, _) = s.submit(batch, opts.clone()).unwrap();
            assert!(job.wait_timeout(Duration::from_secs(60)));
            assert_eq!(job.state(), JobState::Error);
            let err = job.error().unwrap();
            assert!(err.to_string().starts_with("circuit 1: "), "{err}");
            assert!(job.take_value().is_none());
            let partial = job.take_partial().unwrap();
            assert_eq!(partial.experiments.len(), 2);
            assert_eq!(partial.failed.len(), 1);
            assert_eq!(partial.failed[0].0, 1);
            // The survivors are exactly what they would be in a good batch.
            let (good, _) = s.submit(vec![bell(), bell(), bell()], opts).unwrap();
            good.wait();
            let good = good.take_value().unwrap();
            assert_eq!(
                partial.experiments[0].count_values,
                good.experiments[0].count_values
            );
            assert_eq!(
                partial.experiments[1].count_values,
                good.experiments[2].count_values
            );
        }
    }

    #[test]
    fn bad_input_fails_at_submit() {
        let s = scheduler();
        let opts = RunOptions {
            shots: 0,
            ..Default::default()
        };
        assert!(s.submit(vec![bell()], opts).is_err());
    }
}
