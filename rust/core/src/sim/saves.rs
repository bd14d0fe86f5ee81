//! Save instructions at run time: what each takes from the state, what its
//! value costs in memory, and how values taken shot by shot are averaged.

use crate::circuit::{SaveKind, SaveMode};
use crate::error::Result;
use crate::sim::precision::{Amplitude, Precision};
use crate::sim::result::SavedValue;
use crate::sim::state;
use num_complex::Complex64 as C64;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub(crate) struct SaveSpec {
    pub(crate) kind: SaveKind,
    pub(crate) label: String,
    pub(crate) qubits: Vec<usize>,
    pub(crate) mode: SaveMode,
}

/// Bytes a save's gathered value takes over `shots` shots with `num_clbits`
/// clbits (per shot: one value a shot; per memory: one a memory seen).
pub(crate) fn gathered_bytes(
    spec: &SaveSpec,
    num_qubits: usize,
    shots: u64,
    num_clbits: usize,
) -> u128 {
    let one = save_bytes(spec, num_qubits);
    let memories = if num_clbits >= 64 {
        shots
    } else {
        shots.min(1 << num_clbits)
    };
    let values = match spec.mode {
        SaveMode::Average | SaveMode::Single => 1,
        SaveMode::PerShot | SaveMode::ConditionalPerShot => shots,
        SaveMode::Conditional => memories,
    };
    one.saturating_mul(values as u128)
}

/// Bytes a save's value takes, for a state of `num_qubits`.
pub(crate) fn save_bytes(spec: &SaveSpec, num_qubits: usize) -> u128 {
    match &spec.kind {
        // Counted as complex128 whatever the run's precision: an upper bound.
        SaveKind::Statevector => state::state_bytes(num_qubits, Precision::Double),
        // One f64 per outcome: half a complex128 each.
        SaveKind::Probabilities | SaveKind::ProbabilitiesDict => {
            state::state_bytes(spec.qubits.len(), Precision::Double) / 2
        }
        SaveKind::Amplitudes(indices) => 16 * indices.len() as u128,
        SaveKind::ExpectationValue(_) => 16,
    }
}

/// Computes a save from the state; `phase` is the circuit's global phase,
/// which the engine applies to what it hands out rather than to the state.
pub(crate) fn compute_save<A: Amplitude>(
    spec: &SaveSpec,
    amps: &[A],
    phase: Option<C64>,
    parallel: bool,
) -> Result<SavedValue> {
    let with_phase = |a: C64| phase.map_or(a, |f| a * f);
    Ok(match &spec.kind {
        SaveKind::Statevector => {
            let mut copy = state::try_clone(amps, amps.len().trailing_zeros() as usize)?;
            if let Some(f) = phase {
                state::scale(&mut copy, f, parallel);
            }
            SavedValue::Statevector(A::into_state(copy))
        }
        SaveKind::Probabilities => {
            SavedValue::Probabilities(state::marginal_probabilities(amps, &spec.qubits, parallel))
        }
        SaveKind::ProbabilitiesDict => SavedValue::ProbabilitiesDict(
            state::marginal_probabilities(amps, &spec.qubits, parallel),
        ),
        SaveKind::Amplitudes(indices) => SavedValue::Amplitudes(
            indices
                .iter()
                .map(|&i| with_phase(amps[i as usize].widen()))
                .collect(),
        ),
        SaveKind::ExpectationValue(terms) => {
            SavedValue::ExpectationValue(state::expectation(amps, terms, parallel))
        }
    })
}

/// Adds `b` into `a`, both of one kind: probabilities or expectation values.
fn add_into(a: &mut SavedValue, b: SavedValue) {
    match (a, b) {
        (SavedValue::Probabilities(a), SavedValue::Probabilities(b))
        | (SavedValue::ProbabilitiesDict(a), SavedValue::ProbabilitiesDict(b)) => {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y)
        }
        (SavedValue::ExpectationValue(a), SavedValue::ExpectationValue(b)) => *a += b,
        _ => unreachable!("only probabilities and expectation values are summed"),
    }
}

fn scale(v: &mut SavedValue, factor: f64) {
    match v {
        SavedValue::Probabilities(a) | SavedValue::ProbabilitiesDict(a) => {
            a.iter_mut().for_each(|x| *x *= factor)
        }
        SavedValue::ExpectationValue(a) => *a *= factor,
        _ => {}
    }
}

