"""The persistent job store: ``Simulator(store=...)``, ``retrieve_job`` and ``jobs``."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import json
import os
import pathlib
import pickle
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import ferroq
import numpy as np
import pytest
from ferroq import JobStatus
from ferroq.exceptions import JobCancelledError, JobError, JobTimeoutError, OptionError, OptionTypeError
from helpers import saving
from hypothesis import given, settings
from hypothesis import strategies as st

HOST = socket.gethostname()


@pytest.fixture(autouse=True)
def _no_env_store(monkeypatch):
    monkeypatch.delenv("FERROQ_STORE", raising=False)


@pytest.fixture
def store(tmp_path):
    return tmp_path / "jobs.sqlite"


def bell(name="bell"):
    return ferroq.Circuit(2, 2, name=name).h(0).cx(0, 1).measure([0, 1], [0, 1])


def long_circuit(n=22, layers=400):
    c = ferroq.Circuit(n)
    for layer in range(layers):
        for q in range(n):
            c.rx(0.1 + layer * 0.01 + q * 0.001, q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c


def run_python(code, *args, timeout=60):
    """Runs ``code`` in a fresh interpreter; returns its stdout."""
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_same_result(a, b):
    assert len(a) == len(b)
    assert a.seed == b.seed
    for x, y in zip(a.results, b.results, strict=True):
        assert (x.name, x.shots, x.seed, x.num_qubits, x.num_clbits) == (
            y.name,
            y.shots,
            y.seed,
            y.num_qubits,
            y.num_clbits,
        )
        assert x.counts() == y.counts()
        assert x.memory() == y.memory()
        sx, sy = x.statevector(), y.statevector()
        assert (sx is None) == (sy is None)
        if sx is not None:
            np.testing.assert_array_equal(sx, sy)
        assert x.saved_kinds() == y.saved_kinds()
        for label, value in x.saved().items():
            other = y.saved()[label]
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(other, value)
            else:
                assert other == value


def wait_stored(job_id, store, timeout=30):
    """The stored job once its final state is written (the write runs on a callback thread)."""
    stored = ferroq.retrieve_job(job_id, store=store)
    stored.wait_for_final_state(timeout=timeout)
    return stored


# ---------------------------------------------------------------- options
def test_the_store_is_off_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sim = ferroq.Simulator()
    assert sim.options["store"] is None
    sim.run(bell(), shots=10).result(timeout=30)
    sim.run([bell()] * 3, shots=10, max_job_size=1).result(timeout=30)
    assert list(tmp_path.iterdir()) == []
    assert ferroq.jobs(store=tmp_path / "none.sqlite") == []
    with pytest.raises(JobError, match="no job store"):
        ferroq.jobs()


def test_store_option_types(store):
    with pytest.raises(OptionTypeError, match="store"):
        ferroq.Simulator(store=5)
    with pytest.raises(OptionError, match="store"):
        ferroq.Simulator(store="")
    assert ferroq.Simulator(store=store).options["store"] == str(store)
    assert ferroq.Simulator(store=str(store)).options["store"] == str(store)
    assert not store.exists()  # opened at the first run only


def test_a_bad_store_raises_before_any_job(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(JobError, match="cannot open the job store"):
        ferroq.Simulator(store=blocker / "jobs.sqlite").run(bell())


def test_env_var_is_the_default(store, monkeypatch):
    monkeypatch.setenv("FERROQ_STORE", str(store))
    job = ferroq.Simulator().run(bell(), shots=10, seed=1)
    job.result(timeout=30)
    stored = wait_stored(job.job_id(), None)
    assert stored.result().get_counts() == job.result().get_counts()
    assert [j.job_id() for j in ferroq.jobs()] == [job.job_id()]
    # store=None turns it off for a simulator or a run
    ferroq.Simulator(store=None).run(bell(), shots=10).result(timeout=30)
    ferroq.Simulator().run(bell(), shots=10, store=None).result(timeout=30)
    assert len(ferroq.jobs(limit=None)) == 1


# ------------------------------------------------------------- round trips
def test_round_trip_in_process(store):
    sim = ferroq.Simulator(store=store, seed=5)
    circuits = [bell("a"), saving(), ferroq.Circuit(3, name="sv").h(0).cx(0, 2)]
    job = sim.run(
        circuits, shots=50, memory=True, statevector=True, name="rt", tags=["x", "y"], header={"k": [1, 2]}
    )
    result = job.result(timeout=30)
    stored = wait_stored(job.job_id(), store)
    assert isinstance(stored, ferroq.StoredJob) and not isinstance(stored, ferroq.Job)  # a kind of its own
    assert stored.kind == "job"
    assert stored.job_id() == job.job_id()
    assert stored.status() is JobStatus.DONE and stored.done() and stored.in_final_state()
    assert stored.name() == "rt" and stored.tags() == ["x", "y"] and stored.header() == {"k": [1, 2]}
    assert stored.backend_options() == dict(job.backend_options(), store=str(store))
    assert stored.metadata == job.metadata
    assert stored.error_message() is None and stored.exception() is None
    assert stored.time_per_step() == job.time_per_step()
    assert list(stored.time_per_step()) == list(job.time_per_step())
    assert stored.creation_date() == job.creation_date()
    assert [c._native.to_bytes() for c in stored.circuits()] == [c._native.to_bytes() for c in circuits]
    assert stored.owner == {"pid": os.getpid(), "hostname": HOST}
    assert stored.progress() == 1.0 and stored.cancel() is False
    with pytest.raises(JobError, match="job store"):
        stored.backend()
    assert_same_result(stored.result(timeout=5), result)
    assert stored.result().data("saving").keys() == {"statevector", "p1", "pd", "amplitudes", "ev"}
    np.testing.assert_array_equal(stored.result().get_statevector("sv"), result.get_statevector("sv"))
    copy = pickle.loads(pickle.dumps(stored))
    assert (copy.job_id(), copy.status(), copy.owner, copy.kind) == (
        job.job_id(),
        JobStatus.DONE,
        stored.owner,
        "job",
    )
    assert_same_result(copy.result(), result)
    assert asyncio.run(_await(stored)).get_counts() == result.get_counts()


async def _await(job):
    return await job


def test_the_final_write_needs_no_result_call(store):
    sim = ferroq.Simulator(store=store, shots=10)
    job = sim.run(bell())
    job.wait_for_final_state(timeout=30)
    assert wait_stored(job.job_id(), store).status() is JobStatus.DONE


def test_blocking_jobs_are_stored(store):
    job = ferroq.Simulator(store=store, shots=10, blocking=True).run(bell())
    assert wait_stored(job.job_id(), store).result().get_counts() == job.result().get_counts()


def test_a_running_job_read_in_process_waits_for_its_end(store):
    sim = ferroq.Simulator(store=store)
    job = sim.run(long_circuit(20, 60))
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    assert stored.status() in (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE)
    result = stored.result(timeout=60)
    assert stored.status() is JobStatus.DONE
    assert_same_result(result, job.result())


def test_cancelled_jobs_are_stored(store):
    sim = ferroq.Simulator(store=store)
    job = sim.run(long_circuit())
    assert job.cancel()
    stored = wait_stored(job.job_id(), store)
    assert stored.status() is JobStatus.CANCELLED and stored.cancelled()
    assert stored.error_message() is None
    with pytest.raises(JobCancelledError):
        stored.result()
    with pytest.raises(JobCancelledError):
        stored.exception()
    assert "CANCELLED" in stored.time_per_step()


def test_timeout_on_an_unfinished_stored_job(store):
    sim = ferroq.Simulator(store=store)
    job = sim.run(long_circuit())
    try:
        stored = ferroq.retrieve_job(job.job_id(), store=store)
        start = time.monotonic()
        with pytest.raises(JobTimeoutError):
            stored.result(timeout=0.2)
        assert time.monotonic() - start < 5
    finally:
        job.cancel()


def test_job_sets_are_stored_as_one_row(store):
    sim = ferroq.Simulator(store=store, shots=30, seed=9)
    circuits = [bell(f"c{i}") for i in range(5)]
    local = sim.run(circuits, max_job_size=2, statevector=True, name="set")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        remote = sim.run(circuits, executor=pool)
        remote.result(timeout=60)
    for job_set in (local, remote):
        stored = wait_stored(job_set.job_id(), store)
        assert stored.kind == "jobset"
        assert_same_result(stored.result(), job_set.result())
        assert stored.metadata == job_set.metadata
    assert (
        ferroq.retrieve_job(remote.job_id(), store=store)
        .backend_options()["executor"]
        .startswith("ThreadPoolExecutor")
    )
    assert len(ferroq.jobs(limit=None, store=store)) == 2  # the chunks have no rows of their own


def test_a_failed_job_set_stores_its_error(store):
    sim = ferroq.Simulator(store=store, statevector=True, max_memory_mb=1)
    job_set = sim.run([ferroq.Circuit(2), ferroq.Circuit(30)], max_job_size=1)
    job_set.wait_for_final_state(timeout=30)
    stored = wait_stored(job_set.job_id(), store)
    assert stored.status() is JobStatus.ERROR
    assert stored.error_message() == job_set.error_message()
    with pytest.raises(JobError, match="SimulationMemoryError"):
        stored.result()


# --------------------------------------------------------- other processes
WRITER = """
import json, sys
import ferroq
store = sys.argv[1]
sim = ferroq.Simulator(store=store, seed=21, shots=40)
c = ferroq.Circuit(2, 2, name="w").h(0).cx(0, 1).measure([0, 1], [0, 1])
done = sim.run([c, c], memory=True, statevector=True, name="written", tags=["proc"])
other = sim.run(c, name="never-asked")
other.wait_for_final_state(timeout=30)  # no result() call: the store still gets the result
print(json.dumps({"done": done.job_id(), "other": other.job_id(), "counts": done.result().get_counts()}))
"""


def test_another_process_writes_this_one_reads(store):
    out = json.loads(run_python(WRITER, store))
    stored = ferroq.retrieve_job(out["done"], store=store)
    assert stored.status() is JobStatus.DONE
    assert stored.name() == "written" and stored.tags() == ["proc"]
    assert stored.result().get_counts() == out["counts"]
    c = bell("w")
    again = ferroq.Simulator(seed=21, shots=40).run([c, c], memory=True, statevector=True).result(timeout=30)
    assert_same_result(stored.result(), again)
    assert stored.owner["pid"] != os.getpid() and stored.owner["hostname"] == HOST
    never = ferroq.retrieve_job(out["other"], store=store)
    assert never.status() is JobStatus.DONE and never.result().get_counts()


READER = """
import json, sys
import ferroq
job = ferroq.retrieve_job(sys.argv[2], store=sys.argv[1])
result = job.result(timeout=30)
listed = [j.job_id() for j in ferroq.jobs(store=sys.argv[1])]
print(json.dumps({"status": job.status().name, "name": job.name(), "counts": result.get_counts(),
                  "state": [[z.real, z.imag] for z in result.get_statevector(0)],
                  "saved": sorted(result.data(1)), "listed": listed}))
