"""``ferroq bench``: a short side-by-side benchmark against the peers installed here.

A small version of the project's full benchmark (``benches/perf.py``): the same
circuits for every contender, all in this process, each contender warmed up once
and then timed ``reps`` times with the order of contenders rotating between
repetitions, so that machine noise hits every contender alike. Reported per
contender: median, min and max seconds, and the ratio contender / ferroq (> 1:
ferroq is faster). Peers (Qiskit Aer, qulacs, qsim through qsimcirq) are imported
only here, and skipped with a note when missing or when they fail.

Workloads:

* ``layered``: a random layered circuit (RX and RZ on every qubit, then a CX
  brickwork; fixed seed) on ``qubits`` qubits, final statevector, complex128
  (ferroq, Aer, qulacs). Every peer's state is checked against ferroq's
  (fidelity > 1 - 1e-6) before it is timed: a contender whose state differs gets
  no ratio.
* ``layered_single``: the same circuit with complex64 states (ferroq with
  ``precision="single"`` against qsim, whose only precision it is); both states
  are checked against ferroq's double-precision one.
* ``batch``: many small circuits (10 qubits x 20 layers, 1000 shots each, every
  qubit measured: 200 circuits, or 1000 without ``quick``), through each
  simulator's own batch API; ratio per circuit. A peer too slow to run the whole
  batch within the time budget is timed on a prefix of the same circuits (said
  in the table).
* ``sampling``: 10^6 shots (10^5 with ``quick``) from a ``qubits``-qubit state,
  counted in each simulator's fastest form (ferroq's ``get_counts_array``, numpy
  over qulacs' and qsim's samples, Aer's counts dictionary).
* ``sweep``: one 1-qubit gate sweeping the ``qubits``-qubit state (per gate: the
  difference between circuits of 1 + k and 1 barrier-separated gates, over k;
  Aer with fusion off), next to a memory-bandwidth probe that reads and writes
  the same bytes with numpy (in place, split over the threads): the ratio to the
  probe is how close a gate gets to the memory-bound floor.

>>> import io
>>> from ferroq._bench import run_bench
>>> report = run_bench(quick=True, qubits=8, reps=1, peers=[], out=io.StringIO())
>>> list(report["workloads"])
['layered', 'layered_single', 'batch', 'sampling', 'sweep']
>>> report["workloads"]["layered"]["contenders"]["ferroq"]["ratio"]
1.0
"""

from __future__ import annotations

import concurrent.futures
import gc
import importlib
import importlib.metadata
import importlib.util
import math
import os
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

__all__ = ["PEERS", "run_bench"]

#: The peers ``run_bench`` knows, by the name ``peers=`` takes.
PEERS = ("aer", "qulacs", "qsim")
_PEER_MODULES = {"aer": "qiskit_aer", "qulacs": "qulacs", "qsim": "qsimcirq"}
_PEER_DISTRIBUTIONS = {
    "aer": ("qiskit-aer", "qiskit"),
    "qulacs": ("qulacs",),
    "qsim": ("qsimcirq", "cirq-core"),
}
_SEED = 1234
#: A peer whose final state has a fidelity to ferroq's below ``1 - this`` gets no ratio.
FIDELITY_TOLERANCE = 1e-6
_MAX_QUBITS = 30
_BATCH_QUBITS, _BATCH_LAYERS, _BATCH_SHOTS = 10, 20, 1000
_WARM_CIRCUITS = 5
_MIN_CIRCUITS = 20

# (gate name, qubits, angle or None); names: rx, rz, h, cx, barrier.
Op = tuple[str, tuple[int, ...], float | None]
Runner = Callable[[], Any]


# ----------------------------------------------------------------------- circuits
def _layered(n: int, layers: int, rng: random.Random) -> list[Op]:
    ops: list[Op] = []
    for layer in range(layers):
        for q in range(n):
            ops.append(("rx", (q,), rng.uniform(0, 2 * math.pi)))
            ops.append(("rz", (q,), rng.uniform(0, 2 * math.pi)))
        for q in range(layer % 2, n - 1, 2):
            ops.append(("cx", (q, q + 1), None))
    return ops


