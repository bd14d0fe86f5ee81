"""FerroqJob: a ``qiskit.providers.JobV1`` on ferroq's Rust job."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobError as QiskitJobError
from qiskit.providers import JobStatus as QiskitJobStatus
from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError
from qiskit.providers import JobV1
from qiskit.result import Result as QiskitResult

import ferroq
from ferroq import exceptions as fx
from ferroq._contract import timeout_seconds

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit


__all__ = [
    "FerroqJob",
    "FerroqJobCancelledError",
    "FerroqJobError",
    "FerroqJobSet",
    "FerroqJobTimeoutError",
]

# What a FerroqJob can wrap: a whole run, a job set, or one chunk of a set.
AnyJob = ferroq.Job | ferroq.JobSet | ferroq.ExecutorJob


class FerroqJobError(QiskitJobError, fx.JobError):
    """Qiskit's ``JobError`` that is also ferroq's."""


class FerroqJobTimeoutError(QiskitJobTimeoutError, fx.JobTimeoutError):
    """Qiskit's ``JobTimeoutError``, also ferroq's and a ``concurrent.futures.TimeoutError``."""


class FerroqJobCancelledError(QiskitJobError, fx.JobCancelledError):
    """Qiskit's ``JobError`` for a cancelled job, also a ``concurrent.futures.CancelledError``."""


class FerroqJob(JobV1):
    """The job of :meth:`FerroqSimulator.run`: a Qiskit ``JobV1`` whose state is the Rust job's.

    ``status()`` returns qiskit's ``JobStatus``; ``result()`` a ``qiskit.result.Result``.
    Everything else of :class:`ferroq.Job` (``progress()``, ``name()``, ``tags()``,
    ``add_done_callback``, ``exception``, ...) is available too.
    """

    def __init__(
        self,
        backend: Any,  # the FerroqSimulator that ran it (imported by none of the jobs)
        job: AnyJob,
        circuits: list[QuantumCircuit],
        to_result: Callable[[ferroq.Result], QiskitResult],
    ) -> None:
        super().__init__(backend, job.job_id())
        self._job = job
        self._qiskit_circuits = circuits
        self._to_result = to_result
        self._result: QiskitResult | None = None

    def submit(self) -> None:
        raise FerroqJobError(f"job {self.job_id()} has already been submitted")

    def status(self) -> QiskitJobStatus:
        return QiskitJobStatus[self._job.status().name]

    def cancel(self) -> bool:
        return self._job.cancel()

    def result(
        self, timeout: float | None = None, refresh: bool = False, partial: bool = False
    ) -> QiskitResult:
        """The ``qiskit.result.Result``, waiting up to ``timeout`` seconds.

        An experiment that fails does not stop the others: the job ends ``ERROR``
        and ``result()`` raises :class:`FerroqJobError` naming the failed
        experiment, while ``result(partial=True)`` returns every experiment, those
        that failed marked ``success=False`` with their own error as ``status``
        (the result's ``status`` is then ``"PARTIAL COMPLETED"``, or ``"ERROR"``
        when every experiment failed)."""
        del refresh
        timeout = timeout_seconds(timeout)  # the package's deadline policy, checked first
        if self._result is not None:
            return self._result
        try:
            if partial:
                native = self._job.result(timeout, partial=True)
            else:
                native = self._job.result(timeout)
        except fx.JobTimeoutError as err:
            raise FerroqJobTimeoutError(str(err)) from None
        except fx.JobCancelledError as err:
            raise FerroqJobCancelledError(str(err)) from None
        except Exception as err:  # the engine's error, or a dead worker's
            raise FerroqJobError(f"job {self.job_id()} failed: {err}") from err
        converted = self._to_result(native)
        if not native.missing:
            self._result = converted
        return converted

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, QiskitJobStatus, FerroqJob], object] | None = None,
    ) -> None:
        """Returns as soon as the job ends (``wait`` only paces ``callback``)."""
        relay = None if callback is None else (lambda jid, _s, _j: callback(jid, self.status(), self))
        try:
            self._job.wait_for_final_state(timeout=timeout, wait=wait, callback=relay)
        except fx.JobTimeoutError as err:
            raise FerroqJobTimeoutError(str(err)) from None

    def add_done_callback(self, fn: Callable[[FerroqJob], object]) -> None:
        """Calls ``fn(job)`` with this Qiskit job once it ends (at once if it has),
        as :meth:`ferroq.Job.add_done_callback` does for its own jobs: on ferroq's
        notifier thread, whatever ``fn`` raises logged and harming nothing."""
        self._job.add_done_callback(lambda _native: fn(self))

    def circuits(self) -> list[QuantumCircuit]:
        """The circuits as submitted."""
        return list(self._qiskit_circuits)

    def executor(self) -> Any:
        """The executor running the job (``None`` for ferroq's own scheduler)."""
        return self._job.executor()

    def __getattr__(self, name: str) -> Any:
        # The rest of ferroq.Job's surface (progress, name, tags, exception, ...).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._job, name)

    def __await__(self) -> Any:
        yield from self._job.__await__()
        return self.result()


