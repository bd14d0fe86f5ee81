//! Run options: the engine's own ([`RunOptions`]), and the options as a user
//! gives them (signed integers, megabytes, a precision name), checked and
//! converted in one place ([`UserOptions::build`]): every range and unit of
//! the product is decided here or in [`RunOptions::validate`], never in a
//! binding. (The Python layer only checks types.)

use crate::error::{Error, Result};
use crate::sim::fusion::FusionConfig;
use crate::sim::parallel;
use crate::sim::precision::Precision;

/// Widest fused block a run may ask for: a dense block of `k` qubits is a
/// `2^k` by `2^k` matrix, and past 8 it costs more than the passes it saves.
pub const MAX_FUSION_QUBITS: usize = 8;

/// Default qubit count from which one circuit's amplitudes are split over
/// threads; below it, threads take whole circuits or whole shots instead.
pub const DEFAULT_PARALLEL_THRESHOLD: usize = 14;

#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub shots: u64,
    /// Run seed; `None` draws one from the OS (and reports it).
    pub seed: Option<u64>,
    /// Keep each shot's outcome, in shot order.
    pub memory: bool,
    /// Keep each circuit's final state.
    pub statevector: bool,
    /// Worker threads; 0 means the default ([`parallel::default_threads`]).
    pub threads: usize,
    pub parallel_threshold: usize,
    /// Memory limit for one statevector; `None` means available memory.
    pub max_memory_bytes: Option<u64>,
    /// Fuse gates into blocks and run them cache block by cache block.
    /// Changes results only by rounding (well below 1e-12).
    pub fusion: bool,
    /// Widest block fusion builds, in qubits (Aer's `fusion_max_qubit`).
    pub fusion_max_qubits: usize,
    /// Fewest qubits a circuit needs for fusion to apply (Aer's
    /// `fusion_threshold`); narrower circuits run gate by gate.
    pub fusion_threshold: usize,
    /// Index of the first circuit in the whole batch this run is part of:
    /// circuit `i` gets the seed of batch index `first_index + i`, so a batch
    /// split into chunks samples exactly as the batch run whole.
    pub first_index: u64,
    /// How amplitudes are stored (see [`crate::sim::precision`]).
    pub precision: Precision,
    /// Most circuits of a batch simulated at once (each whole, on one
    /// thread); 0 means up to the thread count. 1 runs them one after the
    /// other, every thread on each. Only circuits below `parallel_threshold`
    /// are ever run side by side. Results do not depend on it.
    pub max_parallel_experiments: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            shots: 1024,
            seed: None,
            memory: false,
            statevector: false,
            threads: 0,
            parallel_threshold: DEFAULT_PARALLEL_THRESHOLD,
            max_memory_bytes: None,
            fusion: true,
            fusion_max_qubits: FusionConfig::default().max_qubits,
            fusion_threshold: 1,
            first_index: 0,
            precision: Precision::Double,
            max_parallel_experiments: 0,
        }
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidOption {
        name: name.into(),
        reason: reason.into(),
    }
}

impl RunOptions {
    pub fn validate(&self) -> Result<()> {
        if self.shots < 1 {
            return Err(invalid(
                "shots",
                format!("must be at least 1, got {}", self.shots),
            ));
        }
        if self.shots > usize::MAX as u64 / 2 {
            return Err(invalid(
                "shots",
                format!(
                    "must be at most {}, got {}",
                    usize::MAX as u64 / 2,
                    self.shots
                ),
            ));
        }
        if !(1..=62).contains(&self.parallel_threshold) {
            return Err(invalid(
                "parallel_threshold",
                format!(
                    "must be between 1 and 62 qubits, got {}",
                    self.parallel_threshold
                ),
            ));
        }
        if self.threads == 0 {
            // The default stands for the variable: it must be as valid.
            crate::sim::env::num_threads()?;
        }
        crate::sim::env::check()?;
        if self.threads > 4096 {
            return Err(invalid(
                "max_parallel_threads",
                format!("must be at most 4096, got {}", self.threads),
            ));
        }
        if !(1..=MAX_FUSION_QUBITS).contains(&self.fusion_max_qubits) {
            return Err(invalid(
                "fusion_max_qubit",
                format!(
                    "must be between 1 and {MAX_FUSION_QUBITS} qubits, got {}",
                    self.fusion_max_qubits
                ),
            ));
        }
        if self.fusion_threshold < 1 {
            return Err(invalid(
                "fusion_threshold",
                format!("must be at least 1 qubit, got {}", self.fusion_threshold),
            ));
        }
        if self.max_memory_bytes == Some(0) {
            return Err(invalid("max_memory_mb", "must be positive"));
        }
        Ok(())
    }

    /// The fusion this run applies to a circuit of `num_qubits`, or `None`
    /// when it runs gate by gate.
    pub(crate) fn fusion_for(&self, num_qubits: usize) -> Option<FusionConfig> {
        (self.fusion && num_qubits >= self.fusion_threshold).then(|| FusionConfig {
            max_qubits: self.fusion_max_qubits,
            ..FusionConfig::default()
        })
    }

    pub(crate) fn thread_count(&self) -> usize {
        if self.threads == 0 {
            parallel::default_threads()
        } else {
            self.threads
        }
    }
}

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
    /// 0: the engine's default width.
    pub fusion_max_qubit: i64,
    /// 0: fusion for every width.
    pub fusion_threshold: i64,
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
            fusion_max_qubit: 0,
            fusion_threshold: 0,
            first_index: 0,
            precision: "double",
            max_parallel_experiments: 0,
        }
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
            fusion_max_qubits: match non_negative("fusion_max_qubit", self.fusion_max_qubit)? {
                0 => FusionConfig::default().max_qubits,
                k => k as usize,
            },
            fusion_threshold: non_negative("fusion_threshold", self.fusion_threshold)?.max(1)
                as usize,
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
