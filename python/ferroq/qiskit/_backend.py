"""FerroqSimulator: a ``BackendV2`` on ferroq's engine, a drop-in for ``AerSimulator``."""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping, Sequence
from typing import Any

from qiskit.circuit import Barrier, Delay, Measure, Parameter, QuantumCircuit, Reset
from qiskit.circuit.library import GlobalPhaseGate, UnitaryGate
from qiskit.providers import BackendV2, Options
from qiskit.quantum_info import Statevector
from qiskit.result import Result as QiskitResult
from qiskit.transpiler import Target

import ferroq
from ferroq import _core
from ferroq.exceptions import OptionError, UnknownOptionError
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


# Options ferroq takes, Aer's names first. Options whose feature is not built
# yet are accepted at their neutral value and refused otherwise, never ignored.
_OPTION_NAMES = {
    "shots",
    "seed_simulator",
    "memory",
    "precision",
    "max_parallel_threads",
    "max_parallel_experiments",
    "statevector_parallel_threshold",
    "max_memory_mb",
    "fusion_enable",
    "executor",
    "max_job_size",
    "blocking",
    "method",
}


class FerroqSimulator(BackendV2):
    """A Qiskit ``BackendV2`` running circuits on ferroq's Rust statevector engine.

    Switch from Aer by changing one import::

        from ferroq.qiskit import FerroqSimulator as AerSimulator

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
        )
        opts.set_validator("precision", ["double", "single"])
        opts.set_validator("method", ["automatic", "statevector"])
        opts.set_validator("shots", (1, 2**62))
        return opts

    def set_options(self, **fields: Any) -> None:
        unknown = sorted(set(fields) - _OPTION_NAMES)
        if unknown:
            raise UnknownOptionError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(_OPTION_NAMES))}"
            )
        super().set_options(**fields)

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
        unknown = sorted(set(options) - _OPTION_NAMES)
        if unknown:
            raise UnknownOptionError(
                f"unknown run option(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(_OPTION_NAMES))}"
            )
        opts = dict(self.options.__dict__)
        for name, value in options.items():
            validator = self.options.validator.get(name)
            if isinstance(validator, list) and value not in validator:
                raise OptionError(f"option {name!r} must be one of {validator}, got {value!r}")
            opts[name] = value
        circuits = [run_input] if isinstance(run_input, QuantumCircuit) else list(run_input)
        experiments = _bind(circuits, parameter_binds)
        ferroq_opts = _ferroq_options(opts)
        converted = [to_ferroq(c) for c in experiments]
        job = ferroq.Simulator().run(converted, **ferroq_opts)

        def convert(which: AnyJob, exps: list[QuantumCircuit], result: ferroq.Result) -> QiskitResult:
            return _to_qiskit_result(self, which, exps, result, opts)

        if isinstance(job, ferroq.JobSet):
            return FerroqJobSet(self, job, circuits, experiments, convert)
        return FerroqJob(self, job, circuits, lambda r: convert(job, experiments, r))


def _ferroq_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    memory_mb = opts["max_memory_mb"]
    threads = opts["max_parallel_threads"]
    return {
        "shots": opts["shots"],
        "seed": opts["seed_simulator"],
        "memory": bool(opts["memory"]),
        "max_parallel_threads": None if not threads else threads,
        "max_parallel_experiments": opts["max_parallel_experiments"],
        "parallel_threshold": opts["statevector_parallel_threshold"],
        "max_memory_mb": memory_mb if memory_mb else None,
        "fusion": bool(opts["fusion_enable"]),
        "precision": opts["precision"],
        "blocking": bool(opts["blocking"]),
        "executor": opts["executor"],
        "max_job_size": opts["max_job_size"],
    }


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
        if memory is not None and circuit.num_clbits:
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
            "status": "PARTIAL COMPLETED" if missing else "COMPLETED",
            "date": datetime.datetime.now().astimezone().isoformat(),
            "header": {"backend_name": backend.name},
            "results": experiments,
            "time_taken": result.time_taken,
            "metadata": {"seed_simulator": result.seed, "parallel_threads": opts["max_parallel_threads"]},
        }
    )
