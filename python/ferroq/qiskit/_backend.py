"""FerroqSimulator: a ``BackendV2`` on ferroq's engine, a drop-in for ``AerSimulator``."""

from __future__ import annotations

import contextlib
import datetime
import functools
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from qiskit.circuit import (
    Barrier,
    BreakLoopOp,
    ContinueLoopOp,
    Delay,
    ForLoopOp,
    IfElseOp,
    Measure,
    Parameter,
    QuantumCircuit,
    Reset,
    SwitchCaseOp,
    WhileLoopOp,
)
from qiskit.circuit.library import GlobalPhaseGate, UnitaryGate
from qiskit.providers import BackendV2, Options
from qiskit.quantum_info import DensityMatrix, Statevector
from qiskit.result import ProbDistribution
from qiskit.result import Result as QiskitResult
from qiskit.transpiler import Target

import ferroq
from ferroq import _core
from ferroq.exceptions import OptionError, OptionTypeError
from ferroq.qiskit import _options as aer_options
from ferroq.qiskit._convert import NATIVE_GATE_CLASSES, Derived, is_hidden, to_ferroq_with_derived
from ferroq.qiskit._job import AnyJob, FerroqJob, FerroqJobSet
from ferroq.qiskit._save import (
    AER_ONLY_SAVES,
    SaveAmplitudes,
    SaveExpectationValue,
    SaveProbabilities,
    SaveProbabilitiesDict,
    SaveStatevector,
)

__all__ = ["FerroqSimulator"]

_TARGET: Target | None = None


def _target() -> Target:
    """Every native gate, with no fixed qubit count, so ``transpile`` keeps them."""
    global _TARGET
    if _TARGET is not None:
        return _TARGET
    target = Target(description="ferroq statevector simulator", num_qubits=None)
    for name, cls in NATIVE_GATE_CLASSES.items():
        if name == "mcx":
            target.add_instruction(cls, name=name)
            continue
        num_params = ferroq.GATES[name][1]
        gate = cls(*[Parameter(f"p{i}") for i in range(num_params)])
        target.add_instruction(gate, {None: None}, name=name)
    target.add_instruction(GlobalPhaseGate(Parameter("phase")), {(): None}, name="global_phase")
    target.add_instruction(Measure(), {None: None})
    target.add_instruction(Reset(), {None: None})
    target.add_instruction(Delay(Parameter("t")), {None: None})
    for cls, name in [
        (Barrier, "barrier"),
        (UnitaryGate, "unitary"),
        (SaveStatevector, "save_statevector"),
        (SaveProbabilities, "save_probabilities"),
        (SaveProbabilitiesDict, "save_probabilities_dict"),
        (SaveAmplitudes, "save_amplitudes"),
        (SaveExpectationValue, "save_expval"),
    ]:
        target.add_instruction(cls, name=name)
    for name, cls in AER_ONLY_SAVES.items():
        target.add_instruction(cls, name=name)
    for cls, name in [
        (IfElseOp, "if_else"),
        (WhileLoopOp, "while_loop"),
        (ForLoopOp, "for_loop"),
        (SwitchCaseOp, "switch_case"),
        (BreakLoopOp, "break_loop"),
        (ContinueLoopOp, "continue_loop"),
    ]:
        target.add_instruction(cls, name=name)
    _TARGET = target
    return target


_QISKIT_NAMES = {ferroq_name: name for name, ferroq_name in aer_options.FERROQ_NAMES.items()}


@contextlib.contextmanager
def _qiskit_option_names() -> Iterator[None]:
    """Re-raises ferroq's option errors naming the Qiskit option the user passed
    (``seed_simulator``, not ferroq's ``seed``)."""
    try:
        yield
    except (OptionError, OptionTypeError) as err:
        if err.option is None or err.option not in _QISKIT_NAMES:
            raise
        # The original names ferroq's option, which the user never wrote: not chained.
        raise err.renamed(_QISKIT_NAMES[err.option]) from None


