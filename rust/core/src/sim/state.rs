//! The statevector: allocation against a memory limit, reductions that give
//! the same bits on any number of threads, and the measurement primitives.

use crate::error::{Error, Result};
use crate::sim::precision::{Amplitude, Precision};
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Reductions sum fixed-size chunks, then add the chunk sums in order: the
/// partition does not depend on the thread count, so neither do the bits of
/// the result (and so neither does any sampled outcome).
const REDUCTION_CHUNK: usize = 1 << 12;

/// Bytes of a `num_qubits` statevector stored in `precision`.
pub fn state_bytes(num_qubits: usize, precision: Precision) -> u128 {
    if num_qubits >= 120 {
        u128::MAX
    } else {
        precision.amplitude_bytes() << num_qubits
    }
}

/// Memory available to this process: free memory, bounded by the cgroup
/// limit when there is one.
pub fn available_memory_bytes() -> u64 {
    // Without a readable figure, assume no limit: allocation failure is
    // still reported as an error by `zeroed`.
    let Ok(mut sys) = sysinfo::System::new() else {
        return u64::MAX;
    };
    sys.refresh_memory();
    let mut available = sys.available_memory();
    if let Some(limits) = sys.cgroup_limits() {
        available = available.min(limits.free_memory);
    }
    available
}

/// Below this size a state is assumed to fit without asking the system:
/// reading the memory figures costs more than simulating a small circuit, and
/// an allocation that still fails is reported by [`zeroed`].
const ALWAYS_FITS_BYTES: u128 = 64 << 20;

/// Fails with [`Error::StateTooLarge`] unless `copies` statevectors of
/// `num_qubits` in `precision` fit in `limit_bytes` (default: available memory).
pub fn check_memory(
    num_qubits: usize,
    precision: Precision,
    copies: usize,
    limit_bytes: Option<u64>,
) -> Result<()> {
    let required = state_bytes(num_qubits, precision).saturating_mul(copies.max(1) as u128);
    // Even with no limit given, a state that cannot be indexed is refused.
    let hard_cap = num_qubits >= usize::BITS as usize - 5;
    if limit_bytes.is_none() && !hard_cap && required <= ALWAYS_FITS_BYTES {
        return Ok(());
    }
    let limit = limit_bytes.unwrap_or_else(available_memory_bytes);
    if hard_cap || required > limit as u128 {
        return Err(Error::StateTooLarge {
            num_qubits,
            required_bytes: required,
            limit_bytes: limit,
        });
    }
    Ok(())
}

/// Fails with [`Error::OutputTooLarge`] unless `output_bytes` fit in
/// `limit_bytes` (default: available memory) beside a state of `state_bytes`.
/// `what` names the output for the message.
pub fn check_output_memory(
    what: impl FnOnce() -> String,
    output_bytes: u128,
    state_bytes: u128,
    limit_bytes: Option<u64>,
) -> Result<()> {
    let total = output_bytes.saturating_add(state_bytes);
    if limit_bytes.is_none() && total <= ALWAYS_FITS_BYTES {
        return Ok(());
    }
    let limit = limit_bytes.unwrap_or_else(available_memory_bytes);
    if total > limit as u128 {
        return Err(Error::OutputTooLarge {
            what: what(),
            required_bytes: output_bytes,
            limit_bytes: limit,
        });
    }
    Ok(())
}

