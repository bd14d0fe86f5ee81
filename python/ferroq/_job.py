"""Jobs: Qiskit's JobV1 contract with concurrent.futures semantics, on a Rust job.

The state lives in Rust as one atomic that only moves forward; every wait
here blocks in Rust without the GIL, wakes the moment the job ends, honours
its timeout on a monotonic clock, and lets Ctrl-C through within 50 ms.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import enum
import logging
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ferroq import _core
from ferroq._result import Result
from ferroq.exceptions import JobCancelledError, JobError, JobTimeoutError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit
    from ferroq._jobset import JobSet
    from ferroq._simulator import Simulator

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

_log = logging.getLogger("ferroq")


class JobStatus(enum.Enum):
    """A job's state: Qiskit's members and values, in Qiskit's order."""

    INITIALIZING = "job is being initialized"
    QUEUED = "job is queued"
    VALIDATING = "job is being validated"
    RUNNING = "job is actively running"
    CANCELLED = "job has been cancelled"
    DONE = "job has successfully run"
    ERROR = "job incurred error"


#: The states a job never leaves.
JOB_FINAL_STATES = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)
# Index i is the Rust state with discriminant i.
_STATUS_BY_INDEX = list(JobStatus)

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED


class _Callbacks:
    """Runs done-callbacks on one daemon thread that sleeps in Rust until some
    job ends, so no thread is parked per job and no callback runs on a worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[Job, list[Callable[[Job], object]]]] = {}
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, job: Job, fn: Callable[[Job], object]) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread is not here
                self._pid, self._thread, self._pending = os.getpid(), None, {}
            if not job.in_final_state():
                self._pending.setdefault(id(job), (job, []))[1].append(fn)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ferroq-callbacks", daemon=True)
                    self._thread.start()
                return
        _call(fn, job)

    def _run(self) -> None:
        while True:
            seen = _core.completions()
            with self._lock:
                ready = [k for k, (job, _) in self._pending.items() if job.in_final_state()]
                fired = [self._pending.pop(k) for k in ready]
            for job, fns in fired:
                for fn in fns:
                    _call(fn, job)
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
            _core.wait_completions(seen, 1.0)


def _call(fn: Callable[[Job], object], job: Job) -> None:
    try:
        fn(job)
    except Exception:
        _log.exception("done-callback %r of job %s raised", fn, job.job_id())


_callbacks = _Callbacks()


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + max(0.0, timeout)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class StatusPredicates:
    """``done()``, ``running()``, ``cancelled()`` and ``in_final_state()`` read from
    ``status()``, shared by every job kind."""

    def status(self) -> JobStatus:
        raise NotImplementedError

    def done(self) -> bool:
        """Whether the job succeeded (``DONE``; not ``CANCELLED`` or ``ERROR``)."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        return self.status() in JOB_FINAL_STATES


