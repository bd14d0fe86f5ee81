//! Drawing shots from a final state in O(2^n + shots).
//!
//! Sorted uniforms are made directly in order from exponential spacings
//! (u_k = S_k / S_{shots+1} with S_k the running sum of exponentials), then
//! one pass over the amplitudes turns them into outcomes: no sort, no binary
//! search, no probability array beside the state.
//!
//! That pass runs in parallel: the amplitudes are cut into chunks of a fixed
//! size, the chunks' probability sums are taken at once, their prefix sums
//! say which run of the sorted uniforms falls in each chunk, and each chunk
//! then turns its own run into outcomes. The chunk size never depends on the
//! thread count, so neither do the samples.

use crate::error::{Error, Result};
use crate::sim::precision::Amplitude;

/// How far the total probability of a state may be from 1 before it is
/// refused for sampling: far above rounding (1e-12 in double precision, about
/// 1e-6 in single), far below any real fault.
pub const NORM_TOLERANCE: f64 = 1e-4;
use crate::sim::rng::{self, SimRng};
use rayon::prelude::*;

/// Amplitudes per chunk of the parallel pass: large enough that a chunk's
/// task overhead vanishes, small enough to spread a 2^16-amplitude state.
const CHUNK: usize = 1 << 14;

/// Basis-state indices of `shots` samples from `|amps|^2`, in ascending
/// order. Sampling is relative to the squared norm (the chunks' total).
/// `parallel` spreads the pass over the current rayon pool; the samples are
/// the same either way.
pub fn sample_sorted<A: Amplitude>(
    amps: &[A],
    shots: usize,
    rng: &mut SimRng,
    parallel: bool,
) -> Result<Vec<u64>> {
    let chunk_sum = |c: &[A]| c.iter().map(|a| a.probability()).sum::<f64>();
    let sums: Vec<f64> = if parallel {
        amps.par_chunks(CHUNK).map(chunk_sum).collect()
    } else {
        amps.chunks(CHUNK).map(chunk_sum).collect()
    };
    // prefix[c]: probability before chunk c, summed in chunk order.
    let mut prefix = Vec::with_capacity(sums.len() + 1);
    let mut running = 0.0;
    prefix.push(0.0);
    for &s in &sums {
        running += s;
        prefix.push(running);
    }
    // Never sample from a state that is not finite and normalised: counts from
    // it would be confident and wrong. (Single precision drifts by far less.)
    if !running.is_finite() || (running - 1.0).abs() > NORM_TOLERANCE {
        return Err(Error::InvalidCircuit(format!(
            "the simulated state is not finite and normalised (total probability {running}), \
             so it cannot be sampled"
        )));
    }
    let Some(last_chunk) = sums.iter().rposition(|&s| s > 0.0) else {
        return Ok(vec![0; shots]);
    };
    let total = prefix[last_chunk + 1];

    let mut uniforms = Vec::with_capacity(shots);
    let mut running = 0.0;
    for _ in 0..shots {
        running += rng::exponential(rng);
        uniforms.push(running);
    }
    let scale = total / (running + rng::exponential(rng));
    uniforms.iter_mut().for_each(|u| *u *= scale);

    // Chunk c takes the uniforms in [prefix[c], prefix[c + 1]); the last
    // chunk with any probability also takes those that rounding put above
    // the total. A chunk with none takes none.
    let starts: Vec<usize> = (0..=last_chunk)
        .map(|c| uniforms.partition_point(|&u| u < prefix[c]))
        .chain(std::iter::once(shots))
        .collect();
    let mut out = vec![0u64; shots];
    let mut pieces: Vec<(usize, &mut [u64])> = Vec::with_capacity(last_chunk + 1);
    let mut rest: &mut [u64] = &mut out;
    for c in 0..=last_chunk {
        let (piece, tail) = rest.split_at_mut(starts[c + 1] - starts[c]);
        pieces.push((c, piece));
        rest = tail;
    }
    let walk = |(c, piece): (usize, &mut [u64])| {
        if piece.is_empty() {
            return;
        }
        let first = c * CHUNK;
        let chunk = &amps[first..(first + CHUNK).min(amps.len())];
        let run = &uniforms[starts[c]..starts[c + 1]];
        walk_chunk(chunk, first as u64, prefix[c], run, piece);
    };
    if parallel {
        pieces.into_par_iter().for_each(walk);
    } else {
        pieces.into_iter().for_each(walk);
    }
    Ok(out)
}

