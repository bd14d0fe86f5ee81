"""Batches at scale: ``executor=`` and ``max_job_size=``, ``ferroq.JobSet``, Dask.

The reference for every split run is the plain local run of the same batch with
the same seed: circuit ``i`` samples with the seed of batch index ``i`` whatever
chunk carries it and wherever that chunk runs, so counts, memory and per-circuit
seeds must match bit for bit.

One real Dask ``LocalCluster`` (two worker processes on loopback) serves the
module; the process and thread pools are module-scoped too. Long chunks are
always cancelled, and each cancelling test checks that its executor is usable
(and free) right after.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import math
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time

import ferroq
import numpy as np
import pytest
import reference as ref
from ferroq import ExecutorJob, JobSet, JobStatus, _core, _executors
from ferroq.exceptions import (
    FerroqError,
    JobCancelledError,
    JobError,
    JobTimeoutError,
    OptionError,
    OptionTypeError,
    SimulationMemoryError,
)
from helpers import assert_prompt, assert_waited, build, h_layers, job_rank

QUEUED, RUNNING, DONE = JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.DONE
CANCELLED, ERROR = JobStatus.CANCELLED, JobStatus.ERROR

SEED = 20261121
SHOTS = 32
BATCH = 500
KINDS = ["dask", "process", "thread"]


def random_batch(count: int, seed: int) -> list[ferroq.Circuit]:
    """``count`` named circuits of 2-4 qubits: a few random gates from the whole
    gate set, then every qubit measured."""
    rng = np.random.default_rng(seed)
    names = [g for g in sorted(ref.GATES) if ref.GATES[g][0] <= 4]
    out = []
    for k in range(count):
        n = int(rng.integers(2, 5))
        ops = []
        for _ in range(int(rng.integers(2, 9))):
            name = names[int(rng.integers(len(names)))]
            nq, npar, _ = ref.GATES[name]
            if nq > n:
                continue
            qubits = tuple(int(q) for q in rng.permutation(n)[:nq])
            ops.append((name, qubits, tuple(rng.uniform(-math.pi, math.pi, npar))))
        ops += [("measure", (q,), (q,)) for q in range(n)]
        out.append(build(ops, n, n, name=f"c{k}"))
    return out


@functools.cache
def slow_circuit(layers: int) -> ferroq.Circuit:
    """20 qubits, ``layers`` H layers: about 17 ms per layer on one thread here, in
    few instructions (a chunk of it pickles to some 20 bytes per gate)."""
    return h_layers(20, layers)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def assert_same(result: ferroq.Result, expected: ferroq.Result, indices=None) -> None:
    """``result`` holds exactly ``expected``'s experiments (those at ``indices``)."""
    indices = range(len(expected)) if indices is None else list(indices)
    assert len(result) == len(indices)
    for k, i in enumerate(indices):
        got, want = result.results[k], expected.results[i]
        assert (got.name, got.seed, got.shots) == (want.name, want.seed, want.shots), i
        assert got.counts() == want.counts(), i
        assert got.memory() == want.memory(), i


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def batch() -> list[ferroq.Circuit]:
    return random_batch(BATCH, SEED)


@pytest.fixture(scope="module")
def sim() -> ferroq.Simulator:
    return ferroq.Simulator(shots=SHOTS, seed=SEED, memory=True)


@pytest.fixture(scope="module")
def expected(sim, batch) -> ferroq.Result:
    job = sim.run(batch)
    assert isinstance(job, ferroq.Job)
    return job.result(timeout=60)


def _spawn_pool(workers: int) -> concurrent.futures.ProcessPoolExecutor:
    # Not fork: this process runs ferroq's and Dask's threads.
    return concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


@pytest.fixture(scope="module")
def process_pool():
    with _spawn_pool(2) as pool:
        yield pool


@pytest.fixture(scope="module")
def thread_pool():
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        yield pool


FIXTURES = {"dask": "dask_client", "process": "process_pool", "thread": "thread_pool"}


@pytest.fixture
def executor(request):
    """The executor named by the test's parameter (``None``: ferroq's own scheduler)."""
    return None if request.param is None else request.getfixturevalue(FIXTURES[request.param])


