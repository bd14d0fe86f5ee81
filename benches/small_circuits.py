"""Small circuits, one call each: ``ferroq.statevector`` against qulacs'
``update_quantum_state`` on the same random circuits (H, RX, CX), in one process,
repetitions interleaved, medians quoted. What it measures is the fixed cost of a
call (options, planning, hand-off, the array handed back) next to the simulation.

    python benches/small_circuits.py [--reps 7]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import ferroq
import numpy as np

SIZES = [(4, 50), (8, 100), (10, 150), (12, 150), (14, 100), (16, 60)]


def circuits(n: int, gates: int, seed: int) -> tuple[Callable[[], object], Callable[[], object] | None]:
    rng = np.random.default_rng(seed)
    ops = []
    for _ in range(gates):
        kind = int(rng.integers(3))
        if kind == 0:
            ops.append(("h", int(rng.integers(n)), None))
        elif kind == 1:
            ops.append(("rx", int(rng.integers(n)), float(rng.uniform(0, 2 * np.pi))))
        else:
            a, b = rng.choice(n, 2, replace=False)
            ops.append(("cx", int(a), int(b)))
    c = ferroq.Circuit(n)
    for name, a, b in ops:
        if name == "h":
            c.h(a)
        elif name == "rx":
            c.rx(b, a)
        else:
            c.cx(a, b)

    def ours() -> object:
        return ferroq.statevector(c)

    try:
        from qulacs import QuantumCircuit, QuantumState
    except ImportError:
        return ours, None
    qc = QuantumCircuit(n)
    for name, a, b in ops:
        if name == "h":
            qc.add_H_gate(a)
        elif name == "rx":
            qc.add_RX_gate(a, -b)  # qulacs' rotation angle has the other sign
        else:
            qc.add_CNOT_gate(a, b)

    def theirs() -> object:
        state = QuantumState(n)
        qc.update_quantum_state(state)
        return state.get_vector()

    assert np.allclose(ours(), theirs(), atol=1e-10), "the two disagree"
    return ours, theirs


def seconds_per_call(fn: Callable[[], object], budget: float = 0.05) -> float:
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-7)
    calls = max(3, int(budget / once))
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    print("| qubits | gates | ferroq ms | qulacs ms | ferroq / qulacs |")
    print("| --- | --- | --- | --- | --- |")
    for n, gates in SIZES:
        ours, theirs = circuits(n, gates, seed=n)
        times: dict[str, list[float]] = {"ferroq": [], "qulacs": []}
        for rep in range(args.reps):
            pair = [("ferroq", ours), ("qulacs", theirs)]
            for name, fn in pair if rep % 2 == 0 else pair[::-1]:
                if fn is not None:
                    times[name].append(seconds_per_call(fn))
        f = statistics.median(times["ferroq"])
        q = statistics.median(times["qulacs"]) if times["qulacs"] else float("nan")
        print(f"| {n} | {gates} | {f * 1e3:.3f} | {q * 1e3:.3f} | {f / q:.2f}x |")


if __name__ == "__main__":
    main()
