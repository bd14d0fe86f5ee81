//! Hand-vectorised kernels for dense, diagonal and permutation blocks, in
//! double and single precision, chosen at run time.
//!
//! Complex numbers are stored interleaved (re, im), which compilers do not
//! vectorise well on their own. Here one register holds the *same* basis
//! state of `2^P` neighbouring amplitude groups ("lanes"), so a `2^k x 2^k`
//! block runs as `2^k` independent complex multiply-adds per output with no
//! shuffling across lanes: with `v = (re, im)` and `s = (im, re)`,
//! `m * v = addsub(re(m) * v, im(m) * s)`, and for a row of a matrix
//! `sum m_c v_c = addsub(sum re(m_c) v_c, swap(sum im(m_c) v_c))`: one swap
//! per output, not per input. Every lane computes the same
//! formula in the same order, so the bits do not depend on the register
//! width, the lane grouping or the thread count.
//!
//! The lanes of a register are the groups at `base | o` for the offsets `o`
//! spanned by the `P` lowest qubits the op does not touch. When those are
//! qubits `0..P`, a register is one contiguous load; when only the lowest
//! few are, it is built from contiguous pieces.
//!
//! | kernels | lanes | used for |
//! | --- | --- | --- |
//! | AVX-512F, complex128 | 4 | double precision, where AVX-512F is present |
//! | AVX2 + FMA, complex128 | 2 | double precision otherwise, and ops on states too small for 4 lanes |
//! | AVX2 + FMA, complex64 | 4 | single precision, computed in f32 like qsim |
//! | AVX-512F, complex64 | 8 | single precision where AVX-512F is present and 3 qubits are free |
//! | AVX-512VL, complex64 | 4 | the 4-lane f32 kernels with 32 registers instead of 16, for ops leaving 2 free qubits |
//!
//! | NEON, complex128 | 1 | double precision on aarch64 |
//! | NEON, complex64 | 2 | single precision on aarch64, in f32 |
//!
//! The instruction set is detected once per process. `FERROQ_NO_SIMD=1`
//! forces the portable kernels and `FERROQ_NO_AVX512=1` stops at AVX2, for
//! comparisons. Other machines use the portable kernels in `kernels.rs`,
//! which the compiler vectorises for the target as far as it can; single
//! precision there widens blocks to complex128 instead
//! (`plan::apply_widened_op`). The NEON kernels are tested under qemu-user
//! (`.ci/run`), not timed: no aarch64 machine was at hand.

use crate::sim::kernels::deposit;
use num_complex::{Complex32 as C32, Complex64 as C64};
use rayon::prelude::*;

/// The vector instruction set the kernels use. Ordered: each includes the
/// ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Portable,
    /// aarch64's 128-bit vectors (always present there).
    Neon,
    Avx2,
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }
}

/// A switch of [`crate::sim::env`]; a bad value (refused when a run's options
/// are checked) counts as off.
fn env_flag(name: &str) -> bool {
    crate::sim::env::switch(name).unwrap_or(false)
}

/// The best instruction set this machine has that the environment allows.
pub fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        use std::sync::OnceLock;
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if env_flag("FERROQ_NO_SIMD")
                || !std::is_x86_feature_detected!("avx2")
                || !std::is_x86_feature_detected!("fma")
            {
                Isa::Portable
            } else if !env_flag("FERROQ_NO_AVX512")
                && std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl")
            {
                Isa::Avx512
            } else {
                Isa::Avx2
            }
        })
    }
    #[cfg(target_arch = "aarch64")]
    {
        if env_flag("FERROQ_NO_SIMD") {
            Isa::Portable
        } else {
            Isa::Neon
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Isa::Portable
    }
}

/// Whether any vectorised kernel runs on this machine.
pub fn available() -> bool {
    isa() > Isa::Portable
}

/// Pair-groups handed to one task at least: below this, task overhead
/// outweighs the arithmetic.
const MIN_AMPLITUDES_PER_TASK: usize = 1 << 12;

/// Most lanes of any kernel here.
const MAX_LANES: usize = 8;

