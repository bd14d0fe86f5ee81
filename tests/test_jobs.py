"""The job layer: Qiskit's JobV1 contract, the futures surface, and where ferroq goes
beyond the references (GIL-free waits, Ctrl-C, cancellation of running jobs, pickling).

See ``/work/shared/reference/job-semantics.md`` for the contract. Long jobs here are
never waited for: each test cancels them (the ``submit`` fixture does it at teardown)
so the worker pool is free for the next test.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import functools
import gc
import itertools
import json
import logging
import os
import pickle
import signal
import threading
import time
import uuid
import warnings

import ferroq
import numpy as np
import pytest
from ferroq import JOB_FINAL_STATES, JobStatus, _core
from ferroq.exceptions import (
    FerroqError,
    JobCancelledError,
    JobError,
    JobTimeoutError,
    OptionError,
    SimulationMemoryError,
    UnknownOptionError,
)
from helpers import assert_prompt, assert_waited, job_rank, saving
from helpers import h_layers as layers

# ---------------------------------------------------------------------------
# Circuits and helpers
# ---------------------------------------------------------------------------

QUEUED, RUNNING, DONE = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE
CANCELLED, ERROR = JobStatus.CANCELLED, JobStatus.ERROR
STEP_NAMES = [s.name for s in JobStatus]


@functools.cache
def long_circuit() -> ferroq.Circuit:
    """20 qubits, 50,000 gates: about a minute on two cores. Always cancelled."""
    return layers(20, 2500)


@functools.cache
def blocker_circuit() -> ferroq.Circuit:
    """18 qubits, 90,000 gates, meant for one thread: tens of seconds; stops within a
    fraction of a millisecond when cancelled."""
    return layers(18, 5000)


@functools.cache
def medium_circuit() -> ferroq.Circuit:
    """About 0.1-0.4 s on one thread (long enough to be seen RUNNING)."""
    return layers(18, 60)


def bell() -> ferroq.Circuit:
    return ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])


def error_circuit() -> ferroq.Circuit:
    """Fails at run time under ``ERROR_OPTS``: the submit check allows one 16-qubit
    state (1 MiB) in 1.5 MiB, but a reset after a gate needs a second copy per shot."""
    return ferroq.Circuit(16, 1).h(0).reset(0).measure(0, 0)


ERROR_OPTS = {"shots": 4, "max_memory_mb": 1.5}


def wait_until(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.001)


def assert_predicates(job: ferroq.Job, status: JobStatus) -> None:
    """Every predicate agrees with ``status`` (call only in a stable state)."""
    assert job.status() is status
    assert job.done() is (status is DONE)
    assert job.running() is (status is RUNNING)
    assert job.cancelled() is (status is CANCELLED)
    assert job.in_final_state() is (status in JOB_FINAL_STATES)
    assert status.name in repr(job)


def assert_steps(job: ferroq.Job, expected: list[str]) -> None:
    """``time_per_step`` names exactly ``expected``, in that order, with timezone-aware,
    non-decreasing times."""
    steps = job.time_per_step()
    assert list(steps) == expected
    times = list(steps.values())
    assert all(t.tzinfo is not None and t.utcoffset() is not None for t in times)
    assert times == sorted(times)


@pytest.fixture
def sim():
    return ferroq.Simulator()


@pytest.fixture
def submit(sim):
    """``submit(circuits, **run_kwargs)``: ``sim.run`` whose jobs are cancelled and
    waited for at teardown."""
    jobs: list[ferroq.Job] = []

    def _submit(circuits, **kwargs):
        job = sim.run(circuits, **kwargs)
        jobs.append(job)
        return job

    yield _submit
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.wait_for_final_state(timeout=10)


@pytest.fixture
def occupy(submit):
    """``occupy()``: one single-threaded blocker per worker, returned once all run, so
    jobs submitted next stay QUEUED."""

    def _occupy() -> list[ferroq.Job]:
        max_workers = _core.queue_info()[2]
        blockers = [submit(blocker_circuit(), shots=1, max_parallel_threads=1) for _ in range(max_workers)]
        wait_until(lambda: all(b.status() is RUNNING for b in blockers), 15, "blockers to run")
        return blockers

    return _occupy


def long_running(submit, **opts) -> ferroq.Job:
    opts.setdefault("shots", 1)
    job = submit(long_circuit(), **opts)
    wait_until(lambda: job.status() is RUNNING, 15, "the long job to run")
    return job


def error_job(submit) -> ferroq.Job:
    job = submit(error_circuit(), **ERROR_OPTS)
    job.wait_for_final_state(timeout=10)
    return job


# ---------------------------------------------------------------------------
# Enum and exception classes
# ---------------------------------------------------------------------------


def test_job_status_members_values_and_order_are_qiskits():
    assert [(s.name, s.value) for s in JobStatus] == [
        ("INITIALIZING", "job is being initialized"),
        ("QUEUED", "job is queued"),
        ("VALIDATING", "job is being validated"),
        ("RUNNING", "job is actively running"),
        ("CANCELLED", "job has been cancelled"),
        ("DONE", "job has successfully run"),
        ("ERROR", "job incurred error"),
    ]
    assert set(JOB_FINAL_STATES) == {DONE, CANCELLED, ERROR}
    assert len(JOB_FINAL_STATES) == 3
    assert ferroq.FIRST_COMPLETED == concurrent.futures.FIRST_COMPLETED
    assert ferroq.FIRST_EXCEPTION == concurrent.futures.FIRST_EXCEPTION
    assert ferroq.ALL_COMPLETED == concurrent.futures.ALL_COMPLETED


def test_exception_classes_satisfy_both_kinds_of_caller():
    assert issubclass(JobError, FerroqError)
    assert issubclass(JobTimeoutError, JobError)
    assert issubclass(JobTimeoutError, concurrent.futures.TimeoutError)
    assert issubclass(JobTimeoutError, TimeoutError)
    assert issubclass(JobCancelledError, JobError)
    assert issubclass(JobCancelledError, concurrent.futures.CancelledError)
    assert ferroq.JobError is JobError
    assert ferroq.JobTimeoutError is JobTimeoutError
    assert ferroq.JobCancelledError is JobCancelledError


# ---------------------------------------------------------------------------
# Each state: every method
# ---------------------------------------------------------------------------


def test_queued_job(submit, occupy):
    blockers = occupy()
    job = submit(bell(), shots=10, name="q", tags=["t"], header={"h": 1})
    job2 = submit(bell(), shots=10)
    assert_predicates(job, QUEUED)
    assert job.queue_position() == 0
    assert job2.queue_position() == 1
    assert job.queue_position(refresh=True) == 0
    info = job.queue_info()
    assert info.job_id == job.job_id()
    assert info.status is QUEUED
    assert info.position == 0
    assert info.queued_jobs >= 2
    assert info.max_workers == len(blockers)
    assert 1 <= info.workers <= info.max_workers
    assert job.error_message() is None
    assert job.progress() == 0.0
    assert_steps(job, ["INITIALIZING", "QUEUED"])
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - job.creation_date()).total_seconds()) < 30
    assert job.creation_date() == job.time_per_step()["INITIALIZING"]
    with pytest.raises(JobTimeoutError):
        job.result(timeout=0)
    with pytest.raises(JobTimeoutError):
        job.exception(timeout=0.01)
    with pytest.raises(JobTimeoutError, match=f"^Timeout while waiting for job {job.job_id()}\\.$"):
        job.wait_for_final_state(timeout=0)
    with pytest.raises(JobError):
        job.submit()
    with pytest.raises(JobError):
        pickle.dumps(job)
    # None of that changed anything.
    assert_predicates(job, QUEUED)
    assert job.queue_position() == 0
    # Cancelling a queued job: True, CANCELLED at once, out of the queue.
    assert job.cancel() is True
    assert_predicates(job, CANCELLED)
    assert job.queue_position() is None
    assert job2.queue_position() == 0
    assert_steps(job, ["INITIALIZING", "QUEUED", "CANCELLED"])
    assert job.cancel() is False
    with pytest.raises(JobCancelledError) as err:
        job.result()
    assert isinstance(err.value, concurrent.futures.CancelledError)
    # As a future: caught by code that knows nothing of ferroq.
    try:
        job.result(timeout=1)
    except concurrent.futures.CancelledError:
        pass
    else:
        pytest.fail("result() of a cancelled job did not raise CancelledError")
    with pytest.raises(JobCancelledError):
        job.exception()
    assert job.error_message() is None
    assert job.progress() < 1.0
    job.wait_for_final_state(timeout=0)  # final: returns at once, even with timeout 0
    # The blockers still run: cancelling the queued job did not touch them.
    assert all(b.status() is RUNNING for b in blockers)


def test_running_job(submit):
    job = long_running(submit, max_parallel_threads=2, name="long")
    assert_predicates(job, RUNNING)
    assert job.queue_position() is None
    assert job.queue_info().position is None
    assert job.queue_info().status is RUNNING
    assert job.error_message() is None
    assert 0.0 <= job.progress() < 1.0
    assert_steps(job, ["INITIALIZING", "QUEUED", "VALIDATING", "RUNNING"])
    with pytest.raises(JobError):
        job.submit()
    start = time.monotonic()
    with pytest.raises(JobError, match="RUNNING"):
        pickle.dumps(job)
    assert_prompt(time.monotonic() - start, what="pickling a running job")
    with pytest.raises(JobTimeoutError):
        job.result(timeout=0.01)
    assert_predicates(job, RUNNING)
    assert job.cancel() is True
    assert_predicates(job, CANCELLED)
    assert_steps(job, ["INITIALIZING", "QUEUED", "VALIDATING", "RUNNING", "CANCELLED"])


def test_done_job(sim):
    c = bell()
    job = sim.run(c, shots=100, seed=11, name="bell", memory=True)
    result = job.result(timeout=30)
    assert_predicates(job, DONE)
    assert result.get_counts().keys() <= {"00", "11"}
    assert sum(result.get_counts().values()) == 100
    assert job.result() is result
    assert job.result(timeout=0, refresh=True) is result
    assert job.exception() is None
    assert job.exception(timeout=0) is None
    assert job.progress() == 1.0
    assert job.queue_position() is None
    assert job.error_message() is None
    assert job.cancel() is False
    assert_predicates(job, DONE)
    assert_steps(job, ["INITIALIZING", "QUEUED", "VALIDATING", "RUNNING", "DONE"])
    start = time.monotonic()
    assert job.wait_for_final_state(timeout=0) is None
    assert job.wait_for_final_state() is None
    assert_prompt(time.monotonic() - start, what="waiting on a finished job")
    with pytest.raises(JobError):
        job.submit()
    assert result.job_id == job.job_id()


def test_error_job(submit):
    """A simulation that fails at run time ends ERROR with its message, never DONE."""
    job = error_job(submit)
    assert_predicates(job, ERROR)
    message = job.error_message()
    assert message is not None and "memory limit" in message
    with pytest.raises(SimulationMemoryError, match="memory limit") as err:
        job.result()
    assert isinstance(err.value, MemoryError)
    exc = job.exception()
    assert isinstance(exc, SimulationMemoryError)
    assert str(exc) == message
    assert job.cancel() is False
    assert job.queue_position() is None
    assert job.progress() < 1.0
    assert list(job.time_per_step())[-1] == "ERROR"
    assert "DONE" not in job.time_per_step()
    assert job.wait_for_final_state(timeout=0) is None
    assert_predicates(job, ERROR)
    # Round trip through pickle: still ERROR, same message, same exception class.
    copy = pickle.loads(pickle.dumps(job))
    assert_predicates(copy, ERROR)
    assert copy.error_message() == message
    with pytest.raises(SimulationMemoryError, match="memory limit"):
        copy.result()
    assert isinstance(copy.exception(), SimulationMemoryError)


def test_error_job_with_batch_and_blocking(sim):
    """A batch whose second circuit fails is ERROR as a whole; blocking=True also
    reports ERROR through the job rather than raising from run()."""
    ok = bell()
    job = sim.run([ok, error_circuit()], **ERROR_OPTS)
    job.wait_for_final_state(timeout=10)
    assert job.status() is ERROR
    assert job.done() is False
    job = sim.run(error_circuit(), blocking=True, **ERROR_OPTS)
    assert job.status() is ERROR
    assert "memory limit" in job.error_message()


# ---------------------------------------------------------------------------
# State flow, monotonicity, progress
# ---------------------------------------------------------------------------


def test_state_flow_queued_running_done_and_never_backwards(submit, occupy):
    blockers = occupy()
    job = submit(medium_circuit(), shots=5, max_parallel_threads=1)
    assert job.status() is QUEUED
    seen: list[JobStatus] = []
    polls = 0

    def release():
        time.sleep(0.05)
        for b in blockers:
            b.cancel()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            s = job.status()
            polls += 1
            if not seen or seen[-1] is not s:
                seen.append(s)
            if s in JOB_FINAL_STATES or time.monotonic() > deadline:
                break
    finally:
        releaser.join()
    ranks = [job_rank(s) for s in seen]
    assert ranks == sorted(ranks), f"status went backwards: {seen}"
    assert seen[0] is QUEUED and seen[-1] is DONE, seen
    assert RUNNING in seen, f"RUNNING never observed in {polls} polls: {seen}"
    steps = job.time_per_step()
    assert_steps(job, ["INITIALIZING", "QUEUED", "VALIDATING", "RUNNING", "DONE"])
    assert {s.name for s in seen} <= set(steps)
    # Time stamps match what was seen: it waited in the queue, then ran for a while.
    assert (steps["RUNNING"] - steps["QUEUED"]).total_seconds() >= 0.03
    assert steps["DONE"] > steps["RUNNING"]
    assert job.progress() == 1.0


def test_progress_rises_while_running_and_is_one_when_done(submit):
    job = long_running(submit, max_parallel_threads=2)
    samples = []
    for _ in range(20):
        samples.append(job.progress())
        time.sleep(0.02)
    assert samples == sorted(samples)
    assert all(0.0 <= p < 1.0 for p in samples)
    assert samples[-1] > samples[0], samples
    # After cancel, the engine stops: progress no longer moves.
    assert job.cancel() is True
    time.sleep(0.05)
    frozen = job.progress()
    time.sleep(0.25)
    assert job.progress() == frozen, "the cancelled engine kept working"
    batch = submit([layers(12, 20)] * 4, shots=1, max_parallel_threads=1)
    batch.result(timeout=60)
    assert batch.progress() == 1.0


def test_progress_rises_in_a_single_threaded_run(submit):
    job = long_running(submit, max_parallel_threads=1)
    time.sleep(0.5)
    assert job.progress() > 0.0
    assert job.status() is RUNNING
    assert job.cancel() is True


def test_queue_is_first_in_first_out(submit, occupy):
    occupy()
    q = [submit(bell(), shots=5) for _ in range(4)]
    assert [j.queue_position() for j in q] == [0, 1, 2, 3]
    assert q[1].cancel() is True
    assert [j.queue_position() for j in q] == [0, None, 1, 2]
    assert q[0].cancel() is True
    time.sleep(0.05)
    assert q[2].status() is QUEUED
    assert q[2].queue_position() == 0


# ---------------------------------------------------------------------------
# cancel()
# ---------------------------------------------------------------------------


def test_cancel_running_wide_job_is_prompt(submit):
    job = long_running(submit)  # 20 qubits, all threads
    time.sleep(0.1)
    start = time.monotonic()
    assert job.cancel() is True
    assert job.status() is CANCELLED
    assert_prompt(time.monotonic() - start, what="cancel()")
    assert job.cancel() is False
    with pytest.raises(JobCancelledError):
        job.result(timeout=5)
    assert list(job.time_per_step())[-2:] == ["RUNNING", "CANCELLED"]


def test_cancel_frees_the_workers(submit, occupy):
    """A cancelled running simulation really stops: the queued job behind it runs at once."""
    blockers = occupy()
    waiting = submit(bell(), shots=10)
    assert waiting.status() is QUEUED
    start = time.monotonic()
    assert all(b.cancel() for b in blockers)
    waiting.result(timeout=10)
    assert_prompt(time.monotonic() - start, what="the queued job behind cancelled blockers")


def test_cancel_of_finished_jobs_returns_false(sim, submit):
    done = sim.run(bell(), shots=4)
    done.result(timeout=10)
    assert done.cancel() is False
    assert done.status() is DONE
    assert done.result().get_counts()
    err = error_job(submit)
    assert err.cancel() is False
    assert err.status() is ERROR
    cancelled = long_running(submit)
    assert cancelled.cancel() is True
    assert cancelled.cancel() is False
    assert cancelled.status() is CANCELLED


def test_cancel_racing_completion_is_consistent(sim):
    """cancel() -> True exactly when the job ends CANCELLED, whichever wins the race."""
    c = bell()
    outcomes = {True: 0, False: 0}
    for i in range(1500):
        job = sim.run(c, shots=8, max_parallel_threads=1)
        if i % 3 == 1:
            time.sleep(0)
        elif i % 3 == 2:
            time.sleep(0.0002)
        returned = job.cancel()
        job.wait_for_final_state(timeout=10)
        status = job.status()
        outcomes[returned] += 1
        assert returned is (status is CANCELLED), (returned, status)
        assert status in (DONE, CANCELLED)
        assert list(job.time_per_step())[-1] == status.name
        if status is DONE:
            assert sum(job.result().get_counts().values()) == 8
        else:
            with pytest.raises(JobCancelledError):
                job.result()
    assert outcomes[False] > 0  # some finished before the cancel


def test_concurrent_cancels_exactly_one_wins(submit):
    job = long_running(submit, max_parallel_threads=1)
    barrier = threading.Barrier(8)

    def cancel():
        barrier.wait()
        return job.cancel()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        returned = list(pool.map(lambda _: cancel(), range(8)))
    assert returned.count(True) == 1
    assert job.status() is CANCELLED


# ---------------------------------------------------------------------------
# Timeouts: result, exception, wait_for_final_state
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["result", "exception"])
def test_timeout_leaves_the_job_running(submit, method):
    job = long_running(submit, max_parallel_threads=1)
    start = time.monotonic()
    with pytest.raises(JobTimeoutError) as err:
        getattr(job, method)(timeout=0.2)
    elapsed = time.monotonic() - start
    assert_waited(elapsed, 0.2)
    assert isinstance(err.value, concurrent.futures.TimeoutError)
    assert isinstance(err.value, TimeoutError)
    assert job.job_id() in str(err.value)
    assert job.status() is RUNNING
    assert not job.cancelled()
    # A futures-style caller catches it without knowing ferroq.
    try:
        getattr(job, method)(timeout=0.05)
    except concurrent.futures.TimeoutError:
        pass
    assert job.status() is RUNNING


@pytest.mark.parametrize("timeout", [-1.0, 0.0, 1e-6])
def test_zero_and_negative_timeouts_do_not_block(submit, timeout):
    job = long_running(submit, max_parallel_threads=1)
    start = time.monotonic()
    with pytest.raises(JobTimeoutError):
        job.result(timeout=timeout)
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=timeout)
    assert_prompt(time.monotonic() - start, what="a wait with a zero or negative timeout")


def test_nan_timeout_is_rejected(submit):
    job = long_running(submit, max_parallel_threads=1)
    with pytest.raises(ValueError):
        job.result(timeout=float("nan"))


def test_wait_for_final_state_on_a_long_job_calls_back_then_times_out(submit):
    job = long_running(submit, max_parallel_threads=1)
    calls = []

    def callback(*args):
        calls.append((time.monotonic(), args))

    start = time.monotonic()
    with pytest.raises(JobTimeoutError) as err:
        job.wait_for_final_state(timeout=0.3, wait=0.1, callback=callback)
    elapsed = time.monotonic() - start
    assert str(err.value) == f"Timeout while waiting for job {job.job_id()}."
    assert_waited(elapsed, 0.3)
    assert 2 <= len(calls) <= 4, calls
    for _, (job_id, status, who) in calls:
        assert job_id == job.job_id()
        assert status in (RUNNING, QUEUED)
        assert who is job
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(calls)]
    assert all(0.07 <= g < 0.3 for g in gaps), gaps
    assert job.status() is RUNNING


def test_wait_for_final_state_timeout_zero_raises_without_callback(submit):
    job = long_running(submit, max_parallel_threads=1)
    calls = []
    with pytest.raises(JobTimeoutError):
        job.wait_for_final_state(timeout=0, callback=lambda *a: calls.append(a))
    assert calls == []


def test_wait_for_final_state_returns_as_soon_as_the_job_ends(submit):
    """Event-driven: a short job ends well before ``wait`` (5 s) elapses."""
    job = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    calls = []
    start = time.monotonic()
    job.wait_for_final_state(wait=5, callback=lambda *a: calls.append(a))
    elapsed = time.monotonic() - start
    assert job.status() is DONE
    assert_prompt(elapsed, instead=5, what="wait_for_final_state(wait=5)")
    assert len(calls) <= 1
    assert all(status not in JOB_FINAL_STATES for _, status, _ in calls)
    # Without callback or timeout.
    job = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    start = time.monotonic()
    assert job.wait_for_final_state() is None
    assert_prompt(time.monotonic() - start, what="wait_for_final_state()")
    assert job.status() is DONE


def test_wait_for_final_state_returns_promptly_on_cancel(submit):
    job = long_running(submit, max_parallel_threads=1)
    threading.Timer(0.1, job.cancel).start()
    start = time.monotonic()
    job.wait_for_final_state(timeout=10, wait=5, callback=lambda *a: None)
    assert_prompt(time.monotonic() - start, instead=5, what="wait_for_final_state(wait=5) on cancel")
    assert job.status() is CANCELLED


# ---------------------------------------------------------------------------
# Done-callbacks
# ---------------------------------------------------------------------------


def test_done_callbacks_before_and_after_the_end(submit):
    job = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    calls: list[tuple[str, object, str]] = []
    fired = threading.Event()

    def make(tag):
        def cb(j):
            calls.append((tag, j, threading.current_thread().name))
            if len(calls) == 2:
                fired.set()

        return cb

    job.add_done_callback(make("a"))
    job.add_done_callback(make("b"))
    assert fired.wait(30)
    time.sleep(0.05)
    assert [(t, j) for t, j, _ in calls] == [("a", job), ("b", job)]
    assert all(name != threading.main_thread().name for _, _, name in calls)
    assert job.status() is DONE
    # Added after the end: called once, at once.
    late = []
    job.add_done_callback(late.append)
    wait_until(lambda: late, 5, "the late callback")
    time.sleep(0.05)
    assert late == [job]
    assert len(calls) == 2  # the earlier callbacks did not fire again


@pytest.mark.parametrize("ending", ["cancel-running", "cancel-queued", "error"])
def test_done_callback_fires_once_for_every_final_state(submit, occupy, ending):
    if ending == "cancel-queued":
        occupy()
        job = submit(bell(), shots=1)
        assert job.status() is QUEUED
    elif ending == "cancel-running":
        job = long_running(submit, max_parallel_threads=1)
    else:
        job = submit(error_circuit(), **ERROR_OPTS)
    seen = []
    job.add_done_callback(lambda j: seen.append((j, j.status())))
    if ending.startswith("cancel"):
        assert job.cancel()
    wait_until(lambda: seen, 10, "the done-callback")
    time.sleep(0.05)
    assert len(seen) == 1
    assert seen[0][0] is job
    assert seen[0][1] in JOB_FINAL_STATES  # the job is final when its callback runs
    assert seen[0][1] is (ERROR if ending == "error" else CANCELLED)


def test_a_raising_callback_is_logged_and_does_not_stop_others(submit, caplog):
    job = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    later = threading.Event()

    def bad(_):
        raise RuntimeError("boom from callback")

    with caplog.at_level(logging.ERROR, logger="ferroq"):
        job.add_done_callback(bad)
        job.add_done_callback(lambda _: later.set())
        assert later.wait(30)
        time.sleep(0.05)
    assert any("boom from callback" in (r.exc_text or "") or r.exc_info for r in caplog.records)
    assert any(job.job_id() in r.getMessage() for r in caplog.records)
    # After the end a raising callback is also swallowed (logged), not raised to the caller.
    job.add_done_callback(bad)


def test_callbacks_may_read_results_and_register_more_callbacks(submit):
    second = long_running(submit, max_parallel_threads=1)
    first = submit(medium_circuit(), shots=2, max_parallel_threads=1)
    events = []

    def on_first(job):
        events.append(("first", job.result(timeout=0).job_id == job.job_id()))
        second.add_done_callback(lambda j: events.append(("second", j.status())))

    first.add_done_callback(on_first)
    wait_until(lambda: events, 30, "the first callback")
    assert second.cancel() is True
    wait_until(lambda: len(events) == 2, 10, "the nested callback")
    time.sleep(0.05)
    assert events == [("first", True), ("second", CANCELLED)]


# ---------------------------------------------------------------------------
# as_completed / wait
# ---------------------------------------------------------------------------


def test_as_completed_yields_in_completion_order_and_times_out(submit):
    slow = long_running(submit, max_parallel_threads=1)
    fast = submit(bell(), shots=1)
    fast.result(timeout=10)
    med = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    assert not med.in_final_state()
    got = []
    start = time.monotonic()
    with pytest.raises(JobTimeoutError) as err:
        for job in ferroq.as_completed([slow, med, fast, fast], timeout=2):
            got.append(job)
    elapsed = time.monotonic() - start
    assert got == [fast, med]  # finished first, then as they end; no duplicates
    assert isinstance(err.value, concurrent.futures.TimeoutError)
    assert_waited(elapsed, 2.0)
    assert slow.status() is RUNNING


def test_as_completed_without_timeout_and_with_finished_jobs(sim):
    jobs = [sim.run(bell(), shots=1) for _ in range(5)]
    got = list(ferroq.as_completed(jobs))
    assert sorted(map(id, got)) == sorted(map(id, jobs))
    assert all(j.done() for j in got)
    assert list(ferroq.as_completed([])) == []
    assert list(ferroq.as_completed(jobs, timeout=0)) != []


def test_wait_all_completed(sim, submit):
    jobs = [sim.run(bell(), shots=1) for _ in range(3)]
    done, not_done = ferroq.wait(jobs)
    assert done == set(jobs) and not_done == set()
    slow = long_running(submit, max_parallel_threads=1)
    start = time.monotonic()
    done, not_done = ferroq.wait([*jobs, slow], timeout=0.3, return_when=ferroq.ALL_COMPLETED)
    elapsed = time.monotonic() - start
    assert_waited(elapsed, 0.3)
    assert done == set(jobs) and not_done == {slow}
    assert slow.status() is RUNNING
    result = ferroq.wait([])
    assert result.done == set() and result.not_done == set()


def test_wait_first_completed(submit):
    slow = long_running(submit, max_parallel_threads=1)
    med = submit(medium_circuit(), shots=1, max_parallel_threads=1)
    start = time.monotonic()
    done, not_done = ferroq.wait([slow, med], timeout=20, return_when=ferroq.FIRST_COMPLETED)
    assert_prompt(time.monotonic() - start, what="wait(FIRST_COMPLETED)")
    assert done == {med} and not_done == {slow}
    # A cancel also completes a job.
    threading.Timer(0.1, slow.cancel).start()
    other = long_running(submit, max_parallel_threads=1)
    done, not_done = ferroq.wait([slow, other], timeout=20, return_when=ferroq.FIRST_COMPLETED)
    assert done == {slow} and not_done == {other}
    # Nothing ends: it returns at the timeout without raising.
    start = time.monotonic()
    done, not_done = ferroq.wait([other], timeout=0.2, return_when=ferroq.FIRST_COMPLETED)
    assert done == set() and not_done == {other}
    assert_waited(time.monotonic() - start, 0.2)


def test_wait_first_exception(submit):
    slow = long_running(submit, max_parallel_threads=1)
    bad = submit(error_circuit(), **ERROR_OPTS)
    start = time.monotonic()
    done, not_done = ferroq.wait([slow, bad], timeout=20, return_when=ferroq.FIRST_EXCEPTION)
    assert_prompt(time.monotonic() - start, what="wait(FIRST_EXCEPTION)")
    assert done == {bad} and not_done == {slow}
    # As concurrent.futures: neither a success nor a cancellation counts as an exception.
    ok = submit(bell(), shots=1)
    cancelled = submit(bell(), shots=1)
    cancelled.cancel()
    ok.result(timeout=10)
    start = time.monotonic()
    done, not_done = ferroq.wait([slow, ok, cancelled], timeout=0.3, return_when=ferroq.FIRST_EXCEPTION)
    assert_waited(time.monotonic() - start, 0.3)
    assert done == {ok, cancelled} and not_done == {slow}
    # No exception and all end: same as ALL_COMPLETED.
    done, not_done = ferroq.wait([ok, cancelled], return_when=ferroq.FIRST_EXCEPTION)
    assert done == {ok, cancelled} and not_done == set()


def test_wait_rejects_unknown_return_when(sim):
    with pytest.raises(ValueError):
        ferroq.wait([sim.run(bell(), shots=1)], return_when="SOMETIMES")


# ---------------------------------------------------------------------------
# asyncio
# ---------------------------------------------------------------------------


def test_await_several_jobs_without_blocking_the_loop(submit):
    slow = long_running(submit, max_parallel_threads=1)
    jobs = [submit(medium_circuit(), shots=3, max_parallel_threads=1) for _ in range(4)]

    async def main():
        ticks = 0
        stop = asyncio.Event()

        async def ticker():
            nonlocal ticks
            while not stop.is_set():
                await asyncio.sleep(0.01)
                ticks += 1

        async def get(job):
            return await job

        task = asyncio.create_task(ticker())
        start = time.monotonic()
        results = await asyncio.gather(*(get(j) for j in jobs))
        elapsed = time.monotonic() - start
        # A job that does not end before the timeout leaves the loop responsive too.
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(get(slow), 0.2)
        total = time.monotonic() - start
        stop.set()
        await task
        return results, ticks, elapsed, total

    results, ticks, elapsed, total = asyncio.run(main())
    assert [r.job_id for r in results] == [j.job_id() for j in jobs]
    assert all(j.status() is DONE for j in jobs)
    assert all(r is j.result() for r, j in zip(results, jobs, strict=True))
    # The loop kept ticking the whole time (a blocked loop would give ~0 ticks).
    assert ticks >= 0.3 * total / 0.01, (ticks, elapsed, total)


def test_await_finished_cancelled_and_failed_jobs(sim, submit):
    done = sim.run(bell(), shots=4)
    done.result(timeout=10)
    cancelled = long_running(submit, max_parallel_threads=1)
    bad = submit(error_circuit(), **ERROR_OPTS)

    async def main():
        out = [await done]
        later = asyncio.get_running_loop().call_later(0.1, cancelled.cancel)
        with pytest.raises(JobCancelledError):
            await cancelled
        later.cancel()
        with pytest.raises(SimulationMemoryError):
            await bad
        return out

    (result,) = asyncio.run(main())
    assert result is done.result()


# ---------------------------------------------------------------------------
# GIL and Ctrl-C
# ---------------------------------------------------------------------------


def test_simulation_and_waits_do_not_hold_the_gil(submit):
    ticks: list[float] = []
    stop = threading.Event()

    def heartbeat():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    def ticks_between(a, b):
        inside = [t for t in ticks if a <= t <= b]
        gaps = [y - x for x, y in itertools.pairwise(inside)]
        return len(inside), max(gaps, default=b - a)

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    try:
        job = long_running(submit, max_parallel_threads=1)
        # The main thread idles while the simulation runs.
        a = time.monotonic()
        time.sleep(0.3)
        count, gap = ticks_between(a, time.monotonic())
        assert count >= 5, (count, gap)  # about 30 while the GIL is free
        # The main thread blocks in result() while the simulation runs.
        a = time.monotonic()
        with pytest.raises(JobTimeoutError):
            job.result(timeout=0.5)
        b = time.monotonic()
        assert_waited(b - a, 0.5)
        # Ticks all through the wait (a held GIL would allow one or two).
        count, gap = ticks_between(a, b)
        assert count >= 5 and gap < 0.45, (count, gap)
        # A short timeout is honoured to within tens of milliseconds.
        a = time.monotonic()
        with pytest.raises(JobTimeoutError):
            job.result(timeout=0.1)
        assert_waited(time.monotonic() - a, 0.1)
        assert job.status() is RUNNING
    finally:
        stop.set()
        beat.join(5)


@pytest.fixture
def default_sigint():
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


BLOCKING_CALLS = {
    "result": lambda job: job.result(),
    "result-timeout": lambda job: job.result(timeout=60),
    "exception": lambda job: job.exception(),
    "wait_for_final_state": lambda job: job.wait_for_final_state(),
    "wait_for_final_state-callback": lambda job: job.wait_for_final_state(wait=0.05, callback=print),
    "ferroq.wait": lambda job: ferroq.wait([job]),
    "as_completed": lambda job: list(ferroq.as_completed([job])),
}


@pytest.mark.parametrize("call", list(BLOCKING_CALLS))
def test_ctrl_c_interrupts_a_blocking_wait(submit, default_sigint, call, capsys):
    job = long_running(submit, max_parallel_threads=1)
    sent: dict[str, float] = {}

    def interrupt():
        sent["at"] = time.monotonic()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            BLOCKING_CALLS[call](job)
        latency = time.monotonic() - sent["at"]
    finally:
        timer.join()
    assert_prompt(latency, what="Ctrl-C in a blocking wait")
    # Interrupting the wait does not touch the job.
    assert job.status() is RUNNING
    assert job.cancel() is True


def test_ctrl_c_during_a_blocking_run_does_not_leave_it_running(sim, submit, default_sigint):
    # About 2 s of work on one thread: long enough to be interrupted, short enough
    # not to hold a worker for long if it were left running.
    orphan = layers(18, 400)

    def interrupt():
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            sim.run(orphan, shots=1, max_parallel_threads=1, blocking=True)
    finally:
        timer.join()
    # The interrupted run was cancelled: every worker takes a new job at once.
    max_workers = _core.queue_info()[2]
    blockers = [submit(blocker_circuit(), shots=1, max_parallel_threads=1) for _ in range(max_workers)]
    wait_until(lambda: all(b.status() is RUNNING for b in blockers), 1.0, "every worker to be free")


def test_pickle_round_trip_of_a_done_job(sim):
    job = sim.run(
        bell(), shots=50, seed=3, memory=True, statevector=True, name="p", tags=["x"], header={"k": 1}
    )
    a = job.result(timeout=30)
    copy = pickle.loads(pickle.dumps(job))
    assert copy.job_id() == job.job_id()
    assert_predicates(copy, DONE)
    assert (copy.name(), copy.tags(), copy.header()) == ("p", ["x"], {"k": 1})
    assert copy.metadata == job.metadata
    assert copy.backend_options() == job.backend_options()
    assert copy.time_per_step() == job.time_per_step()
    assert copy.progress() == 1.0
    b = copy.result(timeout=0)
    assert b.get_counts() == a.get_counts()
    assert b.get_memory() == a.get_memory()
    np.testing.assert_array_equal(b.get_statevector(), a.get_statevector())
    assert copy.cancel() is False
    with pytest.raises(JobError):
        copy.backend()
    seen: list[ferroq.Job] = []
    copy.add_done_callback(seen.append)
    assert seen == [copy]
    assert list(ferroq.as_completed([copy], timeout=1)) == [copy]
    assert asyncio.run(_await(copy)).get_counts() == a.get_counts()
    # And pickles again.
    again = pickle.loads(pickle.dumps(copy))
    assert again.result().get_memory() == a.get_memory()
    assert again.status() is DONE


async def _await(job):
    return await job


def test_pickled_results_keep_saved_values(sim):
    e = sim.run(saving(), shots=20, seed=1).result(timeout=30).results[0]
    copy = pickle.loads(pickle.dumps(e))
    assert copy.saved_kinds() == e.saved_kinds()
    before, after = e.saved(), copy.saved()
    assert before.keys() == after.keys() == {"statevector", "p1", "pd", "amplitudes", "ev"}
    for label, value in before.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(after[label], value)
        else:
            assert after[label] == value


def test_pickle_round_trip_of_a_cancelled_job(submit):
    job = long_running(submit, max_parallel_threads=1)
    job.cancel()
    copy = pickle.loads(pickle.dumps(job, protocol=pickle.HIGHEST_PROTOCOL))
    assert copy.job_id() == job.job_id()
    assert_predicates(copy, CANCELLED)
    with pytest.raises(JobCancelledError) as err:
        copy.result()
    assert isinstance(err.value, concurrent.futures.CancelledError)
    with pytest.raises(JobCancelledError):
        copy.exception()
    assert copy.error_message() is None
    assert copy.metadata == job.metadata
    assert list(copy.time_per_step()) == list(job.time_per_step())


def test_pickling_an_unfinished_job_fails_promptly(submit, occupy):
    occupy()
    queued = submit(bell(), shots=1)
    start = time.monotonic()
    with pytest.raises(JobError, match="QUEUED"):
        pickle.dumps(queued)
    assert_prompt(time.monotonic() - start, what="pickling a queued job")
    assert queued.status() is QUEUED  # not cancelled, not waited for


# ---------------------------------------------------------------------------
# blocking=True, submit(), ids, metadata
# ---------------------------------------------------------------------------


def test_blocking_run(sim):
    job = sim.run(bell(), shots=20, seed=3, blocking=True)
    assert job.status() is DONE  # final as soon as run returns
    assert job._async is False
    assert job.progress() == 1.0
    # The job is final when run returns: every timeout is met at once, silently
    # (as BasicProviderJob), for a job and a job set alike.
    job_set = sim.run([bell()] * 3, shots=20, seed=3, blocking=True, max_job_size=2)
    assert job_set.status() is DONE
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = job.result()
        job.wait_for_final_state(timeout=0)
        assert job.result(timeout=0.5) is result
        assert job.exception(timeout=0.5) is None
        assert job_set.result(timeout=0.5).get_counts(0) == result.get_counts()
        assert job_set.exception(timeout=0) is None
    assert job.cancel() is False
    with pytest.raises(JobError):
        job.submit()
    # The same seed through the asynchronous path gives the same counts.
    assert sim.run(bell(), shots=20, seed=3).result().get_counts() == result.get_counts()
    # Simulator-wide option.
    assert ferroq.Simulator(blocking=True).run(bell(), shots=2).status() is DONE


@pytest.mark.parametrize("state", ["done", "running"])
def test_submit_always_raises(sim, submit, state):
    job = sim.run(bell(), shots=2, blocking=True) if state == "done" else long_running(submit)
    with pytest.raises(JobError, match="already"):
        job.submit()
    assert job.status() is (DONE if state == "done" else RUNNING)


def test_job_ids_are_unique_uuid4_strings(sim):
    jobs = [sim.run(bell(), shots=1, max_parallel_threads=1) for _ in range(500)]
    ids = [j.job_id() for j in jobs]
    assert len(set(ids)) == len(ids)
    for i in ids:
        assert isinstance(i, str)
        parsed = uuid.UUID(i)
        assert parsed.version == 4
        assert str(parsed) == i
    ferroq.wait(jobs, timeout=30)
    assert all(j.result().job_id == j.job_id() for j in jobs)


def test_metadata_name_tags_header_round_trip(sim):
    header = {"experiment": "x", "n": [1, 2]}
    tags = ["alpha", "beta"]
    circuits = [bell(), ferroq.Circuit(1, 1).x(0).measure(0, 0)]
    job = sim.run(circuits, name="my job", tags=tags, header=header, shots=7)
    # Copies: changing what was passed in, or what was returned, changes nothing.
    header["experiment"] = "changed"
    tags.append("gamma")
    assert job.header() == {"experiment": "x", "n": [1, 2]}
    assert job.tags() == ["alpha", "beta"]
    job.tags().append("delta")
    job.header()["new"] = 1
    assert job.tags() == ["alpha", "beta"]
    assert "new" not in job.header()
    assert job.name() == "my job"
    assert job.update_name("renamed") == "renamed"
    assert job.name() == "renamed"
    assert job.update_tags(["x", "y"]) == ["x", "y"]
    assert job.tags() == ["x", "y"]
    assert job.update_tags([]) == []
    assert job.tags() == []
    assert job.circuits() == circuits and all(a is b for a, b in zip(job.circuits(), circuits, strict=True))
    assert job.version == 1
    assert job.backend() is sim
    assert job.executor() is None
    assert job.properties() is None
    assert job.refresh() is None
    assert job.scheduling_mode() == "fifo"
    assert job.client_version == {"ferroq": ferroq.__version__}
    usage = job.usage_estimation
    assert usage["circuits"] == 2 and usage["shots"] == 7 and usage["max_qubits"] == 2
    assert usage["statevector_bytes"] == 16 * 4
    result = job.result(timeout=30)
    # The drawn seed is reported before and after the run, and is the one used.
    seed = job.metadata["seed"]
    assert isinstance(seed, int)
    assert job.metadata["shots"] == 7
    assert job.backend_options()["seed"] == seed == result.seed
    assert job.backend_options()["shots"] == 7
    rerun = sim.run(circuits, shots=7, seed=seed, memory=True).result()
    assert rerun.get_counts() == result.get_counts()
    # A given seed is kept as given.
    assert sim.run(bell(), shots=1, seed=99).backend_options()["seed"] == 99
    defaults = sim.run(bell(), shots=1)
    assert defaults.name() is None and defaults.tags() == [] and defaults.header() == {}


@pytest.mark.parametrize("bad", ["abc", [1], ["a", None], None, {"a": 1}, 3])
def test_update_tags_validates(sim, bad):
    job = sim.run(bell(), shots=1, tags=["keep"])
    with pytest.raises(JobError):
        job.update_tags(bad)
    assert job.tags() == ["keep"]


def test_update_name_validates(sim):
    job = sim.run(bell(), shots=1, name="keep")
    with pytest.raises(JobError):
        job.update_name(5)
    assert job.name() == "keep"


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"shots": 0}, OptionError),
        ({"bogus": 1}, UnknownOptionError),
        ({"shots": "10"}, TypeError),
        ({"max_memory_mb": 0.5}, SimulationMemoryError),  # 16 qubits need 1 MiB
    ],
)
def test_bad_options_raise_before_any_job_exists(sim, occupy, options, error):
    occupy()
    queued_before = _core.queue_info()[0]
    with pytest.raises(error):
        sim.run(error_circuit(), **options)
    assert _core.queue_info()[0] == queued_before


@pytest.mark.parametrize("parent_busy", [False, True], ids=["parent-idle", "parent-running-a-job"])
def test_forked_child_can_run_jobs(sim, submit, parent_busy):
    expected = sim.run(bell(), shots=200, seed=17).result(timeout=30).get_counts()
    if parent_busy:
        long_running(submit, max_parallel_threads=1)
    gc.collect()
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "process is multi-threaded"
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read_fd)
            job = ferroq.Simulator().run(bell(), shots=200, seed=17)
            fired = threading.Event()
            job.add_done_callback(lambda _: fired.set())
            counts = job.result(timeout=20).get_counts()
            ok = job.status() is DONE and fired.wait(10)
            batch = ferroq.Simulator().run([bell()] * 4, shots=10, max_parallel_threads=2)
            ok = ok and all(sum(c.values()) == 10 for c in batch.result(timeout=20).get_counts())
            os.write(write_fd, json.dumps(counts).encode())
            code = 0 if ok else 3
        except BaseException:
            code = 2
        finally:
            os._exit(code)
    os.close(write_fd)
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        done_pid, status = os.waitpid(pid, os.WNOHANG)
        if done_pid:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(read_fd)
        pytest.fail("the forked child hung running a job")
    with os.fdopen(read_fd, "rb") as pipe:
        payload = pipe.read()
    assert os.waitstatus_to_exitcode(status) == 0
    assert json.loads(payload) == expected


# ---------------------------------------------------------------------------
# Threads sharing one job; load
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("with_cancel", [False, True])
def test_many_threads_on_one_job(submit, with_cancel):
    job = submit(medium_circuit(), shots=10, max_parallel_threads=1)
    n = 16
    barrier = threading.Barrier(n)
    fired = []
    fired_lock = threading.Lock()

    def on_done(j):
        with fired_lock:
            fired.append(j)

    def worker(i):
        barrier.wait()
        statuses = [job.status() for _ in range(50)]
        progress = [job.progress() for _ in range(50)]
        job.add_done_callback(on_done)
        cancelled = None
        if with_cancel and i % 4 == 0:
            time.sleep(0.001 * i)
            cancelled = job.cancel()
        try:
            outcome = job.result(timeout=30)
        except JobCancelledError as err:
            outcome = err
        assert job.in_final_state()
        return statuses, progress, cancelled, outcome, job.status()

    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        outs = list(pool.map(worker, range(n)))
    final = job.status()
    assert final in ((DONE, CANCELLED) if with_cancel else (DONE,))
    for statuses, progress, _, outcome, seen_final in outs:
        ranks = [job_rank(s) for s in statuses]
        assert ranks == sorted(ranks)
        assert progress == sorted(progress) and all(0 <= p <= 1 for p in progress)
        assert seen_final is final
        if final is DONE:
            assert outcome is job.result()
        else:
            assert isinstance(outcome, JobCancelledError)
    cancels = [c for _, _, c, _, _ in outs if c is not None]
    assert cancels.count(True) == (1 if final is CANCELLED else 0)
    wait_until(lambda: len(fired) == n, 10, "every done-callback")
    time.sleep(0.05)
    assert len(fired) == n and all(j is job for j in fired)


def test_ten_thousand_tiny_jobs_from_four_threads(sim):
    circuits = [ferroq.Circuit(1, 1).h(0).measure(0, 0), bell()]

    def submit_many(k):
        return [sim.run(circuits[(k + i) % 2], shots=3, max_parallel_threads=1) for i in range(2500)]

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        batches = list(pool.map(submit_many, range(4)))
    jobs = [j for batch in batches for j in batch]
    assert len(jobs) == 10_000
    done, not_done = ferroq.wait(jobs, timeout=120)
    assert not not_done, f"{len(not_done)} jobs unfinished"
    assert len(done) == 10_000
    ids = {j.job_id() for j in jobs}
    assert len(ids) == 10_000
    for j in jobs:
        assert j.status() is DONE
        result = j.result(timeout=0)
        assert result.job_id == j.job_id()
        assert sum(result.get_counts().values()) == 3
    assert time.monotonic() - start < 60


@pytest.mark.parametrize(("kwargs", "error"), [({"tags": [1]}, JobError), ({"header": [1]}, Exception)])
def test_bad_tags_or_header_raise_before_any_job_exists(sim, occupy, kwargs, error):
    occupy()
    queued_before = _core.queue_info()[0]
    with pytest.raises(error):
        sim.run(bell(), shots=1, **kwargs)
    assert _core.queue_info()[0] == queued_before
