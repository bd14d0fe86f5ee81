"""Reliability (issue 8): panics become exceptions, bad input of every kind gets a
clear exception naming the problem, resources do not grow, and every job of a
sustained concurrent load is accounted for exactly once.

The hygiene and load checks are marked ``slow`` (they still run in CI, bounded to
a couple of minutes). ``FERROQ_LOAD_SECONDS`` lengthens the load test (the issue's
full version is 60)."""

from __future__ import annotations

import gc
import math
import os
import pickle
import random
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import ferroq
import numpy as np
import pytest
from ferroq import JobStatus, _core
from ferroq.exceptions import (
    CircuitError,
    EncodingError,
    InternalError,
    JobCancelledError,
    JobError,
    OptionError,
    OptionTypeError,
    QasmError,
    SimulationMemoryError,
    UnknownOptionError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

# --------------------------------------------------------------- panics
# The fault hooks are compiled only into test builds (cargo feature
# "fault-injection"); CI's full suite builds with it, a plain `pip install .` not.
needs_faults = pytest.mark.skipif(
    not hasattr(_core, "_inject_fault"),
    reason='fault injection is not compiled in (MATURIN_PEP517_ARGS="--features fault-injection")',
)


@needs_faults
def test_a_panic_at_an_entry_point_is_an_internal_error_with_its_message():
    with pytest.raises(InternalError, match="this entry point panicked on purpose") as info:
        _core._inject_fault("here")
    assert isinstance(info.value, Exception)  # PyO3's PanicException is only a BaseException
    with pytest.raises(ValueError, match="unknown fault"):
        _core._inject_fault("elsewhere")


@needs_faults
def test_a_panic_in_a_worker_fails_that_job_only():
    sim = ferroq.Simulator(shots=10, seed=1)
    bell = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
    _core._inject_fault("next_job")
    doomed = sim.run(bell)
    with pytest.raises(InternalError, match="this worker panicked on purpose"):
        doomed.result(timeout=30)
    assert doomed.status() is JobStatus.ERROR
    assert "panicked on purpose" in (doomed.error_message() or "")
    # The scheduler keeps serving: the next jobs run normally, on every worker.
    later = [sim.run(bell) for _ in range(20)]
    assert all(sum(j.result(timeout=30).get_counts().values()) == 10 for j in later)


# ----------------------------------------------------------- bad input
def _bell():
    return ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])


def _run(**options):
    return ferroq.Simulator().run(_bell(), **options)


def _corrupt_pickle():
    rebuild, (data,) = _bell().__reduce__()
    # The same payload pickle carries, with its instruction count made far too large.
    corrupted = bytearray(data)
    corrupted[32:40] = (2**40).to_bytes(8, "little")
    return pickle.loads(pickle.dumps(rebuild)).__call__(bytes(corrupted))


def _corrupt_experiment(**changes):
    """An ExperimentData rebuilt from a ferroq 0.1 pickle's state with fields changed."""
    e = ferroq.Simulator().run(_bell(), shots=5, memory=True).result().results[0]
    keys, counts = e.counts_array()
    memory = [int(m, 2) for m in e.memory()]
    state = (e.name, e.num_qubits, e.num_clbits, e.shots, e.seed, 1, list(keys), list(counts), memory, 0.0)
    fields = [
        "name",
        "num_qubits",
        "num_clbits",
        "shots",
        "seed",
        "words",
        "keys",
        "values",
        "memory",
        "time",
    ]
    values = dict(zip(fields, state, strict=True))
    values.update(changes)
    experiment = _core._experiment_from_state(tuple(values[f] for f in fields), None, [])
    return experiment.memory(), experiment.counts()


def _corrupt_result_bytes(at: int, value: int) -> object:
    """An ExperimentData read from its bytes with byte ``at`` (from the end when
    negative) replaced by ``value``."""
    e = ferroq.Simulator().run(_bell(), shots=5, memory=True).result().results[0]
    data = bytearray(e.to_bytes())
    data[at] = value
    return _core.ExperimentData.from_bytes(bytes(data))


