//! A compact, versioned binary form of results: one circuit's
//! ([`ExperimentResult::to_bytes`]), and a batch of them with the failures
//! of the circuits that did not run ([`ResultBatch::to_bytes`]). Pickles of
//! ferroq's results and the job store's result column are these bytes, so
//! what a process reads back never depends on Python's pickle of numpy arrays
//! or on the layout of a Python tuple.
//!
//! Layout of one result (integers and floats little endian, lengths u64):
//!
//! ```text
//! magic "FQR1" | version u16 | flags u8 (bit 0: name, 1: memory, 2: statevector, 3: fusion) | 0 u8
//! num_qubits u64 | num_clbits u64 | shots u64 | seed u64 | time_taken f64
//! [name: len, UTF-8]
//! distinct outcomes n, then n keys of `words` u64 each, then n counts u64
//! [memory: len (shots * words), the words]
//! [statevector: state]
//! saved values k, then each: label (len, UTF-8), kind u8, payload
//! [fusion: gates u64, ops u64]
//! ```
//!
//! `words` is `ceil(num_clbits / 64)`, at least 1; a key's clbit `c` is bit
//! `c % 64` of word `c / 64`. A state is its precision (1: complex128, 2:
//! complex64), its length (`2^num_qubits`), then each amplitude's real and
//! imaginary parts (f64 or f32). A saved value's payload by kind: 1
//! statevector (a state), 2 probabilities and 3 probabilities as a dict
//! (len, f64 each), 4 amplitudes (len, re f64 im f64 each), 5 expectation
//! value (re f64, im f64), 6 one value a shot (count, then each value: kind
//! and payload), 7 one value a classical memory (count, then each memory's
//! `words` u64 in ascending order of the memory, and its value: a plain one
//! or kind 6).
//!
//! A batch is `"FQB1" | version u16 | seed u64`, then n results (each its
//! byte length, then its bytes), then m failures (circuit index u64, error
//! kind, message; both len and UTF-8).
//!
//! Decoding trusts nothing, as the circuit codec does: every length is checked
//! against the bytes left before anything is allocated for it, and a result
//! is accepted only if it is one the engine could have made (outcomes in
//! ascending order without bits beyond `num_clbits`, counts summing to the
//! shots, memory of one record a shot, states of `2^num_qubits` amplitudes),
//! so no accessor can fail on a decoded result.

use super::{ExperimentResult, FusionStats, SavedValue};
use crate::circuit::MAX_WIDTH;
use crate::error::Result;
use crate::sim::precision::StateVector;
use crate::wire::{Reader, Writer, invalid};
use num_complex::{Complex32 as C32, Complex64 as C64};

const MAGIC: &[u8; 4] = b"FQR1";
const BATCH_MAGIC: &[u8; 4] = b"FQB1";
/// Bumped on any change of layout; a decoder reads its own version only.
pub const FORMAT_VERSION: u16 = 1;

const FLAG_NAME: u8 = 1;
const FLAG_MEMORY: u8 = 2;
const FLAG_STATEVECTOR: u8 = 4;
/// Two u64 after the saved values: the fusion pass's gates in and ops out.
const FLAG_FUSION: u8 = 8;

const DOUBLE: u8 = 1;
const SINGLE: u8 = 2;

/// Saved value kinds.
const STATEVECTOR: u8 = 1;
const PROBABILITIES: u8 = 2;
const PROBABILITIES_DICT: u8 = 3;
const AMPLITUDES: u8 = 4;
const EXPECTATION_VALUE: u8 = 5;
/// count u64, then that many values.
const PER_SHOT: u8 = 6;
/// count u64, then per memory: `words` u64, then its value.
const CONDITIONAL: u8 = 7;

/// A batch's results as a job store keeps them: the run seed, the results of
/// the circuits that ran, and each failed circuit's index with its error's
/// kind and message.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultBatch {
    pub seed: u64,
    pub experiments: Vec<ExperimentResult>,
    pub failed: Vec<(u64, String, String)>,
}

fn words_for(num_clbits: usize) -> usize {
    num_clbits.div_ceil(64).max(1)
}