"""


def test_this_process_writes_another_reads(store):
    sim = ferroq.Simulator(store=store, seed=4, shots=25)
    job = sim.run([bell(), saving()], statevector=True, name="mine")
    result = job.result(timeout=30)
    wait_stored(job.job_id(), store)
    out = json.loads(run_python(READER, store, job.job_id()))
    assert out["status"] == "DONE" and out["name"] == "mine"
    assert out["counts"] == result.get_counts()
    np.testing.assert_array_equal(np.array([complex(*z) for z in out["state"]]), result.get_statevector(0))
    assert out["saved"] == sorted(result.data(1))
    assert out["listed"] == [job.job_id()]


KILLED = """
import sys, time
import ferroq
n, layers = 22, 400
c = ferroq.Circuit(n)
for layer in range(layers):
    for q in range(n):
        c.rx(0.1 + layer * 0.01 + q * 0.001, q)
    for q in range(n - 1):
        c.cx(q, q + 1)
job = ferroq.Simulator(store=sys.argv[1]).run(c, name="doomed")
while job.status() is not ferroq.JobStatus.RUNNING:
    time.sleep(0.01)
print(job.job_id(), flush=True)
time.sleep(120)
"""


def test_a_job_whose_process_was_killed_reads_as_error(store):
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED), str(store)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        job_id = proc.stdout.readline().strip()
        assert job_id
        alive = ferroq.retrieve_job(job_id, store=store)
        assert alive.status() in (JobStatus.QUEUED, JobStatus.RUNNING)  # as recorded at submission
        assert alive.owner == {"pid": proc.pid, "hostname": HOST}
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    message = f"process {proc.pid} on host {HOST} ended before the job finished"
    assert alive.status() is JobStatus.ERROR  # the same object notices on its next read
    stored = ferroq.retrieve_job(job_id, store=store)
    assert stored.status() is JobStatus.ERROR
    assert stored.error_message() == message
    with pytest.raises(JobError, match=message):
        stored.result(timeout=5)
    assert "ERROR" in stored.time_per_step()
    assert [j.job_id() for j in ferroq.jobs(status="ERROR", store=store)] == [job_id]


def _fake_owner(store, job_id, **columns):
    assignments = ", ".join(f"{k} = ?" for k in columns)
    with sqlite3.connect(store) as conn:
        conn.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*columns.values(), job_id))
    conn.close()


def test_pid_reuse_and_other_hosts(store):
    job = ferroq.Simulator(store=store, shots=5).run(bell())
    job.result(timeout=30)
    wait_stored(job.job_id(), store)
    # Our own live pid, but a start marker from another process: that process ended.
    _fake_owner(store, job.job_id(), status="RUNNING", pid=os.getpid(), pid_start="1")
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    assert stored.status() is JobStatus.ERROR
    assert "ended before the job finished" in stored.error_message()
    # Live and the same process: left as it is.
    _fake_owner(store, job.job_id(), status="RUNNING", pid=os.getpid(), pid_start=None)
    assert ferroq.retrieve_job(job.job_id(), store=store).status() is JobStatus.RUNNING
    # Another host: left as it is, owner says where.
    _fake_owner(store, job.job_id(), status="RUNNING", pid=1, hostname="elsewhere")
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    assert stored.status() is JobStatus.RUNNING
    assert stored.owner == {"pid": 1, "hostname": "elsewhere"}
    assert stored.cancel() is False


# ------------------------------------------------------------ concurrency
CONCURRENT = """
import sys
import ferroq
sim = ferroq.Simulator(store=sys.argv[1], shots=20)
c = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
jobs = [sim.run(c, tags=["proc", sys.argv[2]]) for _ in range(10)]
for j in jobs:
    j.result(timeout=60)
