//! What a run gives back: each circuit's counts, memory, state and saved
//! values ([`ExperimentResult`]), the batch around them ([`RunResult`]), and
//! Qiskit's text forms of an outcome (bitstrings, `hex()` keys). The
//! versioned binary form of a result is in [`codec`].

pub mod codec;

use crate::error::{Error, Result};
use crate::sim::precision::StateVector;
use num_complex::Complex64 as C64;

/// The outcome of one circuit.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentResult {
    pub name: Option<String>,
    pub num_qubits: usize,
    pub num_clbits: usize,
    pub shots: u64,
    pub seed: u64,
    /// u64 words per classical outcome; clbit `c` is bit `c % 64` of word `c / 64`.
    pub words: usize,
    /// Distinct outcomes in ascending order, `words` each.
    pub count_keys: Vec<u64>,
    pub count_values: Vec<u64>,
    /// Per-shot outcomes in shot order, `words` each, when asked for.
    pub memory: Option<Vec<u64>>,
    pub statevector: Option<StateVector>,
    /// Values of the circuit's save instructions, in program order.
    pub saved: Vec<(String, SavedValue)>,
    /// Wall time of this circuit's simulation and sampling, in seconds.
    pub time_taken: f64,
    /// What the fusion pass made of the gates simulated once (those before
    /// any mid-circuit measurement), when any were.
    pub fusion: Option<FusionStats>,
}

/// The fusion pass's statistics for a circuit: `gates` went in, `ops` kernel
/// ops came out (a fused block is one op; fusion off: `ops == gates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FusionStats {
    pub gates: u64,
    pub ops: u64,
}

/// What a save instruction produced. Probabilities and expectation values
/// of a circuit simulated shot by shot are averages over the shots, unless
/// the save gathers them per shot or per classical memory (its `SaveMode`).
#[derive(Debug, Clone, PartialEq)]
pub enum SavedValue {
    Statevector(StateVector),
    Probabilities(Vec<f64>),
    ProbabilitiesDict(Vec<f64>),
    Amplitudes(Vec<C64>),
    ExpectationValue(C64),
    /// One value per shot, in shot order (never itself gathered).
    PerShot(Vec<SavedValue>),
    /// Per classical memory seen at the save (the experiment's `words` u64
    /// each, in ascending order of the memory), its value: a plain one, or a
    /// `PerShot` list.
    Conditional(Vec<(Vec<u64>, SavedValue)>),
}

impl SavedValue {
    /// The value itself, or for a gathered one the first it holds (all are
    /// of the same kind); `None` for an empty gathering.
    pub fn first_plain(&self) -> Option<&SavedValue> {
        match self {
            SavedValue::PerShot(list) => list.first()?.first_plain(),
            SavedValue::Conditional(map) => map.first()?.1.first_plain(),
            plain => Some(plain),
        }
    }
}

impl ExperimentResult {
    pub fn num_distinct(&self) -> usize {
        self.count_values.len()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    pub seed: u64,
    pub experiments: Vec<ExperimentResult>,
    /// How many circuits were allowed to run side by side: the bound from
    /// `max_parallel_experiments` and the thread count, or 1 when they ran
    /// one after the other.
    pub parallel_experiments: usize,
    /// Circuits that failed, by their index in this batch (not counting
    /// `first_index`), each with its error, in index order. They have no entry
    /// in `experiments`; the other circuits still ran. Cancellation is never
    /// a circuit's failure: it stops the whole run.
    pub failed: Vec<(usize, Error)>,
}

impl RunResult {
    /// The first failure, as the error of the whole run, or the result itself
    /// when every circuit succeeded.
    pub fn into_complete(mut self) -> Result<RunResult> {
        if self.failed.is_empty() {
            Ok(self)
        } else {
            Err(self.failed.swap_remove(0).1)
        }
    }
}

/// Formats one outcome as a bitstring of `num_clbits` characters, clbit 0
/// rightmost (Qiskit's order).
pub fn format_bits(words: &[u64], num_clbits: usize) -> String {
    let mut buf = vec![b'0'; num_clbits];
    write_bits(words, &mut buf);
    String::from_utf8(buf).expect("ASCII digits")
}

/// Writes the bitstring of `words` into `buf` (one ASCII digit per clbit,
/// clbit 0 last): the allocation-free form of [`format_bits`], for callers
/// formatting many records into one buffer.
pub fn write_bits(words: &[u64], buf: &mut [u8]) {
    for (c, slot) in buf.iter_mut().rev().enumerate() {
        *slot = b'0' + ((words[c / 64] >> (c % 64)) & 1) as u8;
    }
}

/// Writes `words` (clbit 0 in bit 0 of `words[0]`) into `out` as Python's
/// `hex()` writes the integer: `0x`, lowercase digits, no leading zeros, and
/// `0x0` for zero. This is the key format of Qiskit's `Result` counts.
pub fn write_hex(words: &[u64], out: &mut String) {
    use std::fmt::Write;
    out.clear();
    out.push_str("0x");
    match words.iter().rposition(|&w| w != 0) {
        None => out.push('0'),
        Some(top) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "{:x}", words[top]);
            for w in words[..top].iter().rev() {
                let _ = write!(out, "{w:016x}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_hex_matches_python_hex() {
        let mut out = String::new();
        let cases: [(&[u64], &str); 6] = [
            (&[0], "0x0"),
            (&[0, 0], "0x0"),
            (&[0xa5], "0xa5"),
            (&[1, 1], "0x10000000000000001"),
            (&[0, 0x3], "0x30000000000000000"),
            (&[u64::MAX, 0, 0], "0xffffffffffffffff"),
        ];
        for (words, want) in cases {
            write_hex(words, &mut out);
            assert_eq!(out, want, "{words:?}");
        }
        // Random two-word keys against u128 formatting.
        let mut x: u64 = 12345;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let (lo, hi) = (x, x.rotate_left(17) >> (x % 64));
            write_hex(&[lo, hi], &mut out);
            assert_eq!(
                out,
                format!("{:#x}", (u128::from(hi) << 64) | u128::from(lo))
            );
        }
    }

    #[test]
    fn format_bits_puts_clbit_zero_rightmost() {
        assert_eq!(format_bits(&[0b011], 4), "0011");
        assert_eq!(format_bits(&[1, 1], 66), format!("01{}1", "0".repeat(63)));
    }
}
