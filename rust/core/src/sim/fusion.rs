//! Gate fusion: runs of gates that act on a few qubits are multiplied into
//! one matrix, so the state is swept once for the run instead of once per
//! gate.
//!
//! Gates on disjoint qubits commute, so a gate may join the latest group on
//! any of its qubits as long as no later group touches those qubits. Whether
//! it should is a cost question: a dense block on `k` qubits costs `2^k`
//! complex multiplies per amplitude, while every separate gate costs a pass
//! over the amplitudes it touches. [`FusionConfig`] holds that model.
//!
//! The fused matrix is built by applying the group's own ops to the columns
//! of an identity on the group's qubits, with the same kernels that run the
//! circuit, so fusion needs no second implementation of any gate.

use crate::circuit::matrix::Matrix;
use crate::sim::kernels::Op;
use num_complex::Complex64 as C64;

/// An op to run, and how many circuit instructions it stands for (the unit
/// of progress reports).
#[derive(Debug, Clone, PartialEq)]
pub struct FusedOp {
    pub op: Op,
    pub units: u64,
}

/// The cost model deciding when a gate joins a fused block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FusionConfig {
    /// Widest block fusion may build, in qubits: 1 only merges gates on the
    /// same qubit, and 0 turns fusion off.
    pub max_qubits: usize,
    /// Cost of one pass over the amplitudes (load and store), per amplitude.
    pub pass_cost: f64,
    /// Cost of one complex multiply-add, per amplitude.
    pub mul_cost: f64,
}

impl FusionConfig {
    /// No fusion: every gate runs as compiled.
    pub const OFF: FusionConfig = FusionConfig {
        max_qubits: 0,
        pass_cost: 1.0,
        mul_cost: 0.0,
    };
}

impl Default for FusionConfig {
    /// Measured on random layered circuits at 20 and 22 qubits with
    /// `cargo run --release -p ferroq-benches --bin tune`: 3 and 4 qubit
    /// blocks are best; 5 costs more arithmetic than the passes it saves.
    fn default() -> Self {
        FusionConfig {
            max_qubits: 4,
            pass_cost: 1.0,
            mul_cost: 0.25,
        }
    }
}

/// Cost of a dense block on `k` qubits, in complex multiply-adds per
/// amplitude: `2^k` up to 3 qubits; from 4 on, a block's amplitudes no longer
/// fit in the vector registers and the kernels cost more than their
/// arithmetic (`cargo run --release -p ferroq-benches --bin tune -- kernels`,
/// relative to 2 qubits: 3 qubits 1.4x, 4 qubits 2.9x, 5 qubits 6.7x, in
/// double and single precision alike). Without this, fusion built 4-qubit
/// blocks out of two-qubit gates that cost more than the gates apart.
fn dense_muls(k: usize) -> f64 {
    match k {
        0..=3 => (1usize << k) as f64,
        4 => 20.0,
        5 => 48.0,
        _ => (1usize << k) as f64 * 2f64.powi(k as i32 - 3),
    }
}

/// Complex multiplies per touched amplitude of `op` as compiled.
fn muls_per_amplitude(op: &Op) -> f64 {
    let one = C64::new(1.0, 0.0);
    match op {
        Op::Dense1 { .. } => 2.0,
        Op::DenseK { targets, .. } => dense_muls(targets.len()),
        Op::Diag1 { d, .. } if d[0] == one => 0.5,
        Op::Diag1 { .. } | Op::DiagK { .. } => 1.0,
        Op::Flip1 { p, .. } if *p == [one; 2] => 0.0,
        Op::Flip1 { .. } | Op::PermK { .. } => 1.0,
    }
}

fn op_cost(op: &Op, cfg: &FusionConfig) -> f64 {
    // A controlled op only touches the amplitudes whose controls are set.
    let touched = 0.5f64.powi(op.ctrl_mask().count_ones() as i32);
    touched * (cfg.pass_cost + cfg.mul_cost * muls_per_amplitude(op))
}

fn block_cost(width: usize, diagonal: bool, cfg: &FusionConfig) -> f64 {
    let muls = if diagonal { 1.0 } else { dense_muls(width) };
    cfg.pass_cost + cfg.mul_cost * muls
}

fn is_diagonal(op: &Op) -> bool {
    matches!(op, Op::Diag1 { .. } | Op::DiagK { .. })
}

