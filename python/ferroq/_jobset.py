"""Job sets: one batch split into chunks, each chunk a job, behind Qiskit's JobV1 contract.

A chunk is either a :class:`ferroq.Job` (run on ferroq's own scheduler) or an
:class:`ExecutorJob` (one task on a ``concurrent.futures.Executor`` or a Dask
cluster). The set never blocks in one uninterruptible call: every wait sleeps
in slices of at most ``_POLL`` seconds, woken early whenever a chunk ends, so
Ctrl-C gets through and a notification lost by an executor cannot hang it.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import itertools
import logging
import math
import os
import queue
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ferroq import _core
from ferroq._job import JOB_FINAL_STATES, Job, JobStatus, StatusPredicates, UserMetadata, WaitedOutcome
from ferroq._result import Result
from ferroq.exceptions import InternalError, JobCancelledError, JobError, JobTimeoutError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit
    from ferroq._simulator import Simulator

__all__ = ["ChunkOutput", "ExecutorJob", "JobSet"]

# Longest sleep between two looks at a wait's condition.
_POLL = 0.05

_log = logging.getLogger("ferroq")

DONE, ERROR, CANCELLED = JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED
RUNNING, QUEUED = JobStatus.RUNNING, JobStatus.QUEUED
_ORDER = {s: i for i, s in enumerate(JobStatus)}


class ChunkOutput(NamedTuple):
    """What a worker sends back for one chunk: plain data, pickled compactly."""

    seed: int
    experiments: list[_core.ExperimentData]
    threads: int
    wall_time: float
    worker: str
    version: str


def _deadline(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if math.isnan(timeout):
        raise ValueError("timeout must be a number of seconds or None, not NaN")
    return time.monotonic() + max(0.0, timeout)


def _remaining(deadline: float | None) -> float | None:
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _slice(remaining: float | None) -> float:
    return _POLL if remaining is None else min(_POLL, remaining)


def _call(fn: Callable[[Any], object], job: Any) -> None:
    try:
        fn(job)
    except Exception:
        _log.exception("done-callback %r of job %s raised", fn, job.job_id())


class _Dispatcher:
    """Runs done-callbacks on one daemon thread, so that they never run on an
    executor's worker or I/O thread (where a slow callback would stall the pool)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[tuple[Callable[[Any], object], Any]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def call(self, fn: Callable[[Any], object], job: Any) -> None:
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's thread is not here
                self._pid, self._thread, self._queue = os.getpid(), None, queue.SimpleQueue()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ferroq-jobset-callbacks", daemon=True)
                self._thread.start()
            self._queue.put((fn, job))

    def _run(self) -> None:
        while True:
            fn, job = self._queue.get()
            _call(fn, job)


_dispatcher = _Dispatcher()


class _DaskStarts:
    """Marks Dask chunks RUNNING when their task starts on a worker.

    A Dask future only knows pending and finished; the worker running a chunk
    logs an event under :data:`TOPIC`, which the scheduler relays to each client
    subscribed to it."""

    TOPIC = "ferroq-chunk-started"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: weakref.WeakValueDictionary[str, ExecutorJob] = weakref.WeakValueDictionary()
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, client: Any, jobs: Mapping[str, ExecutorJob]) -> None:
        with self._lock:
            self._jobs.update(jobs)
            subscribe = client not in self._clients
            self._clients.add(client)
        if subscribe:
            client.subscribe_topic(self.TOPIC, self._handle)

    def _handle(self, event: Any) -> None:
        # Runs on the client's event loop: only flips a flag.
        try:
            key = event[1]["key"]
        except (LookupError, TypeError):
            return
        job = self._jobs.get(key)
        if job is not None:
            job._mark_started()


dask_starts = _DaskStarts()


