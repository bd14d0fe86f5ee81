"""Aer's V2 primitives on ferroq: :class:`SamplerV2` and :class:`EstimatorV2`,
drop-ins for ``qiskit_aer.primitives.SamplerV2`` / ``EstimatorV2``.

The constructors, options, result types and broadcasting are Aer's. What differs
is how they run: every PUB of a call is converted and bound at ``run()`` (so bad
input raises there, not from ``result()``), and all of a call's circuits, every
parameter set of every PUB, run as one job on the engine (one per shot count
for the sampler), which ``cancel()`` stops even while it runs and whose
``result(timeout)`` follows the package's deadline policy. The estimator's
expectation values are computed in Rust from each final state; the sampler's
bits are packed from the engine's per-shot outcomes without a string per shot.
"""

from __future__ import annotations

import dataclasses
import uuid
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from qiskit.primitives import BaseEstimatorV2, BaseSamplerV2
from qiskit.primitives.base.base_primitive_job import BasePrimitiveJob
from qiskit.primitives.containers import (
    BitArray,
    DataBin,
    EstimatorPubLike,
    PrimitiveResult,
    PubResult,
    SamplerPubLike,
    SamplerPubResult,
)
from qiskit.primitives.containers.estimator_pub import EstimatorPub
from qiskit.primitives.containers.sampler_pub import SamplerPub
from qiskit.providers import JobStatus as QiskitJobStatus

import ferroq
from ferroq import _core
from ferroq import exceptions as fx
from ferroq._contract import Deadline
from ferroq.exceptions import OptionError
from ferroq.qiskit._backend import FerroqSimulator, _qiskit_option_names, _truncate
from ferroq.qiskit._convert import to_ferroq, to_ferroq_template
from ferroq.qiskit._job import FerroqJobCancelledError, FerroqJobError, FerroqJobTimeoutError

__all__ = ["EstimatorOptions", "EstimatorV2", "FerroqPrimitiveJob", "SamplerOptions", "SamplerV2"]


