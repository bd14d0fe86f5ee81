"""Running one batch as chunks: on ferroq's own scheduler, or as tasks on an executor.

What travels to a worker is plain data: the chunk's circuits (encoded once, on
the client, into one ``bytes`` object, each circuit in the engine's binary form),
the engine options, the batch index of the chunk's first circuit and a thread
hint. The worker function,
:func:`_run_chunk`, is importable by name, so any executor can pickle it by
reference. Circuit ``i`` of the batch is sampled with the seed ``run seed + i``
whichever chunk carries it, so the merged result is the
unsplit run's, bit for bit.

Dask is never imported here: a ``distributed.Client`` is recognised through
``sys.modules``, which holds ``distributed`` whenever such an object exists.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import pickle
import secrets
import socket
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ferroq import _core
from ferroq._contract import Backend
from ferroq._dask import dask_starts
from ferroq._job import Job
from ferroq._jobset import (
    ChunkOutput,
    ExecutorJob,
    JobSet,
    register_in_process,
    unregister_in_process,
)
from ferroq.exceptions import FerroqError, JobCancelledError, OptionTypeError, SimulationMemoryError

if TYPE_CHECKING:
    from ferroq._circuit import Circuit

__all__ = ["check_executor", "engine_options", "submit_set", "worker_threads"]

#: Options that decide how a batch is run, not what the engine computes.
FRONT_OPTIONS = frozenset(
    {"blocking", "callback", "executor", "max_job_size", "progress_bar", "store", "worker_threads"}
)

#: Chunks per executor slot (worker thread) when ``max_job_size`` is not given:
#: enough to balance uneven circuits, few enough to keep per-task overhead small.
CHUNKS_PER_SLOT = 4

# A thread hint for workers: the tasks an executor runs at once, per host for Dask.
Slots = int | dict[str, int] | None


# ----------------------------------------------------------------- executors
def _dask_client(executor: Any) -> tuple[Any, dict[str, Any]] | None:
    """``(client, submit kwargs)`` for a ``distributed.Client`` or its ``get_executor()``."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    if isinstance(executor, distributed.Client):
        return executor, {}
    cfexecutor = sys.modules.get("distributed.cfexecutor")
    if cfexecutor is not None and isinstance(executor, cfexecutor.ClientExecutor):
        # Submitting through the client itself gives real keys and running states;
        # the executor's own options (workers=, resources=, retries=...) still apply.
        client, kwargs = getattr(executor, "_client", None), getattr(executor, "_kwargs", None)
        if client is not None and isinstance(kwargs, dict):
            kwargs = {k: v for k, v in kwargs.items() if k != "pure"}
            return client, kwargs
    return None


def check_executor(value: Any) -> Any:
    """``value`` if it can run chunks: a ``concurrent.futures.Executor`` or a
    ``distributed.Client``; else :class:`~ferroq.exceptions.OptionTypeError`."""
    if isinstance(value, concurrent.futures.Executor) or _dask_client(value) is not None:
        return value
    raise OptionTypeError.about(
        "executor",
        "must be a concurrent.futures.Executor or a dask.distributed.Client, "
        f"got {type(value).__name__} {value!r}",
    )


def describe(executor: Any) -> str | None:
    """A short description of the executor, kept in the run's options (the executor
    itself cannot be pickled with a result)."""
    if executor is None:
        return None
    dask = _dask_client(executor)
    if dask is not None:
        return f"distributed.Client({dask[0].scheduler.address})"
    workers = getattr(executor, "_max_workers", None)
    return f"{type(executor).__name__}(max_workers={workers})"


def _host(address: str) -> str:
    """``'tcp://10.0.0.5:8786'`` -> ``'10.0.0.5'``."""
    hostport = address.split("://", 1)[-1]
    return hostport.rsplit(":", 1)[0] if ":" in hostport else hostport


