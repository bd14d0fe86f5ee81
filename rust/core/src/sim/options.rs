//! Run options as a user gives them (signed integers, megabytes, a precision
//! name), checked and converted in one place: every range and unit of the
//! product is decided here or in [`RunOptions::validate`], never in a binding.
//! (The Python layer only checks types.)

use crate::error::{Error, Result};
use crate::sim::engine::RunOptions;
use crate::sim::precision::Precision;

/// The options of one run, unchecked, in the units a user writes them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserOptions<'a> {
    pub shots: i64,
    pub seed: Option<i128>,
    pub memory: bool,
    pub statevector: bool,
    /// 0: every CPU the process may use.
    pub max_parallel_threads: i64,
    pub parallel_threshold: i64,
    /// `None`: the memory available.
    pub max_memory_mb: Option<f64>,
    pub fusion: bool,
    pub first_index: u64,
    pub precision: &'a str,
    pub max_parallel_experiments: i64,
}

impl Default for UserOptions<'_> {
    fn default() -> Self {
        let d = RunOptions::default();
        UserOptions {
            shots: d.shots as i64,
            seed: None,
            memory: d.memory,
            statevector: d.statevector,
            max_parallel_threads: 0,
            parallel_threshold: d.parallel_threshold as i64,
            max_memory_mb: None,
            fusion: d.fusion,
            first_index: 0,
            precision: "double",
            max_parallel_experiments: 0,
        }
    }
}

fn invalid(name: &str, reason: String) -> Error {
    Error::InvalidOption {
        name: name.into(),
        reason,
    }
}

fn non_negative(name: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| invalid(name, format!("must be non-negative, got {value}")))
}

impl UserOptions<'_> {
    /// The engine's options, or the first option out of its range (named as the user wrote it).
    pub fn build(&self) -> Result<RunOptions> {
        let seed = match self.seed {
            None => None,
            Some(s) => Some(u64::try_from(s).map_err(|_| {
                invalid("seed", format!("must be between 0 and 2**64 - 1, got {s}"))
            })?),
        };
        let precision = Precision::parse(self.precision).ok_or_else(|| {
            invalid(
                "precision",
                format!("must be 'double' or 'single', got {:?}", self.precision),
            )
        })?;
        let max_memory_bytes = match self.max_memory_mb {
            None => None,
            Some(mb) if mb.is_finite() && mb > 0.0 => Some((mb * 1024.0 * 1024.0) as u64),
            Some(mb) => {
                return Err(invalid(
                    "max_memory_mb",
                    format!("must be a positive number, got {mb}"),
                ));
            }
        };
        let opts = RunOptions {
            shots: non_negative("shots", self.shots)?,
            seed,
            memory: self.memory,
            statevector: self.statevector,
            threads: non_negative("max_parallel_threads", self.max_parallel_threads)? as usize,
            parallel_threshold: non_negative("parallel_threshold", self.parallel_threshold)?
                as usize,
            max_memory_bytes,
            fusion: self.fusion,
            first_index: self.first_index,
            precision,
            max_parallel_experiments: non_negative(
                "max_parallel_experiments",
                self.max_parallel_experiments,
            )? as usize,
        };
        opts.validate()?;
        Ok(opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option_of(err: Error) -> String {
        match err {
            Error::InvalidOption { name, .. } => name,
            other => panic!("not an option error: {other}"),
        }
    }

    #[test]
    fn every_range_is_checked_and_named() {
        let ok = UserOptions::default().build().unwrap();
        assert_eq!(ok, RunOptions::default());
        let cases: [(&str, UserOptions); 8] = [
            (
                "shots",
                UserOptions {
                    shots: -1,
                    ..Default::default()
                },
            ),
            (
                "shots",
                UserOptions {
                    shots: 0,
                    ..Default::default()
                },
            ),
            (
                "seed",
                UserOptions {
                    seed: Some(-1),
                    ..Default::default()
                },
            ),
            (
                "seed",
                UserOptions {
                    seed: Some(1 << 64),
                    ..Default::default()
                },
            ),
            (
                "precision",
                UserOptions {
                    precision: "half",
                    ..Default::default()
                },
            ),
            (
                "max_memory_mb",
                UserOptions {
                    max_memory_mb: Some(f64::NAN),
                    ..Default::default()
                },
            ),
            (
                "max_parallel_threads",
                UserOptions {
                    max_parallel_threads: 100_000,
                    ..Default::default()
                },
            ),
            (
                "max_parallel_experiments",
                UserOptions {
                    max_parallel_experiments: -2,
                    ..Default::default()
                },
            ),
        ];
        for (name, user) in cases {
            assert_eq!(option_of(user.build().unwrap_err()), name, "{user:?}");
        }
        let mb = UserOptions {
            max_memory_mb: Some(1.5),
            precision: "single",
            ..Default::default()
        };
        let built = mb.build().unwrap();
        assert_eq!(built.max_memory_bytes, Some(1_572_864));
        assert_eq!(built.precision, Precision::Single);
    }
}
