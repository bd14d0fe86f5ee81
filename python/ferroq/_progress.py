"""Progress reporting: events for a ``callback`` run option and progress bars.

One daemon thread watches every job that has an observer, so no thread is
parked per job: it reads each job's status and progress every tick (both are
lock-free reads in Rust) and calls the observers when either changed. Observers
therefore run on that thread, never on an engine worker, and a slow observer
delays only other observers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from ferroq._contract import JOB_FINAL_STATES, Deadline, JobStatus, call_safely

__all__ = ["ProgressEvent", "TextProgressBar", "wait_for_progress", "watch"]

_log = logging.getLogger("ferroq")

#: Seconds between two reads of a watched job.
TICK = 0.1


@dataclasses.dataclass(frozen=True)
class ProgressEvent:
    """One report on a running job, given to the ``callback`` run option.

    Attributes:
        job_id: the job's id.
        status: its :class:`~ferroq.JobStatus` when the event was made.
        fraction: the share of its work done, in [0, 1] (1 once ``DONE``).
        circuits: the number of circuits in the job.
        elapsed: seconds since the job was submitted.
        final: whether this is the job's last event (its status is final).

    >>> import ferroq
    >>> events = []
    >>> job = ferroq.Simulator().run(ferroq.Circuit(1, 1).measure(0, 0), callback=events.append)
    >>> job.result(timeout=10).get_counts()
    {'0': 1024}
    >>> ferroq.wait_for_progress(job)
    >>> events[-1].status.name, events[-1].fraction, events[-1].final
    ('DONE', 1.0, True)
    """

    job_id: str
    status: JobStatus
    fraction: float
    circuits: int
    elapsed: float
    final: bool

    @property
    def eta(self) -> float | None:
        """Seconds left at the pace so far, or ``None`` before any progress."""
        if self.final:
            return 0.0
        if self.fraction <= 0.0:
            return None
        return self.elapsed * (1.0 - self.fraction) / self.fraction


class _Observed(Protocol):
    def job_id(self) -> str: ...
    def status(self) -> JobStatus: ...
    def progress(self) -> float: ...
    def circuits(self) -> list[Any]: ...


@dataclasses.dataclass(eq=False)  # compared by identity
class _Watch:
    job: _Observed
    observer: Callable[[ProgressEvent], object]
    started: float
    circuits: int
    every_tick: bool = False
    last: tuple[JobStatus, float] | None = None
    finished: threading.Event = dataclasses.field(default_factory=threading.Event)


class _Watcher:
    """One thread that reads its watched jobs every :data:`TICK` and reports each
    change to the job's observer. Observers are user code: whatever one raises
    is logged (:func:`~ferroq._contract.call_safely`) and the thread goes on."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._watches: list[_Watch] = []
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, job: _Observed, observer: Callable[[ProgressEvent], object], every_tick: bool) -> _Watch:
        watch = _Watch(job, observer, time.monotonic(), len(job.circuits()), every_tick)
        with self._lock:
            # A fork copies the list but not the thread: start a new one in the child.
            if self._pid != os.getpid():
                self._pid, self._thread = os.getpid(), None
            self._watches.append(watch)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._wake.notify()
        return watch

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._watches:
                    self._wake.wait()
                watches = list(self._watches)
            done = [w for w in watches if self._tick(w)]  # _tick never raises
            if done:
                with self._lock:
                    self._watches = [w for w in self._watches if w not in done]
                for w in done:
                    w.finished.set()
                _forget(done)
            time.sleep(TICK)

    @staticmethod
    def _tick(watch: _Watch) -> bool:
        """Reports ``watch``'s job if it changed; returns whether it is over."""
        try:
            status = watch.job.status()
            final = status in JOB_FINAL_STATES
            fraction = 1.0 if status is JobStatus.DONE else watch.job.progress()
        except BaseException:  # a stored job whose store went away: stop watching it
            _log.exception("progress of job %s could not be read", watch.job.job_id())
            return True
        if watch.every_tick or watch.last != (status, fraction):
            watch.last = (status, fraction)
            event = ProgressEvent(
                watch.job.job_id(), status, fraction, watch.circuits, time.monotonic() - watch.started, final
            )
            call_safely(watch.observer, event, what=f"progress callback of job {event.job_id}")
        return final


