//! Gate kernels over a statevector, specialised by structure.
//!
//! A gate is compiled once into an [`Op`]: the control qubits become a bit
//! mask, and the matrix on the target qubits is classified as diagonal,
//! permutation-with-phases or dense. Each class has its own loop, so a CZ only
//! touches a quarter of the amplitudes and multiplies them by -1, and an X
//! only moves amplitudes, where a generic matrix kernel would do a full
//! complex matrix-vector product over every amplitude.
//!
//! Every kernel is element-wise over disjoint groups of amplitudes, so the
//! result is bit-for-bit the same whether it runs on one thread or many.

use crate::circuit::gates::GateKind;
use crate::circuit::matrix::{Matrix, Structure};
use crate::sim::simd;
use num_complex::Complex64 as C64;
use rayon::prelude::*;

/// Smallest number of amplitude groups handed to one rayon task: below this
/// the task overhead costs more than the arithmetic it spreads.
const MIN_GROUPS_PER_TASK: usize = 1 << 11;

/// A gate compiled for the kernels.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// 2x2 matrix (row-major) on `target`, where all `ctrl_mask` bits are set.
    Dense1 {
        target: usize,
        m: [C64; 4],
        ctrl_mask: usize,
    },
    /// diag(d0, d1) on `target`, where all `ctrl_mask` bits are set.
    Diag1 {
        target: usize,
        d: [C64; 2],
        ctrl_mask: usize,
    },
    /// X with phases: new|1> = p0 * old|0>, new|0> = p1 * old|1>.
    Flip1 {
        target: usize,
        p: [C64; 2],
        ctrl_mask: usize,
    },
    /// Dense `2^k x 2^k` matrix on `targets` (little endian).
    DenseK {
        targets: Vec<usize>,
        matrix: Vec<C64>,
        ctrl_mask: usize,
    },
    DiagK {
        targets: Vec<usize>,
        diag: Vec<C64>,
        ctrl_mask: usize,
    },
    /// Basis state `j` of the targets goes to `perm[j]` times `phases[j]`.
    PermK {
        targets: Vec<usize>,
        perm: Vec<usize>,
        phases: Vec<C64>,
        ctrl_mask: usize,
    },
}

impl Op {
    /// Compiles `matrix` acting on `targets`, controlled on `controls` being 1.
    pub fn from_matrix(matrix: &Matrix, targets: &[usize], controls: &[usize]) -> Op {
        let ctrl_mask = controls.iter().fold(0usize, |m, &c| m | (1 << c));
        let structure = matrix.structure();
        if targets.len() == 1 {
            let target = targets[0];
            return match structure {
                Structure::Diagonal(d) => Op::Diag1 {
                    target,
                    d: [d[0], d[1]],
                    ctrl_mask,
                },
                Structure::Permutation { perm, phases } if perm[0] == 1 => Op::Flip1 {
                    target,
                    p: [phases[0], phases[1]],
                    ctrl_mask,
                },
                _ => {
                    let d = matrix.data();
                    Op::Dense1 {
                        target,
                        m: [d[0], d[1], d[2], d[3]],
                        ctrl_mask,
                    }
                }
            };
        }
        let targets = targets.to_vec();
        match structure {
            Structure::Diagonal(diag) => Op::DiagK {
                targets,
                diag,
                ctrl_mask,
            },
            Structure::Permutation { perm, phases } => Op::PermK {
                targets,
                perm,
                phases,
                ctrl_mask,
            },
            Structure::Dense => Op::DenseK {
                targets,
                matrix: matrix.data().to_vec(),
                ctrl_mask,
            },
        }
    }

    /// Compiles a named gate; `None` for gates that do nothing (id).
    pub fn from_gate(kind: GateKind, qubits: &[usize], params: &[f64]) -> Option<Op> {
        if kind == GateKind::Id {
            return None;
        }
        let nc = kind.num_controls(qubits.len());
        let matrix = kind.base_matrix(params);
        Some(Op::from_matrix(&matrix, &qubits[nc..], &qubits[..nc]))
    }

