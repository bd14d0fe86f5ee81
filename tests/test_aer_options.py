"""Aer's options, qubit truncation and experiment seeds on ferroq's backend,
side by side with ``qiskit_aer.AerSimulator`` where it is installed: code written
for Aer's statevector method runs unchanged."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

import ferroq  # noqa: E402
from ferroq.exceptions import OptionError  # noqa: E402
from ferroq.qiskit import FerroqSimulator, save_probabilities  # noqa: E402
from ferroq.qiskit import _options as table  # noqa: E402
from ferroq.testing import assert_distribution_close  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402


def _aer():
    aer = pytest.importorskip("qiskit_aer", reason="qiskit-aer is not installed")
    return aer.AerSimulator(method="statevector")


def bell() -> QuantumCircuit:
    qc = QuantumCircuit(2, 2)
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


# ------------------------------------------------------------------ the table
def test_every_option_aer_documents_is_known_with_aers_default():
    _aer()
    from qiskit_aer import AerSimulator

    theirs = AerSimulator().options.__dict__
    missing = sorted(set(theirs) - table.KNOWN)
    assert not missing, f"Aer options ferroq does not know: {missing}"
    ours = FerroqSimulator().options.__dict__
    for name, value in theirs.items():
        if name in ("max_parallel_threads", "max_memory_mb", "max_parallel_experiments", "memory"):
            continue  # Aer's None is ferroq's 0 / False: the same meaning
        if name == "statevector_parallel_threshold" or name.startswith("fusion_"):
            continue  # ferroq's defaults, measured on this engine
        assert ours[name] == value, name


@pytest.mark.parametrize("name", sorted(table.NO_EFFECT))
def test_options_without_effect_are_accepted_everywhere(name):
    value = table.AER_DEFAULTS[name]
    other = {bool: True, int: 3, float: 0.5, str: "x", type(None): 7}.get(type(value), 3)
    backend = FerroqSimulator(**{name: other})
    backend.set_options(**{name: value})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known options never warn
        counts = backend.run(bell(), shots=40, seed_simulator=1, **{name: other}).result().get_counts()
    assert counts == FerroqSimulator().run(bell(), shots=40, seed_simulator=1).result().get_counts()


@pytest.mark.parametrize("name", sorted(table.NEUTRAL_ONLY))
def test_neutral_only_options_refuse_another_value_naming_it(name):
    FerroqSimulator(**{name: table.AER_DEFAULTS[name]})
    bad = {"method": "stabilizer", "device": "GPU", "noise_model": "noisy"}.get(name, True)
    if name == "batched_shots_gpu" or name.endswith("_enable") or name.startswith("use_"):
        bad = True
    if name == "target_gpus":
        bad = [0]
    with pytest.raises(OptionError, match=f"option '{name}' = .* is not supported"):
        FerroqSimulator(**{name: bad})
    with pytest.raises(OptionError, match=f"option '{name}'"):
        FerroqSimulator().run(bell(), **{name: bad})


def test_unknown_options_warn_and_are_ignored_as_aer_ignores_them():
    with pytest.warns(UserWarning, match="'not_an_option'"):
        result = FerroqSimulator().run(bell(), shots=10, not_an_option=1).result()
    assert sum(result.get_counts().values()) == 10


def test_fusion_options_are_honoured_and_change_nothing_but_rounding():
    qc = QuantumCircuit(6)
    for layer in range(4):
        for q in range(6):
            qc.ry(0.1 * (q + layer), q)
        for q in range(0, 5, 2 - layer % 2):
            qc.cx(q, q + 1)
    from ferroq.qiskit import save_statevector

    save_statevector(qc)
    plain = np.asarray(FerroqSimulator(fusion_enable=False).run(qc).result().get_statevector())
    for width in (1, 2, 3, 5, 8):
        for threshold in (1, 6, 7):
            got = FerroqSimulator(fusion_max_qubit=width, fusion_threshold=threshold).run(qc).result()
            np.testing.assert_allclose(np.asarray(got.get_statevector()), plain, atol=1e-12)
    with pytest.raises(OptionError, match="option 'fusion_max_qubit' must be between 1 and 8"):
        FerroqSimulator(fusion_max_qubit=9)
    with pytest.raises(OptionError, match="fusion_threshold"):
        FerroqSimulator().run(qc, fusion_threshold=-1)


def test_shots_as_an_integer_float_are_accepted_as_by_aer():
    with pytest.warns(DeprecationWarning, match="shots"):
        counts = FerroqSimulator().run(bell(), shots=20.0).result().get_counts()
    assert sum(counts.values()) == 20
    with pytest.raises(Exception, match="shots"):
        FerroqSimulator().run(bell(), shots=20.5)


# ------------------------------------------------------------------ truncation
@st.composite
def embedded(draw):
    """A random circuit on k <= 4 qubits placed on random qubits of a wide one,
    with exact probabilities saved over its qubits and measurements."""
    width = draw(st.integers(8, 40))
    k = draw(st.integers(1, 4))
    where = draw(st.lists(st.integers(0, width - 1), min_size=k, max_size=k, unique=True))
    qc = QuantumCircuit(width, k)
    for _ in range(draw(st.integers(1, 8))):
        if k > 1 and draw(st.booleans()):
            a, b = draw(st.lists(st.sampled_from(where), min_size=2, max_size=2, unique=True))
            qc.cx(a, b)
        else:
            qc.ry(draw(st.floats(-3, 3)), draw(st.sampled_from(where)))
    save_probabilities(qc, where, label="p")
    qc.measure(where, list(range(k)))
    return qc


@settings(max_examples=25, deadline=None)
@given(embedded())
def test_wide_circuits_run_on_their_active_qubits_as_on_aer(qc):
    ours = FerroqSimulator(max_memory_mb=64).run(qc, shots=400, seed_simulator=5).result()
    meta = ours.results[0].metadata
    assert meta["num_qubits"] == len(meta["active_input_qubits"]) < qc.num_qubits
    aer = _aer().run(qc, shots=400, seed_simulator=5).result()
    np.testing.assert_allclose(ours.data()["p"], aer.data()["p"], atol=1e-10)
    assert_distribution_close(ours.get_counts(), aer.get_counts())


def test_truncation_can_be_turned_off_and_then_the_memory_check_applies():
    qc = QuantumCircuit(40, 1)
    qc.h(33)
    qc.measure(33, 0)
    assert set(FerroqSimulator().run(qc, shots=50).result().get_counts()) <= {"0", "1"}
    with pytest.raises(Exception, match="memory"):
        FerroqSimulator(enable_truncation=False, max_memory_mb=64).run(qc).result()


def test_num_qubits_does_not_follow_free_memory():
    backend = FerroqSimulator()
    first = backend.num_qubits
    _ = np.ones(2**24)  # memory in use changes nothing
    assert backend.num_qubits == first >= 20
    assert FerroqSimulator(max_memory_mb=16).num_qubits == 20


# ------------------------------------------------------------------ seeds
def test_an_experiments_seed_reproduces_it_alone_as_on_aer():
    circuits = []
    for k in range(4):
        qc = QuantumCircuit(3, 3)
        qc.h(range(3))
        qc.ry(0.4 * k, 0)
        qc.measure(range(3), range(3))
        circuits.append(qc)
    backend = FerroqSimulator()
    batch = backend.run(circuits, shots=64, seed_simulator=1000).result()
    for i, qc in enumerate(circuits):
        seed = batch.results[i].seed_simulator
        assert seed == 1000 + i  # Aer's numbering
        alone = backend.run(qc, shots=64, seed_simulator=seed).result()
        assert alone.get_counts() == batch.get_counts(i)
    assert ferroq.Simulator(seed=7).run([ferroq.Circuit(1)] * 2).result().results[1].seed == 8


# ------------------------------------------------------------------ result details
def test_result_details_aer_users_read():
    from ferroq.qiskit import FerroqProvider, save_probabilities_dict
    from qiskit.providers.exceptions import QiskitBackendNotFoundError
    from qiskit.result import ProbDistribution

    with pytest.raises(QiskitBackendNotFoundError, match="'bad'"):
        FerroqProvider().get_backend("bad")
    assert repr(FerroqSimulator()) == "FerroqSimulator('ferroq_simulator')"
    qc = QuantumCircuit(2)
    qc.h(0)
    save_probabilities_dict(qc, label="pd")
    pd = FerroqSimulator().run(qc).result().data()["pd"]
    assert isinstance(pd, ProbDistribution) and pd[1] == pytest.approx(0.5)
    with pytest.raises(qiskit.exceptions.QiskitError, match="No counts"):
        FerroqSimulator().run(qc).result().get_counts()


# ------------------------------------------------------------------ saves where they stand
@st.composite
def saves_between_gates(draw):
    """Random gates on 3 qubits with saves of every exact kind placed among them
    (as transpile leaves them), then measurements: a program of steps, built
    with Aer's own save instructions (which ferroq reads too)."""
    steps = []
    for k in range(draw(st.integers(1, 4))):
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                steps.append(("cx", *draw(st.lists(st.integers(0, 2), min_size=2, max_size=2, unique=True))))
            else:
                steps.append(("ry", draw(st.floats(-3, 3)), draw(st.integers(0, 2))))
        kind = draw(st.sampled_from(["sv", "p", "amps", "ev"]))
        qubits = draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True))
        steps.append((kind, f"{kind}{k}", qubits))
    return steps


