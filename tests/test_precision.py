"""Single precision (``precision="single"``): complex64 storage, and on machines with
the vectorised kernels (AVX2 or AVX-512 on x86-64) complex64 arithmetic too, as qsim
does; elsewhere gates run in double precision on blocks rounded once per stage.

The bound the tests hold: an op on a block of D = 2^k amplitudes computes each output
as a sum of D complex products with f32 fused multiply-adds, so each real part is a
dot product of 2D terms and is off by at most (2D + 1) * 2^-24 of the sum of their
magnitudes; with the matrix itself rounded to f32 and unitary (rows of norm 1), the
whole state moves by at most 2 (D + 2) sqrt(D) * 2^-24 of its norm per op (the
double-precision path with one rounding per stage stays inside this too). Fusion
builds blocks of at most 4 qubits, or the widest gate of the circuit, and never more
ops than gates. Measured errors are far smaller, since roundings do not line up
(about 0.01-0.06 x 2^-24 per gate over hundreds of gates, see benches/RESULTS.md),
but a wrong kernel or a lost block breaks even this bound by orders of magnitude."""

from __future__ import annotations

import ferroq
import numpy as np
import pytest
import reference as ref
from ferroq.exceptions import OptionError, OptionTypeError, SimulationMemoryError
from helpers import build, circuits, dynamic_circuits, examples, measured_circuits
from hypothesis import given, settings
from hypothesis import strategies as st

EPS32 = 2.0**-24


def _bound(num_ops: int, widest: int = 1) -> float:
    d = 2.0 ** max(4, widest)  # fused blocks, or the widest gate (controls counted)
    per_op = 2 * (d + 2) * d**0.5
    return 1.01 * (num_ops * per_op + 2) * EPS32 + 1e-12


def _widest(ops) -> int:
    return max((len(op[1]) for op in ops), default=1)


def _assert_single_within_bound(n, ops):
    circ = build(ops, n)
    single = ferroq.statevector(circ, precision="single")
    assert single.dtype == np.complex64 and single.shape == (2**n,)
    want = ref.simulate(ops, n)
    err = np.linalg.norm(single.astype(np.complex128) - want)
    bound = _bound(len(ops), _widest(ops))
    assert err <= bound, f"off by {err:.3e} > {bound:.3e} after {len(ops)} ops"


@given(circuits(max_qubits=12, max_ops=60))
def test_single_precision_small_circuits_are_within_the_rounding_bound(nc):
    _assert_single_within_bound(*nc)


# From 16 qubits on, stages gather high qubits into blocks, and single ops that do not
# join a stage run through the widened-block path.
@settings(max_examples=examples(0.1, minimum=6), deadline=None)
@given(circuits(min_qubits=16, max_qubits=17, max_ops=80, max_unitary_qubits=3))
def test_single_precision_large_circuits_are_within_the_rounding_bound(nc):
    _assert_single_within_bound(*nc)


def test_single_precision_without_fusion_rounds_once_per_gate():
    n = 17
    c = ferroq.Circuit(n)
    for layer in range(6):
        for q in range(n):
            c.ry(0.1 * q + layer, q).rz(0.2 * q - layer, q)
        for q in range(layer % 2, n - 1, 2):
            c.cx(q, q + 1)
    c.mcx(list(range(1, n)), 0)
    double = ferroq.statevector(c)
    for fusion in (True, False):
        single = ferroq.statevector(c, precision="single", fusion=fusion)
        err = np.linalg.norm(single.astype(np.complex128) - double)
        assert err <= _bound(len(c)), (fusion, err)
        # Genuinely single: not a double state handed out in complex64.
        assert err > 0


@settings(max_examples=examples(0.1, minimum=5), deadline=None)
@given(measured_circuits(min_qubits=14, max_qubits=16, max_ops=30), st.integers(0, 2**32 - 1))
def test_single_precision_gives_the_same_bits_on_any_thread_count(nmc, seed):
    n, num_clbits, ops = nmc
    circ = build(ops, n, num_clbits)
    runs = [
        ferroq.Simulator(max_parallel_threads=t, seed=seed, shots=200, memory=True, precision="single")
        .run(circ, statevector=True)
        .result()
        for t in (1, 2, 3)
    ]
    assert runs[0].get_memory() == runs[1].get_memory() == runs[2].get_memory()
    np.testing.assert_array_equal(runs[0].get_statevector(), runs[2].get_statevector())


@settings(max_examples=examples(0.3), deadline=None)
@given(measured_circuits(max_qubits=5, max_ops=15), st.integers(0, 2**32 - 1))
def test_single_precision_counts_follow_the_exact_distribution(nmc, seed):
    n, num_clbits, ops = nmc
    circ = build(ops, n, num_clbits)
    counts = ferroq.Simulator(seed=seed, shots=4000, precision="single").run(circ).result().get_counts()
    probs = ref.outcome_distribution(ops, n, num_clbits)
    pvalue, _ = ref.chi_square_pvalue(counts, probs)
    assert pvalue > 1e-4