class FerroqSimulator(BackendV2):
    """A Qiskit ``BackendV2`` running circuits on ferroq's Rust statevector engine.

    Switch from Aer by changing one import::

        from ferroq.qiskit import FerroqSimulator as AerSimulator

    Every option ``AerSimulator`` documents is accepted, with Aer's default (the
    table is in the README and in ``ferroq.qiskit._options``): those with a meaning
    for ferroq are honoured (shots, seeds, memory, precision, threads, fusion,
    memory limit, qubit truncation); those that tune how Aer computes, or belong to
    another method or a GPU, have no effect; those that would change the simulation
    itself (``method``, ``device``, ``noise_model``, ``cuStateVec_enable``, ...) are
    accepted at the values meaning a noiseless statevector simulation on the CPU and
    refused otherwise. An option Aer does not know either is a warning naming it, as
    Aer ignores unknown run options. A bad value raises ferroq's ``OptionError`` (a
    ``ValueError``) or ``OptionTypeError`` (a ``TypeError``; values are never
    converted), naming the option as it was passed.

    As Aer, a circuit is simulated on its active qubits only
    (``enable_truncation=True``, the default): one transpiled for a 127-qubit device
    that acts on 5 of them needs the memory of 5.

    >>> from qiskit import QuantumCircuit, transpile
    >>> from ferroq.qiskit import FerroqSimulator
    >>> qc = QuantumCircuit(2, 2); _ = qc.h(0); _ = qc.cx(0, 1); _ = qc.measure([0, 1], [0, 1])
    >>> backend = FerroqSimulator()
    >>> counts = backend.run(transpile(qc, backend), shots=1000, seed_simulator=7).result().get_counts()
    >>> sorted(counts), sum(counts.values())
    (['00', '11'], 1000)
    """

    def __init__(self, provider: Any = None, **options: Any) -> None:
        super().__init__(
            provider=provider,
            name="ferroq_simulator",
            description="ferroq: multithreaded Rust statevector simulator",
            backend_version=ferroq.__version__,
        )
        if options:
            self.set_options(**options)

    @classmethod
    def _default_options(cls) -> Options:
        opts = Options(**aer_options.AER_DEFAULTS)
        opts.set_validator("precision", ["double", "single"])
        opts.set_validator("method", ["automatic", "statevector"])
        return opts

    def set_options(self, **fields: Any) -> None:
        known = aer_options.check(fields, "option")
        with _qiskit_option_names():
            # Every value now, not at the next run.
            ferroq.Simulator(**aer_options.to_ferroq({**self.options.__dict__, **known}))
        try:
            super().set_options(**known)
        except ValueError as err:  # a range of Qiskit's validators
            raise OptionError(str(err)) from None

    def __repr__(self) -> str:
        return f"FerroqSimulator({self.name!r})"

    @property
    def target(self) -> Target:
        return _target()

    @property
    def num_qubits(self) -> int:
        """The widest statevector this machine could hold, 16 bytes an amplitude: of
        ``max_memory_mb`` when set, else of the machine's physical memory (as Aer's,
        fixed per machine, not the memory free when asked)."""
        limit = self.options.max_memory_mb
        memory = limit * 2**20 if limit else _physical_memory()
        return max(1, int(math.log2(max(memory, 32) / 16)))

    @property
    def max_circuits(self) -> None:
        return None

    # ------------------------------------------------------------------ run
    def run(
        self,
        run_input: QuantumCircuit | Sequence[QuantumCircuit],
        parameter_binds: Sequence[Mapping[Any, Sequence[float]]] | None = None,
        **options: Any,
    ) -> FerroqJob:
        """Converts the circuits (binding ``parameter_binds`` if given) and submits them
        as one Rust job; returns a :class:`FerroqJob` at once. Options given here
        override the backend's for this call only.

        With ``executor=`` (any ``concurrent.futures.Executor`` or a
        ``dask.distributed.Client``) or ``max_job_size=`` the experiments run in
        chunks (see :class:`ferroq.Simulator`) and a :class:`FerroqJobSet` is
        returned; the counts equal the unsplit run's with the same ``seed_simulator``."""
        # Built before the circuits are converted, so that a wrongly typed
        # option fails at once.
        opts, simulator = self._simulator(options)
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        experiments = _bind(circuits, parameter_binds)
        pairs = [to_ferroq_with_derived(c) for c in experiments]
        converted = [c for c, _ in pairs]
        active = _truncate(converted, opts)
        with _qiskit_option_names():
            job = simulator.run(converted)

        # Each experiment's active qubits and derived saves, by identity (a chunk
        # converts its own).
        about = {id(e): (a, d) for e, a, (_, d) in zip(experiments, active, pairs, strict=True)}

        def convert(which: AnyJob, exps: list[QuantumCircuit], result: ferroq.Result) -> QiskitResult:
            return _to_qiskit_result(self, which, exps, result, opts, [about[id(e)] for e in exps])

        if isinstance(job, ferroq.JobSet):
            return FerroqJobSet(self, job, circuits, experiments, convert)
        return FerroqJob(self, job, circuits, lambda r: convert(job, experiments, r))

    def _simulator(self, options: Mapping[str, Any]) -> tuple[dict[str, Any], ferroq.Simulator]:
        """This backend's options with ``options`` (Aer's names, checked as run
        options) over them, and the ``ferroq.Simulator`` that runs them; the
        primitives run through this too."""
        opts = {**self.options.__dict__, **aer_options.check(dict(options), "run option")}
        with _qiskit_option_names():
            simulator = ferroq.Simulator(**aer_options.to_ferroq(opts))
        return opts, simulator