/// Where an op's groups lie, as seen by the vectorised kernels. Fixed-size
/// arrays, not vectors: it is built for every op application, which on a
/// 10-qubit state or a cache block costs about a microsecond of arithmetic,
/// and heap allocation here measured as much again.
struct Layout {
    /// Deposit masks over the op's qubits plus the lane qubits.
    mask_buf: [usize; usize::BITS as usize],
    num_masks: usize,
    ctrl_mask: usize,
    /// Offset of each target basis state inside a group.
    offset_buf: [usize; 32],
    num_offsets: usize,
    /// Offset of each lane's group from the register's base group.
    lane: [usize; MAX_LANES],
    lanes: usize,
    /// How many of the lane qubits are qubits `0, 1, ...`: the register is
    /// `2^(P - adjacent)` contiguous pieces of `2^adjacent` amplitudes.
    adjacent: usize,
    /// Number of registers' worth of groups.
    pairs: usize,
    /// Consecutive pair indices whose bases are `LANES` apart (when every
    /// lane qubit is adjacent): the kernels deposit once per run.
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

/// The layout of an op for registers of `2^lane_bits` lanes; `None` for ops
/// wider than 5 qubits or with fewer than `lane_bits` qubits left free.
fn layout(len: usize, targets: &[usize], ctrl_mask: usize, lane_bits: usize) -> Option<Layout> {
    if targets.len() > 5 {
        return None;
    }
    let involved = targets.iter().fold(ctrl_mask, |m, &t| m | (1 << t));
    let mut free = !involved & (len - 1);
    if (free.count_ones() as usize) < lane_bits {
        return None;
    }
    let mut lane_mask = 0usize;
    for _ in 0..lane_bits {
        let low = free & free.wrapping_neg();
        lane_mask |= low;
        free &= !low;
    }
    let lanes = 1usize << lane_bits;
    let mut lane = [0usize; MAX_LANES];
    for (l, slot) in lane[..lanes].iter_mut().enumerate() {
        // Bit i of the lane number on the i-th lowest lane qubit.
        let mut bits = lane_mask;
        for i in 0..lane_bits {
            let low = bits & bits.wrapping_neg();
            if l >> i & 1 == 1 {
                *slot |= low;
            }
            bits &= !low;
        }
    }
    let adjacent = lane_mask.trailing_ones() as usize;
    // As `kernels::insert_masks`: one mask below each involved bit, ascending.
    let mut mask_buf = [0usize; usize::BITS as usize];
    let mut num_masks = 0;
    let mut rest = involved | lane_mask;
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
    let run = if adjacent == lane_bits {
        let lowest_involved =
            (involved.trailing_zeros() as usize).min(len.trailing_zeros() as usize);
        1usize << (lowest_involved - lane_bits)
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
        lane,
        lanes,
        adjacent,
    })
}