class _DaskFetcher:
    """Brings Dask chunks' outputs to the client as soon as their tasks end.

    A result left in a worker's memory would be lost with that worker, so each
    chunk's done-callback fetches it at once. The callbacks run one after another
    on Dask's callback thread; each fetches every chunk that has ended by then in
    one ``gather`` per client, so that many small chunks do not cost one round
    trip each, and the callbacks behind it find their chunk already fetched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: weakref.WeakSet[ExecutorJob] = weakref.WeakSet()

    def watch(self, job: ExecutorJob) -> None:
        with self._lock:
            self._jobs.add(job)

    def fetch_ended(self) -> None:
        with self._lock:
            ended = [j for j in self._jobs if _ended_future(j) is not None]
            self._jobs.difference_update(ended)
        by_client: dict[int, tuple[Any, list[ExecutorJob]]] = {}
        for job in ended:
            future = _ended_future(job)
            if future is not None and future.status == "finished":
                by_client.setdefault(id(future.client), (future.client, []))[1].append(job)
        for client, group in by_client.values():
            futures = [j._future for j in group]
            try:
                outputs = client.gather(futures)
            except Exception:
                continue  # each is fetched on its own below, with its own error
            for job, output in zip(group, outputs, strict=True):
                job._store(output, None)
        for job in ended:
            future = _ended_future(job)
            if future is not None:
                job._fetch_from(future, future.status == "finished")
            job.status()


def _ended_future(job: ExecutorJob) -> Any:
    """The job's Dask future if its task has ended and its output is not fetched yet."""
    future = job._future
    if job._final is None and future is not None and future.status in ("finished", "error"):
        return future
    return None


dask_fetcher = _DaskFetcher()