def _build_with_aer_saves(steps):
    pytest.importorskip("qiskit_aer", reason="qiskit-aer is not installed")
    from qiskit.quantum_info import SparsePauliOp
    from qiskit_aer.library import SaveAmplitudes, SaveExpectationValue, SaveProbabilities, SaveStatevector

    qc = QuantumCircuit(3, 3)
    for step in steps:
        if step[0] == "cx":
            qc.cx(step[1], step[2])
        elif step[0] == "ry":
            qc.ry(step[1], step[2])
        elif step[0] == "sv":
            qc.append(SaveStatevector(3, label=step[1]), range(3))
        elif step[0] == "p":
            qc.append(SaveProbabilities(len(step[2]), label=step[1]), step[2])
        elif step[0] == "amps":
            qc.append(SaveAmplitudes(3, [0, 5, 7], label=step[1]), range(3))
        else:
            op = (
                SparsePauliOp(["ZX", "YZ"], [0.5, -1.0])
                if len(step[2]) == 2
                else SparsePauliOp("Z" * len(step[2]))
            )
            qc.append(SaveExpectationValue(op, label=step[1]), step[2])
    qc.measure(range(3), range(3))
    return qc


@settings(max_examples=30, deadline=None)
@given(saves_between_gates())
def test_saves_between_gates_match_aer_exactly(steps):
    qc = _build_with_aer_saves(steps)
    ours = FerroqSimulator().run(qc, shots=200, seed_simulator=3).result().data()
    theirs = _aer().run(qc, shots=200, seed_simulator=3).result().data()
    assert set(ours) == set(theirs)
    for label, value in ours.items():
        if label in ("counts", "memory"):
            continue
        np.testing.assert_allclose(np.asarray(value), np.asarray(theirs[label]), atol=1e-10, err_msg=label)


