//! Sweeps the fusion and blocking parameters over a random layered circuit
//! and prints the time of each setting: how the defaults in
//! `ferroq_core::sim::fusion` and `ferroq_core::sim::plan` were chosen.
//!
//! Run: `cargo run --release -p ferroq-benches --bin tune -- 22 10`
//! (qubits, layers), or `... --bin tune -- kernels` for the cost of each
//! kernel per amplitude, in cache and from memory.

use ferroq_benches::layered_circuit;
use ferroq_core::sim::fusion::{FusionConfig, fuse};
use ferroq_core::sim::kernels::Op;
use ferroq_core::sim::plan::{BlockConfig, Plan, Stage};
use ferroq_core::sim::{parallel, simd, state};
use ferroq_core::{Amplitude, Instruction};
use std::time::Instant;

fn layered_ops(n: usize, layers: usize) -> Vec<(Op, u64)> {
    let c = layered_circuit(n, layers, 1, false);
    c.instructions()
        .iter()
        .filter_map(|inst| match inst {
            Instruction::Gate {
                kind,
                qubits,
                params,
            } => Op::from_gate(*kind, qubits, params).map(|op| (op, 1)),
            _ => None,
        })
        .collect()
}

/// Nanoseconds per amplitude of each kernel on a state of `n` qubits, one
/// thread: the constants of the fusion cost model. Dense and diagonal blocks
/// are timed in double and single precision, on odd qubits (qubit 0 free:
/// registers load whole pieces) and on even ones (qubit 0 taken).
fn kernel_costs(n: usize) {
    let mut amps = state::ground_state(n).unwrap();
    let mut single = vec![ferroq_core::Complex32::new(0.0, 0.0); 1 << n];
    single[0].re = 1.0;
    let reps = (1usize << 24 >> n).max(2);
    let time = |op: &Op, amps: &mut Vec<_>| {
        let t = Instant::now();
        for _ in 0..reps {
            op.apply(amps, false);
        }
        t.elapsed().as_secs_f64() * 1e9 / (reps << n) as f64
    };
    let isa = simd::isa();
    let time_single = |op: &Op, amps: &mut Vec<ferroq_core::Complex32>| {
        let t = Instant::now();
        for _ in 0..reps {
            assert!(op.apply_vectorised(isa, amps, false), "no f32 kernel fits");
        }
        t.elapsed().as_secs_f64() * 1e9 / (reps << n) as f64
    };
    let rx = Op::from_gate(ferroq_core::GateKind::Rx, &[3], &[0.3]).unwrap();
    let rz = Op::from_gate(ferroq_core::GateKind::Rz, &[3], &[0.3]).unwrap();
    let cx = Op::from_gate(ferroq_core::GateKind::Cx, &[3, 5], &[]).unwrap();
    println!(
        "n={n} ({}): rx {:.3} ns/amp, rz {:.3}, cx {:.3}",
        isa.name(),
        time(&rx, &mut amps),
        time(&rz, &mut amps),
        time(&cx, &mut amps)
    );
    for k in 1..=5usize {
        let dim = 1 << k;
        let mut line = format!("  k={k}:");
        for first in [2usize, 1, 0] {
            let targets: Vec<usize> = (0..k).map(|i| 2 * i + first).collect();
            let dense = Op::DenseK {
                targets: targets.clone(),
                matrix: vec![ferroq_core::Complex64::new(0.1, 0.2); dim * dim],
                ctrl_mask: 0,
            };
            let diag = Op::DiagK {
                targets,
                diag: vec![ferroq_core::Complex64::new(0.1, 0.2); dim],
                ctrl_mask: 0,
            };
            let parity = ["even", "odd", "from 2"][first];
            line += &format!(
                " {parity}: dense {:.3} / f32 {:.3} ns/amp, diagonal {:.3} / f32 {:.3};",
                time(&dense, &mut amps),
                if isa > simd::Isa::Portable {
                    time_single(&dense, &mut single)
                } else {
                    f64::NAN
                },
                time(&diag, &mut amps),
                if isa > simd::Isa::Portable {
                    time_single(&diag, &mut single)
                } else {
                    f64::NAN
                },
            );
        }
        println!("{line}");
    }
}

/// A quantum volume circuit as ops: `depth` layers of Haar-ish random 4x4
/// unitaries (Gram-Schmidt of complex Gaussians-ish from an LCG) on random
/// qubit pairs.
fn quantum_volume_ops(n: usize, depth: usize) -> Vec<(Op, u64)> {
    use ferroq_core::Complex64 as C;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
    };
    let mut ops = Vec::new();
    for _ in 0..depth {
        let mut perm: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = ((next() + 0.5) * (i + 1) as f64) as usize % (i + 1);
            perm.swap(i, j);
        }
        for pair in perm.chunks_exact(2) {
            let mut rows: Vec<Vec<C>> = Vec::new();
            while rows.len() < 4 {
                let mut v: Vec<C> = (0..4).map(|_| C::new(next(), next())).collect();
                for r in &rows {
                    let dot: C = r.iter().zip(&v).map(|(a, b)| a.conj() * b).sum();
                    v.iter_mut().zip(r).for_each(|(x, a)| *x -= dot * a);
                }
                let norm = v.iter().map(|z| z.norm_sqr()).sum::<f64>().sqrt();
                v.iter_mut().for_each(|z| *z /= norm);
                rows.push(v);
            }
            let m = ferroq_core::circuit::matrix::Matrix::from_rows(4, rows.concat());
            ops.push((Op::from_matrix(&m, pair, &[]), 1));
        }
    }
    ops
}

