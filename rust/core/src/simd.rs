//! Hand-vectorised kernels for dense and diagonal blocks, chosen at run time.
//!
//! Complex numbers are stored interleaved (re, im), which compilers do not
//! vectorise well on their own. Here one 256-bit AVX register holds the same
//! basis state of two neighbouring amplitude groups, so a `2^k x 2^k` block
//! runs as `2^k` independent complex multiply-adds per output with no
//! shuffling across lanes: with `v = (re, im)` and `s = (im, re)`,
//! `m * v = addsub(re(m) * v, im(m) * s)`.
//!
//! The two groups of a register are the group at `base` and the one at
//! `base | stride`, where `stride` is the lowest qubit the op does not touch.
//! When that is qubit 0 the pair is contiguous and loads as one vector.
//!
//! x86-64 with AVX2 and FMA uses these kernels (detected once per process;
//! `FERROQ_NO_SIMD=1` forces the portable ones, for comparisons). Other
//! machines use the portable kernels in `kernels.rs`, which the compiler
//! vectorises for the target (NEON on aarch64) as far as it can.

use crate::kernels::deposit;
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Whether the vectorised kernels run on this machine.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static AVX2_FMA: OnceLock<bool> = OnceLock::new();
        *AVX2_FMA.get_or_init(|| {
            std::env::var_os("FERROQ_NO_SIMD").is_none_or(|v| v.is_empty() || v == "0")
                && std::is_x86_feature_detected!("avx2")
                && std::is_x86_feature_detected!("fma")
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Pair-groups handed to one task at least: below this, task overhead
/// outweighs the arithmetic.
const MIN_AMPLITUDES_PER_TASK: usize = 1 << 12;

/// Where an op's groups lie, as seen by the vectorised kernels. Fixed-size
/// arrays, not vectors: it is built for every op application, which on a
/// 10-qubit state or a cache block costs about a microsecond of arithmetic,
/// and heap allocation here measured as much again.
struct Layout {
    /// Deposit masks over the op's qubits plus the pairing qubit.
    mask_buf: [usize; usize::BITS as usize],
    num_masks: usize,
    ctrl_mask: usize,
    /// Offset of each target basis state inside a group.
    offset_buf: [usize; 32],
    num_offsets: usize,
    /// Distance from a group to its partner in the same register.
    stride: usize,
    /// Number of group pairs.
    pairs: usize,
    /// Consecutive pair indices whose bases are consecutive even addresses
    /// (when pairing on qubit 0): the kernels deposit once per run.
    run: usize,
}

impl Layout {
    fn masks(&self) -> &[usize] {
        &self.mask_buf[..self.num_masks]
    }
    fn offsets(&self) -> &[usize] {
        &self.offset_buf[..self.num_offsets]
    }
}

/// `None` for ops wider than 5 qubits or with no qubit left to pair on.
fn layout(len: usize, targets: &[usize], ctrl_mask: usize) -> Option<Layout> {
    if targets.len() > 5 {
        return None;
    }
    let involved = targets.iter().fold(ctrl_mask, |m, &t| m | (1 << t));
    let free = !involved & (len - 1);
    if free == 0 {
        return None;
    }
    let stride = 1usize << free.trailing_zeros();
    // As `kernels::insert_masks`: one mask below each involved bit, ascending.
    let mut mask_buf = [0usize; usize::BITS as usize];
    let mut num_masks = 0;
    let mut rest = involved | stride;
    while rest != 0 {
        mask_buf[num_masks] = (1usize << rest.trailing_zeros()) - 1;
        num_masks += 1;
        rest &= rest - 1;
    }
    let mut offset_buf = [0usize; 32];
    let num_offsets = 1usize << targets.len();
    for (j, slot) in offset_buf[..num_offsets].iter_mut().enumerate() {
        *slot = targets
            .iter()
            .enumerate()
            .fold(0, |acc, (i, &q)| acc | (((j >> i) & 1) << q));
    }
    let run = if stride == 1 {
        1usize << (involved.trailing_zeros() - 1)
    } else {
        1
    };
    Some(Layout {
        run,
        pairs: len >> num_masks,
        mask_buf,
        num_masks,
        ctrl_mask,
        offset_buf,
        num_offsets,
        stride,
    })
}

/// Runs `kernel` over every pair-group, in chunks, on the current rayon pool
/// when `parallel`. Chunks are fixed by the sizes alone, never by the thread
/// count, and groups are disjoint: the bits do not depend on threading.
fn drive(
    amps: &mut [C64],
    l: &Layout,
    parallel: bool,
    kernel: impl Fn(*mut C64, std::ops::Range<usize>) + Sync + Send,
) {
    let per_pair = 2 * l.num_offsets;
    let chunk = (MIN_AMPLITUDES_PER_TASK / per_pair).max(1);
    let ptr = SendPtr(amps.as_mut_ptr());
    let chunks = l.pairs.div_ceil(chunk);
    let run = |i: usize| kernel(ptr.get(), i * chunk..((i + 1) * chunk).min(l.pairs));
    if parallel && chunks > 1 {
        (0..chunks).into_par_iter().for_each(run);
    } else {
        (0..chunks).for_each(run);
    }
}

#[derive(Clone, Copy)]
struct SendPtr(*mut C64);
// SAFETY: kernels only touch the amplitudes of their own pair-groups, and
// pair-groups are disjoint.
unsafe impl Send for SendPtr {}
unsafe impl Sync for SendPtr {}
impl SendPtr {
    fn get(self) -> *mut C64 {
        self.0
    }
}

/// The layout for the vectorised kernels, or `None` when none fits: no AVX2,
/// a block wider than 5 qubits, or no qubit left to pair groups on.
fn prepare(len: usize, targets: &[usize], ctrl_mask: usize) -> Option<Layout> {
    if !available() {
        return None;
    }
    layout(len, targets, ctrl_mask)
}

/// Applies the dense row-major `matrix` on `targets` (controlled on
/// `ctrl_mask`). Returns `false`, touching nothing, when no vectorised kernel
/// fits.
pub fn apply_dense(
    amps: &mut [C64],
    targets: &[usize],
    matrix: &[C64],
    ctrl_mask: usize,
    parallel: bool,
) -> bool {
    let Some(l) = prepare(amps.len(), targets, ctrl_mask) else {
        return false;
    };
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! go {
            ($d:literal) => {
                drive(amps, &l, parallel, |p, range| {
                    // SAFETY: AVX2 and FMA are present (`prepare` checked),
                    // and the range only covers pair-groups of this state.
                    unsafe {
                        if l.stride == 1 {
                            avx2::dense::<$d, true>(p, range, &l, matrix)
                        } else {
                            avx2::dense::<$d, false>(p, range, &l, matrix)
                        }
                    }
                })
            };
        }
        match targets.len() {
            1 => go!(2),
            2 => go!(4),
            3 => go!(8),
            4 => go!(16),
            _ => go!(32),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (l, matrix, parallel);
    true
}

/// Multiplies basis state `j` of `targets` by `diag[j]` (where the controls
/// are set). Returns `false`, touching nothing, when no vectorised kernel fits.
pub fn apply_diagonal(
    amps: &mut [C64],
    targets: &[usize],
    diag: &[C64],
    ctrl_mask: usize,
    parallel: bool,
) -> bool {
    let Some(l) = prepare(amps.len(), targets, ctrl_mask) else {
        return false;
    };
    #[cfg(target_arch = "x86_64")]
    drive(amps, &l, parallel, |p, range| {
        // SAFETY: as in `apply_dense`.
        unsafe {
            if l.stride == 1 {
                avx2::diagonal::<true>(p, range, &l, diag)
            } else {
                avx2::diagonal::<false>(p, range, &l, diag)
            }
        }
    });
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (l, diag, parallel);
    true
}

/// Moves basis state `j` of `targets` to `perm[j]` with factor `phases[j]`
/// (where the controls are set). Returns `false`, touching nothing, when no
/// vectorised kernel fits.
pub fn apply_permutation(
    amps: &mut [C64],
    targets: &[usize],
    perm: &[usize],
    phases: &[C64],
    ctrl_mask: usize,
    parallel: bool,
) -> bool {
    let Some(l) = prepare(amps.len(), targets, ctrl_mask) else {
        return false;
    };
    #[cfg(target_arch = "x86_64")]
    {
        let unit = phases.iter().all(|&p| p == C64::new(1.0, 0.0));
        let mut dest = [0usize; 32];
        for (slot, &j) in dest.iter_mut().zip(perm) {
            *slot = l.offset_buf[j];
        }
        drive(amps, &l, parallel, |p, range| {
            // SAFETY: as in `apply_dense`.
            unsafe {
                match (l.stride == 1, unit) {
                    (true, true) => avx2::permutation::<true, true>(p, range, &l, &dest, phases),
                    (true, false) => avx2::permutation::<true, false>(p, range, &l, &dest, phases),
                    (false, true) => avx2::permutation::<false, true>(p, range, &l, &dest, phases),
                    (false, false) => {
                        avx2::permutation::<false, false>(p, range, &l, &dest, phases)
                    }
                }
            }
        });
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (l, phases, perm, parallel);
    true
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{C64, Layout, deposit};
    use std::arch::x86_64::*;

    /// Amplitude `a` and `a + stride` as one register (low lane first).
    #[inline(always)]
    unsafe fn load<const ADJ: bool>(p: *const C64, a: usize, stride: usize) -> __m256d {
        unsafe {
            if ADJ {
                _mm256_loadu_pd(p.add(a) as *const f64)
            } else {
                _mm256_loadu2_m128d(p.add(a + stride) as *const f64, p.add(a) as *const f64)
            }
        }
    }

    /// Runs `$body` with `$base` bound to the base address of every
    /// pair-group in `$range`. A macro, not a closure, so that the body is
    /// compiled with the calling function's target features.
    macro_rules! for_each_base {
        ($adj:expr, $range:expr, $l:expr, |$base:ident| $body:block) => {{
            let (range, l) = ($range, $l);
            if $adj && l.run > 1 {
                let mut g = range.start;
                while g < range.end {
                    let first = deposit(g, l.masks()) | l.ctrl_mask;
                    let len = (l.run - (g & (l.run - 1))).min(range.end - g);
                    for j in 0..len {
                        let $base = first + 2 * j;
                        $body
                    }
                    g += len;
                }
            } else {
                for g in range {
                    let $base = deposit(g, l.masks()) | l.ctrl_mask;
                    $body
                }
            }
        }};
    }

    #[inline(always)]
    unsafe fn store<const ADJ: bool>(p: *mut C64, a: usize, stride: usize, v: __m256d) {
        unsafe {
            if ADJ {
                _mm256_storeu_pd(p.add(a) as *mut f64, v)
            } else {
                _mm256_storeu2_m128d(p.add(a + stride) as *mut f64, p.add(a) as *mut f64, v)
            }
        }
    }

    /// # Safety
    /// AVX2 and FMA are available; `range` holds pair-groups of `l` that lie
    /// inside the state at `p` and that no other thread touches.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dense<const D: usize, const ADJ: bool>(
        p: *mut C64,
        range: std::ops::Range<usize>,
        l: &Layout,
        m: &[C64],
    ) {
        let offsets: &[usize; D] = l.offsets().try_into().expect("D offsets");
        let m = &m[..D * D];
        for_each_base!(ADJ, range, l, |base| {
            let mut v = [_mm256_setzero_pd(); D];
            let mut s = [_mm256_setzero_pd(); D];
            for c in 0..D {
                // SAFETY: (caller) the group's amplitudes are in the state.
                v[c] = unsafe { load::<ADJ>(p, base | offsets[c], l.stride) };
                s[c] = _mm256_permute_pd(v[c], 0b0101);
            }
            for (r, &off) in offsets.iter().enumerate() {
                let row = r * D;
                let mut a = _mm256_mul_pd(_mm256_set1_pd(m[row].re), v[0]);
                let mut b = _mm256_mul_pd(_mm256_set1_pd(m[row].im), s[0]);
                for c in 1..D {
                    a = _mm256_fmadd_pd(_mm256_set1_pd(m[row + c].re), v[c], a);
                    b = _mm256_fmadd_pd(_mm256_set1_pd(m[row + c].im), s[c], b);
                }
                // SAFETY: as for the loads.
                unsafe { store::<ADJ>(p, base | off, l.stride, _mm256_addsub_pd(a, b)) };
            }
        });
    }

    /// # Safety
    /// As for [`dense`].
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn diagonal<const ADJ: bool>(
        p: *mut C64,
        range: std::ops::Range<usize>,
        l: &Layout,
        d: &[C64],
    ) {
        for_each_base!(ADJ, range, l, |base| {
            for (&off, z) in l.offsets().iter().zip(d) {
                // SAFETY: (caller) the group's amplitudes are in the state.
                unsafe {
                    let v = load::<ADJ>(p, base | off, l.stride);
                    let s = _mm256_permute_pd(v, 0b0101);
                    let b = _mm256_mul_pd(_mm256_set1_pd(z.im), s);
                    let out = _mm256_fmaddsub_pd(_mm256_set1_pd(z.re), v, b);
                    store::<ADJ>(p, base | off, l.stride, out);
                }
            }
        });
    }

    /// # Safety
    /// As for [`dense`]; `dest` holds the destination offset of each source
    /// offset, a permutation of `l.offsets`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn permutation<const ADJ: bool, const UNIT: bool>(
        p: *mut C64,
        range: std::ops::Range<usize>,
        l: &Layout,
        dest: &[usize],
        phases: &[C64],
    ) {
        let d = l.num_offsets;
        let mut v = [_mm256_setzero_pd(); 32];
        for_each_base!(ADJ, range, l, |base| {
            for (j, &off) in l.offsets().iter().enumerate() {
                // SAFETY: (caller) the group's amplitudes are in the state.
                v[j] = unsafe { load::<ADJ>(p, base | off, l.stride) };
            }
            for j in 0..d {
                let out = if UNIT {
                    v[j]
                } else {
                    let s = _mm256_permute_pd(v[j], 0b0101);
                    let b = _mm256_mul_pd(_mm256_set1_pd(phases[j].im), s);
                    _mm256_fmaddsub_pd(_mm256_set1_pd(phases[j].re), v[j], b)
                };
                // SAFETY: as for the loads.
                unsafe { store::<ADJ>(p, base | dest[j], l.stride, out) };
            }
        });
    }
}