fn write_state(w: &mut Writer, state: &StateVector) {
    match state {
        StateVector::Double(a) => {
            w.u8(DOUBLE);
            w.len(a.len());
            for z in a {
                w.f64(z.re);
                w.f64(z.im);
            }
        }
        StateVector::Single(a) => {
            w.u8(SINGLE);
            w.len(a.len());
            for z in a {
                w.bytes(&z.re.to_le_bytes());
                w.bytes(&z.im.to_le_bytes());
            }
        }
    }
}

fn write_floats(w: &mut Writer, values: &[f64]) {
    w.len(values.len());
    values.iter().for_each(|&v| w.f64(v));
}

impl ExperimentResult {
    /// The result in the binary form of the module documentation;
    /// [`ExperimentResult::from_bytes`] reads it back.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with(self.statevector.as_ref())
    }

    /// As [`ExperimentResult::to_bytes`], with `statevector` in place of the
    /// result's own (for a caller that has moved the state elsewhere).
    pub fn to_bytes_with(&self, statevector: Option<&StateVector>) -> Vec<u8> {
        let state_bytes = statevector.map_or(0, |s| 16 * s.len());
        let mut w = Writer::with_capacity(64 + state_bytes + 16 * self.count_values.len());
        w.bytes(MAGIC);
        w.u16(FORMAT_VERSION);
        let mut flags = 0;
        if self.name.is_some() {
            flags |= FLAG_NAME;
        }
        if self.memory.is_some() {
            flags |= FLAG_MEMORY;
        }
        if statevector.is_some() {
            flags |= FLAG_STATEVECTOR;
        }
        if self.fusion.is_some() {
            flags |= FLAG_FUSION;
        }
        w.u8(flags);
        w.u8(0);
        w.u64(self.num_qubits as u64);
        w.u64(self.num_clbits as u64);
        w.u64(self.shots);
        w.u64(self.seed);
        w.f64(self.time_taken);
        if let Some(name) = &self.name {
            w.str(name);
        }
        w.len(self.count_values.len());
        self.count_keys.iter().for_each(|&k| w.u64(k));
        self.count_values.iter().for_each(|&v| w.u64(v));
        if let Some(memory) = &self.memory {
            w.len(memory.len());
            memory.iter().for_each(|&m| w.u64(m));
        }
        if let Some(state) = statevector {
            write_state(&mut w, state);
        }
        w.len(self.saved.len());
        for (label, value) in &self.saved {
            w.str(label);
            write_saved(&mut w, value);
        }
        if let Some(f) = self.fusion {
            w.u64(f.gates);
            w.u64(f.ops);
        }
        w.out
    }

    /// Reads a result written by [`ExperimentResult::to_bytes`]. Anything
    /// else, or a result the engine could not have made, is refused with
    /// [`crate::Error::InvalidEncoding`], naming the problem and its offset.
    pub fn from_bytes(data: &[u8]) -> Result<ExperimentResult> {
        let mut r = Reader::new(data);
        let result = read_result(&mut r)?;
        if r.remaining() != 0 {
            return Err(invalid(
                r.pos,
                format!("{} byte(s) after the result", r.remaining()),
            ));
        }
        Ok(result)
    }
}