class FerroqJobSet(FerroqJob):
    """The job of :meth:`FerroqSimulator.run` with ``executor=`` or ``max_job_size=``:
    a Qiskit ``JobV1`` over a :class:`ferroq.JobSet`.

    ``status()`` summarises the chunks as :meth:`ferroq.JobSet.status` does;
    ``result(timeout)`` applies one total timeout and returns one
    ``qiskit.result.Result`` in submission order, equal to the unsplit run's with
    the same ``seed_simulator``. ``result(partial=True)`` of a failed or cancelled
    set returns every experiment anyway, those without data marked
    ``success=False`` with their chunk's error as ``status`` (the result's own
    ``status`` is then ``"PARTIAL COMPLETED"``, or ``"ERROR"`` when no experiment
    has data, as Aer reports). ``jobs()`` gives
    one :class:`FerroqJob` per chunk.
    """

    def __init__(
        self,
        backend: Any,  # the FerroqSimulator that ran it (imported by none of the jobs)
        job: ferroq.JobSet,
        circuits: list[QuantumCircuit],
        experiments: list[QuantumCircuit],
        convert: Callable[[AnyJob, list[QuantumCircuit], ferroq.Result], QiskitResult],
    ) -> None:
        super().__init__(backend, job, circuits, functools.partial(convert, job, experiments))
        self._job_set = job
        self._experiments = experiments
        self._convert = convert

    def result(
        self, timeout: float | None = None, refresh: bool = False, partial: bool = False
    ) -> QiskitResult:
        """The merged ``qiskit.result.Result``, waiting up to ``timeout`` seconds in
        total; with ``partial=True``, what finished of a failed or cancelled set."""
        del refresh
        timeout = timeout_seconds(timeout)  # the package's deadline policy, checked first
        if self._result is not None:
            return self._result
        try:
            native = self._job_set.result(timeout, partial=partial)
        except fx.JobTimeoutError as err:
            raise FerroqJobTimeoutError(str(err)) from None
        except fx.JobCancelledError as err:
            raise FerroqJobCancelledError(str(err)) from None
        except fx.JobError as err:
            raise FerroqJobError(str(err)) from err.__cause__
        converted = self._to_result(native)
        if not native.missing:
            self._result = converted
        return converted

    def jobs(self) -> list[FerroqJob]:
        """One :class:`FerroqJob` per chunk, each with its own experiments' result."""
        out: list[FerroqJob] = []
        first = 0
        for chunk in self._job_set.jobs():
            end = first + len(chunk.circuits())
            part = self._experiments[first:end]
            out.append(FerroqJob(self.backend(), chunk, part, functools.partial(self._convert, chunk, part)))
            first = end
        return out
