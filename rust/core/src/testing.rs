//! Reproducible random states and gate streams for the unit tests.

use crate::circuit::gates::GateKind;
use crate::sim::kernels::Op;
use num_complex::Complex64 as C64;

/// A linear congruential stream of uniform numbers in [-0.5, 0.5).
pub fn uniform_stream(seed: u64) -> impl FnMut() -> f64 {
    let mut x = seed;
    move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((x >> 11) as f64) / (1u64 << 53) as f64 - 0.5
    }
}

/// A normalised random state of `n` qubits.
pub fn random_state(n: usize, seed: u64) -> Vec<C64> {
    let mut next = uniform_stream(seed);
    let v: Vec<C64> = (0..1 << n).map(|_| C64::new(next(), next())).collect();
    let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
    v.into_iter().map(|z| z / norm).collect()
}

/// `count` gates drawn from the whole gate table (fixed widths up to
/// `max_width`), on random distinct qubits of `n`, with random parameters.
pub fn random_ops(n: usize, max_width: usize, count: usize, seed: u64) -> Vec<Op> {
    let mut next = uniform_stream(seed);
    let mut pick = move |m: usize| ((next() + 0.5) * m as f64) as usize % m;
    let kinds: Vec<GateKind> = GateKind::ALL
        .iter()
        .copied()
        .filter(|k| k.num_qubits().is_some_and(|q| q <= max_width.min(n)))
        .collect();
    let mut ops = Vec::new();
    while ops.len() < count {
        let kind = kinds[pick(kinds.len())];
        let k = kind.num_qubits().expect("fixed width");
        let mut qubits: Vec<usize> = Vec::new();
        while qubits.len() < k {
            let q = pick(n);
            if !qubits.contains(&q) {
                qubits.push(q);
            }
        }
        let params: Vec<f64> = (0..kind.num_params())
            .map(|_| pick(10_000) as f64 * 1e-3)
            .collect();
        if let Some(op) = Op::from_gate(kind, &qubits, &params) {
            ops.push(op);
        }
    }
    ops
}

/// Largest distance between two states, amplitude by amplitude.
pub fn max_distance(a: &[C64], b: &[C64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).norm())
        .fold(0.0, f64::max)
}
