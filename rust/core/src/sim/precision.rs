//! Storage precision of the statevector: complex128 ("double") or complex64
//! ("single").
//!
//! Single precision halves the memory a state needs and the bytes every
//! sweep moves, which is what a large simulation is bound by, and where the
//! vectorised kernels run (AVX2 or AVX-512 on x86-64, see `simd.rs`) it also
//! computes in f32, eight floats to a 256-bit register: twice the amplitudes
//! per instruction, which is what a compute-bound one (dense 3-4 qubit
//! blocks) is bound by. The state stays complex64 throughout: blocks of a
//! plan stage are gathered as complex64 and no copy in complex128 is made.
//! An op no f32 kernel fits (wider than 5 qubits, or too few free qubits),
//! and every op on machines without the vectorised kernels, runs on a block
//! widened to complex128 and rounded back once.
//!
//! Error: an op on `D = 2^k` target amplitudes moves the state by at most
//! `2 (D + 2) sqrt(D) 2^-24` of its norm (each output is a dot product of
//! `2D` f32 products); measured, hundreds of gates move it by about ten times
//! 2^-24 in all, since roundings do not line up. Reductions (norms,
//! probabilities, expectation values) sum in f64.

use crate::sim::kernels::Op;
use crate::sim::plan::{self, Stage};
use crate::sim::simd;
use num_complex::{Complex32 as C32, Complex64 as C64};
use std::fmt;