    /// Target qubits, in the order the matrix is written over them.
    pub fn targets(&self) -> &[usize] {
        match self {
            Op::Dense1 { target, .. } | Op::Diag1 { target, .. } | Op::Flip1 { target, .. } => {
                std::slice::from_ref(target)
            }
            Op::DenseK { targets, .. } | Op::DiagK { targets, .. } | Op::PermK { targets, .. } => {
                targets
            }
        }
    }

    pub fn ctrl_mask(&self) -> usize {
        match self {
            Op::Dense1 { ctrl_mask, .. }
            | Op::Diag1 { ctrl_mask, .. }
            | Op::Flip1 { ctrl_mask, .. }
            | Op::DenseK { ctrl_mask, .. }
            | Op::DiagK { ctrl_mask, .. }
            | Op::PermK { ctrl_mask, .. } => *ctrl_mask,
        }
    }

    /// The same op with the controls in `satisfied` dropped: for a caller
    /// that only hands it amplitudes where those controls are already 1.
    pub fn without_controls(&self, satisfied: usize) -> Op {
        let mut op = self.clone();
        match &mut op {
            Op::Dense1 { ctrl_mask, .. }
            | Op::Diag1 { ctrl_mask, .. }
            | Op::Flip1 { ctrl_mask, .. }
            | Op::DenseK { ctrl_mask, .. }
            | Op::DiagK { ctrl_mask, .. }
            | Op::PermK { ctrl_mask, .. } => *ctrl_mask &= !satisfied,
        }
        op
    }

    /// Bit mask of every qubit the op reads: targets and controls.
    pub fn qubit_mask(&self) -> usize {
        self.targets()
            .iter()
            .fold(self.ctrl_mask(), |m, &t| m | (1 << t))
    }

    /// The same op with every qubit `q` renamed `map[q]`: how an op on the
    /// full state is moved onto a cache block whose qubits are renumbered.
    pub fn remap(&self, map: &[usize]) -> Op {
        let mask = |m: usize| {
            (0..usize::BITS as usize)
                .filter(|b| m >> b & 1 == 1)
                .fold(0usize, |acc, b| acc | (1 << map[b]))
        };
        let many = |ts: &[usize]| ts.iter().map(|&t| map[t]).collect::<Vec<_>>();
        match self {
            Op::Dense1 {
                target,
                m,
                ctrl_mask,
            } => Op::Dense1 {
                target: map[*target],
                m: *m,
                ctrl_mask: mask(*ctrl_mask),
            },
            Op::Diag1 {
                target,
                d,
                ctrl_mask,
            } => Op::Diag1 {
                target: map[*target],
                d: *d,
                ctrl_mask: mask(*ctrl_mask),
            },
            Op::Flip1 {
                target,
                p,
                ctrl_mask,
            } => Op::Flip1 {
                target: map[*target],
                p: *p,
                ctrl_mask: mask(*ctrl_mask),
            },
            Op::DenseK {
                targets,
                matrix,
                ctrl_mask,
            } => Op::DenseK {
                targets: many(targets),
                matrix: matrix.clone(),
                ctrl_mask: mask(*ctrl_mask),
            },
            Op::DiagK {
                targets,
                diag,
                ctrl_mask,
            } => Op::DiagK {
                targets: many(targets),
                diag: diag.clone(),
                ctrl_mask: mask(*ctrl_mask),
            },
            Op::PermK {
                targets,
                perm,
                phases,
                ctrl_mask,
            } => Op::PermK {
                targets: many(targets),
                perm: perm.clone(),
                phases: phases.clone(),
                ctrl_mask: mask(*ctrl_mask),
            },
        }
    }

    /// Applies the op to `amps` (length `2^n`). `parallel` spreads the work
    /// over the current rayon pool.
    pub fn apply(&self, amps: &mut [C64], parallel: bool) {
        self.apply_with_isa(amps, parallel, simd::isa());
    }