# ------------------------------------------------------------------ Aer's other saves
@settings(max_examples=25, deadline=None)
@given(
    angles=st.lists(st.floats(-3, 3), min_size=3, max_size=3),
    keep=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True),
    pauli=st.text(alphabet="IXYZ", min_size=2, max_size=2),
)
def test_aers_derived_saves_match_aer(angles, keep, pauli):
    """save_state, save_statevector_dict, save_amplitudes_squared,
    save_expectation_value_variance and save_density_matrix (of any qubits in any
    order), as Aer gives them."""
    pytest.importorskip("qiskit_aer", reason="qiskit-aer is not installed")
    from qiskit.quantum_info import DensityMatrix, SparsePauliOp, Statevector

    qc = QuantumCircuit(3)
    qc.ry(angles[0], 0)
    qc.cx(0, 1)
    qc.ry(angles[1], 2)
    qc.cx(2, 0)
    qc.save_state(label="st")
    qc.save_statevector_dict(label="svd")
    qc.save_amplitudes_squared([0, 3, 5, 6], label="asq")
    qc.save_expectation_value_variance(SparsePauliOp(pauli), [0, 2], label="var")
    qc.save_density_matrix(keep, label="dm")
    qc.rx(angles[2], 1)  # after the saves: changes none of them
    ours = FerroqSimulator().run(qc).result().data()
    theirs = _aer().run(qc).result().data()
    assert set(ours) == set(theirs) == {"st", "svd", "asq", "var", "dm"}
    assert isinstance(ours["st"], Statevector) and isinstance(ours["dm"], DensityMatrix)
    np.testing.assert_allclose(ours["st"].data, theirs["st"].data, atol=1e-10)
    assert ours["svd"].keys() == theirs["svd"].keys()
    for k in ours["svd"]:
        assert ours["svd"][k] == pytest.approx(theirs["svd"][k], abs=1e-10)
    for label in ("asq", "var"):
        np.testing.assert_allclose(ours[label], theirs[label], atol=1e-10, err_msg=label)
    np.testing.assert_allclose(ours["dm"].data, theirs["dm"].data, atol=1e-10)


def test_fusion_metadata_reports_what_the_pass_did():
    """Aer's fusion keys (enabled, applied, max_fused_qubits, threshold) and
    ferroq's counts: the gates that went through the pass and the ops it made."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(6)
    for _ in range(4):
        for q in range(6):
            qc.rx(0.3, q)
            qc.rz(0.2, q)
        for q in range(5):
            qc.cx(q, q + 1)
    qc.measure_all()
    gates = 4 * (12 + 5)
    on = FerroqSimulator(fusion_max_qubit=3).run(qc, shots=5).result().results[0].metadata["fusion"]
    assert {"enabled", "applied", "max_fused_qubits", "threshold"} <= set(on)
    assert on["enabled"] and on["applied"] and on["max_fused_qubits"] == 3
    assert on["input_gates"] == gates and 0 < on["output_ops"] < gates
    off = FerroqSimulator(fusion_enable=False).run(qc, shots=5).result().results[0].metadata["fusion"]
    assert not off["enabled"] and not off["applied"]
    assert off["input_gates"] == off["output_ops"] == gates
    # Above the threshold's width only: a 6-qubit circuit under a threshold of 7 is not fused.
    narrow = FerroqSimulator(fusion_threshold=7).run(qc, shots=5).result().results[0].metadata["fusion"]
    assert not narrow["applied"] and narrow["threshold"] == 7
