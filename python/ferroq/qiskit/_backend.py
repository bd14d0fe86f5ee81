"""FerroqSimulator: a ``BackendV2`` on ferroq's engine, a drop-in for ``AerSimulator``."""

from __future__ import annotations

import contextlib
import datetime
import math
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from qiskit.circuit import Barrier, Delay, Measure, Parameter, QuantumCircuit, Reset
from qiskit.circuit.library import GlobalPhaseGate, UnitaryGate
from qiskit.providers import BackendV2, Options
from qiskit.quantum_info import Statevector
from qiskit.result import Result as QiskitResult
from qiskit.transpiler import Target

import ferroq
from ferroq import _core
from ferroq.exceptions import OptionError, OptionTypeError, UnknownOptionError
from ferroq.qiskit._convert import NATIVE_GATE_CLASSES, to_ferroq
from ferroq.qiskit._job import AnyJob, FerroqJob, FerroqJobSet
from ferroq.qiskit._save import (
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
    _TARGET = target
    return target


# The options ferroq passes on to ferroq.Simulator, by Aer's name, and ferroq's
# name where it differs.
_FERROQ_NAMES = {
    "shots": "shots",
    "seed_simulator": "seed",
    "memory": "memory",
    "precision": "precision",
    "max_parallel_threads": "max_parallel_threads",
    "max_parallel_experiments": "max_parallel_experiments",
    "statevector_parallel_threshold": "parallel_threshold",
    "max_memory_mb": "max_memory_mb",
    "fusion_enable": "fusion",
    "executor": "executor",
    "max_job_size": "max_job_size",
    "blocking": "blocking",
}
_QISKIT_NAMES = {ferroq_name: name for name, ferroq_name in _FERROQ_NAMES.items()}


def _is_ideal(noise_model: Any) -> bool:
    # Duck-typed so that qiskit-aer stays optional: an empty NoiseModel adds no noise.
    is_ideal = getattr(noise_model, "is_ideal", None)
    return noise_model is None or (callable(is_ideal) and bool(is_ideal()))


# Aer options for features ferroq does not have: accepted at the value under which
# Aer too runs a noiseless CPU statevector simulation, and refused otherwise, so that
# a script never gets the results of a simulation other than the one it asked for.
_NEUTRAL_ONLY: dict[str, tuple[Callable[[Any], bool], str]] = {
    "method": (
        lambda v: isinstance(v, str) and v in ("automatic", "statevector"),
        "ferroq is a statevector simulator; use 'automatic' or 'statevector'",
    ),
    "device": (
        lambda v: isinstance(v, str) and v == "CPU",
        "ferroq runs on the CPU only; use 'CPU'",
    ),
    "noise_model": (
        _is_ideal,
        "ferroq simulates noiseless circuits only; use None (or an ideal NoiseModel)",
    ),
    "cuStateVec_enable": (
        lambda v: v is False,
        "ferroq runs on the CPU and does not use cuStateVec; use False",
    ),
}

_OPTION_NAMES = set(_FERROQ_NAMES) | set(_NEUTRAL_ONLY)


def _check_names(fields: Mapping[str, Any], what: str) -> None:
    unknown = sorted(set(fields) - _OPTION_NAMES)
    if unknown:
        raise UnknownOptionError(
            f"unknown {what}(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(_OPTION_NAMES))}",
            option=unknown[0],
        )
    for name, value in fields.items():
        neutral = _NEUTRAL_ONLY.get(name)
        if neutral is not None and not neutral[0](value):
            reason = f"{reprlib.repr(value)} is not supported: {neutral[1]}"
            raise OptionError.about(name, f"= {reason}")


def _to_ferroq_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """ferroq.Simulator's options for the Qiskit options in ``opts`` (any subset)."""
    out = {}
    for name, value in opts.items():
        ferroq_name = _FERROQ_NAMES.get(name)
        if ferroq_name is None:
            continue  # a neutral-only option, already checked
        # Aer's 0 (every CPU, no memory limit) is ferroq's None; a bool is left for
        # ferroq to refuse, not taken for 0.
        if name in ("max_parallel_threads", "max_memory_mb") and value == 0 and not isinstance(value, bool):
            value = None
        out[ferroq_name] = value
    return out


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

    Aer's ``method``, ``device``, ``noise_model`` and ``cuStateVec_enable`` are
    accepted at the values that mean a noiseless statevector simulation on the CPU
    (``"automatic"`` or ``"statevector"``, ``"CPU"``, ``None``, ``False``) and refused
    otherwise. A bad option value raises ferroq's ``OptionError`` (a ``ValueError``)
    or ``OptionTypeError`` (a ``TypeError``; values are never converted), naming the
    option as it was passed.

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
        opts = Options(
            shots=1024,
            seed_simulator=None,
            memory=False,
            precision="double",
            max_parallel_threads=0,
            max_parallel_experiments=0,
            statevector_parallel_threshold=_core.DEFAULT_PARALLEL_THRESHOLD,
            max_memory_mb=0,
            fusion_enable=True,
            executor=None,
            max_job_size=None,
            blocking=False,
            method="automatic",
            device="CPU",
            noise_model=None,
            cuStateVec_enable=False,
        )
        opts.set_validator("precision", ["double", "single"])
        opts.set_validator("method", ["automatic", "statevector"])
        opts.set_validator("shots", (1, 2**62))
        return opts

    def set_options(self, **fields: Any) -> None:
        _check_names(fields, "option")
        with _qiskit_option_names():
            # Types now, not at the next run; ranges are the engine's to check, at run.
            ferroq.Simulator(**_to_ferroq_options(fields))
        try:
            super().set_options(**fields)
        except ValueError as err:  # a range of Qiskit's validators (shots)
            raise OptionError(str(err)) from None

    @property
    def target(self) -> Target:
        return _target()

    @property
    def num_qubits(self) -> int:
        """The widest statevector that fits in available memory (16 bytes per amplitude)."""
        limit = self.options.max_memory_mb
        available = limit * 2**20 if limit else _core.available_memory()
        return max(1, int(math.log2(max(available, 32) / 16)))

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
        _check_names(options, "run option")
        opts = {**self.options.__dict__, **options}
        with _qiskit_option_names():
            # Built before the circuits are converted, so that a wrongly typed
            # option fails at once.
            simulator = ferroq.Simulator(**_to_ferroq_options(opts))
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        experiments = _bind(circuits, parameter_binds)
        converted = [to_ferroq(c) for c in experiments]
        with _qiskit_option_names():
            job = simulator.run(converted)

        def convert(which: AnyJob, exps: list[QuantumCircuit], result: ferroq.Result) -> QiskitResult:
            return _to_qiskit_result(self, which, exps, result, opts)

        if isinstance(job, ferroq.JobSet):
            return FerroqJobSet(self, job, circuits, experiments, convert)
        return FerroqJob(self, job, circuits, lambda r: convert(job, experiments, r))


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


def _to_qiskit_result(
    backend: FerroqSimulator,
    job: AnyJob,
    circuits: list[QuantumCircuit],
    result: ferroq.Result,
    opts: Mapping[str, Any],
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
        data: dict[str, Any] = {"counts": exp.counts_hex()}
        memory = exp.memory_hex()
        if memory is None and opts["memory"] and not circuit.num_clbits:
            memory = []  # the engine keeps no memory without clbits; BasicSimulator gives []
        if memory is not None:
            data["memory"] = memory
        kinds = dict(exp.saved_kinds())
        for label, value in exp.saved().items():
            # As Aer: a saved statevector is a qiskit Statevector.
            data[label] = Statevector(value) if kinds[label] == "statevector" else value
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
                "metadata": {"method": "statevector", "device": "CPU"},
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