    /// [`Op::apply`], with the vectorised kernels (where they exist and fit)
    /// or only the portable ones.
    pub fn apply_with(&self, amps: &mut [C64], parallel: bool, vectorised: bool) {
        let isa = if vectorised {
            simd::isa()
        } else {
            simd::Isa::Portable
        };
        self.apply_with_isa(amps, parallel, isa);
    }

    /// [`Op::apply`] with the kernels of `isa` at most (which must be
    /// present on this machine: see [`simd::isa`]).
    pub fn apply_with_isa(&self, amps: &mut [C64], parallel: bool, isa: simd::Isa) {
        if self.apply_vectorised(isa, amps, parallel) {
            return;
        }
        match self {
            Op::Dense1 {
                target,
                m,
                ctrl_mask: 0,
            } => dense1_uncontrolled(amps, *target, *m, parallel),
            Op::Dense1 {
                target,
                m,
                ctrl_mask,
            } => {
                let (t, m) = (1usize << target, *m);
                for_each_group(amps, &[*target], *ctrl_mask, parallel, move |a, base| {
                    // SAFETY: `base` and `base | t` belong to this group only.
                    unsafe {
                        let (x, y) = (a.read(base), a.read(base | t));
                        a.write(base, m[0] * x + m[1] * y);
                        a.write(base | t, m[2] * x + m[3] * y);
                    }
                });
            }
            Op::Diag1 {
                target,
                d,
                ctrl_mask,
            } => diag1(amps, *target, *d, *ctrl_mask, parallel),
            Op::Flip1 {
                target,
                p,
                ctrl_mask,
            } => flip1(amps, *target, *p, *ctrl_mask, parallel),
            Op::DiagK {
                targets,
                diag,
                ctrl_mask,
            } => {
                let offsets = target_offsets(targets);
                for_each_group(amps, targets, *ctrl_mask, parallel, |a, base| {
                    for (&off, &d) in offsets.iter().zip(diag) {
                        // SAFETY: every `base | off` belongs to this group only.
                        unsafe { a.write(base | off, a.read(base | off) * d) };
                    }
                });
            }
            Op::PermK {
                targets,
                perm,
                phases,
                ctrl_mask,
            } => {
                let offsets = target_offsets(targets);
                let dim = offsets.len();
                for_each_group_with_buffer(
                    amps,
                    targets,
                    *ctrl_mask,
                    parallel,
                    dim,
                    |a, base, buf| {
                        gather(a, base, &offsets, buf);
                        for j in 0..dim {
                            // SAFETY: `base | offsets[..]` belongs to this group only.
                            unsafe { a.write(base | offsets[perm[j]], phases[j] * buf[j]) };
                        }
                    },
                );
            }
            Op::DenseK {
                targets,
                matrix,
                ctrl_mask,
            } => {
                let offsets = target_offsets(targets);
                let dim = offsets.len();
                for_each_group_with_buffer(
                    amps,
                    targets,
                    *ctrl_mask,
                    parallel,
                    dim,
                    |a, base, buf| {
                        gather(a, base, &offsets, buf);
                        for (row, &off) in matrix.chunks_exact(dim).zip(&offsets) {
                            let v = row
                                .iter()
                                .zip(buf.iter())
                                .fold(C64::new(0.0, 0.0), |acc, (m, x)| acc + m * x);
                            // SAFETY: `base | off` belongs to this group only.
                            unsafe { a.write(base | off, v) };
                        }
                    },
                );
            }
        }
    }
}

