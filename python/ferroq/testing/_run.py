"""Batch execution for tests: many circuits, one call into the engine."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, cast, overload

import numpy as np
import numpy.typing as npt

from ferroq._circuit import Circuit
from ferroq._simulator import Simulator

__all__ = ["as_circuit", "run_many"]

State = npt.NDArray[np.complexfloating[Any, Any]]


def as_circuit(circuit: Any, what: str = "circuit") -> Circuit:
    """A ``ferroq.Circuit`` as is, or a qiskit ``QuantumCircuit`` converted with
    :func:`ferroq.qiskit.to_ferroq` (qiskit is imported only then)."""
    if isinstance(circuit, Circuit):
        return circuit
    module = type(circuit).__module__ or ""
    if module.split(".")[0] == "qiskit":
        from ferroq.qiskit import to_ferroq

        return to_ferroq(circuit)
    raise TypeError(f"{what} is a {type(circuit).__name__}, not a ferroq.Circuit or a qiskit QuantumCircuit")


@overload
def run_many(
    circuits: Iterable[Any],
    *,
    shots: int | None = ...,
    seed: int | None = ...,
    statevector: Literal[False] = ...,
    simulator: Simulator | None = ...,
    **options: Any,
) -> list[dict[str, int]]: ...


@overload
def run_many(
    circuits: Iterable[Any],
    *,
    shots: int | None = ...,
    seed: int | None = ...,
    statevector: Literal[True],
    simulator: Simulator | None = ...,
    **options: Any,
) -> list[State]: ...


def run_many(
    circuits: Iterable[Any],
    *,
    shots: int | None = None,
    seed: int | None = None,
    statevector: bool = False,
    simulator: Simulator | None = None,
    **options: Any,
) -> list[dict[str, int]] | list[State]:
    """Runs a whole list of circuits in one batch call and returns one entry per circuit.

    With ``statevector=False`` (the default) each entry is the circuit's counts
    (``{bitstring: count}``, clbit 0 rightmost; ``{}`` for a circuit without
    clbits). With ``statevector=True`` each entry is the circuit's final state, a
    read-only complex array (for a circuit that measures only at the end, the state
    just before the measurements).

    ``shots`` defaults to the simulator's (1024) for counts and to 1 for
    statevectors. ``seed`` makes the run reproducible: circuit ``i`` samples with a
    seed derived from ``seed`` and ``i``, so the counts of a circuit do not depend
    on the thread count. ``simulator`` supplies default options (a
    ``ferroq.Simulator``); other keyword arguments are run options of
    :meth:`ferroq.Simulator.run` (``precision``, ``fusion``,
    ``max_parallel_threads``, ...). Circuits may be ``ferroq.Circuit`` or qiskit
    ``QuantumCircuit`` objects.

    Everything runs as a single job on ferroq's worker threads, so a property test
    that checks hundreds of circuits spends its time in the engine, not in Python.

    >>> import ferroq
    >>> from ferroq.testing import run_many
    >>> ghz = [ferroq.Circuit(n).h(0).mcx([0], n - 1).measure_all() for n in (2, 3)]
    >>> [sorted(c) for c in run_many(ghz, shots=100, seed=1)]
    [['00', '11'], ['000', '101']]
    >>> states = run_many([ferroq.Circuit(1).x(0)], statevector=True)
    >>> states[0].real.tolist()
    [0.0, 1.0]
    """
    listed = [as_circuit(c, f"circuit {i}") for i, c in enumerate(circuits)]
    if not listed:
        return []
    sim = simulator if simulator is not None else Simulator()
    if shots is None:
        shots = 1 if statevector else int(sim.options["shots"])
    job = sim.run(listed, shots=shots, seed=seed, statevector=statevector, **options)
    result = job.result()
    if statevector:
        return [cast(State, result.get_statevector(i)) for i in range(len(listed))]
    return [cast("dict[str, int]", result.get_counts(i)) for i in range(len(listed))]
