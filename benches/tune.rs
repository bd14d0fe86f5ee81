//! Sweeps the fusion and blocking parameters over a random layered circuit
//! and prints the time of each setting: how the defaults in
//! `ferroq_core::fusion` and `ferroq_core::plan` were chosen.
//!
//! Run: `cargo run --release -p ferroq-benches --bin tune -- 22 10`
//! (qubits, layers), or `... --bin tune -- kernels` for the cost of each
//! kernel per amplitude, in cache and from memory.

use ferroq_benches::layered_circuit;
use ferroq_core::fusion::{FusionConfig, fuse};
use ferroq_core::kernels::Op;
use ferroq_core::plan::{BlockConfig, Plan, Stage};
use ferroq_core::{Instruction, parallel, state};
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
/// thread: the constants of the fusion cost model.
fn kernel_costs(n: usize) {
    let mut amps = state::ground_state(n).unwrap();
    let reps = (1usize << 24 >> n).max(2);
    let time = |op: &Op, amps: &mut Vec<_>| {
        let t = Instant::now();
        for _ in 0..reps {
            op.apply(amps, false);
        }
        t.elapsed().as_secs_f64() * 1e9 / (reps << n) as f64
    };
    let rx = Op::from_gate(ferroq_core::GateKind::Rx, &[3], &[0.3]).unwrap();
    let rz = Op::from_gate(ferroq_core::GateKind::Rz, &[3], &[0.3]).unwrap();
    let cx = Op::from_gate(ferroq_core::GateKind::Cx, &[3, 5], &[]).unwrap();
    println!(
        "n={n}: rx {:.3} ns/amp, rz {:.3}, cx {:.3}",
        time(&rx, &mut amps),
        time(&rz, &mut amps),
        time(&cx, &mut amps)
    );
    for k in 1..=5usize {
        let dim = 1 << k;
        let targets: Vec<usize> = (0..k).map(|i| 2 * i + 1).collect();
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
        println!(
            "  k={k}: dense {:.3} ns/amp, diagonal {:.3}",
            time(&dense, &mut amps),
            time(&diag, &mut amps)
        );
    }
}

fn main() {
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
