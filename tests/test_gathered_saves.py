"""Saves gathered per shot (``pershot=True``) and per classical memory
(``conditional=True``), as Aer gathers them: in ferroq's ``Circuit`` API and
through the Qiskit backend, checked against hand-derived values and, where it is
installed, against Aer side by side."""

from __future__ import annotations

import importlib.util
import pickle

import ferroq
import numpy as np
import pytest
from ferroq.exceptions import CircuitError, SimulationMemoryError
from ferroq.testing import assert_counts_consistent

HAVE_AER = importlib.util.find_spec("qiskit_aer") is not None


def run(circuit, shots, seed=1):
    return ferroq.Simulator(seed=seed).run(circuit, shots=shots, memory=True).result()


def test_per_shot_values_follow_each_shot():
    c = ferroq.Circuit(2, 2).h(0).ry(0.8, 1)
    c.save_expectation_value([("ZI", 1.0)], label="before", pershot=True)
    c.measure(0, 0)
    c.save_expectation_value([("IZ", 1.0)], label="after", pershot=True)
    c.save_statevector(label="states", pershot=True)
    c.save_probabilities([0], label="p", pershot=True)
    result = run(c, shots=50)
    data = result.data(0)
    memory = result.get_memory(0)
    # Before the measurement every shot has cos(0.8) for Z on qubit 1.
    assert data["before"].shape == (50,) and np.allclose(data["before"], np.cos(0.8))
    # After it, Z on qubit 0 is +1 or -1, as the shot's own bit says.
    bits = np.array([int(m[-1]) for m in memory])
    assert np.allclose(data["after"], 1 - 2 * bits, atol=1e-12)
    assert len(data["states"]) == 50
    for state, bit in zip(data["states"], bits, strict=True):
        assert np.allclose(np.abs(state[[0, 1, 2, 3]]) ** 2 @ [1, 1, 1, 1], 1.0)
        assert abs(state[bit]) > 0.5 or abs(state[bit + 2]) > 0.5  # qubit 0 collapsed to the bit
    assert all(np.allclose(p, np.eye(2)[b]) for p, b in zip(data["p"], bits, strict=True))


def test_conditional_values_are_grouped_by_memory():
    c = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure(0, 0)
    c.save_expectation_value([("ZI", 1.0)], label="z1", conditional=True)
    c.save_probabilities([1], label="p1", conditional=True)
    c.save_statevector(label="sv", conditional=True)
    c.save_expectation_value([("ZI", 1.0)], label="z1s", conditional=True, pershot=True)
    result = run(c, shots=400)
    data = result.data(0)
    assert set(data["z1"]) == {"0x0", "0x1"}
    assert data["z1"]["0x0"] == pytest.approx(1.0) and data["z1"]["0x1"] == pytest.approx(-1.0)
    assert np.allclose(data["p1"]["0x1"], [0, 1])
    assert np.allclose(np.abs(data["sv"]["0x1"]), [0, 0, 0, 1])
    counts = result.get_counts(0)
    assert len(data["z1s"]["0x0"]) == counts["00"] and len(data["z1s"]["0x1"]) == counts["01"]


def test_a_save_before_any_measurement_is_every_shots_with_memory_zero():
    c = ferroq.Circuit(1, 1).h(0)
    c.save_amplitudes([0, 1], label="a", pershot=True)
    c.save_expectation_value([("X", 1.0)], label="x", conditional=True)
    c.measure(0, 0)
    data = run(c, shots=7).data(0)
    assert len(data["a"]) == 7 and all(np.allclose(a, [2**-0.5, 2**-0.5]) for a in data["a"])
    assert data["x"] == {"0x0": pytest.approx(1.0)}


def test_gathered_values_survive_pickling():
    c = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    c.save_expectation_value([("Z", 1.0)], label="z", conditional=True, pershot=True)
    result = run(c, shots=20)
    back = pickle.loads(pickle.dumps(result))
    assert {k: list(v) for k, v in back.data(0)["z"].items()} == {
        k: list(v) for k, v in result.data(0)["z"].items()
    }


def test_what_stays_refused_and_what_is_counted():
    c = ferroq.Circuit(1, 1).h(0).measure(0, 0).save_statevector(label="sv")
    with pytest.raises(CircuitError, match="pershot=True or"):
        run(c, shots=2)
    with pytest.raises(TypeError, match="pershot must be a bool"):
        ferroq.Circuit(1).save_statevector(pershot=1)  # type: ignore[arg-type]
    # A state per shot is counted against the memory limit before running.
    big = ferroq.Circuit(20, 1).h(0).save_statevector(pershot=True)
    with pytest.raises(SimulationMemoryError):
        ferroq.Simulator(max_memory_mb=256).run(big, shots=1000).result()