/// Runs `kernel` over every pair-group, in chunks, on the current rayon pool
/// when `parallel`. Chunks are fixed by the sizes alone, never by the thread
/// count, and groups are disjoint: the bits do not depend on threading.
fn drive<E: Send + Sync>(
    amps: &mut [E],
    l: &Layout,
    parallel: bool,
    kernel: impl Fn(*mut E, std::ops::Range<usize>) + Sync + Send,
) {
    let per_pair = l.lanes * l.num_offsets;
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

struct SendPtr<E>(*mut E);
impl<E> Clone for SendPtr<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for SendPtr<E> {}
// SAFETY: kernels only touch the amplitudes of their own pair-groups, and
// pair-groups are disjoint.
unsafe impl<E: Send> Send for SendPtr<E> {}
unsafe impl<E: Send> Sync for SendPtr<E> {}
impl<E> SendPtr<E> {
    fn get(self) -> *mut E {
        self.0
    }
}

/// Amplitude types with vectorised kernels. Each call returns `false`,
/// touching nothing, when no kernel of `isa` fits the op on this state (no
/// vector unit, a block wider than 5 qubits, or too few free qubits to fill
/// a register's lanes); the caller then uses the portable kernels.
pub trait Vectorised: Copy + Send + Sync + 'static {
    /// Applies the dense row-major `matrix` on `targets`, controlled on
    /// `ctrl_mask`.
    fn dense(
        isa: Isa,
        amps: &mut [Self],
        targets: &[usize],
        matrix: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool;
    /// Multiplies basis state `j` of `targets` by `diag[j]` (where the
    /// controls are set).
    fn diagonal(
        isa: Isa,
        amps: &mut [Self],
        targets: &[usize],
        diag: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool;
    /// Moves basis state `j` of `targets` to `perm[j]` with factor
    /// `phases[j]` (where the controls are set).
    fn permutation(
        isa: Isa,
        amps: &mut [Self],
        targets: &[usize],
        perm: &[usize],
        phases: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool;
}

/// Destination offset of each source offset of a permutation.
fn destinations(l: &Layout, perm: &[usize]) -> [usize; 32] {
    let mut dest = [0usize; 32];
    for (slot, &j) in dest.iter_mut().zip(perm) {
        *slot = l.offset_buf[j];
    }
    dest
}

fn unit_phases(phases: &[C64]) -> bool {
    phases.iter().all(|&p| p == C64::new(1.0, 0.0))
}

/// Runs `$module::$func(p, range, layout, args...)` for the first of the
/// given kernel modules whose instruction set is allowed and whose layout
/// fits; evaluates to whether one did.
macro_rules! first_fit {
    ($isa:expr, $amps:expr, $targets:expr, $ctrl:expr, $parallel:expr,
     x86: [$(($min:expr, $module:ident)),*], arm: [$(($amin:expr, $amodule:ident)),*],
     $func:ident $args:tt) => {{
        #[allow(unused_mut)]
        let mut done = false;
        #[cfg(target_arch = "x86_64")]
        {
            $(first_fit!(@try done, $isa, $min, $module, $amps, $targets, $ctrl, $parallel, $func, $args);)*
        }
        #[cfg(target_arch = "aarch64")]
        {
            $(first_fit!(@try done, $isa, $amin, $amodule, $amps, $targets, $ctrl, $parallel, $func, $args);)*
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = ($isa, &$amps, $targets, $ctrl, $parallel, &$args);
        done
    }};
    (@try $done:ident, $isa:expr, $min:expr, $module:ident, $amps:expr, $targets:expr,
     $ctrl:expr, $parallel:expr, $func:ident, $args:tt) => {
        if !$done
            && $isa >= $min
            && let Some(l) = layout($amps.len(), $targets, $ctrl, $module::LANE_BITS)
        {
            drive($amps, &l, $parallel, |p, range| {
                // SAFETY: the module's instruction set is present (`isa()`
                // detected it), and the range only covers pair-groups of this
                // state, which no other task touches.
                unsafe { first_fit!(@call $module, $func, p, range, &l, $args) }
            });
            $done = true;
        }
    };
    (@call $module:ident, $func:ident, $p:ident, $range:ident, $l:expr, ($($arg:expr),*)) => {
        $module::$func($p, $range, $l, $($arg),*)
    };
}

impl Vectorised for C64 {
    fn dense(
        isa: Isa,
        amps: &mut [C64],
        targets: &[usize],
        matrix: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        first_fit!(
            isa,
            amps,
            targets,
            ctrl_mask,
            parallel,
            x86: [(Isa::Avx512, avx512_f64), (Isa::Avx2, avx2_f64)], arm: [(Isa::Neon, neon_f64)],
            dense(matrix)
        )
    }
    fn diagonal(
        isa: Isa,
        amps: &mut [C64],
        targets: &[usize],
        diag: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        first_fit!(
            isa,
            amps,
            targets,
            ctrl_mask,
            parallel,
            x86: [(Isa::Avx512, avx512_f64), (Isa::Avx2, avx2_f64)], arm: [(Isa::Neon, neon_f64)],
            diagonal(diag)
        )
    }
    fn permutation(
        isa: Isa,
        amps: &mut [C64],
        targets: &[usize],
        perm: &[usize],
        phases: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        let unit = unit_phases(phases);
        first_fit!(
            isa,
            amps,
            targets,
            ctrl_mask,
            parallel,
            x86: [(Isa::Avx512, avx512_f64), (Isa::Avx2, avx2_f64)], arm: [(Isa::Neon, neon_f64)],
            permutation(perm, phases, unit)
        )
    }
}

/// Coefficients rounded to complex64 once per op application, not once per
/// use in the inner loop (`N` covers a 5-qubit matrix).
fn narrowed<const N: usize>(src: &[C64]) -> [C32; N] {
    let mut out = [C32::new(0.0, 0.0); N];
    for (o, z) in out.iter_mut().zip(src) {
        *o = C32::new(z.re as f32, z.im as f32);
    }
    out
}

impl Vectorised for C32 {
    fn dense(
        isa: Isa,
        amps: &mut [C32],
        targets: &[usize],
        matrix: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        if isa == Isa::Portable || targets.len() > 5 {
            return false;
        }
        // Rounded into a buffer the size of the matrix: a 5-qubit one is 8 KiB,
        // which would cost a 1-qubit gate on a small state more than the gate.
        match targets.len() {
            0 | 1 => dense_single(
                isa,
                amps,
                targets,
                &narrowed::<4>(matrix),
                ctrl_mask,
                parallel,
            ),
            2 => dense_single(
                isa,
                amps,
                targets,
                &narrowed::<16>(matrix),
                ctrl_mask,
                parallel,
            ),
            3 => dense_single(
                isa,
                amps,
                targets,
                &narrowed::<64>(matrix),
                ctrl_mask,
                parallel,
            ),
            4 => dense_single(
                isa,
                amps,
                targets,
                &narrowed::<256>(matrix),
                ctrl_mask,
                parallel,
            ),
            _ => dense_single(
                isa,
                amps,
                targets,
                &narrowed::<1024>(matrix),
                ctrl_mask,
                parallel,
            ),
        }
    }
    fn diagonal(
        isa: Isa,
        amps: &mut [C32],
        targets: &[usize],
        diag: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        if isa == Isa::Portable || targets.len() > 5 {
            return false;
        }
        let d = narrowed::<32>(diag);
        first_fit!(
            isa,
            amps,
            targets,
            ctrl_mask,
            parallel,
            x86: [
                (Isa::Avx512, avx512_f32x8),
                (Isa::Avx512, avx512_f32),
                (Isa::Avx2, avx2_f32)
            ],
            arm: [(Isa::Neon, neon_f32)],
            diagonal(&d)
        )
    }
    fn permutation(
        isa: Isa,
        amps: &mut [C32],
        targets: &[usize],
        perm: &[usize],
        phases: &[C64],
        ctrl_mask: usize,
        parallel: bool,
    ) -> bool {
        if isa == Isa::Portable || targets.len() > 5 {
            return false;
        }
        let unit = unit_phases(phases);
        let ph = narrowed::<32>(phases);
        first_fit!(
            isa,
            amps,
            targets,
            ctrl_mask,
            parallel,
            x86: [
                (Isa::Avx512, avx512_f32x8),
                (Isa::Avx512, avx512_f32),
                (Isa::Avx2, avx2_f32)
            ],
            arm: [(Isa::Neon, neon_f32)],
            permutation(perm, &ph, unit)
        )
    }
}

/// Runs `$body` with `$base` bound to the base address of every pair-group
/// in `$range` (bases `LANES` apart within a run when `$full`). A macro, not
/// a closure, so that the body is compiled with the calling function's
/// target features.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! for_each_base {
    ($full:expr, $range:expr, $l:expr, |$base:ident| $body:block) => {{
        let (range, l) = ($range, $l);
        if $full && l.run > 1 {
            let mut g = range.start;
            while g < range.end {
                let first = deposit(g, l.masks()) | l.ctrl_mask;
                let len = (l.run - (g & (l.run - 1))).min(range.end - g);
                for j in 0..len {
                    let $base = first + LANES * j;
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

/// Calls `$func::<D, A>(args)` for the layout's width `D` and lane
/// adjacency `A` (monomorphised: the inner loops unroll over `D`).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! by_shape {
    ($func:ident, $l:expr, $args:tt) => {
        match ($l.num_offsets, $l.adjacent) {
            (1, 0) => by_shape!(@call $func, 1, 0, $args),
            (1, 1) => by_shape!(@call $func, 1, 1, $args),
            (1, 2) => by_shape!(@call $func, 1, 2, $args),
            (1, _) => by_shape!(@call $func, 1, 3, $args),
            (2, 0) => by_shape!(@call $func, 2, 0, $args),
            (2, 1) => by_shape!(@call $func, 2, 1, $args),
            (2, 2) => by_shape!(@call $func, 2, 2, $args),
            (2, _) => by_shape!(@call $func, 2, 3, $args),
            (4, 0) => by_shape!(@call $func, 4, 0, $args),
            (4, 1) => by_shape!(@call $func, 4, 1, $args),
            (4, 2) => by_shape!(@call $func, 4, 2, $args),
            (4, _) => by_shape!(@call $func, 4, 3, $args),
            (8, 0) => by_shape!(@call $func, 8, 0, $args),
            (8, 1) => by_shape!(@call $func, 8, 1, $args),
            (8, 2) => by_shape!(@call $func, 8, 2, $args),
            (8, _) => by_shape!(@call $func, 8, 3, $args),
            (16, 0) => by_shape!(@call $func, 16, 0, $args),
            (16, 1) => by_shape!(@call $func, 16, 1, $args),
            (16, 2) => by_shape!(@call $func, 16, 2, $args),
            (16, _) => by_shape!(@call $func, 16, 3, $args),
            (_, 0) => by_shape!(@call $func, 32, 0, $args),
            (_, 1) => by_shape!(@call $func, 32, 1, $args),
            (_, 2) => by_shape!(@call $func, 32, 2, $args),
            (_, _) => by_shape!(@call $func, 32, 3, $args),
        }
    };
    (@call $func:ident, $d:literal, $a:literal, ($($arg:expr),*)) => {
        $func::<$d, $a>($($arg),*)
    };
}

/// The kernels of one instruction set and precision, written once over a
/// module's vector primitives: `V` (a register), `E` (an amplitude),
/// `LANE_BITS`, `zero`, `splat`, `mul`, `fmadd`, `swap` (re <-> im),
/// `addsub` (even lanes `a - b`, odd `a + b`), `fmaddsub`, and
/// `load::<A>` / `store::<A>` of a register whose lanes have `A` adjacent
/// qubits.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! vector_kernels {
    ($feature:literal) => {
        const LANES: usize = 1 << LANE_BITS;

        /// # Safety
        /// The module's instruction set is available; `range` holds
        /// pair-groups of `l` that lie inside the state at `p` and that no
        /// other thread touches; `m` holds the `D x D` matrix.
        pub(super) unsafe fn dense(p: *mut E, range: Range<usize>, l: &Layout, m: &[E]) {
            // SAFETY: (caller).
            unsafe { by_shape!(dense_k, l, (p, range, l, m)) }
        }

        #[target_feature(enable = $feature)]
        unsafe fn dense_k<const D: usize, const A: usize>(
            p: *mut E,
            range: Range<usize>,
            l: &Layout,
            m: &[E],
        ) {
            let offsets: &[usize; D] = l.offsets().try_into().expect("D offsets");
            let m = &m[..D * D];
            for_each_base!(A >= LANE_BITS, range, l, |base| {
                let mut v = [zero(); D];
                for c in 0..D {
                    // SAFETY: (caller) the group's amplitudes are in the state.
                    v[c] = unsafe { load::<A>(p, base | offsets[c], l) };
                }
                for (r, &off) in offsets.iter().enumerate() {
                    let row = r * D;
                    // a = sum re(m) v, b = sum im(m) v; then m v = addsub(a,
                    // swap(b)). Swapping the sum instead of every v (the
                    // lanes are independent, so the bits are the same) keeps
                    // only the D inputs in registers, not 2D: a 4-qubit
                    // block's 16 fit in AVX-512's 32 registers, a 3-qubit
                    // block's 8 in AVX2's 16.
                    let mut a = mul(splat(m[row].re), v[0]);
                    let mut b = mul(splat(m[row].im), v[0]);
                    for c in 1..D {
                        a = fmadd(splat(m[row + c].re), v[c], a);
                        b = fmadd(splat(m[row + c].im), v[c], b);
                    }
                    // SAFETY: as for the loads.
                    unsafe { store::<A>(p, base | off, l, addsub(a, swap(b))) };
                }
            });
        }

        /// # Safety
        /// As for [`dense`], with `d` holding the diagonal.
        pub(super) unsafe fn diagonal(p: *mut E, range: Range<usize>, l: &Layout, d: &[E]) {
            // SAFETY: (caller).
            unsafe { by_shape!(diagonal_k, l, (p, range, l, d)) }
        }

        #[target_feature(enable = $feature)]
        unsafe fn diagonal_k<const D: usize, const A: usize>(
            p: *mut E,
            range: Range<usize>,
            l: &Layout,
            d: &[E],
        ) {
            let offsets: &[usize; D] = l.offsets().try_into().expect("D offsets");
            for_each_base!(A >= LANE_BITS, range, l, |base| {
                for (&off, z) in offsets.iter().zip(d) {
                    // SAFETY: (caller) the group's amplitudes are in the state.
                    unsafe {
                        let v = load::<A>(p, base | off, l);
                        let b = mul(splat(z.im), swap(v));
                        store::<A>(p, base | off, l, fmaddsub(splat(z.re), v, b));
                    }
                }
            });
        }

        /// # Safety
        /// As for [`dense`]; `perm` maps each target basis state to its
        /// destination, a permutation, and `phases` holds its factors.
        pub(super) unsafe fn permutation(
            p: *mut E,
            range: Range<usize>,
            l: &Layout,
            perm: &[usize],
            phases: &[E],
            unit: bool,
        ) {
            let dest = destinations(l, perm);
            // SAFETY: (caller).
            unsafe {
                if unit {
                    by_shape!(permutation_k, l, (p, range.clone(), l, &dest, phases, true))
                } else {
                    by_shape!(
                        permutation_k,
                        l,
                        (p, range.clone(), l, &dest, phases, false)
                    )
                }
            }
        }

        #[target_feature(enable = $feature)]
        unsafe fn permutation_k<const D: usize, const A: usize>(
            p: *mut E,
            range: Range<usize>,
            l: &Layout,
            dest: &[usize; 32],
            phases: &[E],
            unit: bool,
        ) {
            let offsets: &[usize; D] = l.offsets().try_into().expect("D offsets");
            let mut v = [zero(); D];
            for_each_base!(A >= LANE_BITS, range, l, |base| {
                for (j, &off) in offsets.iter().enumerate() {
                    // SAFETY: (caller) the group's amplitudes are in the state.
                    v[j] = unsafe { load::<A>(p, base | off, l) };
                }
                for j in 0..D {
                    let out = if unit {
                        v[j]
                    } else {
                        let b = mul(splat(phases[j].im), swap(v[j]));
                        fmaddsub(splat(phases[j].re), v[j], b)
                    };
                    // SAFETY: as for the loads.
                    unsafe { store::<A>(p, base | dest[j], l, out) };
                }
            });
        }
    };
}

/// [`Vectorised::dense`] for complex64 with the matrix already rounded.
fn dense_single(
    isa: Isa,
    amps: &mut [C32],
    targets: &[usize],
    m: &[C32],
    ctrl_mask: usize,
    parallel: bool,
) -> bool {
    first_fit!(
        isa,
        amps,
        targets,
        ctrl_mask,
        parallel,
        x86: [
            (Isa::Avx512, avx512_f32x8),
            (Isa::Avx512, avx512_f32),
            (Isa::Avx2, avx2_f32)
        ],
        arm: [(Isa::Neon, neon_f32)],
        dense(m)
    )
}

/// A module's element-wise primitives, one intrinsic each: `zero`, `splat`,
/// `mul`, `fmadd` (`a * b + c`) and `fmaddsub` (`a * b -/+ c`, real part
/// first).
#[cfg(target_arch = "x86_64")]
macro_rules! elementwise {
    ($feature:literal, $scalar:ty, $zero:ident, $set1:ident, $mul:ident, $fmadd:ident,
     $fmaddsub:ident) => {
        #[inline]
        #[target_feature(enable = $feature)]
        fn zero() -> V {
            $zero()
        }
        #[inline]
        #[target_feature(enable = $feature)]
        fn splat(x: $scalar) -> V {
            $set1(x)
        }
        #[inline]
        #[target_feature(enable = $feature)]
        fn mul(a: V, b: V) -> V {
            $mul(a, b)
        }
        #[inline]
        #[target_feature(enable = $feature)]
        fn fmadd(a: V, b: V, c: V) -> V {
            $fmadd(a, b, c)
        }
        #[inline]
        #[target_feature(enable = $feature)]
        fn fmaddsub(a: V, b: V, c: V) -> V {
            $fmaddsub(a, b, c)
        }
    };
}

/// The NEON modules' element-wise primitives: those of [`elementwise!`],
/// plus `addsub` (`a -/+ b`). NEON has no add-subtract, so both multiply by
/// `SIGN` (-1 in real parts, +1 in imaginary ones), which the module defines.
#[cfg(target_arch = "aarch64")]
macro_rules! neon_elementwise {
    ($scalar:ty, $dup:ident, $load:ident, $mul:ident, $fma:ident, $add:ident) => {
        #[inline]
        #[target_feature(enable = "neon")]
        fn zero() -> V {
            $dup(0.0)
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn splat(x: $scalar) -> V {
            $dup(x)
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn mul(a: V, b: V) -> V {
            $mul(a, b)
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn fmadd(a: V, b: V, c: V) -> V {
            $fma(c, a, b)
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn sign() -> V {
            // SAFETY: SIGN fills one register.
            unsafe { $load(SIGN.as_ptr()) }
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn fmaddsub(a: V, b: V, c: V) -> V {
            $fma($mul(c, sign()), a, b)
        }
        #[inline]
        #[target_feature(enable = "neon")]
        fn addsub(a: V, b: V) -> V {
            $add(a, $mul(b, sign()))
        }
    };
}

/// Complex128, two lanes in a 256-bit register.
#[cfg(target_arch = "x86_64")]
mod avx2_f64 {
    use super::{C64 as E, Layout, deposit, destinations};
    use std::arch::x86_64::*;
    use std::ops::Range;

    pub(super) const LANE_BITS: usize = 1;
    type V = __m256d;

    elementwise!(
        "avx2,fma",
        f64,
        _mm256_setzero_pd,
        _mm256_set1_pd,
        _mm256_mul_pd,
        _mm256_fmadd_pd,
        _mm256_fmaddsub_pd
    );
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn addsub(a: V, b: V) -> V {
        _mm256_addsub_pd(a, b)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn swap(v: V) -> V {
        _mm256_permute_pd(v, 0b0101)
    }
    /// # Safety
    /// Every lane's amplitude `a + l.lane[i]` is inside the state at `p`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load<const A: usize>(p: *const E, a: usize, l: &Layout) -> V {
        unsafe {
            if A >= 1 {
                _mm256_loadu_pd(p.add(a) as *const f64)
            } else {
                _mm256_loadu2_m128d(p.add(a + l.lane[1]) as *const f64, p.add(a) as *const f64)
            }
        }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store<const A: usize>(p: *mut E, a: usize, l: &Layout, v: V) {
        unsafe {
            if A >= 1 {
                _mm256_storeu_pd(p.add(a) as *mut f64, v)
            } else {
                _mm256_storeu2_m128d(p.add(a + l.lane[1]) as *mut f64, p.add(a) as *mut f64, v)
            }
        }
    }

    vector_kernels!("avx2,fma");
}

/// Complex128, four lanes in a 512-bit register.
#[cfg(target_arch = "x86_64")]
mod avx512_f64 {
    use super::{C64 as E, Layout, deposit, destinations};
    use std::arch::x86_64::*;
    use std::ops::Range;

    pub(super) const LANE_BITS: usize = 2;
    type V = __m512d;

    elementwise!(
        "avx512f,avx2,fma",
        f64,
        _mm512_setzero_pd,
        _mm512_set1_pd,
        _mm512_mul_pd,
        _mm512_fmadd_pd,
        _mm512_fmaddsub_pd
    );
    /// AVX-512 has no addsub: `a * 1 -/+ b` rounds exactly as `a -/+ b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn addsub(a: V, b: V) -> V {
        _mm512_fmaddsub_pd(a, _mm512_set1_pd(1.0), b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn swap(v: V) -> V {
        _mm512_permute_pd(v, 0b0101_0101)
    }
    /// # Safety
    /// Every lane's amplitude `a + l.lane[i]` is inside the state at `p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn load<const A: usize>(p: *const E, a: usize, l: &Layout) -> V {
        unsafe {
            let at = |i: usize| p.add(a + l.lane[i]) as *const f64;
            match A {
                0 => {
                    let lo = _mm256_loadu2_m128d(at(1), at(0));
                    let hi = _mm256_loadu2_m128d(at(3), at(2));
                    _mm512_insertf64x4(_mm512_castpd256_pd512(lo), hi, 1)
                }
                1 => _mm512_insertf64x4(
                    _mm512_castpd256_pd512(_mm256_loadu_pd(at(0))),
                    _mm256_loadu_pd(at(2)),
                    1,
                ),
                _ => _mm512_loadu_pd(at(0)),
            }
        }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store<const A: usize>(p: *mut E, a: usize, l: &Layout, v: V) {
        unsafe {
            let at = |i: usize| p.add(a + l.lane[i]) as *mut f64;
            match A {
                0 => {
                    let (lo, hi) = (_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
                    _mm256_storeu2_m128d(at(1), at(0), lo);
                    _mm256_storeu2_m128d(at(3), at(2), hi);
                }
                1 => {
                    _mm256_storeu_pd(at(0), _mm512_castpd512_pd256(v));
                    _mm256_storeu_pd(at(2), _mm512_extractf64x4_pd(v, 1));
                }
                _ => _mm512_storeu_pd(at(0), v),
            }
        }
    }

    vector_kernels!("avx512f,avx2,fma");
}

/// Complex64 in 256-bit registers of four lanes, computed in f32: the
/// primitives and kernels for the instruction set `$feature`.
#[cfg(target_arch = "x86_64")]
macro_rules! f32_in_256_bits {
    ($feature:literal) => {
        pub(super) const LANE_BITS: usize = 2;
        type V = __m256;

        elementwise!(
            $feature,
            f32,
            _mm256_setzero_ps,
            _mm256_set1_ps,
            _mm256_mul_ps,
            _mm256_fmadd_ps,
            _mm256_fmaddsub_ps
        );
        #[inline]
        #[target_feature(enable = $feature)]
        fn addsub(a: V, b: V) -> V {
            _mm256_addsub_ps(a, b)
        }
        #[inline]
        #[target_feature(enable = $feature)]
        fn swap(v: V) -> V {
            _mm256_permute_ps(v, 0b1011_0001)
        }
        /// # Safety
        /// Every lane's amplitude `a + l.lane[i]` is inside the state at `p`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn load<const A: usize>(p: *const E, a: usize, l: &Layout) -> V {
            unsafe {
                let at = |i: usize| p.add(a + l.lane[i]);
                match A {
                    0 => {
                        // One complex64 is one 8-byte double's worth of bits.
                        let lo =
                            _mm_loadh_pd(_mm_load_sd(at(0) as *const f64), at(1) as *const f64);
                        let hi =
                            _mm_loadh_pd(_mm_load_sd(at(2) as *const f64), at(3) as *const f64);
                        _mm256_castpd_ps(_mm256_set_m128d(hi, lo))
                    }
                    1 => _mm256_loadu2_m128(at(2) as *const f32, at(0) as *const f32),
                    _ => _mm256_loadu_ps(at(0) as *const f32),
                }
            }
        }
        /// # Safety
        /// As for [`load`].
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn store<const A: usize>(p: *mut E, a: usize, l: &Layout, v: V) {
            unsafe {
                let at = |i: usize| p.add(a + l.lane[i]);
                match A {
                    0 => {
                        let v = _mm256_castps_pd(v);
                        let (lo, hi) = (_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
                        _mm_storel_pd(at(0) as *mut f64, lo);
                        _mm_storeh_pd(at(1) as *mut f64, lo);
                        _mm_storel_pd(at(2) as *mut f64, hi);
                        _mm_storeh_pd(at(3) as *mut f64, hi);
                    }
                    1 => _mm256_storeu2_m128(at(2) as *mut f32, at(0) as *mut f32, v),
                    _ => _mm256_storeu_ps(at(0) as *mut f32, v),
                }
            }
        }

        vector_kernels!($feature);
    };
}

/// Complex64, four lanes in a 256-bit register, computed in f32.
#[cfg(target_arch = "x86_64")]
mod avx2_f32 {
    use super::{C32 as E, Layout, deposit, destinations};
    use std::arch::x86_64::*;
    use std::ops::Range;

    f32_in_256_bits!("avx2,fma");
}

/// As [`avx2_f32`], compiled for AVX-512VL: the same 256-bit instructions,
/// with 32 registers instead of 16, so that a 4- or 5-qubit block's
/// amplitudes stay in registers instead of spilling to the stack.
#[cfg(target_arch = "x86_64")]
mod avx512_f32 {
    use super::{C32 as E, Layout, deposit, destinations};
    use std::arch::x86_64::*;
    use std::ops::Range;

    f32_in_256_bits!("avx512f,avx512vl,avx2,fma");
}

/// Complex64, eight lanes in a 512-bit register, computed in f32 (needs
/// three free qubits; [`avx512_f32`] takes the ops that leave fewer).
#[cfg(target_arch = "x86_64")]
mod avx512_f32x8 {
    use super::{C32 as E, Layout, deposit, destinations};
    use std::arch::x86_64::*;
    use std::ops::Range;

    pub(super) const LANE_BITS: usize = 3;
    type V = __m512;

    elementwise!(
        "avx512f,avx2,fma",
        f32,
        _mm512_setzero_ps,
        _mm512_set1_ps,
        _mm512_mul_ps,
        _mm512_fmadd_ps,
        _mm512_fmaddsub_ps
    );
    /// As in [`super::avx512_f64`]: `a * 1 -/+ b` rounds as `a -/+ b`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn addsub(a: V, b: V) -> V {
        _mm512_fmaddsub_ps(a, _mm512_set1_ps(1.0), b)
    }
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    fn swap(v: V) -> V {
        _mm512_permute_ps(v, 0b1011_0001)
    }
    /// Lanes `first..first + 4` as one 256-bit register (one complex64 is a
    /// double's worth of bits).
    ///
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn load_quarter<const A: usize>(
        at: impl Fn(usize) -> *const f64,
        first: usize,
    ) -> __m256d {
        unsafe {
            match A {
                0 => {
                    let lo = _mm_loadh_pd(_mm_load_sd(at(first)), at(first + 1));
                    let hi = _mm_loadh_pd(_mm_load_sd(at(first + 2)), at(first + 3));
                    _mm256_set_m128d(hi, lo)
                }
                1 => _mm256_loadu2_m128d(at(first + 2), at(first)),
                _ => _mm256_loadu_pd(at(first)),
            }
        }
    }
    /// # Safety
    /// Every lane's amplitude `a + l.lane[i]` is inside the state at `p`.
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn load<const A: usize>(p: *const E, a: usize, l: &Layout) -> V {
        unsafe {
            let at = |i: usize| p.add(a + l.lane[i]) as *const f64;
            if A >= 3 {
                return _mm512_loadu_ps(at(0) as *const f32);
            }
            let lo = load_quarter::<A>(at, 0);
            let hi = load_quarter::<A>(at, 4);
            _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(lo), hi, 1))
        }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store_quarter<const A: usize>(
        at: impl Fn(usize) -> *mut f64,
        first: usize,
        v: __m256d,
    ) {
        unsafe {
            match A {
                0 => {
                    let (lo, hi) = (_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
                    _mm_storel_pd(at(first), lo);
                    _mm_storeh_pd(at(first + 1), lo);
                    _mm_storel_pd(at(first + 2), hi);
                    _mm_storeh_pd(at(first + 3), hi);
                }
                1 => _mm256_storeu2_m128d(at(first + 2), at(first), v),
                _ => _mm256_storeu_pd(at(first), v),
            }
        }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn store<const A: usize>(p: *mut E, a: usize, l: &Layout, v: V) {
        unsafe {
            let at = |i: usize| p.add(a + l.lane[i]) as *mut f64;
            if A >= 3 {
                return _mm512_storeu_ps(at(0) as *mut f32, v);
            }
            let v = _mm512_castps_pd(v);
            store_quarter::<A>(at, 0, _mm512_castpd512_pd256(v));
            store_quarter::<A>(at, 4, _mm512_extractf64x4_pd(v, 1));
        }
    }

    vector_kernels!("avx512f,avx2,fma");
}

/// Complex128, one per 128-bit NEON register (no lanes to pair: every group
/// is its own register).
#[cfg(target_arch = "aarch64")]
mod neon_f64 {
    use super::{C64 as E, Layout, deposit, destinations};
    use std::arch::aarch64::*;
    use std::ops::Range;

    pub(super) const LANE_BITS: usize = 0;
    type V = float64x2_t;
    /// Multiplies the real part by -1: what AVX's addsub does with its sign.
    const SIGN: [f64; 2] = [-1.0, 1.0];

    neon_elementwise!(f64, vdupq_n_f64, vld1q_f64, vmulq_f64, vfmaq_f64, vaddq_f64);

    #[inline]
    #[target_feature(enable = "neon")]
    fn swap(v: V) -> V {
        vextq_f64::<1>(v, v)
    }
    /// # Safety
    /// The amplitude at `a` is inside the state at `p`.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn load<const A: usize>(p: *const E, a: usize, _: &Layout) -> V {
        unsafe { vld1q_f64(p.add(a) as *const f64) }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn store<const A: usize>(p: *mut E, a: usize, _: &Layout, v: V) {
        unsafe { vst1q_f64(p.add(a) as *mut f64, v) }
    }

    vector_kernels!("neon");
}

/// Complex64, two lanes in a 128-bit NEON register, computed in f32.
#[cfg(target_arch = "aarch64")]
mod neon_f32 {
    use super::{C32 as E, Layout, deposit, destinations};
    use std::arch::aarch64::*;
    use std::ops::Range;

    pub(super) const LANE_BITS: usize = 1;
    type V = float32x4_t;
    const SIGN: [f32; 4] = [-1.0, 1.0, -1.0, 1.0];

    neon_elementwise!(f32, vdupq_n_f32, vld1q_f32, vmulq_f32, vfmaq_f32, vaddq_f32);

    #[inline]
    #[target_feature(enable = "neon")]
    fn swap(v: V) -> V {
        vrev64q_f32(v)
    }
    /// # Safety
    /// Both lanes' amplitudes `a + l.lane[i]` are inside the state at `p`.
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn load<const A: usize>(p: *const E, a: usize, l: &Layout) -> V {
        unsafe {
            if A >= 1 {
                vld1q_f32(p.add(a) as *const f32)
            } else {
                vcombine_f32(
                    vld1_f32(p.add(a) as *const f32),
                    vld1_f32(p.add(a + l.lane[1]) as *const f32),
                )
            }
        }
    }
    /// # Safety
    /// As for [`load`].
    #[inline]
    #[target_feature(enable = "neon")]
    unsafe fn store<const A: usize>(p: *mut E, a: usize, l: &Layout, v: V) {
        unsafe {
            if A >= 1 {
                vst1q_f32(p.add(a) as *mut f32, v)
            } else {
                vst1_f32(p.add(a) as *mut f32, vget_low_f32(v));
                vst1_f32(p.add(a + l.lane[1]) as *mut f32, vget_high_f32(v));
            }
        }
    }

    vector_kernels!("neon");
}
