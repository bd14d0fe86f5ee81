"""Qiskit V2 primitives side by side: ferroq.qiskit.EstimatorV2 / SamplerV2 against
qiskit_aer.primitives' and against Qiskit's generic BackendEstimatorV2 /
BackendSamplerV2 on ferroq's backend, in one process, repetitions interleaved
after a warm-up, medians quoted.

    python benches/primitives.py [--reps 5] [--threads 2]

Workloads (every contender gets the same PUBs):
- estimator: a 12-qubit EfficientSU2 (reps 3, 96 parameters), a 45-term random
  Pauli observable, 200 parameter sets, at precision 0 and 0.01;
- estimator, broadcast: the same circuit, 40 parameter sets x 10 observables;
- sampler: the same circuit measured, 200 parameter sets x 1,000 shots;
- sampler, wide: a 20-qubit circuit, 20 parameter sets x 10,000 shots.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from ferroq.qiskit import EstimatorV2, FerroqSimulator, SamplerV2
from qiskit.circuit.library import efficient_su2
from qiskit.primitives import BackendEstimatorV2, BackendSamplerV2
from qiskit.quantum_info import SparsePauliOp


def workloads(rng: np.random.Generator) -> dict[str, tuple[str, list, dict]]:
    n = 12
    qc = efficient_su2(n, reps=3)
    paulis = ["".join(rng.choice(list("IXYZ"), n)) for _ in range(45)]
    observable = SparsePauliOp(paulis, rng.normal(size=45))
    values = rng.uniform(0, 2 * np.pi, (200, qc.num_parameters))
    observables = [
        SparsePauliOp(["".join(rng.choice(list("IXYZ"), n)) for _ in range(5)], rng.normal(size=5))
        for _ in range(10)
    ]
    broadcast_values = rng.uniform(0, 2 * np.pi, (40, 1, qc.num_parameters))
    measured = qc.measure_all(inplace=False)
    wide = efficient_su2(20, reps=2).measure_all(inplace=False)
    wide_values = rng.uniform(0, 2 * np.pi, (20, wide.num_parameters))
    return {
        "estimator p=0": ("estimator", [(qc, observable, values)], {"precision": 0.0}),
        "estimator p=0.01": ("estimator", [(qc, observable, values)], {"precision": 0.01}),
        "estimator 40x10 broadcast": (
            "estimator",
            [(qc, observables, broadcast_values)],
            {"precision": 0.0},
        ),
        "sampler 200 sets x 1000 shots": ("sampler", [(measured, values)], {"shots": 1000}),
        "sampler n=20, 20 sets x 10000 shots": ("sampler", [(wide, wide_values)], {"shots": 10000}),
    }


def contenders(threads: int) -> dict[str, dict[str, Callable[[], object]]]:
    out: dict[str, dict[str, object]] = {
        "ferroq": {
            "estimator": EstimatorV2(options={"backend_options": {"max_parallel_threads": threads}}),
            "sampler": SamplerV2(seed=1, options={"backend_options": {"max_parallel_threads": threads}}),
        },
        "qiskit Backend*V2 on ferroq": {
            "estimator": BackendEstimatorV2(backend=FerroqSimulator(max_parallel_threads=threads)),
            "sampler": BackendSamplerV2(backend=FerroqSimulator(max_parallel_threads=threads)),
        },
    }
    try:
        from qiskit_aer.primitives import EstimatorV2 as AerEstimator
        from qiskit_aer.primitives import SamplerV2 as AerSampler

        out["aer"] = {
            "estimator": AerEstimator(options={"backend_options": {"max_parallel_threads": threads}}),
            "sampler": AerSampler(seed=1, options={"backend_options": {"max_parallel_threads": threads}}),
        }
    except ImportError:
        print("qiskit-aer is not installed: no Aer column")
    return out  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(2026)
    who = contenders(args.threads)
    names = list(who)
    print(f"| workload | {' | '.join(names)} | " + " | ".join(f"{n} / ferroq" for n in names[1:]) + " |")
    print("| --- " * (1 + 2 * len(names) - 1) + "|")
    for title, (kind, pubs, kwargs) in workloads(rng).items():
        runs = {
            n: (lambda p=who[n][kind], pubs=pubs, kwargs=kwargs: p.run(pubs, **kwargs).result())  # type: ignore[attr-defined]
            for n in names
        }
        failed: dict[str, str] = {}
        slow: set[str] = set()  # over 5 s a run: timed once, not --reps times
        for n in names:  # warm-up; a contender that cannot run the workload says why
            start = time.perf_counter()
            try:
                runs[n]()
            except Exception as err:
                failed[n] = f"{type(err).__name__}: {str(err)[:60]}"
            if time.perf_counter() - start > 5:
                slow.add(n)
        live = [n for n in names if n not in failed]
        times: dict[str, list[float]] = {n: [] for n in live}
        for rep in range(args.reps):
            for n in live[rep % len(live) :] + live[: rep % len(live)]:
                if n in slow and times[n]:
                    continue
                start = time.perf_counter()
                runs[n]()
                times[n].append(time.perf_counter() - start)
        medians = {n: statistics.median(t) for n, t in times.items()}
        spread = ", ".join(f"{n} {min(t):.3f}-{max(t):.3f}" for n, t in times.items())
        cells = " | ".join(f"{medians[n]:.3f}" if n in medians else "n/a" for n in names)
        ratios = " | ".join(
            f"{medians[n] / medians['ferroq']:.2f}x" if n in medians else "n/a" for n in names[1:]
        )
        for n, why in failed.items():
            print(f"<!-- {title}: {n} did not run: {why} -->")
        print(f"| {title} | {cells} | {ratios} |  <!-- min-max s: {spread} -->")


if __name__ == "__main__":
    main()