/// A zeroed amplitude vector of `2^num_qubits`, reporting allocation failure
/// as an error instead of aborting the process.
///
/// Large states come from the allocator already zeroed (fresh pages from the
/// kernel), so no pass writes the zeros, and on Linux they are marked for
/// transparent huge pages: a 1 GiB state then faults in 512 pages on first
/// touch instead of 262,144, which measured 0.9 s against 0.1 s for an empty
/// 26-qubit circuit.
pub fn zeroed<A: Amplitude>(num_qubits: usize) -> Result<Vec<A>> {
    let len = 1usize << num_qubits;
    let failed = || Error::AllocationFailed {
        num_qubits,
        bytes: state_bytes(num_qubits, A::PRECISION),
    };
    let layout = std::alloc::Layout::array::<A>(len).map_err(|_| failed())?;
    // SAFETY: the layout has a non-zero size (len >= 1, an amplitude is 8
    // or 16 bytes).
    let ptr = unsafe { std::alloc::alloc_zeroed(layout) } as *mut A;
    if ptr.is_null() {
        return Err(failed());
    }
    advise_huge_pages(ptr as *mut u8, layout.size());
    // SAFETY: `ptr` was allocated by the global allocator with the layout of
    // `len` amplitudes, and all-zero bytes are a valid complex number (0 + 0i).
    Ok(unsafe { Vec::from_raw_parts(ptr, len, len) })
}

