//! Thread pools: one rayon pool per requested size, built once and reused,
//! and rebuilt in a child after `fork` (the parent's worker threads do not
//! exist there, and waiting on them would hang).

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable that sets the default thread count.
pub const THREADS_ENV: &str = "FERROQ_NUM_THREADS";

struct Pools {
    pid: u32,
    by_size: HashMap<usize, Arc<ThreadPool>>,
}

static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();

/// Threads this process may use: `FERROQ_NUM_THREADS` when set to a positive
/// integer, else the CPU count allowed by affinity and cgroup quota.
pub fn default_threads() -> usize {
    if let Some(n) = std::env::var(THREADS_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        && n > 0
    {
        return n;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The shared pool with `threads` workers.
pub fn pool(threads: usize) -> Arc<ThreadPool> {
    let threads = threads.max(1);
    let pools = POOLS.get_or_init(|| {
        Mutex::new(Pools {
            pid: std::process::id(),
            by_size: HashMap::new(),
        })
    });
    let mut pools = pools
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        // Forked: the inherited pools have no threads behind them. Dropping
        // them would try to signal those threads, so they are leaked instead.
        for (_, p) in pools.by_size.drain() {
            std::mem::forget(p);
        }
        pools.pid = pid;
    }
    pools
        .by_size
        .entry(threads)
        .or_insert_with(|| {
            Arc::new(
                ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("ferroq-{i}"))
                    .build()
                    .unwrap_or_else(|_| {
                        // Thread creation refused (limits): run on one thread rather than fail.
                        ThreadPoolBuilder::new()
                            .num_threads(1)
                            .build()
                            .expect("a one-thread pool")
                    }),
            )
        })
        .clone()
}