/// Turns `uniforms` (sorted, each at least `before`, the probability of the
/// chunks ahead of this one) into outcomes `base + index` in `chunk`. A
/// uniform that rounding put at or above the chunk's end gets the chunk's
/// last outcome with probability; a zero-probability state is never chosen,
/// since `u < cumulative` cannot turn true on arriving at one. One read of
/// the chunk at most: the last outcome with probability is looked for only
/// if the walk runs off the chunk's end.
fn walk_chunk<A: Amplitude>(
    chunk: &[A],
    base: u64,
    before: f64,
    uniforms: &[f64],
    out: &mut [u64],
) {
    let mut index = 0usize;
    // Summed in the same order as the chunk's sum, so the chunk's end is
    // exactly the next chunk's `before`.
    let mut local = chunk[0].probability();
    let mut past_the_end = None;
    for (slot, &u) in out.iter_mut().zip(uniforms) {
        while u >= before + local && index + 1 < chunk.len() {
            index += 1;
            local += chunk[index].probability();
        }
        let outcome = if chunk[index].probability() > 0.0 {
            index
        } else {
            // Only at the chunk's end, after trailing zero-probability states.
            *past_the_end.get_or_insert_with(|| {
                chunk
                    .iter()
                    .rposition(|a| a.probability() > 0.0)
                    .expect("a chunk given uniforms has probability")
            })
        };
        *slot = base + outcome as u64;
    }
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
        let s = sample_sorted(&amps, shots, &mut r, false).unwrap();
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
    fn a_state_that_is_not_finite_and_normalised_is_never_sampled() {
        let mut rng = rng::rng_from_seed(1);
        for bad in [
            vec![C64::new(f64::NAN, 0.0), C64::new(0.0, 0.0)],
            vec![C64::new(1.0, 0.0), C64::new(1.0, 0.0)],
            vec![C64::new(0.0, 0.0), C64::new(0.0, 0.0)],
            vec![C64::new(f64::INFINITY, 0.0), C64::new(0.0, 0.0)],
        ] {
            let err = sample_sorted(&bad, 10, &mut rng, false).unwrap_err();
            assert!(
                err.to_string().contains("not finite and normalised"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_parallel_pass_gives_the_samples_of_the_serial_one() {
        // 2^17 amplitudes: eight chunks, two of them without probability
        // (never sampled), the last one too (uniforms rounded past the total
        // stay in the last chunk that has any).
        let n = 17;
        let mut amps = crate::testing::random_state(n, 4);
        for c in [2usize, 5, 7] {
            amps[c * CHUNK..(c + 1) * CHUNK].fill(C64::new(0.0, 0.0));
        }
        let norm = amps.iter().map(|a| a.norm_sqr()).sum::<f64>().sqrt();
        amps.iter_mut().for_each(|a| *a /= norm);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let shots = 300_000;
        let serial = sample_sorted(&amps, shots, &mut rng::rng_from_seed(8), false).unwrap();
        let par = pool
            .install(|| sample_sorted(&amps, shots, &mut rng::rng_from_seed(8), true))
            .unwrap();
        assert!(par == serial);
        assert!(serial.windows(2).all(|w| w[0] <= w[1]));
        // Every chunk gets its share, within five standard deviations.
        let total: f64 = amps.iter().map(|a| a.norm_sqr()).sum();
        for c in 0..1 << (n - 14) {
            let p = amps[c * CHUNK..(c + 1) * CHUNK]
                .iter()
                .map(|a| a.norm_sqr())
                .sum::<f64>()
                / total;
            let got = serial.iter().filter(|&&s| s as usize / CHUNK == c).count() as f64;
            let sd = (shots as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (got - p * shots as f64).abs() <= 5.0 * sd + 1e-9,
                "chunk {c}: {got} vs p={p}"
            );
        }
    }

    #[test]
    fn uniforms_rounded_past_the_end_get_the_last_state_with_probability() {
        // p = [0, 0.25, 0.75, 0, 0]: the walk skips zero states at either end,
        // and uniforms at or above the total (rounding) land on outcome 2.
        let amps: Vec<C64> = [0.0f64, 0.25, 0.75, 0.0, 0.0]
            .iter()
            .map(|p| C64::new(p.sqrt(), 0.0))
            .collect();
        let uniforms = [0.0, 0.1, 0.2499, 0.25, 0.9, 0.99999, 1.0, 1.0 + 1e-15, 3.0];
        let mut out = [0u64; 9];
        walk_chunk(&amps, 100, 0.0, &uniforms, &mut out);
        assert_eq!(out, [101, 101, 101, 102, 102, 102, 102, 102, 102]);
        // Offset by the chunks before it.
        walk_chunk(&amps, 100, 0.5, &[0.5, 0.74, 0.76, 2.0], &mut out[..4]);
        assert_eq!(out[..4], [101, 101, 102, 102]);
    }

    #[test]
    fn a_basis_state_always_gives_itself() {
        let mut amps = vec![C64::new(0.0, 0.0); 8];
        amps[5] = C64::new(0.0, -1.0);
        let s = sample_sorted(&amps, 1000, &mut rng::rng_from_seed(3), true).unwrap();
        assert!(s.iter().all(|&i| i == 5));
    }
}