#: Users' progress callbacks and bars.
_watcher = _Watcher("ferroq-progress")
#: The job store's owner duties (status writes, the cancel poll): a thread of
#: their own, so that a locked store never delays anyone's progress callbacks.
store_watcher = _Watcher("ferroq-store")
# The unfinished watches of each job, for wait_for_progress; a watch leaves when
# its final event has been delivered, so the map holds only running jobs.
_watches_by_job: dict[str, list[_Watch]] = {}
_by_job_lock = threading.Lock()


def _forget(done: list[_Watch]) -> None:
    with _by_job_lock:
        for w in done:
            job_id = w.job.job_id()
            left = [x for x in _watches_by_job.get(job_id, ()) if x is not w]
            if left:
                _watches_by_job[job_id] = left
            else:
                _watches_by_job.pop(job_id, None)


def watch(
    job: _Observed,
    observer: Callable[[ProgressEvent], object],
    *,
    every_tick: bool = False,
    watcher: _Watcher | None = None,
) -> None:
    """Calls ``observer`` with a :class:`ProgressEvent` whenever ``job``'s status or
    progress changes (read every 0.1 s; every read with ``every_tick``), and once
    more when it ends, on the users' progress thread or on ``watcher``'s."""
    # Registered under the lock, so the watcher cannot forget it before it is listed.
    with _by_job_lock:
        w = (watcher or _watcher).add(job, observer, every_tick)
        _watches_by_job.setdefault(job.job_id(), []).append(w)


def wait_for_progress(job: _Observed, timeout: float | None = None) -> None:
    """Blocks until every progress observer of ``job`` has had its final event
    (useful in tests and scripts: the observers run on a separate thread, so they
    may still be running just after ``job.result()`` returned)."""
    with _by_job_lock:
        watches = list(_watches_by_job.get(job.job_id(), ()))
    deadline = Deadline(timeout)
    for w in watches:
        if not w.finished.wait(deadline.remaining()):
            from ferroq.exceptions import JobTimeoutError

            raise JobTimeoutError(f"the progress observers of job {job.job_id()} did not finish in time")


class TextProgressBar:
    """A one-line progress bar redrawn in place on a terminal stream (stderr by
    default). It draws nothing when the stream is not a terminal, and nothing for
    jobs that end within ``delay`` seconds, so quick runs and logs stay clean."""

    def __init__(self, stream: TextIO | None = None, *, delay: float = 0.5, width: int = 30) -> None:
        self._stream = sys.stderr if stream is None else stream
        self._delay = delay
        self._width = width
        self._drawn = False
        isatty = getattr(self._stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def __call__(self, event: ProgressEvent) -> None:
        if not self.enabled:
            return
        if not self._drawn and (event.final or event.elapsed < self._delay):
            return
        filled = round(self._width * event.fraction)
        eta = event.eta
        tail = f" eta {eta:.0f}s" if eta is not None and not event.final else ""
        bar = "#" * filled + "-" * (self._width - filled)
        plural = "s" if event.circuits != 1 else ""
        line = (
            f"\r[{bar}] {100 * event.fraction:5.1f}%  {event.circuits} circuit{plural}"
            f"  {event.elapsed:.1f}s{tail}  {event.status.name}"
        )
        self._stream.write(line.ljust(79))
        if event.final:
            self._stream.write("\n")
        self._stream.flush()
        self._drawn = True


class TqdmProgressBar:
    """A tqdm bar (``tqdm.auto``: a widget in notebooks, text elsewhere) for
    ``progress_bar=True``, counting circuits."""

    def __init__(self, total: int, description: str) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=description, unit="circuit", leave=True)
        self._shown = 0

    def __call__(self, event: ProgressEvent) -> None:
        done = round(event.fraction * event.circuits)
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done
        if event.final:
            if event.status is not JobStatus.DONE:
                self._bar.set_postfix_str(event.status.name)
            self._bar.close()


def progress_bar_for(job: _Observed) -> Callable[[ProgressEvent], object]:
    """The bar for ``progress_bar=True``: tqdm's when tqdm is installed, else the
    plain terminal bar on stderr."""
    try:
        return TqdmProgressBar(len(job.circuits()), f"ferroq {job.job_id()[:8]}")
    except ImportError:
        return TextProgressBar(delay=0.0)