/// Times a quantum volume circuit (or, with `TUNE_LAYERS`, a layered one) for
/// each fusion width and multiply cost,
/// in double and single precision.
fn quantum_volume(n: usize) {
    let threads = parallel::default_threads();
    let pool = parallel::pool(threads);
    // TUNE_LAYERS=k: a random layered circuit of k layers instead.
    let ops = match std::env::var("TUNE_LAYERS").ok() {
        Some(k) => layered_ops(n, k.parse().expect("layers")),
        None => quantum_volume_ops(n, n),
    };
    println!("n={n}, {} ops, {threads} threads", ops.len());
    // TUNE_FUSE=k tries only fusion width k at the default multiply cost.
    let only: Option<usize> = std::env::var("TUNE_FUSE")
        .ok()
        .map(|v| v.parse().expect("width"));
    for max_qubits in [2, 3, 4, 5] {
        for mul_cost in [0.125, 0.25, 0.5] {
            if only.is_some_and(|k| k != max_qubits || mul_cost != 0.25) {
                continue;
            }
            let f = FusionConfig {
                max_qubits,
                pass_cost: 1.0,
                mul_cost,
            };
            // TUNE_BLOCK=bits,high tries another block geometry ("off": none).
            let blocking = match std::env::var("TUNE_BLOCK").ok().as_deref() {
                None => BlockConfig::default(),
                Some("off") => BlockConfig::OFF,
                Some(spec) => {
                    let v: Vec<usize> = spec
                        .split(',')
                        .map(|x| x.parse().expect("bits,high"))
                        .collect();
                    BlockConfig {
                        block_bits: v[0],
                        max_high: v[1],
                    }
                }
            };
            let plan = Plan::new(n, fuse(ops.clone(), &f), &blocking);
            let widths: Vec<usize> = (1..=5)
                .map(|k| {
                    plan.stages
                        .iter()
                        .flat_map(|s| match s {
                            Stage::Sweep { op, .. } => std::slice::from_ref(op),
                            Stage::Blocked { ops, .. } => ops.as_slice(),
                        })
                        .filter(|op| op.targets().len() == k)
                        .count()
                })
                .collect();
            let mut double = state::ground_state(n).unwrap();
            let mut single = vec![ferroq_core::Complex32::new(0.0, 0.0); 1 << n];
            let (mut best_d, mut best_s) = (f64::INFINITY, f64::INFINITY);
            for _ in 0..3 {
                let t = Instant::now();
                pool.install(|| plan.stages.iter().for_each(|s| s.apply(&mut double, true)));
                best_d = best_d.min(t.elapsed().as_secs_f64());
                let t = Instant::now();
                pool.install(|| {
                    plan.stages
                        .iter()
                        .for_each(|s| ferroq_core::Complex32::apply_stage(s, &mut single, true))
                });
                best_s = best_s.min(t.elapsed().as_secs_f64());
            }
            println!(
                "fuse{max_qubits} mul{mul_cost:<5} stages={:4} ops by width {widths:?}: double {best_d:.4}s single {best_s:.4}s",
                plan.stages.len()
            );
        }
    }
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("qv") {
        let n = std::env::args()
            .nth(2)
            .map_or(22, |a| a.parse().expect("qubits"));
        quantum_volume(n);
        return;
    }
    if std::env::args().nth(1).as_deref() == Some("kernels") {
        let sizes: Vec<usize> = std::env::args()
            .skip(2)
            .map(|a| a.parse().expect("qubit counts"))
            .collect();
        for n in if sizes.is_empty() {
            vec![13, 24]
        } else {
            sizes
        } {
            kernel_costs(n);
        }
        return;
    }
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let n = args.first().copied().unwrap_or(20);
    let layers = args.get(1).copied().unwrap_or(10);
    let threads = parallel::default_threads();
    let pool = parallel::pool(threads);
    let ops = layered_ops(n, layers);
    println!(
        "n={n} layers={layers} gates={} threads={threads}",
        ops.len()
    );
    let mut settings: Vec<(String, FusionConfig, BlockConfig)> =
        vec![("off".into(), FusionConfig::OFF, BlockConfig::OFF)];
    for max_qubits in [0, 1, 2, 3, 4, 5] {
        for mul_cost in [0.1, 0.25, 0.5] {
            if max_qubits < 2 && mul_cost != 0.25 {
                continue;
            }
            for (block_bits, max_high) in [(13, 3), (14, 4), (15, 5), (16, 5)] {
                let f = FusionConfig {
                    max_qubits,
                    pass_cost: 1.0,
                    mul_cost,
                };
                let b = BlockConfig {
                    block_bits,
                    max_high,
                };
                settings.push((
                    format!("fuse{max_qubits} mul{mul_cost} block{block_bits}/{max_high}"),
                    f,
                    b,
                ));
            }
        }
    }
    for (label, f, b) in settings {
        let plan = Plan::new(n, fuse(ops.clone(), &f), &b);
        let blocked = plan
            .stages
            .iter()
            .filter(|s| matches!(s, Stage::Blocked { .. }))
            .count();
        let mut amps = state::ground_state(n).unwrap();
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            pool.install(|| {
                for stage in &plan.stages {
                    stage.apply(&mut amps, threads > 1);
                }
            });
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{label:32} stages={:5} blocked={blocked:4} {best:.4}s",
            plan.stages.len()
        );
    }
}