"""


def test_concurrent_writers_lose_nothing(store):
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", textwrap.dedent(CONCURRENT), str(store), f"p{i}"], env=env)
        for i in range(3)
    ]
    sim = ferroq.Simulator(store=store, shots=20)
    ids: list[str] = []
    lock = threading.Lock()

    def submit():
        for _ in range(10):
            job = sim.run(bell(), tags=["thread"])
            with lock:
                ids.append(job.job_id())

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        assert p.wait(timeout=60) == 0
    listed = ferroq.jobs(limit=None, store=store)
    assert len(listed) == 70
    assert len({j.job_id() for j in listed}) == 70
    assert set(ids) <= {j.job_id() for j in listed}
    for j in listed:
        j.wait_for_final_state(timeout=30)
        assert j.status() is JobStatus.DONE
    assert len(ferroq.jobs(limit=None, tags=["proc"], store=store)) == 30
    assert len(ferroq.jobs(limit=None, tags=["proc", "p1"], store=store)) == 10


# ---------------------------------------------------------------- listing
def test_listing_and_filters(store):
    sim = ferroq.Simulator(store=store, shots=5)
    first = sim.run(bell(), name="a", tags=["t1"])
    first.result(timeout=30)
    time.sleep(0.02)
    middle = datetime.datetime.now().astimezone()
    time.sleep(0.02)
    second = sim.run(bell(), name="b", tags=["t1", "t2"])
    third = sim.run(long_circuit(), name="a", tags=["t2"])
    third.cancel()
    second.result(timeout=30)
    for j in (first, second, third):
        wait_stored(j.job_id(), store)

    def ids(**kw):
        return [j.job_id() for j in ferroq.jobs(store=store, **kw)]

    assert ids() == [third.job_id(), second.job_id(), first.job_id()]  # newest first
    assert ids(limit=2) == [third.job_id(), second.job_id()]
    assert ids(limit=0) == []
    assert ids(status="DONE") == [second.job_id(), first.job_id()]
    assert ids(status=JobStatus.CANCELLED) == [third.job_id()]
    assert ids(status=["cancelled", JobStatus.DONE], limit=1) == [third.job_id()]
    assert ids(name="a") == [third.job_id(), first.job_id()]
    assert ids(tags=["t1"]) == [second.job_id(), first.job_id()]
    assert ids(tags=["t1", "t2"]) == [second.job_id()]
    assert ids(tags=["t2"], limit=1) == [third.job_id()]
    assert ids(since=middle) == [third.job_id(), second.job_id()]
    assert ids(since=middle.timestamp(), name="b") == [second.job_id()]
    assert ids(since=time.time() + 60) == []
    with pytest.raises(ValueError, match="unknown job status"):
        ferroq.jobs(status="FINISHED", store=store)
    with pytest.raises(ValueError, match="limit"):
        ferroq.jobs(limit=-1, store=store)


# ------------------------------------------------------------- corruption
@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("tags", "not json"),
        ("status", "SOMEWHERE"),
        ("steps", "[1, 2]"),
        ("options", "3"),
        ("header", "{"),
        ("circuits", b"\x01\x00\x00\x00\x00\x00\x00\x00\xff"),
    ],
)
def test_a_corrupted_row_gives_a_clear_error(store, column, value):
    good = ferroq.Simulator(store=store, shots=5).run(bell())
    bad = ferroq.Simulator(store=store, shots=5).run(bell())
    for j in (good, bad):
        j.result(timeout=30)
        wait_stored(j.job_id(), store)
    _fake_owner(store, bad.job_id(), **{column: value})
    with pytest.raises(JobError, match=f"job {bad.job_id()}: stored column '{column}' is corrupted"):
        ferroq.retrieve_job(bad.job_id(), store=store)
    with pytest.warns(UserWarning, match=f"stored column '{column}'"):
        listed = ferroq.jobs(store=store)
    assert [j.job_id() for j in listed] == [good.job_id()]


def test_a_corrupted_result_gives_a_clear_error(store):
    job = ferroq.Simulator(store=store, shots=5).run(bell())
    job.result(timeout=30)
    wait_stored(job.job_id(), store)
    _fake_owner(store, job.job_id(), result=b"garbage")
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    assert stored.status() is JobStatus.DONE
    with pytest.raises(JobError, match=f"job {job.job_id()}: stored column 'result' is corrupted"):
        stored.result()
    _fake_owner(store, job.job_id(), result=None)
    with pytest.raises(JobError, match="'result' is corrupted"):
        ferroq.retrieve_job(job.job_id(), store=store).result()


def test_unknown_jobs_stores_and_versions(store, tmp_path):
    with pytest.raises(JobError, match="no job store"):
        ferroq.retrieve_job("x", store=tmp_path / "missing.sqlite")
    ferroq.Simulator(store=store, shots=5).run(bell()).result(timeout=30)
    with pytest.raises(JobError, match="no job nope"):
        ferroq.retrieve_job("nope", store=store)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as conn:
        conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(JobError, match="schema version 99"):
        ferroq.jobs(store=newer)
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JobError, match="cannot open the job store"):
        ferroq.jobs(store=garbage)


def test_the_schema_is_versioned_and_in_wal_mode(store):
    ferroq.Simulator(store=store, shots=5).run(bell()).result(timeout=30)
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert pathlib.Path(store).exists()


V1_SCHEMA = """
CREATE TABLE jobs (job_id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, tags TEXT NOT NULL,
    status TEXT NOT NULL, steps TEXT NOT NULL, options TEXT NOT NULL, header TEXT NOT NULL,
    metadata TEXT NOT NULL, circuits BLOB NOT NULL, result BLOB, error_type TEXT, error_message TEXT,
    pid INTEGER NOT NULL, hostname TEXT NOT NULL, pid_start TEXT, created REAL NOT NULL,
    updated REAL NOT NULL);
