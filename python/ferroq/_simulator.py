"""The simulator front: run options, their validation, and the calls into Rust."""

from __future__ import annotations

import operator
import os
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ferroq import _core
from ferroq._circuit import Circuit
from ferroq._executors import check_executor, engine_options, submit_set
from ferroq._job import Job
from ferroq._jobset import JobSet
from ferroq._progress import progress_bar_for, watch
from ferroq._record import check_header, check_name, check_tags
from ferroq._store import check_store, default_store, open_store, record
from ferroq.exceptions import OptionError, OptionTypeError, UnknownOptionError

__all__ = ["Simulator", "statevector"]

Circuits = Circuit | Iterable[Circuit]

# name -> (accepted types, None allowed). Ranges are checked by the engine.
_OPTION_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "shots": ((int,), False),
    "seed": ((int,), True),
    "memory": ((bool,), False),
    "statevector": ((bool,), False),
    "max_parallel_threads": ((int,), True),
    "max_parallel_experiments": ((int,), False),
    "parallel_threshold": ((int,), False),
    "max_memory_mb": ((int, float), True),
    "fusion": ((bool,), False),
    "fusion_max_qubit": ((int,), True),
    "fusion_threshold": ((int,), True),
    "precision": ((str,), False),
    "blocking": ((bool,), False),
    "executor": ((object,), True),  # checked by check_executor
    "max_job_size": ((int,), True),
    "worker_threads": ((int,), True),
    "store": ((str, os.PathLike), True),  # checked by check_store
    "callback": ((object,), True),  # any callable
    "progress_bar": ((bool,), False),
}

# Options the engine never sees, so their ranges are checked here.
_OPTION_MINIMUM: dict[str, int] = {"max_job_size": 1, "worker_threads": 1}

