//! The environment variables ferroq reads, each validated as the option it
//! stands for: a bad value is an error naming the variable (when a run's
//! options are checked), never taken as is (`FERROQ_NUM_THREADS=100000` used
//! to build a 100,000-thread pool) and never silently ignored.
//!
//! - `FERROQ_NUM_THREADS`: the default thread count, 1 to 4096 (as
//!   `max_parallel_threads`).
//! - `FERROQ_CACHE_BYTES`: the cache size blocking plans for, a number of
//!   bytes (0: unknown, so states are always blocked).
//! - `FERROQ_NO_SIMD`, `FERROQ_NO_AVX512`: switches, `0` or `1` (or empty).
//! - `FERROQ_QISKIT_CAPI`: `0` keeps the Qiskit adapter off Qiskit's C API,
//!   `1` (or unset) lets it use it where the layout is known.

use crate::error::{Error, Result};

pub const NUM_THREADS: &str = "FERROQ_NUM_THREADS";
pub const CACHE_BYTES: &str = "FERROQ_CACHE_BYTES";
pub const SWITCHES: [&str; 2] = ["FERROQ_NO_SIMD", "FERROQ_NO_AVX512"];

/// The most threads a run may ask for, by option or by variable.
pub const MAX_THREADS: usize = 4096;

fn invalid(name: &str, value: &str, reason: &str) -> Error {
    Error::InvalidOption {
        name: format!("{name} (environment variable)"),
        reason: format!("{reason}, got {value:?}"),
    }
}

/// The variable's value, `None` when unset or empty.
fn read(name: &str) -> Result<Option<String>> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_string())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(v)) => {
            Err(invalid(name, &v.to_string_lossy(), "must be plain text"))
        }
    }
}

/// `FERROQ_NUM_THREADS`, checked.
pub fn num_threads() -> Result<Option<usize>> {
    let Some(v) = read(NUM_THREADS)? else {
        return Ok(None);
    };
    match v.parse::<usize>() {
        Ok(n) if (1..=MAX_THREADS).contains(&n) => Ok(Some(n)),
        _ => Err(invalid(
            NUM_THREADS,
            &v,
            &format!("must be a whole number of threads from 1 to {MAX_THREADS}"),
        )),
    }
}

/// `FERROQ_CACHE_BYTES`, checked: `Some(None)` for 0 (unknown).
pub fn cache_bytes() -> Result<Option<Option<u64>>> {
    let Some(v) = read(CACHE_BYTES)? else {
        return Ok(None);
    };
    v.parse::<u64>()
        .map(|b| Some((b > 0).then_some(b)))
        .map_err(|_| invalid(CACHE_BYTES, &v, "must be a whole number of bytes"))
}

/// Whether the switch `name` is on, checked.
pub fn switch(name: &str) -> Result<bool> {
    match read(name)?.as_deref() {
        None | Some("0") => Ok(false),
        Some("1") => Ok(true),
        Some(v) => Err(invalid(name, v, "must be 0 or 1")),
    }
}

pub const QISKIT_CAPI: &str = "FERROQ_QISKIT_CAPI";

/// Whether `FERROQ_QISKIT_CAPI` allows Qiskit's C API (checked).
pub fn qiskit_capi() -> Result<bool> {
    match read(QISKIT_CAPI)?.as_deref() {
        None | Some("1") => Ok(true),
        Some("0") => Ok(false),
        Some(v) => Err(invalid(QISKIT_CAPI, v, "must be 0 or 1")),
    }
}

/// Checks every variable: a run's options are checked with it.
pub fn check() -> Result<()> {
    num_threads()?;
    cache_bytes()?;
    qiskit_capi()?;
    SWITCHES.iter().try_for_each(|name| switch(name).map(drop))
}
