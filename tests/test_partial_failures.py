"""A circuit that fails does not take its batch down with it.

The job ends ERROR with the first failing circuit's error (named by its index),
``result()`` raises it, and ``result(partial=True)`` returns every other circuit's
data exactly as a run without the failing circuits would have given it."""

from __future__ import annotations

import pickle

import ferroq
import numpy as np
import pytest
from ferroq import JobStatus
from ferroq.exceptions import CircuitError, FerroqError, JobCancelledError
from ferroq.testing import assert_statevectors_close
from hypothesis import given, settings
from hypothesis import strategies as st

SHOTS = 40
SEED = 1234


def good(k: int) -> ferroq.Circuit:
    """A circuit whose counts depend on k, so results cannot be mixed up unseen."""
    c = ferroq.Circuit(3, 3)
    c.ry(0.3 + 0.2 * k, 0).cx(0, 1).rx(0.1 * k, 2)
    return c.measure(0, 0).measure(1, 1).measure(2, 2)


def bad() -> ferroq.Circuit:
    # A state set after a measurement would forget the measured one: refused
    # when the circuit runs.
    return ferroq.Circuit(1, 1).measure(0, 0).set_statevector(np.array([0, 1]))


@settings(max_examples=25, deadline=None)
@given(
    failing=st.sets(st.integers(0, 7), min_size=1, max_size=4),
    threads=st.sampled_from([1, 2]),
    parallel=st.sampled_from([0, 1, 2]),
)
def test_the_other_circuits_keep_their_exact_results(failing: set[int], threads: int, parallel: int) -> None:
    sim = ferroq.Simulator(max_parallel_threads=threads, max_parallel_experiments=parallel)
    batch = [bad() if i in failing else good(i) for i in range(8)]
    job = sim.run(batch, shots=SHOTS, seed=SEED, memory=True)
    part = job.result(partial=True)
    assert job.status() is JobStatus.ERROR
    first = min(failing)
    assert job.error_message().startswith(f"circuit {first}: ")
    with pytest.raises(CircuitError, match=f"^circuit {first}: set_statevector after a measurement"):
        job.result()
    assert isinstance(job.exception(), CircuitError)
    assert sorted(part.missing) == sorted(failing)
    for i, err in part.missing.items():
        assert isinstance(err, CircuitError) and str(err).startswith(f"circuit {i}: ")
    # Seeds follow the batch index, so the same batch with good circuits in
    # place of the failing ones gives the reference for every survivor.
    whole = sim.run([good(i) for i in range(8)], shots=SHOTS, seed=SEED, memory=True).result()
    for i in range(8):
        if i in failing:
            with pytest.raises(FerroqError, match=f"circuit {i} has no result"):
                part.get_counts(i)
        else:
            assert part.get_counts(i) == whole.get_counts(i)
            assert part.get_memory(i) == whole.get_memory(i)
    with pytest.raises(FerroqError, match="partial"):
        _ = part.results


def test_a_failure_of_a_statevector_run_keeps_the_other_states() -> None:
    c = ferroq.Circuit(2).h(0).cx(0, 1)
    job = ferroq.Simulator().run([c, bad(), c], shots=1, seed=3, statevector=True)
    part = job.result(partial=True)
    assert sorted(part.missing) == [1]
    want = np.array([1, 0, 0, 1]) / np.sqrt(2)
    assert_statevectors_close(part.get_statevector(0), want, up_to_global_phase=False)
    assert_statevectors_close(part.get_statevector(2), want, up_to_global_phase=False)


def test_a_partial_result_survives_pickling_and_is_taken_once() -> None:
    job = ferroq.Simulator().run([good(0), bad()], shots=SHOTS, seed=SEED)
    first = job.result(partial=True)
    assert job.result(partial=True) is first
    restored = pickle.loads(pickle.dumps(job))
    assert restored.status() is JobStatus.ERROR
    again = restored.result(partial=True)
    assert again.get_counts(0) == first.get_counts(0)
    assert sorted(again.missing) == [1]
    with pytest.raises(CircuitError, match=r"^circuit 1: "):
        restored.result()


def test_a_successful_job_gives_the_same_result_with_or_without_partial() -> None:
    job = ferroq.Simulator().run([good(0), good(1)], shots=SHOTS, seed=SEED)
    assert job.result(partial=True) is job.result()
    assert not job.result().missing


def test_a_cancelled_job_has_every_circuit_missing() -> None:
    slow = ferroq.Circuit(18)
    for _ in range(400):
        for q in range(18):
            slow.h(q)
    job = ferroq.Simulator().run([slow, good(0)], shots=1)
    job.cancel()
    part = job.result(partial=True)
    assert sorted(part.missing) == [0, 1]
    assert all(isinstance(e, JobCancelledError) for e in part.missing.values())
    with pytest.raises(JobCancelledError):
        job.result()


@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_job_sets_keep_circuits_of_a_failed_chunk(size: int) -> None:
    batch = [good(0), bad(), good(2), good(3), bad()]
    sim = ferroq.Simulator()
    job_set = sim.run(batch, shots=SHOTS, seed=SEED, max_job_size=size)
    part = job_set.result(partial=True)
    assert job_set.status() is JobStatus.ERROR
    assert sorted(part.missing) == [1, 4]
    for i in (1, 4):
        assert str(part.missing[i]).startswith(f"circuit {i}: ")
    whole = sim.run([good(i) for i in range(5)], shots=SHOTS, seed=SEED).result()
    for i in (0, 2, 3):
        assert part.get_counts(i) == whole.get_counts(i)


class TestQiskit:
    @pytest.fixture(autouse=True)
    def _qiskit(self) -> None:
        pytest.importorskip("qiskit")

    def test_failed_experiments_are_reported_per_experiment(self) -> None:
        from ferroq.qiskit import FerroqJobError, FerroqSimulator, save_statevector
        from qiskit import QuantumCircuit
        from qiskit.providers import JobStatus

        ok = QuantumCircuit(2, 2, name="ok")
        ok.h(0)
        ok.cx(0, 1)
        ok.measure([0, 1], [0, 1])
        broken = QuantumCircuit(1, 1, name="broken")
        broken.measure(0, 0)
        save_statevector(broken)
        # An average of states over shots has no meaning: refused when it runs.
        # (Aer's own subtype, "single", takes the last shot's state.)
        broken.data[-1].operation._subtype = "average"
        backend = FerroqSimulator()
        job = backend.run([ok, broken, ok], shots=SHOTS, seed_simulator=SEED)
        result = job.result(partial=True)
        assert job.status() is JobStatus.ERROR
        with pytest.raises(FerroqJobError, match=r"circuit 1 \(\\?\"broken\\?\"\)"):
            job.result()
        assert [e.success for e in result.results] == [True, False, True]
        assert result.success is False and result.status == "PARTIAL COMPLETED"
        assert "comes after a measurement" in result.results[1].status
        alone = backend.run([ok, ok, ok], shots=SHOTS, seed_simulator=SEED).result()
        assert result.get_counts(0) == alone.get_counts(0)
        assert result.get_counts(2) == alone.get_counts(2)
        # With nothing to return, the partial result says so, as Aer does.
        none = backend.run([broken, broken], shots=SHOTS).result(partial=True)
        assert [e.success for e in none.results] == [False, False]
        assert none.success is False and none.status == "ERROR"