class ExecutorJob(StatusPredicates, WaitedOutcome):
    """One chunk of a :class:`JobSet` run as one task on an executor.

    It has the API of :class:`ferroq.Job` that makes sense for a remote task:
    ``status()``, ``result(timeout)`` (a :class:`ferroq.Result` for the chunk's
    circuits), ``cancel()``, ``exception()``, ``wait_for_final_state()``,
    ``add_done_callback()``, ``progress()``, ``error_message()`` and the JobV1
    predicates. ``metadata`` holds where it ran: ``first_index`` (the batch index
    of its first circuit), ``size``, ``key`` (the Dask key, if any) and, once
    fetched, ``threads``, ``wall_time`` and ``worker``.

    Its status comes from the executor's future: ``QUEUED`` until the task
    starts, ``RUNNING`` while it runs, then ``DONE``, ``ERROR`` (the task raised,
    or its worker died) or ``CANCELLED``. A running task that the executor cannot
    stop (a process pool's) is cancelled by discarding its result: the job is
    ``CANCELLED`` at once and the task's output is ignored when it arrives.
    """

    version = 1

    def __init__(
        self,
        future: Any,
        *,
        circuits: list[Circuit],
        first_index: int,
        options: dict[str, Any],
        executor: Any = None,
        dask: bool = False,
        key: str | None = None,
        token: str | None = None,
    ) -> None:
        self._job_id = str(uuid.uuid4())
        self._future: Any = future
        self._dask = dask
        self._circuits = circuits
        self._first_index = first_index
        self._options = dict(options)
        self._executor = executor
        self._token = token
        self.metadata: dict[str, Any] = {"first_index": first_index, "size": len(circuits), "key": key}
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._final: JobStatus | None = None
        self._started = False
        self._released = False
        self._output: ChunkOutput | None = None
        self._error: BaseException | None = None
        self._result: Result | None = None
        self._end_hooks: list[Callable[[ExecutorJob], object]] = []
        self._callbacks: list[Callable[[ExecutorJob], object]] = []
        self._created = time.time()

    def _watch(self) -> None:
        """Starts following the future (separate from ``__init__`` so that a Dask job
        is registered for its start event before its task can start)."""
        if self._future is not None:
            if self._dask:
                dask_fetcher.watch(self)
            self._future.add_done_callback(self._on_future_done)

    def _on_future_done(self, future: Any) -> None:
        # Dask: DONE means "the result is here" (see _DaskFetcher).
        if self._dask:
            dask_fetcher.fetch_ended()
        self.status()

    # ---------------------------------------------------------------- state
    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def submit(self) -> None:
        """Chunks are submitted by :meth:`Simulator.run`: this always raises."""
        raise JobError(f"job {self._job_id} has already been submitted")

    def status(self) -> JobStatus:
        """The current state, read from the executor's future."""
        final = self._final
        if final is not None:
            return final
        with self._lock:
            fetched, error = self._output is not None, self._error
        if fetched or error is not None:
            return self._settle(DONE if error is None else ERROR)
        fut = self._future
        if self._dask:
            state = fut.status
            if state == "cancelled":
                return self._settle(CANCELLED)
            # "pending", "lost" (its worker died: the scheduler runs it again), or
            # ended and being fetched.
            return RUNNING if self._started or state in ("finished", "error") else QUEUED
        if fut.done():
            if fut.cancelled():
                return self._settle(CANCELLED)
            return self._settle(ERROR if fut.exception(timeout=0) is not None else DONE)
        return RUNNING if fut.running() else QUEUED

    def _settle(self, status: JobStatus) -> JobStatus:
        with self._lock:
            if self._final is not None:
                return self._final
            self._final = status
            hooks, self._end_hooks = self._end_hooks, []
            callbacks, self._callbacks = self._callbacks, []
        self._ended.set()
        for hook in hooks:
            hook(self)
        for fn in callbacks:
            _dispatcher.call(fn, self)
        return status

    def _mark_started(self) -> None:
        if not self._started:
            self.metadata["started"] = time.time()
            self._started = True

    def _add_end_hook(self, hook: Callable[[ExecutorJob], object]) -> None:
        """``hook(job)`` once the job is final, on the thread that notices it (kept short)."""
        with self._lock:
            if self._final is None:
                self._end_hooks.append(hook)
                return
        hook(self)

    def cancel(self) -> bool:
        """Cancels the chunk: a queued task is withdrawn, a running Dask or
        in-process task is told to stop (the engine stops at its next gate), and
        any other running task has its result discarded. Returns whether the
        chunk ended ``CANCELLED`` by this call."""
        if self.in_final_state():
            return False
        fut = self._future
        stop = False
        if self._dask:
            # Released, the task stops: its worker polls its own state (see _run_chunk).
            if not self._released:
                fut.cancel()
        elif not fut.cancel():
            if fut.done():
                return self.status() is CANCELLED
            stop = self._token is not None
        # Settled before the task is stopped: a stopped task ends with an error, which
        # must not make the chunk ERROR.
        cancelled = self._settle(CANCELLED) is CANCELLED
        if stop:
            from ferroq._executors import cancel_in_process

            assert self._token is not None
            cancel_in_process(self._token)  # effective when the task runs in this process
        return cancelled

    @staticmethod
    def _release(jobs: Sequence[ExecutorJob]) -> None:
        """Cancels the Dask tasks of many chunks in one call per client (each
        ``Future.cancel()`` is a round trip to the scheduler)."""
        by_client: dict[int, tuple[Any, list[ExecutorJob]]] = {}
        for job in jobs:
            fut = job._future
            if job._dask and fut is not None and job._final is None:
                by_client.setdefault(id(fut.client), (fut.client, []))[1].append(job)
        for client, group in by_client.values():
            client.cancel([job._future for job in group])
            for job in group:
                job._released = True

    # --------------------------------------------------------------- result
    def result(self, timeout: float | None = None) -> Result:
        """The chunk's :class:`~ferroq.Result` (experiments of its circuits only),
        waiting up to ``timeout`` seconds; raises as :meth:`ferroq.Job.result` does:
        ``JobTimeoutError``, ``JobCancelledError``, or the task's own error."""
        self._wait_or_raise(timeout)
        return self._outcome()

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, JobStatus, ExecutorJob], object] | None = None,
    ) -> None:
        """Blocks until the chunk ends, returning the moment it does; as
        :meth:`ferroq.Job.wait_for_final_state`."""
        _wait_for_final_state(self, self._wait, timeout, wait, callback)

    def add_done_callback(self, fn: Callable[[ExecutorJob], object]) -> None:
        """Calls ``fn(job)`` once when the chunk ends (at once if it has), from a
        ferroq thread; exceptions it raises are logged, not propagated."""
        with self._lock:
            if self._final is None:
                self._callbacks.append(fn)
                return
        _call(fn, self)

    def __await__(self) -> Generator[Any, None, Result]:
        """``await job`` waits without blocking the event loop, then returns the result."""
        yield from _until_final(self)
        return self.result()

    def progress(self) -> float:
        """1.0 once the chunk has succeeded, else 0.0 (a remote task reports no
        progress of its own)."""
        return 1.0 if self.status() is DONE else 0.0

    def error_message(self) -> str | None:
        """Why the chunk failed, when it is ``ERROR``; else ``None``."""
        if self.status() is not ERROR:
            return None
        self._fetch()
        return f"{type(self._error).__name__}: {self._error}"

    def executor(self) -> Any:
        """The executor (or Dask client) that runs the chunk."""
        return self._executor

    def circuits(self) -> list[Circuit]:
        """The chunk's circuits, in submission order."""
        return list(self._circuits)

    def backend_options(self) -> dict[str, Any]:
        """The run options in force for this chunk."""
        return dict(self._options)

    # ------------------------------------------------------------ internals
    def _wait(self, timeout: float | None) -> bool:
        deadline = _deadline(timeout)
        while not self._ended.is_set():
            if self.in_final_state():
                break
            remaining = _remaining(deadline)
            if remaining is not None and remaining <= 0:
                return False
            self._ended.wait(_slice(remaining))
        return True

    def _wait_or_raise(self, timeout: float | None) -> None:
        if not self._wait(timeout):
            raise JobTimeoutError(f"Timeout while waiting for job {self._job_id}.")

    def _fetch(self) -> None:
        """Brings an ended task's output (or error) here, once."""
        status = self.status()
        if status in (DONE, ERROR):
            with self._lock:
                future = self._future
            if future is not None:
                self._fetch_from(future, status is DONE)

    def _fetch_from(self, future: Any, succeeded: bool) -> None:
        with self._lock:
            if self._output is not None or self._error is not None:
                return
        try:
            output = future.result() if self._dask else future.result(timeout=0)
        except Exception as err:
            if succeeded:  # the task ran, but its output could not be brought back
                err = JobError(f"the output of job {self._job_id} could not be fetched: {err}")
            self._store(None, err)
        else:
            self._store(output, None)

    def _store(self, output: Any, error: BaseException | None) -> None:
        if error is None:
            error = self._check(output)
        with self._lock:
            if self._output is not None or self._error is not None:
                return
            if error is None:
                self._output = output
                self.metadata.update(threads=output.threads, wall_time=output.wall_time, worker=output.worker)
            else:
                self._error = error
                if self._final is DONE:  # the task ran but its output is unusable
                    self._final = ERROR
            # Dropping the future lets a Dask cluster free the result's memory.
            self._future = None

    def _check(self, output: Any) -> BaseException | None:
        if not isinstance(output, ChunkOutput):
            return InternalError(f"job {self._job_id}: the worker returned a {type(output).__name__}")
        if len(output.experiments) != len(self._circuits) or output.seed != self._options.get("seed"):
            return InternalError(
                f"job {self._job_id}: the worker returned {len(output.experiments)} experiments "
                f"for {len(self._circuits)} circuits, or another run seed"
            )
        return None

    def _outcome(self) -> Result:
        if self.status() is CANCELLED:
            raise JobCancelledError(f"job {self._job_id} was cancelled")
        self._fetch()
        with self._lock:
            if self._result is None and self._output is not None:
                out = self._output
                self._result = Result(out.seed, out.experiments, options=self._options, job_id=self._job_id)
            result, error = self._result, self._error
        if result is None:
            assert error is not None, "a final chunk without a result has an error"
            raise error
        return result

    # -------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        status = self.status()
        if status not in JOB_FINAL_STATES:
            raise JobError(f"cannot pickle job {self._job_id} while it is {status.name}: wait for it to end")
        self._fetch()
        return {
            "job_id": self._job_id,
            "status": self._final,
            "circuits": self._circuits,
            "first_index": self._first_index,
            "options": self._options,
            "metadata": self.metadata,
            "output": self._output,
            "error": self._error,
            "created": self._created,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            None,
            circuits=state["circuits"],
            first_index=state["first_index"],
            options=state["options"],
        )
        self._job_id = state["job_id"]
        self.metadata = state["metadata"]
        self._output, self._error = state["output"], state["error"]
        self._created = state["created"]
        self._final = state["status"]
        self._ended.set()

    def __repr__(self) -> str:
        last = self._first_index + len(self._circuits) - 1
        return f"<ferroq.ExecutorJob {self._job_id} circuits {self._first_index}-{last} {self.status().name}>"


