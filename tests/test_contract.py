"""One job contract, checked on every job kind with the same inputs.

Kinds: a local ``Job``; a ``JobSet`` on ferroq's scheduler, on a thread pool, on
a process pool and on Dask (where installed); a job read back from a job store
while another process (its owner) runs it; and the Qiskit ``FerroqJob`` /
``FerroqJobSet`` (where qiskit is installed). What a kind cannot honour is said
once, in ``LIMITS``, with why; each test runs on every kind that can
(``kinds(...)``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import pickle
import subprocess
import sys
import textwrap
import threading
import time

import ferroq
import pytest
from ferroq import JobStatus
from ferroq.exceptions import JobCancelledError, JobError, JobTimeoutError
from helpers import HANG_S, assert_prompt, h_layers, to_qiskit

SHOTS, SEED = 64, 20261206
GOOD = [
    ferroq.Circuit(2, 2, name=f"g{k}").ry(0.3 * (k + 1), 0).cx(0, 1).measure([0, 1], [0, 1]) for k in range(4)
]
# Refused when it runs (nothing but measurements may follow a save taken from
# each shot's final state): fails alone, in any chunk.
# A statevector saved after a measurement differs from shot to shot: refused
# when the circuit runs (with SHOTS > 1).
BAD = ferroq.Circuit(1, 1, name="bad").measure(0, 0).save_statevector()

KINDS = ["job", "local-set", "thread-set", "process-set", "dask-set", "stored", "qiskit-job", "qiskit-set"]

_QISKIT_PICKLE = "a Qiskit job holds its backend (a BackendV2 with its Target), which it does not pickle"
#: What a kind cannot honour, said once: kind -> {point: why}.
LIMITS: dict[str, dict[str, str]] = {
    "process-set": {
        "stops-running-task": "a process pool cannot stop a task it has started: a cancel "
        "ends the job at once and discards the task's result, but the task runs on",
    },
    "stored": {
        "refuses-unfinished-pickle": "a stored job is a view of a store row, so an unfinished "
        "one pickles as that view and reads the row again wherever it is unpickled",
    },
    "qiskit-job": {"pickles": _QISKIT_PICKLE, "refuses-unfinished-pickle": _QISKIT_PICKLE},
    "qiskit-set": {"pickles": _QISKIT_PICKLE, "refuses-unfinished-pickle": _QISKIT_PICKLE},
}


def kinds(*points: str) -> list[str]:
    """The kinds that honour every one of ``points``."""
    return [k for k in KINDS if not set(points) & set(LIMITS.get(k, {}))]


# ---------------------------------------------------------------------------
# Making jobs of each kind
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pools():
    threads = concurrent.futures.ThreadPoolExecutor(2)
    processes = concurrent.futures.ProcessPoolExecutor(2)
    yield {"thread-set": threads, "process-set": processes}
    threads.shutdown(wait=False, cancel_futures=True)
    processes.shutdown(wait=False, cancel_futures=True)


@pytest.fixture
def make(request, pools, tmp_path):
    """``make(kind, circuits)``: a job of ``kind`` over ``circuits``, cancelled at teardown."""
    made: list = []
    owners: list[subprocess.Popen[str]] = []

    def _make(kind: str, circuits: list[ferroq.Circuit]):
        sim = ferroq.Simulator(shots=SHOTS, seed=SEED)
        if kind == "job":
            job = sim.run(circuits)
        elif kind == "local-set":
            job = sim.run(circuits, max_job_size=1)
        elif kind in pools:
            job = sim.run(circuits, executor=pools[kind], max_job_size=1, max_parallel_threads=1)
        elif kind == "dask-set":
            client = request.getfixturevalue("dask_client")
            job = sim.run(circuits, executor=client, max_job_size=1, max_parallel_threads=1)
        elif kind == "stored":
            job = _run_in_another_process(circuits, tmp_path, owners)
        elif kind in ("qiskit-job", "qiskit-set"):
            pytest.importorskip("qiskit")
            from ferroq.qiskit import FerroqSimulator

            backend = FerroqSimulator(shots=SHOTS, seed_simulator=SEED)
            split = {} if kind == "qiskit-job" else {"max_job_size": 1}
            job = backend.run([to_qiskit(c) for c in circuits], **split)
        else:
            raise AssertionError(kind)
        made.append(job)
        return job

    yield _make
    for job in made:
        try:
            job.cancel()
        except Exception:
            pass
    for job in made:
        try:
            job.wait_for_final_state(timeout=60)
        except Exception:
            pass
    for owner in owners:
        try:
            owner.wait(timeout=30)
        except subprocess.TimeoutExpired:
            owner.kill()
            owner.wait()


_OWNER = textwrap.dedent(
    """
    import pickle, sys
    import ferroq
    store, circuits, shots, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    with open(circuits, "rb") as f:
        batch = pickle.load(f)
    job = ferroq.Simulator(shots=shots, seed=seed, store=store).run(batch)
    print(job.job_id(), flush=True)
    try:
        job.wait_for_final_state(timeout=600)
    except Exception:
        pass
    """
)


def _run_in_another_process(circuits, tmp_path, owners) -> ferroq.StoredJob:
    """The circuits run by another process with a job store; the job read back here."""
    store = tmp_path / "jobs.sqlite"
    blob = tmp_path / f"circuits{len(owners)}.pickle"
    blob.write_bytes(pickle.dumps(circuits))
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, str(store), str(blob), str(SHOTS), str(SEED)],
        stdout=subprocess.PIPE,
        text=True,
    )
    owners.append(owner)
    assert owner.stdout is not None
    job_id = owner.stdout.readline().strip()
    assert job_id, f"the owner process exited with {owner.wait()}"
    return ferroq.retrieve_job(job_id, store=store)


def native_result(job, *args, **kwargs) -> ferroq.Result:
    """The ferroq Result of any kind (the Qiskit jobs convert theirs: unwrap)."""
    if hasattr(job, "_job_set"):
        return job._job_set.result(*args, **kwargs)
    if type(job).__name__ == "FerroqJob":
        return job._job.result(*args, **kwargs)
    return job.result(*args, **kwargs)


def status_name(job) -> str:
    return job.status().name


def long_circuit(kind: str) -> ferroq.Circuit:
    """Minutes of work, stopped at teardown; a few seconds where a running task
    cannot be stopped (it runs to its end after the test)."""
    if "stops-running-task" not in LIMITS.get(kind, {}):
        return h_layers(20, 3000)
    return h_layers(18, 2000)


# ---------------------------------------------------------------------------
# The deadline policy: every timeout value, every wait, every kind
# ---------------------------------------------------------------------------

NO_LIMIT = [None, math.inf, 1e300, 1e10]
NO_BLOCK = [0, 0.0, -1, -math.inf, 1e-9]


@pytest.mark.parametrize("kind", KINDS)
def test_timeouts_on_a_finished_job(make, kind):
    job = make(kind, GOOD)
    job.wait_for_final_state(timeout=120)
    expected = native_result(job).get_counts()
    for timeout in NO_LIMIT + NO_BLOCK + [5, 2.5]:
        assert native_result(job, timeout=timeout).get_counts() == expected, timeout
        job.wait_for_final_state(timeout=timeout)
        assert ferroq.wait([job], timeout=timeout).done == {job}
        assert list(ferroq.as_completed([job], timeout=timeout)) == [job]
    if hasattr(job, "exception"):
        assert job.exception(timeout=0) is None


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad", [math.nan, -math.nan, "1", True, b"1", 1j, [1]])
def test_bad_timeouts_are_refused_before_waiting(make, kind, bad):
    job = make(kind, GOOD)
    error = ValueError if isinstance(bad, float) else TypeError
    calls = {
        "result": lambda: job.result(timeout=bad),
        "wait_for_final_state": lambda: job.wait_for_final_state(timeout=bad),
        "wait": lambda: ferroq.wait([job], timeout=bad),
        "as_completed": lambda: list(ferroq.as_completed([job], timeout=bad)),
    }
    if hasattr(job, "exception"):
        calls["exception"] = lambda: job.exception(timeout=bad)
    for name, call in calls.items():
        start = time.monotonic()
        with pytest.raises(error, match="timeout"):
            call()
        assert_prompt(time.monotonic() - start, what=name)


@pytest.mark.parametrize("kind", kinds())
def test_timeouts_on_a_running_job(make, kind):
    job = make(kind, [long_circuit(kind)])
    for timeout in NO_BLOCK:
        start = time.monotonic()
        with pytest.raises(JobTimeoutError):
            job.result(timeout=timeout)
        with pytest.raises(JobTimeoutError):
            job.wait_for_final_state(timeout=timeout)
        done, not_done = ferroq.wait([job], timeout=timeout)
        assert not done and not_done == {job}
        with pytest.raises(JobTimeoutError):
            list(ferroq.as_completed([job], timeout=timeout))
        assert_prompt(time.monotonic() - start, what=f"waits with timeout {timeout!r}")
    start = time.monotonic()
    with pytest.raises(JobTimeoutError):
        job.result(timeout=0.3)
    assert 0.29 <= time.monotonic() - start < 0.3 + HANG_S
    assert not job.in_final_state()  # a timeout leaves the job running


@pytest.mark.parametrize("kind", kinds())
def test_every_wait_wakes_when_a_running_job_ends(make, kind):
    """Event-driven everywhere: ``ferroq.wait``, ``as_completed``, ``await`` and
    done-callbacks over a job that is running when they start return once it ends,
    whatever kind it is (a job another process runs included)."""
    ended = threading.Event()
    jobs = [make(kind, [h_layers(16, 150)]) for _ in range(3)]
    jobs[0].add_done_callback(lambda j: ended.set())
    done, not_done = ferroq.wait(jobs[:1], timeout=120)
    assert done == {jobs[0]} and not not_done
    assert ended.wait(HANG_S), "the done-callback did not fire"
    assert list(ferroq.as_completed(jobs[1:2], timeout=120)) == [jobs[1]]

    async def main():
        return await jobs[2]

    asyncio.run(asyncio.wait_for(main(), 120))
    assert all(j.in_final_state() for j in jobs)


# ---------------------------------------------------------------------------
# Partial results: a failing circuit costs only itself, whatever runs it
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["job", "local-set", "thread-set", "process-set", "dask-set", "stored"])
@pytest.mark.parametrize("position", [0, 2, 4])
def test_partial_results_with_a_failure_at_any_position(make, kind, position):
    batch = list(GOOD)
    batch.insert(position, BAD)
    job = make(kind, batch)
    job.wait_for_final_state(timeout=120)
    assert status_name(job) == "ERROR"
    with pytest.raises(Exception) as info:
        job.result()
    assert not isinstance(info.value, (JobTimeoutError, JobCancelledError))
    part = job.result(partial=True)
    assert sorted(part.missing) == [position]
    assert "comes after a measurement" in str(part.missing[position])
    reference = ferroq.Simulator(shots=SHOTS, seed=SEED).run(batch).result(partial=True)
    for i in range(len(batch)):
        if i != position:
            assert part.get_counts(i) == reference.get_counts(i), i


@pytest.mark.parametrize("kind", ["qiskit-job", "qiskit-set"])
def test_qiskit_jobs_return_partial_results(make, kind):
    batch = [GOOD[0], BAD, GOOD[1]]
    job = make(kind, batch)
    job.wait_for_final_state(timeout=120)
    part = native_result(job, partial=True)
    assert sorted(part.missing) == [1]


def test_a_qiskit_job_set_on_an_executor_keeps_its_good_experiments(pools):
    qiskit = pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator

    good = qiskit.QuantumCircuit(1, 1)
    good.x(0)
    good.measure(0, 0)
    bad = to_qiskit(BAD)  # fails when it runs, alone
    backend = FerroqSimulator(shots=10, seed_simulator=1)
    job = backend.run([good, bad, good], executor=pools["thread-set"], max_job_size=3)
    job.wait_for_final_state(timeout=60)
    result = job.result(partial=True)
    assert [r.success for r in result.results] == [True, False, True]
    assert result.get_counts(0) == {"1": 10}


# ---------------------------------------------------------------------------
# Callbacks that raise anything harm nothing else
# ---------------------------------------------------------------------------


def _raiser(kind_of: type[BaseException]):
    def callback(_job):
        if kind_of is SystemExit:
            sys.exit(3)
        raise kind_of("from a user callback")

    return callback


@pytest.mark.parametrize("kind", kinds())
@pytest.mark.parametrize("error", [ValueError, SystemExit, KeyboardInterrupt, GeneratorExit])
def test_a_raising_done_callback_harms_nothing(make, kind, error, caplog):
    first = make(kind, [h_layers(14, 200)])
    fired: list[str] = []
    first.add_done_callback(_raiser(error))
    first.add_done_callback(lambda j: fired.append("same job"))
    first.wait_for_final_state(timeout=120)
    deadline = time.monotonic() + HANG_S
    while not fired and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fired == ["same job"]
    # The notifier lives on: later jobs' callbacks fire, and await works.
    second = make(kind, GOOD)
    later = threading.Event()
    second.add_done_callback(lambda j: later.set())
    assert later.wait(60)

    async def main():
        return await make(kind, GOOD)

    assert asyncio.run(asyncio.wait_for(main(), 60)).get_counts(0)
    assert any("raised" in r.getMessage() for r in caplog.records)


def test_a_raising_progress_callback_harms_nothing(caplog):
    sim = ferroq.Simulator(shots=8)

    def exits(event):
        sys.exit(2)

    first = sim.run(GOOD, callback=exits)
    first.result(timeout=60)
    events: list = []
    second = sim.run(GOOD, callback=events.append)
    second.result(timeout=60)
    ferroq.wait_for_progress(second)
    assert events and events[-1].final


# ---------------------------------------------------------------------------
# Cancel, await, pickling, predicates
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", kinds())
def test_cancel_a_running_job(make, kind):
    job = make(kind, [long_circuit(kind)])
    deadline = time.monotonic() + 60
    while status_name(job) != "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    assert job.cancel() is True
    assert status_name(job) == "CANCELLED"
    assert_prompt(time.monotonic() - start, what="cancel()")
    assert job.cancel() is False
    with pytest.raises(JobCancelledError):
        job.result(timeout=10)
    assert isinstance(JobCancelledError("x"), concurrent.futures.CancelledError)
    part = native_result(job, partial=True)
    assert set(part.missing) == {0}
    assert (job.cancelled(), job.done(), job.in_final_state(), job.running()) == (True, False, True, False)


@pytest.mark.parametrize("kind", kinds("pickles"))
def test_finished_jobs_pickle_and_keep_their_contract(make, kind):
    job = make(kind, GOOD)
    result = job.result(timeout=120)
    copy = pickle.loads(pickle.dumps(job))
    assert copy.status() is JobStatus.DONE
    assert copy.result(timeout=0).get_counts() == result.get_counts()
    assert ferroq.wait([copy], timeout=0).done == {copy}
    assert (copy.done(), copy.cancelled(), copy.in_final_state()) == (True, False, True)


@pytest.mark.parametrize("kind", kinds("refuses-unfinished-pickle"))
def test_unfinished_jobs_refuse_to_pickle_promptly(make, kind):
    job = make(kind, [long_circuit(kind)])
    start = time.monotonic()
    with pytest.raises(JobError, match="cannot pickle"):
        pickle.dumps(job)
    assert_prompt(time.monotonic() - start, what="pickling an unfinished job")


def test_limits_are_said_once():
    assert set(LIMITS) <= set(KINDS)


def test_a_locked_store_does_not_stall_other_jobs_progress(tmp_path):
    """The store's duties run on their own thread: while a locked store holds up a
    stored job's status writes (30 s busy timeout), other jobs' progress still flows."""
    import sqlite3

    store = tmp_path / "jobs.sqlite"
    stored = ferroq.Simulator(store=store, shots=1).run(h_layers(18, 300))
    lock = sqlite3.connect(store, timeout=0, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        events: list = []
        other = ferroq.Simulator(shots=8).run(GOOD, callback=events.append)
        other.result(timeout=60)
        start = time.monotonic()
        ferroq.wait_for_progress(other, timeout=HANG_S)
        assert_prompt(time.monotonic() - start, what="progress while the store is locked")
        assert events[-1].final
        assert any(t.name == "ferroq-store" for t in threading.enumerate())
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    stored.result(timeout=120)
    ferroq.wait_for_progress(stored, timeout=60)
    assert ferroq.retrieve_job(stored.job_id(), store=store).status() is JobStatus.DONE
