//! Circuits shared by the criterion benches (`kernels.rs`) and the tuning
//! sweep (`tune.rs`).

use ferroq_core::Circuit;

/// `layers` of RX and RZ with random angles on every qubit, then a CX
/// brickwork layer; every qubit measured when `measure`.
pub fn layered_circuit(n: usize, layers: usize, seed: u64, measure: bool) -> Circuit {
    let mut c = Circuit::new(n, if measure { n } else { 0 });
    let mut x = seed;
    let mut angle = || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 11) as f64 / (1u64 << 53) as f64 * std::f64::consts::TAU
    };
    for layer in 0..layers {
        for q in 0..n as i64 {
            c.append_gate("rx", &[q], &[angle()]).unwrap();
            c.append_gate("rz", &[q], &[angle()]).unwrap();
        }
        for q in ((layer % 2) as i64..n as i64 - 1).step_by(2) {
            c.append_gate("cx", &[q, q + 1], &[]).unwrap();
        }
    }
    if measure {
        for q in 0..n as i64 {
            c.measure(q, q).unwrap();
        }
    }
    c
}