class WaitedOutcome:
    """``exception(timeout)`` for jobs whose outcome is a result or a raised error:
    ``_wait_or_raise`` waits (raising on timeout), ``_outcome`` returns the result
    or raises the job's error."""

    def _wait_or_raise(self, timeout: float | None) -> None:
        raise NotImplementedError

    def _outcome(self) -> Result:
        raise NotImplementedError

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The error the job failed with, or ``None`` if it succeeded; waits like
        :meth:`result` and raises ``JobCancelledError`` for a cancelled job."""
        self._wait_or_raise(timeout)
        try:
            self._outcome()
        except JobCancelledError:
            raise
        except Exception as err:
            return err
        return None


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
        self._name = name
        self._metadata_changed()
        return name

    def tags(self) -> list[str]:
        """The tags given to :meth:`Simulator.run`."""
        return list(self._tags)

    def update_tags(self, new_tags: list[str]) -> list[str]:
        """Replaces the tags (a list of strings); returns them."""
        self._tags = check_tags(new_tags)
        self._metadata_changed()
        return list(self._tags)

    def header(self) -> dict[str, Any]:
        """The user header given to :meth:`Simulator.run`."""
        return dict(self._header)


class Job(StatusPredicates, WaitedOutcome, UserMetadata):
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
        backend: Simulator | None,
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
    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def backend(self) -> Simulator:
        """The simulator that runs the job."""
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
        return _STATUS_BY_INDEX[self._native.state()]

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
        >>> bad = ferroq.Circuit(1).save_statevector().x(0)  # a save must come last
        >>> job = ferroq.Simulator().run([good, bad, good], shots=10, seed=1)
        >>> part = job.result(partial=True)
        >>> job.status().name, job.error_message().startswith("circuit 1: ")
        ('ERROR', True)
        >>> part.get_counts(0), sorted(part.missing)
        ({'1': 10}, [1])
        """
        del refresh
        self._wait_or_raise(timeout)
        if not partial:
            return self._outcome()
        try:
            return self._outcome()
        except Exception as err:
            with self._lock:
                if self._partial is not None:
                    return self._partial
            return Result(
                self._options["seed"],
                [],
                options=self._options,
                job_id=self._job_id,
                missing=dict.fromkeys(range(len(self._circuits)), err),
            )

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, JobStatus, Job], object] | None = None,
    ) -> None:
        """Blocks until the job ends, returning the moment it does.

        While it runs, ``callback(job_id, status, job)`` is called every ``wait``
        seconds (``wait`` only paces the callback). Raises
        :class:`~ferroq.exceptions.JobTimeoutError` ("Timeout while waiting for
        job <id>.") once ``timeout`` seconds have passed.
        """
        deadline = _deadline(timeout)
        while True:
            status = self.status()
            if status in JOB_FINAL_STATES:
                return
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                raise JobTimeoutError(f"Timeout while waiting for job {self._job_id}.")
            pause: float | None = remaining
            if callback is not None:
                callback(self._job_id, status, self)
                pause = wait if remaining is None else min(wait, remaining)
            self._wait(pause)

    # -------------------------------------------------------------- futures
    def add_done_callback(self, fn: Callable[[Job], object]) -> None:
        """Calls ``fn(job)`` once when the job ends (at once if it already has),
        from a ferroq thread; exceptions it raises are logged, not propagated."""
        _callbacks.add(self, fn)

    def __await__(self) -> Generator[Any, None, Result]:
        """``await job`` waits without blocking the event loop, then returns the result."""
        if not self.in_final_state():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def wake(_: Job) -> None:
                def settle() -> None:
                    if not future.done():
                        future.set_result(None)

                try:
                    loop.call_soon_threadsafe(settle)
                except RuntimeError:  # the loop closed meanwhile
                    pass

            self.add_done_callback(wake)
            yield from future.__await__()
        return self.result()

    # ------------------------------------------------------------ internals
    def _wait(self, timeout: float | None) -> bool:
        if self._native is None:
            return True
        return self._native.wait(timeout)

    def _wait_or_raise(self, timeout: float | None) -> None:
        if not self._async:
            if timeout is not None:
                warnings.warn(
                    "the job ran synchronously (blocking=True): the timeout is ignored",
                    UserWarning,
                    stacklevel=3,
                )
            return
        if not self._wait(timeout):
            raise JobTimeoutError(f"Timeout while waiting for job {self._job_id}.")

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
                self._result = Result(seed, experiments, options=self._options, job_id=self._job_id)
                return self._result
            if self._partial is None:
                partial = self._native.take_partial()
                if partial is not None:
                    seed, experiments, failed = partial
                    self._partial = Result(
                        seed, experiments, options=self._options, job_id=self._job_id, missing=dict(failed)
                    )
            error = self._native.error()
        if isinstance(error, JobCancelledError):
            raise JobCancelledError(f"job {self._job_id} was cancelled")
        assert error is not None, "a final job without a result has an error"
        raise error

    # ------------------------------------------------- AerJob / IBM extras
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
        if self._native is not None:
            raw = {_STATUS_BY_INDEX[i].name: t for i, t in self._native.time_per_step()}
        else:
            raw = self._frozen_steps
        return {name: datetime.datetime.fromtimestamp(t).astimezone() for name, t in raw.items()}

    def queue_position(self, refresh: bool = False) -> int | None:
        """0-based place in the queue while ``QUEUED``, else ``None``."""
        del refresh
        return None if self._native is None else self._native.queue_position()

    def queue_info(self) -> QueueInfo:
        """The job's place in the queue and the scheduler's load."""
        queued, workers, max_workers = _core.queue_info()
        return QueueInfo(self._job_id, self.status(), self.queue_position(), queued, workers, max_workers)

    def error_message(self) -> str | None:
        """Why the job failed, when it is ``ERROR``; else ``None``."""
        if self.status() is not JobStatus.ERROR:
            return None
        err = self._frozen_error if self._native is None else self._native.error()
        return str(err)

    def progress(self) -> float:
        """Fraction of the work done, from 0 to 1."""
        return self._frozen_progress if self._native is None else self._native.progress()

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
        steps = (
            {_STATUS_BY_INDEX[i].name: t for i, t in self._native.time_per_step()}
            if self._native is not None
            else self._frozen_steps
        )
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


