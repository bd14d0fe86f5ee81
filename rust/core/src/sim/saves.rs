//! Save instructions at run time: what each takes from the state, what its
//! value costs in memory, and how values taken shot by shot are averaged.

use crate::circuit::SaveKind;
use crate::error::Result;
use crate::sim::precision::{Amplitude, Precision};
use crate::sim::result::SavedValue;
use crate::sim::state;
use num_complex::Complex64 as C64;

#[derive(Debug, Clone)]
pub(crate) struct SaveSpec {
    pub(crate) kind: SaveKind,
    pub(crate) label: String,
    pub(crate) qubits: Vec<usize>,
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

/// Adds one shot's saved values into the running sums (averaged at the end).
pub(crate) fn accumulate(sum: &mut [SavedValue], shot: Vec<SavedValue>) {
    for (acc, v) in sum.iter_mut().zip(shot) {
        match (acc, v) {
            (SavedValue::Probabilities(a), SavedValue::Probabilities(b))
            | (SavedValue::ProbabilitiesDict(a), SavedValue::ProbabilitiesDict(b)) => {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y)
            }
            (SavedValue::ExpectationValue(a), SavedValue::ExpectationValue(b)) => *a += b,
            _ => unreachable!("per-shot saves are probabilities or expectation values"),
        }
    }
}

pub(crate) fn scale_saved(sum: &mut [SavedValue], factor: f64) {
    for v in sum {
        match v {
            SavedValue::Probabilities(a) | SavedValue::ProbabilitiesDict(a) => {
                a.iter_mut().for_each(|x| *x *= factor)
            }
            SavedValue::ExpectationValue(a) => *a *= factor,
            _ => {}
        }
    }
}
