//! Thread pools: one rayon pool per requested size, built once and reused,
//! and rebuilt in a child after `fork` (the parent's worker threads do not
//! exist there, and waiting on them would hang).

use rayon::{ThreadPool, ThreadPoolBuilder};
use std::sync::{Arc, Mutex, OnceLock};

struct Pools {
    pid: u32,
    /// Most recently used last.
    by_size: Vec<(usize, Arc<ThreadPool>)>,
}

/// Pools kept alive at once. Each distinct size asked for (threads, or the
/// bound on side-by-side circuits) is a pool of its own; without a bound a
/// caller cycling through sizes would grow the process's threads forever. An
/// evicted pool's threads exit once the runs still holding it finish.
const MAX_POOLS: usize = 4;

static POOLS: OnceLock<Mutex<Pools>> = OnceLock::new();

/// Threads this process may use: `FERROQ_NUM_THREADS` when set (1 to 4096;
/// a bad value is refused when a run's options are checked, see
/// [`crate::sim::env`], and never used), else the CPU count allowed by
/// affinity and cgroup quota, as first read in this process (reading it
/// costs tens of microseconds of cgroup files, which a small circuit's run
/// would pay every time; a pool's size is fixed when it is built anyway).
pub fn default_threads() -> usize {
    if let Ok(Some(n)) = crate::sim::env::num_threads() {
        return n;
    }
    static CPUS: OnceLock<usize> = OnceLock::new();
    *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// The shared pool with `threads` workers.
pub fn pool(threads: usize) -> Arc<ThreadPool> {
    let threads = threads.max(1);
    let pools = POOLS.get_or_init(|| {
        Mutex::new(Pools {
            pid: std::process::id(),
            by_size: Vec::new(),
        })
    });
    let mut pools = pools
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let pid = std::process::id();
    if pools.pid != pid {
        // Forked: the inherited pools have no threads behind them. Dropping
        // them would try to signal those threads, so they are leaked instead.
        for (_, p) in pools.by_size.drain(..) {
            std::mem::forget(p);
        }
        pools.pid = pid;
    }
    if let Some(at) = pools.by_size.iter().position(|(n, _)| *n == threads) {
        let entry = pools.by_size.remove(at);
        let pool = entry.1.clone();
        pools.by_size.push(entry);
        return pool;
    }
    let pool = Arc::new(
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
    );
    if pools.by_size.len() >= MAX_POOLS {
        pools.by_size.remove(0);
    }
    pools.by_size.push((threads, pool.clone()));
    pool
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_of_many_sizes_do_not_accumulate() {
        for threads in 1..=12 {
            pool(threads).install(|| assert_eq!(rayon::current_num_threads(), threads));
        }
        let kept = POOLS.get().unwrap().lock().unwrap().by_size.len();
        assert!(kept <= MAX_POOLS, "{kept} pools kept");
        // The most recent sizes are kept and reused.
        let a = pool(12);
        assert!(Arc::ptr_eq(&a, &pool(12)));
    }
}
