"""Property-based tests over random circuits drawn from the whole gate set."""

from __future__ import annotations

import collections
import itertools

import ferroq
import numpy as np
import reference as ref
from conftest import _res
from ferroq.testing import (
    assert_circuits_equivalent,
    assert_counts_consistent,
    assert_statevectors_close,
    circuit_unitary,
    run_many,
)
from ferroq.testing import strategies as fq_strategies
from helpers import add_op, build, circuits, dynamic_circuits, examples, measured_circuits, unitary_ops_only
from hypothesis import given, settings
from hypothesis import strategies as st

ATOL = 1e-10
# Many hypothesis examples run a chi-square test each: keep the family-wise false
# alarm rate low (the runs are seeded, so a given build passes or fails for good).
ALPHA = 1e-5
SEEDS = st.integers(0, 2**32 - 1)


@given(circuits(max_qubits=12, max_ops=30))
def test_random_circuit_matches_reference(nc):
    n, ops = nc
    got = ferroq.statevector(build(ops, n))
    assert got.shape == (1 << n,)
    assert got.dtype == np.complex128
    assert abs(np.linalg.norm(got) - 1.0) < 1e-10
    np.testing.assert_allclose(got, ref.simulate(ops, n), atol=ATOL)


@settings(max_examples=examples(0.5))
@given(circuits(max_qubits=6, max_ops=20))
def test_random_circuit_via_append_matches_reference(nc):
    n, ops = nc
    np.testing.assert_allclose(
        ferroq.statevector(build(ops, n, via_append=True)), ref.simulate(ops, n), atol=ATOL
    )


@given(circuits(max_qubits=10, max_ops=25))
def test_circuit_then_inverse_returns_start_state(nc):
    n, ops = nc
    # inverse() followed by the ops again: U U^dagger |0> = |0>
    circ = build(ops, n).inverse()
    for op in ops:
        add_op(circ, op)
    np.testing.assert_allclose(ferroq.statevector(circ), ref.zero_state(n), atol=1e-9)


@given(circuits(max_qubits=10, max_ops=25))
def test_inverse_matches_reference_adjoint(nc):
    n, ops = nc
    inv_state = ferroq.statevector(build(ops, n).inverse())
    np.testing.assert_allclose(inv_state, ref.simulate(ref.inverse_ops(ops), n), atol=1e-9)
    # and the reference forward evolution maps it back to |0>
    np.testing.assert_allclose(ref.simulate(ops, n, initial=inv_state), ref.zero_state(n), atol=1e-9)


@settings(max_examples=examples(0.5))
@given(circuits(max_qubits=12, max_ops=20), st.sampled_from([1, 2, 4]), st.sampled_from([1, 14]))
def test_statevector_threads_match_reference(nc, threads, threshold):
    n, ops = nc
    got = ferroq.statevector(build(ops, n), max_parallel_threads=threads, parallel_threshold=threshold)
    np.testing.assert_allclose(got, ref.simulate(ops, n), atol=ATOL)


# ---------------------------------------------------------------------------
# Sampling statistics
# ---------------------------------------------------------------------------


def _terminal_probs(n, num_clbits, ops):
    unitary = unitary_ops_only(ops)
    meas = [op for op in ops if op[0] == "measure"]
    state = ref.simulate(unitary, n)
    return ref.marginal_probabilities(state, [m[1][0] for m in meas], [m[2][0] for m in meas], num_clbits)


def _assert_counts_fit(counts, probs, shots, num_clbits):
    assert sum(counts.values()) == shots
    assert all(len(k) == num_clbits and set(k) <= {"0", "1"} for k in counts)
    pvalue, dof = ref.chi_square_pvalue(counts, probs)
    assert pvalue > ALPHA, f"chi-square p={pvalue:.3g} (dof={dof}); counts={counts}; probs={probs}"


@settings(max_examples=examples(0.5))
@given(measured_circuits(max_qubits=6, max_ops=15), SEEDS)
def test_terminal_sampling_chi_square(nmc, seed):
    n, num_clbits, ops = nmc
    shots = 4000
    result = _res(ferroq.Simulator().run(build(ops, n, num_clbits), shots=shots, seed=seed))
    _assert_counts_fit(result.get_counts(), _terminal_probs(n, num_clbits, ops), shots, num_clbits)


@settings(max_examples=examples(0.5))
@given(dynamic_circuits(max_qubits=4, max_ops=10), SEEDS)
def test_mid_circuit_sampling_chi_square(nmc, seed):
    n, num_clbits, ops = nmc
    shots = 3000
    result = _res(ferroq.Simulator().run(build(ops, n, num_clbits), shots=shots, seed=seed))
    _assert_counts_fit(result.get_counts(), ref.outcome_distribution(ops, n, num_clbits), shots, num_clbits)


# ---------------------------------------------------------------------------
# Determinism across thread counts and parallel thresholds
# ---------------------------------------------------------------------------

CONFIGS = list(itertools.product([1, 2, 4], [1, 14]))


def _seeded_runs(circ, seed, shots):
    out = []
    for threads, threshold in CONFIGS:
        res = _res(
            ferroq.Simulator().run(
                circ,
                shots=shots,
                seed=seed,
                memory=True,
                max_parallel_threads=threads,
                parallel_threshold=threshold,
            )
        )
        out.append(((threads, threshold), res.get_counts(), list(res.get_memory()), res.results[0].seed))
    return out


