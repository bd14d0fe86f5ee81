"""Results of a run, looked up by circuit index, name or the circuit itself, as in Qiskit."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ferroq import _core
from ferroq._circuit import Circuit
from ferroq.exceptions import FerroqError

__all__ = ["ExperimentResult", "Result"]

ExperimentResult = _core.ExperimentData
"""Per-circuit data: ``name``, ``shots``, ``seed``, ``time_taken`` (seconds),
``num_qubits``, ``num_clbits``."""

T = TypeVar("T")

# (outcomes, counts) of one circuit, both uint64.
CountsArray = tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]
# An index, a circuit name, one of the result's circuits, or None.
Key = Any


class Result:
    """The outcome of a job (:meth:`Job.result`): one entry per circuit, in submission order.

    Look-ups take an index, a circuit name, or the circuit itself; with no
    argument they return the only circuit's data, or a list over all circuits.
    A circuit is found by identity among the run's circuits (where the result
    keeps them; else by its name), never mistaken for another circuit of the
    same name; a name shared by several circuits of the run is refused (look
    those up by index), and so is a circuit submitted more than once.

    >>> import ferroq
    >>> c = ferroq.Circuit(2, 2, name="bell").h(0).cx(0, 1).measure([0, 1], [0, 1])
    >>> ghz = ferroq.Circuit(3, 3, name="ghz").h(0).cx(0, 1).cx(1, 2).measure([0, 1, 2], [0, 1, 2])
    >>> result = ferroq.Simulator().run([c, ghz], shots=8, seed=1, memory=True).result()
    >>> len(result), sorted(result.get_counts(0))
    (2, ['00', '11'])
    >>> len(result.get_memory("bell")), sorted(result.get_counts("ghz"))
    (8, ['000', '111'])

    A partial result (``JobSet.result(partial=True)`` of a set with failed or
    cancelled chunks) keeps every circuit at its index; :attr:`missing` maps the
    index of each circuit without a result to the error of its chunk, and looking
    such a circuit up raises :class:`~ferroq.exceptions.FerroqError` naming that error.
    """

    #: The run's circuits, for look-ups by identity (``None``: not kept, as in
    #: results pickled before they were).
    _circuits: list[Any] | None = None

    def __init__(
        self,
        seed: int,
        experiments: Sequence[_core.ExperimentData],
        options: dict[str, Any],
        job_id: str | None = None,
        *,
        missing: Mapping[int, BaseException] | None = None,
        circuits: Sequence[Any] | None = None,
    ):
        self._seed = seed
        self._missing = dict(missing or {})
        present = iter(experiments)
        total = len(experiments) + len(self._missing)
        # One slot per circuit of the run, None where a partial result has no data.
        self._slots = [None if i in self._missing else next(present) for i in range(total)]
        self._experiments = list(experiments)
        self._options = dict(options)
        self.job_id = job_id
        # The run's circuits (references, for look-ups by identity), where the job gave them.
        if circuits is not None:
            if len(circuits) != total:
                raise ValueError(f"{len(circuits)} circuits for a result of {total} circuits")
            self._circuits = list(circuits)

    @property
    def seed(self) -> int:
        """The run seed (drawn at random when the run did not set one)."""
        return self._seed

    @property
    def results(self) -> list[_core.ExperimentData]:
        """Per-circuit data, in submission order. A partial result raises
        :class:`~ferroq.exceptions.FerroqError` here (list positions would not be
        circuit indices): look its circuits up by index and see :attr:`missing`."""
        if self._missing:
            raise FerroqError(
                f"this result is partial: {len(self._missing)} of {len(self)} circuits have no result "
                "(see Result.missing); look circuits up by index instead"
            )
        return list(self._experiments)

    @property
    def missing(self) -> dict[int, BaseException]:
        """Index -> error for every circuit without a result (empty unless partial)."""
        return dict(self._missing)

    @property
    def options(self) -> dict[str, Any]:
        """The options the run used."""
        return dict(self._options)

    @property
    def time_taken(self) -> float:
        """Sum of the circuits' simulation times, in seconds."""
        return sum(e.time_taken for e in self._experiments)

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        partial = f", {len(self._missing)} missing" if self._missing else ""
        return f"Result({len(self)} circuits, seed={self._seed}{partial})"

    def _index(self, key: Key) -> int:
        """The index of the circuit ``key`` names: an index (negative from the end),
        a circuit name (that one circuit of the run has), or one of the run's
        circuits (by identity where the result keeps them, else by its name)."""
        count = len(self._slots)
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            i = int(key)
            if not -count <= i < count:
                raise FerroqError(f"no result {i}: the run had {count} circuit{'s' if count != 1 else ''}")
            return i % count
        if isinstance(key, str):
            return self._by_name(key)
        if isinstance(key, Circuit):
            return self._by_circuit(key)
        if isinstance(key, _core.ExperimentData):
            found = [i for i, e in enumerate(self._slots) if e is key]
            if found:
                return found[0]
            raise FerroqError(f"the experiment data {_shown(key)} is not one of this result's")
        name = getattr(key, "name", None)
        if isinstance(name, str):  # a circuit of another library: by its name
            return self._by_name(name)
        raise FerroqError(
            f"cannot look a result up by {_shown(key)} (a {type(key).__name__}): "
            "use an index, a circuit name or one of the run's circuits"
        )

    def _names(self) -> list[str | None]:
        """Each circuit's name as the run saw it (``None`` where unknown or unnamed)."""
        names: list[str | None] = []
        for i, e in enumerate(self._slots):
            if e is not None:
                names.append(e.name)
            elif self._circuits is not None:
                names.append(getattr(self._circuits[i], "name", None))
            else:
                names.append(None)
        return names

    def _by_name(self, name: str) -> int:
        names = self._names()
        matches = [i for i, n in enumerate(names) if n == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise FerroqError(
                f"{len(matches)} circuits of the run are named {name!r} (indices {_listed(matches)}): "
                "look them up by index"
            )
        known = sorted({n for n in names if n is not None})
        partial = " among the circuits that have a result" if self._missing and self._circuits is None else ""
        have = f"; the names are {_listed([repr(n) for n in known])}" if known else "; no circuit has a name"
        raise FerroqError(f"no result for a circuit named {name!r}{partial}{have}")

    def _by_circuit(self, circuit: Circuit) -> int:
        if self._circuits is None:
            # A result rebuilt without its circuits: the name is all there is to go by.
            if circuit.name is None:
                raise FerroqError(
                    f"cannot look up the unnamed circuit {_shown(circuit)}: this result does not keep "
                    "its circuits, so it knows them by name only; look it up by index"
                )
            return self._by_name(circuit.name)
        matches = [i for i, c in enumerate(self._circuits) if c is circuit]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise FerroqError(
                f"the circuit {_shown(circuit)} was submitted {len(matches)} times "
                f"(indices {_listed(matches)}): look it up by index"
            )
        equal = [i for i, c in enumerate(self._circuits) if isinstance(c, Circuit) and c == circuit]
        hint = f" (an equal circuit is at index {_listed(equal)}: look it up by index)" if equal else ""
        raise FerroqError(f"the circuit {_shown(circuit)} is not one of the run's circuits{hint}")

    def _experiment(self, index: int) -> _core.ExperimentData:
        experiment = self._slots[index]
        if experiment is None:
            error = self._missing[index]
            raise FerroqError(f"circuit {index} has no result: {type(error).__name__}: {error}") from error
        return experiment

    def _each(self, key: Key, fn: Callable[[_core.ExperimentData], T]) -> T | list[T]:
        """``fn`` of the selected circuit, or a list over all circuits when ``key``
        is ``None`` and the run had several."""
        if key is None and len(self._slots) != 1:
            return [fn(self._experiment(i)) for i in range(len(self._slots))]
        return fn(self._experiment(0 if key is None else self._index(key)))

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
        """Every shot's bitstring, in shot order; needs ``memory=True``. A circuit
        without classical bits has no outcomes to record: ``[]`` (as its counts
        are ``{}``)."""
        memory = self._each(experiment, self._memory)  # (no return-type context: T is list[str])
        return memory

    def _memory(self, e: _core.ExperimentData) -> list[str]:
        memory = e.memory()
        if memory is not None:
            return memory
        asked = bool(self._options.get("memory"))
        if e.num_clbits == 0 and asked:
            return []
        if e.num_clbits == 0:
            raise FerroqError(
                f"no memory for circuit {e.name!r}: run with memory=True "
                "(it has no classical bits, so its memory will be empty)"
            )
        if asked:
            raise FerroqError(f"no memory for circuit {e.name!r}: its result does not hold the shots")
        raise FerroqError(f"no memory for circuit {e.name!r}: run with memory=True")

    def get_statevector(
        self, experiment: Key = None
    ) -> npt.NDArray[np.complexfloating[Any, Any]] | list[npt.NDArray[np.complexfloating[Any, Any]]]:
        """The final state: a read-only array shared with the result, not copied
        (complex128, or complex64 when run with ``precision="single"``); needs
        ``statevector=True``. For circuits whose measurements are all terminal it is
        the state before them; otherwise the state after the last shot."""
        return self._each(experiment, _statevector)

    def get_probabilities(
        self, experiment: Key = None
    ) -> npt.NDArray[np.float64] | list[npt.NDArray[np.float64]]:
        """``|amplitude|^2`` of the final state; needs ``statevector=True``."""
        return self._each(experiment, lambda e: np.abs(_statevector(e)) ** 2)

    def plot_histogram(self, experiment: Key | list[Key] = None, **options: Any) -> Any:
        """A bar chart of the counts of one circuit, or of several side by side (a
        list of keys; ``None``: every circuit), as a matplotlib ``Figure``
        (``pip install "ferroq[plot]"``). Options go to
        :func:`ferroq._plot.plot_histogram`: ``title``, ``legend``, ``sort``,
        ``max_outcomes``, ``normalize``, ``bar_labels``, ``ax``, ``figsize``,
        ``filename`` (saves the figure too). Circuit names label the bars.
        """
        from ferroq._plot import plot_histogram

        if isinstance(experiment, list):
            indices = [self._index(k) for k in experiment]
        elif experiment is None:
            indices = list(range(len(self._slots)))
        else:
            indices = [self._index(experiment)]
        if not indices:
            raise FerroqError("plot_histogram needs at least one experiment")
        counts = [self._experiment(i).counts() for i in indices]
        names = [self._experiment(i).name or f"circuit {i}" for i in indices]
        if len(counts) == 1:
            options.setdefault("title", names[0])
            return plot_histogram(counts[0], **options)
        options.setdefault("legend", names)
        return plot_histogram(counts, **options)

    def plot_probabilities(self, experiment: Key = None, **options: Any) -> Any:
        """A bar chart of the exact outcome probabilities ``|amplitude|^2`` of one
        circuit run with ``statevector=True``, as a matplotlib ``Figure``. Options go
        to :func:`ferroq._plot.plot_probabilities`: ``threshold``, ``max_outcomes``,
        ``sort``, ``title``, ``ax``, ``figsize``, ``filename``.
        """
        from ferroq._plot import plot_probabilities

        if experiment is None and len(self._slots) != 1:
            raise FerroqError(f"the run had {len(self._slots)} circuits: say which one to plot")
        e = self._experiment(0 if experiment is None else self._index(experiment))
        options.setdefault("title", e.name)
        return plot_probabilities(np.abs(_statevector(e)) ** 2, **options)


def _shown(value: Any) -> str:
    """``repr(value)``, shortened for a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _listed(items: Sequence[Any]) -> str:
    """Up to ten items, comma-separated."""
    shown = ", ".join(str(i) for i in items[:10])
    return shown + (f", ... ({len(items)} in all)" if len(items) > 10 else "")


def _statevector(e: _core.ExperimentData) -> npt.NDArray[np.complexfloating[Any, Any]]:
    state = e.statevector()
    if state is None:
        raise FerroqError(f"no statevector for circuit {e.name!r}: run with statevector=True")
    return state