"""


def test_a_version_1_store_is_upgraded_in_place(store):
    conn = sqlite3.connect(store)
    conn.executescript(V1_SCHEMA + "PRAGMA user_version = 1;")
    conn.close()
    job = ferroq.Simulator(store=store, shots=5).run(bell(), name="after upgrade")
    job.result(timeout=30)
    assert wait_stored(job.job_id(), store).name() == "after upgrade"
    with sqlite3.connect(store) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()


RUNNER = """
import sys, time
import ferroq
sys.path.insert(0, sys.argv[2])
from test_store import long_circuit
job = ferroq.Simulator(store=sys.argv[1]).run(long_circuit(20, 2000), name="long", tags=["t"])
print(job.job_id(), flush=True)
try:
    job.result(timeout=120)
    print("DONE", flush=True)
except ferroq.JobCancelledError:
    print("CANCELLED", flush=True)
"""


def test_another_process_sees_running_and_can_cancel(store):
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUNNER), str(store), os.path.dirname(__file__)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        job_id = proc.stdout.readline().strip()
        stored = ferroq.retrieve_job(job_id, store=store)
        deadline = time.monotonic() + 30
        while stored.status() is not JobStatus.RUNNING:
            assert time.monotonic() < deadline, stored.status()
            time.sleep(0.05)
        assert "RUNNING" in stored.time_per_step()
        # Renames from another process are written to the store.
        stored.update_name("renamed")
        stored.update_tags(["t", "u"])
        again = ferroq.retrieve_job(job_id, store=store)
        assert again.name() == "renamed" and again.tags() == ["t", "u"]
        assert again.cancel() is True
        assert again.status() is JobStatus.CANCELLED
        assert proc.stdout.readline().strip() == "CANCELLED"
        assert proc.wait(timeout=30) == 0
        with pytest.raises(JobCancelledError):
            ferroq.retrieve_job(job_id, store=store).result(timeout=5)
        assert again.cancel() is False  # already ended
    finally:
        proc.kill()
        proc.wait()


def test_renaming_a_stored_job_in_its_own_process_is_persisted(store):
    job = ferroq.Simulator(store=store, shots=5).run(bell(), name="first", tags=["a"])
    job.result(timeout=30)
    job.update_name("second")
    job.update_tags(["b"])
    stored = wait_stored(job.job_id(), store)
    assert stored.name() == "second" and stored.tags() == ["b"]


def test_a_result_too_large_for_sqlite_says_so(store, monkeypatch):
    from ferroq import _store

    real = _store._connect

    def small(path, write=None):
        conn = real(path, write)
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, 10_000)
        return conn

    monkeypatch.setattr(_store, "_connect", small)
    job = ferroq.Simulator(store=store, shots=5).run(ferroq.Circuit(12).h(0), statevector=True)
    job.result(timeout=30)
    stored = wait_stored(job.job_id(), store)
    assert stored.status() is JobStatus.DONE
    with pytest.raises(JobError, match="the result was not stored: string or blob too big"):
        stored.result()


# ------------------------------------------------------ damaged rows: text that is not UTF-8
def _done_jobs(store, *names):
    """Runs one finished job per name in ``store``; returns their ids once stored final."""
    ids = []
    for name in names:
        job = ferroq.Simulator(store=store, shots=5).run(bell(), name=name)
        job.result(timeout=30)
        wait_stored(job.job_id(), store)
        ids.append(job.job_id())
    return ids


def _put_bytes(store, job_id, column, raw):
    """Writes ``raw`` into ``column`` as TEXT (what a damaged disk or another tool leaves)."""
    conn = sqlite3.connect(store)
    with conn:
        conn.execute(f"UPDATE jobs SET {column} = CAST(? AS TEXT) WHERE job_id = ?", (raw, job_id))
    conn.close()


def _not_utf8(raw):
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


TEXT_COLUMNS = [
    "kind", "name", "tags", "status", "steps", "options", "header", "metadata", "error_type",
    "error_message", "hostname", "pid_start",
]  # fmt: skip


@pytest.mark.parametrize("column", TEXT_COLUMNS)
def test_text_that_is_not_utf8_costs_only_its_row(store, column):
    """One row's undecodable text used to fail every listing with a raw
    sqlite3.OperationalError; now that row is skipped with a warning naming it."""
    good, bad = _done_jobs(store, "good", "bad")
    original = {}
    conn = sqlite3.connect(store)
    original = conn.execute(f"SELECT {column} FROM jobs WHERE job_id = ?", (bad,)).fetchone()[0]
    conn.close()

    @settings(max_examples=15, deadline=None)
    @given(raw=st.binary(min_size=1, max_size=12).filter(_not_utf8))
    def check(raw):
        _put_bytes(store, bad, column, raw)
        pattern = f"job {bad}: stored column '{column}' is corrupted \\(not UTF-8 text"
        with pytest.raises(JobError, match=pattern):
            ferroq.retrieve_job(bad, store=store)
        with pytest.warns(UserWarning, match=pattern):
            listed = ferroq.jobs(store=store)
        assert [j.job_id() for j in listed] == [good]
        assert ferroq.retrieve_job(good, store=store).result().get_counts()

    check()
    conn = sqlite3.connect(store)
    with conn:
        conn.execute(f"UPDATE jobs SET {column} = ? WHERE job_id = ?", (original, bad))
    conn.close()
    assert {j.job_id() for j in ferroq.jobs(store=store)} == {good, bad}


def test_a_job_id_that_is_not_utf8_costs_only_its_row(store, tmp_path):
    from ferroq import _store

    good, bad = _done_jobs(store, "good", "bad")
    _put_bytes(store, bad, "job_id", b"\xff\xfe" + bad.encode()[2:])
    with pytest.warns(UserWarning, match="stored column 'job_id' is corrupted"):
        assert [j.job_id() for j in ferroq.jobs(store=store)] == [good]
    with pytest.raises(JobError, match=f"no job {bad}"):
        ferroq.retrieve_job(bad, store=store)
    # The only job of a store, found by the empty prefix (as `ferroq show ""` does).
    alone = tmp_path / "alone.sqlite"
    (only,) = _done_jobs(alone, "only")
    _put_bytes(alone, only, "job_id", b"\xff" + only.encode()[1:])
    with pytest.raises(JobError, match="stored column 'job_id' is corrupted"):
        _store.retrieve_job_by_prefix("", store=alone)


@pytest.mark.parametrize(
    ("column", "value"),
    [("kind", b"job"), ("name", b"bell"), ("hostname", b"host"), ("pid", "x"), ("error_message", b"oops")],
)
def test_a_value_of_the_wrong_type_costs_only_its_row(store, column, value):
    """A blob where text belongs (or text where a number does) is named, not used."""
    good, bad = _done_jobs(store, "good", "bad")
    _fake_owner(store, bad, **{column: value})
    with pytest.raises(JobError, match=f"job {bad}: stored column '{column}' is corrupted"):
        ferroq.retrieve_job(bad, store=store)
    with pytest.warns(UserWarning, match=f"stored column '{column}'"):
        assert [j.job_id() for j in ferroq.jobs(store=store)] == [good]


# ------------------------------------------------------------ read-only stores
STORE_WRITER = """
import sys
import ferroq
path = sys.argv[1]
c = ferroq.Circuit(2, 2, name="bell").h(0).cx(0, 1).measure([0, 1], [0, 1])
ids = []
for name in sys.argv[2:]:
    job = ferroq.Simulator(store=path, shots=10, seed=3).run(c, name=name)
    job.result(timeout=60)
    ids.append(job.job_id())