impl ResultBatch {
    /// The batch in the binary form of the module documentation.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.bytes(BATCH_MAGIC);
        w.u16(FORMAT_VERSION);
        w.u64(self.seed);
        w.len(self.experiments.len());
        for e in &self.experiments {
            let bytes = e.to_bytes();
            w.len(bytes.len());
            w.bytes(&bytes);
        }
        w.len(self.failed.len());
        for (index, kind, message) in &self.failed {
            w.u64(*index);
            w.str(kind);
            w.str(message);
        }
        w.out
    }

    /// Reads a batch written by [`ResultBatch::to_bytes`], checking each
    /// result as [`ExperimentResult::from_bytes`] does.
    pub fn from_bytes(data: &[u8]) -> Result<ResultBatch> {
        let mut r = Reader::new(data);
        header(&mut r, BATCH_MAGIC, "result batch")?;
        let seed = r.u64("seed")?;
        // A result is at least its length and a header: 8 + 48 bytes.
        let n = r.count(56, "result count")?;
        let mut experiments = Vec::with_capacity(n);
        for _ in 0..n {
            let len = r.count(1, "result length")?;
            let at = r.pos;
            let bytes = r.take(len, "result")?;
            let mut inner = Reader::new(bytes);
            let e = read_result(&mut inner).map_err(|e| shifted(e, at))?;
            if inner.remaining() != 0 {
                return Err(invalid(
                    at + inner.pos,
                    format!("{} byte(s) after a result", inner.remaining()),
                ));
            }
            experiments.push(e);
        }
        // A failure is at least its index and two lengths.
        let m = r.count(24, "failure count")?;
        let mut failed = Vec::with_capacity(m);
        let mut last = None;
        for _ in 0..m {
            let at = r.pos;
            let index = r.u64("failed circuit index")?;
            if last.is_some_and(|l| l >= index) {
                return Err(invalid(
                    at,
                    "failed circuit indices are not ascending".into(),
                ));
            }
            last = Some(index);
            let kind = r.str("error kind")?.to_owned();
            let message = r.str("error message")?.to_owned();
            failed.push((index, kind, message));
        }
        if r.remaining() != 0 {
            return Err(invalid(
                r.pos,
                format!("{} byte(s) after the batch", r.remaining()),
            ));
        }
        Ok(ResultBatch {
            seed,
            experiments,
            failed,
        })
    }
}

/// An error of a nested decoder, its offset made one into the whole input.
fn shifted(e: crate::Error, by: usize) -> crate::Error {
    match e {
        crate::Error::InvalidEncoding { offset, reason } => invalid(offset + by, reason),
        other => other,
    }
}

fn header(r: &mut Reader<'_>, magic: &[u8; 4], what: &str) -> Result<()> {
    let found = r.take(4, "magic")?;
    if found != magic {
        return Err(invalid(
            0,
            format!("not a ferroq {what} (magic {found:02x?})"),
        ));
    }
    let version = u16::from_le_bytes([r.u8("version")?, r.u8("version")?]);
    if version != FORMAT_VERSION {
        return Err(invalid(
            4,
            format!("{what} format version {version}; this ferroq reads version {FORMAT_VERSION}"),
        ));
    }
    Ok(())
}

/// `2^num_qubits`, the length of a state, refusing widths no state can have.
fn state_len(r: &Reader<'_>, num_qubits: usize) -> Result<usize> {
    if num_qubits >= usize::BITS as usize - 1 {
        return Err(invalid(
            r.pos,
            format!("a state of {num_qubits} qubits cannot exist"),
        ));
    }
    Ok(1 << num_qubits)
}

fn read_state(r: &mut Reader<'_>, num_qubits: usize, what: &str) -> Result<StateVector> {
    let at = r.pos;
    let precision = r.u8("state precision")?;
    let item = match precision {
        DOUBLE => 16,
        SINGLE => 8,
        p => return Err(invalid(at, format!("{what}: unknown precision {p}"))),
    };
    let at = r.pos;
    let n = r.count(item, "state length")?;
    let want = state_len(r, num_qubits)?;
    if n != want {
        return Err(invalid(
            at,
            format!("{what} has {n} amplitudes; {num_qubits} qubits make {want}"),
        ));
    }
    let bytes = r.take(n * item, what)?;
    Ok(if precision == DOUBLE {
        StateVector::Double(
            bytes
                .chunks_exact(16)
                .map(|c| C64::new(f64_at(c, 0), f64_at(c, 8)))
                .collect(),
        )
    } else {
        StateVector::Single(
            bytes
                .chunks_exact(8)
                .map(|c| C32::new(f32_at(c, 0), f32_at(c, 4)))
                .collect(),
        )
    })
}

fn f64_at(c: &[u8], i: usize) -> f64 {
    f64::from_le_bytes(c[i..i + 8].try_into().expect("8 bytes"))
}

fn f32_at(c: &[u8], i: usize) -> f32 {
    f32::from_le_bytes(c[i..i + 4].try_into().expect("4 bytes"))
}

fn read_floats(r: &mut Reader<'_>, what: &str) -> Result<Vec<f64>> {
    let n = r.count(8, what)?;
    (0..n).map(|_| r.f64(what)).collect()
}

fn read_u64s(r: &mut Reader<'_>, n: usize, what: &str) -> Result<Vec<u64>> {
    (0..n).map(|_| r.u64(what)).collect()
}