Chunk = Job | ExecutorJob


def _until_final(job: JobSet | ExecutorJob) -> Generator[Any, None, None]:
    """Suspends a coroutine until ``job`` ends, woken by its done-callback."""
    if job.in_final_state():
        return
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

    job.add_done_callback(wake)
    yield from future.__await__()


def _wait_for_final_state(
    job: Any,
    wait_fn: Callable[[float | None], bool],
    timeout: float | None,
    wait: float,
    callback: Callable[[str, JobStatus, Any], object] | None,
) -> None:
    deadline = _deadline(timeout)
    while True:
        status = job.status()
        if status in JOB_FINAL_STATES:
            return
        remaining = _remaining(deadline)
        if remaining is not None and remaining <= 0:
            raise JobTimeoutError(f"Timeout while waiting for job {job.job_id()}.")
        pause: float | None = remaining
        if callback is not None:
            callback(job.job_id(), status, job)
            pause = wait if remaining is None else min(wait, remaining)
        wait_fn(pause)


def summarise(statuses: Sequence[JobStatus]) -> JobStatus:
    """A set's status from its chunks': final only when every chunk is (then ERROR
    if any failed, else CANCELLED if any was cancelled, else DONE); RUNNING once any
    chunk has started or ended; before that the earliest state of any chunk."""
    if all(s in JOB_FINAL_STATES for s in statuses):
        if ERROR in statuses:
            return ERROR
        return CANCELLED if CANCELLED in statuses else DONE
    if any(s is RUNNING or s in JOB_FINAL_STATES for s in statuses):
        return RUNNING
    return min(statuses, key=_ORDER.__getitem__)


