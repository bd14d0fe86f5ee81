"""Differential tests against qiskit's Statevector (skipped when qiskit is absent)."""

from __future__ import annotations

import itertools
import math

import ferroq
import numpy as np
import pytest
import reference as ref
from conftest import _res
from helpers import GATE_NAMES, build, build_qiskit, circuits, examples, stable_seed
from hypothesis import given, settings

pytest.importorskip("qiskit")

from qiskit.quantum_info import Statevector

ATOL = 1e-10


def _qiskit_state(ops, n):
    return Statevector(build_qiskit(ops, n)).data


@given(circuits(max_qubits=10, max_ops=25))
def test_random_circuit_matches_qiskit(nc):
    n, ops = nc
    np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=1e-9)


@settings(max_examples=examples(0.5))
@given(circuits(min_qubits=3, max_qubits=5, max_ops=40, max_unitary_qubits=0, max_mcx_controls=0))
def test_deep_gate_only_circuit_matches_qiskit(nc):
    n, ops = nc
    np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=1e-9)


@settings(max_examples=examples(0.5))
@given(circuits(max_qubits=6, max_ops=15))
def test_inverse_matches_qiskit_inverse(nc):
    n, ops = nc
    expected = Statevector(build_qiskit(ops, n).inverse()).data
    np.testing.assert_allclose(ferroq.statevector(build(ops, n).inverse()), expected, atol=1e-9)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_each_gate_every_ordering_matches_qiskit(name):
    """Every gate on every ordered qubit tuple of a 3-qubit register, after a
    random-state preparation, compared with qiskit."""
    n = 3
    rng = np.random.default_rng(stable_seed("qiskit-diff", name))
    nq, npar, _ = ref.GATES[name]
    prep = ("unitary", (0, 1, 2), ref.random_unitary(8, rng))
    for qubits in itertools.permutations(range(n), nq):
        params = tuple(float(v) for v in rng.uniform(-2 * math.pi, 2 * math.pi, npar))
        ops = [prep, (name, qubits, params), ("global_phase", (), (0.37,))]
        np.testing.assert_allclose(
            ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=ATOL, err_msg=f"{name} {qubits}"
        )


@pytest.mark.parametrize("num_ctrl", [1, 2, 3, 4])
def test_mcx_matches_qiskit(num_ctrl):
    n = 5
    rng = np.random.default_rng(stable_seed("qiskit-mcx", num_ctrl))
    prep = ("unitary", tuple(range(n)), ref.random_unitary(1 << n, rng))
    for _ in range(5):
        qubits = tuple(int(q) for q in rng.permutation(n)[: num_ctrl + 1])
        ops = [prep, ("mcx", qubits, ())]
        np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=ATOL)


def test_counts_bitstring_convention_matches_qiskit():
    """The count keys use qiskit's ordering (clbit 0 rightmost): compare the single
    possible outcome of a deterministic circuit with qiskit's probabilities_dict."""
    ops = [("x", (0,), ()), ("x", (3,), ()), ("swap", (0, 1), ())]
    n = 4
    circ = build(ops, n, n).measure(list(range(n)), list(range(n)))
    counts = _res(ferroq.Simulator().run(circ, shots=16)).get_counts()
    expected = Statevector(build_qiskit(ops, n)).probabilities_dict()
    (key,) = (k for k, v in expected.items() if v > 0.5)
    assert counts == {key: 16}
