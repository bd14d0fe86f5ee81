//! A group of jobs seen as one: its state is summarised from its members'
//! whenever it is read (nothing to keep in sync), and a wait on it sleeps on
//! the members' [`Signal`] until the summary is final: no polling.

use super::job::{Job, JobState};
use super::signal::{self, Signal};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a group needs of a member: its current state.
pub trait JobView: Send + Sync {
    fn state(&self) -> JobState;
}

impl<T: Send> JobView for Job<T> {
    fn state(&self) -> JobState {
        Job::state(self)
    }
}

/// A group's state from its members': final only when every member is (then
/// ERROR if any failed, else CANCELLED if any was cancelled, else DONE);
/// RUNNING once any member runs or has ended; before that the earliest state
/// of any member. An empty group is DONE.
pub fn summarise(states: impl IntoIterator<Item = JobState>) -> JobState {
    let (mut all_final, mut error, mut cancelled, mut started) = (true, false, false, false);
    let mut earliest: Option<JobState> = None;
    for s in states {
        all_final &= s.is_final();
        error |= s == JobState::Error;
        cancelled |= s == JobState::Cancelled;
        started |= s == JobState::Running || s.is_final();
        if !s.is_final() {
            earliest = Some(earliest.map_or(s, |e| e.min(s)));
        }
    }
    if all_final {
        if error {
            JobState::Error
        } else if cancelled {
            JobState::Cancelled
        } else {
            JobState::Done
        }
    } else if started {
        JobState::Running
    } else {
        earliest.unwrap_or(JobState::Done)
    }
}

/// Jobs seen as one. Members must notify the group's signal when they end
/// (every [`Job`] built with [`Job::new`] notifies the global one).
pub struct JobGroup {
    members: Vec<Arc<dyn JobView>>,
    signal: Arc<Signal>,
}

impl JobGroup {
    /// A group over `members`, woken by the process's global signal.
    pub fn new(members: Vec<Arc<dyn JobView>>) -> JobGroup {
        JobGroup::with_signal(members, signal::global())
    }

    /// A group whose members notify `signal`.
    pub fn with_signal(members: Vec<Arc<dyn JobView>>, signal: Arc<Signal>) -> JobGroup {
        JobGroup { members, signal }
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The summarised state (see [`summarise`]).
    pub fn state(&self) -> JobState {
        summarise(self.members.iter().map(|m| m.state()))
    }

    /// Each member's state, in order.
    pub fn states(&self) -> Vec<JobState> {
        self.members.iter().map(|m| m.state()).collect()
    }

    /// Blocks until the group's state is final or `timeout` passes (`None`:
    /// no limit). Returns whether it is final.
    pub fn wait_timeout(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            // Read the count before looking: an ending after the look moves it.
            let seen = self.signal.count();
            if self.state().is_final() {
                return true;
            }
            match (timeout, deadline) {
                (None, _) | (Some(_), None) => {
                    self.signal.wait_forever(seen);
                }
                (Some(_), Some(d)) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return self.state().is_final();
                    }
                    self.signal.wait(seen, left);
                }
            }
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::error::Error;
    use JobState::*;

    #[test]
    fn summary_follows_the_members() {
        assert_eq!(summarise([]), Done);
        assert_eq!(summarise([Queued, Initializing]), Initializing);
        assert_eq!(summarise([Queued, Validating]), Queued);
        assert_eq!(summarise([Queued, Running]), Running);
        assert_eq!(summarise([Queued, Done]), Running);
        assert_eq!(summarise([Done, Done]), Done);
        assert_eq!(summarise([Done, Cancelled]), Cancelled);
        assert_eq!(summarise([Cancelled, Error, Done]), Error);
    }

    #[test]
    fn a_wait_on_a_group_returns_when_its_last_member_ends() {
        let a: Arc<Job<u8>> = Arc::new(Job::new());
        let b: Arc<Job<u8>> = Arc::new(Job::new());
        let group = JobGroup::new(vec![a.clone(), b.clone()]);
        assert!(!group.wait_timeout(Some(Duration::from_millis(5))));
        assert!(a.finish(Ok(1)));
        assert_eq!(group.state(), Running);
        let ender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            b.finish(Err(Error::Internal("boom".into())))
        });
        let start = Instant::now();
        assert!(group.wait_timeout(None));
        assert!(start.elapsed() < Duration::from_secs(10));
        assert!(ender.join().unwrap());
        assert_eq!(group.state(), Error);
        assert!(group.wait_timeout(Some(Duration::ZERO)));
    }
}
