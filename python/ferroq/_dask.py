"""Dask specifics of executor chunks: marking a chunk RUNNING when its task
starts on a worker, and bringing each chunk's output to the client as soon as
its task ends.

Only :mod:`ferroq._jobset` uses this module, and only through duck typing of
its :class:`~ferroq.ExecutorJob` (``_future``, ``_store``, ``_fetch_from``,
``_mark_started``): it imports no job module, and never imports Dask itself
(the objects come from the caller's client).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Mapping
from typing import Any

__all__ = ["dask_fetcher", "dask_starts"]


class _DaskStarts:
    """Marks Dask chunks RUNNING when their task starts on a worker.

    A Dask future only knows pending and finished; the worker running a chunk
    logs an event under :data:`TOPIC`, which the scheduler relays to each client
    subscribed to it."""

    TOPIC = "ferroq-chunk-started"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, client: Any, jobs: Mapping[str, Any]) -> None:
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
        self._jobs: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, job: Any) -> None:
        with self._lock:
            self._jobs.add(job)

    def fetch_ended(self) -> None:
        with self._lock:
            ended = [j for j in self._jobs if _ended_future(j) is not None]
            self._jobs.difference_update(ended)
        by_client: dict[int, tuple[Any, list[Any]]] = {}
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


def _ended_future(job: Any) -> Any:
    """The job's Dask future if its task has ended and its output is not fetched yet."""
    future = job._future
    if not job._settled() and future is not None and future.status in ("finished", "error"):
        return future
    return None


dask_fetcher = _DaskFetcher()
