#!/usr/bin/env python3
"""The cost of distribution: one batch run locally and on a Dask cluster.

The batch: ``--circuits`` random layered circuits (RX and RZ on every qubit, then a
CX brickwork, ``--layers`` times, as in ``perf.py``'s batch), ``--qubits`` qubits,
every qubit measured, ``--shots`` shots each. Timed: ``run()`` to the merged
result's counts (``get_counts()`` of every circuit).

Contenders, interleaved over ``--reps`` repetitions after one warm-up each:
  local        ``Simulator.run(batch)``: one job on ferroq's own scheduler, every core.
  dask[k]      the same batch with ``executor=client`` on a ``LocalCluster`` of
               ``--workers`` worker processes x ``--threads-per-worker`` threads on
               loopback, with ``max_job_size=k`` (``auto``: about 4 chunks per
               worker thread).
  processes    ``concurrent.futures.ProcessPoolExecutor(--workers)``, automatic split.

Reported: median, min and max time, circuits per second, and the ratio of each
median to the local run's (> 1: slower than local, the overhead of distribution).
The script first checks that every contender returns the local run's counts.

  python benches/distributed_batch.py --circuits 2000 --reps 5
"""

from __future__ import annotations

import argparse
import concurrent.futures
import logging
import math
import multiprocessing
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import ferroq


def layered(n: int, layers: int, rng: random.Random) -> ferroq.Circuit:
    circuit = ferroq.Circuit(n, n)
    for layer in range(layers):
        for q in range(n):
            circuit.rx(rng.uniform(0, 2 * math.pi), q)
            circuit.rz(rng.uniform(0, 2 * math.pi), q)
        for q in range(layer % 2, n - 1, 2):
            circuit.cx(q, q + 1)
    return circuit.measure(range(n), range(n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--circuits", type=int, default=2000)
    ap.add_argument("--qubits", type=int, default=10)
    ap.add_argument("--layers", type=int, default=20)
    ap.add_argument("--shots", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--sizes", default="auto,50,250", help="max_job_size values for Dask (auto: not set)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    from dask.distributed import Client, LocalCluster

    rng = random.Random(args.seed)
    circuits = [layered(args.qubits, args.layers, rng) for _ in range(args.circuits)]
    sim = ferroq.Simulator(shots=args.shots, seed=args.seed)
    print(
        f"# {platform.machine()}, {os.cpu_count()} CPUs, ferroq {ferroq.__version__}; "
        f"{args.circuits} circuits x {args.qubits} qubits x {args.layers} layers, {args.shots} shots"
    )

    cluster = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = Client(cluster)
    pool = concurrent.futures.ProcessPoolExecutor(
        args.workers, mp_context=multiprocessing.get_context("spawn")
    )
    try:
        runs: dict[str, Callable[[], Any]] = {"local": lambda: sim.run(circuits).result().get_counts()}
        for size in args.sizes.split(","):
            max_job_size = None if size == "auto" else int(size)
            runs[f"dask[{size}]"] = split_run(sim, circuits, client, max_job_size)
        runs["processes"] = split_run(sim, circuits, pool, None)

        reference = runs["local"]()
        for name, fn in runs.items():  # warm-up and agreement
            assert fn() == reference, f"{name} disagrees with the local run"

        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.reps):
            for name, fn in runs.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    finally:
        pool.shutdown()
        client.close()
        cluster.close()

    local = statistics.median(times["local"])
    print(f"{'contender':<14} {'median':>9} {'min':>9} {'max':>9} {'circuits/s':>11} {'vs local':>9}")
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"{name:<14} {median:>8.3f}s {min(values):>8.3f}s {max(values):>8.3f}s "
            f"{args.circuits / median:>11.0f} {median / local:>8.2f}x"
        )


def split_run(
    sim: ferroq.Simulator, circuits: list[ferroq.Circuit], executor: Any, size: int | None
) -> Callable[[], Any]:
    def run() -> Any:
        return sim.run(circuits, executor=executor, max_job_size=size).result().get_counts()

    return run


if __name__ == "__main__":
    main()
