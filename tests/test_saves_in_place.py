"""A save after a mid-circuit measurement is taken shot by shot where it stands
(as Aer takes it), and averaged over the shots: gates and measurements after it
do not change it. It used to be taken from each shot's final state, which gave a
wrong value when a measurement followed it (and gates after it were refused)."""

from __future__ import annotations

import importlib.util

import ferroq
import numpy as np
import pytest
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st


def test_a_later_measurement_does_not_change_a_save():
    c = (
        ferroq.Circuit(2, 2)
        .measure(1, 1)  # makes the run shot by shot
        .h(0)
        .save_expectation_value([("X", 1.0)], [0], label="x")
        .save_probabilities([0], label="p")
        .measure(0, 0)
        .x(0)
        .h(1)
    )
    data = ferroq.Simulator(seed=1).run(c, shots=300).result().data(0)
    assert data["x"] == pytest.approx(1.0, abs=1e-12)
    assert np.allclose(data["p"], [0.5, 0.5], atol=1e-12)


def test_through_the_qiskit_backend():
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator, save_expectation_value
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    qc = QuantumCircuit(2, 2)
    qc.measure(1, 1)
    qc.h(0)
    save_expectation_value(qc, SparsePauliOp("X"), [0], label="x")
    qc.measure(0, 0)
    qc.h(0)
    result = FerroqSimulator().run(qc, shots=200, seed_simulator=3).result()
    assert result.data(0)["x"] == pytest.approx(1.0, abs=1e-12)


@pytest.mark.skipif(importlib.util.find_spec("qiskit_aer") is None, reason="qiskit-aer is not installed")
@settings(max_examples=examples(0.2), deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.1, 3.0), st.floats(0.1, 3.0)), min_size=3, max_size=3),
    st.integers(0, 2),
)
def test_saves_between_measurements_agree_with_aer(angles, measured):
    """Random rotations, a measurement, a save of X and Z terms, more gates and
    measurements: Aer's average and ferroq's within five standard errors."""
    from ferroq.qiskit import FerroqSimulator, save_expectation_value
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer import AerSimulator
    from qiskit_aer.library import SaveExpectationValue

    observable = SparsePauliOp.from_list([("XIZ", 1.0), ("ZXI", 0.5), ("IIX", -0.7)])

    def circuit(save):
        qc = QuantumCircuit(3, 3)
        for q, (a, b) in enumerate(angles):
            qc.rx(a, q)
            qc.rz(b, q)
        qc.cx(0, 1)
        qc.measure(measured, measured)
        qc.cx(1, 2)
        save(qc)
        qc.measure([0, 1, 2], [0, 1, 2])
        qc.h(0)
        return qc

    shots = 4000
    ours = circuit(lambda qc: save_expectation_value(qc, observable, [0, 1, 2], label="ev"))
    aers = circuit(lambda qc: qc.append(SaveExpectationValue(observable, label="ev"), [0, 1, 2]))
    ours = FerroqSimulator().run(ours, shots=shots, seed_simulator=1).result().data(0)["ev"]
    aers = AerSimulator().run(aers, shots=shots, seed_simulator=1).result().data(0)["ev"]
    # Each shot's value lies within the sum of |coefficients| (2.2) of zero.
    assert abs(ours - aers) < 5 * 2.2 * np.sqrt(2 / shots)