fn read_width(r: &mut Reader<'_>, what: &str) -> Result<usize> {
    let at = r.pos;
    let n = r.usize(what)?;
    if n > MAX_WIDTH {
        return Err(invalid(
            at,
            format!("{what} is {n}, more than the {MAX_WIDTH} a circuit may have"),
        ));
    }
    Ok(n)
}

fn read_result(r: &mut Reader<'_>) -> Result<ExperimentResult> {
    header(r, MAGIC, "result")?;
    let at = r.pos;
    let flags = r.u8("flags")?;
    if flags & !(FLAG_NAME | FLAG_MEMORY | FLAG_STATEVECTOR | FLAG_FUSION) != 0
        || r.u8("reserved")? != 0
    {
        return Err(invalid(at, format!("unknown flags {flags:#04x}")));
    }
    let num_qubits = read_width(r, "qubit count")?;
    let num_clbits = read_width(r, "clbit count")?;
    let shots = r.u64("shots")?;
    let seed = r.u64("seed")?;
    let time_taken = r.f64("time taken")?;
    let name = if flags & FLAG_NAME != 0 {
        Some(r.str("name")?.to_owned())
    } else {
        None
    };
    let words = words_for(num_clbits);
    let at = r.pos;
    let distinct = r.count(16 * words, "distinct outcome count")?;
    let count_keys = read_u64s(r, distinct * words, "outcome")?;
    let count_values = read_u64s(r, distinct, "count")?;
    check_counts(at, num_clbits, words, shots, &count_keys, &count_values)?;
    let memory = if flags & FLAG_MEMORY != 0 {
        let at = r.pos;
        let n = r.count(8, "memory length")?;
        let want = if num_clbits == 0 {
            Some(0)
        } else {
            usize::try_from(shots)
                .ok()
                .and_then(|s| s.checked_mul(words))
        };
        if Some(n) != want {
            return Err(invalid(
                at,
                format!("memory of {n} words for {shots} shots of {num_clbits} clbits"),
            ));
        }
        let memory = read_u64s(r, n, "memory")?;
        if let Some(bad) = memory
            .chunks_exact(words)
            .position(|m| spills(m, num_clbits))
        {
            return Err(invalid(
                at + 8 + 8 * words * bad,
                format!("shot {bad} sets bits beyond its {num_clbits} clbits"),
            ));
        }
        Some(memory)
    } else {
        None
    };
    let statevector = if flags & FLAG_STATEVECTOR != 0 {
        Some(read_state(r, num_qubits, "statevector")?)
    } else {
        None
    };
    // A saved value is at least a label length, a kind and 16 bytes.
    let k = r.count(25, "saved value count")?;
    let mut saved = Vec::with_capacity(k);
    for _ in 0..k {
        let label = r.str("saved value label")?.to_owned();
        let value = read_saved(r, num_qubits, (words, num_clbits), &label)?;
        saved.push((label, value));
    }
    let fusion = if flags & FLAG_FUSION != 0 {
        let at = r.pos;
        let (gates, ops) = (r.u64("fused gates")?, r.u64("fused ops")?);
        if ops > gates {
            return Err(invalid(
                at,
                format!("fusion made {ops} ops of {gates} gates"),
            ));
        }
        Some(FusionStats { gates, ops })
    } else {
        None
    };
    Ok(ExperimentResult {
        name,
        num_qubits,
        num_clbits,
        shots,
        seed,
        words,
        count_keys,
        count_values,
        memory,
        statevector,
        saved,
        time_taken,
        fusion,
    })
}

/// Whether an outcome record sets a bit at or beyond `num_clbits`.
fn spills(record: &[u64], num_clbits: usize) -> bool {
    record.iter().enumerate().any(|(w, &bits)| {
        let first = 64 * w;
        if num_clbits >= first + 64 {
            false
        } else if num_clbits <= first {
            bits != 0
        } else {
            bits >> (num_clbits - first) != 0
        }
    })
}

