//! Jobs: the lock-free job state machine, the process-wide signal that a job
//! ended, groups of jobs summarised from their members, and the scheduler that
//! runs simulation jobs on worker threads.
//!
//! Every job kind of the product sits on [`Job`]: a simulation on the
//! [`scheduler`], a task completed from outside (an executor's future, whose
//! outcome the caller hands over), and a [`JobGroup`] over either kind. Each
//! final transition notifies the [`signal`], so a wait over any mix of jobs
//! sleeps until some job ends instead of polling.

#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod group;
pub mod job;
pub mod scheduler;
pub mod signal;
pub(crate) mod sync;

pub use group::{JobGroup, JobView, summarise};
pub use job::{Job, JobState};
pub use scheduler::{Scheduler, SimJob, scheduler};
pub use signal::Signal;