/// Whether values of this kind are averaged (else one is kept: a state or
/// amplitudes, which differ in phase from shot to shot and so have no mean).
fn averaged(kind: &SaveKind) -> bool {
    !matches!(kind, SaveKind::Statevector | SaveKind::Amplitudes(_))
}

/// The value of a save taken once, before any measurement (so every shot
/// has it, with every clbit 0), gathered as its mode says for `shots` shots
/// of `words`-word memories.
pub(crate) fn gathered_once(
    spec: &SaveSpec,
    value: SavedValue,
    shots: usize,
    words: usize,
) -> SavedValue {
    match spec.mode {
        SaveMode::Average | SaveMode::Single => value,
        SaveMode::PerShot => SavedValue::PerShot(vec![value; shots]),
        SaveMode::Conditional => SavedValue::Conditional(vec![(vec![0; words], value)]),
        SaveMode::ConditionalPerShot => SavedValue::Conditional(vec![(
            vec![0; words],
            SavedValue::PerShot(vec![value; shots]),
        )]),
    }
}

/// A save's values over the shots that take it one by one, gathered in shot
/// order as its mode says (so the result does not depend on threads).
pub(crate) enum Gather {
    Average(Option<SavedValue>, bool),
    /// The last shot's value.
    Last(Option<SavedValue>),
    PerShot(Vec<SavedValue>),
    /// Keyed by the memory's words most significant first, so that the map's
    /// order is the memories' numeric order; the value's sum (or last) and
    /// how many shots had that memory.
    Conditional(BTreeMap<Vec<u64>, (SavedValue, u64)>, bool),
    ConditionalPerShot(BTreeMap<Vec<u64>, Vec<SavedValue>>),
}

impl Gather {
    pub(crate) fn new(spec: &SaveSpec) -> Gather {
        let averaged = averaged(&spec.kind);
        match spec.mode {
            SaveMode::Average => Gather::Average(None, averaged),
            SaveMode::Single => Gather::Last(None),
            SaveMode::PerShot => Gather::PerShot(Vec::new()),
            SaveMode::Conditional => Gather::Conditional(BTreeMap::new(), averaged),
            SaveMode::ConditionalPerShot => Gather::ConditionalPerShot(BTreeMap::new()),
        }
    }

    /// Adds one shot's value; `memory` is its clbits at the save (read by
    /// the conditional modes only).
    pub(crate) fn add(&mut self, value: SavedValue, memory: &[u64]) {
        let key = || memory.iter().rev().copied().collect::<Vec<u64>>();
        match self {
            Gather::Average(sum, _) => match sum {
                None => *sum = Some(value),
                Some(sum) => add_into(sum, value),
            },
            Gather::Last(last) => *last = Some(value),
            Gather::PerShot(list) => list.push(value),
            Gather::Conditional(map, averaged) => match map.get_mut(&key()) {
                Some((kept, count)) => {
                    *count += 1;
                    if *averaged {
                        add_into(kept, value);
                    } else {
                        *kept = value;
                    }
                }
                None => {
                    map.insert(key(), (value, 1));
                }
            },
            Gather::ConditionalPerShot(map) => map.entry(key()).or_default().push(value),
        }
    }

    /// The gathered value of `shots` shots.
    pub(crate) fn finish(self, shots: usize) -> Option<SavedValue> {
        let memory = |key: Vec<u64>| key.into_iter().rev().collect::<Vec<u64>>();
        Some(match self {
            Gather::Average(sum, averaged) => {
                let mut sum = sum?;
                if averaged && shots > 1 {
                    scale(&mut sum, 1.0 / shots as f64);
                }
                sum
            }
            Gather::Last(last) => last?,
            Gather::PerShot(list) => SavedValue::PerShot(list),
            Gather::Conditional(map, averaged) => SavedValue::Conditional(
                map.into_iter()
                    .map(|(key, (mut v, count))| {
                        if averaged && count > 1 {
                            scale(&mut v, 1.0 / count as f64);
                        }
                        (memory(key), v)
                    })
                    .collect(),
            ),
            Gather::ConditionalPerShot(map) => SavedValue::Conditional(
                map.into_iter()
                    .map(|(key, list)| (memory(key), SavedValue::PerShot(list)))
                    .collect(),
            ),
        })
    }
}