@settings(max_examples=examples(0.3), deadline=None)
@given(dynamic_circuits(), st.integers(0, 2**32 - 1))
def test_single_precision_mid_circuit_measurement_matches_double(nmc, seed):
    # Shot by shot: each shot's random draws are the same in both precisions, so
    # outcomes agree unless a draw falls within rounding of a probability boundary.
    n, num_clbits, ops = nmc
    circ = build(ops, n, num_clbits)
    runs = [
        ferroq.Simulator(seed=seed, shots=300, memory=True, precision=p).run(circ).result().get_memory()
        for p in ("double", "single")
    ]
    differing = sum(a != b for a, b in zip(*runs, strict=True))
    assert differing <= 1


def test_single_precision_saves_and_statevector():
    c = (
        ferroq.Circuit(3, 3)
        .h(0)
        .cx(0, 1)
        .ry(0.3, 2)
        .save_statevector()
        .save_probabilities([0, 2], label="p")
        .save_amplitudes([0, 3], label="a")
        .save_expectation_value([("ZZI", 1.0), ("IIX", 0.5)], label="e")
        .measure_all(add_bits=False)
    )
    c.global_phase = 0.7
    double = ferroq.Simulator(seed=1, statevector=True).run(c).result()
    single = ferroq.Simulator(seed=1, statevector=True, precision="single").run(c).result()
    d, s = double.data(0), single.data(0)
    assert s["statevector"].dtype == np.complex64
    assert single.get_statevector().dtype == np.complex64
    np.testing.assert_allclose(s["statevector"], d["statevector"], atol=1e-7)
    np.testing.assert_allclose(single.get_statevector(), double.get_statevector(), atol=1e-7)
    np.testing.assert_allclose(s["p"], d["p"], atol=1e-7)
    np.testing.assert_allclose(s["a"], d["a"], atol=1e-7)
    assert s["e"] == pytest.approx(d["e"], abs=1e-7)
    assert sum(single.get_counts().values()) == 1024


def test_single_precision_halves_the_memory_a_state_needs():
    c = ferroq.Circuit(20).h(0)  # complex64: 8 MiB; complex128: 16 MiB
    assert ferroq.statevector(c, precision="single", max_memory_mb=12).dtype == np.complex64
    with pytest.raises(SimulationMemoryError):
        ferroq.statevector(c, max_memory_mb=12)
    job = ferroq.Simulator(precision="single").run(c.copy().measure_all(), shots=1)
    assert job.usage_estimation["statevector_bytes"] == 8 * 2**20


def test_precision_option_is_validated():
    with pytest.raises(OptionError, match=r"precision.*'double' or 'single'.*half"):
        ferroq.Simulator(precision="half")
    with pytest.raises(OptionTypeError, match="precision"):
        ferroq.Simulator(precision=32)
    with pytest.raises(OptionError, match="precision"):
        ferroq.statevector(ferroq.Circuit(1), precision="float")
    assert ferroq.Simulator().options["precision"] == "double"


def test_pickled_single_precision_results_stay_complex64():
    import pickle

    c = ferroq.Circuit(2, 2).h(0).cx(0, 1).save_statevector().measure_all(add_bits=False)
    r = ferroq.Simulator(seed=2, statevector=True, precision="single").run(c).result()
    e = pickle.loads(pickle.dumps(r.results[0]))
    assert e.statevector().dtype == np.complex64
    assert e.saved()["statevector"].dtype == np.complex64
    np.testing.assert_array_equal(e.statevector(), r.get_statevector())
    np.testing.assert_array_equal(e.saved()["statevector"], r.data(0)["statevector"])


def test_single_precision_reaches_chunks_run_on_an_executor():
    from concurrent.futures import ThreadPoolExecutor

    circuits = [
        ferroq.Circuit(3, 3).ry(0.1 * i, 0).cx(0, 1).rx(0.2, 2).measure_all(add_bits=False) for i in range(6)
    ]
    sim = ferroq.Simulator(seed=11, shots=100, memory=True, statevector=True, precision="single")
    whole = sim.run(circuits).result()
    with ThreadPoolExecutor(2) as pool:
        split = sim.run(circuits, executor=pool, max_job_size=4).result(timeout=60)
    for i in range(len(circuits)):
        assert split.get_statevector(i).dtype == np.complex64
        np.testing.assert_array_equal(split.get_statevector(i), whole.get_statevector(i))
        assert split.get_memory(i) == whole.get_memory(i)