BAD_INPUTS = [
    # circuits
    ("qubit out of range", lambda: ferroq.Circuit(2).h(2), CircuitError, "qubit 2 is out of range"),
    ("negative qubit", lambda: ferroq.Circuit(2).x(-1), CircuitError, "qubit"),
    ("clbit out of range", lambda: ferroq.Circuit(2, 1).measure(0, 1), CircuitError, "clbit 1"),
    ("repeated qubit", lambda: ferroq.Circuit(2).cx(1, 1), CircuitError, "qubit 1"),
    ("wrong parameter count", lambda: ferroq.Circuit(1).append("rx", [0], []), CircuitError, "parameter"),
    ("wrong qubit count", lambda: ferroq.Circuit(3).append("cx", [0], []), CircuitError, "qubit"),
    ("NaN parameter", lambda: ferroq.Circuit(1).rx(math.nan, 0), CircuitError, "NaN"),
    ("infinite parameter", lambda: ferroq.Circuit(1).rz(math.inf, 0), CircuitError, "inf"),
    ("unknown gate", lambda: ferroq.Circuit(1).append("frob", [0], []), CircuitError, "frob"),
    (
        "matrix shape",
        lambda: ferroq.Circuit(2).unitary(np.eye(3), [0, 1]),
        CircuitError,
        "4x4",
    ),
    (
        "non-unitary matrix",
        lambda: ferroq.Circuit(1).unitary([[1, 1], [0, 1]], [0]),
        CircuitError,
        "not unitary",
    ),
    (
        "NaN in a matrix",
        lambda: ferroq.Circuit(1).unitary([[math.nan, 0], [0, 1]], [0]),
        CircuitError,
        "finite",
    ),
    ("negative qubit count", lambda: ferroq.Circuit(-1), (CircuitError, ValueError), "-1"),
    ("absurd qubit count", lambda: ferroq.Circuit(2**40).barrier(), CircuitError, "num_qubits"),
    ("absurd clbit count", lambda: ferroq.Circuit(1, 2**50), CircuitError, "num_clbits"),
    (
        "clbits added past the limit",
        lambda: _core.Circuit(1, 200).add_clbits(2**64 - 136),
        CircuitError,
        "num_clbits",
    ),
    # run options
    ("zero shots", lambda: _run(shots=0), OptionError, "shots"),
    ("negative shots", lambda: _run(shots=-5), OptionError, "shots"),
    ("shots of the wrong type", lambda: _run(shots=1.5), OptionTypeError, "'shots' must be int"),
    ("a bool for a count", lambda: _run(shots=True), OptionTypeError, "'shots'"),
    ("unknown option", lambda: _run(shotz=10), UnknownOptionError, "shotz"),
    ("bad precision", lambda: _run(precision="half"), OptionError, "precision"),
    ("negative threads", lambda: _run(max_parallel_threads=-1), OptionError, "max_parallel_threads"),
    ("NaN memory limit", lambda: _run(max_memory_mb=math.nan), OptionError, "max_memory_mb"),
    ("seed out of range", lambda: _run(seed=2**70), OptionError, "seed"),
    ("callback not callable", lambda: _run(callback="print"), OptionTypeError, "callback"),
    # memory
    (
        "state too large",
        lambda: ferroq.Simulator().run(ferroq.Circuit(50).h(0)),
        SimulationMemoryError,
        "50-qubit",
    ),
    (
        "over max_memory_mb",
        lambda: ferroq.statevector(ferroq.Circuit(20).h(0), max_memory_mb=1),
        SimulationMemoryError,
        "max_memory_mb",
    ),
    (
        "shots that cannot fit",
        lambda: _run(shots=10**15),
        SimulationMemoryError,
        "1000000000000000 shots",
    ),
    (
        "per-shot memory over max_memory_mb",
        lambda: _run(shots=10**6, memory=True, max_memory_mb=16),
        SimulationMemoryError,
        "per-shot memory",
    ),
    # OpenQASM text
    (
        "QASM barriers over a wide register",
        lambda: ferroq.qasm2.loads("OPENQASM 2.0;\nqreg q[524288];\n" + "barrier q;\n" * 20),
        QasmError,
        "more than",
    ),
    (
        "QASM unknown gate",
        lambda: ferroq.qasm2.loads("OPENQASM 2.0;\nqreg q[1];\nfoo q[0];"),
        QasmError,
        "line 3",
    ),
    ("QASM unterminated", lambda: ferroq.qasm2.loads("OPENQASM 2.0;\nqreg q[1]"), QasmError, "line 2"),
    ("QASM not a string", lambda: ferroq.qasm2.loads(b"OPENQASM 2.0;"), TypeError, "str"),
    # pickled payloads
    ("corrupted pickle", _corrupt_pickle, CircuitError, "encoding"),
    ("foreign bytes", lambda: _core.Circuit.from_bytes(b"not a circuit"), CircuitError, "encoding"),
    (
        "pickled result: clbits beyond its words",
        lambda: _corrupt_experiment(num_clbits=100),
        ValueError,
        "100 clbits",
    ),
    (
        "pickled result: absurd clbits",
        lambda: _corrupt_experiment(num_clbits=2**50, words=2**44),
        EncodingError,
        "more than the 1048576 a circuit may have",
    ),
    (
        "pickled result: counts of other shots",
        lambda: _corrupt_experiment(shots=7),
        EncodingError,
        "not the 7 shots",
    ),
    (
        "pickled result: memory of other shots",
        lambda: _corrupt_experiment(memory=[0] * 7),
        EncodingError,
        "memory of 7 words for 5 shots",
    ),
    ("result bytes: newer version", lambda: _corrupt_result_bytes(4, 7), EncodingError, "version 7"),
    ("result bytes: unknown flags", lambda: _corrupt_result_bytes(6, 0x40), EncodingError, "unknown flags"),
    ("result bytes: trailing byte", lambda: _corrupt_result_bytes(-1, 0xFF), EncodingError, "encoding"),
]