def _layers_for(n: int, quick: bool) -> int:
    """Fewer layers on larger states keep each repetition short."""
    full = 10 if n <= 20 else 6 if n <= 22 else 4 if n <= 24 else 2
    return max(2, full // 2) if quick else full


def _sweep_ops(n: int, target: int, gates: int) -> list[Op]:
    """H on every qubit (so no simulator can drop idle qubits), then ``gates`` H
    gates on ``target``, each between barriers so that nothing fuses them."""
    ops: list[Op] = [("h", (q,), None) for q in range(n)]
    for _ in range(gates):
        ops += [("barrier", (), None), ("h", (target,), None)]
    return [*ops, ("barrier", (), None)]


def _sampling_ops(n: int) -> list[Op]:
    return [("h", (q,), None) for q in range(n)] + [("rz", (q,), 0.1 * q) for q in range(n)]


# ---------------------------------------------------------------------- contenders
@dataclass
class _Contender:
    """What one simulator can do; each maker turns circuits into a runner (untimed),
    and the runner does only the timed work."""

    name: str
    statevector: Callable[[list[Op], int], Runner] | None = None
    batch: Callable[[list[list[Op]], int, int, int], Runner] | None = None
    sample: Callable[[list[Op], int, int, int], Runner] | None = None
    #: (n, target, gates) -> a function returning the measured seconds per gate
    sweep: Callable[[int, int, int], Callable[[], float]] | None = None


def _make_ferroq(threads: int, precision: str = "double") -> _Contender:
    import ferroq

    sim = ferroq.Simulator(max_parallel_threads=threads, precision=precision)

    def build(ops: list[Op], n: int, measure: bool) -> ferroq.Circuit:
        c = ferroq.Circuit(n, n if measure else 0)
        for name, qs, p in ops:
            if name == "barrier":
                c.barrier()
            else:
                c.append(name, qs, () if p is None else (p,))
        if measure:
            c.measure(list(range(n)), list(range(n)))
        return c

    def statevector(ops: list[Op], n: int) -> Runner:
        c = build(ops, n, False)
        return lambda: ferroq.statevector(c, max_parallel_threads=threads, precision=precision)

    def batch(circuits: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(ops, n, True) for ops in circuits]
        return lambda: sim.run(cs, shots=shots, seed=seed).result().get_counts()

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = build(ops, n, True)
        return lambda: sim.run(c, shots=shots, seed=seed).result().get_counts_array()

    def sweep(n: int, target: int, gates: int) -> Callable[[], float]:
        many, one = statevector(_sweep_ops(n, target, gates + 1), n), statevector(_sweep_ops(n, target, 1), n)
        return lambda: _difference(many, one) / gates

    if precision != "double":
        return _Contender("ferroq_single", statevector=statevector)
    return _Contender("ferroq", statevector=statevector, batch=batch, sample=sample, sweep=sweep)


def _module(name: str) -> Any:
    """Peers ship no type information (or partial stubs): they are ``Any`` here."""
    return importlib.import_module(name)


def _qiskit_circuit(ops: list[Op], n: int, measure: bool) -> Any:
    c = _module("qiskit").QuantumCircuit(n, n if measure else 0)
    for name, qs, p in ops:
        if name == "barrier":
            c.barrier()
        else:
            getattr(c, name)(*(() if p is None else (p,)), *qs)
    if measure:
        c.measure(range(n), range(n))
    return c


def _make_aer(threads: int) -> _Contender:
    AerSimulator = _module("qiskit_aer").AerSimulator

    backend = AerSimulator(method="statevector", max_parallel_threads=threads)
    # Aer fuses across barriers: the single-gate sweep needs fusion off.
    unfused = AerSimulator(method="statevector", max_parallel_threads=threads, fusion_enable=False)

    def statevector(ops: list[Op], n: int, sim: Any = backend) -> Runner:
        c = _qiskit_circuit(ops, n, False)
        c.save_statevector()
        return lambda: sim.run(c).result().get_statevector()

    def batch(circuits: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [_qiskit_circuit(ops, n, True) for ops in circuits]
        return lambda: backend.run(cs, shots=shots, seed_simulator=seed).result().get_counts()

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = _qiskit_circuit(ops, n, True)
        return lambda: backend.run(c, shots=shots, seed_simulator=seed).result().get_counts()

    def sweep(n: int, target: int, gates: int) -> Callable[[], float]:
        many = statevector(_sweep_ops(n, target, gates + 1), n, unfused)
        one = statevector(_sweep_ops(n, target, 1), n, unfused)
        return lambda: _difference(many, one) / gates

    return _Contender("aer", statevector=statevector, batch=batch, sample=sample, sweep=sweep)


def _count_samples(samples: npt.NDArray[np.int64], n: int) -> Any:
    """Counts of integer samples as numpy does it fastest for the width."""
    if n <= 20:
        return np.bincount(samples, minlength=1 << n)
    return np.unique(samples, return_counts=True)


def _make_qulacs(threads: int) -> _Contender:
    qulacs = _module("qulacs")
    gate = _module("qulacs.gate")

    del threads  # set through QULACS_NUM_THREADS, which qulacs reads on every call

    def build(ops: list[Op], n: int) -> Any:
        c = qulacs.QuantumCircuit(n)
        for name, qs, p in ops:
            if name == "cx":
                c.add_gate(gate.CNOT(qs[0], qs[1]))
            elif name == "rx":
                c.add_gate(gate.RotX(qs[0], p))
            elif name == "rz":
                c.add_gate(gate.RotZ(qs[0], p))
            elif name == "h":
                c.add_gate(gate.H(qs[0]))
            elif name != "barrier":
                raise ValueError(f"no qulacs gate for {name}")
        return c

    def statevector(ops: list[Op], n: int) -> Runner:
        c = build(ops, n)

        def run() -> Any:
            state = qulacs.QuantumState(n)
            c.update_quantum_state(state)
            return state.get_vector()

        return run

    def batch(circuits: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(ops, n) for ops in circuits]

        def run() -> Any:
            state = qulacs.QuantumState(n)
            out = []
            for i, c in enumerate(cs):
                state.set_zero_state()
                c.update_quantum_state(state)
                out.append(_count_samples(np.asarray(state.sampling(shots, seed + i)), n))
            return out

        return run

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = build(ops, n)

        def run() -> Any:
            state = qulacs.QuantumState(n)
            c.update_quantum_state(state)
            return _count_samples(np.asarray(state.sampling(shots, seed)), n)

        return run

    def sweep(n: int, target: int, gates: int) -> Callable[[], float]:
        state = qulacs.QuantumState(n)
        build(_sweep_ops(n, target, 0), n).update_quantum_state(state)
        h = gate.H(target)

        def run() -> float:  # qulacs applies one gate to a state it keeps: time it directly
            start = time.perf_counter()
            for _ in range(gates):
                h.update_quantum_state(state)
            return (time.perf_counter() - start) / gates

        return run

    return _Contender("qulacs", statevector=statevector, batch=batch, sample=sample, sweep=sweep)


def _make_qsim(threads: int) -> _Contender:
    cirq = _module("cirq")
    qsimcirq = _module("qsimcirq")

    sim = qsimcirq.QSimSimulator(
        qsimcirq.QSimOptions(cpu_threads=threads, max_fused_gate_size=4, verbosity=0), seed=_SEED
    )

    def build(ops: list[Op], n: int, measure: bool) -> Any:
        line = cirq.LineQubit.range(n)
        # cirq's first qubit is the most significant: ferroq's qubit q is line[n - 1 - q].
        qubit = [line[n - 1 - q] for q in range(n)]
        c = cirq.Circuit()
        for name, qs, p in ops:
            if name == "cx":
                c.append(cirq.CNOT(qubit[qs[0]], qubit[qs[1]]))
            elif name == "rx":
                c.append(cirq.rx(p).on(qubit[qs[0]]))
            elif name == "rz":
                c.append(cirq.rz(p).on(qubit[qs[0]]))
            elif name == "h":
                c.append(cirq.H(qubit[qs[0]]))
            elif name != "barrier":
                raise ValueError(f"no cirq gate for {name}")
        if measure:
            c.append(cirq.measure(*line, key="m"))
        return c

    def counts(result: Any, n: int) -> Any:
        bits = result.measurements["m"]  # column j is ferroq's qubit n - 1 - j
        weights = np.left_shift(np.int64(1), np.arange(n - 1, -1, -1, dtype=np.int64))
        return _count_samples(bits.astype(np.int64) @ weights, n)

    def statevector(ops: list[Op], n: int) -> Runner:
        c = build(ops, n, False)
        return lambda: sim.simulate(c).final_state_vector

    def batch(circuits: list[list[Op]], n: int, shots: int, seed: int) -> Runner:
        cs = [build(ops, n, True) for ops in circuits]
        return lambda: [counts(sim.run(c, repetitions=shots), n) for c in cs]

    def sample(ops: list[Op], n: int, shots: int, seed: int) -> Runner:
        c = build(ops, n, True)
        return lambda: counts(sim.run(c, repetitions=shots), n)

    return _Contender("qsim", statevector=statevector, batch=batch, sample=sample)


_MAKERS: dict[str, Callable[[int], _Contender]] = {
    "aer": _make_aer,
    "qulacs": _make_qulacs,
    "qsim": _make_qsim,
}


# ------------------------------------------------------------------------- timing
def _seconds(fn: Runner) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _difference(many: Runner, one: Runner, pairs: int = 3) -> float:
    """The median over ``pairs`` of the time of ``many`` less that of ``one``."""
    return statistics.median(_seconds(many) - _seconds(one) for _ in range(pairs))


class _Clock:
    """Times contenders over repetitions, rotating their order, within a time budget
    per contender (at least one timed repetition each)."""

    def __init__(self, reps: int, budget: float, progress: Callable[[str], None]) -> None:
        self.reps, self.budget, self.progress = reps, budget, progress

    def run(
        self, title: str, measures: dict[str, Callable[[], float]], errors: dict[str, str]
    ) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {name: [] for name in measures}
        spent = dict.fromkeys(measures, 0.0)
        names = list(measures)
        for rep in range(self.reps):
            # Ends as soon as every contender has failed or spent its budget, so a
            # huge ``reps`` costs the budget, not ``reps`` empty rounds.
            live = [n for n in names if n not in errors and not (times[n] and spent[n] >= self.budget)]
            if not live:
                break
            order = live[rep % len(live) :] + live[: rep % len(live)]
            for name in order:
                self.progress(f"{title}: {name}, repetition {rep + 1} of {self.reps}")
                # The collection counts against the budget (not the timing): tiny
                # workloads would otherwise repeat thousands of times.
                start = time.perf_counter()
                gc.collect()
                try:
                    times[name].append(measures[name]())
                except Exception as err:
                    if name.startswith("ferroq"):
                        raise
                    errors[name] = _describe(err)
                spent[name] += time.perf_counter() - start
        return times


def _describe(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:200]


# ---------------------------------------------------------------------- reporting
def _entry(times: Sequence[float] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "median_s": None,
        "min_s": None,
        "max_s": None,
        "reps": 0,
        "times_s": [],
        "ratio": None,
        "ok": True,
        "note": None,
    }
    if times:
        entry.update(
            median_s=statistics.median(times),
            min_s=min(times),
            max_s=max(times),
            reps=len(times),
            times_s=list(times),
        )
    return entry


def _ratios(record: dict[str, Any], units: dict[str, float] | None = None) -> None:
    """Fills each contender's ratio: its median per unit over the baseline's."""
    contenders = record["contenders"]
    base = contenders.get(record["baseline"])
    if base is None or base["median_s"] is None or base["median_s"] <= 0:
        return
    units = units or {}
    base_per = base["median_s"] / units.get(record["baseline"], 1.0)
    for name, entry in contenders.items():
        if entry["ok"] and entry["median_s"] is not None and entry["median_s"] > 0:
            entry["ratio"] = (entry["median_s"] / units.get(name, 1.0)) / base_per


def _fidelity(want: npt.NDArray[np.complex128], got: Any) -> float:
    vector = np.asarray(got, dtype=np.complex128).reshape(-1)
    if vector.shape != want.shape:
        return 0.0
    norms = float(np.vdot(want, want).real * np.vdot(vector, vector).real)
    return float(abs(np.vdot(want, vector)) ** 2 / norms) if norms > 0 else 0.0


def _total(counts: Any) -> int:
    """The number of shots in one circuit's counts, whatever their form."""
    if isinstance(counts, dict):
        return int(sum(counts.values()))
    if isinstance(counts, tuple):  # (outcomes, counts) arrays
        return int(np.asarray(counts[1]).sum())
    return int(np.asarray(counts).sum())


def _si(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _bytes(size: int) -> str:
    for shift, suffix in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << shift:
            return f"{size / (1 << shift):.3g} {suffix}"
    return f"{size} B"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def _print_record(
    out: TextIO, record: dict[str, Any], rate: tuple[str, Callable[[str, dict[str, Any]], str]]
) -> None:
    rate_name, rate_of = rate
    unit = "per gate" if record.get("unit") == "gate" else "per run"
    print(f"\n{record['name']}: {record['title']}", file=out)
    rows = [["contender", f"median ms {unit}", "min ms", "max ms", "reps", rate_name, "ratio", "note"]]
    if "probe" in record:
        probe = record["probe"]
        rows.append(
            [
                "(bandwidth probe)",
                _ms(probe["median_s"]),
                _ms(probe["min_s"]),
                _ms(probe["max_s"]),
                str(probe["reps"]),
                "1.00",
                "",
                f"numpy, read + write of {_bytes(probe['bytes'])} in place",
            ]
        )
    for name, entry in record["contenders"].items():
        timed = entry["median_s"] is not None and entry["median_s"] > 0
        rows.append(
            [
                name,
                _ms(entry["median_s"]),
                _ms(entry["min_s"]),
                _ms(entry["max_s"]),
                str(entry["reps"]),
                rate_of(name, entry) if timed else "-",
                f"{entry['ratio']:.2f}" if entry["ratio"] is not None else "-",
                entry["note"] or "",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for i, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(w) for cell, w in zip(row[1:-1], widths[1:], strict=True)
        ]
        print("  " + "  ".join(cells) + (f"  {row[-1]}" if row[-1] else ""), file=out)
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths), file=out)
    for note in record["notes"]:
        print(f"  note: {note}", file=out)
    out.flush()


# ------------------------------------------------------------------------ bench
@dataclass
class _Settings:
    quick: bool
    qubits: int
    reps: int
    threads: int
    budget: float
    out: TextIO
    progress: Callable[[str], None]


# The engine's own bound on max_parallel_threads (ferroq-core's RunOptions):
# checked here so that the error names this function's argument.
_MAX_THREADS = 4096


def _check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return int(value)


def _resolve_peers(peers: Sequence[str] | str | None) -> tuple[list[str], dict[str, str]]:
    """The peers asked for (all of ``PEERS`` by default) that are installed, and a
    note for each one asked for that is not."""
    if peers is None:
        asked = list(PEERS)
    else:
        if isinstance(peers, str):
            peers = [p for p in peers.split(",") if p.strip()]
        if not isinstance(peers, Sequence):
            raise TypeError(f"peers must be a list of names, not {type(peers).__name__}")
        asked = []
        for name in peers:
            if not isinstance(name, str):
                raise TypeError(f"peers: names must be str, got {type(name).__name__} {name!r}")
            key = name.strip().lower()
            if key not in PEERS:
                raise ValueError(f"unknown peer {name!r}: the peers are {', '.join(PEERS)}")
            if key not in asked:
                asked.append(key)
    installed, skipped = [], {}
    for name in asked:
        module = _PEER_MODULES[name]
        if importlib.util.find_spec(module) is None:
            skipped[name] = f"not installed (no module {module})"
        else:
            installed.append(name)
    return installed, skipped


def _versions(names: Sequence[str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in names:
        parts = []
        for dist in _PEER_DISTRIBUTIONS[name]:
            try:
                parts.append(f"{dist} {importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                pass
        versions[name] = ", ".join(parts) or "unknown version"
    return versions


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_bench(
    *,
    quick: bool = False,
    qubits: int = 20,
    reps: int | None = None,
    peers: Sequence[str] | None = None,
    threads: int | None = None,
    out: TextIO | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs the short benchmark, prints a table per workload to ``out`` (default
    ``sys.stdout``) and returns the report as a JSON-able dict.

    Args:
        quick: smaller batches and fewer shots, 3 repetitions: about 10-20 s with
            every peer on 2 cores (the default takes about a minute).
        qubits: the width of the large-state workloads (1 to 30; the batch is
            always of 10-qubit circuits).
        reps: timed repetitions per contender after a warm-up (default 3 with
            ``quick``, else 5). A contender stops repeating once its timed runs
            add up to the time budget (0.5 s per workload with ``quick``, else
            3 s), after one run at least; a batch too long for the budget is
            timed on a prefix of its circuits.
        peers: names among ``"aer"``, ``"qulacs"``, ``"qsim"``; by default every
            one installed. A peer asked for but not installed is skipped with a
            note; an unknown name raises ``ValueError``.
        threads: threads for every contender, 1 to 4096 (default: the CPUs this
            process may use).
        out: where the tables go.
        progress: called with a short message before each step.

    Returns:
        ``{"settings", "machine", "skipped", "workloads", "agreement", "elapsed_s"}``:
        ``workloads`` maps each workload's name to its ``title``, ``params``,
        ``baseline``, ``notes`` and ``contenders``, each contender with
        ``median_s``, ``min_s``, ``max_s``, ``reps``, ``times_s``, ``ratio``
        (contender / baseline per run, per circuit for the batch, per gate for
        the sweep; ``None`` when not timed or wrong), ``ok`` and ``note``.
    """
    import ferroq
    from ferroq import _core

    if not isinstance(quick, (bool, np.bool_)):
        raise TypeError(f"quick must be a bool, not {type(quick).__name__}")
    qubits = _check_int("qubits", qubits, 1, _MAX_QUBITS)
    reps = (3 if quick else 5) if reps is None else _check_int("reps", reps, 1)
    threads = _usable_cpus() if threads is None else _check_int("threads", threads, 1, _MAX_THREADS)
    names, skipped = _resolve_peers(peers)
    settings = _Settings(
        quick=bool(quick),
        qubits=qubits,
        reps=reps,
        threads=threads,
        budget=0.5 if quick else 3.0,
        out=sys.stdout if out is None else out,
        progress=progress if progress is not None else (lambda message: None),
    )
    started = time.perf_counter()
    saved_env = os.environ.get("QULACS_NUM_THREADS")
    os.environ["QULACS_NUM_THREADS"] = str(threads)
    try:
        contenders = [_make_ferroq(threads)]
        loading = time.perf_counter()
        for name in names:
            settings.progress(f"loading {name}")
            try:
                contenders.append(_MAKERS[name](threads))
            except Exception as err:  # broken installs raise more than ImportError
                skipped[name] = f"failed to load: {_describe(err)}"
        loaded = [c.name for c in contenders[1:]]
        report: dict[str, Any] = {
            "settings": {
                "quick": settings.quick,
                "qubits": qubits,
                "reps": reps,
                "threads": threads,
                "peers": loaded,
                "seed": _SEED,
                "time_budget_s": settings.budget,
            },
            "load_s": time.perf_counter() - loading,
            "machine": {
                "cpu_count": os.cpu_count(),
                "usable_cpus": _usable_cpus(),
                "last_level_cache_bytes": _core.system_cache_bytes(),
                "ferroq_engine": ferroq.engine_info()._asdict(),
                "processor": platform.processor() or platform.machine(),
                "platform": platform.platform(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "ferroq": ferroq.__version__,
                "peers": _versions(loaded),
            },
            "skipped": dict(skipped),
            "workloads": {},
            "agreement": {},
        }
        _print_header(settings, report)
        workloads, agreement = report["workloads"], report["agreement"]
        cache = report["machine"]["last_level_cache_bytes"]
        single = [_make_ferroq(threads, "single"), *contenders]
        reference: list[npt.NDArray[np.complex128]] = []
        steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [
            ("layered", lambda: _bench_layered(settings, contenders, agreement, reference)),
            ("layered_single", lambda: _bench_layered_single(settings, single, reference.pop(), agreement)),
            ("batch", lambda: _bench_batch(settings, contenders)),
            ("sampling", lambda: _bench_sampling(settings, contenders)),
            ("sweep", lambda: _bench_sweep(settings, contenders, cache)),
        ]
        for name, step in steps:
            begun = time.perf_counter()
            workloads[name] = step()
            workloads[name]["elapsed_s"] = time.perf_counter() - begun
    finally:
        if saved_env is None:
            os.environ.pop("QULACS_NUM_THREADS", None)
        else:
            os.environ["QULACS_NUM_THREADS"] = saved_env
    report["elapsed_s"] = time.perf_counter() - started
    _print_footer(settings, report)
    return report


def _print_header(settings: _Settings, report: dict[str, Any]) -> None:
    out, machine = settings.out, report["machine"]
    mode = "quick" if settings.quick else "full"
    print(
        f"ferroq bench ({mode}): ferroq {machine['ferroq']}, numpy {machine['numpy']}, "
        f"python {machine['python']}, {machine['processor']}, {machine['cpu_count']} CPUs "
        f"({machine['usable_cpus']} usable), {settings.threads} threads per contender",
        file=out,
    )
    engine = machine["ferroq_engine"]
    cache = engine["cache_bytes"]
    blocking = (
        "cache blocking at every size (cache size unknown)"
        if cache is None
        else f"cache blocking for states over {_bytes(cache // 2)} (half the {_bytes(cache)} cache)"
    )
    print(f"  ferroq engine: {engine['instruction_set']} kernels, {blocking}", file=out)
    for name, version in machine["peers"].items():
        print(f"  peer {name}: {version}", file=out)
    for name, why in report["skipped"].items():
        print(f"  peer {name} skipped: {why}", file=out)
    print(
        f"Medians of up to {settings.reps} repetitions after a warm-up (fewer once a contender's "
        f"runs add up to {settings.budget:g} s); ratio = contender / ferroq (> 1: ferroq is faster).",
        file=out,
    )
    out.flush()


def _print_footer(settings: _Settings, report: dict[str, Any]) -> None:
    out = settings.out
    agreement = report["agreement"]
    good = [name for name, a in agreement.items() if a["ok"]]
    bad = [f"{name} (fidelity {a['fidelity']:.9f})" for name, a in agreement.items() if not a["ok"]]
    print("", file=out)
    if good:
        print(
            f"Correctness: {', '.join(good)} reached ferroq's final state on the layered circuit "
            f"(fidelity > 1 - {FIDELITY_TOLERANCE:g}).",
            file=out,
        )
    if bad:
        print(f"WRONG STATE, no ratio reported: {', '.join(bad)}.", file=out)
    if not agreement:
        print("Correctness: no peer to check against ferroq.", file=out)
    print(f"Total {report['elapsed_s']:.1f} s.", file=out)
    out.flush()


def _check_state(
    name: str,
    entry: dict[str, Any],
    reference: npt.NDArray[np.complex128],
    state: Any,
    agreement: dict[str, Any],
    what: str,
) -> bool:
    fidelity = _fidelity(reference, state)
    ok = fidelity > 1 - FIDELITY_TOLERANCE
    entry["fidelity"] = fidelity
    agreement[name] = {"fidelity": fidelity, "ok": ok, "workload": what}
    if ok:
        entry["note"] = f"state agrees (1 - fidelity = {max(1 - fidelity, 0.0):.1e})"
    else:
        entry["ok"] = False
        entry["note"] = f"WRONG STATE (fidelity {fidelity:.6f}): not timed, no ratio"
    return ok


def _statevector_workload(
    settings: _Settings,
    record: dict[str, Any],
    contenders: Sequence[_Contender],
    ops: list[Op],
    reference: npt.NDArray[np.complex128] | None,
    agreement: dict[str, Any],
) -> npt.NDArray[np.complex128]:
    """Warm-up (whose state is checked against ``reference``, or becomes it),
    then timing. Returns the reference state."""
    n = settings.qubits
    title = record["name"]
    entries, measures, errors = record["contenders"], {}, {}
    for c in contenders:
        assert c.statevector is not None
        entry = entries[c.name] = _entry()
        settings.progress(f"{title}: building and warming up {c.name}")
        try:
            runner = c.statevector(ops, n)
            state = runner()
        except Exception as err:
            if c.name.startswith("ferroq"):
                raise
            errors[c.name] = _describe(err)
            continue
        if reference is None:
            reference = np.asarray(state, dtype=np.complex128).reshape(-1).copy()
        elif not _check_state(c.name, entry, reference, state, agreement, title):
            continue
        del state
        measures[c.name] = _timer(runner)
    times = _Clock(settings.reps, settings.budget, settings.progress).run(title, measures, errors)
    _fill(record, times, errors)
    assert reference is not None
    return reference


def _timer(runner: Runner) -> Callable[[], float]:
    return lambda: _seconds(runner)


def _fill(record: dict[str, Any], times: dict[str, list[float]], errors: dict[str, str]) -> None:
    for name, ts in times.items():
        entry = record["contenders"][name]
        note, fidelity = entry["note"], entry.get("fidelity")
        entry.update(_entry(ts))
        entry["note"] = note
        if fidelity is not None:
            entry["fidelity"] = fidelity
    for name, error in errors.items():
        entry = record["contenders"].setdefault(name, _entry())
        entry.update(ok=False, note=f"failed: {error}", error=error, median_s=None, ratio=None)


def _bench_layered(
    settings: _Settings,
    contenders: Sequence[_Contender],
    agreement: dict[str, Any],
    reference: list[npt.NDArray[np.complex128]],
) -> dict[str, Any]:
    """Appends ferroq's final state to ``reference``."""
    n = settings.qubits
    layers = _layers_for(n, settings.quick)
    ops = _layered(n, layers, random.Random(_SEED))
    record: dict[str, Any] = {
        "name": "layered",
        "title": f"random layered circuit, {n} qubits x {layers} layers ({len(ops)} gates), "
        "final statevector, complex128",
        "params": {"qubits": n, "layers": layers, "gates": len(ops), "precision": "double"},
        "baseline": "ferroq",
        "unit": "run",
        "contenders": {},
        "notes": [],
    }
    double = [c for c in contenders if c.statevector is not None and c.name != "qsim"]
    if any(c.name == "qsim" for c in contenders):
        record["notes"].append("qsim has no double precision: see layered_single")
    reference.append(_statevector_workload(settings, record, double, ops, None, agreement))
    _ratios(record)
    gates = len(ops)
    _print_record(settings.out, record, ("gates/s", lambda name, e: _si(gates / e["median_s"])))
    return record


def _bench_layered_single(
    settings: _Settings,
    contenders: Sequence[_Contender],
    reference: npt.NDArray[np.complex128],
    agreement: dict[str, Any],
) -> dict[str, Any]:
    n = settings.qubits
    layers = _layers_for(n, settings.quick)
    ops = _layered(n, layers, random.Random(_SEED))
    record: dict[str, Any] = {
        "name": "layered_single",
        "title": f"the same circuit in single precision (complex64 state), {len(ops)} gates",
        "params": {"qubits": n, "layers": layers, "gates": len(ops), "precision": "single"},
        "baseline": "ferroq_single",
        "unit": "run",
        "contenders": {},
        "notes": [],
    }
    single = [c for c in contenders if c.name in ("ferroq_single", "qsim")]
    if not any(c.name == "qsim" for c in single):
        record["notes"].append("qsim (the single-precision peer) is not in this run")
    _statevector_workload(settings, record, single, ops, reference, agreement)
    agreement.pop("ferroq_single", None)  # ferroq against itself: kept in its entry only
    _ratios(record)
    gates = len(ops)
    _print_record(settings.out, record, ("gates/s", lambda name, e: _si(gates / e["median_s"])))
    return record


def _bench_batch(settings: _Settings, contenders: Sequence[_Contender]) -> dict[str, Any]:
    total = 200 if settings.quick else 1000
    n, layers, shots = _BATCH_QUBITS, _BATCH_LAYERS, _BATCH_SHOTS
    rng = random.Random(_SEED + 1)
    circuits = [_layered(n, layers, rng) for _ in range(total)]
    record: dict[str, Any] = {
        "name": "batch",
        "title": f"{total} circuits x {n} qubits x {layers} layers, {shots} shots each, "
        "through each simulator's own API",
        "params": {"circuits": total, "qubits": n, "layers": layers, "shots": shots},
        "baseline": "ferroq",
        "unit": "run",
        "contenders": {},
        "notes": [],
    }
    entries, measures, errors = record["contenders"], {}, {}
    sizes: dict[str, int] = {}
    for c in contenders:
        if c.batch is None:
            continue
        entries[c.name] = _entry()
        settings.progress(f"batch: building and warming up {c.name}")
        try:
            warm = c.batch(circuits[:_WARM_CIRCUITS], n, shots, _SEED)
            # The first run pays one-off costs (thread pools, lazy imports): the
            # faster of two sizes the batch, so a slow first call does not shrink it.
            per_circuit = math.inf
            for _ in range(2):
                start = time.perf_counter()
                result = warm()
                per_circuit = min(per_circuit, (time.perf_counter() - start) / _WARM_CIRCUITS)
            totals = [_total(x) for x in (result if isinstance(result, list) else [result])]
            if totals != [shots] * _WARM_CIRCUITS:
                raise RuntimeError(f"counts add up to {totals[:3]}..., not {shots} shots per circuit")
            size = total
            if per_circuit * total > settings.budget:
                size = min(total, max(_MIN_CIRCUITS, int(settings.budget / per_circuit)))
            settings.progress(f"batch: building {size} circuits for {c.name}")
            measures[c.name] = _timer(c.batch(circuits[:size], n, shots, _SEED))
            sizes[c.name] = size
        except Exception as err:
            if c.name.startswith("ferroq"):
                raise
            errors[c.name] = _describe(err)
    times = _Clock(settings.reps, settings.budget, settings.progress).run("batch", measures, errors)
    _fill(record, times, errors)
    for name, size in sizes.items():
        entry = entries[name]
        entry["circuits"] = size
        if entry["median_s"] is not None:
            entry["per_circuit_s"] = entry["median_s"] / size
        if size < total and entry["ok"]:
            entry["note"] = (
                f"timed on the first {size} of the {total} circuits (time budget); ratio per circuit"
            )
    _ratios(record, {name: float(size) for name, size in sizes.items()})
    _print_record(settings.out, record, ("circuits/s", lambda name, e: _si(sizes[name] / e["median_s"])))
    return record


def _bench_sampling(settings: _Settings, contenders: Sequence[_Contender]) -> dict[str, Any]:
    n = settings.qubits
    shots = 10**5 if settings.quick else 10**6
    ops = _sampling_ops(n)
    record: dict[str, Any] = {
        "name": "sampling",
        "title": f"{shots:,} shots from a {n}-qubit state (H and RZ on every qubit), counted",
        "params": {"qubits": n, "shots": shots},
        "baseline": "ferroq",
        "unit": "run",
        "contenders": {},
        "notes": ["counts: ferroq get_counts_array, numpy over qulacs' and qsim's samples, Aer's dictionary"],
    }
    entries, measures, errors = record["contenders"], {}, {}
    warm_shots = 1000
    for c in contenders:
        if c.sample is None:
            continue
        entries[c.name] = _entry()
        settings.progress(f"sampling: warming up {c.name}")
        try:
            total = _total(c.sample(ops, n, warm_shots, _SEED)())
            if total != warm_shots:
                raise RuntimeError(f"{warm_shots} shots were counted as {total}")
            measures[c.name] = _timer(c.sample(ops, n, shots, _SEED))
        except Exception as err:
            if c.name.startswith("ferroq"):
                raise
            errors[c.name] = _describe(err)
    times = _Clock(settings.reps, settings.budget, settings.progress).run("sampling", measures, errors)
    _fill(record, times, errors)
    _ratios(record)
    _print_record(settings.out, record, ("shots/s", lambda name, e: _si(shots / e["median_s"])))
    return record


def _bandwidth_probe(n: int, threads: int, reps: int, budget: float) -> list[float]:
    """Seconds for one read + write pass over the bytes of 2**n complex128 in place,
    split over up to ``threads`` numpy calls on threads (numpy releases the GIL; one
    call per 4 MiB at least, so that small states do not time the thread pool): the
    memory-bound floor of a 1-qubit gate. At least 5 passes, at most ``reps``
    unless those 5 are needed, and no more once they add up to ``budget`` seconds."""

    def repeat(once: Callable[[], None]) -> list[float]:
        times: list[float] = []
        start = time.perf_counter()
        while len(times) < max(reps, 5) and (len(times) < 5 or time.perf_counter() - start < budget):
            times.append(_seconds(once))
        return times

    data = np.ones(2 << n, dtype=np.float64)
    parts = np.array_split(data, max(1, min(threads, data.nbytes >> 22)))

    def scale(part: npt.NDArray[np.float64]) -> None:
        np.multiply(part, 1.0000001, out=part)

    if len(parts) == 1:
        scale(data)
        return repeat(lambda: scale(data))
    with concurrent.futures.ThreadPoolExecutor(len(parts)) as pool:

        def one() -> None:
            list(pool.map(scale, parts))

        one()
        return repeat(one)


def _bench_sweep(settings: _Settings, contenders: Sequence[_Contender], cache: int | None) -> dict[str, Any]:
    n = settings.qubits
    # Enough gates that the difference is well above timing noise on small states.
    gates = max(10 if settings.quick else 20, min(4096, 1 << max(0, 22 - n)))
    target = n // 2
    record: dict[str, Any] = {
        "name": "sweep",
        "title": f"one H gate on qubit {target} of a {n}-qubit state, complex128, per gate "
        f"(difference of 1 + {gates} and 1 barrier-separated gates), next to a bandwidth probe",
        "params": {"qubits": n, "gates": gates, "target": target, "bytes": 16 << n},
        "baseline": "ferroq",
        "unit": "gate",
        "contenders": {},
        "notes": [],
    }
    if any(c.name == "qsim" for c in contenders):
        record["notes"].append("qsim fuses gates across any separation: not in the sweep")
    if any(c.name == "aer" for c in contenders):
        record["notes"].append("Aer runs with fusion_enable=False here (it fuses across barriers)")
    entries, measures, errors = record["contenders"], {}, {}
    for c in contenders:
        if c.sweep is None:
            continue
        entries[c.name] = _entry()
        settings.progress(f"sweep: warming up {c.name}")
        try:
            measure = c.sweep(n, target, gates)
            measure()
            measures[c.name] = measure
        except Exception as err:
            if c.name.startswith("ferroq"):
                raise
            errors[c.name] = _describe(err)
    times = _Clock(settings.reps, settings.budget, settings.progress).run("sweep", measures, errors)
    _fill(record, times, errors)
    settings.progress("sweep: bandwidth probe")
    probe_times = _bandwidth_probe(n, settings.threads, settings.reps, settings.budget)
    probe = _entry(probe_times)
    probe = {k: probe[k] for k in ("median_s", "min_s", "max_s", "reps", "times_s")}
    probe["bytes"] = 16 << n
    record["probe"] = probe
    for entry in entries.values():
        if entry["median_s"] is None:
            continue
        if entry["median_s"] <= 0:
            entry["note"] = "below the timing resolution here (noise): no ratio"
        elif probe["median_s"] > 0:
            entry["vs_probe"] = entry["median_s"] / probe["median_s"]
    _ratios(record)
    if cache is not None and 16 << n <= cache:
        record["notes"].append(
            f"the {_bytes(16 << n)} state fits in the {_bytes(cache)} last-level cache: this compares "
            f"cache, not memory, bandwidth (qubits >= {(cache // 16).bit_length() + 1} for memory)"
        )
    _print_record(
        settings.out,
        record,
        ("vs probe", lambda name, e: f"{e['vs_probe']:.2f}" if "vs_probe" in e else "-"),
    )
    return record
