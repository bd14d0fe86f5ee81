//! Kernel benches: one gate of each structure over a 20-qubit state, on low
//! and high target qubits, single-threaded and on every core, with the
//! vectorised kernels (AVX-512 and AVX2 where the machine has both, and the
//! f32 kernels on a complex64 state) and with the portable ones; the fused blocks (dense and
//! diagonal on 2 to 5 qubits); plus a whole 20-qubit random layered circuit
//! (fused and not) and a batch of 1000 ten-qubit circuits.
//!
//! Run: `cargo bench -p ferroq-benches` (add `-- --quick` for a short run).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ferroq_benches::layered_circuit;
use ferroq_core::sim::kernels::Op;
use ferroq_core::sim::{parallel, simd, state};
use ferroq_core::{Circuit, Complex32, Complex64, GateKind, Precision, RunOptions};
use std::hint::black_box;

const N: usize = 20;

fn kernels(c: &mut Criterion) {
    let threads = parallel::default_threads();
    let mut group = c.benchmark_group("kernel_20q");
    // Each kernel reads and writes the whole state once.
    group.throughput(Throughput::Bytes((2 * 16) << N));
    let cases: Vec<(&str, GateKind, Vec<usize>, Vec<f64>)> = vec![
        ("h_q0", GateKind::H, vec![0], vec![]),
        ("h_q19", GateKind::H, vec![19], vec![]),
        ("rz_q5", GateKind::Rz, vec![5], vec![0.3]),
        ("x_q5", GateKind::X, vec![5], vec![]),
        ("cx_2_17", GateKind::Cx, vec![2, 17], vec![]),
        ("rzz_3_9", GateKind::Rzz, vec![3, 9], vec![0.4]),
        ("rxx_3_9", GateKind::Rxx, vec![3, 9], vec![0.4]),
        ("ccx_1_8_15", GateKind::Ccx, vec![1, 8, 15], vec![]),
    ];
    let mut ops: Vec<(String, Op)> = cases
        .into_iter()
        .map(|(name, kind, qubits, params)| {
            (
                name.to_string(),
                Op::from_gate(kind, &qubits, &params).unwrap(),
            )
        })
        .collect();
    // The blocks fusion builds: dense and diagonal, on spread-out qubits.
    for k in 2..=5usize {
        let targets: Vec<usize> = (0..k).map(|i| 1 + 4 * i).collect();
        let dim = 1 << k;
        let z = Complex64::new(0.3, -0.1);
        ops.push((
            format!("dense{k}"),
            Op::DenseK {
                targets: targets.clone(),
                matrix: vec![z; dim * dim],
                ctrl_mask: 0,
            },
        ));
        ops.push((
            format!("diag{k}"),
            Op::DiagK {
                targets,
                diag: vec![z; dim],
                ctrl_mask: 0,
            },
        ));
    }
    let mut amps = state::ground_state(N).unwrap();
    let mut single = vec![Complex32::new(0.0, 0.0); 1 << N];
    single[0].re = 1.0;
    for (name, op) in &ops {
        for (label, t) in [("1t", 1), ("all", threads)] {
            let pool = parallel::pool(t);
            group.bench_with_input(BenchmarkId::new(name, label), &t, |b, &t| {
                b.iter(|| pool.install(|| op.apply(black_box(&mut amps), t > 1)))
            });
        }
        if simd::available() {
            group.bench_function(BenchmarkId::new(name, "1t_portable"), |b| {
                b.iter(|| op.apply_with(black_box(&mut amps), false, false))
            });
            if simd::isa() == simd::Isa::Avx512 {
                group.bench_function(BenchmarkId::new(name, "1t_avx2"), |b| {
                    b.iter(|| op.apply_with_isa(black_box(&mut amps), false, simd::Isa::Avx2))
                });
            }
            // Single precision: the f32 kernels on a complex64 state.
            group.bench_function(BenchmarkId::new(name, "1t_single"), |b| {
                b.iter(|| op.apply_vectorised(simd::isa(), black_box(&mut single), false))
            });
        }
    }
    group.finish();
}

fn circuits(c: &mut Criterion) {
    let mut group = c.benchmark_group("circuits");
    group.sample_size(10);
    let deep = layered_circuit(N, 10, 1, false);
    for precision in [Precision::Double, Precision::Single] {
        let opts = RunOptions {
            precision,
            ..RunOptions::default()
        };
        group.bench_function(
            format!("random_20q_10_layers_statevector_{precision}"),
            |b| b.iter(|| ferroq_core::statevector(black_box(&deep), &opts).unwrap()),
        );
    }
    let unfused = RunOptions {
        shots: 1,
        seed: Some(1),
        statevector: true,
        fusion: false,
        ..RunOptions::default()
    };
    group.bench_function("random_20q_10_layers_statevector_unfused", |b| {
        b.iter(|| ferroq_core::run(std::slice::from_ref(black_box(&deep)), &unfused).unwrap())
    });
    let batch: Vec<Circuit> = (0..1000)
        .map(|i| layered_circuit(10, 20, i, true))
        .collect();
    let opts = RunOptions {
        shots: 1000,
        seed: Some(7),
        ..RunOptions::default()
    };
    group.bench_function("batch_1000x10q_20_layers_1000_shots", |b| {
        b.iter(|| ferroq_core::run(black_box(&batch), &opts).unwrap())
    });
    group.finish();
}

criterion_group!(benches, kernels, circuits);
criterion_main!(benches);