print(" ".join(ids))
"""

#: Starts a child that reads with the rights of a user for whom the store is
#: read-only: root ignores file permissions, so as root the child imports what it
#: needs, then becomes nobody (the store's files are then nobody's, see below).
BECOME_READER = """
import json, os, sys, warnings
import ferroq
from ferroq.exceptions import JobError
ferroq.Simulator(shots=1).run(ferroq.Circuit(1, 1).measure(0, 0)).result(timeout=60)
if os.geteuid() == 0:
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError as err:
        print(json.dumps({"skip": f"cannot become nobody: {err}"}))
        sys.exit(0)
"""

READ_ONLY_READER = (
    BECOME_READER
    + """
path, done, elsewhere, dead = sys.argv[1:5]
if os.access(path, os.W_OK) and os.access(os.path.dirname(path), os.W_OK):
    print(json.dumps({"skip": "the store is writable here despite its permissions"}))
    sys.exit(0)
out = {}
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    out["listed"] = {j.name(): j.status().name for j in ferroq.jobs(store=path)}
    out["errors"] = [j.name() for j in ferroq.jobs(status="ERROR", store=path)]
    out["running"] = [j.name() for j in ferroq.jobs(status=["RUNNING"], store=path)]
    stored = ferroq.retrieve_job(done, store=path)
    out["counts"] = stored.result(timeout=5).get_counts()
    out["status"] = stored.status().name
    ended = ferroq.retrieve_job(dead, store=path)
    out["ended"] = [ended.status().name, ended.error_message(), list(ended.time_per_step())]
    other = ferroq.retrieve_job(elsewhere, store=path)
    out["other"] = other.status().name