@pytest.mark.parametrize(
    ("what", "call", "error", "fragment"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS]
)
def test_bad_input_raises_a_clear_exception(what, call, error, fragment):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    assert fragment.lower() in message.lower(), f"{what}: {message!r} does not mention {fragment!r}"


def test_degenerate_but_valid_circuits_run():
    # Empty and zero-qubit circuits are valid: they have one outcome.
    result = ferroq.Simulator(shots=5, seed=1).run(
        [ferroq.Circuit(0), ferroq.Circuit(3), ferroq.Circuit(2, 2)], statevector=True
    )
    r = result.result(timeout=30)
    assert r.get_counts(0) == {} and r.get_counts(2) == {"00": 5}
    np.testing.assert_allclose(r.get_statevector(0), [1.0])
    np.testing.assert_allclose(r.get_statevector(1), np.eye(8)[0])
    assert ferroq.Simulator().run([]).result(timeout=30).results == []


def test_a_corrupted_store_entry_gives_a_clear_error(tmp_path):
    store = tmp_path / "jobs.sqlite"
    job = ferroq.Simulator(store=store, shots=5).run(_bell())
    job.result(timeout=30)
    ferroq.retrieve_job(job.job_id(), store=store).wait_for_final_state(timeout=30)
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE jobs SET circuits=? WHERE job_id=?", (b"\x00garbage", job.job_id()))
    conn.close()
    with pytest.raises(JobError, match="circuits"):
        ferroq.retrieve_job(job.job_id(), store=store)


# ------------------------------------------------------- resource hygiene
def _rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _fds():
    return len(os.listdir("/proc/self/fd"))


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux /proc")


