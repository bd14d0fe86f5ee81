"""The job contract, written once: statuses, the deadline policy, waits,
done-callbacks and ``await`` for every job kind.

Every job of the package (:class:`ferroq.Job`, executor chunks,
:class:`ferroq.JobSet`, stored jobs and the Qiskit jobs) gets its futures
surface from :class:`FutureSurface` and is waited on by :func:`wait` and
:func:`as_completed`. The state of each job lives in the Rust core, whose jobs
all notify one process-wide signal when they end: the waits here and the one
:class:`Notifier` thread sleep on that signal, so nothing polls.

The deadline policy, for every ``timeout`` argument of the package:

- ``None``, ``math.inf`` or more than :data:`FOREVER` seconds: no limit;
- a number ``<= 0``: look once, never block (a final job still returns);
- NaN, or anything not a real number (``bool`` and ``str`` included): an error,
  ``ValueError`` for NaN and ``TypeError`` otherwise, raised before waiting.

This module imports only the Rust core, the result type and the exceptions.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import math
import numbers
import os
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from ferroq import _core
from ferroq._result import Result
from ferroq.exceptions import JobCancelledError, JobTimeoutError

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "FOREVER",
    "JOB_FINAL_STATES",
    "DoneAndNotDone",
    "FutureSurface",
    "JobLike",
    "JobStatus",
    "as_completed",
    "call_safely",
    "notifier",
    "settle",
    "settled_handle",
    "timeout_seconds",
    "wait",
]

_log = logging.getLogger("ferroq")


class JobStatus(enum.Enum):
    """A job's state, with the names and values of ``qiskit.providers.JobStatus``
    (the Qiskit adapter maps them one to one)."""

    INITIALIZING = "job is being initialized"
    QUEUED = "job is queued"
    VALIDATING = "job is being validated"
    RUNNING = "job is actively running"
    CANCELLED = "job has been cancelled"
    DONE = "job has successfully run"
    ERROR = "job incurred error"


JOB_FINAL_STATES = (JobStatus.DONE, JobStatus.CANCELLED, JobStatus.ERROR)
#: Index i is the Rust state with discriminant i.
STATUS_BY_INDEX = list(JobStatus)

FIRST_COMPLETED = concurrent.futures.FIRST_COMPLETED
FIRST_EXCEPTION = concurrent.futures.FIRST_EXCEPTION
ALL_COMPLETED = concurrent.futures.ALL_COMPLETED

#: Timeouts above this many seconds (about 31 years) mean "no limit".
FOREVER = 1e9


def settled_handle(status: JobStatus, message: str = "") -> _core.ExternalJob:
    """A Rust job already in the final ``status``: the state of a job restored from
    a pickle or a store, so that it joins groups and waits like any other."""
    handle = _core.ExternalJob()
    settle(handle, status, message)
    return handle


def settle(handle: _core.ExternalJob, status: JobStatus, message: str = "") -> None:
    """Ends ``handle`` in the final ``status`` (once; later calls change nothing),
    waking every wait of the process on it."""
    if status is JobStatus.DONE:
        handle.finish()
    elif status is JobStatus.ERROR:
        handle.fail(message)
    else:
        handle.cancel()


# ---------------------------------------------------------------------------
# The deadline policy
# ---------------------------------------------------------------------------


def timeout_seconds(timeout: Any, name: str = "timeout") -> float | None:
    """``timeout`` under the package's deadline policy (see the module docstring):
    ``None`` for no limit, else a number of seconds ``>= 0``."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real):
        raise TypeError(
            f"{name} must be a number of seconds or None, got {type(timeout).__name__} {timeout!r}"
        )
    seconds = float(timeout)
    if math.isnan(seconds):
        raise ValueError(f"{name} must be a number of seconds or None, not NaN")
    if seconds > FOREVER:
        return None
    return max(0.0, seconds)


class Deadline:
    """A point in time ``timeout`` seconds from now (policy applied), on the monotonic clock."""

    __slots__ = ("_end", "timeout")

    def __init__(self, timeout: Any, name: str = "timeout") -> None:
        self.timeout = timeout_seconds(timeout, name)
        self._end = None if self.timeout is None else time.monotonic() + self.timeout

    def remaining(self) -> float | None:
        """Seconds left (``>= 0``), or ``None`` without a limit."""
        return None if self._end is None else max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self._end is not None and time.monotonic() >= self._end


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------


def call_safely(fn: Callable[..., object], *args: Any, what: str) -> None:
    """Calls a user callback; whatever it raises (``SystemExit``,
    ``KeyboardInterrupt`` and ``GeneratorExit`` included) is logged with its
    traceback and goes no further, so that it cannot harm the thread that called
    it, other callbacks or other jobs."""
    try:
        fn(*args)
    except BaseException:  # a callback's failure is its own
        _log.exception("%s %r raised", what, fn)