def _assert_identical(runs, shots):
    _, counts0, memory0, seed0 = runs[0]
    assert len(memory0) == shots
    assert collections.Counter(memory0) == collections.Counter(counts0)
    for config, counts, memory, exp_seed in runs[1:]:
        assert counts == counts0, config
        assert memory == memory0, config
        assert exp_seed == seed0, config


@settings(max_examples=examples(0.4))
@given(measured_circuits(max_qubits=12, max_ops=25), SEEDS)
def test_seeded_terminal_runs_identical_across_threads(nmc, seed):
    n, num_clbits, ops = nmc
    circ = build(ops, n, num_clbits)
    runs = _seeded_runs(circ, seed, shots=300)
    _assert_identical(runs, 300)
    # and a repeat of the first configuration is identical too
    again = _seeded_runs(circ, seed, shots=300)[:1]
    assert again[0][1:] == runs[0][1:]


@settings(max_examples=examples(0.4))
@given(dynamic_circuits(max_qubits=8, max_ops=15), SEEDS)
def test_seeded_mid_circuit_runs_identical_across_threads(nmc, seed):
    n, num_clbits, ops = nmc
    runs = _seeded_runs(build(ops, n, num_clbits), seed, shots=100)
    _assert_identical(runs, 100)


@settings(max_examples=examples(0.25))
@given(measured_circuits(max_qubits=5, max_ops=10), SEEDS)
def test_statevector_option_matches_reference(nmc, seed):
    n, num_clbits, ops = nmc
    res = _res(ferroq.Simulator().run(build(ops, n, num_clbits), shots=10, seed=seed, statevector=True))
    expected = ref.simulate(unitary_ops_only(ops), n)
    np.testing.assert_allclose(res.get_statevector(), expected, atol=ATOL)
    np.testing.assert_allclose(res.get_probabilities(), np.abs(expected) ** 2, atol=ATOL)


# ---------------------------------------------------------------------------
# The same properties through ferroq.testing: the strategies and assertions that
# ferroq ships to its users, checked against the numpy reference
# ---------------------------------------------------------------------------


def reference_ops(circuit):
    """A ferroq.Circuit's instructions as reference op tuples (see reference.py)."""
    matrices = iter(circuit._native.unitary_matrices())
    ops = [("global_phase", (), (circuit.global_phase,))] if circuit.global_phase else []
    for name, qubits, clbits, params in circuit.instructions:
        if name == "unitary":
            dim = 1 << len(qubits)
            ops.append((name, qubits, np.asarray(next(matrices)).reshape(dim, dim)))
        elif name == "measure":
            ops.append((name, qubits, clbits))
        else:
            ops.append((name, qubits, params))
    return ops


@settings(max_examples=examples(0.5))
@given(fq_strategies.circuits(num_qubits=range(1, 10), depth=range(0, 12), barriers=True))
def test_testing_circuits_statevector_matches_reference(circuit):
    expected = ref.simulate(reference_ops(circuit), circuit.num_qubits)
    assert_statevectors_close(ferroq.statevector(circuit), expected, up_to_global_phase=False, atol=ATOL)


@settings(max_examples=examples(0.25))
@given(fq_strategies.circuits(num_qubits=range(1, 5), depth=range(0, 8)))
def test_testing_circuit_unitary_matches_reference_and_inverse_undoes_it(circuit):
    n = circuit.num_qubits
    ops = reference_ops(circuit)
    columns = [ref.simulate(ops, n, initial=np.eye(1 << n)[j]) for j in range(1 << n)]
    np.testing.assert_allclose(circuit_unitary(circuit), np.stack(columns, axis=1), atol=ATOL)
    undone = circuit.copy().compose(circuit.inverse())
    assert_circuits_equivalent(undone, ferroq.Circuit(n), up_to_global_phase=False)


@settings(max_examples=examples(0.25))
@given(
    st.lists(
        fq_strategies.circuits(num_qubits=range(1, 6), depth=range(0, 8), measure=True),
        min_size=1,
        max_size=10,
    ),
    SEEDS,
)
def test_testing_batch_counts_consistent_with_reference(circuits_, seed):
    # One batch call for all the circuits of an example; up to 500 assertions per run,
    # hence alpha = 1e-6 each.
    for circuit, counts in zip(circuits_, run_many(circuits_, shots=2000, seed=seed), strict=True):
        ops = reference_ops(circuit)
        probs = ref.outcome_distribution(ops, circuit.num_qubits, circuit.num_clbits)
        assert_counts_consistent(counts, probs, alpha=1e-6)


@settings(max_examples=examples(0.25))
@given(fq_strategies.circuits(num_qubits=range(1, 4), depth=range(0, 5), measure="mid", reset=True), SEEDS)
def test_testing_mid_circuit_counts_consistent_with_reference(circuit, seed):
    [counts] = run_many([circuit], shots=3000, seed=seed)
    probs = ref.outcome_distribution(reference_ops(circuit), circuit.num_qubits, circuit.num_clbits)
    assert_counts_consistent(counts, probs, alpha=ALPHA)