impl Op {
    /// Applies the op with the vectorised kernels of `isa` at most, in the
    /// amplitudes' own precision. Returns `false`, touching nothing, when
    /// none fits (see [`simd::Vectorised`]).
    pub fn apply_vectorised<A: simd::Vectorised>(
        &self,
        isa: simd::Isa,
        amps: &mut [A],
        parallel: bool,
    ) -> bool {
        if isa == simd::Isa::Portable {
            return false;
        }
        let one = C64::new(1.0, 0.0);
        match self {
            Op::Dense1 {
                target,
                m,
                ctrl_mask,
            } => A::dense(isa, amps, &[*target], m, *ctrl_mask, parallel),
            Op::DenseK {
                targets,
                matrix,
                ctrl_mask,
            } => A::dense(isa, amps, targets, matrix, *ctrl_mask, parallel),
            // diag(1, d): only the target-set half changes; treat the target
            // as one more control.
            Op::Diag1 {
                target,
                d,
                ctrl_mask,
            } if d[0] == one => {
                A::diagonal(isa, amps, &[], &d[1..], ctrl_mask | (1 << target), parallel)
            }
            Op::Diag1 {
                target,
                d,
                ctrl_mask,
            } => A::diagonal(isa, amps, &[*target], d, *ctrl_mask, parallel),
            Op::DiagK {
                targets,
                diag,
                ctrl_mask,
            } => A::diagonal(isa, amps, targets, diag, *ctrl_mask, parallel),
            Op::Flip1 {
                target,
                p,
                ctrl_mask,
            } => A::permutation(isa, amps, &[*target], &[1, 0], p, *ctrl_mask, parallel),
            Op::PermK {
                targets,
                perm,
                phases,
                ctrl_mask,
            } => A::permutation(isa, amps, targets, perm, phases, *ctrl_mask, parallel),
        }
    }
}

/// `offsets[j]` is the amplitude offset of target basis state `j`: bit `i`
/// of `j` placed at qubit `targets[i]`.
fn target_offsets(targets: &[usize]) -> Vec<usize> {
    (0..1usize << targets.len())
        .map(|j| {
            targets
                .iter()
                .enumerate()
                .fold(0, |acc, (i, &q)| acc | (((j >> i) & 1) << q))
        })
        .collect()
}

/// Copies the group's amplitudes `base | offsets[j]` into `buf[j]`.
#[inline(always)]
fn gather(a: Amps, base: usize, offsets: &[usize], buf: &mut [C64]) {
    for (slot, &off) in buf.iter_mut().zip(offsets) {
        // SAFETY: every `base | off` belongs to the calling group only.
        *slot = unsafe { a.read(base | off) };
    }
}

/// Raw access to the amplitudes from several threads at once. Sound only
/// because every caller touches disjoint index sets from different groups.
#[derive(Clone, Copy)]
struct Amps(*mut C64, usize);
// SAFETY: the pointer is only dereferenced at indices owned by one group,
// and groups are disjoint (see `for_each_group`).
unsafe impl Send for Amps {}
unsafe impl Sync for Amps {}

impl Amps {
    /// # Safety
    /// `i < len`, and no other thread touches index `i` concurrently.
    #[inline(always)]
    unsafe fn read(self, i: usize) -> C64 {
        debug_assert!(i < self.1);
        unsafe { *self.0.add(i) }
    }
    /// # Safety
    /// As for `read`.
    #[inline(always)]
    unsafe fn write(self, i: usize, v: C64) {
        debug_assert!(i < self.1);
        unsafe { *self.0.add(i) = v }
    }
}

/// Masks for depositing a group number into the bits not used by the gate.
pub(crate) fn insert_masks(involved: usize) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..usize::BITS as usize)
        .filter(|b| involved >> b & 1 == 1)
        .collect();
    positions.sort_unstable();
    positions.into_iter().map(|p| (1usize << p) - 1).collect()
}

#[inline(always)]
pub(crate) fn deposit(mut g: usize, low_masks: &[usize]) -> usize {
    for &low in low_masks {
        g = ((g & !low) << 1) | (g & low);
    }
    g
}