out["warnings"] = [str(w.message) for w in caught]

def refused(fn):
    try:
        fn()
    except JobError as err:
        return str(err)
    except Exception as err:
        return f"wrong error {type(err).__name__}: {err}"
    return "not refused"

c = ferroq.Circuit(1, 1).measure(0, 0)
out["run"] = refused(lambda: ferroq.Simulator(store=path).run(c))
out["rename"] = refused(lambda: stored.update_name("renamed"))
out["name_after"] = stored.name()
out["retag"] = refused(lambda: stored.update_tags(["t"]))
out["cancel"] = refused(other.cancel)
print(json.dumps(out))
"""
)


@pytest.fixture
def shared_dir():
    """A directory another user can enter (pytest's own temporary directories are
    private to their user); permissions restored and removed afterwards."""
    import shutil
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp(prefix="ferroq-store-"))
    path.chmod(0o755)
    yield path
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path, ignore_errors=True)


def _as_reader(path, file_mode, dir_mode):
    """Sets the permissions of the store and its directory for their owner, the
    child's user (nobody, when the tests run as root). Write-ahead-log files that
    a writer has open stay its own: read-only to the child."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
        os.chown(path.parent, 65534, 65534)
    for suffix in ("-wal", "-shm"):
        log = path.with_name(path.name + suffix)
        if log.exists():
            log.chmod(0o444)
    path.chmod(file_mode)
    path.parent.chmod(dir_mode)