class Notifier:
    """The one thread that runs done-callbacks, for every job kind.

    It sleeps on the core's "a job ended" signal, and on each wake-up calls the
    callbacks of the jobs that have reached a final state, one after another,
    in the order they were added; none runs on an engine worker or an
    executor's thread. A callback that raises is logged (:func:`call_safely`).
    After a fork the child starts a thread of its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[JobLike, list[Callable[[Any], object]]]] = {}
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, job: JobLike, fn: Callable[[Any], object]) -> None:
        """Calls ``fn(job)`` once ``job`` is final: at once (here) if it is already."""
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread is not here
                self._pid, self._thread, self._pending = os.getpid(), None, {}
            if job.status() not in JOB_FINAL_STATES:
                self._pending.setdefault(id(job), (job, []))[1].append(fn)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="ferroq-notifier", daemon=True)
                    self._thread.start()
                return
        call_safely(fn, job, what=f"done-callback of job {job.job_id()}")

    def _run(self) -> None:
        while True:
            seen = _core.completions()
            with self._lock:
                ready = [k for k, (job, _) in self._pending.items() if _final(job)]
                fired = [self._pending.pop(k) for k in ready]
            for job, fns in fired:
                for fn in fns:
                    call_safely(fn, job, what=f"done-callback of job {job.job_id()}")
            with self._lock:
                if not self._pending:
                    self._thread = None
                    return
            try:
                # A timed sleep: a job whose end no signal reports (none today)
                # is still seen within a second.
                _core.wait_completions(seen, 1.0)
            except BaseException:  # a signal handler's exception: not this thread's business
                _log.exception("ferroq's notifier thread was interrupted; it carries on")


def _final(job: JobLike) -> bool:
    try:
        return job.status() in JOB_FINAL_STATES
    except BaseException:
        _log.exception("reading the status of job %r failed", job)
        return False


notifier = Notifier()


# ---------------------------------------------------------------------------
# The futures surface
# ---------------------------------------------------------------------------


@runtime_checkable
class JobLike(Protocol):
    """What the waits and the notifier need of a job."""

    def job_id(self) -> str: ...

    def status(self) -> JobStatus: ...

    def _wait(self, timeout: float | None) -> bool:
        """Blocks until the job is final or ``timeout`` seconds (policy applied)
        pass; returns whether it is final. Interruptible (Ctrl-C)."""
        ...


class Backend(Protocol):
    """What a job needs of the simulator that made it (so that no job module
    imports the simulator, which sits above the jobs)."""

    def run(self, circuits: Any, **options: Any) -> Any: ...


class FutureSurface:
    """JobV1's waits and ``concurrent.futures``' futures surface, for any job
    kind that provides ``job_id()``, ``status()``, ``_wait(timeout)`` and
    ``_outcome()`` (the result, or the job's error raised)."""

    def job_id(self) -> str:
        raise NotImplementedError

    def status(self) -> JobStatus:
        raise NotImplementedError

    def _wait(self, timeout: float | None) -> bool:
        raise NotImplementedError

    def _outcome(self) -> Result:
        raise NotImplementedError

    # ----------------------------------------------------------- predicates
    def done(self) -> bool:
        """Whether the job succeeded (``DONE``; not ``CANCELLED`` or ``ERROR``)."""
        return self.status() is JobStatus.DONE

    def running(self) -> bool:
        """Whether the job is ``RUNNING``."""
        return self.status() is JobStatus.RUNNING

    def cancelled(self) -> bool:
        """Whether the job ended ``CANCELLED``."""
        return self.status() is JobStatus.CANCELLED

    def in_final_state(self) -> bool:
        """Whether the job has ended (``DONE``, ``CANCELLED`` or ``ERROR``)."""
        return self.status() in JOB_FINAL_STATES

    # ---------------------------------------------------------------- waits
    def _wait_or_raise(self, timeout: Any) -> None:
        """Waits under the deadline policy; :class:`JobTimeoutError` if the job
        is still unfinished at the deadline."""
        if not self._wait(timeout_seconds(timeout)):
            raise JobTimeoutError(f"Timeout while waiting for job {self.job_id()}.")

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The error the job failed with, or ``None`` if it succeeded; waits like
        ``result`` and raises ``JobCancelledError`` for a cancelled job."""
        self._wait_or_raise(timeout)
        try:
            self._outcome()
        except JobCancelledError:
            raise
        except Exception as err:
            return err
        return None

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, JobStatus, Any], object] | None = None,
    ) -> None:
        """Blocks until the job ends, returning the moment it does.

        While it runs, ``callback(job_id, status, job)`` is called every ``wait``
        seconds (``wait`` only paces the callback; it is called from this thread,
        so what it raises propagates). Raises
        :class:`~ferroq.exceptions.JobTimeoutError` ("Timeout while waiting for
        job <id>.") once ``timeout`` seconds have passed.
        """
        deadline = Deadline(timeout)
        pace = timeout_seconds(wait, "wait")
        while True:
            status = self.status()
            if status in JOB_FINAL_STATES:
                return
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                raise JobTimeoutError(f"Timeout while waiting for job {self.job_id()}.")
            pause: float | None = remaining
            if callback is not None:
                callback(self.job_id(), status, self)
                if pace is not None:
                    pause = pace if remaining is None else min(pace, remaining)
            self._wait(pause)

    def _what_ran(self) -> Result | None:
        """What did run of a job that failed in some of its circuits (each failed
        circuit in ``missing``), or ``None``."""
        return None

    def _result_of(self, timeout: Any, partial: bool) -> Result:
        """``result(timeout, partial=...)`` of every kind that keeps ``_options``
        and ``_circuits``: waits, then the result or the job's error; with
        ``partial`` a failed or cancelled job returns what did run instead, every
        other circuit in :attr:`Result.missing` (all of them, with the job's own
        error, when nothing ran)."""
        self._wait_or_raise(timeout)
        if not partial:
            return self._outcome()
        try:
            return self._outcome()
        except Exception as err:
            ran = self._what_ran()
            if ran is not None:
                return ran
            options: dict[str, Any] = self._options  # type: ignore[attr-defined]
            missing = dict.fromkeys(range(len(self._circuits)), err)  # type: ignore[attr-defined]
            circuits = self._circuits  # type: ignore[attr-defined]
            return Result(
                options["seed"], [], options=options, job_id=self.job_id(), missing=missing, circuits=circuits
            )

    # -------------------------------------------------------------- futures
    def add_done_callback(self, fn: Callable[[Any], object]) -> None:
        """Calls ``fn(job)`` once when the job ends (at once if it has), from
        ferroq's notifier thread; whatever it raises is logged, not propagated."""
        notifier.add(self, fn)

    def __await__(self) -> Generator[Any, None, Result]:
        """``await job`` waits without blocking the event loop, then returns the result."""
        if not self.in_final_state():
            loop = asyncio.get_running_loop()
            future: asyncio.Future[None] = loop.create_future()

            def settle() -> None:
                if not future.done():
                    future.set_result(None)

            def wake(_: Any) -> None:
                try:
                    loop.call_soon_threadsafe(settle)
                except RuntimeError:  # the loop closed meanwhile
                    pass

            self.add_done_callback(wake)
            yield from future.__await__()
        result: Result = self.result()  # type: ignore[attr-defined]
        return result


# ---------------------------------------------------------------------------
# Waiting on many jobs
# ---------------------------------------------------------------------------


def _failed(job: Any) -> bool:
    # By name: a Qiskit job reports qiskit's JobStatus, ferroq's own jobs ferroq's.
    return bool(job.status().name == "ERROR")


class DoneAndNotDone(NamedTuple):
    """What :func:`wait` returns, as ``concurrent.futures.wait`` does."""

    done: set[Any]
    not_done: set[Any]


def wait(
    jobs: Iterable[Any], timeout: float | None = None, return_when: str = ALL_COMPLETED
) -> DoneAndNotDone:
    """Waits for jobs of any kind (ferroq's, or the Qiskit adapter's) as
    ``concurrent.futures.wait`` does: until all
    end (``ALL_COMPLETED``), any ends (``FIRST_COMPLETED``) or any fails
    (``FIRST_EXCEPTION``), or ``timeout`` seconds pass; never raises on timeout.
    Event-driven: it sleeps until some job of the process ends."""
    if return_when not in (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION):
        raise ValueError(f"unknown return_when {return_when!r}")
    pending = set(jobs)
    deadline = Deadline(timeout)
    done: set[Any] = set()
    while True:
        seen = _core.completions()
        newly = {j for j in pending if j.in_final_state()}
        done |= newly
        pending -= newly
        if not pending:
            break
        if return_when == FIRST_COMPLETED and done:
            break
        if return_when == FIRST_EXCEPTION and any(_failed(j) for j in done):
            break
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            break
        _core.wait_completions(seen, remaining)
    return DoneAndNotDone(done, pending)


J = TypeVar("J")


def as_completed(jobs: Iterable[J], timeout: float | None = None) -> Iterator[J]:
    """Yields jobs of any kind as they end (finished ones first), as
    ``concurrent.futures.as_completed`` does; raises
    :class:`~ferroq.exceptions.JobTimeoutError` if some are unfinished after
    ``timeout`` seconds from the call."""
    pending = list(dict.fromkeys(jobs))
    total = len(pending)
    deadline = Deadline(timeout)
    while pending:
        seen = _core.completions()
        finished = [j for j in pending if j.in_final_state()]  # type: ignore[attr-defined]
        if finished:
            for j in finished:
                pending.remove(j)
                yield j
            continue
        remaining = deadline.remaining()
        if remaining is not None and remaining <= 0:
            raise JobTimeoutError(f"{len(pending)} (of {total}) jobs unfinished after {deadline.timeout} s")
        _core.wait_completions(seen, remaining)
