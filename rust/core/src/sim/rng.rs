//! Seeds and random numbers. Every random stream is derived from the run seed
//! and a position (circuit index, shot index), never from which thread does
//! the work, so results do not depend on the thread count or batch split.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

pub type SimRng = Xoshiro256PlusPlus;

/// SplitMix64's output function: a bijective 64-bit mixer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The seed of item `index` (a circuit of a batch, a shot of a circuit)
/// under `seed`. Distinct indices give unrelated streams.
pub fn derive_seed(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index.wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The seed of circuit `index` of a batch run with `run_seed`: `run_seed +
/// index`, as Qiskit Aer numbers its experiments' seeds, so that an
/// experiment's reported seed, given back as the run seed of that circuit
/// alone, reproduces it. (The generator hashes its seed, so neighbouring
/// seeds give unrelated streams.)
pub fn experiment_seed(run_seed: u64, index: u64) -> u64 {
    run_seed.wrapping_add(index)
}

/// A fresh seed from the operating system, for runs without one.
pub fn random_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        // No OS entropy (a sandbox without getrandom): fall back to time and
        // address noise; reproducibility needs an explicit seed anyway.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        mix(t ^ (&t as *const u64 as u64))
    })
}

pub fn rng_from_seed(seed: u64) -> SimRng {
    SimRng::seed_from_u64(seed)
}

/// Uniform in [0, 1) with 53 random bits.
pub fn uniform(rng: &mut SimRng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard exponential variate.
pub fn exponential(rng: &mut SimRng) -> f64 {
    // 1 - u lies in (0, 1], so the logarithm is finite.
    -(1.0 - uniform(rng)).ln()
}

/// Uniform integer in [0, bound) without modulo bias (Lemire's method).
pub fn below(rng: &mut SimRng, bound: u64) -> u64 {
    loop {
        let m = (rng.next_u64() as u128) * (bound as u128);
        let low = m as u64;
        if low >= bound.wrapping_neg() % bound {
            return (m >> 64) as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_seeds_differ_and_repeat() {
        assert_ne!(derive_seed(1, 0), derive_seed(1, 1));
        assert_ne!(derive_seed(1, 0), derive_seed(2, 0));
        assert_eq!(derive_seed(5, 9), derive_seed(5, 9));
    }

    #[test]
    fn an_experiment_seed_given_back_as_a_run_seed_is_itself() {
        for (run, index) in [(0, 0), (7, 3), (u64::MAX, 2)] {
            let own = experiment_seed(run, index);
            assert_eq!(experiment_seed(own, 0), own);
        }
        let mut a = rng_from_seed(experiment_seed(1, 0));
        let mut b = rng_from_seed(experiment_seed(1, 1));
        assert_ne!(
            a.next_u64(),
            b.next_u64(),
            "neighbouring seeds, unrelated streams"
        );
    }

    #[test]
    fn uniform_is_in_range_and_below_is_unbiased_enough() {
        let mut rng = rng_from_seed(1);
        let mut hist = [0u32; 3];
        for _ in 0..30_000 {
            let u = uniform(&mut rng);
            assert!((0.0..1.0).contains(&u));
            hist[below(&mut rng, 3) as usize] += 1;
        }
        assert!(
            hist.iter().all(|&h| (9_000..11_000).contains(&h)),
            "{hist:?}"
        );
    }
}