_DEFAULTS: dict[str, Any] = {
    "shots": 1024,
    "seed": None,
    "memory": False,
    "statevector": False,
    "max_parallel_threads": None,
    "max_parallel_experiments": 0,
    "parallel_threshold": _core.DEFAULT_PARALLEL_THRESHOLD,
    "max_memory_mb": None,
    "fusion": True,
    "fusion_max_qubit": None,
    "fusion_threshold": None,
    "precision": "double",
    "blocking": False,
    "executor": None,
    "max_job_size": None,
    "worker_threads": None,
    "store": None,
    "callback": None,
    "progress_bar": False,
}


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Rejects unknown names and wrong types; normalises numpy scalars."""
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _OPTION_TYPES:
            known = ", ".join(sorted(_OPTION_TYPES))
            raise UnknownOptionError(
                option=name, template="unknown option {option}; known options are: " + known
            )
        types, nullable = _OPTION_TYPES[name]
        if value is None and nullable:
            checked[name] = None
            continue
        if name == "executor":
            checked[name] = check_executor(value)
            continue
        if name == "store":
            checked[name] = check_store(value)
            continue
        if name == "callback":
            if not callable(value):
                got = type(value).__name__
                raise OptionTypeError.about("callback", f"must be callable or None, got {got} {value!r}")
            checked[name] = value
            continue
        # bool is an int in Python; a bool where a count is expected is a mistake.
        is_bool = isinstance(value, (bool, np.bool_))
        if bool in types:
            ok = is_bool
            value = bool(value) if ok else value
        elif is_bool:
            ok = False
        elif int in types and isinstance(value, (int, np.integer)):
            ok, value = True, operator.index(value)
            # What the engine can be handed at all (its own ranges come after).
            low, high = (-(2**127), 2**127) if name == "seed" else (-(2**63), 2**63)
            if not low <= value < high:
                raise OptionError.about(name, f"is out of range, got {value}")
        elif str in types:
            ok = isinstance(value, str)
        else:
            ok = isinstance(value, (float, np.floating)) and float in types
            value = float(value) if ok else value
        if not ok:
            expected = " or ".join(t.__name__ for t in types) + (" or None" if nullable else "")
            raise OptionTypeError.about(name, f"must be {expected}, got {type(value).__name__} {value!r}")
        minimum = _OPTION_MINIMUM.get(name)
        if minimum is not None and value < minimum:
            raise OptionError.about(name, f"must be at least {minimum} or None, got {value!r}")
        checked[name] = value
    return checked


def _check_ranges(opts: Mapping[str, Any]) -> None:
    """Checks the engine's options' ranges and units, in the core's one builder
    (the checks above are of types only): a bad value raises when it is set, not
    when a run, perhaps on another machine, first uses it."""
    _core.check_options(**engine_options(opts))


def _as_circuit_list(circuits: Circuits) -> tuple[list[Circuit], bool]:
    if isinstance(circuits, Circuit):
        return [circuits], True
    if not isinstance(circuits, (list, tuple)) and hasattr(circuits, "num_qubits"):
        # A circuit of another library (a QuantumCircuit iterates over its
        # instructions, which would read as a batch of none).
        raise TypeError(
            f"Simulator.run takes ferroq.Circuits, not a {type(circuits).__name__}: "
            "run Qiskit circuits on ferroq.qiskit.FerroqSimulator, or convert them with "
            "ferroq.qiskit.to_ferroq"
        )
    listed = list(circuits)
    for i, c in enumerate(listed):
        if not isinstance(c, Circuit):
            raise TypeError(f"circuit {i} is a {type(c).__name__}, not a ferroq.Circuit")
    return listed, False


class Simulator:
    """A statevector simulator with default run options.

    Options given to the constructor or to :meth:`set_options` are defaults;
    options given to :meth:`run` override them for that call only.

    Options:
        shots (int): samples per circuit, at least 1 (default 1024).
        seed (int | None): run seed; the same seed gives the same counts and
            memory whatever the thread count. Circuit ``i`` of a batch uses the
            seed ``seed + i`` (mod 2**64), as Aer does, and reports it
            (``Result.results[i].seed``): given back as the seed of that circuit
            alone, it reproduces that circuit's counts. ``None`` draws one.
        memory (bool): keep every shot's bitstring (:meth:`Result.get_memory`).
        statevector (bool): keep each circuit's final state
            (:meth:`Result.get_statevector`); for circuits whose measurements are
            all terminal it is the state just before them.
        max_parallel_threads (int | None): worker threads; ``None`` or 0 uses
            ``FERROQ_NUM_THREADS`` or else every CPU this process may use.
        max_parallel_experiments (int): most circuits of a batch simulated at once,
            each whole on one thread (default 0: up to the thread count); 1 runs
            them one after the other with every thread on each. Only circuits
            below ``parallel_threshold`` qubits run side by side. Results do not
            depend on it.
        parallel_threshold (int): qubit count from which one circuit's amplitudes
            are split over threads (default 14); smaller circuits are spread
            over threads whole, or shot by shot.
        max_memory_mb (float | None): memory limit for one statevector; by
            default the memory available. Larger states raise
            :class:`~ferroq.exceptions.SimulationMemoryError` before allocating.
        fusion (bool): fuse runs of gates into blocks of up to 4 qubits and apply
            them cache block by cache block (default ``True``). Results differ from
            ``fusion=False`` only by rounding, far below 1e-12.
        fusion_max_qubit (int | None): the widest fused block, 1 to 8 qubits
            (default 4, which measures fastest here; Aer's option of that name).
        fusion_threshold (int | None): fuse only circuits of at least this many
            qubits (default: every circuit; Aer's option of that name).
        precision (str): ``"double"`` (complex128, the default) or ``"single"``:
            the state is stored as complex64, which halves its memory and the
            bytes each pass over it moves. Gates are still computed in double
            precision, in cache-sized blocks rounded to complex64 when stored: the
            state stays within (stages + 1) * 2**-24 of the double-precision one in
            the 2-norm (about 6e-8 per stage; a stage holds one or more gates).
            Statevectors then come back as complex64 arrays.
        blocking (bool): finish the simulation before :meth:`run` returns (as
            Qiskit's BasicSimulator); the job's ``result(timeout)`` then warns that
            the timeout is ignored.
        executor (Executor | None): run the batch as tasks on this
            ``concurrent.futures.Executor`` (thread or process pool, ``loky``,
            ``client.get_executor()``...) or ``dask.distributed.Client``; :meth:`run`
            then returns a :class:`JobSet`. Workers receive only the circuits and
            these options, and need ferroq (the same version) installed.
        max_job_size (int | None): split the batch into chunks of at most this
            many circuits; :meth:`run` then returns a :class:`JobSet`, one chunk per
            job. Without an executor the chunks are jobs on ferroq's own scheduler;
            with an executor and no ``max_job_size``, the batch is split into about
            4 chunks per task the executor runs at once. Results do not depend on
            the split: circuit ``i`` always samples with the seed of index ``i``.
        worker_threads (int | None): engine threads per executor task. By default
            ``max_parallel_threads`` if set, else the CPUs of the worker divided by
            the tasks that share them: ``cpu_count // max_workers`` for a thread or
            process pool, and for Dask the worker host's CPUs divided by the
            threads of all workers on that host (1 for an executor of unknown
            size), so that the cores are not oversubscribed.
        store (str | os.PathLike | None): a job store (an SQLite file, created if
            missing) that records every job of the run, its result or error, so
            :func:`ferroq.retrieve_job` and :func:`ferroq.jobs` find it from any
            process. By default ``FERROQ_STORE`` if set (read when the simulator is
            made), else none; ``None`` stores nothing.
        callback (Callable[[ProgressEvent], object] | None): called with a
            :class:`ferroq.ProgressEvent` (status, fraction done, elapsed time)
            whenever the job's status or progress changes, read every 0.1 s, and
            once more when it ends. It runs on ferroq's progress thread; exceptions
            it raises are logged on the ``ferroq`` logger and otherwise ignored.
            Not kept in the job's ``backend_options()``.
        progress_bar (bool): show a progress bar while the job runs: tqdm's
            (``tqdm.auto``, a widget in notebooks; ``pip install "ferroq[progress]"``)
            when installed, else a one-line bar on stderr.

    >>> import ferroq
    >>> sim = ferroq.Simulator(shots=10, seed=3)
    >>> sim.run(ferroq.Circuit(1, 1).x(0).measure(0, 0)).result().get_counts()
    {'1': 10}
    """

    def __init__(self, **options: Any) -> None:
        self._options: dict[str, Any] = dict(_DEFAULTS, store=default_store())
        self._options.update(_check_options(options))
        _check_ranges(self._options)

    @property
    def options(self) -> dict[str, Any]:
        """A copy of the current default options."""
        return dict(self._options)

    def set_options(self, **options: Any) -> None:
        """Changes default options for later runs (all or none: a bad value leaves
        every option as it was)."""
        changed = dict(self._options)
        changed.update(_check_options(options))
        _check_ranges(changed)
        self._options = changed

    def run(
        self,
        circuits: Circuits,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        header: dict[str, Any] | None = None,
        **options: Any,
    ) -> Job | JobSet:
        """Queues one circuit or a list of circuits and returns their :class:`Job` at once.

        Bad circuits and options raise here, before any job exists. The
        simulation runs on ferroq's worker threads without the GIL; a list of
        circuits is one job whose circuits are spread over threads.
        ``name``, ``tags`` and ``header`` are kept on the job. With ``executor``
        or ``max_job_size`` the batch runs in chunks and a :class:`JobSet` is
        returned instead.
        """
        opts = dict(self._options)
        opts.update(_check_options(options))
        _check_ranges(opts)
        if opts["worker_threads"] is not None and opts["executor"] is None:
            # An option acts or is refused: this one only sizes executor tasks.
            raise OptionError.about(
                "worker_threads", "acts only with executor=...; without one, use max_parallel_threads"
            )
        callback, progress_bar = opts.pop("callback"), opts.pop("progress_bar")
        listed, _ = _as_circuit_list(circuits)
        name = check_name(name)
        tags, header = check_tags(tags or []), check_header(header or {})
        store = opts["store"]
        if store is not None:
            open_store(store)  # a bad store raises before any job exists
        if opts["executor"] is not None or opts["max_job_size"] is not None:
            return self._run_set(
                listed,
                opts,
                name=name,
                tags=tags,
                header=header,
                observers=_observers(callback, progress_bar),
            )
        native = _core.submit([c._native for c in listed], **engine_options(opts))
        job = Job(self, native, listed, opts, name=name, tags=tags, header=header)
        if store is not None:
            _record(store, job)
        _observe(job, _observers(callback, progress_bar))
        if opts["blocking"]:
            job._async = False
            try:
                native.wait(None)
            except BaseException:
                # Ctrl-C: the caller never gets the job, so nobody else could cancel it.
                native.cancel()
                raise
        return job

    def _run_set(
        self,
        listed: list[Circuit],
        opts: dict[str, Any],
        *,
        name: str | None,
        tags: list[str],
        header: dict[str, Any],
        observers: list[Any],
    ) -> JobSet:
        job_set = submit_set(self, listed, opts, name=name, tags=tags, header=header)
        if opts["store"] is not None:
            _record(opts["store"], job_set)
        _observe(job_set, observers)
        if opts["blocking"]:
            try:
                job_set.wait_for_final_state()
            except BaseException:
                # Ctrl-C: the caller never gets the set, so nobody else could cancel it.
                job_set.cancel()
                raise
        return job_set

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._options.items() if _DEFAULTS.get(k) != v}
        return f"Simulator({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def _observers(callback: Any, progress_bar: bool) -> list[Any]:
    return [o for o in (callback, progress_bar or None) if o is not None]


def _observe(job: Job | JobSet, observers: list[Any]) -> None:
    for observer in observers:
        watch(job, progress_bar_for(job) if observer is True else observer)


def _record(store: str, job: Job | JobSet) -> None:
    """Stores ``job``; if that fails, cancels it (the caller never gets it) and raises."""
    try:
        record(store, job)
    except BaseException:
        job.cancel()
        raise


class EngineInfo(NamedTuple):
    """What the engine chose for this machine and process (see :func:`engine_info`)."""

    #: The vector kernels in use: ``"avx512"``, ``"avx2"``, ``"neon"`` or
    #: ``"portable"``. ``FERROQ_NO_AVX512=1`` stops at AVX2 and ``FERROQ_NO_SIMD=1``
    #: forces the portable kernels; both are read once per process, when first needed.
    instruction_set: str
    #: Bytes of the last-level cache: states within half of it run without cache
    #: blocking. ``FERROQ_CACHE_BYTES`` overrides it (read once per process);
    #: ``None`` when unknown (or set to 0), and then every large enough state is
    #: blocked.
    cache_bytes: int | None
    #: Threads a run uses when ``max_parallel_threads`` is not given.
    default_threads: int
    #: Bytes of memory the engine counts as available at the time of the call:
    #: the default limit on a state's size.
    available_memory: int


def engine_info() -> EngineInfo:
    """The instruction set, cache size, thread count and memory limit the engine
    works with here: the settings to quote beside a benchmark.

    >>> import ferroq
    >>> info = ferroq.engine_info()
    >>> info.instruction_set in ("avx512", "avx2", "neon", "portable")
    True
    >>> info.default_threads >= 1 and info.available_memory > 0
    True
    """
    return EngineInfo(
        instruction_set=_core.instruction_set(),
        cache_bytes=_core.cache_bytes(),
        default_threads=_core.default_threads(),
        available_memory=_core.available_memory(),
    )


def statevector(
    circuit: Circuit,
    *,
    max_parallel_threads: int | None = None,
    parallel_threshold: int | None = None,
    max_memory_mb: float | None = None,
    fusion: bool = True,
    precision: str = "double",
) -> npt.NDArray[np.complexfloating[Any, Any]]:
    """The final state of ``circuit`` from ``|0...0>``, global phase included, as a new
    complex128 array of length ``2**num_qubits`` (qubit 0 is the least significant bit),
    or complex64 with ``precision="single"`` (see :class:`Simulator`).

    The circuit must not measure or reset
    (:class:`~ferroq.exceptions.CircuitError`); for those use
    ``Simulator.run(circuit, statevector=True)``.

    >>> import ferroq
    >>> ferroq.statevector(ferroq.Circuit(2).h(0).cx(0, 1)).round(3).tolist()
    [(0.707+0j), 0j, 0j, (0.707+0j)]
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(f"statevector() takes a ferroq.Circuit, not {type(circuit).__name__}")
    opts = _check_options(
        {
            "max_parallel_threads": max_parallel_threads,
            "parallel_threshold": (
                _core.DEFAULT_PARALLEL_THRESHOLD if parallel_threshold is None else parallel_threshold
            ),
            "max_memory_mb": max_memory_mb,
            "fusion": fusion,
            "precision": precision,
        }
    )
    threads = opts["max_parallel_threads"]
    return _core.statevector(
        circuit._native,
        max_parallel_threads=0 if threads is None else threads,
        parallel_threshold=opts["parallel_threshold"],
        max_memory_mb=opts["max_memory_mb"],
        fusion=opts["fusion"],
        precision=opts["precision"],
    )