class JobSet(StatusPredicates, UserMetadata):
    """A batch split into chunks (``max_job_size=``) or spread over an executor
    (``executor=``), returned by :meth:`Simulator.run`; one JobV1-style job over all.

    - ``status()``: ``ERROR`` if any chunk failed, else ``CANCELLED`` if any was
      cancelled, else ``DONE``, once every chunk has ended; ``RUNNING`` while
      chunks run (a failed chunk does not stop the others: their results stay
      available through ``result(partial=True)``); ``QUEUED`` before any starts.
    - ``result(timeout=None, partial=False)``: one total timeout for the whole set
      (:class:`~ferroq.exceptions.JobTimeoutError`); a single :class:`Result` in
      submission order, identical to the unsplit run with the same seed. A failed
      set raises :class:`~ferroq.exceptions.JobError` with the failed chunk's
      message, a cancelled one :class:`~ferroq.exceptions.JobCancelledError`;
      with ``partial=True`` it returns the circuits that finished instead, as a
      result whose :attr:`Result.missing` maps the index of every other circuit
      to its chunk's error.
    - ``cancel()`` cancels every unfinished chunk; ``progress()`` is the fraction
      of circuits simulated; ``jobs()`` lists the chunks: :class:`ferroq.Job`\\ s
      when they run on ferroq's own scheduler, :class:`ExecutorJob`\\ s on an
      executor.

    >>> import concurrent.futures, ferroq
    >>> circuits = [ferroq.Circuit(1, 1).ry(t / 4, 0).measure(0, 0) for t in range(10)]
    >>> sim = ferroq.Simulator(shots=100, seed=5)
    >>> with concurrent.futures.ThreadPoolExecutor(2) as pool:
    ...     job = sim.run(circuits, executor=pool, max_job_size=4)
    ...     result = job.result(timeout=60)
    >>> len(job.jobs()), job.status().name, job.progress()
    (3, 'DONE', 1.0)
    >>> result.get_counts() == sim.run(circuits).result().get_counts()
    True
    """

    version = 1

    def __init__(
        self,
        backend: Simulator | None,
        chunks: Sequence[Chunk],
        circuits: list[Circuit],
        options: dict[str, Any],
        *,
        executor: Any = None,
        name: str | None = None,
        tags: list[str] | None = None,
        header: dict[str, Any] | None = None,
    ) -> None:
        self._backend = backend
        self._job_id = str(uuid.uuid4())
        self._chunks = list(chunks)
        self._circuits = circuits
        self._options = dict(options)
        self._executor = executor
        self._name = name
        self._tags = list(tags or [])
        self._header = dict(header or {})
        self._created = time.time()
        self._firsts = [0]
        for chunk in self._chunks:
            self._firsts.append(self._firsts[-1] + len(chunk.circuits()))
        self.metadata: dict[str, Any] = {
            "seed": options.get("seed"),
            "shots": options.get("shots"),
            "chunks": len(self._chunks),
        }
        self._cond = threading.Condition(threading.Lock())
        self._pending = set(range(len(self._chunks)))
        self._changes = 0
        self._callbacks: list[Callable[[JobSet], object]] = []
        self._result: Result | None = None
        for i, chunk in enumerate(self._chunks):
            hook = functools.partial(self._chunk_ended, i)
            if isinstance(chunk, ExecutorJob):
                chunk._add_end_hook(hook)
            else:
                chunk.add_done_callback(hook)

    def _chunk_ended(self, index: int, _chunk: Any = None) -> None:
        with self._cond:
            if index not in self._pending:
                return
            self._pending.discard(index)
            self._changes += 1
            self._cond.notify_all()
            if self._pending:
                return
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            _dispatcher.call(fn, self)

    # ---------------------------------------------------------------- JobV1
    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def backend(self) -> Simulator:
        """The simulator that ran :meth:`~Simulator.run`."""
        if self._backend is None:
            raise JobError(f"job set {self._job_id} has no backend (it was restored from a pickle)")
        return self._backend

    def submit(self) -> None:
        """Job sets from :meth:`Simulator.run` are already submitted: this always raises."""
        raise JobError(f"job set {self._job_id} has already been submitted")

    def status(self) -> JobStatus:
        """The set's state, summarised from its chunks' (see the class docstring)."""
        return summarise([c.status() for c in self._chunks])

    def cancel(self) -> bool:
        """Cancels every unfinished chunk (see :meth:`ExecutorJob.cancel` for what
        happens to a task already running on an executor). Returns whether any
        chunk was cancelled by this call; the set then ends ``CANCELLED`` (or
        ``ERROR``, if a chunk had failed)."""
        # Last chunks first: a running chunk that stops must not let a queued one start.
        pending = [c for c in reversed(self._chunks) if not c.in_final_state()]
        ExecutorJob._release([c for c in pending if isinstance(c, ExecutorJob)])
        for chunk in pending:
            chunk.cancel()
        return any(c.status() is CANCELLED for c in pending)

    def result(self, timeout: float | None = None, *, partial: bool = False) -> Result:
        """The merged :class:`Result`, in submission order, waiting up to ``timeout``
        seconds in total for every chunk to end.

        Raises :class:`~ferroq.exceptions.JobTimeoutError` on timeout (the chunks
        keep running), :class:`~ferroq.exceptions.JobCancelledError` for a
        cancelled set and :class:`~ferroq.exceptions.JobError` (caused by the
        chunk's own error) for a failed one. With ``partial=True`` a cancelled or
        failed set returns the circuits that finished, in a result whose
        :attr:`Result.missing` maps each other circuit's index to its chunk's error;
        it still waits for every chunk to end (and times out as above).
        """
        if not self._wait(timeout):
            raise JobTimeoutError(f"Timeout while waiting for job {self._job_id}.")
        return self._merged(partial)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The :class:`~ferroq.exceptions.JobError` that :meth:`result` would raise,
        or ``None`` if the set succeeded; waits like :meth:`result` and raises
        ``JobCancelledError`` for a cancelled set."""
        if not self._wait(timeout):
            raise JobTimeoutError(f"Timeout while waiting for job {self._job_id}.")
        status = self.status()
        if status is CANCELLED:
            raise JobCancelledError(f"job set {self._job_id} was cancelled")
        return self._failure() if status is ERROR else None

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, JobStatus, JobSet], object] | None = None,
    ) -> None:
        """Blocks until every chunk has ended, returning the moment the last does.

        While it waits, ``callback(job_id, status, job_set)`` is called every
        ``wait`` seconds (``wait`` only paces the callback). Raises
        :class:`~ferroq.exceptions.JobTimeoutError` ("Timeout while waiting for
        job <id>.") once ``timeout`` seconds have passed.
        """
        _wait_for_final_state(self, self._wait, timeout, wait, callback)

    # -------------------------------------------------------------- futures
    def add_done_callback(self, fn: Callable[[JobSet], object]) -> None:
        """Calls ``fn(job_set)`` once when the last chunk ends (at once if the set
        has ended), from a ferroq thread; exceptions it raises are logged."""
        with self._cond:
            if self._pending:
                self._callbacks.append(fn)
                return
        _call(fn, self)

    def __await__(self) -> Generator[Any, None, Result]:
        """``await job_set`` waits without blocking the event loop, then returns the result."""
        yield from _until_final(self)
        return self.result()

    # --------------------------------------------------------------- extras
    def jobs(self) -> list[Job | ExecutorJob]:
        """The chunks' jobs, in submission order."""
        return list(self._chunks)

    def progress(self) -> float:
        """Fraction of the circuits simulated, from 0 to 1."""
        total = len(self._circuits)
        if total == 0:
            return 1.0
        spans = itertools.pairwise(self._firsts)
        done = sum(c.progress() * (end - first) for c, (first, end) in zip(self._chunks, spans, strict=True))
        return min(1.0, done / total)

    def error_message(self) -> str | None:
        """Why the set failed, when it is ``ERROR``: the first failed chunk (its
        circuits and its error) and how many others failed; else ``None``."""
        if self.status() is not ERROR:
            return None
        return str(self._failure())

    def executor(self) -> Any:
        """The executor given to :meth:`Simulator.run`, or ``None`` for chunks run
        on ferroq's own scheduler."""
        return self._executor

    def circuits(self) -> list[Circuit]:
        """All circuits of the set, in submission order."""
        return list(self._circuits)

    def refresh(self) -> None:
        """Chunk states are read when asked: nothing to fetch."""

    def backend_options(self) -> dict[str, Any]:
        """The run options in force (the seed included, drawn if unset; the executor
        as a description)."""
        return dict(self._options)

    def creation_date(self) -> datetime.datetime:
        """When the set was created, as a timezone-aware local datetime."""
        return datetime.datetime.fromtimestamp(self._created).astimezone()

    # ------------------------------------------------------------ internals
    def _wait(self, timeout: float | None) -> bool:
        """Waits until every chunk has ended; ``False`` on timeout."""
        deadline = _deadline(timeout)
        while True:
            with self._cond:
                if not self._pending:
                    return True
                seen, pending = self._changes, list(self._pending)
            # A chunk's own notification can lag (or, from a closed executor,
            # never come): look at the chunks themselves on every wake-up.
            for i in pending:
                if self._chunks[i].in_final_state():
                    self._chunk_ended(i)
            with self._cond:
                if not self._pending:
                    return True
                remaining = _remaining(deadline)
                if remaining is not None and remaining <= 0:
                    return False
                if self._changes == seen:
                    self._cond.wait(_slice(remaining))

    def _errors(self) -> list[tuple[int, BaseException]]:
        """``(chunk index, error)`` of every failed chunk, in order."""
        failed: list[tuple[int, BaseException]] = []
        for i, chunk in enumerate(self._chunks):
            if chunk.status() is ERROR:
                try:
                    chunk.result()
                except Exception as err:
                    failed.append((i, err))
        return failed

    def _failure(self) -> JobError:
        failed = self._errors()
        assert failed, "an ERROR set has a failed chunk"
        index, err = failed[0]
        first, end = self._firsts[index], self._firsts[index + 1]
        message = (
            f"job set {self._job_id} failed: chunk {index} (circuits {first}-{end - 1}) "
            f"raised {type(err).__name__}: {err}"
        )
        if len(failed) > 1:
            message += f" (and {len(failed) - 1} more chunks failed)"
        error = JobError(message)
        error.__cause__ = err
        return error

    def _merged(self, partial: bool) -> Result:
        status = self.status()
        if status is DONE and self._result is not None:
            return self._result
        if status is not DONE and not partial:
            if status is CANCELLED:
                raise JobCancelledError(f"job set {self._job_id} was cancelled")
            raise self._failure()
        experiments: list[_core.ExperimentData] = []
        missing: dict[int, BaseException] = {}
        for chunk, (first, end) in zip(self._chunks, itertools.pairwise(self._firsts), strict=True):
            try:
                experiments.extend(chunk.result().results)
            except Exception as err:
                if not isinstance(chunk, Job):
                    missing.update(dict.fromkeys(range(first, end), err))
                    continue
                # A local chunk keeps the circuits that did run when others failed.
                part = chunk.result(partial=True)
                for i in range(end - first):
                    if i in part.missing:
                        missing[first + i] = part.missing[i]
                    else:
                        experiments.append(part._experiment(i))
        result = Result(
            self._options["seed"], experiments, options=self._options, job_id=self._job_id, missing=missing
        )
        if not missing:
            self._result = result
        return result

    # -------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        status = self.status()
        if status not in JOB_FINAL_STATES:
            raise JobError(
                f"cannot pickle job set {self._job_id} while it is {status.name}: wait for it to end first"
            )
        return {
            "job_id": self._job_id,
            "chunks": self._chunks,
            "circuits": self._circuits,
            "options": self._options,
            "name": self._name,
            "tags": self._tags,
            "header": self._header,
            "metadata": self.metadata,
            "created": self._created,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(  # type: ignore[misc]
            None,
            state["chunks"],
            state["circuits"],
            state["options"],
            name=state["name"],
            tags=state["tags"],
            header=state["header"],
        )
        self._job_id = state["job_id"]
        self.metadata = state["metadata"]
        self._created = state["created"]

    def __repr__(self) -> str:
        return f"<ferroq.JobSet {self._job_id} {len(self._chunks)} chunks {self.status().name}>"
