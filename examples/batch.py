"""Example batch: a parameter sweep of 200 variational circuits, sampled in one call.

Run with:  python examples/batch.py
"""

from __future__ import annotations

import math
import time

import ferroq


def ansatz(theta: float, num_qubits: int = 12, layers: int = 4) -> ferroq.Circuit:
    """A hardware-efficient ansatz: RY/RZ layers with a CX ladder, all qubits measured."""
    c = ferroq.Circuit(num_qubits, num_qubits, name=f"theta={theta:.3f}")
    for layer in range(layers):
        for q in range(num_qubits):
            c.ry(theta * (q + 1) / num_qubits, q).rz(theta / (layer + 1), q)
        for q in range(num_qubits - 1):
            c.cx(q, q + 1)
    return c.measure(list(range(num_qubits)), list(range(num_qubits)))


def main() -> None:
    thetas = [2 * math.pi * k / 200 for k in range(200)]
    circuits = [ansatz(t) for t in thetas]
    sim = ferroq.Simulator(shots=2000, seed=2026)
    start = time.perf_counter()
    result = sim.run(circuits).result()
    elapsed = time.perf_counter() - start
    print(f"ferroq {ferroq.__version__}: {len(circuits)} circuits x 2000 shots in {elapsed:.3f} s")
    print(f"{'circuit':>14}  {'P(all zeros)':>12}  {'most frequent':>14}  {'count':>5}")
    for i in range(0, len(circuits), 25):
        counts = result.get_counts(i)
        top = max(counts, key=counts.__getitem__)
        zeros = counts.get("0" * 12, 0) / 2000
        print(f"{circuits[i].name:>14}  {zeros:12.4f}  {top:>14}  {counts[top]:5d}")


if __name__ == "__main__":
    main()