/// Calls `f(amps, base)` once per group: `base` has all target bits clear and
/// all control bits set, and the group is `{base | offset}` over the target
/// offsets. Different groups never share an index.
fn for_each_group<F>(amps: &mut [C64], targets: &[usize], ctrl_mask: usize, parallel: bool, f: F)
where
    F: Fn(Amps, usize) + Sync + Send,
{
    let involved = targets.iter().fold(ctrl_mask, |m, &t| m | (1 << t));
    let masks = insert_masks(involved);
    let groups = amps.len() >> masks.len();
    let a = Amps(amps.as_mut_ptr(), amps.len());
    let body = |g: usize| f(a, deposit(g, &masks) | ctrl_mask);
    if parallel && groups >= 2 * MIN_GROUPS_PER_TASK {
        (0..groups)
            .into_par_iter()
            .with_min_len(MIN_GROUPS_PER_TASK)
            .for_each(body);
    } else {
        (0..groups).for_each(body);
    }
}

/// As [`for_each_group`], with a scratch buffer of `dim` amplitudes per task.
fn for_each_group_with_buffer<F>(
    amps: &mut [C64],
    targets: &[usize],
    ctrl_mask: usize,
    parallel: bool,
    dim: usize,
    f: F,
) where
    F: Fn(Amps, usize, &mut [C64]) + Sync + Send,
{
    let involved = targets.iter().fold(ctrl_mask, |m, &t| m | (1 << t));
    let masks = insert_masks(involved);
    let groups = amps.len() >> masks.len();
    let a = Amps(amps.as_mut_ptr(), amps.len());
    let zero = C64::new(0.0, 0.0);
    // Wide gates have few, large groups: parallelise them at a lower count.
    let min_len = (MIN_GROUPS_PER_TASK / dim).max(1);
    if parallel && groups >= 2 * min_len {
        (0..groups)
            .into_par_iter()
            .with_min_len(min_len)
            .for_each_init(
                || vec![zero; dim],
                |buf, g| f(a, deposit(g, &masks) | ctrl_mask, buf),
            );
    } else {
        let mut buf = vec![zero; dim];
        (0..groups).for_each(|g| f(a, deposit(g, &masks) | ctrl_mask, &mut buf));
    }
}

/// The most common gate: a dense 2x2 on one qubit, no controls.
fn dense1_uncontrolled(amps: &mut [C64], target: usize, m: [C64; 4], parallel: bool) {
    for_each_pair(amps, 1 << target, parallel, move |x, y| {
        let (a, b) = (*x, *y);
        *x = m[0] * a + m[1] * b;
        *y = m[2] * a + m[3] * b;
    });
}

fn flip1(amps: &mut [C64], target: usize, p: [C64; 2], ctrl_mask: usize, parallel: bool) {
    let t = 1usize << target;
    if ctrl_mask == 0 {
        if p == [C64::new(1.0, 0.0); 2] {
            for_each_pair(amps, t, parallel, std::mem::swap);
        } else {
            for_each_pair(amps, t, parallel, move |x, y| {
                let (a, b) = (*x, *y);
                *x = p[1] * b;
                *y = p[0] * a;
            });
        }
        return;
    }
    for_each_group(amps, &[target], ctrl_mask, parallel, move |a, base| {
        // SAFETY: `base` and `base | t` belong to this group only.
        unsafe {
            let (x, y) = (a.read(base), a.read(base | t));
            a.write(base, p[1] * y);
            a.write(base | t, p[0] * x);
        }
    });
}

fn diag1(amps: &mut [C64], target: usize, d: [C64; 2], ctrl_mask: usize, parallel: bool) {
    let t = 1usize << target;
    let one = C64::new(1.0, 0.0);
    if ctrl_mask != 0 {
        // Only the control-on half matters; amplitudes with target 0 are
        // scaled by d0, usually 1, which the group loop skips cheaply.
        let skip0 = d[0] == one;
        for_each_group(amps, &[target], ctrl_mask, parallel, move |a, base| {
            // SAFETY: `base` and `base | t` belong to this group only.
            unsafe {
                if !skip0 {
                    a.write(base, a.read(base) * d[0]);
                }
                a.write(base | t, a.read(base | t) * d[1]);
            }
        });
    } else if d[0] == one {
        for_each_pair(amps, t, parallel, move |_, y| *y *= d[1]);
    } else {
        for_each_pair(amps, t, parallel, move |x, y| {
            *x *= d[0];
            *y *= d[1];
        });
    }
}