@pytest.fixture
def cancel_at_teardown():
    """``track(job_set)``: cancelled and waited for at teardown, so no test leaves work behind."""
    sets: list[JobSet] = []
    yield sets.append
    for job_set in sets:
        job_set.cancel()
    for job_set in sets:
        job_set.wait_for_final_state(timeout=30)


# ---------------------------------------------------------------------------
# Identical results whatever the split and the executor
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 7, BATCH])
@pytest.mark.parametrize("executor", KINDS, indirect=True)
def test_split_batch_matches_the_local_run(sim, batch, expected, executor, size):
    job = sim.run(batch, executor=executor, max_job_size=size)
    assert isinstance(job, JobSet)
    result = job.result(timeout=120)
    assert_same(result, expected)
    assert result.seed == SEED
    assert job.status() is DONE and job.done() and job.in_final_state()
    assert job.progress() == 1.0
    chunks = job.jobs()
    assert len(chunks) == math.ceil(BATCH / size)
    assert all(isinstance(c, ExecutorJob) and c.status() is DONE for c in chunks)
    assert [c.metadata["first_index"] for c in chunks] == list(range(0, BATCH, size))
    # Each chunk's own result is its slice of the batch.
    first = chunks[-1].metadata["first_index"]
    assert_same(chunks[-1].result(), expected, range(first, BATCH))


@pytest.mark.parametrize("size", [1, 7, BATCH])
def test_local_chunks_match_the_local_run(sim, batch, expected, size):
    job = sim.run(batch, max_job_size=size)
    assert isinstance(job, JobSet)
    assert_same(job.result(timeout=60), expected)
    assert job.executor() is None
    assert all(isinstance(c, ferroq.Job) for c in job.jobs())
    assert len(job.jobs()) == math.ceil(BATCH / size)


def test_an_unset_seed_is_drawn_once_for_the_whole_set(batch, dask_client):
    sim = ferroq.Simulator(shots=SHOTS, memory=True)
    job = sim.run(batch[:60], executor=dask_client, max_job_size=7)
    result = job.result(timeout=60)
    assert job.backend_options()["seed"] == result.seed == job.metadata["seed"]
    local = sim.run(batch[:60], seed=result.seed).result(timeout=60)
    assert_same(result, local)


def test_executor_alone_splits_by_its_slots(sim, batch, expected, thread_pool):
    job = sim.run(batch, executor=thread_pool)
    # 2 workers, 4 chunks per worker.
    assert len(job.jobs()) == 8
    assert_same(job.result(timeout=60), expected)


def test_dask_client_executor_and_dashboard_keys(sim, batch, expected, dask_client):
    job = sim.run(batch[:100], executor=dask_client.get_executor(), max_job_size=30)
    result = job.result(timeout=60)
    assert_same(result, expected, range(100))
    keys = [c.metadata["key"] for c in job.jobs()]
    assert len(set(keys)) == 4
    from dask.utils import key_split

    assert {key_split(k) for k in keys} == {"ferroq-chunk"}
    # Identical chunks of two runs are two computations, never one deduplicated task.
    again = sim.run(batch[:100], executor=dask_client, max_job_size=30)
    assert not set(keys) & {c.metadata["key"] for c in again.jobs()}
    assert_same(again.result(timeout=60), expected, range(100))


def test_statevectors_and_saved_values_come_back(thread_pool, process_pool, dask_client):
    circuits = [ferroq.Circuit(3).h(0).cx(0, 1).ry(0.1 * k, 2) for k in range(6)]
    sim = ferroq.Simulator(shots=1, statevector=True, seed=1)
    local = sim.run(circuits).result()
    for executor in (thread_pool, dask_client):
        split = sim.run(circuits, executor=executor, max_job_size=4).result(timeout=60)
        for k in range(6):
            np.testing.assert_array_equal(split.get_statevector(k), local.get_statevector(k))
    # Save instructions travel with their circuits: labels, qubits, basis states and
    # Pauli terms come back the same from every executor, processes included.
    saving = [
        c.copy()
        .save_probabilities([0])
        .save_amplitudes([0, 5], label="amps")
        .save_expectation_value([("ZZ", 1.0), ("XY", 0.5j)], [0, 1])
        .save_statevector(label="psi")
        for c in circuits
    ]
    local = sim.run(saving).result()
    for executor in (None, thread_pool, process_pool, dask_client):
        split = sim.run(saving, executor=executor, max_job_size=4).result(timeout=60)
        for k in range(6):
            got, want = split.data(k), local.data(k)
            assert got.keys() == want.keys() == {"probabilities", "amps", "expectation_value", "psi"}
            for label in want:
                np.testing.assert_array_equal(got[label], want[label])