@pytest.mark.slow
@needs_proc
def test_ten_thousand_jobs_leave_threads_memory_and_descriptors_flat():
    sim = ferroq.Simulator(shots=20)
    circuits = [ferroq.Circuit(4, 4).h(0).cx(0, 1).ry(0.3, 2).measure(range(4), range(4)) for _ in range(4)]

    def burst(count):
        jobs = []
        for i in range(count):
            job = sim.run(circuits[i % 4], seed=i)
            if i % 7 == 0:
                job.cancel()
            jobs.append(job)
        for job in jobs:
            try:
                job.result(timeout=60)
            except JobCancelledError:
                pass

    burst(2000)  # warm up: worker threads, allocator arenas, callback thread
    gc.collect()
    threads, rss, fds = threading.active_count(), _rss_mb(), _fds()
    native_threads = len(os.listdir("/proc/self/task"))
    burst(10_000)
    gc.collect()
    time.sleep(0.5)
    assert threading.active_count() <= threads + 1
    assert len(os.listdir("/proc/self/task")) <= native_threads + 2
    assert _fds() <= fds + 2
    assert _rss_mb() - rss < 40, f"RSS grew from {rss:.0f} to {_rss_mb():.0f} MB over 10,000 jobs"


@pytest.mark.slow
@needs_proc
def test_cancelled_and_timed_out_jobs_release_their_state_at_once():
    n = 25  # a 512 MiB state
    wide = ferroq.Circuit(n)
    for _ in range(400):
        for q in range(n):
            wide.h(q)
    gc.collect()
    before = _rss_mb()
    job = ferroq.Simulator().run(wide)
    deadline = time.monotonic() + 60
    while job.status() is not JobStatus.RUNNING or _rss_mb() - before < 400:
        assert time.monotonic() < deadline, "the wide job never allocated its state"
        time.sleep(0.02)
    with pytest.raises(ferroq.JobTimeoutError):
        job.result(timeout=0.05)
    assert job.cancel()
    deadline = time.monotonic() + 5
    while _rss_mb() - before > 100:  # freed by the worker as it stops, not at garbage collection
        assert time.monotonic() < deadline, f"{_rss_mb() - before:.0f} MB still held after cancel"
        time.sleep(0.02)
    assert job.status() is JobStatus.CANCELLED  # the Python object is still alive


EXIT_WITH_QUEUED = """
import time, ferroq
c = ferroq.Circuit(22)
for _ in range(300):
    for q in range(22):
        c.h(q)
jobs = [ferroq.Simulator().run(c) for _ in range(20)]
while jobs[0].status() is not ferroq.JobStatus.RUNNING:
    time.sleep(0.01)
print("leaving", flush=True)
"""


@pytest.mark.slow
def test_the_interpreter_exits_promptly_with_jobs_running_and_queued():
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_WITH_QUEUED)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "leaving"
    assert time.monotonic() - start < 30


