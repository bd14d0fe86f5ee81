#!/usr/bin/env python3
"""ferroq and Aer through the same Qiskit front end: transpiled circuits in, counts out.

Both backends get the same transpiled QuantumCircuits; the timed call is
``backend.run(circuits, shots=1000, seed_simulator=1).result().get_counts()``,
so ferroq's time includes converting the QuantumCircuits. Medians over --reps
interleaved repetitions in one process; ratio = Aer time / ferroq time.

  python benches/qiskit_front.py --threads 2 --reps 5

A last section splits ferroq's batch time into converting the QuantumCircuits
(with Qiskit's C API reader, and with the portable reader through Python
objects) and simulating the converted circuits through ferroq's own API.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from typing import Any

from qiskit import QuantumCircuit, transpile


def layered(n: int, layers: int, rng: random.Random) -> QuantumCircuit:
    qc = QuantumCircuit(n, n)
    for layer in range(layers):
        for q in range(n):
            qc.rx(rng.uniform(0, 6.28), q)
            qc.rz(rng.uniform(0, 6.28), q)
        for q in range(layer % 2, n - 1, 2):
            qc.cx(q, q + 1)
    qc.measure(range(n), range(n))
    return qc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=1000, help="circuits in the conversion section")
    args = ap.parse_args()

    from ferroq.qiskit import FerroqSimulator

    backends: dict[str, Any] = {"ferroq": FerroqSimulator(max_parallel_threads=args.threads)}
    try:
        from qiskit_aer import AerSimulator

        backends["aer"] = AerSimulator(method="statevector", max_parallel_threads=args.threads)
    except ImportError as err:
        print(f"# skipping aer: {err}")

    rng = random.Random(7)
    workloads = {
        "20 qubits x 10 layers, 1000 shots": [layered(20, 10, rng)],
        "200 circuits of 10 qubits x 20 layers, 1000 shots": [layered(10, 20, rng) for _ in range(200)],
        "QFT-like: 16-qubit qft + measure, 1000 shots": [_qft(16)],
    }
    for title, circuits in workloads.items():
        # Transpile once for each backend (outside the timing), as a user would.
        inputs = {name: transpile(circuits, b, optimization_level=1) for name, b in backends.items()}
        for name, b in backends.items():  # warm-up
            b.run(inputs[name], shots=10).result()
        times: dict[str, list[float]] = {name: [] for name in backends}
        names = list(backends)
        for rep in range(args.reps):
            for name in names[rep % len(names) :] + names[: rep % len(names)]:
                t0 = time.perf_counter()
                backends[name].run(inputs[name], shots=1000, seed_simulator=1).result().get_counts()
                times[name].append(time.perf_counter() - t0)
        base = statistics.median(times["ferroq"])
        print(f"\n{title}")
        print(f"  {'backend':<8} {'median s':>10} {'min':>10} {'max':>10} {'vs ferroq':>10}")
        for name, ts in times.items():
            med = statistics.median(ts)
            print(f"  {name:<8} {med:10.4f} {min(ts):10.4f} {max(ts):10.4f} {med / base:10.2f}")

    conversion(backends["ferroq"], args)


def conversion(backend: Any, args: argparse.Namespace) -> None:
    """Convert vs simulate for a batch of small circuits (issue: converting must not
    take longer than simulating)."""
    import ferroq
    from ferroq.qiskit import _convert

    rng = random.Random(11)
    circuits = transpile([layered(10, 20, rng) for _ in range(args.batch)], backend, optimization_level=1)
    instructions = sum(len(c.data) for c in circuits)
    sim = ferroq.Simulator(max_parallel_threads=args.threads)
    native = _convert._NATIVE_READER

    def convert_with(reader: bool) -> Any:
        def go() -> Any:
            _convert._NATIVE_READER = reader
            try:
                return [_convert.to_ferroq(c) for c in circuits]
            finally:
                _convert._NATIVE_READER = native

        return go

    converted = convert_with(native)()
    steps = {
        "convert (Qiskit C API reader)": convert_with(True) if native else None,
        "convert (Python-object reader)": convert_with(False),
        "simulate converted, ferroq API": lambda: sim.run(converted, shots=1000, seed=1).result(),
        "backend.run whole, get_counts": lambda: (
            backend.run(circuits, shots=1000, seed_simulator=1).result().get_counts()
        ),
    }
    times: dict[str, list[float]] = {k: [] for k, f in steps.items() if f is not None}
    for _ in range(args.reps):
        for k in times:
            t0 = time.perf_counter()
            steps[k]()  # type: ignore[misc]
            times[k].append(time.perf_counter() - t0)
    print(f"\nconversion: {args.batch} circuits of 10 qubits x 20 layers, 1000 shots")
    print(f"  ({instructions} instructions after transpiling)")
    base = statistics.median(times["simulate converted, ferroq API"])
    print(f"  {'step':<32} {'median s':>10} {'min':>10} {'max':>10} {'vs simulate':>12} {'ns/instr':>9}")
    for k, ts in times.items():
        med = statistics.median(ts)
        per = f"{med / instructions * 1e9:9.0f}" if k.startswith("convert") else ""
        print(f"  {k:<32} {med:10.4f} {min(ts):10.4f} {max(ts):10.4f} {med / base:12.2f} {per:>9}")


def _qft(n: int) -> QuantumCircuit:
    from qiskit.synthesis.qft import synth_qft_full

    qc = QuantumCircuit(n, n)
    qc.h(range(n))
    qc.compose(synth_qft_full(n), inplace=True)
    qc.measure(range(n), range(n))
    return qc


if __name__ == "__main__":
    main()
