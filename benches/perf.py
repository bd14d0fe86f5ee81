#!/usr/bin/env python3
"""The performance issue's side-by-side benchmark: ferroq against Qiskit Aer, qulacs and
qsim (qsimcirq), whichever are installed, on the same circuits, in one process run.

Every workload builds its circuits for each simulator outside the timing, warms each
simulator up once, then times ``--reps`` repetitions with the order of simulators
rotating between repetitions, so machine noise hits every contender alike. Reported:
median, min and max per simulator, and the ratio peer median / ferroq median
(> 1: ferroq is faster).

Workloads (``--only`` picks some by name):
  layered   random layered circuits (RX, RZ on every qubit, then a CX brickwork) at
            n = 16, 20, 22, 24, 26, final statevector; time per gate is printed too.
  qv        quantum volume circuits (random SU(4) on random qubit pairs), n = 20, 22.
  qft       the quantum Fourier transform (H, controlled phases, final swaps), n = 20, 22.
  batch     1000 circuits of 10 qubits x 20 layers, 1000 shots each, all qubits
            measured, through each simulator's own API.
  qiskit    the same 1000 circuits as Qiskit QuantumCircuits through backend.run
            (ferroq.qiskit.FerroqSimulator against AerSimulator): conversion included.
  sampling  10^6 shots from a 20-qubit state, all qubits measured; shots/s. Counts in
            each simulator's fastest form: ferroq's get_counts_array and numpy's unique
            over qulacs' samples (integer arrays); Aer and qsim only have dictionaries.
  sweep     one 1-qubit gate over a 26-qubit state, next to a memory-bandwidth probe
            (numpy scaling the same number of bytes in place, read + write, on every
            core).

Precision: every simulator runs complex128 except qsim, which only has complex64 (qsim,
qsim3 and qsim2 fuse gates into blocks of up to 4, 3 and 2 qubits: its best setting
depends on the circuit), and ferroq32, which is ferroq with precision="single"
(complex64 storage and f32 arithmetic). "vs ferroq" is against ferroq in double
precision; "vs ferroq32", printed when ferroq32 runs, against ferroq32.

  python benches/perf.py --threads 2 --reps 3
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import platform
import random
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

# (name, qubits, parameter or 4x4 unitary or None)
Op = tuple[str, tuple[int, ...], Any]
Runner = Callable[[], Any]


def layered(n: int, layers: int, rng: random.Random) -> list[Op]:
    ops: list[Op] = []
    for layer in range(layers):
        for q in range(n):
            ops.append(("rx", (q,), rng.uniform(0, 2 * math.pi)))
            ops.append(("rz", (q,), rng.uniform(0, 2 * math.pi)))
        for q in range(layer % 2, n - 1, 2):
            ops.append(("cx", (q, q + 1), None))
    return ops


def random_su4(rng: np.random.Generator) -> np.ndarray:
    z = (rng.standard_normal((4, 4)) + 1j * rng.standard_normal((4, 4))) / math.sqrt(2)
    q, r = np.linalg.qr(z)
    d = np.diag(r)
    return q * (d / abs(d))


def quantum_volume(n: int, depth: int, seed: int) -> list[Op]:
    rng = np.random.default_rng(seed)
    ops: list[Op] = []
    for _ in range(depth):
        perm = rng.permutation(n)
        for i in range(n // 2):
            a, b = int(perm[2 * i]), int(perm[2 * i + 1])
            ops.append(("unitary", (a, b), random_su4(rng)))
    return ops


def qft(n: int) -> list[Op]:
    ops: list[Op] = []
    for j in reversed(range(n)):
        ops.append(("h", (j,), None))
        for k in reversed(range(j)):
            ops.append(("cp", (k, j), math.pi / 2 ** (j - k)))
    for i in range(n // 2):
        ops.append(("swap", (i, n - 1 - i), None))
    return ops


def with_barriers(ops: list[Op], n: int) -> list[Op]:
    """Puts a barrier after every op: the single-gate sweep must not be fused away."""
    out: list[Op] = []
    for op in ops:
        out.extend([op, ("barrier", tuple(range(n)), None)])
    return out


# --------------------------------------------------------------------------- simulators
# Each maker returns {"sv": f(ops, n) -> runner, "batch": f(list of ops, n, shots, seed)
# -> runner, "sample": f(ops, n, shots, seed) -> runner}; runners do only the timed work.


def make_ferroq(threads: int, precision: str = "double") -> dict[str, Callable[..., Runner]]:
    import ferroq

    sim = ferroq.Simulator(max_parallel_threads=threads, precision=precision)

    def build(ops: list[Op], n: int, measure: bool) -> ferroq.Circuit:
        c = ferroq.Circuit(n, n if measure else 0)
        for name, qs, p in ops:
            if name == "unitary":
                c.unitary(p, list(qs))
            elif name == "barrier":
                c.barrier()
            else:
                c.append(name, qs, () if p is None else (p,))
        if measure:
            c.measure(list(range(n)), list(range(n)))
        return c

    def sv(ops: list[Op], n: int) -> Runner:
        c = build(ops, n, False)
        return lambda: ferroq.statevector(c, max_parallel_threads=threads, precision=precision)

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(o, n, True) for o in circs]
        return lambda: sim.run(cs, shots=shots, seed=seed).result().get_counts()

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        # Counts as (outcome, count) arrays, as qulacs users count its samples.
        c = build(ops, n, True)
        return lambda: sim.run(c, shots=shots, seed=seed).result().get_counts_array()

    return {"sv": sv, "batch": batch, "sample": sample}


def _qiskit_circuit(ops: list[Op], n: int, measure: bool) -> Any:
    from qiskit import QuantumCircuit

    c = QuantumCircuit(n, n if measure else 0)
    for name, qs, p in ops:
        if name == "unitary":
            c.unitary(p, list(qs))
        elif name == "barrier":
            c.barrier()
        else:
            getattr(c, name)(*(() if p is None else (p,)), *qs)
    if measure:
        c.measure(range(n), range(n))
    return c


def make_aer(threads: int) -> dict[str, Callable[..., Runner]]:
    from qiskit_aer import AerSimulator

    sim = AerSimulator(method="statevector", max_parallel_threads=threads)
    # Aer fuses across barriers: the single-gate sweep needs fusion off.
    unfused = AerSimulator(method="statevector", max_parallel_threads=threads, fusion_enable=False)

    def sv(ops: list[Op], n: int, backend: Any = sim) -> Runner:
        c = _qiskit_circuit(ops, n, False)
        c.save_statevector()
        return lambda: backend.run(c).result().get_statevector()

    def sv_unfused(ops: list[Op], n: int) -> Runner:
        return sv(ops, n, unfused)

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [_qiskit_circuit(o, n, True) for o in circs]
        return lambda: sim.run(cs, shots=shots, seed_simulator=seed).result().get_counts()

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = _qiskit_circuit(ops, n, True)
        return lambda: sim.run(c, shots=shots, seed_simulator=seed).result().get_counts()

    return {"sv": sv, "sv_unfused": sv_unfused, "batch": batch, "sample": sample}


def make_qulacs(threads: int) -> dict[str, Callable[..., Runner]]:
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
            elif name == "rz":
                c.add_gate(gate.RotZ(qs[0], p))
            elif name == "h":
                c.add_gate(gate.H(qs[0]))
            elif name == "swap":
                c.add_gate(gate.SWAP(*qs))
            elif name == "cp":
                c.add_gate(gate.DiagonalMatrix(list(qs), [1, 1, 1, complex(math.cos(p), math.sin(p))]))
            elif name == "unitary":
                c.add_gate(gate.DenseMatrix(list(qs), p))
            elif name == "barrier":
                pass
            else:
                raise ValueError(name)
        return c

    def sv(ops: list[Op], n: int) -> Runner:
        c = build(ops, n)

        def go() -> Any:
            s = qulacs.QuantumState(n)
            c.update_quantum_state(s)
            return s.get_vector()

        return go

    def _counts(s: Any, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return np.unique(np.asarray(s.sampling(shots, seed)), return_counts=True)

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(o, n) for o in circs]

        def go() -> Any:
            out = []
            for c in cs:
                s = qulacs.QuantumState(n)
                c.update_quantum_state(s)
                out.append(_counts(s, shots, seed))
            return out

        return go

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = build(ops, n)

        def go() -> Any:  # samples as a list of ints, counted by numpy
            s = qulacs.QuantumState(n)
            c.update_quantum_state(s)
            return _counts(s, shots, seed)

        return go

    return {"sv": sv, "batch": batch, "sample": sample}


def make_qsim(threads: int, fusion: int = 4) -> dict[str, Callable[..., Runner]]:
    import cirq
    import qsimcirq

    sim = qsimcirq.QSimSimulator(qsimcirq.QSimOptions(cpu_threads=threads, max_fused_gate_size=fusion))

    def build(ops: list[Op], n: int, measure: bool) -> Any:
        qs = cirq.LineQubit.range(n)
        c = cirq.Circuit()
        for name, q, p in ops:
            if name == "cx":
                c.append(cirq.CNOT(qs[q[0]], qs[q[1]]))
            elif name == "rx":
                c.append(cirq.rx(p).on(qs[q[0]]))
            elif name == "rz":
                c.append(cirq.rz(p).on(qs[q[0]]))
            elif name == "h":
                c.append(cirq.H(qs[q[0]]))
            elif name == "swap":
                c.append(cirq.SWAP(qs[q[0]], qs[q[1]]))
            elif name == "cp":
                c.append(cirq.CZPowGate(exponent=p / math.pi).on(qs[q[0]], qs[q[1]]))
            elif name == "unitary":
                # cirq orders a gate's qubits big endian: the first is the most significant.
                c.append(cirq.MatrixGate(p).on(qs[q[1]], qs[q[0]]))
            elif name == "barrier":
                pass
            else:
                raise ValueError(name)
        if measure:
            c.append(cirq.measure(*qs, key="m"))
        return c

    def sv(ops: list[Op], n: int) -> Runner:
        c = build(ops, n, False)
        return lambda: sim.simulate(c).final_state_vector

    def batch(circs: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(o, n, True) for o in circs]
        return lambda: [sim.run(c, repetitions=shots).histogram(key="m") for c in cs]

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = build(ops, n, True)
        return lambda: sim.run(c, repetitions=shots).histogram(key="m")

    return {"sv": sv, "batch": batch, "sample": sample}


def make_qiskit_front(threads: int) -> dict[str, Callable[..., Runner]]:
    """ferroq and Aer behind the same Qiskit BackendV2 interface."""
    from ferroq.qiskit import FerroqSimulator

    backends: dict[str, Any] = {"ferroq": FerroqSimulator(max_parallel_threads=threads)}
    try:
        from qiskit_aer import AerSimulator

        backends["aer"] = AerSimulator(method="statevector", max_parallel_threads=threads)
    except ImportError:
        pass

    def batch(name: str, circs: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [_qiskit_circuit(o, n, True) for o in circs]
        b = backends[name]
        return lambda: b.run(cs, shots=shots, seed_simulator=seed).result().get_counts()

    return {name: functools.partial(batch, name) for name in backends}


MAKERS = {
    "ferroq": make_ferroq,
    "ferroq32": functools.partial(make_ferroq, precision="single"),
    "aer": make_aer,
    "qulacs": make_qulacs,
    "qsim": make_qsim,
    # qsim's best fusion width depends on the circuit (3 on quantum volume, where
    # 4-qubit blocks cost more arithmetic than they save): all three contend.
    "qsim3": functools.partial(make_qsim, fusion=3),
    "qsim2": functools.partial(make_qsim, fusion=2),
}
# Simulators that store complex64 (agreement is checked to single-precision rounding).
SINGLE = {"ferroq32", "qsim", "qsim3", "qsim2"}


# --------------------------------------------------------------------------- checking
def check_agreement(sims: dict[str, dict[str, Callable[..., Runner]]]) -> None:
    """The peers must compute the same states as ferroq, or the timings mean nothing:
    compares final states (up to global phase) on small instances of every workload."""
    n = 8
    cases = {
        "layered": layered(n, 4, random.Random(5)),
        "qv": quantum_volume(n, 4, 5),
        "qft": [("rx", (q,), 0.3 * q + 0.1) for q in range(n)] + qft(n),
    }
    for title, ops in cases.items():
        want = np.asarray(sims["ferroq"]["sv"](ops, n)())
        for name, m in sims.items():
            got = np.asarray(m["sv"](ops, n)(), dtype=np.complex128).ravel()
            if name.startswith("qsim"):  # cirq's LineQubit(0) is the most significant bit
                got = got.reshape([2] * n).transpose(list(reversed(range(n)))).ravel()
            err = 1.0 - abs(np.vdot(want, got))
            tol = 1e-5 if name in SINGLE else 1e-10
            if err > tol:
                raise SystemExit(f"{name} disagrees with ferroq on {title}: {err:.2e}")
    print("# every simulator agrees with ferroq on small layered, QV and QFT circuits")


# --------------------------------------------------------------------------- timing
def timed(fn: Runner) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(title: str, fns: dict[str, Runner], reps: int, per: tuple[str, float] | None = None) -> None:
    for fn in fns.values():  # warm-up: imports, thread pools, allocations
        fn()
    times: dict[str, list[float]] = {s: [] for s in fns}
    names = list(fns)
    for rep in range(reps):
        for s in names[rep % len(names) :] + names[: rep % len(names)]:
            times[s].append(timed(fns[s]))
    base = statistics.median(times["ferroq"])
    # Single-precision peers are also compared with ferroq in single precision.
    base32 = statistics.median(times["ferroq32"]) if "ferroq32" in times else None
    print(f"\n{title}")
    unit = f"{per[0]:>14}" if per else ""
    col32 = f" {'vs ferroq32':>11}" if base32 else ""
    print(f"  {'simulator':<10} {'median s':>10} {'min':>10} {'max':>10} {'vs ferroq':>10}{col32} {unit}")
    for s, ts in times.items():
        med = statistics.median(ts)
        extra = f" {per[1] / med:14.4g}" if per else ""
        r32 = f" {med / base32:11.2f}" if base32 else ""
        print(f"  {s:<10} {med:10.4f} {min(ts):10.4f} {max(ts):10.4f} {med / base:10.2f}{r32}{extra}")


def bandwidth_probe(n: int, threads: int, reps: int) -> float:
    """Seconds for one read + write pass over a complex128 array of 2^n, split over
    `threads` numpy calls in threads (numpy releases the GIL): the memory-bound floor
    of a 1-qubit gate."""
    a = np.ones(2 << n, dtype=np.float64)  # the bytes of 2^n complex128
    parts = np.array_split(a, threads)

    def one() -> None:
        workers = [threading.Thread(target=np.multiply, args=(p, 1.000001), kwargs={"out": p}) for p in parts]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    one()
    return statistics.median(timed(one) for _ in range(reps))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sims", default=",".join(MAKERS))
    ap.add_argument("--only", default="layered,qv,qft,batch,qiskit,sampling,sweep")
    ap.add_argument("--sizes", default="16,20,22,24,26", help="qubit counts of the layered circuits")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    only = set(args.only.split(","))

    sims: dict[str, dict[str, Callable[..., Runner]]] = {}
    for name in args.sims.split(","):
        try:
            sims[name] = MAKERS[name](args.threads)
        except ImportError as err:
            print(f"# skipping {name}: {err}")
    import ferroq

    versions = {"ferroq": ferroq.__version__}
    for mod in ("qiskit_aer", "qulacs", "qsimcirq", "qiskit"):
        try:
            versions[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            pass
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, threads={args.threads}")
    print("# " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    engine = ferroq.engine_info()
    print(f"# ferroq kernels {engine.instruction_set}, cache for blocking {engine.cache_bytes} bytes")
    check_agreement(sims)
    rng = random.Random(args.seed)

    if "layered" in only:
        # Fewer layers on larger states keep each repetition to seconds.
        layers_for = {16: 20, 20: 10, 22: 6, 24: 4, 26: 2}
        for n in (int(x) for x in args.sizes.split(",")):
            ops = layered(n, layers_for.get(n, 4), rng)
            fns = {s: m["sv"](ops, n) for s, m in sims.items()}
            compare(f"layered n={n}, {len(ops)} gates, statevector", fns, args.reps, ("gates/s", len(ops)))
            del fns
    if "qv" in only:
        for n in (20, 22):
            ops = quantum_volume(n, n, args.seed)
            fns = {s: m["sv"](ops, n) for s, m in sims.items()}
            compare(f"quantum volume n={n}, depth {n}, {len(ops)} SU(4) blocks", fns, args.reps)
    if "qft" in only:
        for n in (20, 22):
            ops = qft(n)
            fns = {s: m["sv"](ops, n) for s, m in sims.items()}
            compare(f"QFT n={n}, {len(ops)} gates", fns, args.reps)
    circuits = [layered(10, 20, rng) for _ in range(args.batch)]
    if "batch" in only:
        fns = {s: m["batch"](circuits, 10, 1000, args.seed) for s, m in sims.items()}
        title = f"batch {args.batch} x 10q x 20 layers, 1000 shots"
        compare(title, fns, args.reps, ("circuits/s", args.batch))
    if "qiskit" in only:
        front = make_qiskit_front(args.threads)
        fns = {s: f(circuits, 10, 1000, args.seed) for s, f in front.items()}
        compare(
            f"Qiskit front end: batch {args.batch} x 10q x 20 layers, 1000 shots (backend.run)",
            fns,
            args.reps,
            ("circuits/s", args.batch),
        )
    if "sampling" in only:
        n, shots = 20, 10**6
        ops = [("h", (q,), None) for q in range(n)] + [("rz", (q,), 0.1 * q) for q in range(n)]
        fns = {s: m["sample"](ops, n, shots, args.seed) for s, m in sims.items()}
        compare(f"sampling {shots} shots from a {n}-qubit state", fns, args.reps, ("shots/s", shots))
    if "sweep" in only:
        n, gates = 26, 20
        # H on every qubit first, so that no simulator can drop idle qubits (Aer
        # truncates them); then one H per barrier-separated layer, so that nothing
        # fuses and each extra gate sweeps the whole state. Per gate = the time
        # difference between 1 + `gates` and 1 such layers, over `gates`.
        prep = [("h", (q,), None) for q in range(n)]
        many = prep + with_barriers([("h", (n // 2,), None)] * (gates + 1), n)
        one = prep + with_barriers([("h", (n // 2,), None)], n)
        sweep_sims = {s: m for s, m in sims.items() if s in ("ferroq", "ferroq32", "aer", "qulacs")}
        per_gate: dict[str, list[float]] = {s: [] for s in sweep_sims}
        runners = {
            s: (m.get("sv_unfused", m["sv"])(many, n), m.get("sv_unfused", m["sv"])(one, n))
            for s, m in sweep_sims.items()
        }
        for a, b in runners.values():
            a(), b()
        for _ in range(args.reps):
            for s, (a, b) in runners.items():
                per_gate[s].append((timed(a) - timed(b)) / gates)
        del runners
        floor = bandwidth_probe(n, args.threads, max(args.reps, 5))
        # complex64 moves half the bytes: its floor is the probe over half the array.
        floor32 = bandwidth_probe(n - 1, args.threads, max(args.reps, 5))
        print(f"\nsingle H gate on a {n}-qubit state (1 GiB), per gate, against the bandwidth floor")
        print(f"  bandwidth probe (numpy, {args.threads} threads, read+write of 1 GiB): {floor:.4f} s")
        print(f"  bandwidth probe (read+write of 512 MiB, the complex64 state): {floor32:.4f} s")
        print(f"  {'simulator':<10} {'median s':>10} {'vs floor':>10}")
        for s, ts in per_gate.items():
            med = statistics.median(ts)
            print(f"  {s:<10} {med:10.4f} {med / (floor32 if s in SINGLE else floor):10.2f}")


if __name__ == "__main__":
    main()