fn qubits_of(mask: usize) -> impl Iterator<Item = usize> {
    (0..usize::BITS as usize).filter(move |b| mask >> b & 1 == 1)
}

struct Group {
    /// Local qubit `i` of the block is circuit qubit `qubits[i]`.
    qubits: Vec<usize>,
    mask: usize,
    ops: Vec<Op>,
    diagonal: bool,
    cost: f64,
    units: u64,
}

impl Group {
    fn new(op: Op, units: u64, cfg: &FusionConfig) -> Group {
        let mask = op.qubit_mask();
        Group {
            qubits: qubits_of(mask).collect(),
            mask,
            diagonal: is_diagonal(&op),
            cost: op_cost(&op, cfg),
            ops: vec![op],
            units,
        }
    }

    /// The group as one op: its only op unchanged, or the product matrix.
    fn finish(self) -> FusedOp {
        let units = self.units;
        if self.ops.len() == 1 {
            let op = self.ops.into_iter().next().expect("one op");
            return FusedOp { op, units };
        }
        let dim = 1usize << self.qubits.len();
        let highest = self.qubits.iter().max().copied().unwrap_or(0);
        let mut local = vec![usize::MAX; highest + 1];
        for (i, &q) in self.qubits.iter().enumerate() {
            local[q] = i;
        }
        // Column c of the product is the image of basis state c: apply every
        // op in order to each column of the identity (stored column-major).
        let mut cols = vec![C64::new(0.0, 0.0); dim * dim];
        for c in 0..dim {
            cols[c * dim + c] = C64::new(1.0, 0.0);
        }
        for op in &self.ops {
            let op = op.remap(&local);
            for col in cols.chunks_exact_mut(dim) {
                op.apply(col, false);
            }
        }
        let mut rows = vec![C64::new(0.0, 0.0); dim * dim];
        for c in 0..dim {
            for r in 0..dim {
                rows[r * dim + c] = cols[c * dim + r];
            }
        }
        let op = Op::from_matrix(&Matrix::from_rows(dim, rows), &self.qubits, &[]);
        FusedOp { op, units }
    }
}

