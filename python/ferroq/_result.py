"""Results of a run, looked up by circuit index or name as in Qiskit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ferroq import _core
from ferroq.exceptions import FerroqError

__all__ = ["ExperimentResult", "Result"]

ExperimentResult = _core.ExperimentData
"""Per-circuit data: ``name``, ``shots``, ``seed``, ``time_taken`` (seconds),
``num_qubits``, ``num_clbits``."""

T = TypeVar("T")

# An index, a circuit name, a circuit (anything with a .name), or None.
# (outcomes, counts) of one circuit, both uint64.
CountsArray = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]
Key = Any


class Result:
    """The outcome of a job (:meth:`Job.result`): one entry per circuit, in submission order.

    Look-ups take an index, a circuit name, or the circuit itself; with no
    argument they return the only circuit's data, or a list over all circuits.

    >>> import ferroq
    >>> c = ferroq.Circuit(2, 2, name="bell").h(0).cx(0, 1).measure([0, 1], [0, 1])
    >>> result = ferroq.Simulator().run([c, c], shots=8, seed=1, memory=True).result()
    >>> len(result), sorted(result.get_counts(0))
    (2, ['00', '11'])
    >>> len(result.get_memory("bell"))
    8
    """

    def __init__(
        self,
        seed: int,
        experiments: Sequence[_core.ExperimentData],
        options: dict[str, Any],
        job_id: str | None = None,
    ):
        self._seed = seed
        self._experiments = list(experiments)
        self._options = dict(options)
        self.job_id = job_id

    @property
    def seed(self) -> int:
        """The run seed (drawn at random when the run did not set one)."""
        return self._seed

    @property
    def results(self) -> list[_core.ExperimentData]:
        """Per-circuit data, in submission order."""
        return list(self._experiments)

    @property
    def options(self) -> dict[str, Any]:
        """The options the run used."""
        return dict(self._options)

    @property
    def time_taken(self) -> float:
        """Sum of the circuits' simulation times, in seconds."""
        return sum(e.time_taken for e in self._experiments)

    def __len__(self) -> int:
        return len(self._experiments)

    def __repr__(self) -> str:
        return f"Result({len(self)} circuits, seed={self._seed})"

    def _index(self, key: Key) -> int:
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -len(self._experiments) <= i < len(self._experiments):
                raise FerroqError(f"no result {i}: the run had {len(self._experiments)} circuits")
            return i % len(self._experiments)
        name = key if isinstance(key, str) else getattr(key, "name", None)
        if name is None:
            raise FerroqError(f"cannot look a result up by {key!r}: use an index, a name or a circuit")
        matches = [i for i, e in enumerate(self._experiments) if e.name == name]
        if not matches:
            raise FerroqError(f"no result for a circuit named {name!r}")
        return matches[0]

    def _each(self, key: Key, fn: Callable[[_core.ExperimentData], T]) -> T | list[T]:
        """``fn`` of the selected circuit, or a list over all circuits when ``key``
        is ``None`` and the run had several."""
        if key is None and len(self._experiments) != 1:
            return [fn(e) for e in self._experiments]
        return fn(self._experiments[0 if key is None else self._index(key)])

    def data(self, experiment: Key = None) -> dict[str, Any] | list[dict[str, Any]]:
        """The values of the circuit's save instructions, by label (as Aer's ``Result.data``)."""
        return self._each(experiment, lambda e: e.saved())

    def get_counts(self, experiment: Key = None) -> dict[str, int] | list[dict[str, int]]:
        """Bitstring -> count (clbit 0 rightmost). A circuit without clbits has no counts (``{}``)."""
        return self._each(experiment, lambda e: e.counts())

    def get_counts_array(self, experiment: Key = None) -> CountsArray | list[CountsArray]:
        """Counts without a Python object per outcome: ``(outcomes, counts)``, two uint64
        arrays in ascending outcome order, an outcome being the clbits as an integer
        (clbit 0 the least significant bit). For large counts this is many times faster
        than :meth:`get_counts`. Circuits with more than 64 clbits raise ``ValueError``.

        >>> import ferroq
        >>> c = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
        >>> outcomes, counts = ferroq.Simulator(seed=1).run(c, shots=100).result().get_counts_array()
        >>> outcomes.tolist(), int(counts.sum())
        ([0, 3], 100)
        """
        return self._each(experiment, lambda e: e.counts_array())

    def get_memory(self, experiment: Key = None) -> list[str] | list[list[str]]:
        """Every shot's bitstring, in shot order; needs ``memory=True``."""
        memory = self._each(experiment, _memory)  # (no return-type context: T is list[str])
        return memory

    def get_statevector(
        self, experiment: Key = None
    ) -> npt.NDArray[np.complex128] | list[npt.NDArray[np.complex128]]:
        """The final state (read-only complex128 array, shared with the result, not
        copied); needs ``statevector=True``. For circuits whose measurements are all
        terminal it is the state before them; otherwise the state after the last shot."""
        return self._each(experiment, _statevector)

    def get_probabilities(
        self, experiment: Key = None
    ) -> npt.NDArray[np.float64] | list[npt.NDArray[np.float64]]:
        """``|amplitude|^2`` of the final state; needs ``statevector=True``."""
        return self._each(experiment, lambda e: np.abs(_statevector(e)) ** 2)


def _memory(e: _core.ExperimentData) -> list[str]:
    memory = e.memory()
    if memory is None:
        raise FerroqError(f"no memory for circuit {e.name!r}: run with memory=True")
    return memory


def _statevector(e: _core.ExperimentData) -> npt.NDArray[np.complex128]:
    state = e.statevector()
    if state is None:
        raise FerroqError(f"no statevector for circuit {e.name!r}: run with statevector=True")
    return state
