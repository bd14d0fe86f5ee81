"""Jobs: Qiskit's JobV1 contract with concurrent.futures semantics, on a Rust job.

The state lives in Rust as one atomic that only moves forward; every wait
here blocks in Rust without the GIL, wakes the moment the job ends, honours
its timeout on a monotonic clock, and lets Ctrl-C through within 50 ms.
"""

from __future__ import annotations

import threading
import uuid
from typing import TYPE_CHECKING, Any

from ferroq import _core
from ferroq._contract import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    JOB_FINAL_STATES,
    STATUS_BY_INDEX,
    Backend,
    DoneAndNotDone,
    JobStatus,
    as_completed,
    settled_handle,
    wait,
)
from ferroq._record import JobRecord, QueueInfo, check_header, check_tags
from ferroq._result import Result
from ferroq.exceptions import JobCancelledError, JobError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "JOB_FINAL_STATES",
    "DoneAndNotDone",
    "Job",
    "JobStatus",
    "as_completed",
    "wait",
]


class Job(JobRecord):
    """A simulation job, returned at once by :meth:`Simulator.run`.

    It honours Qiskit's ``JobV1`` (``status``, ``result``, ``cancel``,
    ``wait_for_final_state``, ...) and behaves as a ``concurrent.futures.Future``
    (``result(timeout)``, ``exception``, ``add_done_callback``, ``await job``).

    >>> import ferroq
    >>> job = ferroq.Simulator().run(ferroq.Circuit(1, 1).x(0).measure(0, 0), shots=5, name="flip")
    >>> job.result(timeout=10).get_counts()
    {'1': 5}
    >>> job.status(), job.done(), job.name()
    (<JobStatus.DONE: 'job has successfully run'>, True, 'flip')
    """

    version = 1
    _async = True
    # What did succeed of a job that failed in some of its circuits (set once
    # taken from the engine; a class default for subclasses that build their
    # own state, such as the store's jobs).
    _partial: Result | None = None

    def __init__(
        self,
        backend: Backend | None,
        native: _core.Job,
        circuits: list[Circuit],
        options: dict[str, Any],
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        header: dict[str, Any] | None = None,
    ) -> None:
        self._backend = backend
        self._job_id = str(uuid.uuid4())
        self._native: _core.Job | None = native
        self._circuits = circuits
        self._options = dict(options, seed=native.seed) if options.get("seed") is None else dict(options)
        self._name = name
        self._tags = check_tags(tags or [])
        self._header = check_header(header or {})
        self.metadata: dict[str, Any] = {"seed": native.seed, "shots": options.get("shots")}
        self._lock = threading.Lock()
        self._result: Result | None = None
        self._partial = None
        self._submitted = True
        # Filled only in a job restored from a pickle, which has no native job.
        self._frozen_status: JobStatus | None = None
        self._frozen_error: BaseException | None = None
        self._frozen_steps: dict[str, float] = {}
        self._frozen_progress = 1.0

    # ---------------------------------------------------------------- JobV1
    def backend(self) -> Any:
        """The simulator that runs the job (a :class:`ferroq.Simulator`)."""
        if self._backend is None:
            raise JobError(f"job {self._job_id} has no backend (it was restored from a pickle)")
        return self._backend

    def submit(self) -> None:
        """Jobs from :meth:`Simulator.run` are already submitted: this always raises."""
        raise JobError(f"job {self._job_id} has already been submitted")

    def status(self) -> JobStatus:
        """The current state."""
        if self._native is None:
            assert self._frozen_status is not None
            return self._frozen_status
        return STATUS_BY_INDEX[self._native.state()]

    def cancel(self) -> bool:
        """Cancels the job, queued or running (a running simulation stops at its next
        gate, shot or circuit). Returns whether the job ended ``CANCELLED`` by this call."""
        return self._native is not None and self._native.cancel()

    def result(self, timeout: float | None = None, refresh: bool = False, *, partial: bool = False) -> Result:
        """The result, waiting up to ``timeout`` seconds (forever for ``None``).

        Raises :class:`~ferroq.exceptions.JobTimeoutError` (also a
        ``concurrent.futures.TimeoutError``) on timeout, leaving the job running;
        :class:`~ferroq.exceptions.JobCancelledError` (also a
        ``concurrent.futures.CancelledError``) if the job was cancelled; and the
        engine's own error, with its message, if the simulation failed.

        A circuit that fails does not stop the others in its batch: the job ends
        ``ERROR`` with the first failing circuit's error (its message names the
        circuit), and ``result(partial=True)`` returns what did run, every circuit
        at its index, with :attr:`Result.missing` mapping each failed circuit to its
        own error. On a cancelled job, or one that failed before running, every
        circuit is missing. ``refresh`` is accepted for IBMCircuitJob compatibility
        (a local job is always current).

        >>> import ferroq
        >>> good = ferroq.Circuit(1, 1).x(0).measure(0, 0)
        >>> bad = ferroq.Circuit(1, 1).h(0).measure(0, 0).save_statevector()  # differs shot to shot
        >>> job = ferroq.Simulator().run([good, bad, good], shots=10, seed=1)
        >>> part = job.result(partial=True)
        >>> job.status().name, job.error_message().startswith("circuit 1: ")
        ('ERROR', True)
        >>> part.get_counts(0), sorted(part.missing)
        ({'1': 10}, [1])
        """
        del refresh
        return self._result_of(timeout, partial)

    def _what_ran(self) -> Result | None:
        with self._lock:
            return self._partial

    # ------------------------------------------------------------ internals
    def _wait(self, timeout: float | None) -> bool:
        if self._native is None:
            return True
        return self._native.wait(timeout)

    def _state_handle(self) -> _core.Job | _core.ExternalJob:
        """The Rust job holding this job's state (a settled one once restored from
        a pickle, which has no engine job)."""
        if self._native is not None:
            return self._native
        status = self.status()
        return settled_handle(status, "" if self._frozen_error is None else str(self._frozen_error))

    def _outcome(self) -> Result:
        with self._lock:
            if self._result is not None:
                return self._result
            if self._native is None:
                assert self._frozen_error is not None
                raise self._frozen_error
            taken = self._native.take_result()
            if taken is not None:
                seed, experiments = taken
                self._result = Result(
                    seed, experiments, options=self._options, job_id=self._job_id, circuits=self._circuits
                )
                return self._result
            if self._partial is None:
                partial = self._native.take_partial()
                if partial is not None:
                    seed, experiments, failed = partial
                    self._partial = Result(
                        seed,
                        experiments,
                        options=self._options,
                        job_id=self._job_id,
                        missing=dict(failed),
                        circuits=self._circuits,
                    )
            error = self._native.error()
        if isinstance(error, JobCancelledError):
            raise JobCancelledError(f"job {self._job_id} was cancelled")
        assert error is not None, "a final job without a result has an error"
        raise error

    # ------------------------------------------------- AerJob / IBM extras
    def _raw_steps(self) -> dict[str, float]:
        if self._native is not None:
            return {STATUS_BY_INDEX[i].name: t for i, t in self._native.time_per_step()}
        return self._frozen_steps

    def _error_now(self) -> BaseException | None:
        return self._frozen_error if self._native is None else self._native.error()

    def queue_position(self, refresh: bool = False) -> int | None:
        """0-based place in the queue while ``QUEUED``, else ``None``."""
        del refresh
        return None if self._native is None else self._native.queue_position()

    def queue_info(self) -> QueueInfo:
        """The job's place in the queue and the scheduler's load."""
        queued, workers, max_workers = _core.queue_info()
        return QueueInfo(self._job_id, self.status(), self.queue_position(), queued, workers, max_workers)

    def progress(self) -> float:
        """Fraction of the work done, from 0 to 1."""
        return self._frozen_progress if self._native is None else self._native.progress()

    # -------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        status = self.status()
        if status not in JOB_FINAL_STATES:
            raise JobError(
                f"cannot pickle job {self._job_id} while it is {status.name}: wait for it to end first"
            )
        error: BaseException | None = None
        try:
            self._outcome()
        except Exception as err:
            error = err
        steps = self._raw_steps()
        return {
            "job_id": self._job_id,
            "status": status,
            "name": self._name,
            "tags": self._tags,
            "header": self._header,
            "options": self._options,
            "metadata": self.metadata,
            "result": self._result,
            "partial": self._partial,
            "error": error,
            "steps": steps,
            "progress": self.progress(),
            "circuits": self._circuits,
            "async": self._async,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._backend = None
        self._native = None
        self._job_id = state["job_id"]
        self._frozen_status = state["status"]
        self._name = state["name"]
        self._tags = state["tags"]
        self._header = state["header"]
        self._options = state["options"]
        self.metadata = state["metadata"]
        self._result = state["result"]
        self._partial = state.get("partial")
        self._frozen_error = state["error"]
        self._frozen_steps = state["steps"]
        self._frozen_progress = state["progress"]
        self._circuits = state["circuits"]
        self._async = state.get("async", True)
        self._lock = threading.Lock()
        self._submitted = True

    def __repr__(self) -> str:
        return f"<ferroq.Job {self._job_id} {self.status().name}>"
