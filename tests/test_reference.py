"""Checks of the numpy reference itself (no ferroq needed): the gate table against
qiskit's Operator, and the dense application routines against each other."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import reference as ref
from conftest import requires_qiskit
from helpers import GATE_NAMES, build_qiskit, circuits, qiskit_gate, stable_seed
from hypothesis import given
from hypothesis import strategies as st

ATOL = 1e-10


def _param_sets(name, rng):
    npar = ref.GATES[name][1]
    sets = [tuple(rng.uniform(-2 * math.pi, 2 * math.pi, npar)) for _ in range(5)]
    sets += [(v,) * npar for v in (0.0, math.pi, -math.pi / 2, 7.5)]
    return sets


@pytest.mark.parametrize("name", GATE_NAMES)
def test_reference_gates_are_unitary(name):
    rng = np.random.default_rng(stable_seed("unitary", name))
    nq, _, _ = ref.GATES[name]
    for params in _param_sets(name, rng):
        m = ref.gate_matrix(name, params)
        assert m.shape == (1 << nq, 1 << nq)
        np.testing.assert_allclose(m @ m.conj().T, np.eye(1 << nq), atol=ATOL)


@requires_qiskit
@pytest.mark.parametrize("name", GATE_NAMES)
def test_reference_gate_matches_qiskit(name):
    from qiskit.quantum_info import Operator

    rng = np.random.default_rng(stable_seed("qiskit", name))
    nq, npar, _ = ref.GATES[name]
    for params in _param_sets(name, rng):
        gate = qiskit_gate(name, params)
        assert gate.name == name
        assert gate.num_qubits == nq
        assert len(gate.params) == npar
        np.testing.assert_allclose(
            ref.gate_matrix(name, params), Operator(gate).data, atol=ATOL, err_msg=name
        )


@requires_qiskit
@pytest.mark.parametrize("num_ctrl", [1, 2, 3, 4])
def test_reference_mcx_matches_qiskit(num_ctrl):
    from qiskit.circuit.library import MCXGate
    from qiskit.quantum_info import Operator

    np.testing.assert_allclose(ref.mcx_matrix(num_ctrl), Operator(MCXGate(num_ctrl)).data, atol=ATOL)


def test_reference_qiskit_convention_spot_checks():
    """Hand-written little-endian facts, independent of qiskit."""
    # cx(control=0, target=1): |01> (index 1: q0 = 1) -> |11> (index 3).
    cx = ref.gate_matrix("cx")
    assert cx[3, 1] == 1
    assert cx[1, 3] == 1
    assert cx[0, 0] == 1
    assert cx[2, 2] == 1
    # rz carries the global phase e^{-i phi/2}, p does not.
    np.testing.assert_allclose(ref.gate_matrix("rz", (1.0,)), np.diag([np.exp(-0.5j), np.exp(0.5j)]))
    np.testing.assert_allclose(ref.gate_matrix("p", (1.0,)), np.diag([1, np.exp(1j)]))
    # cu's gamma only phases the controlled block.
    cu = ref.gate_matrix("cu", (0.0, 0.0, 0.0, 0.3))
    np.testing.assert_allclose(np.diag(cu), [1, np.exp(0.3j), 1, np.exp(0.3j)], atol=ATOL)
    # ccx controls are qubits 0 and 1: |011> (3) <-> |111> (7).
    ccx = ref.gate_matrix("ccx")
    assert ccx[7, 3] == 1
    assert ccx[3, 7] == 1


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_apply_matches_full_matrix(n):
    """The tensor-contraction apply and the loop-built full matrix agree."""
    rng = np.random.default_rng(stable_seed("apply", n))
    state = ref.random_state(n, rng)
    for k in range(1, n + 1):
        for qubits in itertools.permutations(range(n), k):
            m = ref.random_unitary(1 << k, rng)
            np.testing.assert_allclose(
                ref.apply(state, m, qubits), ref.full_matrix(m, qubits, n) @ state, atol=ATOL
            )


@pytest.mark.parametrize("n", [2, 3, 4])
def test_full_matrix_matches_kron(n):
    rng = np.random.default_rng(stable_seed("kron", n))
    for k in range(1, n + 1):
        for lo in range(n - k + 1):
            m = ref.random_unitary(1 << k, rng)
            qubits = list(range(lo, lo + k))
            np.testing.assert_allclose(ref.full_matrix(m, qubits, n), ref.full_matrix_kron(m, qubits, n))


def test_apply_mcx_matches_matrix():
    rng = np.random.default_rng(5)
    n = 5
    state = ref.random_state(n, rng)
    for k in range(1, n):
        for qubits in list(itertools.permutations(range(n), k + 1))[::7]:
            np.testing.assert_allclose(
                ref.apply_mcx(state, qubits[:-1], qubits[-1]),
                ref.apply(state, ref.mcx_matrix(k), qubits),
                atol=ATOL,
            )


@requires_qiskit
@given(circuits(max_qubits=6, max_ops=15))
def test_reference_simulate_matches_qiskit_statevector(nc):
    from qiskit.quantum_info import Statevector

    n, ops = nc
    expected = Statevector(build_qiskit(ops, n)).data
    np.testing.assert_allclose(ref.simulate(ops, n), expected, atol=1e-9)


@given(circuits(max_qubits=6, max_ops=15))
def test_reference_inverse_ops(nc):
    n, ops = nc
    state = ref.simulate(ops, n)
    np.testing.assert_allclose(
        ref.simulate(ref.inverse_ops(ops), n, initial=state), ref.zero_state(n), atol=1e-9
    )


def test_outcome_distribution_examples():
    h_meas = [("h", (0,), ()), ("measure", (0,), (0,)), ("reset", (0,), ()), ("x", (0,), ()),
              ("measure", (0,), (1,))]  # fmt: skip
    dist = ref.outcome_distribution(h_meas, 1, 2)
    assert dist == pytest.approx({"10": 0.5, "11": 0.5})
    bell = [("h", (0,), ()), ("cx", (0, 1), ()), ("measure", (0,), (0,)), ("measure", (1,), (1,))]
    assert ref.outcome_distribution(bell, 2, 2) == pytest.approx({"00": 0.5, "11": 0.5})
    state = ref.simulate(bell[:2], 2)
    assert ref.marginal_probabilities(state, [1], [0], 2) == pytest.approx({"00": 0.5, "01": 0.5})


def test_chi2_sf_fallback_matches_known_values():
    # Known chi-square quantiles: P(X > 3.841) = 0.05 for 1 dof, P(X > 18.307) = 0.05 for 10 dof.
    assert ref._gammaincc(0.5, 3.841459 / 2) == pytest.approx(0.05, rel=1e-5)
    assert ref._gammaincc(5.0, 18.307038 / 2) == pytest.approx(0.05, rel=1e-5)
    assert ref._gammaincc(50.0, 124.342 / 2) == pytest.approx(0.05, rel=1e-3)
    assert ref.chi2_sf(3.841459, 1) == pytest.approx(0.05, rel=1e-5)


def test_chi_square_detects_a_wrong_distribution():
    probs = {"0": 0.5, "1": 0.5}
    assert ref.chi_square_pvalue({"0": 500, "1": 500}, probs)[0] > 0.5
    assert ref.chi_square_pvalue({"0": 600, "1": 400}, probs)[0] < 1e-8
    with pytest.raises(AssertionError):
        ref.chi_square_pvalue({"0": 999, "1": 1}, {"0": 1.0, "1": 0.0})


@given(st.integers(0, 2**32 - 1))
def test_random_unitary_is_unitary(seed):
    m = ref.random_unitary(8, np.random.default_rng(seed))
    np.testing.assert_allclose(m @ m.conj().T, np.eye(8), atol=1e-12)
