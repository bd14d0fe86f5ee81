"""What every job of ferroq records about itself, and the accessors over it:
the user's name, tags and header, the run options, circuits, metadata, the time
of each state, the error, and the IBMCircuitJob / AerJob extras. A running
:class:`ferroq.Job` and a :class:`ferroq.StoredJob` read back from a store are
both a :class:`JobRecord`; neither is built from the other.

This module sits beside the job contract: it imports only the contract, the
Rust core and the exceptions.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from ferroq import _core
from ferroq._contract import FutureSurface, JobStatus
from ferroq.exceptions import JobError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit

__all__ = ["JobRecord", "QueueInfo", "UserMetadata", "check_header", "check_name", "check_tags"]


class UserMetadata:
    """The name, tags and header a user gives :meth:`Simulator.run`, shared by
    :class:`Job` and :class:`~ferroq.JobSet`."""

    _name: str | None
    _tags: list[str]
    _header: dict[str, Any]
    #: Called after a rename or retag (the job store persists them through it).
    _on_metadata_change: Callable[[Any], None] | None = None

    def _metadata_changed(self) -> None:
        if self._on_metadata_change is not None:
            self._on_metadata_change(self)

    def name(self) -> str | None:
        """The name given to :meth:`Simulator.run`."""
        return self._name

    def update_name(self, name: str) -> str:
        """Renames the job; returns the new name."""
        if not isinstance(name, str):
            raise JobError(f"a job name must be a str, not {type(name).__name__}")
        # All or nothing: a store that refuses the new name leaves the old one.
        old, self._name = self._name, name
        try:
            self._metadata_changed()
        except BaseException:
            self._name = old
            raise
        return name

    def tags(self) -> list[str]:
        """The tags given to :meth:`Simulator.run`."""
        return list(self._tags)

    def update_tags(self, new_tags: list[str]) -> list[str]:
        """Replaces the tags (a list of strings); returns them."""
        old, self._tags = self._tags, check_tags(new_tags)
        try:
            self._metadata_changed()
        except BaseException:
            self._tags = old
            raise
        return list(self._tags)

    def header(self) -> dict[str, Any]:
        """The user header given to :meth:`Simulator.run`."""
        return dict(self._header)


class JobRecord(FutureSurface, UserMetadata):
    """The accessors of a job's record. A kind provides ``_job_id``,
    ``_options``, ``_circuits``, ``metadata``, ``status()``, ``_raw_steps()``
    (state name -> seconds since the epoch), ``_error_now()`` and ``progress()``,
    plus the futures surface's ``_wait`` and ``_outcome``."""

    _job_id: str
    _options: dict[str, Any]
    _circuits: list[Any]
    metadata: dict[str, Any]

    def _raw_steps(self) -> dict[str, float]:
        raise NotImplementedError

    def _error_now(self) -> BaseException | None:
        raise NotImplementedError

    def progress(self) -> float:
        raise NotImplementedError

    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def executor(self) -> None:
        """The executor running the job: ferroq's own scheduler (``None``)."""
        return None

    def circuits(self) -> list[Circuit]:
        """The circuits of the job, in submission order."""
        return list(self._circuits)

    def backend_options(self) -> dict[str, Any]:
        """The run options in force for this job (seed included, drawn if unset)."""
        return dict(self._options)

    def creation_date(self) -> datetime.datetime:
        """When the job was created, as a timezone-aware local datetime."""
        return self._steps()[JobStatus.INITIALIZING.name]

    def time_per_step(self) -> dict[str, datetime.datetime]:
        """Each state reached, by name, with the (timezone-aware) time it was reached."""
        return self._steps()

    def _steps(self) -> dict[str, datetime.datetime]:
        return {
            name: datetime.datetime.fromtimestamp(t).astimezone() for name, t in self._raw_steps().items()
        }

    def queue_position(self, refresh: bool = False) -> int | None:
        """0-based place in ferroq's queue while ``QUEUED`` here, else ``None``."""
        del refresh
        return None

    def error_message(self) -> str | None:
        """Why the job failed, when it is ``ERROR``; else ``None``."""
        if self.status() is not JobStatus.ERROR:
            return None
        return str(self._error_now())

    def refresh(self) -> None:
        """A local job is always current: nothing to fetch."""

    def properties(self) -> None:
        """Device properties: a simulator has none."""
        return None

    def scheduling_mode(self) -> str:
        """Jobs run first in, first out."""
        return "fifo"

    @property
    def usage_estimation(self) -> dict[str, Any]:
        """What the job asks of the simulator: circuits, shots, widest state."""
        widest = max((c.num_qubits for c in self._circuits), default=0)
        return {
            "circuits": len(self._circuits),
            "shots": self._options.get("shots"),
            "max_qubits": widest,
            "statevector_bytes": (8 if self._options.get("precision") == "single" else 16) * 2**widest,
        }

    @property
    def client_version(self) -> dict[str, str]:
        return {"ferroq": _core.__version__}


class QueueInfo(NamedTuple):
    """Where a job stands in ferroq's queue."""

    job_id: str
    status: JobStatus
    position: int | None
    queued_jobs: int
    workers: int
    max_workers: int


def check_tags(tags: Any) -> list[str]:
    """A copy of ``tags`` if it is a list of strings; else :class:`JobError`."""
    if not isinstance(tags, (list, tuple)) or not all(isinstance(t, str) for t in tags):
        raise JobError(f"tags must be a list of strings, got {tags!r}")
    return list(tags)


def check_name(name: Any) -> str | None:
    """``name`` if it is ``None`` or a string UTF-8 can hold; else ``TypeError``."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise TypeError(f"a job name must be a str or None, not {type(name).__name__}: {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as err:
        raise TypeError(f"a job name must be Unicode text, got {name!r} ({err.reason})") from None
    return name


def check_header(header: Any) -> dict[str, Any]:
    """A copy of ``header`` if it is a mapping with string keys; else ``TypeError``."""
    if not isinstance(header, dict) or not all(isinstance(k, str) for k in header):
        raise TypeError(f"header must be a dict with str keys, got {header!r}")
    return dict(header)
