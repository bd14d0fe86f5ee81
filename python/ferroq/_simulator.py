"""The simulator front: run options, their validation, and the calls into Rust."""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ferroq import _core
from ferroq._circuit import Circuit
from ferroq._job import Job, check_header, check_tags
from ferroq.exceptions import OptionTypeError, UnknownOptionError

__all__ = ["Simulator", "statevector"]

Circuits = Circuit | Iterable[Circuit]

# name -> (accepted types, None allowed). Ranges are checked by the engine.
_OPTION_TYPES: dict[str, tuple[tuple[type, ...], bool]] = {
    "shots": ((int,), False),
    "seed": ((int,), True),
    "memory": ((bool,), False),
    "statevector": ((bool,), False),
    "max_parallel_threads": ((int,), True),
    "parallel_threshold": ((int,), False),
    "max_memory_mb": ((int, float), True),
    "fusion": ((bool,), False),
    "blocking": ((bool,), False),
}

_DEFAULTS: dict[str, Any] = {
    "shots": 1024,
    "seed": None,
    "memory": False,
    "statevector": False,
    "max_parallel_threads": None,
    "parallel_threshold": _core.DEFAULT_PARALLEL_THRESHOLD,
    "max_memory_mb": None,
    "fusion": True,
    "blocking": False,
}


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Rejects unknown names and wrong types; normalises numpy scalars."""
    checked: dict[str, Any] = {}
    for name, value in options.items():
        if name not in _OPTION_TYPES:
            known = ", ".join(sorted(_OPTION_TYPES))
            raise UnknownOptionError(f"unknown option {name!r}; known options are: {known}")
        types, nullable = _OPTION_TYPES[name]
        if value is None and nullable:
            checked[name] = None
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
        else:
            ok = isinstance(value, (float, np.floating)) and float in types
            value = float(value) if ok else value
        if not ok:
            expected = " or ".join(t.__name__ for t in types) + (" or None" if nullable else "")
            raise OptionTypeError(f"option {name!r} must be {expected}, got {type(value).__name__} {value!r}")
        checked[name] = value
    return checked


def _as_circuit_list(circuits: Circuits) -> tuple[list[Circuit], bool]:
    if isinstance(circuits, Circuit):
        return [circuits], True
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
            memory whatever the thread count. Circuit ``i`` of a batch uses a
            seed derived from the run seed and ``i``. ``None`` draws one.
        memory (bool): keep every shot's bitstring (:meth:`Result.get_memory`).
        statevector (bool): keep each circuit's final state
            (:meth:`Result.get_statevector`); for circuits whose measurements are
            all terminal it is the state just before them.
        max_parallel_threads (int | None): worker threads; ``None`` or 0 uses
            ``FERROQ_NUM_THREADS`` or else every CPU this process may use.
        parallel_threshold (int): qubit count from which one circuit's amplitudes
            are split over threads (default 14); smaller circuits are spread
            over threads whole, or shot by shot.
        max_memory_mb (float | None): memory limit for one statevector; by
            default the memory available. Larger states raise
            :class:`~ferroq.exceptions.SimulationMemoryError` before allocating.
        fusion (bool): fuse runs of gates into blocks of up to 4 qubits and apply
            them cache block by cache block (default ``True``). Results differ from
            ``fusion=False`` only by rounding, far below 1e-12.
        blocking (bool): finish the simulation before :meth:`run` returns (as
            Qiskit's BasicSimulator); the job's ``result(timeout)`` then warns that
            the timeout is ignored.

    >>> import ferroq
    >>> sim = ferroq.Simulator(shots=10, seed=3)
    >>> sim.run(ferroq.Circuit(1, 1).x(0).measure(0, 0)).result().get_counts()
    {'1': 10}
    """

    def __init__(self, **options: Any) -> None:
        self._options: dict[str, Any] = dict(_DEFAULTS)
        self._options.update(_check_options(options))

    @property
    def options(self) -> dict[str, Any]:
        """A copy of the current default options."""
        return dict(self._options)

    def set_options(self, **options: Any) -> None:
        """Changes default options for later runs."""
        self._options.update(_check_options(options))

    def run(
        self,
        circuits: Circuits,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        header: dict[str, Any] | None = None,
        **options: Any,
    ) -> Job:
        """Queues one circuit or a list of circuits and returns their :class:`Job` at once.

        Bad circuits and options raise here, before any job exists. The
        simulation runs on ferroq's worker threads without the GIL; a list of
        circuits is one job whose circuits are spread over threads.
        ``name``, ``tags`` and ``header`` are kept on the job.
        """
        opts = dict(self._options)
        opts.update(_check_options(options))
        listed, _ = _as_circuit_list(circuits)
        tags, header = check_tags(tags or []), check_header(header or {})
        threads = opts["max_parallel_threads"]
        native = _core.submit(
            [c._native for c in listed],
            shots=opts["shots"],
            seed=opts["seed"],
            memory=opts["memory"],
            statevector=opts["statevector"],
            max_parallel_threads=0 if threads is None else threads,
            parallel_threshold=opts["parallel_threshold"],
            max_memory_mb=opts["max_memory_mb"],
            fusion=opts["fusion"],
        )
        job = Job(self, native, listed, opts, name=name, tags=tags, header=header)
        if opts["blocking"]:
            job._async = False
            try:
                native.wait(None)
            except BaseException:
                # Ctrl-C: the caller never gets the job, so nobody else could cancel it.
                native.cancel()
                raise
        return job

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._options.items() if _DEFAULTS.get(k) != v}
        return f"Simulator({', '.join(f'{k}={v!r}' for k, v in changed.items())})"


def statevector(
    circuit: Circuit,
    *,
    max_parallel_threads: int | None = None,
    parallel_threshold: int | None = None,
    max_memory_mb: float | None = None,
    fusion: bool = True,
) -> npt.NDArray[np.complex128]:
    """The final state of ``circuit`` from ``|0...0>``, global phase included, as a new
    complex128 array of length ``2**num_qubits`` (qubit 0 is the least significant bit).

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
        }
    )
    threads = opts["max_parallel_threads"]
    return _core.statevector(
        circuit._native,
        max_parallel_threads=0 if threads is None else threads,
        parallel_threshold=opts["parallel_threshold"],
        max_memory_mb=opts["max_memory_mb"],
        fusion=opts["fusion"],
    )