def executor_slots(executor: Any) -> tuple[Slots, int]:
    """``(hint for the workers, total slots)``: how many tasks the executor runs at
    once, per host for a Dask cluster (workers sharing a host share its cores)."""
    dask = _dask_client(executor)
    if dask is not None:
        by_host: dict[str, int] = {}
        for address, nthreads in dask[0].nthreads().items():
            by_host[_host(address)] = by_host.get(_host(address), 0) + nthreads
        return by_host, max(1, sum(by_host.values()))
    workers = getattr(executor, "_max_workers", None)
    if isinstance(workers, int) and workers > 0:
        return workers, workers
    return None, 1


def worker_threads(slots: Slots, host: str | None = None, own_slots: int | None = None) -> int:
    """Engine threads for one task on a worker: the CPUs this process may use
    (``FERROQ_NUM_THREADS`` if set) divided by the tasks that share them, at least 1.

    ``slots`` is the executor's count of concurrent tasks (per host for Dask;
    ``own_slots``, the worker's own thread count, stands in for a host the client
    did not know of). An executor of unknown size gets 1 thread per task.
    """
    sharing = slots.get(host or "", own_slots) if isinstance(slots, dict) else slots
    if not sharing:
        return 1
    return max(1, _core.default_threads() // sharing)


#: How often a Dask task looks whether the client released it (a look at the
#: worker's own state, nothing sent over the network).
_RELEASE_POLL = 0.05


def _dask_context() -> tuple[Any, Any]:
    """``(worker, key of the running task)`` inside a Dask task."""
    from distributed import get_worker

    worker = get_worker()
    return worker, worker.get_current_task()


def _dask_released(worker: Any, key: Any) -> Callable[[], bool]:
    """Whether the client let this task go (cancelled): the worker marks a running
    task ``cancelled`` when the scheduler releases it, so nothing is asked over the
    network. Reads distributed's worker state; if that is not available, never."""

    def released() -> bool:
        try:
            task = worker.state.tasks.get(key)
        except Exception:
            return False
        return task is None or task.state in ("cancelled", "released", "forgotten")

    return released


# ------------------------------------------------------------------- worker
def _pack(circuits: Sequence[Circuit]) -> bytes:
    """A chunk's circuits in one ``bytes`` object, encoded on the client.

    Each circuit is in the engine's binary form, which keeps save instructions and
    is read back in one call per circuit. Dask pickles a task's arguments on the
    client and unpickles them on the scheduler, then again from the scheduler to
    the worker: a ``bytes`` argument makes the three later steps copies."""
    return pickle.dumps([c._native.to_bytes() for c in circuits], protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(packed: bytes) -> list[_core.Circuit]:
    """The circuits of :func:`_pack`'s output, validated again by the engine."""
    return [_core.Circuit.from_bytes(data) for data in pickle.loads(packed)]


def _run_chunk(
    circuits: bytes | Sequence[Circuit],
    options: dict[str, Any],
    first_index: int,
    slots: Slots = None,
    token: str | None = None,
    dask: bool = False,
    version: str | None = None,
) -> ChunkOutput:
    """Runs one chunk on whatever worker calls it and returns its experiments.

    ``circuits`` is a list of circuits or that list packed (see :func:`_pack`);
    ``options`` are :func:`ferroq._core.submit`'s keyword arguments, with
    ``max_parallel_threads=None`` meaning "choose from ``slots``" (see
    :func:`worker_threads`). ``first_index`` is the batch index of ``circuits[0]``.
    A worker running another ferroq version refuses the chunk: its samples could
    differ from the client's.
    """
    start = time.perf_counter()
    if version is not None and version != _core.__version__:
        raise FerroqError(
            f"this worker runs ferroq {_core.__version__} but the client runs {version}: "
            "results would not match a local run; install the same version on the workers"
        )
    label = f"{socket.gethostname()}:{os.getpid()}"
    released: Callable[[], bool] | None = None
    host: str | None = None
    own_slots: int | None = None
    if dask:
        worker, key = _dask_context()
        label, host, own_slots = worker.address, _host(worker.address), worker.state.nthreads
        worker.log_event(dask_starts.TOPIC, {"key": key})
        released = _dask_released(worker, key)
    opts = _local_options(dict(options))
    threads = opts.get("max_parallel_threads") or worker_threads(slots, host, own_slots)
    opts["max_parallel_threads"] = threads
    natives = _unpack(circuits) if isinstance(circuits, bytes) else [c._native for c in circuits]
    native = _core.submit(natives, first_index=first_index, **opts)
    if token is not None:
        register_in_process(token, native)
    try:
        while not native.wait(_RELEASE_POLL if released is not None else None):
            if released is not None and released():
                native.cancel()
    except BaseException:
        native.cancel()
        raise
    finally:
        if token is not None:
            unregister_in_process(token)
    wall = time.perf_counter() - start
    taken = native.take_result()
    if taken is not None:
        seed, experiments = taken
        return ChunkOutput(seed, experiments, threads, wall, label, _core.__version__)
    # Some circuits failed: ship the others with each failure (a failing circuit
    # costs only itself, as in a local run).
    partial = native.take_partial()
    if partial is not None:
        seed, experiments, failed = partial
        return ChunkOutput(seed, experiments, threads, wall, label, _core.__version__, tuple(failed))
    error = native.error()
    raise error if error is not None else JobCancelledError("the chunk was cancelled")


# --------------------------------------------------------------- submission
def _local_options(engine: dict[str, Any]) -> dict[str, Any]:
    """``engine`` as :func:`ferroq._core.submit`'s keyword arguments (its ``None``
    for "the default" is the core's 0)."""
    out = dict(engine)
    for name in ("max_parallel_threads", "fusion_max_qubit", "fusion_threshold"):
        if name in out and out[name] is None:
            out[name] = 0
    return out


def engine_options(opts: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's options among a run's ``opts``, as :func:`ferroq._core.submit`
    and :func:`ferroq._core.check_options` take them."""
    return _local_options({k: v for k, v in opts.items() if k not in FRONT_OPTIONS})


def submit_set(
    backend: Backend,
    circuits: list[Circuit],
    opts: dict[str, Any],
    *,
    name: str | None,
    tags: list[str],
    header: dict[str, Any],
) -> JobSet:
    """Splits ``circuits`` into chunks, submits them, and returns their :class:`JobSet`.

    Without an executor each chunk is a :class:`ferroq.Job` on ferroq's own
    scheduler; with one, each chunk is one task of :func:`_run_chunk`. Options are
    validated by the engine before anything is submitted.
    """
    executor = opts["executor"]
    seed = opts["seed"] if opts["seed"] is not None else secrets.randbits(64)
    engine = {k: v for k, v in opts.items() if k not in FRONT_OPTIONS}
    engine["seed"] = seed
    # The engine checks every option's range on an empty batch: a bad option raises
    # here, not once per chunk on the workers.
    _core.submit([], **_local_options(engine))
    record = dict(opts, seed=seed, executor=describe(executor))

    slots: Slots = None
    total_slots = 1
    if executor is not None:
        slots, total_slots = executor_slots(executor)
    size = opts["max_job_size"]
    if size is None:
        size = max(1, math.ceil(len(circuits) / (CHUNKS_PER_SLOT * total_slots)))
    bounds = [(first, min(first + size, len(circuits))) for first in range(0, len(circuits), size)]

    if executor is None:
        chunks = _submit_local(backend, circuits, bounds, engine, record, name, tags, header)
    else:
        threads = opts["worker_threads"] or opts["max_parallel_threads"] or None
        engine["max_parallel_threads"] = threads
        chunks = _submit_executor(executor, circuits, bounds, engine, record, slots)
    return JobSet(backend, chunks, circuits, record, executor=executor, name=name, tags=tags, header=header)


def _submit_local(
    backend: Backend,
    circuits: list[Circuit],
    bounds: list[tuple[int, int]],
    engine: dict[str, Any],
    record: dict[str, Any],
    name: str | None,
    tags: list[str],
    header: dict[str, Any],
) -> list[Job | ExecutorJob]:
    local = _local_options(engine)
    chunks: list[Job | ExecutorJob] = []
    try:
        for i, (first, end) in enumerate(bounds):
            part = circuits[first:end]
            chunk_name = None if name is None else f"{name}[{i}]"
            try:
                native = _core.submit([c._native for c in part], first_index=first, **local)
            except SimulationMemoryError as err:
                # Too large for the memory limit: this chunk fails, the others run,
                # as the chunk would fail on a worker.
                failed: concurrent.futures.Future[ChunkOutput] = concurrent.futures.Future()
                failed.set_exception(err)
                job = ExecutorJob(failed, circuits=part, first_index=first, options=record)
                job._watch()
                chunks.append(job)
                continue
            chunks.append(Job(backend, native, part, record, name=chunk_name, tags=tags, header=header))
    except BaseException:
        for chunk in chunks:
            chunk.cancel()
        raise
    return chunks


def _submit_executor(
    executor: Any,
    circuits: list[Circuit],
    bounds: list[tuple[int, int]],
    engine: dict[str, Any],
    record: dict[str, Any],
    slots: Slots,
) -> list[Job | ExecutorJob]:
    version = _core.__version__
    dask = _dask_client(executor)
    if dask is not None:
        client, kwargs = dask
        set_key = uuid.uuid4().hex
        # Keys read well on the dashboard: the task group is "ferroq-chunk".
        keys = [f"ferroq-chunk-{set_key}-{i}" for i in range(len(bounds))]
        jobs = [
            ExecutorJob(
                None,
                circuits=circuits[first:end],
                first_index=first,
                options=record,
                executor=executor,
                dask=True,
                key=key,
            )
            for (first, end), key in zip(bounds, keys, strict=True)
        ]
        dask_starts.watch(client, dict(zip(keys, jobs, strict=True)))
        try:
            # Groups of 1, 2, 4, ... 64 chunks, each packed just before it is sent:
            # the first chunks run while the client still packs the last ones, and
            # many small chunks cost one message per group, not one each.
            start, step = 0, 1
            while start < len(jobs):
                group = range(start, min(start + step, len(jobs)))
                futures = client.map(
                    _run_chunk,
                    [_pack(circuits[bounds[i][0] : bounds[i][1]]) for i in group],
                    [engine] * len(group),
                    [bounds[i][0] for i in group],
                    [slots] * len(group),
                    [None] * len(group),
                    [True] * len(group),
                    [version] * len(group),
                    key=[keys[i] for i in group],
                    pure=False,
                    **kwargs,
                )
                for i, future in zip(group, futures, strict=True):
                    jobs[i]._future = future
                    jobs[i]._watch()
                start, step = group.stop, min(2 * step, 64)
        except BaseException:
            for job in jobs:
                if job._future is not None:
                    job.cancel()
            raise
        return list(jobs)

    # A thread pool shares this process: nothing to pack, and its running tasks can
    # be stopped here (by token).
    in_process = isinstance(executor, concurrent.futures.ThreadPoolExecutor)
    chunks: list[Job | ExecutorJob] = []
    try:
        for first, end in bounds:
            token = uuid.uuid4().hex if in_process else None
            part = circuits[first:end]
            payload: bytes | list[Circuit] = part if in_process else _pack(part)
            future = executor.submit(_run_chunk, payload, engine, first, slots, token, False, version)
            job = ExecutorJob(
                future, circuits=part, first_index=first, options=record, executor=executor, token=token
            )
            job._watch()
            chunks.append(job)
    except BaseException:
        # The caller never gets the set: withdraw what was submitted.
        for chunk in chunks:
            chunk.cancel()
        raise
    return chunks
