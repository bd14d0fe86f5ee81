"""Job sets: one batch split into chunks, each chunk a job, behind Qiskit's JobV1 contract.

A chunk is either a :class:`ferroq.Job` (run on ferroq's own scheduler) or an
:class:`ExecutorJob` (one task on a ``concurrent.futures.Executor`` or a Dask
cluster). Both keep their state in a Rust job, and a set's state is a Rust
``JobGroup`` summarised from its chunks': every wait sleeps in Rust until some
job of the process ends (no polling), and lets Ctrl-C through.
"""

from __future__ import annotations

import concurrent.futures
import datetime
import itertools
import threading
import time
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ferroq import _core
from ferroq._contract import (
    JOB_FINAL_STATES,
    STATUS_BY_INDEX,
    Backend,
    FutureSurface,
    JobStatus,
    settled_handle,
)
from ferroq._dask import dask_fetcher
from ferroq._job import Job
from ferroq._record import UserMetadata
from ferroq._result import Result
from ferroq.exceptions import InternalError, JobCancelledError, JobError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit

__all__ = ["ChunkOutput", "ExecutorJob", "JobSet", "cancel_in_process"]

DONE, ERROR, CANCELLED = JobStatus.DONE, JobStatus.ERROR, JobStatus.CANCELLED
RUNNING, QUEUED = JobStatus.RUNNING, JobStatus.QUEUED


class ChunkOutput(NamedTuple):
    """What a worker sends back for one chunk: plain data, pickled compactly.

    ``experiments`` holds the circuits that ran, in order; ``failed`` the
    ``(index in the chunk, error)`` of each circuit that failed (the others
    still ran: a failing circuit costs only itself)."""

    seed: int
    experiments: list[_core.ExperimentData]
    threads: int
    wall_time: float
    worker: str
    version: str
    failed: tuple[tuple[int, BaseException], ...] = ()


# ----------------------------------------------------- in-process cancellation
_inproc_lock = threading.Lock()
_inproc_jobs: dict[str, _core.Job] = {}
_inproc_cancelled: set[str] = set()


def cancel_in_process(token: str) -> None:
    """Stops the chunk with this token if it runs in this process (thread pools get
    tokens); if its task has not registered yet, it stops as soon as it does."""
    with _inproc_lock:
        native = _inproc_jobs.get(token)
        if native is None:
            _inproc_cancelled.add(token)
            return
    native.cancel()


def register_in_process(token: str, native: _core.Job) -> None:
    """Called by the task: ``native`` runs the chunk with this token here."""
    with _inproc_lock:
        _inproc_jobs[token] = native
        if token in _inproc_cancelled:
            native.cancel()


def unregister_in_process(token: str) -> None:
    with _inproc_lock:
        _inproc_jobs.pop(token, None)
        _inproc_cancelled.discard(token)


