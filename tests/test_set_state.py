"""Setting the state: ``Circuit.set_statevector`` (Aer's ``set_statevector``), and
on the Qiskit backend Aer's ``SetStatevector`` and an ``initialize`` of every qubit,
checked against ``qiskit.quantum_info`` and, where installed, Qiskit Aer."""

from __future__ import annotations

import importlib.util
import pickle

import ferroq
import numpy as np
import pytest
from ferroq.exceptions import CircuitError
from ferroq.testing import assert_counts_consistent, assert_statevectors_close
from helpers import examples
from hypothesis import given, settings
from hypothesis import strategies as st


def random_state(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=2**n) + 1j * rng.normal(size=2**n)
    return v / np.linalg.norm(v)


def test_the_run_starts_from_the_state_and_earlier_gates_are_forgotten():
    state = random_state(3, 1)
    c = ferroq.Circuit(3).h(0).cx(0, 1).set_statevector(state).x(2)
    expected = state.reshape(2, 2, 2)[::-1].reshape(-1)  # X on qubit 2, the most significant
    assert_statevectors_close(ferroq.statevector(c), expected, up_to_global_phase=False)
    assert [name for name, _, _ in c.data] == ["h", "cx", "set_statevector", "x"]


def test_counts_follow_the_set_state():
    state = random_state(3, 2)
    c = ferroq.Circuit(3, 3).set_statevector(state).measure([0, 1, 2], [0, 1, 2])
    counts = ferroq.Simulator(seed=3).run(c, shots=4000).result().get_counts()
    assert_counts_consistent(counts, np.abs(state) ** 2)


def test_mid_circuit_measurement_after_a_set_state_runs_shot_by_shot():
    c = ferroq.Circuit(2, 2).set_statevector(np.array([0, 1, 0, 0])).measure(0, 0).cx(0, 1).measure(1, 1)
    assert ferroq.Simulator(seed=1).run(c, shots=50).result().get_counts() == {"11": 50}


@settings(max_examples=examples(0.3), deadline=None)
@given(st.data())
def test_set_state_then_random_gates_match_qiskit(data):
    pytest.importorskip("qiskit")
    from ferroq.qiskit import to_ferroq
    from ferroq.testing.strategies import qiskit_circuits
    from qiskit.quantum_info import Statevector

    qc = data.draw(qiskit_circuits(range(1, 5), range(0, 8)))
    state = random_state(qc.num_qubits, data.draw(st.integers(0, 2**32 - 1)))
    ours = ferroq.Circuit(qc.num_qubits).set_statevector(state).compose(to_ferroq(qc))
    expected = Statevector(state).evolve(qc).data
    assert_statevectors_close(ferroq.statevector(ours), expected, up_to_global_phase=False, atol=1e-10)


@pytest.mark.parametrize(
    ("state", "match"),
    [
        (np.ones(3) / np.sqrt(3), "amplitudes for 2 qubits"),
        (np.array([1, 1, 0, 0]), "norm"),
        (np.array([np.nan, 1, 0, 0]), "non-finite"),
        (np.eye(4), "1-dimensional"),
    ],
)
def test_bad_states_are_refused_and_change_nothing(state, match):
    c = ferroq.Circuit(2).h(0)
    with pytest.raises(CircuitError, match=match):
        c.set_statevector(state)
    assert len(c) == 1


def test_where_a_state_cannot_be_set():
    after_measure = ferroq.Circuit(1, 1).measure(0, 0).set_statevector(np.array([0, 1]))
    with pytest.raises(CircuitError, match="set_statevector after a measurement"):
        ferroq.Simulator().run(after_measure).result()
    c = ferroq.Circuit(1, 1).set_statevector(np.array([0, 1]))
    with pytest.raises(CircuitError, match="invert"):
        c.inverse()
    c.measure(0, 0)
    with c.if_test((0, 1)):
        c.set_statevector(np.array([1, 0]))
    with pytest.raises(CircuitError, match="control-flow block"):
        ferroq.Simulator().run(c).result()


def test_a_set_state_pickles_bit_for_bit():
    state = random_state(4, 5)
    c = ferroq.Circuit(4).set_statevector(state).h(1)
    back = pickle.loads(pickle.dumps(c))
    assert back == c
    assert np.array_equal(ferroq.statevector(back), ferroq.statevector(c))


# --------------------------------------------------------------- through Qiskit
HAVE_AER = importlib.util.find_spec("qiskit_aer") is not None


def final_state(qc, backend):
    from ferroq.qiskit import save_statevector

    qc = qc.copy()
    save_statevector(qc)  # ferroq's, which Aer runs too
    return np.asarray(backend.run(qc).result().get_statevector())


@pytest.mark.parametrize("how", ["amplitudes", "label", "int", "permuted"])
def test_initialize_of_every_qubit_after_gates(how):
    """The state is the same whatever came before: set, not reset shot by shot
    (which made a later save_statevector fail)."""
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    state = random_state(3, 7)
    qc = QuantumCircuit(3)
    qc.h([0, 1, 2])
    qc.cx(0, 2)
    if how == "amplitudes":
        qc.initialize(state, [0, 1, 2])
        expected = state
    elif how == "label":
        qc.initialize("01+", [0, 1, 2])
        expected = Statevector.from_label("01+").data
    elif how == "int":
        qc.initialize(5, [0, 1, 2])
        expected = np.eye(8)[5]
    else:
        qc.initialize(state, [1, 2, 0])
        # Qiskit's own reading of the qubit order: the same preparation, unitary.
        from qiskit.circuit.library import StatePreparation

        reference = QuantumCircuit(3)
        reference.append(StatePreparation(state), [1, 2, 0])
        expected = Statevector(reference).data
    ours = final_state(qc, FerroqSimulator())
    assert_statevectors_close(ours, expected, up_to_global_phase=False, atol=1e-10)
    if HAVE_AER:
        from qiskit_aer import AerSimulator

        assert_statevectors_close(ours, final_state(qc, AerSimulator()), up_to_global_phase=False, atol=1e-10)


def test_initialize_after_a_measurement_still_resets_shot_by_shot():
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.measure(0, 0)
    qc.initialize("10", [0, 1])
    qc.measure(1, 1)
    counts = FerroqSimulator().run(qc, shots=2000, seed_simulator=1).result().get_counts()
    assert_counts_consistent(counts, {"00": 0, "01": 0, "10": 0.5, "11": 0.5})


@pytest.mark.skipif(not HAVE_AER, reason="qiskit-aer is not installed")
def test_aer_set_statevector_as_aer_runs_it():
    from ferroq.qiskit import FerroqSimulator
    from qiskit import QuantumCircuit
    from qiskit_aer import AerSimulator
    from qiskit_aer.library import SetStatevector

    state = random_state(3, 9)
    for qargs in ([0, 1, 2], [2, 0, 1]):  # Aer takes the state in circuit order either way
        qc = QuantumCircuit(3)
        qc.h(0)
        qc.append(SetStatevector(state), qargs)
        qc.rx(0.3, 1)
        ours, aers = final_state(qc, FerroqSimulator()), final_state(qc, AerSimulator())
        assert_statevectors_close(ours, aers, up_to_global_phase=False, atol=1e-10)
    qc = QuantumCircuit(3)
    qc.set_statevector(state)
    qc.measure_all()
    counts = FerroqSimulator().run(qc, shots=4000, seed_simulator=2).result().get_counts()
    assert_counts_consistent(counts, np.abs(state) ** 2)