def _truncate(converted: list[ferroq.Circuit], opts: Mapping[str, Any]) -> list[list[int] | None]:
    """With ``enable_truncation`` (Aer's default), each circuit on its active
    qubits only, in place; returns each one's active qubits (``None``: all)."""
    active: list[list[int] | None] = [None] * len(converted)
    if opts["enable_truncation"]:
        for i, c in enumerate(converted):
            cut = c._native.truncated()
            if cut is not None:
                converted[i], active[i] = ferroq.Circuit._wrap(cut[0]), cut[1]
    return active


@functools.cache
def _physical_memory() -> int:
    """Bytes of physical memory, or the memory available where the OS does not say."""
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return _core.available_memory()


def _bind(
    circuits: list[QuantumCircuit], parameter_binds: Sequence[Mapping[Any, Sequence[float]]] | None
) -> list[QuantumCircuit]:
    """Aer's ``parameter_binds``: one mapping per circuit, parameter -> list of values;
    each circuit expands into one experiment per position in the lists."""
    if parameter_binds is None:
        return circuits
    if len(parameter_binds) != len(circuits):
        raise OptionError(f"parameter_binds has {len(parameter_binds)} entries for {len(circuits)} circuits")
    out: list[QuantumCircuit] = []
    for circuit, binds in zip(circuits, parameter_binds, strict=True):
        if not binds:
            out.append(circuit)
            continue
        lengths = {len(v) for v in binds.values()}
        if len(lengths) != 1:
            raise OptionError(f"parameter_binds for {circuit.name!r}: value lists of different lengths")
        for k in range(lengths.pop()):
            out.append(circuit.assign_parameters({p: v[k] for p, v in binds.items()}, inplace=False))
    return out


def _header(c: QuantumCircuit) -> dict[str, Any]:
    return {
        "name": c.name,
        "n_qubits": c.num_qubits,
        "qreg_sizes": [[r.name, r.size] for r in c.qregs],
        "creg_sizes": [[r.name, r.size] for r in c.cregs],
        "qubit_labels": [[r.name, i] for r in c.qregs for i in range(r.size)],
        "clbit_labels": [[r.name, i] for r in c.cregs for i in range(r.size)],
        "memory_slots": c.num_clbits,
        "global_phase": float(c.global_phase),
        "metadata": c.metadata,
    }


def _measures(circuit: QuantumCircuit) -> bool:
    """Whether ``circuit`` measures anything, inside control flow included."""
    ops = circuit.count_ops()
    if "measure" in ops:
        return True
    return any(
        _measures(block)
        for inst in circuit.data
        if inst.operation.name in ("if_else", "while_loop", "for_loop", "switch_case", "box")
        for block in inst.operation.blocks
        if block is not None
    )


