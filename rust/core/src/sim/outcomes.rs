//! Classical outcomes: clbit records of basis states through a measurement
//! map, counting them, and what the shots of a run cost in memory.

use crate::circuit::Circuit;
use crate::error::Result;
use crate::sim::options::RunOptions;
use crate::sim::state;

pub(crate) fn words_for(num_clbits: usize) -> usize {
    num_clbits.div_ceil(64).max(1)
}

/// Shots simulated at once when a circuit runs shot by shot over threads:
/// enough to keep the threads busy, few enough that their saved values are
/// small beside the state.
pub(crate) const SHOT_BLOCK: usize = 256;

/// Bytes the shots of a run hold at least, whatever the circuit: sorted
/// samples and their outcomes (16 bytes a shot), one outcome record a shot,
/// and again for per-shot memory.
pub(crate) fn shot_bytes(shots: u64, words: usize, memory: bool) -> u128 {
    let record = 8 * words as u128;
    shots as u128 * (16 + record + if memory { record } else { 0 })
}

/// Refuses a run whose shots and saved values would not fit beside its state.
pub(crate) fn check_output_memory(
    circuit: &Circuit,
    opts: &RunOptions,
    output_bytes: u128,
    state_copies: usize,
) -> Result<()> {
    let state = state::state_bytes(circuit.num_qubits(), opts.precision)
        .saturating_mul(state_copies as u128);
    state::check_output_memory(
        || {
            format!(
                "{} shots of {} clbits{}",
                opts.shots,
                circuit.num_clbits(),
                if opts.memory {
                    " with per-shot memory"
                } else {
                    ""
                }
            )
        },
        output_bytes,
        state,
        opts.max_memory_bytes,
    )
}

/// Writes clbits from a basis-state index through the measurement map.
pub(crate) fn outcome_of(index: u64, measures: &[(usize, usize)], out: &mut [u64]) {
    out.iter_mut().for_each(|w| *w = 0);
    for &(q, c) in measures {
        let bit = (index >> q) & 1;
        out[c / 64] = (out[c / 64] & !(1 << (c % 64))) | (bit << (c % 64));
    }
}

/// The measurement map of a sampled circuit, ready to turn many basis-state
/// indices into clbit records. Up to 64 clbits, a table per byte of the
/// index gives that byte's clbits at once: a 20-qubit index costs three
/// lookups instead of twenty bit moves (which were a quarter of the time of
/// 10^6 shots from 20 qubits).
pub(crate) struct OutcomeMap<'a> {
    measures: &'a [(usize, usize)],
    /// `tables[b][v]`: the clbits set by byte `b` of an index being `v`.
    tables: Vec<[u64; 256]>,
}

impl<'a> OutcomeMap<'a> {
    pub(crate) fn new(measures: &'a [(usize, usize)], words: usize) -> OutcomeMap<'a> {
        let mut tables = Vec::new();
        if words == 1 {
            // A clbit written twice keeps the later measurement, as in
            // `outcome_of`: only that one may set it.
            let mut last_writer = std::collections::HashMap::new();
            for (i, &(_, c)) in measures.iter().enumerate() {
                last_writer.insert(c, i);
            }
            let highest = measures.iter().map(|&(q, _)| q).max().unwrap_or(0);
            tables = vec![[0u64; 256]; highest / 8 + 1];
            for (i, &(q, c)) in measures.iter().enumerate() {
                if last_writer[&c] != i {
                    continue;
                }
                let table = &mut tables[q / 8];
                for (v, entry) in table.iter_mut().enumerate() {
                    if v >> (q % 8) & 1 == 1 {
                        *entry |= 1 << c;
                    }
                }
            }
        }
        OutcomeMap { measures, tables }
    }

    pub(crate) fn write(&self, index: u64, out: &mut [u64]) {
        if self.tables.is_empty() {
            outcome_of(index, self.measures, out);
            return;
        }
        out[0] = self
            .tables
            .iter()
            .enumerate()
            .fold(0, |acc, (b, t)| acc | t[(index >> (8 * b)) as usize & 0xff]);
    }
}

/// Counts distinct records (`words` u64 each) in `records`, each weighted
/// by `weights[i]` (or 1), returned in ascending order.
pub(crate) fn count_records(
    records: &[u64],
    words: usize,
    weights: Option<&[u64]>,
) -> (Vec<u64>, Vec<u64>) {
    let n = records.len() / words;
    if words == 1 {
        // Up to 64 clbits, the common case: sort (key, weight) pairs directly,
        // and not at all when they come sorted (every qubit measured in order).
        let mut pairs: Vec<(u64, u64)> = (0..n)
            .map(|i| (records[i], weights.map_or(1, |w| w[i])))
            .collect();
        if !pairs.is_sorted_by_key(|p| p.0) {
            pairs.sort_unstable_by_key(|p| p.0);
        }
        let mut keys: Vec<u64> = Vec::new();
        let mut values: Vec<u64> = Vec::new();
        for (k, w) in pairs {
            if keys.last() == Some(&k) {
                *values.last_mut().expect("values follows keys") += w;
            } else {
                keys.push(k);
                values.push(w);
            }
        }
        return (keys, values);
    }
    let key = |i: usize| &records[i * words..(i + 1) * words];
    let mut order: Vec<usize> = (0..n).collect();
    // Words are little endian: compare the most significant word first.
    order.sort_unstable_by(|&a, &b| key(a).iter().rev().cmp(key(b).iter().rev()));
    let mut keys = Vec::new();
    let mut values: Vec<u64> = Vec::new();
    for i in order {
        let w = weights.map_or(1, |w| w[i]);
        if !values.is_empty() && keys[keys.len() - words..] == *key(i) {
            *values.last_mut().expect("values is not empty") += w;
        } else {
            keys.extend_from_slice(key(i));
            values.push(w);
        }
    }
    (keys, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_tables_agree_with_the_bit_by_bit_map() {
        let mut next = crate::testing::uniform_stream(5);
        let mut pick = |bound: usize| (next() * bound as f64) as usize % bound;
        for case in 0..200 {
            let qubits = 1 + case % 40;
            let clbits = 1 + pick(if case % 3 == 0 { 130 } else { 64 });
            let words = words_for(clbits);
            // Random maps: qubits measured twice, clbits written twice (the
            // later write wins), some clbits never written.
            let measures: Vec<(usize, usize)> = (0..1 + pick(2 * qubits))
                .map(|_| (pick(qubits), pick(clbits)))
                .collect();
            let map = OutcomeMap::new(&measures, words);
            assert_eq!(map.tables.is_empty(), words > 1);
            for _ in 0..50 {
                let index = (pick(1 << 20) as u64) << pick(qubits.saturating_sub(19).max(1))
                    | pick(1 << 20) as u64;
                let index = index & ((1u64 << qubits) - 1);
                let (mut want, mut got) = (vec![0u64; words], vec![7u64; words]);
                outcome_of(index, &measures, &mut want);
                map.write(index, &mut got);
                assert_eq!(got, want, "{measures:?} index {index:b}");
            }
        }
    }
}