class ExecutorJob(FutureSurface):
    """One chunk of a :class:`JobSet` run as one task on an executor.

    It has the API of :class:`ferroq.Job` that makes sense for a remote task:
    ``status()``, ``result(timeout, partial=False)`` (a :class:`ferroq.Result` for
    the chunk's circuits), ``cancel()``, ``exception()``, ``wait_for_final_state()``,
    ``add_done_callback()``, ``progress()``, ``error_message()`` and the JobV1
    predicates. ``metadata`` holds where it ran: ``first_index`` (the batch index
    of its first circuit), ``size``, ``key`` (the Dask key, if any) and, once
    fetched, ``threads``, ``wall_time`` and ``worker``.

    Its state is a Rust job (``_core.ExternalJob``) that the executor's future
    drives: ``QUEUED`` until the task starts, ``RUNNING`` while it runs, then
    ``DONE``, ``ERROR`` (the task raised, its worker died, or some of its
    circuits failed: the others are kept for ``result(partial=True)``) or
    ``CANCELLED``. A running task that the executor cannot
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
        self._native = _core.ExternalJob()
        self._future: Any = future
        self._dask = dask
        self._circuits = circuits
        self._first_index = first_index
        self._options = dict(options)
        self._executor = executor
        self._token = token
        self.metadata: dict[str, Any] = {"first_index": first_index, "size": len(circuits), "key": key}
        self._lock = threading.Lock()
        self._started = False
        self._released = False
        self._output: ChunkOutput | None = None
        self._error: BaseException | None = None
        self._result: Result | None = None
        self._created = time.time()

    def _watch(self) -> None:
        """Starts following the future (separate from ``__init__`` so that a Dask job
        is registered for its start event before its task can start)."""
        if self._future is not None:
            if self._dask:
                dask_fetcher.watch(self)
            self._future.add_done_callback(self._on_future_done)

    def _on_future_done(self, future: Any) -> None:
        # Runs on the executor's thread: brings the output here and ends the Rust job.
        if self._dask:
            dask_fetcher.fetch_ended()
        else:
            self._fetch_from(future, True)

    # ---------------------------------------------------------------- state
    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def submit(self) -> None:
        """Chunks are submitted by :meth:`Simulator.run`: this always raises."""
        raise JobError(f"job {self._job_id} has already been submitted")

    def status(self) -> JobStatus:
        """The current state (the Rust job's, after a look at the executor's future
        for what it does not report by itself: a task that started)."""
        status: JobStatus = STATUS_BY_INDEX[self._native.state()]
        if status in JOB_FINAL_STATES:
            return status
        fut = self._future
        if fut is not None:
            if self._dask:
                if fut.status == "cancelled":
                    self._native.cancel()
                elif fut.status in ("finished", "error"):
                    self._native.start()  # ended, its output on its way
            elif fut.done():
                self._fetch_from(fut, True)
            elif fut.running():
                self._native.start()
        return STATUS_BY_INDEX[self._native.state()]

    def _settled(self) -> bool:
        """Whether the Rust job is final (no look at the future)."""
        return STATUS_BY_INDEX[self._native.state()] in JOB_FINAL_STATES

    def _mark_started(self) -> None:
        if not self._started:
            self.metadata["started"] = time.time()
            self._started = True
        self._native.start()

    def cancel(self) -> bool:
        """Cancels the chunk: a queued task is withdrawn, a running Dask or
        in-process task is told to stop (the engine stops at its next gate), and
        any other running task has its result discarded. Returns whether the
        chunk ended ``CANCELLED`` by this call."""
        fut = self._future
        if fut is not None and not self._dask and fut.done() and not fut.cancelled():
            self._fetch_from(fut, True)  # it ended already: too late to cancel
        # The Rust job is claimed first: the stopped task's late error or output
        # is then discarded, and the chunk is CANCELLED, not ERROR.
        if not self._native.cancel():
            return False
        if fut is not None:
            if self._dask:
                # Released, the task stops: its worker polls its own state.
                if not self._released:
                    fut.cancel()
            elif not fut.cancel() and self._token is not None:
                cancel_in_process(self._token)  # effective when the task runs in this process
        return True

    @staticmethod
    def _release(jobs: Sequence[ExecutorJob]) -> None:
        """Cancels the Dask tasks of many chunks in one call per client (each
        ``Future.cancel()`` is a round trip to the scheduler)."""
        by_client: dict[int, tuple[Any, list[ExecutorJob]]] = {}
        for job in jobs:
            fut = job._future
            if job._dask and fut is not None and not job._settled():
                by_client.setdefault(id(fut.client), (fut.client, []))[1].append(job)
        for client, group in by_client.values():
            client.cancel([job._future for job in group])
            for job in group:
                job._released = True

    # --------------------------------------------------------------- result
    def result(self, timeout: float | None = None, *, partial: bool = False) -> Result:
        """The chunk's :class:`~ferroq.Result` (experiments of its circuits only),
        waiting up to ``timeout`` seconds; raises as :meth:`ferroq.Job.result` does:
        ``JobTimeoutError``, ``JobCancelledError``, or the task's own error. With
        ``partial=True`` a failed or cancelled chunk returns what did run, each
        other circuit in :attr:`Result.missing` (indices within the chunk)."""
        return self._result_of(timeout, partial)

    def _what_ran(self) -> Result | None:
        with self._lock:
            out = self._output
        if out is None or not out.failed:  # (a cancelled chunk kept no output)
            return None
        options, job_id = self._options, self._job_id
        return Result(
            out.seed,
            out.experiments,
            options=options,
            job_id=job_id,
            missing=dict(out.failed),
            circuits=self._circuits,
        )

    def progress(self) -> float:
        """1.0 once the chunk has succeeded, else 0.0 (a remote task reports no
        progress of its own)."""
        return 1.0 if self.status() is DONE else 0.0

    def error_message(self) -> str | None:
        """Why the chunk failed, when it is ``ERROR``; else ``None``."""
        if self.status() is not ERROR:
            return None
        with self._lock:
            error = self._error
        return f"{type(error).__name__}: {error}"

    def executor(self) -> Any:
        """The executor (or Dask client) that runs the chunk."""
        return self._executor

    def circuits(self) -> list[Circuit]:
        """The chunk's circuits, in submission order."""
        return list(self._circuits)

    def backend_options(self) -> dict[str, Any]:
        """The run options in force for this chunk."""
        return dict(self._options)

    def time_per_step(self) -> dict[str, datetime.datetime]:
        """When the chunk reached each state, as timezone-aware local datetimes."""
        return {
            STATUS_BY_INDEX[i].name: datetime.datetime.fromtimestamp(t).astimezone()
            for i, t in self._native.time_per_step()
        }

    # ------------------------------------------------------------ internals
    def _wait(self, timeout: float | None) -> bool:
        if self.status() in JOB_FINAL_STATES:
            return True
        return self._native.wait(timeout)

    def _fetch_from(self, future: Any, succeeded: bool) -> None:
        """Brings an ended task's output (or error) here, once, and ends the Rust job."""
        with self._lock:
            if self._output is not None or self._error is not None or self._settled():
                return
        if not self._dask and future.cancelled():
            self._native.cancel()
            return
        try:
            output = future.result() if self._dask else future.result(timeout=0)
        except concurrent.futures.CancelledError:
            self._native.cancel()
            return
        except Exception as err:
            if succeeded and self._dask and future.status == "finished":
                # The task ran, but its output could not be brought back.
                err = JobError(f"the output of job {self._job_id} could not be fetched: {err}")
            self._store(None, err)
        else:
            self._store(output, None)

    def _store(self, output: Any, error: BaseException | None) -> None:
        """Keeps a task's output or error, then ends the Rust job: DONE, or ERROR
        with the task's error or the chunk's first failed circuit."""
        keep = False  # the output is well formed: kept, even beside a failed circuit
        if error is None:
            error = self._check(output)
            keep = error is None
            if keep and output.failed:
                error = output.failed[0][1]
        with self._lock:
            if self._output is not None or self._error is not None or self._settled():
                return  # already kept, or cancelled: a late output is discarded
            if keep:
                self._output = output
                self.metadata.update(threads=output.threads, wall_time=output.wall_time, worker=output.worker)
            self._error = error
            # Dropping the future lets a Dask cluster free the result's memory.
            self._future = None
        if error is None:
            self._native.finish()
        else:
            self._native.fail(f"{type(error).__name__}: {error}")

    def _check(self, output: Any) -> BaseException | None:
        if not isinstance(output, ChunkOutput):
            return InternalError(f"job {self._job_id}: the worker returned a {type(output).__name__}")
        indices = sorted(i for i, _ in output.failed)
        if (
            len(output.experiments) + len(indices) != len(self._circuits)
            or indices != sorted(set(indices))
            or any(not 0 <= i < len(self._circuits) for i in indices)
            or output.seed != self._options.get("seed")
        ):
            return InternalError(
                f"job {self._job_id}: the worker returned {len(output.experiments)} experiments and "
                f"{len(indices)} failures for {len(self._circuits)} circuits, or another run seed"
            )
        return None

    def _outcome(self) -> Result:
        status = self.status()
        if status is CANCELLED:
            raise JobCancelledError(f"job {self._job_id} was cancelled")
        with self._lock:
            if self._error is not None:
                raise self._error
            out = self._output
            assert out is not None, "a DONE chunk has its output"
            if self._result is None:
                self._result = Result(
                    out.seed,
                    out.experiments,
                    options=self._options,
                    job_id=self._job_id,
                    circuits=self._circuits,
                )
            return self._result

    # -------------------------------------------------------------- pickling
    def __getstate__(self) -> dict[str, Any]:
        status = self.status()
        if status not in JOB_FINAL_STATES:
            raise JobError(f"cannot pickle job {self._job_id} while it is {status.name}: wait for it to end")
        with self._lock:
            return {
                "job_id": self._job_id,
                "status": status,
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
        error = self._error
        self._native = settled_handle(
            state["status"], "" if error is None else f"{type(error).__name__}: {error}"
        )

    def __repr__(self) -> str:
        last = self._first_index + len(self._circuits) - 1
        return f"<ferroq.ExecutorJob {self._job_id} circuits {self._first_index}-{last} {self.status().name}>"


Chunk = Job | ExecutorJob


class JobSet(FutureSurface, UserMetadata):
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
        backend: Backend | None,
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
        self._result: Result | None = None
        self._group = _core.JobGroup([_handle(c) for c in self._chunks])

    # ---------------------------------------------------------------- JobV1
    def job_id(self) -> str:
        """A unique id (a uuid4 string)."""
        return self._job_id

    def backend(self) -> Any:
        """The simulator that ran :meth:`~Simulator.run` (a :class:`ferroq.Simulator`)."""
        if self._backend is None:
            raise JobError(f"job set {self._job_id} has no backend (it was restored from a pickle)")
        return self._backend

    def submit(self) -> None:
        """Job sets from :meth:`Simulator.run` are already submitted: this always raises."""
        raise JobError(f"job set {self._job_id} has already been submitted")

    def status(self) -> JobStatus:
        """The set's state, summarised in Rust from its chunks' (see the class docstring)."""
        for chunk in self._chunks:
            if isinstance(chunk, ExecutorJob) and not chunk._settled():
                chunk.status()  # lets the chunk see a task start, which no executor reports
        return STATUS_BY_INDEX[self._group.state()]

    def cancel(self) -> bool:
        """Cancels every unfinished chunk (see :meth:`ExecutorJob.cancel` for what
        happens to a task already running on an executor). Returns whether any
        chunk was cancelled by this call; the set then ends ``CANCELLED`` (or
        ``ERROR``, if a chunk had failed)."""
        # Last chunks first: a running chunk that stops must not let a queued one start.
        pending = [c for c in reversed(self._chunks) if not c.in_final_state()]
        ExecutorJob._release([c for c in pending if isinstance(c, ExecutorJob)])
        cancelled = [c.cancel() for c in pending]
        return any(cancelled)

    def result(self, timeout: float | None = None, *, partial: bool = False) -> Result:
        """The merged :class:`Result`, in submission order, waiting up to ``timeout``
        seconds in total for every chunk to end.

        Raises :class:`~ferroq.exceptions.JobTimeoutError` on timeout (the chunks
        keep running), :class:`~ferroq.exceptions.JobCancelledError` for a
        cancelled set and :class:`~ferroq.exceptions.JobError` (caused by the
        chunk's own error) for a failed one. With ``partial=True`` a cancelled or
        failed set returns the circuits that finished, in a result whose
        :attr:`Result.missing` maps each other circuit's index to its own error
        (a failed circuit's, or its chunk's when the chunk failed as a whole);
        it still waits for every chunk to end (and times out as above).
        """
        self._wait_or_raise(timeout)
        return self._merged(partial)

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
        """Waits (in Rust, event-driven) until every chunk has ended; ``False`` on timeout."""
        if self.status() in JOB_FINAL_STATES:
            return True
        return self._group.wait(timeout)

    def _outcome(self) -> Result:
        return self._merged(False)

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
            except Exception:
                # Whatever ran the chunk, it keeps the circuits that did run.
                part = chunk.result(partial=True)
                for i in range(end - first):
                    if i in part.missing:
                        missing[first + i] = part.missing[i]
                    else:
                        experiments.append(part._experiment(i))
        result = Result(
            self._options["seed"],
            experiments,
            options=self._options,
            job_id=self._job_id,
            missing=missing,
            circuits=self._circuits,
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


def _handle(chunk: Chunk) -> _core.Job | _core.ExternalJob:
    """The Rust job holding a chunk's state."""
    if isinstance(chunk, ExecutorJob):
        return chunk._native
    return chunk._state_handle()