def check_header(header: Any) -> dict[str, Any]:
    """A copy of ``header`` if it is a mapping with string keys; else ``TypeError``."""
    if not isinstance(header, dict) or not all(isinstance(k, str) for k in header):
        raise TypeError(f"header must be a dict with str keys, got {header!r}")
    return dict(header)


class DoneAndNotDone(NamedTuple):
    """What :func:`wait` returns, as ``concurrent.futures.wait`` does."""

    done: set[Job | JobSet]
    not_done: set[Job | JobSet]


# Job sets on an executor end outside ferroq's engine, which wakes the waits below
# only for its own jobs: with any of them, the waits look again this often.
_SET_POLL = 0.05


def _pause(jobs: Iterable[Job | JobSet], remaining: float | None) -> float | None:
    if all(isinstance(j, Job) for j in jobs):
        return remaining
    return _SET_POLL if remaining is None else min(_SET_POLL, remaining)


def wait(
    jobs: Iterable[Job | JobSet], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Waits for jobs (or job sets) as ``concurrent.futures.wait`` does: until all
    end (``ALL_COMPLETED``), any ends (``FIRST_COMPLETED``) or any fails
    (``FIRST_EXCEPTION``), or ``timeout`` seconds pass; never raises on timeout."""
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(f"unknown return_when {return_when!r}")
    pending = set(jobs)
    deadline = _deadline(timeout)
    done: set[Job | JobSet] = set()
    while True:
        seen = _core.completions()
        newly = {j for j in pending if j.in_final_state()}
        done |= newly
        pending -= newly
        if not pending:
            break
        if return_when == FIRST_COMPLETED and done:
            break
        if return_when == FIRST_EXCEPTION and any(j.status() is JobStatus.ERROR for j in done):
            break
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            break
        _core.wait_completions(seen, _pause(pending, remaining))
    return DoneAndNotDone(done, pending)


J = TypeVar("J", bound="Job | JobSet")


def as_completed(jobs: Iterable[J], timeout: float | None = None) -> Iterator[J]:
    """Yields jobs (or job sets) as they end (finished ones first), as
    ``concurrent.futures.as_completed`` does; raises
    :class:`~ferroq.exceptions.JobTimeoutError` if some are unfinished after
    ``timeout`` seconds from the call."""
    pending = list(dict.fromkeys(jobs))
    total = len(pending)
    deadline = _deadline(timeout)
    while pending:
        seen = _core.completions()
        finished = [j for j in pending if j.in_final_state()]
        if finished:
            for j in finished:
                pending.remove(j)
                yield j
            continue
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            raise JobTimeoutError(f"{len(pending)} (of {total}) jobs unfinished after {timeout} s")
        _core.wait_completions(seen, _pause(pending, remaining))