def gathered(mode: str, value: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` of each plain value of a saved value gathered as ``mode`` says:
    the value itself, a list a shot, a dict a memory, or a dict of lists."""
    if mode in ("average", "single"):
        return fn(value)
    if mode == "pershot":
        return [fn(v) for v in value]
    if mode == "conditional":
        return {k: fn(v) for k, v in value.items()}
    return {k: [fn(v) for v in vs] for k, vs in value.items()}


def _derive(data: dict[str, Any], derived: Derived, opts: Mapping[str, Any]) -> None:
    """Makes the values of Aer's derived saves from the engine's, in place, and
    drops the values they were made from. Each is ``(kind, mode, mean, sources...)``:
    the sources were gathered as ``mode`` says; with ``mean`` they were gathered
    per shot only so that the derived values could be averaged (over all shots,
    or per memory), as Aer averages them."""
    cut = opts["zero_threshold"] or 0.0
    for label, (how, mode, mean, *sources) in derived.items():
        if how == "statevector_dict":

            def as_dict(amplitudes: Any) -> dict[str, complex]:
                return {hex(i): complex(x) for i, x in enumerate(np.asarray(amplitudes)) if abs(x) > cut}

            value = gathered(mode, data[label], as_dict)
        elif how == "amplitudes_sq":
            value = gathered(mode, data[label], lambda a: np.abs(np.asarray(a)) ** 2)
        elif how == "expval_var":
            means, squares = data[sources[0]], data[sources[1]]
            if mode in ("average", "single"):
                value = _mean_var(means, squares)
            elif mode == "pershot":
                value = [_mean_var(m, q) for m, q in zip(means, squares, strict=True)]
            elif mode == "conditional":
                value = {k: _mean_var(means[k], squares[k]) for k in means}
            else:
                value = {
                    k: [_mean_var(m, q) for m, q in zip(means[k], squares[k], strict=True)] for k in means
                }
        else:  # density_matrix
            value = gathered(
                mode, data[sources[0]], functools.partial(_reduced_density_matrix, keep=sources[1])
            )
        if mean:
            # Per shot -> one average (or one per memory).
            if isinstance(value, dict):
                value = {k: np.mean(np.asarray(v), axis=0) for k, v in value.items()}
            else:
                value = np.mean(np.asarray(value), axis=0)
        if how == "density_matrix":
            value = _each_plain(value, DensityMatrix)
        data[label] = value
    for label in [k for k in data if is_hidden(k)]:
        del data[label]


def _prob_distribution(probabilities: dict[str, float]) -> ProbDistribution:
    return ProbDistribution({int(k, 16): p for k, p in probabilities.items()})


def _each_plain(value: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` of each array in nested dicts and lists of arrays."""
    if isinstance(value, dict):
        return {k: _each_plain(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_each_plain(v, fn) for v in value]
    return fn(value)


def _mean_var(mean: Any, square: Any) -> np.ndarray:
    m, q = float(np.real(mean)), float(np.real(square))
    return np.array([m, q - m**2])


def _reduced_density_matrix(state: Any, keep: list[int]) -> np.ndarray:
    """The density matrix of qubits ``keep`` of ``state`` (``keep[0]`` the least
    significant bit of its index), the others traced out."""
    state = np.asarray(state)
    n = state.size.bit_length() - 1
    psi = state.reshape([2] * n)  # axis k is qubit n - 1 - k
    kept = [n - 1 - q for q in reversed(keep)]
    traced = [a for a in range(n) if a not in kept]
    rows = np.transpose(psi, kept + traced).reshape(2 ** len(keep), -1)
    return np.asarray(rows @ rows.conj().T)


def _fusion_metadata(exp: _core.ExperimentData, opts: Mapping[str, Any]) -> dict[str, Any]:
    """Aer's ``fusion`` block: whether fusion was on and applied, its widest
    block and threshold, and ferroq's own counts: the gates that went through
    the pass (those simulated once) and the kernel ops it made of them."""
    gates, ops = exp.fusion or (0, 0)
    return {
        "enabled": bool(opts["fusion_enable"]),
        "applied": ops < gates,
        "max_fused_qubits": opts["fusion_max_qubit"] or _core.DEFAULT_FUSION_MAX_QUBIT,
        "threshold": opts["fusion_threshold"] or _core.DEFAULT_FUSION_THRESHOLD,
        "input_gates": gates,
        "output_ops": ops,
    }


def _metadata(
    circuit: QuantumCircuit, exp: _core.ExperimentData, active: list[int] | None, opts: Mapping[str, Any]
) -> dict[str, Any]:
    """An experiment's metadata, with Aer's keys where they mean something here."""
    qubits = list(range(circuit.num_qubits)) if active is None else active
    return {
        "method": "statevector",
        "device": "CPU",
        "precision": opts["precision"],
        "num_qubits": exp.num_qubits,
        "active_input_qubits": qubits,
        "input_qubit_map": [[q, q] for q in qubits],
        "num_clbits": exp.num_clbits,
        "fusion": _fusion_metadata(exp, opts),
        "max_memory_mb": opts["max_memory_mb"] or 0,
        "time_taken": exp.time_taken,
    }


def _to_qiskit_result(
    backend: FerroqSimulator,
    job: AnyJob,
    circuits: list[QuantumCircuit],
    result: ferroq.Result,
    opts: Mapping[str, Any],
    about: list[tuple[list[int] | None, Derived]],
) -> QiskitResult:
    experiments = []
    missing = result.missing
    for i, circuit in enumerate(circuits):
        error = missing.get(i)
        if error is not None:
            # As Aer reports an experiment that failed: no data, the reason as status.
            experiments.append(
                {
                    "shots": opts["shots"],
                    "success": False,
                    "data": {},
                    "meas_level": 2,
                    "header": _header(circuit),
                    "status": f"ERROR: {type(error).__name__}: {error}",
                    "name": circuit.name,
                }
            )
            continue
        exp = result._experiment(i)
        # As Aer: no counts and no memory for a circuit that measures nothing,
        # so get_counts raises.
        data: dict[str, Any] = {}
        if circuit.num_clbits and _measures(circuit):
            data["counts"] = exp.counts_hex()
            memory = exp.memory_hex()
            if memory is not None:
                data["memory"] = memory
        kinds = {label: (kind, mode) for label, kind, mode in exp.saved_kinds()}
        for label, value in exp.saved().items():
            # As Aer: a saved statevector is a qiskit Statevector, a probability
            # dict a ProbDistribution keyed by the outcome's integer (each one
            # of a value gathered per shot or per memory too).
            kind, mode = kinds[label]
            if kind == "statevector" and not is_hidden(label):
                value = gathered(mode, value, Statevector)
            elif kind == "probabilities_dict":
                value = gathered(
                    mode, value, lambda d: ProbDistribution({int(k, 16): p for k, p in d.items()})
                )
            data[label] = value
        _derive(data, about[i][1], opts)
        experiments.append(
            {
                "shots": exp.shots,
                "success": True,
                "data": data,
                "meas_level": 2,
                "header": _header(circuit),
                "status": "DONE",
                "name": circuit.name,
                "seed_simulator": exp.seed,
                "time_taken": exp.time_taken,
                "metadata": _metadata(circuit, exp, about[i][0], opts),
            }
        )
    return QiskitResult.from_dict(
        {
            "backend_name": backend.name,
            "backend_version": backend.backend_version,
            "job_id": job.job_id(),
            "qobj_id": job.job_id(),
            "success": not missing,
            # As Aer: "PARTIAL COMPLETED" when some experiments have data, "ERROR"
            # when none has.
            "status": ("ERROR" if len(missing) >= len(experiments) else "PARTIAL COMPLETED")
            if missing
            else "COMPLETED",
            "date": datetime.datetime.now().astimezone().isoformat(),
            "header": {"backend_name": backend.name},
            "results": experiments,
            "time_taken": result.time_taken,
            "metadata": {"seed_simulator": result.seed, "parallel_threads": opts["max_parallel_threads"]},
        }
    )