def _run_reader(code, *args):
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    env["HOME"] = "/"
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if "skip" in out:
        pytest.skip(out["skip"])
    return out


def _digest(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("writer_open", [False, True], ids=["closed", "writer-open"])
@pytest.mark.parametrize(
    ("file_mode", "dir_mode"),
    [(0o444, 0o755), (0o644, 0o555), (0o444, 0o555)],
    ids=["read-only-file", "read-only-directory", "both"],
)
def test_a_read_only_store_reads_and_refuses_writes_naming_the_store(
    shared_dir, file_mode, dir_mode, writer_open
):
    """A store one may read but not write (a read-only file, or a directory where
    SQLite cannot create its write-ahead log) used to fail every read with
    "attempt to write a readonly database"."""
    path = shared_dir / "jobs.sqlite"
    done, elsewhere, dead = run_python(STORE_WRITER, path, "done", "elsewhere", "dead").split()
    _fake_owner(path, elsewhere, status="RUNNING", hostname="elsewhere", pid=1)
    # Unfinished, owned by a process of this host that has ended (a start marker not its own).
    _fake_owner(path, dead, status="RUNNING", pid=os.getpid(), pid_start="1")
    writer = sqlite3.connect(path) if writer_open else None  # another process has it open
    try:
        if writer is not None:
            writer.execute("SELECT count(*) FROM jobs").fetchone()
        _as_reader(path, file_mode, dir_mode)
        before = _digest(path)
        out = _run_reader(READ_ONLY_READER, path, done, elsewhere, dead)
    finally:
        if writer is not None:
            writer.close()
    assert out["listed"] == {"done": "DONE", "elsewhere": "RUNNING", "dead": "ERROR"}
    assert out["errors"] == ["dead"] and out["running"] == ["elsewhere"]
    assert out["status"] == "DONE" and sum(out["counts"].values()) == 10
    status, message, steps = out["ended"]
    assert status == "ERROR" and "ended before the job finished" in message and "ERROR" in steps
    assert out["other"] == "RUNNING"
    assert out["warnings"] == []
    for key, operation in [
        ("run", "recording a job"),
        ("rename", "name and tags"),
        ("retag", "name and tags"),
        ("cancel", "cancellation"),
    ]:
        assert str(path) in out[key] and operation in out[key], out[key]
    assert out["name_after"] == "done"  # the refused rename left the name as the store has it
    assert _digest(path) == before  # nothing was written (ended jobs are marked as read)


READ_ONLY_OLD_AND_EMPTY = (
    BECOME_READER
    + """
old, empty = sys.argv[1:3]
out = {"old": [(j.name(), j.result().get_counts()) for j in ferroq.jobs(store=old)]}
out["empty"] = ferroq.jobs(store=empty)
try:
    ferroq.retrieve_job("x", store=empty)
except JobError as err:
    out["missing"] = str(err)
print(json.dumps(out))
"""
)


def test_a_read_only_store_of_the_first_schema_or_without_one_reads(shared_dir):
    """Neither can be upgraded or initialised: a version 1 store reads as it is,
    an empty file as a store without jobs."""
    modern = shared_dir / "modern.sqlite"
    run_python(STORE_WRITER, modern, "old")
    old = shared_dir / "old.sqlite"
    conn = sqlite3.connect(old)
    conn.executescript(V1_SCHEMA + "PRAGMA user_version = 1;")
    conn.execute(f"ATTACH DATABASE '{modern}' AS modern")
    columns = (
        "job_id, kind, name, tags, status, steps, options, header, metadata, circuits, result, "
        "error_type, error_message, pid, hostname, pid_start, created, updated"
    )
    with conn:
        conn.execute(f"INSERT INTO jobs ({columns}) SELECT {columns} FROM modern.jobs")
    conn.close()
    empty = shared_dir / "empty.sqlite"
    empty.write_bytes(b"")
    for p in (old, empty):
        _as_reader(p, 0o444, 0o555)
    out = _run_reader(READ_ONLY_OLD_AND_EMPTY, old, empty)
    ((name, counts),) = out["old"]
    assert name == "old" and sum(counts.values()) == 10
    assert out["empty"] == []
    assert "no job x" in out["missing"]


# ----------------------------------------------- every sqlite error is a JobError
@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The bytes of a small store of three finished jobs (written by another process)."""
    path = tmp_path_factory.mktemp("pristine") / "jobs.sqlite"
    ids = run_python(STORE_WRITER, path, "a", "b", "c").split()
    return path.read_bytes(), ids


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_a_damaged_store_file_raises_job_errors_naming_it(pristine, tmp_path_factory, data):
    """Whatever bytes of the file are damaged, the public functions return or raise
    JobError naming the store (a damaged row: a warning); never sqlite3.Error."""
    blob, ids = pristine
    offset = data.draw(st.integers(0, len(blob) - 1), label="offset")
    garbage = data.draw(st.binary(min_size=1, max_size=64), label="garbage")
    cut = data.draw(st.booleans(), label="truncate")
    damaged = blob[:offset] + (b"" if cut else garbage + blob[offset + len(garbage) :])
    path = tmp_path_factory.mktemp("damaged") / "jobs.sqlite"
    path.write_bytes(damaged)
    calls = [
        lambda: ferroq.jobs(limit=None, store=path),
        lambda: ferroq.jobs(status="DONE", name="a", store=path),
        lambda: [j.result(timeout=1) for j in ferroq.jobs(store=path)],
        *[lambda job_id=job_id: ferroq.retrieve_job(job_id, store=path).result(timeout=1) for job_id in ids],
    ]
    for call in calls:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            try:
                call()
            except JobError as err:
                assert str(path) in str(err) or "stored column" in str(err) or "no job" in str(err), err
            except sqlite3.Error as err:  # pragma: no cover - the failure this test is for
                pytest.fail(f"raw {type(err).__name__} escaped: {err}")


@pytest.mark.parametrize("name", [["a"], 5, b"bytes", "\udcff"])
def test_a_job_name_the_store_cannot_hold_is_refused_naming_it(store, name):
    """Used to be a raw sqlite3 binding error (or UnicodeEncodeError). The front
    refuses such a name before any job exists, with or without a store."""
    with pytest.raises(TypeError, match="name"):
        ferroq.Simulator(store=store, shots=5).run(bell(), name=name)
    with pytest.raises(TypeError, match="name"):
        ferroq.Simulator(shots=5).run(bell(), name=name)
    assert ferroq.jobs(store=store) == []
    job = ferroq.Simulator(store=store, shots=5).run(bell(), name="ok")
    job.result(timeout=30)
    with pytest.raises(JobError, match="a job name must be"):
        job.update_name("\udcff")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5) | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(
            st.one_of(st.text(max_size=3), st.integers(), st.tuples(st.integers()), st.booleans(), st.none()),
            inner,
            max_size=3,
        )
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(value=json_values)
def test_any_value_is_stored_as_json(value):
    """Metadata and headers hold what users put there: keys of mixed types, tuples,
    bytes. sort_keys used to raise TypeError on such a dict (and a failed final
    write left the job unfinished in the store)."""
    from ferroq import _store

    assert isinstance(json.loads(_store._json(value)), object)
    cyclic: list = [value]
    cyclic.append(cyclic)
    assert json.loads(_store._json({"v": cyclic}))


def test_headers_and_metadata_with_keys_of_mixed_types_are_stored(store):
    header = {"run": {1: "one", "two": 2, (3,): [b"x"]}}
    job = ferroq.Simulator(store=store, shots=5).run(bell(), header=header)
    job.metadata[7] = "seven"
    job.metadata["nested"] = {None: 1, "a": 2}
    job.result(timeout=30)
    stored = wait_stored(job.job_id(), store)
    assert stored.status() is JobStatus.DONE
    assert stored.header() == {"run": {"1": "one", "two": 2, "(3,)": ["b'x'"]}}


def test_a_store_path_that_is_not_utf8_works(tmp_path):
    store = tmp_path / os.fsdecode(b"jobs-\xff.sqlite")
    job = ferroq.Simulator(store=store, shots=5).run(bell(), name="x")
    job.result(timeout=30)
    assert wait_stored(job.job_id(), store).name() == "x"
    assert [j.job_id() for j in ferroq.jobs(store=store)] == [job.job_id()]
    assert os.fsencode(store) in [os.fsencode(p) for p in tmp_path.iterdir()]