/// Asks Linux to back `[ptr, ptr + bytes)` with transparent huge pages. Only a
/// hint: failure (THP off, old kernel) changes nothing but speed.
#[allow(unused_variables)]
fn advise_huge_pages(ptr: *mut u8, bytes: usize) {
    #[cfg(target_os = "linux")]
    {
        const HUGE_PAGE: usize = 2 << 20;
        if bytes < 2 * HUGE_PAGE {
            return;
        }
        // madvise wants a page-aligned start: round into the allocation.
        let start = (ptr as usize).next_multiple_of(4096);
        let end = (ptr as usize + bytes) & !4095;
        // SAFETY: the range lies inside the allocation just made, and
        // MADV_HUGEPAGE does not change its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// |0...0>.
pub fn ground_state<A: Amplitude>(num_qubits: usize) -> Result<Vec<A>> {
    let mut v = zeroed::<A>(num_qubits)?;
    v[0] = A::narrow(C64::new(1.0, 0.0));
    Ok(v)
}

/// |0...0>, or `initial` (`2^num_qubits` amplitudes) in this precision.
pub fn initial_state<A: Amplitude>(
    num_qubits: usize,
    initial: Option<&std::sync::Arc<Vec<C64>>>,
) -> Result<Vec<A>> {
    let Some(initial) = initial else {
        return ground_state(num_qubits);
    };
    let mut v = zeroed::<A>(num_qubits)?;
    for (out, &z) in v.iter_mut().zip(initial.iter()) {
        *out = A::narrow(z);
    }
    Ok(v)
}

/// A copy of `amps`, with allocation failure as an error.
pub fn try_clone<A: Amplitude>(amps: &[A], num_qubits: usize) -> Result<Vec<A>> {
    let mut v: Vec<A> = Vec::new();
    v.try_reserve_exact(amps.len())
        .map_err(|_| Error::AllocationFailed {
            num_qubits,
            bytes: state_bytes(num_qubits, A::PRECISION),
        })?;
    v.extend_from_slice(amps);
    Ok(v)
}

/// Sum of `f(i, amp)` over all amplitudes, reduced in a fixed order.
fn reduce<A, F>(amps: &[A], parallel: bool, f: F) -> f64
where
    A: Amplitude,
    F: Fn(usize, C64) -> f64 + Sync,
{
    let chunk_sum = |(c, chunk): (usize, &[A])| {
        let start = c * REDUCTION_CHUNK;
        chunk
            .iter()
            .enumerate()
            .map(|(i, &a)| f(start + i, a.widen()))
            .sum::<f64>()
    };
    let sums: Vec<f64> = if parallel && amps.len() > REDUCTION_CHUNK {
        amps.par_chunks(REDUCTION_CHUNK)
            .enumerate()
            .map(chunk_sum)
            .collect()
    } else {
        amps.chunks(REDUCTION_CHUNK)
            .enumerate()
            .map(chunk_sum)
            .collect()
    };
    sums.iter().sum()
}

/// Marginal probabilities of `qubits`: entry `k` sums `|amp_i|^2` over the
/// `i` whose bit `qubits[j]` equals bit `j` of `k`. Partial histograms of
/// fixed chunks are added in order, so the bits do not depend on threads.
pub fn marginal_probabilities<A: Amplitude>(
    amps: &[A],
    qubits: &[usize],
    parallel: bool,
) -> Vec<f64> {
    let dim = 1usize << qubits.len();
    let key = |i: usize| {
        qubits
            .iter()
            .enumerate()
            .fold(0usize, |k, (j, &q)| k | (((i >> q) & 1) << j))
    };
    // Wide marginals: one histogram per chunk would cost more memory and time
    // than the state itself (2^k entries per 4096 amplitudes), so one serial
    // pass accumulates into the output instead. Which path runs depends on
    // the width only, never on threads, so neither do the bits.
    if dim > REDUCTION_CHUNK / 4 {
        let mut total = vec![0.0; dim];
        for (i, a) in amps.iter().enumerate() {
            total[key(i)] += a.probability();
        }
        return total;
    }
    let histogram = |(c, chunk): (usize, &[A])| {
        let mut h = vec![0.0; dim];
        let start = c * REDUCTION_CHUNK;
        for (i, a) in chunk.iter().enumerate() {
            h[key(start + i)] += a.probability();
        }
        h
    };
    let parts: Vec<Vec<f64>> = if parallel && amps.len() > REDUCTION_CHUNK {
        amps.par_chunks(REDUCTION_CHUNK)
            .enumerate()
            .map(histogram)
            .collect()
    } else {
        amps.chunks(REDUCTION_CHUNK)
            .enumerate()
            .map(histogram)
            .collect()
    };
    let mut total = vec![0.0; dim];
    for part in parts {
        total.iter_mut().zip(part).for_each(|(t, p)| *t += p);
    }
    total
}

/// `<psi| coeff P |psi>` summed over Pauli terms (X where only `x` is set,
/// Z where only `z`, Y where both), unnormalised.
pub fn expectation<A: Amplitude>(
    amps: &[A],
    terms: &[crate::circuit::PauliTerm],
    parallel: bool,
) -> C64 {
    let mut total = C64::new(0.0, 0.0);
    for t in terms {
        let (x, z) = (t.x as usize, t.z as usize);
        // P|i> = i^{#Y} (-1)^{|i & z|} |i ^ x>, so <psi|P|psi> = i^{#Y} sum_i
        // conj(psi[i ^ x]) (-1)^{|i & z|} psi[i].
        let term = |i: usize, a: C64| {
            let v = amps[i ^ x].widen().conj() * a;
            if (i & z).count_ones() % 2 == 1 { -v } else { v }
        };
        let re = reduce(amps, parallel, |i, a| term(i, a).re);
        let im = reduce(amps, parallel, |i, a| term(i, a).im);
        let phase = match (t.x & t.z).count_ones() % 4 {
            0 => C64::new(1.0, 0.0),
            1 => C64::new(0.0, 1.0),
            2 => C64::new(-1.0, 0.0),
            _ => C64::new(0.0, -1.0),
        };
        total += t.coeff * phase * C64::new(re, im);
    }
    total
}

/// Total probability (squared norm).
pub fn norm_sqr<A: Amplitude>(amps: &[A], parallel: bool) -> f64 {
    reduce(amps, parallel, |_, a| a.norm_sqr())
}

/// Probability that `qubit` reads 1.
pub fn probability_one<A: Amplitude>(amps: &[A], qubit: usize, parallel: bool) -> f64 {
    let bit = 1usize << qubit;
    reduce(amps, parallel, |i, a| {
        if i & bit != 0 { a.norm_sqr() } else { 0.0 }
    })
}

/// Projects `qubit` onto `outcome` and renormalises by the outcome's
/// probability `prob`.
pub fn collapse<A: Amplitude>(
    amps: &mut [A],
    qubit: usize,
    outcome: bool,
    prob: f64,
    parallel: bool,
) {
    let bit = 1usize << qubit;
    let scale = 1.0 / prob.sqrt();
    let keep = if outcome { bit } else { 0 };
    let body = |(i, a): (usize, &mut A)| {
        if i & bit == keep {
            *a = A::narrow(a.widen() * scale);
        } else {
            *a = A::ZERO;
        }
    };
    if parallel && amps.len() > REDUCTION_CHUNK {
        amps.par_iter_mut()
            .enumerate()
            .with_min_len(REDUCTION_CHUNK)
            .for_each(body);
    } else {
        amps.iter_mut().enumerate().for_each(body);
    }
}

/// Multiplies every amplitude by `factor`.
pub fn scale<A: Amplitude>(amps: &mut [A], factor: C64, parallel: bool) {
    let body = |a: &mut A| *a = A::narrow(a.widen() * factor);
    if parallel && amps.len() > REDUCTION_CHUNK {
        amps.par_iter_mut()
            .with_min_len(REDUCTION_CHUNK)
            .for_each(body);
    } else {
        amps.iter_mut().for_each(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_and_narrow_marginals_agree_with_a_direct_sum() {
        let n = 14;
        let amps: Vec<C64> = (0..1usize << n)
            .map(|i| C64::new(((i * 37) % 101) as f64, ((i * 11) % 7) as f64 - 3.0))
            .collect();
        for qubits in [
            vec![3, 0],
            (0..11).collect::<Vec<_>>(),
            (0..n).rev().collect(),
        ] {
            let mut want = vec![0.0; 1 << qubits.len()];
            for (i, a) in amps.iter().enumerate() {
                let k = qubits
                    .iter()
                    .enumerate()
                    .fold(0, |k, (j, &q)| k | (((i >> q) & 1) << j));
                want[k] += a.norm_sqr();
            }
            for parallel in [false, true] {
                let got = marginal_probabilities(&amps, &qubits, parallel);
                for (g, w) in got.iter().zip(&want) {
                    assert!((g - w).abs() <= 1e-9 * w.max(1.0), "{qubits:?}: {g} vs {w}");
                }
                // Whatever the threads, the same bits.
                assert_eq!(got, marginal_probabilities(&amps, &qubits, !parallel));
            }
        }
    }

    #[test]
    fn too_large_states_are_refused_before_allocating() {
        assert!(matches!(
            check_memory(40, Precision::Double, 1, None),
            Err(Error::StateTooLarge { num_qubits: 40, .. })
        ));
        assert!(check_memory(17, Precision::Double, 1, Some(1 << 20)).is_err());
        assert!(check_memory(10, Precision::Double, 1, Some(1 << 20)).is_ok());
        assert!(check_memory(200, Precision::Double, 1, Some(u64::MAX)).is_err());
        // Single precision halves the bytes: 2^17 complex64 is 1 MiB.
        assert!(check_memory(17, Precision::Single, 1, Some(1 << 20)).is_ok());
        assert!(check_memory(18, Precision::Single, 1, Some(1 << 20)).is_err());
    }

    #[test]
    fn reductions_do_not_depend_on_threads() {
        let amps: Vec<C64> = (0..1 << 15)
            .map(|i| C64::new((i as f64).sin(), (i as f64).cos()))
            .collect();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let serial = norm_sqr(&amps, false);
        let par = pool.install(|| norm_sqr(&amps, true));
        assert_eq!(serial.to_bits(), par.to_bits());
        let p1 = probability_one(&amps, 7, false);
        assert_eq!(
            p1.to_bits(),
            pool.install(|| probability_one(&amps, 7, true)).to_bits()
        );
    }

    #[test]
    fn collapse_projects_and_renormalises() {
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let mut amps = vec![
            C64::new(h, 0.0),
            C64::new(0.0, 0.0),
            C64::new(0.0, 0.0),
            C64::new(h, 0.0),
        ];
        let p = probability_one(&amps, 1, false);
        assert!((p - 0.5).abs() < 1e-15);
        collapse(&mut amps, 1, true, p, false);
        assert!((amps[3].re - 1.0).abs() < 1e-15 && amps[0] == C64::new(0.0, 0.0));
    }
}