fn check_counts(
    at: usize,
    num_clbits: usize,
    words: usize,
    shots: u64,
    keys: &[u64],
    values: &[u64],
) -> Result<()> {
    let bad = |reason: String| Err(invalid(at, reason));
    if num_clbits == 0 {
        return if values.is_empty() {
            Ok(())
        } else {
            bad("outcomes of a circuit without clbits".into())
        };
    }
    if values.contains(&0) {
        return bad("an outcome with a count of 0".into());
    }
    let total = values.iter().try_fold(0u64, |a, &v| a.checked_add(v));
    if total != Some(shots) {
        return bad(format!(
            "counts add up to {}, not the {shots} shots",
            total.map_or("more than 2^64".into(), |t| t.to_string())
        ));
    }
    let key = |i: usize| &keys[i * words..(i + 1) * words];
    for i in 0..values.len() {
        if spills(key(i), num_clbits) {
            return bad(format!(
                "outcome {i} sets bits beyond its {num_clbits} clbits"
            ));
        }
        // Words are little endian: the most significant word decides first.
        if i > 0 && key(i - 1).iter().rev().cmp(key(i).iter().rev()).is_ge() {
            return bad(format!("outcome {i} is not above the one before it"));
        }
    }
    Ok(())
}

fn write_saved(w: &mut Writer, value: &SavedValue) {
    match value {
        SavedValue::Statevector(s) => {
            w.u8(STATEVECTOR);
            write_state(w, s);
        }
        SavedValue::Probabilities(p) => {
            w.u8(PROBABILITIES);
            write_floats(w, p);
        }
        SavedValue::ProbabilitiesDict(p) => {
            w.u8(PROBABILITIES_DICT);
            write_floats(w, p);
        }
        SavedValue::Amplitudes(a) => {
            w.u8(AMPLITUDES);
            w.len(a.len());
            for z in a {
                w.f64(z.re);
                w.f64(z.im);
            }
        }
        SavedValue::ExpectationValue(z) => {
            w.u8(EXPECTATION_VALUE);
            w.f64(z.re);
            w.f64(z.im);
        }
        SavedValue::PerShot(list) => {
            w.u8(PER_SHOT);
            w.len(list.len());
            list.iter().for_each(|v| write_saved(w, v));
        }
        SavedValue::Conditional(map) => {
            w.u8(CONDITIONAL);
            w.len(map.len());
            for (key, v) in map {
                key.iter().for_each(|&k| w.u64(k));
                write_saved(w, v);
            }
        }
    }
}

/// How a saved value may nest: a conditional one holds plain values or
/// per-shot lists, a per-shot list plain values.
#[derive(Clone, Copy, PartialEq)]
enum Nesting {
    Top,
    InConditional,
    InPerShot,
}

/// `memory`: the experiment's words per outcome and its clbits.
fn read_saved(
    r: &mut Reader<'_>,
    num_qubits: usize,
    memory: (usize, usize),
    label: &str,
) -> Result<SavedValue> {
    read_saved_in(r, num_qubits, memory, label, Nesting::Top)
}