# ---------------------------------------------------------------------------
# Worker threads and payloads
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("executor", KINDS, indirect=True)
def test_worker_threads_do_not_oversubscribe(sim, batch, executor):
    # Two task slots share this machine's CPUs in every case (Dask: 2 workers x 1
    # thread on one host), so each task gets cpu_count // 2 engine threads.
    cpus = _core.default_threads()
    job = sim.run(batch[:8], executor=executor, max_job_size=4)
    job.result(timeout=60)
    assert {c.metadata["threads"] for c in job.jobs()} == {max(1, cpus // 2)}
    assert all(c.metadata["wall_time"] > 0 and c.metadata["worker"] for c in job.jobs())
    for options, threads in [({"worker_threads": 3}, 3), ({"max_parallel_threads": 2}, 2)]:
        if executor is None and "worker_threads" in options:
            # It sizes executor tasks only: without one it is refused, not ignored.
            with pytest.raises(OptionError, match="worker_threads"):
                sim.run(batch[:8], executor=executor, max_job_size=4, **options)
            continue
        job = sim.run(batch[:8], executor=executor, max_job_size=4, **options)
        job.result(timeout=60)
        assert {c.metadata["threads"] for c in job.jobs()} == {threads}


def test_the_thread_rule():
    cpus = _core.default_threads()
    assert _executors.worker_threads(None) == 1
    assert _executors.worker_threads(1) == cpus
    assert _executors.worker_threads(cpus * 4) == 1
    # Dask: the tasks of every worker on the same host share its CPUs.
    slots = {"10.0.0.1": 2, "10.0.0.2": 1}
    assert _executors.worker_threads(slots, "10.0.0.1") == max(1, cpus // 2)
    assert _executors.worker_threads(slots, "10.0.0.2") == cpus
    # A worker that joined after the run started counts its own threads.
    assert _executors.worker_threads(slots, "10.0.0.9", own_slots=cpus) == 1
    assert _executors._host("tcp://10.0.0.1:8786") == "10.0.0.1"


class RecordingExecutor(concurrent.futures.Executor):
    """Runs each task at once, in this thread, after recording it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def submit(self, fn, /, *args, **kwargs):
        self.calls.append((fn, args, kwargs))
        future = concurrent.futures.Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_payloads_are_compact_plain_data(sim, batch, expected):
    with RecordingExecutor() as executor:
        result = sim.run(batch[:21], executor=executor, max_job_size=7).result(timeout=60)
    assert_same(result, expected, range(21))
    assert len(executor.calls) == 3
    for k, (fn, args, kwargs) in enumerate(executor.calls):
        assert fn is _executors._run_chunk
        assert pickle.loads(pickle.dumps(fn)) is fn  # pickled by reference
        assert not kwargs
        packed, options, first_index = args[:3]
        assert first_index == 7 * k
        # Circuits travel encoded once, as bytes, and come back equal.
        assert type(packed) is bytes
        assert _executors._unpack(packed) == [c._native for c in batch[7 * k : 7 * k + 7]]
        front = {"blocking", "callback", "executor", "max_job_size", "progress_bar", "store"}
        front.add("worker_threads")
        assert set(options) == set(ferroq.Simulator().options) - front
        assert all(v is None or type(v) in (int, float, bool, str) for v in options.values())
        assert options["seed"] == SEED
        payload = pickle.dumps(args)
        for forbidden in (b"_simulator", b"ThreadPoolExecutor", b"ferroq._job", b"JobSet"):
            assert forbidden not in payload
        assert len(payload) < 4000, len(payload)


def test_circuits_pickle_exactly_and_are_validated_again():
    c = ferroq.Circuit(3, 2, name="mixed").h(0).unitary(np.eye(4)[[1, 0, 2, 3]], [0, 2]).measure(0, 1)
    c.reset(1).barrier().x(1).unitary(np.eye(2) * 1j, [1]).cx(0, 1).mcx([0, 1], 2).rz(0.25, 2)
    c.append("global_phase", [], [0.5])
    c.global_phase = 0.3
    restored = pickle.loads(pickle.dumps(c))
    assert restored == c and restored.name == "mixed" and restored.global_phase == 0.3
    assert restored.instructions == c.instructions
    run = ferroq.Simulator(shots=5, seed=3, statevector=True, memory=True).run
    a, b = run(restored).result(), run(c).result()
    np.testing.assert_array_equal(a.get_statevector(), b.get_statevector())
    assert a.get_memory() == b.get_memory()
    # Save instructions pickle with every field: kind, label, qubits, basis states, Pauli terms.
    s = ferroq.Circuit(3, 1).h(0).unitary(np.eye(4)[[1, 0, 2, 3]], [0, 2]).cx(0, 1).rx(0.3, 2)
    s.save_statevector().save_probabilities_dict([2, 0]).save_amplitudes([7, 1])
    s.save_expectation_value([("XZY", 0.25 - 1j), ("III", 2)], [1, 2, 0], label="energy").measure(2, 0)
    restored = pickle.loads(pickle.dumps(s))
    assert restored == s and restored.instructions == s.instructions
    a, b = run(restored).result(), run(s).result()
    assert a.data().keys() == b.data().keys() == {"statevector", "probabilities_dict", "amplitudes", "energy"}
    for label in b.data():
        np.testing.assert_array_equal(a.data()[label], b.data()[label])
    # A saved label stays taken in the restored circuit.
    with pytest.raises(ferroq.exceptions.CircuitError, match="already used"):
        restored.save_statevector()
    # A tampered payload is refused by the engine, not trusted.
    load, (data,) = c.__reduce__()
    assert load(data) == c
    CircuitError = ferroq.exceptions.CircuitError
    cx = ferroq.Circuit(2).cx(0, 1)._native.to_bytes()
    with pytest.raises(CircuitError, match=r"at byte \d+: instruction 0: .*used more than once"):
        load(cx[:-1] + b"\x00")
    with pytest.raises(CircuitError, match=r"at byte \d+: truncated"):
        load(data[:-1])
    with pytest.raises(CircuitError, match="trailing"):
        load(data + b"\x00")
    with pytest.raises(CircuitError, match="magic"):
        load(b"not a circuit")


def test_pickles_of_earlier_versions_still_load():
    from array import array

    matrix = np.eye(4)[[1, 0, 2, 3]].astype(complex)
    expected = ferroq.Circuit(3, 2, name="old").h(0).unitary(matrix, [0, 2]).measure(0, 1)
    expected.reset(1).barrier(0, 2).rz(0.25, 2).mcx([0, 1], 2)
    expected.global_phase = 0.3
    columns = (
        "h unitary measure reset barrier rz mcx",
        array("B", [1, 2, 1, 1, 2, 1, 3]),
        array("B", [0, 0, 1, 0, 0, 0, 0]),
        array("B", [0, 0, 0, 0, 0, 1, 0]),
        array("B", [0, 0, 2, 0, 1, 0, 2, 2, 0, 1, 2]),
        array("B", [1]),
        array("d", [0.25]),
    )
    Instruction = ferroq._circuit.Instruction
    rows = [
        Instruction("h", (0,), (), ()),
        Instruction("unitary", (0, 2), (), ()),
        Instruction("measure", (0,), (1,), ()),
        Instruction("reset", (1,), (), ()),
        Instruction("barrier", (0, 2), (), ()),
        Instruction("rz", (2,), (), (0.25,)),
        Instruction("mcx", (0, 1, 2), (), ()),
    ]

    class Old:
        """Pickles as ferroq did: by reference to the loader, whose name must stay."""

        def __init__(self, loader, payload):
            self.loader, self.payload = loader, payload

        def __reduce__(self):
            return (self.loader, (3, 2, "old", 0.3, self.payload, [matrix]))

    for loader, payload in [("_restore", columns), ("_rebuild", rows)]:
        data = pickle.dumps(Old(getattr(ferroq._circuit, loader), payload))
        assert loader.encode() in data
        assert pickle.loads(data) == expected


# ---------------------------------------------------------------------------
# Cancellation
# ---------------------------------------------------------------------------


# (layers per chunk, whether a running task is stopped rather than left to finish)
CANCEL_CASES = {"dask": (230, True), "thread": (230, True), "process": (60, False)}


@pytest.mark.parametrize("executor", KINDS, indirect=True)
def test_cancel_mid_batch(request, sim, batch, expected, executor, cancel_at_teardown):
    kind = request.node.callspec.params["executor"]
    layers, stops_running = CANCEL_CASES[kind]
    slow = [slow_circuit(layers)] * 8
    job = sim.run(slow, shots=1, memory=False, executor=executor, max_job_size=1)
    cancel_at_teardown(job)
    wait_until(lambda: job.status() is RUNNING, 60, "a chunk to start")
    assert any(c.status() is RUNNING for c in job.jobs())
    start = time.monotonic()
    assert job.cancel() is True
    assert job.status() is CANCELLED
    assert_prompt(time.monotonic() - start, what="cancel()")
    assert job.cancelled() and job.in_final_state() and not job.done()
    assert all(c.status() is CANCELLED for c in job.jobs())
    assert job.cancel() is False
    with pytest.raises(JobCancelledError):
        job.result()
    with pytest.raises(JobCancelledError):
        job.exception()
    partial = job.result(partial=True)
    assert len(partial) == 8 and set(partial.missing) == set(range(8))
    assert all(isinstance(e, JobCancelledError) for e in partial.missing.values())

    # The executor is usable at once; where running tasks are stopped it is also free.
    start = time.monotonic()
    after = sim.run(batch[:40], executor=executor, max_job_size=10).result(timeout=60)
    assert_same(after, expected, range(40))
    if stops_running:
        # One chunk alone is about 4 s of work: none of them ran on.
        assert_prompt(time.monotonic() - start, instead=5, what="a batch after cancelled chunks")


def test_cancel_local_chunks(sim, cancel_at_teardown):
    job = sim.run([slow_circuit(120)] * 6, shots=1, memory=False, max_job_size=1, max_parallel_threads=1)
    cancel_at_teardown(job)
    wait_until(lambda: job.status() is RUNNING, 30, "a chunk to start")
    assert job.cancel() is True
    assert job.status() is CANCELLED
    assert all(c.status() is CANCELLED for c in job.jobs())
    # ferroq's own workers are free again at once.
    start = time.monotonic()
    sim.run(ferroq.Circuit(1, 1).measure(0, 0)).result(timeout=10)
    assert_prompt(time.monotonic() - start, what="a job after cancelled chunks")


# ---------------------------------------------------------------------------
# Failures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def with_big(batch):
    """40 small circuits with a 20-qubit one at index 20 (16 MiB of state)."""
    big = ferroq.Circuit(20, 1, name="big").h(19).measure(19, 0)
    circuits = [*batch[:20], big, *batch[20:40]]
    local = ferroq.Simulator(shots=SHOTS, seed=SEED, memory=True).run(circuits).result(timeout=60)
    return circuits, local


@pytest.mark.parametrize("executor", [None, *KINDS], indirect=True)
def test_a_failing_chunk_errors_and_keeps_the_others(sim, with_big, executor):
    circuits, local = with_big
    # 1 MB is enough for every small circuit, not for the 20-qubit one.
    job = sim.run(circuits, executor=executor, max_job_size=7, max_memory_mb=1)
    job.wait_for_final_state(timeout=60)
    assert job.status() is ERROR
    assert not job.done() and job.in_final_state()
    message = job.error_message()
    assert "chunk 2 (circuits 14-20)" in message
    assert "SimulationMemoryError" in message and "20-qubit statevector" in message
    assert [c.status() for c in job.jobs()] == [DONE, DONE, ERROR, DONE, DONE, DONE]
    assert isinstance(job.jobs()[2].exception(), SimulationMemoryError)

    with pytest.raises(JobError, match="20-qubit statevector") as info:
        job.result()
    assert isinstance(info.value.__cause__, SimulationMemoryError)
    assert str(job.exception()) == message

    partial = job.result(partial=True)
    assert len(partial) == len(circuits)
    # The circuit too large fails alone (as in Aer); the rest of its chunk ran.
    assert set(partial.missing) == {20}
    for i in range(len(circuits)):
        if i in partial.missing:
            with pytest.raises(FerroqError, match="memory limit"):
                partial.get_counts(i)
            continue
        assert partial.get_counts(i) == local.get_counts(i)
        assert partial.get_memory(i) == local.get_memory(i)
    assert partial.get_counts("c30") == local.get_counts("c30")
    with pytest.raises(FerroqError, match="partial"):
        partial.results  # noqa: B018
    # Every chunk but the failed one is done, and most of that one ran too.
    assert 34 / 41 <= job.progress() < 1


def test_a_dead_process_pool_worker_errors_the_set_and_keeps_the_others(sim, batch, expected):
    pool = _spawn_pool(1)
    try:
        circuits = [batch[0], slow_circuit(230), batch[2]]
        job = sim.run(circuits, shots=SHOTS, executor=pool, max_job_size=1)
        wait_until(lambda: job.jobs()[0].done(), 60, "the first chunk")
        time.sleep(0.5)  # the worker is now inside the slow chunk
        for process in list(pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
        job.wait_for_final_state(timeout=30)
        assert job.status() is ERROR
        assert "BrokenProcessPool" in job.error_message()
        partial = job.result(partial=True)
        assert set(partial.missing) == {1, 2}
        assert partial.get_counts(0) == expected.get_counts(0)
        with pytest.raises(JobError, match="terminated abruptly"):
            job.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")
def test_a_killed_dask_worker_errors_the_set(sim, batch, expected):
    distributed = pytest.importorskip("distributed")
    import dask

    # No retry: the first worker death is final (KilledWorker).
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        client = distributed.Client(cluster)
    try:
        job = sim.run([batch[0], slow_circuit(230)], executor=client, max_job_size=1)
        wait_until(lambda: job.jobs()[1].status() is RUNNING, 60, "the slow chunk to start")
        with contextlib.suppress(Exception):  # the call itself fails: its worker is gone
            client.run(os._exit, 1)
        job.wait_for_final_state(timeout=60)
        assert job.status() is ERROR
        assert "KilledWorker" in job.error_message()
        partial = job.result(partial=True)
        assert set(partial.missing) == {1}
        assert partial.get_counts(0) == expected.get_counts(0)
    finally:
        client.close()
        cluster.close()


# ---------------------------------------------------------------------------
# Waiting: one total timeout, callbacks, Ctrl-C, progress
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("executor", [None, "dask"], indirect=True)
def test_one_total_timeout(sim, executor, cancel_at_teardown):
    # Four chunks of about 1 s each: per-chunk timeouts would wait for seconds.
    job = sim.run(
        [slow_circuit(60)] * 4,
        shots=1,
        memory=False,
        executor=executor,
        max_job_size=1,
        max_parallel_threads=1,
    )
    cancel_at_teardown(job)
    start = time.monotonic()
    with pytest.raises(JobTimeoutError, match="Timeout while waiting for job") as info:
        job.result(timeout=0.3)
    assert isinstance(info.value, concurrent.futures.TimeoutError)
    assert_waited(time.monotonic() - start, 0.3)
    assert not job.in_final_state()  # a timeout leaves the set running
    for call in (lambda: job.exception(timeout=0.1), lambda: job.result(timeout=0, partial=True)):
        with pytest.raises(JobTimeoutError):
            call()

    calls = []
    start = time.monotonic()
    with pytest.raises(JobTimeoutError, match=f"Timeout while waiting for job {job.job_id()}"):
        job.wait_for_final_state(timeout=0.3, wait=0.1, callback=lambda *a: calls.append(a))
    assert_waited(time.monotonic() - start, 0.3)
    assert 2 <= len(calls) <= 4
    assert all(jid == job.job_id() and s in (QUEUED, RUNNING) and j is job for jid, s, j in calls)
    with pytest.raises(ValueError):
        job.result(timeout=float("nan"))


def test_wait_for_final_state_returns_when_the_last_chunk_ends(sim, batch):
    job = sim.run(batch, max_job_size=50)
    start = time.monotonic()
    job.wait_for_final_state(timeout=60)  # default wait=5 only paces callbacks
    assert_prompt(time.monotonic() - start, instead=5, what="wait_for_final_state()")
    assert job.status() is DONE


@pytest.mark.parametrize("executor", [None, "dask"], indirect=True)
def test_status_never_goes_backwards_and_progress_reaches_one(sim, executor):
    job = sim.run([slow_circuit(12)] * 12, shots=1, memory=False, executor=executor, max_job_size=1)
    statuses, progress = [], []
    while True:
        status = job.status()
        statuses.append(status)
        progress.append(job.progress())
        if status in ferroq.JOB_FINAL_STATES:
            break
        time.sleep(0.01)
    ranks = [job_rank(s) for s in statuses]
    assert ranks == sorted(ranks)
    assert progress == sorted(progress)
    assert statuses[-1] is DONE and progress[-1] == 1.0
    assert RUNNING in statuses


@pytest.fixture
def default_sigint():
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


@pytest.mark.parametrize("call", ["result", "exception", "wait_for_final_state"])
def test_ctrl_c_interrupts_a_blocking_wait(sim, default_sigint, cancel_at_teardown, call):
    job = sim.run([slow_circuit(120)] * 4, shots=1, memory=False, max_job_size=1, max_parallel_threads=1)
    cancel_at_teardown(job)
    sent: dict[str, float] = {}

    def interrupt():
        sent["at"] = time.monotonic()
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    timer = threading.Timer(0.2, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            getattr(job, call)()
        latency = time.monotonic() - sent["at"]
    finally:
        timer.join()
    assert_prompt(latency, what="Ctrl-C in a blocking wait")
    assert not job.in_final_state()


def test_done_callbacks_and_await(sim, batch, expected, dask_client):
    fired: list[tuple[JobSet, threading.Thread]] = []
    job = sim.run(batch[:50], executor=dask_client, max_job_size=10)
    job.add_done_callback(lambda j: fired.append((j, threading.current_thread())))
    job.result(timeout=60)
    wait_until(lambda: fired, 5, "the callback")
    time.sleep(0.1)
    assert len(fired) == 1 and fired[0][0] is job
    assert fired[0][1].name == "ferroq-notifier"  # the one notifier thread, for every job kind
    late: list[JobSet] = []
    job.add_done_callback(late.append)  # an ended set calls back at once
    assert late == [job]
    assert job.exception() is None and job.error_message() is None

    async def both():
        return await asyncio.gather(
            sim.run(batch[:30], max_job_size=7), sim.run(batch[:30], executor=dask_client)
        )

    first, second = asyncio.run(both())
    assert_same(first, expected, range(30))
    assert_same(second, expected, range(30))


def test_futures_tools_take_job_sets(sim, batch, dask_client):
    # A Dask set ends outside ferroq's engine, which wakes these waits only for its
    # own jobs: alone, such a set would otherwise be noticed only at the timeout.
    for call in (
        lambda js: ferroq.wait(js, timeout=30).done,
        lambda js: set(ferroq.as_completed(js, timeout=30)),
    ):
        remote = sim.run(batch[:40], executor=dask_client, max_job_size=10)
        start = time.monotonic()
        assert call([remote]) == {remote}
        assert time.monotonic() - start < 5
    mixed = [
        sim.run(batch[:40], executor=dask_client),
        sim.run(batch[:40], max_job_size=10),
        sim.run(batch[:40]),
    ]
    done, not_done = ferroq.wait(mixed, timeout=30)
    assert not not_done and done == set(mixed)


# ---------------------------------------------------------------------------
# Options, metadata, pickling, edge cases
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_job_size": 0}, OptionError),
        ({"max_job_size": -3}, OptionError),
        ({"max_job_size": 2.5}, OptionTypeError),
        ({"max_job_size": "7"}, OptionTypeError),
        ({"max_job_size": True}, OptionTypeError),
        ({"worker_threads": 0}, OptionError),
        ({"executor": object()}, OptionTypeError),
        ({"executor": "tcp://127.0.0.1:8786"}, OptionTypeError),
    ],
)
def test_bad_options_raise(sim, options, error):
    with pytest.raises(error):
        sim.run(ferroq.Circuit(1, 1).measure(0, 0), **options)
    with pytest.raises(error):
        ferroq.Simulator(**options)


def test_bad_engine_options_raise_before_any_task_is_submitted(sim, batch):
    with RecordingExecutor() as executor:
        for options in ({"shots": 0}, {"seed": -1}, {"parallel_threshold": -1}):
            with pytest.raises(OptionError):
                sim.run(batch[:10], executor=executor, **options)
        assert executor.calls == []


def test_executor_as_a_default_option_and_metadata(batch, expected, thread_pool):
    sim = ferroq.Simulator(shots=SHOTS, seed=SEED, memory=True, executor=thread_pool, max_job_size=100)
    job = sim.run(batch, name="sweep", tags=["a"], header={"k": 1})
    assert isinstance(job, JobSet)
    assert_same(job.result(timeout=60), expected)
    assert (job.name(), job.tags(), job.header()) == ("sweep", ["a"], {"k": 1})
    assert job.update_name("renamed") == job.name() == "renamed"
    assert job.update_tags(["x", "y"]) == job.tags() == ["x", "y"]
    with pytest.raises(JobError):
        job.update_tags("x")
    assert job.backend() is sim and job.executor() is thread_pool
    assert job.backend_options()["executor"] == "ThreadPoolExecutor(max_workers=2)"
    assert job.metadata == {"seed": SEED, "shots": SHOTS, "chunks": 5}
    assert job.circuits() == batch
    assert job.creation_date().tzinfo is not None
    assert len({job.job_id(), *(c.job_id() for c in job.jobs())}) == 6
    with pytest.raises(JobError):
        job.submit()
    assert "JobSet" in repr(job) and "DONE" in repr(job)
    # Without either option, run still returns a plain Job.
    assert isinstance(ferroq.Simulator().run(batch[0]), ferroq.Job)


def test_empty_batch_and_blocking(sim, batch, expected, thread_pool):
    empty = sim.run([], max_job_size=3)
    assert empty.status() is DONE and empty.progress() == 1.0 and len(empty.result()) == 0
    job = sim.run(batch[:30], executor=thread_pool, max_job_size=4, blocking=True)
    assert job.status() is DONE
    assert_same(job.result(), expected, range(30))


@pytest.mark.parametrize("executor", [None, "dask"], indirect=True)
def test_pickling_a_finished_set(sim, with_big, executor, cancel_at_teardown):
    circuits, local = with_big
    done = sim.run(circuits[:20], executor=executor, max_job_size=6)
    done.result(timeout=60)
    restored = pickle.loads(pickle.dumps(done))
    assert restored.job_id() == done.job_id() and restored.status() is DONE
    assert restored.result().get_counts() == local.get_counts()[:20]
    with pytest.raises(JobError, match="restored from a pickle"):
        restored.backend()

    failed = sim.run(circuits, executor=executor, max_job_size=7, max_memory_mb=1)
    failed.wait_for_final_state(timeout=60)
    restored = pickle.loads(pickle.dumps(failed))
    assert restored.status() is ERROR and restored.error_message() == failed.error_message()
    assert restored.result(partial=True).get_counts(0) == local.get_counts(0)

    running = sim.run([slow_circuit(120)] * 2, shots=1, memory=False, max_job_size=1)
    cancel_at_teardown(running)
    with pytest.raises(JobError, match="cannot pickle"):
        pickle.dumps(running)


def test_importing_ferroq_never_imports_dask():
    code = (
        "import sys, concurrent.futures, ferroq\n"
        "c = ferroq.Circuit(1, 1).h(0).measure(0, 0)\n"
        "sim = ferroq.Simulator(shots=10, seed=1)\n"
        "assert sim.run([c] * 5, max_job_size=2).result().get_counts()\n"
        "with concurrent.futures.ThreadPoolExecutor(2) as pool:\n"
        "    assert sim.run([c] * 5, executor=pool).result().get_counts()\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("name", ferroq.exceptions.__all__)
def test_every_error_survives_the_picklers_executors_use(name):
    # tblib (Dask's way of sending a worker's error back) rebuilds an exception
    # with cls.__new__(cls, *args) rather than cls(*args).
    cls = getattr(ferroq.exceptions, name)
    error = cls.__new__(cls, "the message")
    assert type(error) is cls and error.args == ("the message",)
    assert str(pickle.loads(pickle.dumps(cls("the message")))) == "the message"