/// Calls `f(&mut amps[i], &mut amps[i + half])` for every `i` with the
/// `half` bit clear, in parallel when asked. Runs over contiguous stretches,
/// so the loops stream through memory and vectorise.
fn for_each_pair<F>(amps: &mut [C64], half: usize, parallel: bool, f: F)
where
    F: Fn(&mut C64, &mut C64) + Sync + Send,
{
    let block = half * 2;
    let blocks = |run: &mut [C64]| {
        if half == 1 {
            // Adjacent pairs: avoid a split per pair.
            for pair in run.chunks_exact_mut(2) {
                let (lo, hi) = pair.split_at_mut(1);
                f(&mut lo[0], &mut hi[0]);
            }
        } else {
            for chunk in run.chunks_exact_mut(block) {
                let (lo, hi) = chunk.split_at_mut(half);
                lo.iter_mut().zip(hi.iter_mut()).for_each(|(x, y)| f(x, y));
            }
        }
    };
    if !(parallel && amps.len() >= 2 * MIN_GROUPS_PER_TASK) {
        blocks(amps);
    } else if half < MIN_GROUPS_PER_TASK {
        // Many small blocks: give each task a run of whole blocks.
        let per_task = (MIN_GROUPS_PER_TASK / half).max(1) * block;
        amps.par_chunks_mut(per_task).for_each(blocks);
    } else {
        // Few large blocks (high target qubit): split inside each block.
        for chunk in amps.chunks_exact_mut(block) {
            let (lo, hi) = chunk.split_at_mut(half);
            lo.par_chunks_mut(MIN_GROUPS_PER_TASK)
                .zip(hi.par_chunks_mut(MIN_GROUPS_PER_TASK))
                .for_each(|(l, h)| l.iter_mut().zip(h.iter_mut()).for_each(|(x, y)| f(x, y)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::gates::GateKind;
    use crate::sim::simd::Isa;
    use crate::testing::{max_distance, random_state, uniform_stream};
    use num_complex::Complex32 as C32;

    /// Straightforward reference: build the full 2^n matrix of the gate by
    /// looping over basis states, then multiply.
    fn reference_apply(
        state: &[C64],
        kind: GateKind,
        qubits: &[usize],
        params: &[f64],
    ) -> Vec<C64> {
        let m = kind.full_matrix(qubits.len(), params);
        let mut out = vec![C64::new(0.0, 0.0); state.len()];
        for (i, &amp) in state.iter().enumerate() {
            let col = qubits
                .iter()
                .enumerate()
                .fold(0, |acc, (j, &q)| acc | (((i >> q) & 1) << j));
            let rest = qubits.iter().fold(i, |acc, &q| acc & !(1 << q));
            for row in 0..m.dim() {
                let idx = qubits
                    .iter()
                    .enumerate()
                    .fold(rest, |acc, (j, &q)| acc | (((row >> j) & 1) << q));
                out[idx] += m.get(row, col) * amp;
            }
        }
        out
    }

    #[test]
    fn every_gate_matches_the_reference_on_every_placement() {
        let n = 5;
        for &kind in GateKind::ALL {
            let k = kind.num_qubits().unwrap_or(3);
            let params: Vec<f64> = (0..kind.num_params())
                .map(|i| 0.37 + 1.3 * i as f64)
                .collect();
            // A spread of placements: ascending, descending, interleaved.
            let placements: Vec<Vec<usize>> = match k {
                1 => (0..n).map(|q| vec![q]).collect(),
                2 => vec![vec![0, 1], vec![1, 0], vec![4, 0], vec![2, 3], vec![3, 1]],
                _ => vec![vec![0, 1, 2], vec![4, 2, 0], vec![1, 4, 3], vec![3, 0, 4]],
            };
            for qubits in placements {
                for (parallel, vectorised) in
                    [(false, false), (true, false), (false, true), (true, true)]
                {
                    let state = random_state(n, 7 + qubits[0] as u64);
                    let expected = reference_apply(&state, kind, &qubits, &params);
                    let mut got = state.clone();
                    if let Some(op) = Op::from_gate(kind, &qubits, &params) {
                        op.apply_with(&mut got, parallel, vectorised);
                    }
                    for (g, e) in got.iter().zip(&expected) {
                        assert!(
                            (g - e).norm() < 1e-12,
                            "{} on {qubits:?} differs",
                            kind.name()
                        );
                    }
                }
            }
        }
    }

    /// The f32 kernels against the complex128 result: each output is a sum
    /// of `dim` products rounded in f32, so it is within
    /// `(dim + 2) * 2^-24 * sum_c |m_rc| |v_c|` of the exact one, bounded
    /// here by the largest row sum times the largest amplitude.
    fn assert_single_precision_close(op: &Op, state: &[C64], want: &[C64], n: usize) {
        if !simd::available() {
            return;
        }
        let dim = 1usize << op.targets().len();
        let row_sum = match op {
            Op::DenseK { matrix, .. } => matrix
                .chunks(dim)
                .map(|r| r.iter().map(|z| z.norm()).sum::<f64>())
                .fold(0.0, f64::max),
            Op::DiagK { diag: d, .. } | Op::PermK { phases: d, .. } => {
                d.iter().map(|z| z.norm()).fold(0.0, f64::max)
            }
            _ => 1.0,
        };
        let scale = state.iter().map(|z| z.norm()).fold(0.0, f64::max);
        let narrowed: Vec<C32> = state
            .iter()
            .map(|z| C32::new(z.re as f32, z.im as f32))
            .collect();
        let involved = op.qubit_mask().count_ones() as usize;
        for parallel in [false, true] {
            let mut single = narrowed.clone();
            let fitted = op.apply_vectorised(simd::isa(), &mut single, parallel);
            // Four lanes (x86-64) need two free qubits, NEON's two lanes one;
            // only then must a kernel fit.
            let lane_qubits = if cfg!(target_arch = "aarch64") { 1 } else { 2 };
            assert_eq!(
                fitted,
                op.targets().len() <= 5 && involved + lane_qubits <= n
            );
            if !fitted {
                continue;
            }
            let got: Vec<C64> = single
                .iter()
                .map(|z| C64::new(z.re as f64, z.im as f64))
                .collect();
            // The rounding of the input itself adds 2^-24 per amplitude.
            let bound = (dim as f64 + 3.0) * 2f64.powi(-24) * row_sum.max(1.0) * scale;
            let worst = max_distance(&got, want);
            assert!(worst <= bound, "{op:?}: off by {worst:e} > {bound:e}");
        }
    }

    #[test]
    fn vectorised_blocks_match_portable_ones_for_every_width_and_placement() {
        let n = 8;
        let mut next = uniform_stream(11);
        for k in 1..=6usize {
            for placement in 0..6usize {
                // Targets spread over the register, sometimes including qubit
                // 0 (pairs then use a higher free qubit), with controls when
                // room is left.
                let targets: Vec<usize> = (0..k).map(|i| (i * 3 + placement) % n).collect();
                let mut used: usize = targets.iter().map(|t| 1 << t).sum();
                if used.count_ones() as usize != k {
                    continue;
                }
                let ctrl_mask = if placement % 2 == 1 && k < n - 1 {
                    let c = (0..n).rev().find(|q| used >> q & 1 == 0).unwrap();
                    used |= 1 << c;
                    1 << c
                } else {
                    0
                };
                let dim = 1 << k;
                let matrix: Vec<C64> = (0..dim * dim).map(|_| C64::new(next(), next())).collect();
                let diag: Vec<C64> = (0..dim).map(|_| C64::new(next(), next())).collect();
                let ops = [
                    Op::DenseK {
                        targets: targets.clone(),
                        matrix,
                        ctrl_mask,
                    },
                    Op::DiagK {
                        targets: targets.clone(),
                        diag: diag.clone(),
                        ctrl_mask,
                    },
                    // A cyclic shift of the basis states, with and without phases.
                    Op::PermK {
                        targets: targets.clone(),
                        perm: (0..dim).map(|j| (j + 1 + placement) % dim).collect(),
                        phases: diag,
                        ctrl_mask,
                    },
                    Op::PermK {
                        targets: targets.clone(),
                        perm: (0..dim).map(|j| (j + dim - 1) % dim).collect(),
                        phases: vec![C64::new(1.0, 0.0); dim],
                        ctrl_mask,
                    },
                ];
                for op in ops {
                    let state = random_state(n, k as u64 + 10 * placement as u64);
                    let mut portable = state.clone();
                    op.apply_with(&mut portable, false, false);
                    let mut first: Option<Vec<C64>> = None;
                    // The instruction sets this architecture has kernels for.
                    let isas = if cfg!(target_arch = "aarch64") {
                        vec![Isa::Neon]
                    } else {
                        vec![Isa::Avx2, Isa::Avx512]
                    };
                    for isa in isas {
                        if isa > simd::isa() {
                            continue;
                        }
                        for parallel in [false, true] {
                            let mut fast = state.clone();
                            op.apply_with_isa(&mut fast, parallel, isa);
                            let worst = max_distance(&fast, &portable);
                            assert!(
                                worst < 1e-12,
                                "{isa:?} k={k} targets={targets:?} ctrl={ctrl_mask:b}: {worst:e}"
                            );
                            // Every lane runs the same formula: the register
                            // width and the threads leave the bits alone.
                            match &first {
                                None => first = Some(fast),
                                Some(f) => assert!(f == &fast, "{isa:?} k={k} changed bits"),
                            }
                        }
                    }
                    assert_single_precision_close(&op, &state, &portable, n);
                }
            }
        }
    }

    #[test]
    fn parallel_kernels_are_bitwise_identical_to_serial() {
        let n = 14;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        for (kind, qubits, params) in [
            (GateKind::H, vec![0], vec![]),
            (GateKind::H, vec![13], vec![]),
            (GateKind::Rz, vec![12], vec![0.3]),
            (GateKind::Cx, vec![13, 2], vec![]),
            (GateKind::Cu, vec![1, 12], vec![0.1, 0.2, 0.3, 0.4]),
            (GateKind::Rxx, vec![3, 11], vec![0.7]),
            (GateKind::Cswap, vec![5, 13, 0], vec![]),
        ] {
            let op = Op::from_gate(kind, &qubits, &params).unwrap();
            let mut serial = random_state(n, 3);
            let mut par = serial.clone();
            op.apply(&mut serial, false);
            pool.install(|| op.apply(&mut par, true));
            assert_eq!(serial, par, "{}", kind.name());
        }
    }

    #[test]
    fn kernels_are_chosen_by_structure() {
        assert!(matches!(
            Op::from_gate(GateKind::Cz, &[0, 1], &[]),
            Some(Op::Diag1 { ctrl_mask: 1, .. })
        ));
        assert!(matches!(
            Op::from_gate(GateKind::Cx, &[0, 1], &[]),
            Some(Op::Flip1 { ctrl_mask: 1, .. })
        ));
        assert!(matches!(
            Op::from_gate(GateKind::Rzz, &[0, 1], &[0.2]),
            Some(Op::DiagK { .. })
        ));
        assert!(matches!(
            Op::from_gate(GateKind::Swap, &[0, 1], &[]),
            Some(Op::PermK { .. })
        ));
        assert!(matches!(
            Op::from_gate(GateKind::Rxx, &[0, 1], &[0.2]),
            Some(Op::DenseK { .. })
        ));
        assert!(matches!(
            Op::from_gate(GateKind::H, &[0], &[]),
            Some(Op::Dense1 { ctrl_mask: 0, .. })
        ));
        assert_eq!(Op::from_gate(GateKind::Id, &[0], &[]), None);
    }
}
