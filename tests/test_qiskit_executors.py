"""FerroqSimulator's ``executor=`` and ``max_job_size=``: Aer's options, working.

A split run must give the Qiskit result of the unsplit run with the same
``seed_simulator``: counts, memory and per-experiment seeds."""

from __future__ import annotations

import concurrent.futures
import math
import multiprocessing

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

import reference as ref  # noqa: E402
from ferroq.exceptions import OptionError, OptionTypeError  # noqa: E402
from ferroq.qiskit import (  # noqa: E402
    FerroqJob,
    FerroqJobCancelledError,
    FerroqJobError,
    FerroqJobSet,
    FerroqSimulator,
)
from helpers import build_qiskit  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.exceptions import QiskitError  # noqa: E402
from qiskit.providers import JobStatus as QiskitJobStatus  # noqa: E402
from qiskit.providers import JobV1  # noqa: E402

SEED = 77
SHOTS = 50


def random_circuits(count: int, seed: int) -> list[QuantumCircuit]:
    rng = np.random.default_rng(seed)
    names = [g for g in sorted(ref.GATES) if ref.GATES[g][0] <= 3]
    out = []
    for k in range(count):
        n = int(rng.integers(2, 4))
        ops = []
        for _ in range(6):
            name = names[int(rng.integers(len(names)))]
            nq, npar, _ = ref.GATES[name]
            if nq <= n:
                qubits = tuple(int(q) for q in rng.permutation(n)[:nq])
                ops.append((name, qubits, tuple(rng.uniform(-math.pi, math.pi, npar))))
        ops += [("measure", (q,), (q,)) for q in range(n)]
        qc = build_qiskit(ops, n, n)
        qc.name = f"q{k}"
        out.append(qc)
    return out


@pytest.fixture(scope="module")
def circuits() -> list[QuantumCircuit]:
    return random_circuits(60, SEED)


@pytest.fixture(scope="module")
def backend() -> FerroqSimulator:
    return FerroqSimulator(shots=SHOTS, seed_simulator=SEED, memory=True)


@pytest.fixture(scope="module")
def expected(backend, circuits):
    return backend.run(circuits).result()


def assert_same(result, expected, indices=None) -> None:
    indices = range(len(expected.results)) if indices is None else list(indices)
    assert len(result.results) == len(indices)
    for k, i in enumerate(indices):
        assert result.get_counts(k) == expected.get_counts(i)
        assert result.get_memory(k) == expected.get_memory(i)
        assert result.results[k].seed_simulator == expected.results[i].seed_simulator
        assert result.results[k].header["name"] == expected.results[i].header["name"]


@pytest.fixture(scope="module")
def process_pool():
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool


# (executor, max_job_size); an executor alone splits by the executor's size.
CASES = [(kind, size) for kind in ("thread", "process") for size in (None, 1, 7)] + [
    ("local", 1),
    ("local", 7),
]


@pytest.mark.parametrize(("kind", "size"), CASES)
def test_split_runs_match_the_unsplit_run(backend, circuits, expected, process_pool, kind, size):
    with concurrent.futures.ThreadPoolExecutor(2) as thread_pool:
        executor = {"local": None, "thread": thread_pool, "process": process_pool}[kind]
        job = backend.run(circuits, executor=executor, max_job_size=size)
        assert isinstance(job, FerroqJobSet) and isinstance(job, JobV1)
        result = job.result(timeout=60)
    assert_same(result, expected)
    assert result.success and result.status == "COMPLETED"
    assert job.status() is QiskitJobStatus.DONE and job.done()
    assert result.job_id == job.job_id()
    assert job.executor() is executor
    chunks = job.jobs()
    assert all(isinstance(c, FerroqJob) for c in chunks)
    first = 0
    for chunk in chunks:
        part = chunk.result()
        assert_same(part, expected, range(first, first + len(part.results)))
        first += len(part.results)
    assert first == len(circuits)


def test_options_on_the_backend_and_parameter_binds(circuits, expected):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        backend = FerroqSimulator(
            shots=SHOTS, seed_simulator=SEED, memory=True, executor=pool, max_job_size=9
        )
        assert_same(backend.run(circuits).result(timeout=60), expected)
        theta = qiskit.circuit.Parameter("t")
        qc = QuantumCircuit(1, 1)
        qc.ry(theta, 0)
        qc.measure(0, 0)
        binds = [{theta: [0.1 * k for k in range(20)]}]
        split = backend.run([qc], parameter_binds=binds).result(timeout=60)
        whole = backend.run([qc], parameter_binds=binds, executor=None, max_job_size=None).result(timeout=60)
        assert split.get_counts() == whole.get_counts()


def test_dask_client_executor(circuits, expected):
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        backend = FerroqSimulator(shots=SHOTS, seed_simulator=SEED, memory=True)
        for executor in (client, client.get_executor()):
            assert_same(backend.run(circuits, executor=executor, max_job_size=8).result(timeout=60), expected)


def test_a_failed_chunk_gives_a_partial_result(backend, circuits):
    big = QuantumCircuit(20, 1, name="big")
    big.h(range(20))  # every qubit active: truncation cannot shrink it
    big.measure(19, 0)
    mixed = [*circuits[:10], big, *circuits[10:20]]
    whole = backend.run(mixed).result()  # no memory limit: 16 MiB for the big one
    job = backend.run(mixed, max_job_size=5, max_memory_mb=1)
    job.wait_for_final_state(timeout=60)
    assert job.status() is QiskitJobStatus.ERROR
    with pytest.raises(FerroqJobError, match="20-qubit statevector"):
        job.result()
    partial = job.result(partial=True)
    assert not partial.success and partial.status == "PARTIAL COMPLETED"
    # As Aer: the circuit too large fails alone; the rest of its chunk runs.
    for i in range(len(mixed)):
        if i == 10:
            assert not partial.results[i].success
            assert "SimulationMemoryError" in partial.results[i].status
            with pytest.raises(QiskitError):
                partial.get_counts(i)
        else:
            assert partial.get_counts(i) == whole.get_counts(i)
            assert partial.get_memory(i) == whole.get_memory(i)
            assert partial.results[i].success


def test_cancel(backend):
    slow = QuantumCircuit(20)  # about 2 s on one thread
    for _ in range(120):
        slow.h(range(20))
        slow.barrier()
    job = backend.run([slow] * 6, shots=1, max_job_size=1, max_parallel_threads=1)
    assert job.cancel() is True
    assert job.status() is QiskitJobStatus.CANCELLED
    assert all(c.status() is QiskitJobStatus.CANCELLED for c in job.jobs())
    with pytest.raises(FerroqJobCancelledError):
        job.result()


def test_bad_options(backend, circuits):
    with pytest.raises(OptionError):
        backend.run(circuits, max_job_size=0)
    with pytest.raises(OptionTypeError):
        backend.run(circuits, executor="not an executor")
