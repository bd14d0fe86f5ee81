"""Qiskit's ``store`` into clbits and registers (``Circuit.store`` in ferroq's own
API), run shot by shot, against hand-derived distributions and, where it is
installed, Qiskit Aer."""

from __future__ import annotations

import importlib.util
import pickle

import ferroq
import pytest
from ferroq.exceptions import CircuitError
from ferroq.testing import assert_counts_consistent, assert_distribution_close
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st


def test_store_a_negated_bit_and_a_constant():
    c = ferroq.Circuit(1, 4).h(0).measure(0, 0).store(1, ("not", ("bit", 0))).store([2, 3], 2)
    counts = ferroq.Simulator(seed=1).run(c, shots=2000).result().get_counts()
    assert_counts_consistent(counts, {"1001": 0.5, "1010": 0.5})


@settings(max_examples=examples(0.3), deadline=None)
@given(st.integers(0, 7), st.sampled_from(["bitxor", "bitand", "bitor"]))
def test_store_into_a_register_then_branch_on_it(constant, op):
    """Measure two qubits of |+>|+> into c; r = c op constant (3 bits); flip a
    third qubit when r == 5. Every outcome of c is equally likely, so the
    distribution is hand-derived."""
    c = ferroq.Circuit(3, 5).h(0).h(1).measure([0, 1], [0, 1])
    c.store([2, 3, 4], (op, ("register", [0, 1]), ("value", constant)))
    with c.if_test(([2, 3, 4], 5)):
        c.x(2)
    c.measure(2, 1)  # overwrites clbit 1 with the flag
    apply = {"bitxor": int.__xor__, "bitand": int.__and__, "bitor": int.__or__}[op]
    expected: dict[str, float] = {}
    for measured in range(4):
        r = apply(measured, constant) & 7
        flag = 1 if r == 5 else 0
        key = f"{r:03b}{flag}{measured & 1}"
        expected[key] = expected.get(key, 0) + 0.25
    counts = ferroq.Simulator(seed=constant).run(c, shots=2000).result().get_counts()
    assert_counts_consistent(counts, expected)


def test_bad_stores_are_refused_and_pickles_keep_them():
    c = ferroq.Circuit(1, 2)
    with pytest.raises(CircuitError, match="clbit 5"):
        c.store(5, 1)
    with pytest.raises(CircuitError, match="more than once"):
        c.store([0, 0], 1)
    with pytest.raises(CircuitError):
        c.store(0, ("bit", 9))
    assert len(c) == 0
    c.store([0, 1], ("not", ("bit", 0)))
    assert pickle.loads(pickle.dumps(c)) == c
    with pytest.raises(CircuitError, match="invert"):
        c.inverse()


def test_through_qiskit_and_against_aer():
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister
    from qiskit.circuit.classical import expr, types

    c, r = ClassicalRegister(2, "c"), ClassicalRegister(2, "r")
    qc = QuantumCircuit(QuantumRegister(2), c, r)
    qc.h([0, 1])
    qc.measure([0, 1], c)
    qc.store(r, expr.bit_xor(c, expr.lift(1, types.Uint(2))))
    qc.store(r[1], expr.logic_not(c[0]))
    with qc.if_test(expr.equal(r, 3)):
        qc.x(0)
    qc.measure(0, c[0])
    ours = FerroqSimulator().run(qc, shots=4000, seed_simulator=1).result().get_counts()
    # c = b1 b0 measured; r = c ^ 1 with r[1] = not b0; when r == 3 qubit 0 flips.
    expected = {"00 01": 0.25, "00 11": 0.25, "11 01": 0.25, "11 11": 0.25}
    assert_counts_consistent({k: v for k, v in ours.items()}, expected)
    if importlib.util.find_spec("qiskit_aer") is not None:
        from qiskit_aer import AerSimulator

        aers = AerSimulator().run(qc, shots=4000, seed_simulator=1).result().get_counts()
        assert_distribution_close(ours, aers)
    standalone = QuantumCircuit(1, 1)
    flag = standalone.add_var("flag", expr.lift(False))
    standalone.store(flag, expr.lift(True))
    with pytest.raises(CircuitError, match="classical variable"):
        FerroqSimulator().run(standalone)
