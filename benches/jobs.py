#!/usr/bin/env python3
"""Job-layer benchmark: ferroq side by side with qiskit-aer (when installed).

  latency     run() -> result() for one 2-qubit Bell circuit, 100 shots:
              median and 90th percentile over --reps calls.
  throughput  --jobs tiny jobs (a Bell circuit, 100 shots each) submitted one
              by one, then every result collected: jobs per second.

Both simulators run in this one process, alternating, 1 thread each for the
tiny circuits. Ratios are Aer time / ferroq time (> 1: ferroq faster).

  python benches/jobs.py --reps 300 --jobs 10000
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any


def ferroq_makers() -> tuple[Callable[[], Any], Callable[[int], Any]]:
    import ferroq

    sim = ferroq.Simulator(shots=100, seed=1, max_parallel_threads=1)
    bell = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])

    def one() -> Any:
        return sim.run(bell).result().get_counts()

    def many(n: int) -> Any:
        jobs = [sim.run(bell) for _ in range(n)]
        return [j.result().get_counts() for j in jobs]

    return one, many


def aer_makers() -> tuple[Callable[[], Any], Callable[[int], Any]]:
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector", max_parallel_threads=1, seed_simulator=1, shots=100)
    bell = QuantumCircuit(2, 2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure([0, 1], [0, 1])

    def one() -> Any:
        return sim.run(bell).result().get_counts()

    def many(n: int) -> Any:
        jobs = [sim.run(bell) for _ in range(n)]
        return [j.result().get_counts() for j in jobs]

    return one, many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--jobs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3, help="throughput repetitions per simulator")
    args = ap.parse_args()

    sims: dict[str, tuple[Callable[[], Any], Callable[[int], Any]]] = {"ferroq": ferroq_makers()}
    try:
        sims["aer"] = aer_makers()
    except ImportError as err:
        print(f"# skipping aer: {err}")

    latency: dict[str, list[float]] = {s: [] for s in sims}
    for one, _ in sims.values():
        for _ in range(20):  # warm-up: worker threads, imports
            one()
    for _ in range(args.reps):
        for name, (one, _) in sims.items():
            t0 = time.perf_counter()
            one()
            latency[name].append(time.perf_counter() - t0)

    print(f"latency run() -> result(), 2-qubit Bell, 100 shots, {args.reps} calls")
    print(f"  {'simulator':<8} {'median us':>10} {'p90 us':>10} {'vs ferroq':>10}")
    base = statistics.median(latency["ferroq"])
    for name, ts in latency.items():
        med = statistics.median(ts)
        p90 = statistics.quantiles(ts, n=10)[-1]
        print(f"  {name:<8} {med * 1e6:10.1f} {p90 * 1e6:10.1f} {med / base:10.2f}")

    rates: dict[str, list[float]] = {s: [] for s in sims}
    for _ in range(args.rounds):
        for name, (_, many) in sims.items():
            t0 = time.perf_counter()
            many(args.jobs)
            rates[name].append(args.jobs / (time.perf_counter() - t0))
    print(f"\nthroughput: {args.jobs} tiny jobs submitted, then all results collected ({args.rounds} rounds)")
    print(f"  {'simulator':<8} {'median jobs/s':>14} {'min':>10} {'max':>10} {'ferroq / sim':>13}")
    base_rate = statistics.median(rates["ferroq"])
    for name, rs in rates.items():
        med = statistics.median(rs)
        print(f"  {name:<8} {med:14.0f} {min(rs):10.0f} {max(rs):10.0f} {base_rate / med:13.2f}")


if __name__ == "__main__":
    main()