/// How amplitudes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    #[default]
    Double,
    Single,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Double => "double",
            Precision::Single => "single",
        }
    }

    pub fn parse(name: &str) -> Option<Precision> {
        match name {
            "double" => Some(Precision::Double),
            "single" => Some(Precision::Single),
            _ => None,
        }
    }

    /// Bytes of one amplitude.
    pub fn amplitude_bytes(self) -> u128 {
        match self {
            Precision::Double => 16,
            Precision::Single => 8,
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An amplitude as stored in a state.
pub trait Amplitude: Copy + Send + Sync + PartialEq + fmt::Debug + 'static {
    const PRECISION: Precision;
    const ZERO: Self;
    fn widen(self) -> C64;
    fn narrow(z: C64) -> Self;
    /// `|a|^2` in f64, whatever the storage. (Not `norm_sqr`: a by-value
    /// trait method of that name would shadow `Complex::norm_sqr(&self)`.)
    #[inline(always)]
    fn probability(self) -> f64 {
        C64::norm_sqr(&self.widen())
    }
    /// The state itself when it is stored in complex128.
    fn as_double_mut(amps: &mut [Self]) -> Option<&mut [C64]>;
    /// Applies one stage of a plan to a whole state.
    fn apply_stage(stage: &Stage, amps: &mut [Self], parallel: bool);
    /// Applies one op to a whole state.
    fn apply_op(op: &Op, amps: &mut [Self], parallel: bool);
    /// Hands a finished state out.
    fn into_state(amps: Vec<Self>) -> StateVector;
}

impl Amplitude for C64 {
    const PRECISION: Precision = Precision::Double;
    const ZERO: Self = C64::new(0.0, 0.0);
    #[inline(always)]
    fn widen(self) -> C64 {
        self
    }
    #[inline(always)]
    fn narrow(z: C64) -> Self {
        z
    }
    fn as_double_mut(amps: &mut [Self]) -> Option<&mut [C64]> {
        Some(amps)
    }
    fn apply_stage(stage: &Stage, amps: &mut [Self], parallel: bool) {
        stage.apply(amps, parallel);
    }
    fn apply_op(op: &Op, amps: &mut [Self], parallel: bool) {
        op.apply(amps, parallel);
    }
    fn into_state(amps: Vec<Self>) -> StateVector {
        StateVector::Double(amps)
    }
}

impl Amplitude for C32 {
    const PRECISION: Precision = Precision::Single;
    const ZERO: Self = C32::new(0.0, 0.0);
    #[inline(always)]
    fn widen(self) -> C64 {
        C64::new(self.re as f64, self.im as f64)
    }
    #[inline(always)]
    fn narrow(z: C64) -> Self {
        C32::new(z.re as f32, z.im as f32)
    }
    fn as_double_mut(_: &mut [Self]) -> Option<&mut [C64]> {
        None
    }
    fn apply_stage(stage: &Stage, amps: &mut [Self], parallel: bool) {
        apply_single_stage(stage, amps, parallel, simd::isa());
    }
    fn apply_op(op: &Op, amps: &mut [Self], parallel: bool) {
        apply_single_op(op, amps, parallel, simd::isa());
    }
    fn into_state(amps: Vec<Self>) -> StateVector {
        StateVector::Single(amps)
    }
}

/// One op on a single-precision state, with the f32 kernels of `isa` where
/// one fits, else widened to complex128 block by block.
fn apply_single_op(op: &Op, amps: &mut [C32], parallel: bool, isa: simd::Isa) {
    if !op.apply_vectorised(isa, amps, parallel) {
        plan::apply_widened_op(amps, op, parallel);
    }
}

/// One stage on a single-precision state: blocks stay complex64 when `isa`
/// has f32 kernels, and are widened to complex128 otherwise.
fn apply_single_stage(stage: &Stage, amps: &mut [C32], parallel: bool, isa: simd::Isa) {
    match stage {
        Stage::Sweep { op, .. } => apply_single_op(op, amps, parallel, isa),
        Stage::Blocked {
            low_bits,
            high,
            ops,
            ..
        } => {
            if isa > simd::Isa::Portable {
                plan::apply_blocked_single(amps, *low_bits, high, ops, parallel)
            } else {
                plan::apply_blocked(amps, *low_bits, high, ops, parallel)
            }
        }
    }
}

/// A state handed out of the engine, in the precision it was simulated in.
#[derive(Debug, Clone, PartialEq)]
pub enum StateVector {
    Double(Vec<C64>),
    Single(Vec<C32>),
}

impl StateVector {
    pub fn len(&self) -> usize {
        match self {
            StateVector::Double(v) => v.len(),
            StateVector::Single(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn precision(&self) -> Precision {
        match self {
            StateVector::Double(_) => Precision::Double,
            StateVector::Single(_) => Precision::Single,
        }
    }

    /// The amplitudes widened to complex128 (a copy for single precision).
    pub fn to_double(&self) -> Vec<C64> {
        match self {
            StateVector::Double(v) => v.clone(),
            StateVector::Single(v) => v.iter().map(|a| a.widen()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::circuit::gates::GateKind;
    use crate::sim::fusion::FusedOp;
    use crate::sim::plan::{BlockConfig, Plan};
    use crate::testing::{max_distance, random_ops, random_state};

    fn narrowed(state: &[C64]) -> Vec<C32> {
        state.iter().map(|&z| C32::narrow(z)).collect()
    }

    fn widened(state: &[C32]) -> Vec<C64> {
        state.iter().map(|a| a.widen()).collect()
    }

    /// Random gates plus many-controlled ones whose controls sit on both
    /// sides of the widened blocks' low qubits.
    fn ops_for(n: usize, seed: u64) -> Vec<FusedOp> {
        let mut ops = random_ops(n, 3, 150, seed);
        ops.push(Op::from_gate(GateKind::Mcx, &[n - 1, 1, n - 3, 2, n - 2], &[]).unwrap());
        ops.push(Op::from_gate(GateKind::Mcx, &[0, n - 1, 4], &[]).unwrap());
        ops.extend(random_ops(n, 2, 20, seed + 1));
        ops.into_iter().map(|op| FusedOp { op, units: 1 }).collect()
    }

    #[test]
    fn single_precision_matches_double_to_rounding_with_the_same_bits_on_any_thread_count() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let blocked = BlockConfig {
            block_bits: 11,
            max_high: 3,
        };
        for n in [6, 12, 14] {
            for cfg in [BlockConfig::OFF, blocked] {
                let plan = Plan::new(n, ops_for(n, n as u64), &cfg);
                let start = random_state(n, 3);
                let mut want = start.clone();
                plan.stages.iter().for_each(|s| s.apply(&mut want, false));
                // f32 kernels where the machine has them, and the widened
                // complex128 blocks every machine has.
                for isa in [simd::isa(), simd::Isa::Portable] {
                    let mut single = narrowed(&start);
                    for stage in &plan.stages {
                        apply_single_stage(stage, &mut single, false, isa);
                    }
                    // Errors of order 1e-7, where any wrong amplitude would
                    // be off by the state's scale.
                    let worst = max_distance(&widened(&single), &want);
                    assert!(worst < 2e-6, "n={n} {cfg:?} {isa:?}: off by {worst:e}");
                    let mut par = narrowed(&start);
                    pool.install(|| {
                        for stage in &plan.stages {
                            apply_single_stage(stage, &mut par, true, isa);
                        }
                    });
                    assert!(par == single, "n={n} {isa:?}: threads changed the bits");
                }
            }
        }
    }

    #[test]
    fn a_widened_op_with_many_high_controls_touches_only_its_amplitudes() {
        let n = 14;
        let controls: Vec<usize> = (1..n).collect();
        let mut qubits = controls.clone();
        qubits.push(0);
        let mcx = Op::from_gate(GateKind::Mcx, &qubits, &[]).unwrap();
        let start = random_state(n, 9);
        let mut want = start.clone();
        mcx.apply(&mut want, false);
        let mut single = narrowed(&start);
        C32::apply_op(&mcx, &mut single, true);
        // Only the last two amplitudes swap; every other one is untouched.
        assert_eq!(single[..(1 << n) - 2], narrowed(&start)[..(1 << n) - 2]);
        assert_eq!(single[(1 << n) - 1], C32::narrow(start[(1 << n) - 2]));
        assert!(max_distance(&widened(&single), &want) < 1e-7);
    }

    #[test]
    fn state_vectors_report_their_precision() {
        let s = StateVector::Single(vec![C32::new(0.5, -0.25)]);
        assert_eq!((s.len(), s.precision()), (1, Precision::Single));
        assert_eq!(s.to_double(), vec![C64::new(0.5, -0.25)]);
        assert_eq!(Precision::parse("single"), Some(Precision::Single));
        assert_eq!(Precision::parse("half"), None);
        assert_eq!(Precision::Double.to_string(), "double");
    }
}