# ------------------------------------------------------------------ load
@pytest.mark.slow
@needs_proc
def test_sustained_concurrent_load_accounts_for_every_job_once():
    """8 threads submit, poll, cancel and wait on a stream of mixed jobs for
    ``FERROQ_LOAD_SECONDS`` (20 by default), keeping up to 1,250 jobs each in
    flight (10,000 in all); every job must settle exactly once, with a final status
    that matches how it ended, and memory must stay flat."""
    seconds = float(os.environ.get("FERROQ_LOAD_SECONDS", "20"))
    in_flight_per_thread = 1250
    sim = ferroq.Simulator(shots=16)
    shapes = [
        ferroq.Circuit(3, 3).h(0).cx(0, 1).cx(1, 2).measure(range(3), range(3)),
        ferroq.Circuit(6, 6).ry(0.4, 0).cx(0, 5).measure(range(6), range(6)),
        ferroq.Circuit(12, 2).h(0).cx(0, 11).rx(0.2, 5).measure([0, 11], [0, 1]),
    ]
    lock = threading.Lock()
    submitted: set[str] = set()
    outcomes: dict[str, str] = {}
    failures: list[BaseException] = []

    def settle(job):
        try:
            result = job.result(timeout=60)
            assert sum(result.get_counts().values()) == 16
            how = "DONE"
        except JobCancelledError:
            how = "CANCELLED"
        assert job.status().name == how
        with lock:
            assert job.job_id() not in outcomes, f"job {job.job_id()} settled twice"
            outcomes[job.job_id()] = how

    def worker(k, stop_at):
        rng = random.Random(k)
        mine: list[ferroq.Job] = []
        try:
            while time.monotonic() < stop_at:
                job = sim.run(rng.choice(shapes), seed=rng.randrange(2**32))
                with lock:
                    submitted.add(job.job_id())
                mine.append(job)
                action = rng.random()
                if action < 0.15:
                    rng.choice(mine).cancel()
                elif action < 0.3:
                    probe = rng.choice(mine)
                    probe.status(), probe.progress(), probe.done(), probe.queue_position()
                elif action < 0.35:
                    rng.choice(mine).wait_for_final_state(timeout=30, wait=0.01)
                if len(mine) >= in_flight_per_thread:
                    for old in mine[: in_flight_per_thread // 2]:
                        settle(old)
                    del mine[: in_flight_per_thread // 2]
            for job in mine:
                settle(job)
        except BaseException as err:
            failures.append(err)

    def load(duration):
        stop_at = time.monotonic() + duration
        threads = [threading.Thread(target=worker, args=(k, stop_at)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=duration + 120)
        assert not any(t.is_alive() for t in threads), "a load thread hung"

    load(min(3.0, seconds / 4))  # warm up: workers, allocator arenas
    gc.collect()
    rss = _rss_mb()
    load(seconds)
    assert not failures, failures[:3]
    assert len(submitted) > 10_000
    assert set(outcomes) == submitted
    counted = list(outcomes.values())
    assert counted.count("CANCELLED") > 0 and counted.count("DONE") > 0
    gc.collect()
    assert _rss_mb() - rss < 80, f"RSS grew from {rss:.0f} to {_rss_mb():.0f} MB under load"


# ------------------------------------------------- fuzzing the Python API
ANYTHING = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.complex_numbers(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.binary(max_size=16),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=8,
)
# Exceptions a caller may expect from bad arguments; anything else (or a crash) is a bug.
EXPECTED = (ferroq.exceptions.FerroqError, TypeError, ValueError, OverflowError)


@settings(max_examples=300)
@given(
    st.sampled_from([*ferroq.GATES, "measure", "reset", "barrier", "unitary", "", "nope"]),
    ANYTHING,
    ANYTHING,
)
def test_fuzz_append_with_arbitrary_arguments(name, qubits, params):
    circuit = ferroq.Circuit(3, 3)
    before = circuit.copy()
    try:
        circuit.append(name, qubits, params)
    except EXPECTED:
        assert circuit == before  # a refused instruction leaves the circuit as it was


@settings(max_examples=200)
@given(st.dictionaries(st.sampled_from([*ferroq.Simulator().options, "bogus"]), ANYTHING, max_size=3))
def test_fuzz_run_options_with_arbitrary_values(options):
    options.pop("executor", None)  # an arbitrary object there is a (checked) executor call
    options.pop("store", None)  # arbitrary paths would create files
    try:
        job = ferroq.Simulator().run(ferroq.Circuit(2, 2).h(0).measure([0, 1], [0, 1]), **options)
    except EXPECTED:
        return
    try:
        job.result(timeout=30)
    except EXPECTED:
        pass


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_fuzz_decoding_arbitrary_bytes(data):
    try:
        _core.Circuit.from_bytes(b"FQC1" + data)
    except CircuitError:
        pass


@settings(max_examples=300)
@given(
    st.text(
        alphabet=st.sampled_from(list("OPENQASM2.0;includeqelib1.incqregcrq[]()->,{}gatemeasurepi+-*/^ \n")),
        max_size=120,
    )
)
def test_fuzz_qasm_text(text):
    try:
        ferroq.qasm2.loads("OPENQASM 2.0;\n" + text)
    except QasmError as err:
        assert err.line >= 1 and err.column >= 1