/// Fuses `ops` (with their progress units), in circuit order, under `cfg`.
/// The product of the result equals the product of the input up to rounding.
pub fn fuse(ops: Vec<(Op, u64)>, cfg: &FusionConfig) -> Vec<FusedOp> {
    if cfg.max_qubits == 0 {
        return ops
            .into_iter()
            .map(|(op, units)| FusedOp { op, units })
            .collect();
    }
    let mut groups: Vec<Group> = Vec::new();
    // The newest group touching each qubit (index into `groups`).
    let mut last: Vec<usize> = Vec::new();
    for (op, units) in ops {
        let mask = op.qubit_mask();
        let width = usize::BITS as usize - mask.leading_zeros() as usize;
        if last.len() < width {
            last.resize(width, usize::MAX);
        }
        // Only the newest group on the op's qubits can take it: every group
        // after that one is disjoint from the op, so the op commutes past it.
        let newest = qubits_of(mask)
            .map(|q| last[q])
            .filter(|&g| g != usize::MAX)
            .max();
        if let Some(g) = newest {
            let group = &mut groups[g];
            let merged_width = (group.mask | mask).count_ones() as usize;
            if merged_width <= cfg.max_qubits {
                let diagonal = group.diagonal && is_diagonal(&op);
                let merged = block_cost(merged_width, diagonal, cfg);
                if merged <= group.cost + op_cost(&op, cfg) {
                    for q in qubits_of(mask & !group.mask) {
                        group.qubits.push(q);
                    }
                    group.mask |= mask;
                    group.diagonal = diagonal;
                    group.cost = merged;
                    group.units += units;
                    group.ops.push(op);
                    for q in qubits_of(mask) {
                        last[q] = g;
                    }
                    continue;
                }
            }
        }
        for q in qubits_of(mask) {
            last[q] = groups.len();
        }
        groups.push(Group::new(op, units, cfg));
    }
    groups.into_iter().map(Group::finish).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::gates::GateKind;
    use crate::testing::{self, max_distance, random_state};

    fn random_ops(n: usize, count: usize, seed: u64) -> Vec<(Op, u64)> {
        testing::random_ops(n, n, count, seed)
            .into_iter()
            .map(|op| (op, 1))
            .collect()
    }

    fn run(ops: &[Op], state: &[C64]) -> Vec<C64> {
        let mut s = state.to_vec();
        for op in ops {
            op.apply(&mut s, false);
        }
        s
    }

    #[test]
    fn fused_circuits_match_gate_by_gate_to_1e12() {
        for (n, max_qubits) in [(3, 2), (5, 3), (6, 4), (7, 5), (7, 1)] {
            for seed in 0..20 {
                let ops = random_ops(n, 60, seed * 31 + n as u64);
                let plain: Vec<Op> = ops.iter().map(|(op, _)| op.clone()).collect();
                let cfg = FusionConfig {
                    max_qubits,
                    pass_cost: 1.0,
                    // Cheap arithmetic: fuse as much as the width allows.
                    mul_cost: 0.01,
                };
                let fused = fuse(ops, &cfg);
                // Width 1 only merges neighbours on one qubit, which a random
                // stream over 7 qubits may never have.
                assert!(
                    fused.len() < plain.len() || max_qubits == 1,
                    "nothing fused (n={n}, seed={seed})"
                );
                assert_eq!(fused.iter().map(|f| f.units).sum::<u64>(), 60);
                for f in &fused {
                    let width = f.op.qubit_mask().count_ones() as usize;
                    assert!(width <= max_qubits.max(3), "block of {width} qubits");
                }
                let state = random_state(n, seed);
                let want = run(&plain, &state);
                let got = run(&fused.into_iter().map(|f| f.op).collect::<Vec<_>>(), &state);
                let off = max_distance(&got, &want);
                assert!(off < 1e-12, "n={n} seed={seed}: off by {off:e}");
            }
        }
    }

    #[test]
    fn off_keeps_every_op() {
        let ops = random_ops(4, 30, 5);
        let fused = fuse(ops.clone(), &FusionConfig::OFF);
        assert_eq!(
            fused.into_iter().map(|f| f.op).collect::<Vec<_>>(),
            ops.into_iter().map(|(op, _)| op).collect::<Vec<_>>()
        );
    }

    #[test]
    fn diagonal_runs_stay_diagonal_and_rotations_on_one_qubit_merge() {
        let cfg = FusionConfig::default();
        let rz = |q: usize, t: f64| (Op::from_gate(GateKind::Rz, &[q], &[t]).unwrap(), 1);
        let cz = (Op::from_gate(GateKind::Cz, &[0, 1], &[]).unwrap(), 1);
        let fused = fuse(vec![rz(0, 0.1), cz, rz(1, 0.2), rz(0, 0.3)], &cfg);
        assert_eq!(fused.len(), 1);
        assert!(matches!(fused[0].op, Op::DiagK { .. }), "{:?}", fused[0].op);
        let rx = |t: f64| (Op::from_gate(GateKind::Rx, &[2], &[t]).unwrap(), 1);
        let fused = fuse(vec![rx(0.1), rx(0.2), rx(0.3)], &cfg);
        assert_eq!(fused.len(), 1);
        assert_eq!(fused[0].units, 3);
        assert!(matches!(fused[0].op, Op::Dense1 { target: 2, .. }));
    }

    #[test]
    fn a_gate_never_jumps_over_a_later_gate_on_its_qubits() {
        // h(0); cx(0,1); h(1) on 2 qubits with width 1: the two H gates must
        // not merge across the CX.
        let cfg = FusionConfig {
            max_qubits: 1,
            pass_cost: 1.0,
            mul_cost: 0.01,
        };
        let ops = vec![
            (Op::from_gate(GateKind::H, &[0], &[]).unwrap(), 1),
            (Op::from_gate(GateKind::Cx, &[0, 1], &[]).unwrap(), 1),
            (Op::from_gate(GateKind::H, &[0], &[]).unwrap(), 1),
        ];
        let fused = fuse(ops.clone(), &cfg);
        assert_eq!(fused.len(), 3);
        let state = random_state(2, 1);
        let plain: Vec<Op> = ops.into_iter().map(|(op, _)| op).collect();
        let got = run(&fused.into_iter().map(|f| f.op).collect::<Vec<_>>(), &state);
        assert_eq!(got, run(&plain, &state));
    }
}
