#!/usr/bin/env python3
"""Side-by-side benchmark of ferroq against the peers installed in this interpreter.

All simulators run in one process, interleaved (the order rotates each
repetition) so that machine noise hits every contender alike. Reported: the
median of each, and its ratio to ferroq (> 1 means the peer is slower).

Workloads (as in the foundation issue):
  random20  a 20-qubit random layered circuit (RX/RZ on every qubit + CX
            brickwork), final statevector.
  batch     1000 circuits of 10 qubits x 20 layers, all qubits measured,
            1000 shots each: circuits per second (construction untimed).

Peers are optional: qiskit-aer, qulacs, qsimcirq; missing ones are skipped.

  python benches/compare.py --threads 2 --reps 5
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

Op = tuple[str, tuple[int, ...], float | None]


def layered(n: int, layers: int, rng: random.Random) -> list[Op]:
    ops: list[Op] = []
    for layer in range(layers):
        for q in range(n):
            ops.append(("rx", (q,), rng.uniform(0, 2 * math.pi)))
            ops.append(("rz", (q,), rng.uniform(0, 2 * math.pi)))
        for q in range(layer % 2, n - 1, 2):
            ops.append(("cx", (q, q + 1), None))
    return ops


# Each maker returns (statevector_fn(ops, n) -> callable, batch_fn(list_of_ops, n, shots, seed) -> callable)
# where the returned callables do only the timed work.


def make_ferroq(threads: int) -> dict[str, Callable[..., Callable[[], Any]]]:
    import ferroq

    sim = ferroq.Simulator(max_parallel_threads=threads)

    def build(ops: list[Op], n: int, measure: bool) -> ferroq.Circuit:
        c = ferroq.Circuit(n, n if measure else 0)
        for name, qs, p in ops:
            c.append(name, qs, () if p is None else (p,))
        if measure:
            c.measure(list(range(n)), list(range(n)))
        return c

    def sv(ops: list[Op], n: int) -> Callable[[], Any]:
        c = build(ops, n, False)
        return lambda: ferroq.statevector(c, max_parallel_threads=threads)

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Callable[[], Any]:
        cs = [build(o, n, True) for o in circs]
        return lambda: [r.counts() for r in sim.run(cs, shots=shots, seed=seed).result().results]

    return {"sv": sv, "batch": batch}


def make_aer(threads: int) -> dict[str, Callable[..., Callable[[], Any]]]:
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector", max_parallel_threads=threads)

    def build(ops: list[Op], n: int, measure: bool) -> QuantumCircuit:
        c = QuantumCircuit(n, n if measure else 0)
        for name, qs, p in ops:
            getattr(c, name)(*(() if p is None else (p,)), *qs)
        if measure:
            c.measure(range(n), range(n))
        else:
            c.save_statevector()
        return c

    def sv(ops: list[Op], n: int) -> Callable[[], Any]:
        c = build(ops, n, False)
        return lambda: sim.run(c).result().get_statevector()

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Callable[[], Any]:
        cs = [build(o, n, True) for o in circs]
        return lambda: sim.run(cs, shots=shots, seed_simulator=seed).result().get_counts()

    return {"sv": sv, "batch": batch}


def make_qulacs(threads: int) -> dict[str, Callable[..., Callable[[], Any]]]:
    os.environ.setdefault("QULACS_NUM_THREADS", str(threads))
    import qulacs
    from qulacs import gate

    def build(ops: list[Op], n: int) -> Any:
        c = qulacs.QuantumCircuit(n)
        for name, qs, p in ops:
            if name == "cx":
                c.add_gate(gate.CNOT(*qs))
            elif name == "rx":
                c.add_gate(gate.RotX(qs[0], p))
            else:
                c.add_gate(gate.RotZ(qs[0], p))
        return c

    def sv(ops: list[Op], n: int) -> Callable[[], Any]:
        c = build(ops, n)

        def go() -> Any:
            s = qulacs.QuantumState(n)
            c.update_quantum_state(s)
            return s.get_vector()

        return go

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Callable[[], Any]:
        cs = [build(o, n) for o in circs]

        def go() -> Any:
            out = []
            for c in cs:
                s = qulacs.QuantumState(n)
                c.update_quantum_state(s)
                samples = s.sampling(shots, seed)
                counts: dict[int, int] = {}
                for x in samples:
                    counts[x] = counts.get(x, 0) + 1
                out.append(counts)
            return out

        return go

    return {"sv": sv, "batch": batch}


def make_qsim(threads: int) -> dict[str, Callable[..., Callable[[], Any]]]:
    import cirq
    import qsimcirq

    opts = qsimcirq.QSimOptions(cpu_threads=threads, max_fused_gate_size=4)
    sim = qsimcirq.QSimSimulator(opts)

    def build(ops: list[Op], n: int, measure: bool) -> Any:
        qs = cirq.LineQubit.range(n)
        c = cirq.Circuit()
        for name, q, p in ops:
            if name == "cx":
                c.append(cirq.CNOT(qs[q[0]], qs[q[1]]))
            elif name == "rx":
                c.append(cirq.rx(p).on(qs[q[0]]))
            else:
                c.append(cirq.rz(p).on(qs[q[0]]))
        if measure:
            c.append(cirq.measure(*qs, key="m"))
        return c

    def sv(ops: list[Op], n: int) -> Callable[[], Any]:
        c = build(ops, n, False)
        return lambda: sim.simulate(c).final_state_vector

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Callable[[], Any]:
        cs = [build(o, n, True) for o in circs]
        return lambda: [sim.run(c, repetitions=shots).histogram(key="m") for c in cs]

    return {"sv": sv, "batch": batch}


MAKERS = {"ferroq": make_ferroq, "aer": make_aer, "qulacs": make_qulacs, "qsim": make_qsim}


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sims", default=",".join(MAKERS))
    ap.add_argument("--qubits", type=int, default=20)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()

    sims = {}
    for name in args.sims.split(","):
        try:
            sims[name] = MAKERS[name](args.threads)
        except ImportError as err:
            print(f"# skipping {name}: {err}")
    rng = random.Random(args.seed)
    deep = layered(args.qubits, args.layers, rng)
    batch = [layered(10, 20, rng) for _ in range(args.batch)]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={args.threads}")

    workloads = {
        f"random{args.qubits} ({len(deep)} gates, statevector) [s]": {
            s: m["sv"](deep, args.qubits) for s, m in sims.items()
        },
        f"batch {args.batch} x 10q x 20 layers, 1000 shots [s]": {
            s: m["batch"](batch, 10, 1000, args.seed) for s, m in sims.items()
        },
    }
    for title, fns in workloads.items():
        for fn in fns.values():  # warm-up: imports, thread pools, JIT-like caches
            fn()
        times: dict[str, list[float]] = {s: [] for s in fns}
        names = list(fns)
        for rep in range(args.reps):
            for s in names[rep % len(names) :] + names[: rep % len(names)]:
                times[s].append(timed(fns[s]))
        base = statistics.median(times["ferroq"]) if "ferroq" in times else None
        print(f"\n{title}")
        print(f"  {'simulator':<8} {'median':>10} {'min':>10} {'max':>10} {'vs ferroq':>10}")
        for s, ts in times.items():
            med = statistics.median(ts)
            ratio = f"{med / base:10.2f}" if base else f"{'-':>10}"
            print(f"  {s:<8} {med:10.4f} {min(ts):10.4f} {max(ts):10.4f} {ratio}")
        if "batch" in title and base:
            print(f"  ferroq: {args.batch / base:.0f} circuits/s")


if __name__ == "__main__":
    main()