fn read_saved_in(
    r: &mut Reader<'_>,
    num_qubits: usize,
    (words, num_clbits): (usize, usize),
    label: &str,
    nesting: Nesting,
) -> Result<SavedValue> {
    let at = r.pos;
    let kind = r.u8("saved value kind")?;
    let what = format!("saved value {label:?}");
    Ok(match kind {
        PER_SHOT if nesting != Nesting::InPerShot => {
            // A value is at least a kind and 16 bytes.
            let n = r.count(17, &what)?;
            let list = (0..n)
                .map(|_| {
                    read_saved_in(
                        r,
                        num_qubits,
                        (words, num_clbits),
                        label,
                        Nesting::InPerShot,
                    )
                })
                .collect::<Result<Vec<_>>>()?;
            SavedValue::PerShot(list)
        }
        CONDITIONAL if nesting == Nesting::Top => {
            let n = r.count(8 * words + 17, &what)?;
            let mut map: Vec<(Vec<u64>, SavedValue)> = Vec::with_capacity(n);
            for _ in 0..n {
                let key_at = r.pos;
                let key = (0..words)
                    .map(|_| r.u64(&what))
                    .collect::<Result<Vec<_>>>()?;
                if let Some((last, _)) = map.last()
                    && last.iter().rev().cmp(key.iter().rev()).is_ge()
                {
                    return Err(invalid(
                        key_at,
                        format!("{what}: the memories are not in ascending order"),
                    ));
                }
                if spills(&key, num_clbits) {
                    return Err(invalid(
                        key_at,
                        format!("{what}: a memory sets bits beyond its {num_clbits} clbits"),
                    ));
                }
                let memory = (words, num_clbits);
                let value = read_saved_in(r, num_qubits, memory, label, Nesting::InConditional)?;
                map.push((key, value));
            }
            SavedValue::Conditional(map)
        }
        PER_SHOT | CONDITIONAL => {
            return Err(invalid(
                at,
                format!("{what}: gathered values nest too deep"),
            ));
        }
        STATEVECTOR => SavedValue::Statevector(read_state(r, num_qubits, &what)?),
        PROBABILITIES | PROBABILITIES_DICT => {
            let at = r.pos;
            let p = read_floats(r, &what)?;
            if !p.len().is_power_of_two() || p.len().trailing_zeros() as usize > num_qubits {
                return Err(invalid(
                    at,
                    format!(
                        "{what} has {} probabilities: not those of some of {num_qubits} qubits",
                        p.len()
                    ),
                ));
            }
            if kind == PROBABILITIES {
                SavedValue::Probabilities(p)
            } else {
                SavedValue::ProbabilitiesDict(p)
            }
        }
        AMPLITUDES => {
            let n = r.count(16, &what)?;
            let a = (0..n)
                .map(|_| Ok(C64::new(r.f64(&what)?, r.f64(&what)?)))
                .collect::<Result<Vec<_>>>()?;
            SavedValue::Amplitudes(a)
        }
        EXPECTATION_VALUE => SavedValue::ExpectationValue(C64::new(r.f64(&what)?, r.f64(&what)?)),
        k => return Err(invalid(at, format!("{what}: unknown kind {k}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::{Circuit, SaveMode};
    use crate::sim::engine::run;
    use crate::sim::options::RunOptions;
    use crate::sim::precision::Precision;

    /// Results of every shape the engine makes: both precisions, names,
    /// memory, states, every kind of saved value, wide registers.
    pub(crate) fn samples() -> Vec<ExperimentResult> {
        let mut out = Vec::new();
        let mut wide = Circuit::new(3, 70);
        wide.name = Some("wide ✓".into());
        wide.append_gate("h", &[0], &[]).unwrap();
        wide.append_gate("cx", &[0, 2], &[]).unwrap();
        wide.measure(0, 0).unwrap();
        wide.measure(2, 69).unwrap();
        let mut saves = Circuit::new(2, 0);
        saves.append_gate("ry", &[0], &[0.3]).unwrap();
        saves.append_gate("cx", &[0, 1], &[]).unwrap();
        saves.save("statevector", "psi", &[0, 1], &[], &[]).unwrap();
        saves.save("probabilities", "p", &[1], &[], &[]).unwrap();
        saves
            .save("probabilities_dict", "pd", &[0, 1], &[], &[])
            .unwrap();
        saves
            .save("amplitudes", "amp", &[0, 1], &[0, 3], &[])
            .unwrap();
        let zz = vec![("ZZ".to_string(), num_complex::Complex64::new(0.5, 0.0))];
        saves
            .save("expectation_value", "zz", &[0, 1], &[], &zz)
            .unwrap();
        let mut bell = Circuit::new(2, 2);
        bell.append_gate("h", &[0], &[]).unwrap();
        bell.append_gate("cx", &[0, 1], &[]).unwrap();
        bell.measure(0, 0).unwrap();
        bell.measure(1, 1).unwrap();
        // Values gathered per shot and per memory, before and after a
        // mid-circuit measurement.
        let mut gathered = Circuit::new(2, 2);
        gathered.append_gate("h", &[0], &[]).unwrap();
        let modes = [
            SaveMode::PerShot,
            SaveMode::Conditional,
            SaveMode::ConditionalPerShot,
        ];
        for (i, &mode) in modes.iter().enumerate() {
            gathered
                .save_as("statevector", &format!("sv{i}"), &[], &[], &[], mode)
                .unwrap();
        }
        gathered.measure(0, 0).unwrap();
        for (i, &mode) in modes.iter().enumerate() {
            gathered
                .save_as(
                    "expectation_value",
                    &format!("z{i}"),
                    &[0],
                    &[],
                    &zz[..0],
                    mode,
                )
                .unwrap();
            gathered
                .save_as("probabilities", &format!("p{i}"), &[0], &[], &[], mode)
                .unwrap();
        }
        for precision in [Precision::Double, Precision::Single] {
            for memory in [false, true] {
                let opts = RunOptions {
                    shots: 100,
                    seed: Some(7),
                    memory,
                    statevector: !memory,
                    precision,
                    ..RunOptions::default()
                };
                let circuits = [wide.clone(), saves.clone(), bell.clone(), gathered.clone()];
                out.extend(run(&circuits, &opts).unwrap().experiments);
            }
        }
        out
    }

    #[test]
    fn every_result_round_trips_bit_for_bit() {
        for e in samples() {
            let bytes = e.to_bytes();
            let back = ExperimentResult::from_bytes(&bytes).unwrap();
            assert_eq!(back, e);
            assert_eq!(back.to_bytes(), bytes);
        }
    }

    #[test]
    fn a_batch_round_trips_with_its_failures() {
        let batch = ResultBatch {
            seed: u64::MAX,
            experiments: samples(),
            failed: vec![(
                1,
                "SimulationMemoryError".into(),
                "circuit 1: too big ✗".into(),
            )],
        };
        let bytes = batch.to_bytes();
        assert_eq!(ResultBatch::from_bytes(&bytes).unwrap(), batch);
        let empty = ResultBatch {
            seed: 0,
            experiments: vec![],
            failed: vec![],
        };
        assert_eq!(ResultBatch::from_bytes(&empty.to_bytes()).unwrap(), empty);
    }

    #[test]
    fn every_truncation_and_every_flipped_byte_is_refused_or_valid() {
        for e in samples().into_iter().take(6) {
            let bytes = e.to_bytes();
            for cut in 0..bytes.len() {
                match ExperimentResult::from_bytes(&bytes[..cut]) {
                    Err(crate::Error::InvalidEncoding { offset, .. }) => assert!(offset <= cut),
                    other => panic!("a truncation to {cut} bytes gave {other:?}"),
                }
            }
            for i in 0..bytes.len() {
                for flip in [0x01u8, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[i] ^= flip;
                    // Either refused, or a result that encodes back to itself.
                    if let Ok(r) = ExperimentResult::from_bytes(&bad) {
                        assert_eq!(r.to_bytes(), bad);
                    }
                }
            }
        }
    }

    #[test]
    fn results_the_engine_cannot_make_are_refused() {
        let e = samples().remove(2); // bell, 100 shots, statevector kept
        let refused = |r: ExperimentResult, why: &str| {
            let err = ExperimentResult::from_bytes(&r.to_bytes()).unwrap_err();
            assert!(err.to_string().contains(why), "{err} lacks {why:?}");
        };
        let mut short = e.clone();
        short.shots += 1;
        refused(short, "counts add up to");
        let mut unsorted = e.clone();
        unsorted.count_keys.reverse();
        unsorted.count_values.reverse();
        refused(unsorted, "not above");
        let mut spilled = e.clone();
        spilled.count_keys[0] |= 1 << 5;
        refused(spilled, "beyond its 2 clbits");
        let mut state = e.clone();
        state.num_qubits = 3;
        refused(state, "3 qubits make 8");
        let mut version = e.to_bytes();
        version[4] = 9;
        let err = ExperimentResult::from_bytes(&version).unwrap_err();
        assert!(err.to_string().contains("version 9"), "{err}");
        let mut trailing = e.to_bytes();
        trailing.push(0);
        assert!(ExperimentResult::from_bytes(&trailing).is_err());
    }

    #[test]
    fn lengths_beyond_the_input_are_refused_before_allocating() {
        let e = samples().remove(2);
        let mut bytes = e.to_bytes();
        // The distinct outcome count, just after the fixed header (no name).
        let at = 4 + 2 + 1 + 1 + 5 * 8;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        let err = ExperimentResult::from_bytes(&bytes).unwrap_err();
        assert!(err.to_string().contains("needs more than"), "{err}");
    }
}