# --------------------------------------------------------------- through Qiskit
def _aer_circuit():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import SparsePauliOp

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.rx(0.4, 1)
    qc.save_expectation_value(SparsePauliOp("ZI"), [0, 1], label="ev_ps", pershot=True)
    qc.save_statevector(label="sv_ps", pershot=True)
    qc.save_probabilities([0], label="p_c", conditional=True)
    qc.measure(0, 0)
    qc.save_expectation_value(SparsePauliOp("IZ"), [0, 1], label="ev_c", conditional=True)
    qc.save_expectation_value(SparsePauliOp("IZ"), [0, 1], label="ev_cps", conditional=True, pershot=True)
    qc.save_statevector(label="sv_c", conditional=True)
    qc.save_amplitudes([0, 1], label="amp_ps", pershot=True)
    qc.save_probabilities_dict([0], label="pd_ps", pershot=True)
    qc.save_density_matrix([1], label="dm")
    qc.save_density_matrix([0], label="dm_c", conditional=True)
    qc.save_expectation_value_variance(SparsePauliOp("XZ"), [0, 1], label="evv")
    qc.save_amplitudes_squared([0, 1, 2, 3], label="asq")
    qc.save_statevector_dict(label="svd_c", conditional=True)
    return qc


@pytest.mark.skipif(not HAVE_AER, reason="qiskit-aer is not installed")
def test_every_gathered_save_agrees_with_aer():
    from ferroq.qiskit import FerroqSimulator
    from qiskit.quantum_info import DensityMatrix, Statevector
    from qiskit.result import ProbDistribution
    from qiskit_aer import AerSimulator

    shots = 4000
    ours = FerroqSimulator().run(_aer_circuit(), shots=shots, seed_simulator=1).result().data(0)
    aers = AerSimulator().run(_aer_circuit(), shots=shots, seed_simulator=1).result().data(0)
    assert set(ours) == set(aers)
    # Deterministic values: exactly Aer's.
    assert np.allclose(ours["ev_ps"], aers["ev_ps"]) and len(ours["ev_ps"]) == shots
    assert all(isinstance(v, Statevector) for v in ours["sv_ps"]) and len(ours["sv_ps"]) == shots
    assert np.allclose(ours["sv_ps"][0].data, aers["sv_ps"][0].data)
    assert set(ours["p_c"]) == {"0x0"} and np.allclose(ours["p_c"]["0x0"], aers["p_c"]["0x0"])
    for key in ("0x0", "0x1"):
        assert ours["ev_c"][key] == pytest.approx(aers["ev_c"][key], abs=1e-12)
        assert np.allclose(ours["sv_c"][key].data, aers["sv_c"][key].data)
        assert isinstance(ours["dm_c"][key], DensityMatrix)
        assert np.allclose(ours["dm_c"][key].data, aers["dm_c"][key].data)
        assert ours["svd_c"][key].keys() == aers["svd_c"][key].keys()
        assert np.allclose(list(ours["svd_c"][key].values()), list(aers["svd_c"][key].values()))
        assert np.allclose(ours["ev_cps"][key], aers["ev_cps"][key][0])
    assert np.allclose(ours["dm"].data, aers["dm"].data) and np.allclose(ours["evv"], aers["evv"])
    assert all(isinstance(v, ProbDistribution) for v in ours["pd_ps"]) and len(ours["amp_ps"]) == shots
    # Sampled ones: the same distribution.
    sizes = {k: len(v) for k, v in ours["ev_cps"].items()}
    assert_counts_consistent(sizes, {"0x0": 0.5, "0x1": 0.5})
    assert np.allclose(ours["asq"], aers["asq"], atol=0.05)


def test_aer_single_subtype_after_a_measurement_is_the_last_shots_value():
    """Aer keeps one shot's state for a statevector saved after a measurement
    ("single"); ferroq keeps the last shot's in shot order, so it agrees with the
    last entry of the memory. ferroq's own API refuses it (test above)."""
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator, save_amplitudes, save_statevector
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure(0, 0)
    save_statevector(qc)
    save_amplitudes(qc, [0, 3], label="amps")
    qc.measure(1, 1)
    for seed in range(5):
        result = FerroqSimulator().run(qc, shots=31, seed_simulator=seed, memory=True).result()
        last = int(result.get_memory(0)[-1], 2)
        state = np.asarray(result.data(0)["statevector"])
        assert np.allclose(np.abs(state), np.eye(4)[last])
        assert np.allclose(np.abs(result.data(0)["amps"]), [last == 0, last == 3])
