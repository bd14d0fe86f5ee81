//! Drawing shots from a final state in O(2^n + shots).
//!
//! Sorted uniforms are made directly in order from exponential spacings
//! (u_k = S_k / S_{shots+1} with S_k the running sum of exponentials), then
//! one pass over the amplitudes turns them into outcomes: no sort, no binary
//! search, no probability array beside the state.

use crate::precision::Amplitude;
use crate::rng::{self, SimRng};

/// Basis-state indices of `shots` samples from `|amps|^2`, in ascending
/// order. `total` is the squared norm (sampling is relative to it).
pub fn sample_sorted<A: Amplitude>(
    amps: &[A],
    total: f64,
    shots: usize,
    rng: &mut SimRng,
) -> Vec<u64> {
    let Some(last_nonzero) = amps.iter().rposition(|a| a.probability() > 0.0) else {
        return vec![0; shots];
    };
    let mut spacings = Vec::with_capacity(shots);
    let mut running = 0.0;
    for _ in 0..shots {
        running += rng::exponential(rng);
        spacings.push(running);
    }
    let end = running + rng::exponential(rng);
    let scale = total / end;

    let mut out = Vec::with_capacity(shots);
    let mut index = 0usize;
    let mut cumulative = amps[0].probability();
    for s in spacings {
        let u = s * scale;
        // A zero-probability state never satisfies `u < cumulative` on
        // arrival, so it is never chosen; the clamp keeps rounding at the top
        // end from running past the last possible outcome.
        while u >= cumulative && index < last_nonzero {
            index += 1;
            cumulative += amps[index].probability();
        }
        out.push(index as u64);
    }
    out
}

/// Fisher-Yates shuffle: turns sorted samples into an i.i.d. shot sequence.
pub fn shuffle<T>(items: &mut [T], rng: &mut SimRng) {
    for i in (1..items.len()).rev() {
        let j = rng::below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_complex::Complex64 as C64;

    #[test]
    fn samples_follow_the_distribution_and_skip_zero_states() {
        // p = [0.1, 0, 0.6, 0.3]
        let amps: Vec<C64> = [0.1f64, 0.0, 0.6, 0.3]
            .iter()
            .map(|p| C64::new(p.sqrt(), 0.0))
            .collect();
        let mut r = rng::rng_from_seed(11);
        let shots = 200_000;
        let s = sample_sorted(&amps, 1.0, shots, &mut r);
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        let mut counts = [0usize; 4];
        s.iter().for_each(|&i| counts[i as usize] += 1);
        assert_eq!(counts[1], 0);
        for (k, p) in [(0usize, 0.1), (2, 0.6), (3, 0.3)] {
            let expected = p * shots as f64;
            let sd = (shots as f64 * p * (1.0 - p)).sqrt();
            assert!((counts[k] as f64 - expected).abs() < 5.0 * sd, "{counts:?}");
        }
    }

    #[test]
    fn a_basis_state_always_gives_itself() {
        let mut amps = vec![C64::new(0.0, 0.0); 8];
        amps[5] = C64::new(0.0, -1.0);
        let s = sample_sorted(&amps, 1.0, 1000, &mut rng::rng_from_seed(3));
        assert!(s.iter().all(|&i| i == 5));
    }
}