@dataclasses.dataclass
class SamplerOptions:
    """Options of :class:`SamplerV2` (Aer's ``Options`` of its ``SamplerV2``)."""

    backend_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of the :class:`FerroqSimulator` it runs on (Aer's names)."""

    run_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of each run (Aer's names); ``shots``, ``memory`` and
    ``parameter_binds`` are the sampler's own and ignored here, as in Aer."""


@dataclasses.dataclass
class EstimatorOptions:
    """Options of :class:`EstimatorV2` (Aer's ``Options`` of its ``EstimatorV2``)."""

    default_precision: float = 0.0
    """The precision of a PUB that gives none: 0 is exact."""

    backend_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of the :class:`FerroqSimulator` it runs on (Aer's names)."""

    run_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Options of each run (Aer's names); ``seed_simulator`` also seeds the
    noise added at ``precision > 0``."""


def _options(cls: type[Any], options: Any, what: str) -> Any:
    if options is None:
        return cls()
    if isinstance(options, cls):
        return dataclasses.replace(options)
    if not isinstance(options, dict):
        raise OptionError(f"{what}: options must be a dict, not {type(options).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        names = ", ".join(sorted(known))
        raise OptionError(f"{what}: unknown option {unknown[0]!r}; the options are {names}")
    for name in ("backend_options", "run_options"):
        if name in options and not isinstance(options[name], dict):
            raise OptionError(f"{what}: {name} must be a dict, not {type(options[name]).__name__}")
    return cls(**options)


_P = TypeVar("_P", "SamplerV2", "EstimatorV2")


def _on_backend(primitive: _P, backend: Any) -> _P:
    """``primitive`` made to run on ``backend`` (``from_backend``)."""
    if not isinstance(backend, FerroqSimulator):
        raise TypeError(
            f"from_backend needs a FerroqSimulator, not {type(backend).__name__} "
            "(a device's noise is not simulated by ferroq)"
        )
    primitive._backend = backend
    return primitive


_Finish = Callable[[list[ferroq.Result]], PrimitiveResult[Any]]


class FerroqPrimitiveJob(BasePrimitiveJob[PrimitiveResult[Any], QiskitJobStatus]):
    """The job of :meth:`SamplerV2.run` and :meth:`EstimatorV2.run`: Qiskit's
    ``BasePrimitiveJob`` over the engine jobs that run the call's circuits.

    ``result(timeout)`` waits up to ``timeout`` seconds in total (the package's
    deadline policy, Ctrl-C honoured), raising :class:`FerroqJobTimeoutError`
    when it passes; ``cancel()`` stops the engine's jobs, running or not. A
    circuit that fails makes ``result()`` raise :class:`FerroqJobError` naming its
    PUB, as Aer's primitives raise ``AerError``.
    """

    def __init__(self, jobs: Sequence[Any], finish: _Finish) -> None:
        super().__init__(str(uuid.uuid4()))
        self._jobs = list(jobs)
        self._finish = finish
        self._result: PrimitiveResult[Any] | None = None

    def result(self, timeout: float | None = None) -> PrimitiveResult[Any]:
        """The ``PrimitiveResult``, waiting up to ``timeout`` seconds in total."""
        deadline = Deadline(timeout)
        if self._result is not None:
            return self._result
        natives = []
        for job in self._jobs:
            try:
                natives.append(job.result(deadline.remaining(), partial=True))
            except fx.JobTimeoutError as err:
                raise FerroqJobTimeoutError(str(err)) from None
            except fx.JobCancelledError as err:
                raise FerroqJobCancelledError(str(err)) from None
            except fx.JobError as err:
                raise FerroqJobError(f"primitive job {self.job_id()} failed: {err}") from err
        self._result = self._finish(natives)
        return self._result

    def status(self) -> QiskitJobStatus:
        """Qiskit's ``JobStatus``: an error or a cancellation anywhere first, then
        the least advanced of the engine jobs."""
        names = {job.status().name for job in self._jobs}
        for final in ("ERROR", "CANCELLED"):
            if final in names:
                return QiskitJobStatus[final]
        for state in ("INITIALIZING", "QUEUED", "VALIDATING", "RUNNING"):
            if state in names:
                return QiskitJobStatus[state]
        return QiskitJobStatus.DONE

    def done(self) -> bool:
        return self.status() is QiskitJobStatus.DONE

    def running(self) -> bool:
        return self.status() is QiskitJobStatus.RUNNING

    def cancelled(self) -> bool:
        return self.status() is QiskitJobStatus.CANCELLED

    def in_final_state(self) -> bool:
        return self.status() in (QiskitJobStatus.DONE, QiskitJobStatus.CANCELLED, QiskitJobStatus.ERROR)

    def cancel(self) -> bool:
        """Cancels every engine job of the call; whether any was cancelled."""
        return any([job.cancel() for job in self._jobs])


def _failed(missing: dict[int, BaseException], pub: int, first: int, sets: range) -> None:
    """Raises for the first of ``pub``'s parameter sets ``sets`` whose experiment
    (``first`` + the set) failed."""
    for k in sets:
        error = missing.get(first + k)
        if error is not None:
            raise FerroqJobError(
                f"pub {pub}, parameter set {k}: simulation failed: {type(error).__name__}: {error}"
            ) from error


def _converted(pub: SamplerPub | EstimatorPub) -> list[ferroq.Circuit]:
    """The PUB's circuit for each of its parameter sets, in C order, converted
    once: a parameterised circuit becomes a template whose slots are filled
    per set in Rust (set by set through Qiskit's binding only where it cannot
    be one). Each circuit is a distinct object."""
    values, circuit = pub.parameter_values, pub.circuit
    if values.num_parameters == 0:
        if values.size == 0:
            return []
        one = to_ferroq(circuit)
        return [one] + [one.copy() for _ in range(values.size - 1)]
    template = to_ferroq_template(circuit)
    if template is None:
        return [to_ferroq(c) for c in values.bind_all(circuit).ravel()]
    rows = values.as_array(template.parameters).reshape(-1, len(template.parameters))
    return template.bind(rows)


def _simulator_metadata(result: ferroq.Result, opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "statevector",
        "device": "CPU",
        "precision": opts["precision"],
        "seed_simulator": result.seed,
        "parallel_threads": opts["max_parallel_threads"],
        "time_taken": result.time_taken,
    }


class SamplerV2(BaseSamplerV2):
    """Samples each PUB's circuit with every parameter set: Aer's ``SamplerV2``
    on ferroq. Switch by changing the import::

        from ferroq.qiskit import SamplerV2  # was: from qiskit_aer.primitives import SamplerV2

    ``default_shots`` (1024), ``seed`` (each run's ``seed_simulator``; it takes
    precedence over one in ``run_options``) and ``options`` (``backend_options``
    for the :class:`FerroqSimulator`, ``run_options`` for each run, Aer's names)
    are Aer's. Each classical register becomes a ``BitArray`` of shape
    ``parameter shape + (shots, bytes)`` in the PUB's ``DataBin``.

    >>> from qiskit import QuantumCircuit
    >>> from ferroq.qiskit import SamplerV2
    >>> bell = QuantumCircuit(2); _ = bell.h(0); _ = bell.cx(0, 1); bell.measure_all()
    >>> result = SamplerV2(seed=7).run([bell], shots=100).result()
    >>> counts = result[0].data.meas.get_counts()
    >>> sorted(counts), sum(counts.values())
    (['00', '11'], 100)
    """

    def __init__(
        self,
        *,
        default_shots: int = 1024,
        seed: int | None = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        self._default_shots = default_shots
        self._seed = seed
        self._options: SamplerOptions = _options(SamplerOptions, options, "SamplerV2")
        self._backend = FerroqSimulator(**self._options.backend_options)

    @classmethod
    def from_backend(cls, backend: FerroqSimulator, **options: Any) -> SamplerV2:
        """A sampler running on ``backend`` (a :class:`FerroqSimulator`)."""
        return _on_backend(cls(**options), backend)

    @property
    def default_shots(self) -> int:
        """The shots of a PUB that gives none."""
        return self._default_shots

    @property
    def seed(self) -> int | None:
        """The seed of every run (``None``: drawn per run)."""
        return self._seed

    @property
    def options(self) -> SamplerOptions:
        """The backend and run options."""
        return self._options

    def run(self, pubs: Iterable[SamplerPubLike], *, shots: int | None = None) -> FerroqPrimitiveJob:
        if shots is None:
            shots = self._default_shots
        coerced = [SamplerPub.coerce(pub, shots) for pub in pubs]
        for i, pub in enumerate(coerced):
            if not pub.circuit.cregs:
                warnings.warn(
                    f"The {i}-th pub's circuit has no output classical registers and so the result "
                    "will be empty. Did you mean to add measurement instructions?",
                    UserWarning,
                    stacklevel=2,
                )
        own = ("shots", "parameter_binds", "memory")
        run_options = {k: v for k, v in self._options.run_options.items() if k not in own}
        seed = self._seed if self._seed is not None else run_options.get("seed_simulator")
        run_options.pop("seed_simulator", None)
        # One engine job per shot count (Aer runs them that way too), every
        # parameter set of every PUB with that count in it.
        by_shots: dict[int, list[int]] = {}
        for i, pub in enumerate(coerced):
            by_shots.setdefault(pub.shots, []).append(i)
        jobs: list[Any] = []
        plans: list[tuple[list[int], list[int], dict[str, Any]]] = []
        for count, members in by_shots.items():
            opts, simulator = self._backend._simulator(
                {**run_options, "shots": count, "seed_simulator": seed, "memory": True}
            )
            circuits: list[ferroq.Circuit] = []
            firsts: list[int] = []
            for i in members:
                firsts.append(len(circuits))
                circuits.extend(_converted(coerced[i]))
            _truncate(circuits, opts)
            with _qiskit_option_names():
                jobs.append(simulator.run(circuits))
            plans.append((members, firsts, opts))

        def finish(natives: list[ferroq.Result]) -> PrimitiveResult[SamplerPubResult]:
            out: list[SamplerPubResult | None] = [None] * len(coerced)
            for native, (members, firsts, opts) in zip(natives, plans, strict=True):
                for i, first in zip(members, firsts, strict=True):
                    out[i] = _sampler_pub_result(coerced[i], i, native, first, opts)
            return PrimitiveResult(out, metadata={"version": 2})

        return FerroqPrimitiveJob(jobs, finish)


def _sampler_pub_result(
    pub: SamplerPub, index: int, native: ferroq.Result, first: int, opts: dict[str, Any]
) -> SamplerPubResult:
    shape = pub.parameter_values.shape
    _failed(native.missing, index, first, range(pub.parameter_values.size))
    circuit = pub.circuit
    registers = [(creg.name, [circuit.find_bit(bit).index for bit in creg]) for creg in circuit.cregs]
    arrays = {
        name: np.zeros((*shape, pub.shots, (len(bits) + 7) // 8), dtype=np.uint8) for name, bits in registers
    }
    for k, where in enumerate(np.ndindex(*shape)):
        experiment: _core.ExperimentData = native._experiment(first + k)
        memory = experiment.memory_array()
        if memory is None or memory.shape[1] == 0:
            outcomes = np.zeros((pub.shots, circuit.num_clbits), dtype=bool)
        else:
            raw = np.ascontiguousarray(memory).view(np.uint8).reshape(memory.shape[0], -1)
            outcomes = np.unpackbits(raw, axis=1, bitorder="little")[:, : circuit.num_clbits].astype(bool)
        for name, bits in registers:
            arrays[name][where] = BitArray.from_bool_array(outcomes[:, bits], order="little").array
    data = {name: BitArray(arrays[name], len(bits)) for name, bits in registers}
    return SamplerPubResult(
        DataBin(**data, shape=shape),
        metadata={
            "shots": pub.shots,
            "circuit_metadata": circuit.metadata,
            "simulator_metadata": _simulator_metadata(native, opts),
        },
    )


class EstimatorV2(BaseEstimatorV2):
    """Expectation values of each PUB's observables for every parameter set:
    Aer's ``EstimatorV2`` on ferroq. Switch by changing the import::

        from ferroq.qiskit import EstimatorV2  # was: from qiskit_aer.primitives import EstimatorV2

    ``options`` are Aer's: ``default_precision`` (0: exact), ``backend_options``
    for the :class:`FerroqSimulator` and ``run_options`` for each run. As in Aer,
    a PUB with ``precision > 0`` gets each exact value plus normal noise of that
    standard deviation, drawn from ``numpy.random.default_rng(seed_simulator)``
    of ``run_options`` (fresh entropy without one), and ``stds`` holds the
    precision. Each circuit runs once per parameter set, whatever the number of
    observables broadcast against it; the values are computed in Rust.

    >>> from qiskit import QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> from ferroq.qiskit import EstimatorV2
    >>> bell = QuantumCircuit(2); _ = bell.h(0); _ = bell.cx(0, 1)
    >>> zz_xx = SparsePauliOp.from_list([("ZZ", 1), ("XX", 0.5)])
    >>> result = EstimatorV2().run([(bell, zz_xx)]).result()
    >>> round(float(result[0].data.evs), 12)
    1.5
    """

    def __init__(self, *, options: dict[str, Any] | None = None) -> None:
        self._options: EstimatorOptions = _options(EstimatorOptions, options, "EstimatorV2")
        self._backend = FerroqSimulator(**self._options.backend_options)

    @classmethod
    def from_backend(cls, backend: FerroqSimulator, **options: Any) -> EstimatorV2:
        """An estimator running on ``backend`` (a :class:`FerroqSimulator`)."""
        return _on_backend(cls(**options), backend)

    @property
    def options(self) -> EstimatorOptions:
        """The default precision and the backend and run options."""
        return self._options

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> FerroqPrimitiveJob:
        if precision is None:
            precision = self._options.default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        for i, pub in enumerate(coerced):
            if pub.precision < 0.0:
                raise ValueError(
                    f"The {i}-th pub has precision less than 0 ({pub.precision}). "
                    "But precision should be equal to or larger than 0."
                )
        opts, simulator = self._backend._simulator(self._options.run_options)
        circuits: list[ferroq.Circuit] = []
        plans = []
        for pub in coerced:
            shape, params, obs, firsts = _estimator_plan(pub, circuits)
            plans.append((shape, params, obs, firsts))
        with _qiskit_option_names():
            job = simulator.run(circuits)
        seed = self._options.run_options.get("seed_simulator")

        def finish(natives: list[ferroq.Result]) -> PrimitiveResult[PubResult]:
            (native,) = natives
            out = []
            for i, (pub, plan) in enumerate(zip(coerced, plans, strict=True)):
                out.append(_estimator_pub_result(pub, i, native, plan, seed, opts))
            return PrimitiveResult(out, metadata={"version": 2})

        return FerroqPrimitiveJob([job], finish)


_Plan = tuple[tuple[int, ...], np.ndarray, np.ndarray, list[int]]


def _estimator_plan(pub: EstimatorPub, circuits: list[ferroq.Circuit]) -> _Plan:
    """Appends one circuit per parameter set of ``pub`` to ``circuits``, each saving
    the observables broadcast against that set (labelled by their flat index);
    returns the broadcast shape, the flat parameter and observable index of each
    broadcast element, and where each set's circuit is."""
    values, observables = pub.parameter_values, pub.observables
    params = np.arange(values.size, dtype=np.int64).reshape(values.shape)
    obs = np.arange(observables.size, dtype=np.int64).reshape(observables.shape)
    params, obs = np.broadcast_arrays(params, obs)
    needed: dict[int, set[int]] = {}
    for p, o in zip(params.ravel().tolist(), obs.ravel().tolist(), strict=True):
        needed.setdefault(p, set()).add(o)
    flat_obs = observables.ravel()
    terms_of: dict[int, list[tuple[str, complex]]] = {}  # each item costs Qiskit a conversion
    width = pub.circuit.num_qubits
    firsts = []
    for p, circuit in enumerate(_converted(pub)):
        firsts.append(len(circuits))
        if p not in needed:
            continue
        for o in sorted(needed[p]):
            if o not in terms_of:
                terms_of[o] = list(flat_obs[o].items()) or [("I" * width, 0.0)]
            circuit.save_expectation_value(terms_of[o], list(range(width)), label=f"o{o}")
        circuits.append(circuit)
    return params.shape, params, obs, firsts


def _estimator_pub_result(
    pub: EstimatorPub, index: int, native: ferroq.Result, plan: _Plan, seed: Any, opts: dict[str, Any]
) -> PubResult:
    shape, params, obs, firsts = plan
    evs = np.zeros(shape, dtype=np.float64)
    complex_value = False
    missing = native.missing
    saved: dict[int, dict[str, Any]] = {}
    for where in np.ndindex(*shape):
        p = int(params[where])
        if p not in saved:
            _failed(missing, index, firsts[p] - p, range(p, p + 1))
            saved[p] = native._experiment(firsts[p]).saved()
        value = saved[p][f"o{int(obs[where])}"]
        complex_value |= isinstance(value, complex)
        evs[where] = np.real(value)
    if pub.precision > 0:
        if complex_value:
            raise ValueError("Given operator is not Hermitian and noise cannot be added.")
        evs = np.random.default_rng(seed).normal(evs, pub.precision, evs.shape)
    return PubResult(
        DataBin(evs=evs, stds=np.full(shape, pub.precision), shape=shape),
        metadata={
            "target_precision": pub.precision,
            "circuit_metadata": pub.circuit.metadata,
            "simulator_metadata": _simulator_metadata(native, opts),
        },
    )
