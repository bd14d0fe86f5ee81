//! "Some job ended": a counter that every job bumps when it reaches a final
//! state, and a condition variable for whoever waits on a set of jobs.
//!
//! A waiter reads the count, checks its jobs, and sleeps until the count moves
//! past what it read, so an ending between its check and its sleep is never
//! missed. The count is bumped under the mutex the sleepers wait on (a short,
//! uncontended lock per job ending). A variant that bumped it outside the lock
//! and locked only on seeing a registered waiter relies on sequentially
//! consistent ordering, which loom models as acquire/release: loom reports a
//! lost wake-up there, so the checked design is this one.

use super::sync::{AtomicU64, Condvar, Mutex};
use std::sync::Arc;
use std::sync::atomic::Ordering::SeqCst;
use std::time::Duration;

#[derive(Debug)]
pub struct Signal {
    count: AtomicU64,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Default for Signal {
    fn default() -> Self {
        Signal::new()
    }
}

impl Signal {
    pub fn new() -> Signal {
        Signal {
            count: AtomicU64::new(0),
            lock: Mutex::new(()),
            changed: Condvar::new(),
        }
    }

    /// How many endings were signalled so far.
    pub fn count(&self) -> u64 {
        self.count.load(SeqCst)
    }

    /// Signals one ending and wakes every waiter.
    pub fn notify(&self) {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.count.fetch_add(1, SeqCst);
        drop(guard);
        self.changed.notify_all();
    }

    /// Blocks until the count passes `seen` or `timeout` passes; returns the count.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let deadline = std::time::Instant::now().checked_add(timeout);
        loop {
            let now = self.count.load(SeqCst);
            if now != seen {
                break;
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(std::time::Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            guard = self
                .changed
                .wait_timeout(guard, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        drop(guard);
        self.count.load(SeqCst)
    }

    /// Blocks until the count passes `seen` (no timeout).
    pub fn wait_forever(&self, seen: u64) -> u64 {
        let mut guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        while self.count.load(SeqCst) == seen {
            guard = self.changed.wait(guard).unwrap_or_else(|p| p.into_inner());
        }
        drop(guard);
        self.count.load(SeqCst)
    }
}

/// The process's signal, which every job notifies unless built with its own.
#[cfg(not(loom))]
pub fn global() -> Arc<Signal> {
    static GLOBAL: std::sync::OnceLock<Arc<Signal>> = std::sync::OnceLock::new();
    GLOBAL.get_or_init(|| Arc::new(Signal::new())).clone()
}

/// Under loom every model run needs fresh primitives: a job's default signal is its own.
#[cfg(loom)]
pub fn global() -> Arc<Signal> {
    Arc::new(Signal::new())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_wait_ends_at_the_next_notification_or_its_timeout() {
        let signal = Arc::new(Signal::new());
        let seen = signal.count();
        assert_eq!(signal.wait(seen, Duration::from_millis(10)), seen);
        let notifier = {
            let signal = signal.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                signal.notify();
            })
        };
        assert_eq!(signal.wait_forever(seen), seen + 1);
        notifier.join().unwrap();
        // A count that already moved returns at once.
        assert_eq!(signal.wait(seen, Duration::from_secs(60)), seen + 1);
    }
}
