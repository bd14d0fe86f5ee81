"""ferroq.qiskit as a drop-in for AerSimulator: option handling, OpenQASM input, the
Result layout of edge cases, refused constructs, and the Qiskit primitives on top of
the backend against qiskit's exact ones (skipped when qiskit is absent)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

from ferroq.exceptions import CircuitError, OptionError, OptionTypeError  # noqa: E402
from ferroq.qiskit import (  # noqa: E402
    FerroqEstimator,
    FerroqSimulator,
    _convert,
    from_qasm,
    to_ferroq,
)
from ferroq.testing import assert_counts_consistent, assert_distribution_close  # noqa: E402
from ferroq.testing.strategies import observables, qiskit_circuits  # noqa: E402
from helpers import examples, qiskit_bell_measured, stable_seed  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from qiskit import QuantumCircuit  # noqa: E402
from qiskit.circuit.classical import expr  # noqa: E402
from qiskit.circuit.library import XGate  # noqa: E402
from qiskit.primitives import (  # noqa: E402
    BackendEstimatorV2,
    BackendSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.quantum_info import SparsePauliOp, Statevector  # noqa: E402


def bell_measured() -> QuantumCircuit:
    return qiskit_bell_measured()


# --------------------------------------------------------------------------- options

# (Qiskit option, bad value, error, ferroq's own name for the option where it differs)
BAD_OPTIONS = [
    ("seed_simulator", -1, OptionError, "seed"),
    ("seed_simulator", 2**64, OptionError, "seed"),
    ("seed_simulator", "7", OptionTypeError, "seed"),
    ("statevector_parallel_threshold", -1, OptionError, "parallel_threshold"),
    ("statevector_parallel_threshold", 99, OptionError, "parallel_threshold"),
    ("statevector_parallel_threshold", 1.5, OptionTypeError, "parallel_threshold"),
    ("fusion_enable", "no", OptionTypeError, "fusion"),
    ("fusion_enable", 0, OptionTypeError, "fusion"),
    ("max_parallel_threads", -1, OptionError, None),
    ("max_parallel_threads", 10**6, OptionError, None),
    ("max_parallel_threads", 2.0, OptionTypeError, None),
    ("max_parallel_threads", False, OptionTypeError, None),
    ("max_parallel_experiments", -1, OptionError, None),
    ("max_memory_mb", -5, OptionError, None),
    ("memory", "yes", OptionTypeError, None),
    ("memory", 1, OptionTypeError, None),
    ("blocking", "false", OptionTypeError, None),
    ("shots", 0, OptionError, None),
    ("shots", "10", OptionTypeError, None),
    ("precision", "half", OptionError, None),
    ("max_job_size", 0, OptionError, None),
    ("executor", 3, OptionTypeError, None),
]


def _assert_names_option(err: pytest.ExceptionInfo[Exception], name: str, ferroq_name: str | None) -> None:
    message = str(err.value)
    assert f"'{name}'" in message, message
    if ferroq_name is not None:
        assert not re.search(rf"option '?{ferroq_name}\b", message), message


@pytest.mark.parametrize(("name", "value", "error", "ferroq_name"), BAD_OPTIONS)
def test_bad_option_values_raise_naming_the_qiskit_option(name, value, error, ferroq_name):
    with pytest.raises(error) as err:
        FerroqSimulator().run(bell_measured(), **{name: value})
    _assert_names_option(err, name, ferroq_name)
    # Stored with set_options, a bad value fails there (types, and Qiskit's own
    # validators) or at the next run (ranges, which the engine checks): never runs.
    with pytest.raises(error) as err:
        FerroqSimulator(**{name: value}).run(bell_measured())
    _assert_names_option(err, name, ferroq_name)


def test_boolean_options_are_not_coerced():
    """fusion_enable="no" used to run with fusion on (bool("no") is True)."""
    backend = FerroqSimulator()
    for name in ("memory", "fusion_enable", "blocking"):
        # None is Aer's default for memory (False); not for the others.
        for value in ("no", "False", 0, 1, *([] if name == "memory" else [None])):
            with pytest.raises(OptionTypeError, match=f"option '{name}' must be bool"):
                backend.run(bell_measured(), **{name: value})
            with pytest.raises(OptionTypeError, match=f"option '{name}' must be bool"):
                backend.set_options(**{name: value})
    assert backend.options.fusion_enable is True and backend.options.memory is False
    # numpy's booleans are booleans.
    result = backend.run(bell_measured(), shots=5, memory=np.bool_(True), fusion_enable=np.False_).result()
    assert len(result.get_memory()) == 5


def test_neutral_aer_options_are_accepted_and_others_refused():
    class IdealNoise:
        def is_ideal(self) -> bool:
            return True

    class Noise:
        def is_ideal(self) -> bool:
            return False

    neutral = {"method": "statevector", "device": "CPU", "noise_model": None, "cuStateVec_enable": False}
    sim = FerroqSimulator(**neutral)
    assert {k: getattr(sim.options, k) for k in neutral} == neutral
    ideal = {**neutral, "noise_model": IdealNoise()}
    counts = sim.run(bell_measured(), shots=50, **ideal).result().get_counts()
    assert set(counts) <= {"00", "11"}
    refused = [
        ("method", "density_matrix", "statevector simulator"),
        ("method", "matrix_product_state", "statevector simulator"),
        ("device", "GPU", "CPU only"),
        ("device", "cpu", "CPU only"),
        ("noise_model", Noise(), "noiseless"),
        ("noise_model", "depolarizing", "noiseless"),
        ("cuStateVec_enable", True, "cuStateVec"),
    ]
    for name, value, why in refused:
        pattern = f"option '{name}' = .* is not supported: .*{why}"
        with pytest.raises(OptionError, match=pattern):
            sim.run(bell_measured(), **{name: value})
        with pytest.raises(OptionError, match=pattern):
            FerroqSimulator(**{name: value})
    assert {k: getattr(sim.options, k) for k in neutral} == neutral
    # Aer's chunking for GPUs and MPI: accepted, with no effect on a result.
    assert sim.run(bell_measured(), shots=8, blocking_enable=True, blocking_qubits=2).result().get_counts()


# --------------------------------------------------------------------------- OpenQASM

QASM3 = 'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\nx q[1];\nc = measure q;\n'
QASM2 = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[1];\nmeasure q -> c;\n'


@pytest.mark.parametrize(
    "prefix",
    ["", "// a line comment\n", "/* a block\n   comment */\n", "  /* one */ // two\n\n/** three **/"],
)
def test_from_qasm_reads_the_version_after_leading_comments(prefix, tmp_path):
    pytest.importorskip("qiskit_qasm3_import")
    path = tmp_path / "program.qasm"
    path.write_text(prefix + QASM3)
    backend = FerroqSimulator()
    for source in (prefix + QASM3, path, str(path)):
        assert backend.run(from_qasm(source), shots=3).result().get_counts() == {"10": 3}


def test_from_qasm_takes_only_a_whole_comment_for_a_version():
    """A comment that mentions OpenQASM 3 before an OpenQASM 2 program is no header."""
    for prefix in ("// OPENQASM 3.0;\n", "// converted from OPENQASM 3\n"):
        qc = from_qasm(prefix + QASM2)
        assert FerroqSimulator().run(qc, shots=2).result().get_counts() == {"10": 2}


def test_from_qasm_path_or_text(tmp_path):
    one_line = QASM2.replace("\n", " ")
    assert from_qasm(one_line).count_ops()["x"] == 1
    odd_name = tmp_path / "with;semicolon.qasm"
    odd_name.write_text(QASM2)
    assert from_qasm(str(odd_name)).count_ops()["x"] == 1
    # A name of a file that is not there is a missing file, not an OpenQASM syntax error.
    with pytest.raises(FileNotFoundError):
        from_qasm(str(tmp_path / "missing.qasm"))


# --------------------------------------------------------------------------- results


def test_a_circuit_that_measures_nothing_has_no_counts_as_on_aer():
    """Aer gives no counts (get_counts raises) and no memory for a circuit without
    measurements, clbits or not."""
    for clbits in (0, 1):
        qc = QuantumCircuit(2, clbits, name="no_measure")
        qc.h(0)
        for memory in (True, False):
            ours = FerroqSimulator().run(qc, shots=4, memory=memory).result()
            assert ours.to_dict()["results"][0]["data"] == {}
            with pytest.raises(qiskit.exceptions.QiskitError, match="No counts"):
                ours.get_counts()
            with pytest.raises(qiskit.exceptions.QiskitError):
                ours.get_memory()
            aer = pytest.importorskip("qiskit_aer", reason="qiskit-aer is not installed")
            theirs = aer.AerSimulator().run(qc, shots=4, memory=memory).result()
            assert theirs.to_dict()["results"][0]["data"] == {}


# --------------------------------------------------------------------------- refused constructs


def test_a_store_into_a_classical_variable_is_refused_by_name():
    """Stores into clbits and registers run (tests/test_store_instruction.py);
    standalone variables do not (nor does Aer 0.18 run them)."""
    qc = QuantumCircuit(1, 1, name="vars")
    flag = qc.add_var("flag", expr.lift(True))
    qc.h(0)
    qc.store(flag, expr.lift(False))
    with pytest.raises(CircuitError, match="'store' into the classical variable") as err:
        to_ferroq(qc)
    assert "opaque" not in str(err.value)
    with pytest.raises(CircuitError, match="'store'"):
        FerroqSimulator().run(qc)


def _conditioned_x(qc: QuantumCircuit) -> None:
    if hasattr(XGate(), "c_if"):  # Qiskit 1.x
        qc.x(0).c_if(qc.clbits[0], 1)
    else:
        # Qiskit 2 has no c_if; a condition set by hand stands in for Qiskit 1's.
        gate = XGate().to_mutable()
        gate.condition = (qc.clbits[0], 1)
        qc.append(gate, [0])


def test_conditions_are_checked_on_qiskit_1_only():
    assert _convert._conditions_possible("1.3.0")
    assert _convert._conditions_possible("1.4.2")
    assert not _convert._conditions_possible("2.0.0rc1")
    assert not _convert._conditions_possible("2.6.2")
    assert _convert._CHECK_CONDITIONS == _convert._conditions_possible(qiskit.__version__)


def test_c_if_runs_conditionally_not_unconditionally(monkeypatch):
    """The bulk readers in Rust ignore conditions; on Qiskit 1.x a circuit with
    a c_if goes through Python, which puts the instruction in an if block. Here
    the check is forced on whatever the installed version."""
    monkeypatch.setattr(_convert, "_CHECK_CONDITIONS", True)
    qc = QuantumCircuit(2, 2, name="cond")
    qc.h(1)
    qc.measure(1, 0)
    _conditioned_x(qc)  # x(0) when clbit 0 is 1
    qc.measure(0, 1)
    converted = to_ferroq(qc)
    assert [op[0] for op in converted.data] == ["h", "measure", "if_else", "measure"]
    counts = FerroqSimulator().run(qc, shots=2000, seed_simulator=5).result().get_counts()
    assert_counts_consistent(counts, {"00": 0.5, "11": 0.5})
    # A condition on a register: x(0) when the register reads 2 (clbit 1 set).
    reg = QuantumCircuit(2, 2)
    reg.x(1)
    reg.measure(1, 1)
    gate = XGate().to_mutable()
    gate.condition = (reg.cregs[0], 2)
    reg.append(gate, [0])
    reg.measure(0, 0)
    assert FerroqSimulator().run(reg, shots=50).result().get_counts() == {"11": 50}
    # The check changes nothing for a circuit without conditions.
    plain = QuantumCircuit(2, 1)
    plain.h(1)
    plain.measure(1, 0)
    plain.x(0)
    plain.cx(0, 1)
    assert [op[0] for op in to_ferroq(plain).data] == ["h", "measure", "x", "cx"]


# --------------------------------------------------------------------------- primitives

SHOTS = 4000


@settings(max_examples=examples(0.15), deadline=None)
@given(qiskit_circuits(num_qubits=range(1, 5), depth=range(0, 7), measure=True, registers=True))
def test_backend_sampler_matches_statevector_sampler(qc):
    seed = stable_seed(qc.draw(output="text", fold=-1).single_string())
    mine = BackendSamplerV2(backend=FerroqSimulator(), options={"seed_simulator": seed})
    theirs = StatevectorSampler(seed=seed)
    ours_counts = mine.run([qc], shots=SHOTS).result()[0].data.meas.get_counts()
    their_counts = theirs.run([qc], shots=SHOTS).result()[0].data.meas.get_counts()
    assert sum(ours_counts.values()) == sum(their_counts.values()) == SHOTS
    assert_distribution_close(ours_counts, their_counts, err_msg="ferroq vs StatevectorSampler")
    exact = Statevector(qc.remove_final_measurements(inplace=False)).probabilities_dict()
    assert_counts_consistent(ours_counts, exact, err_msg="ferroq vs exact probabilities")


# Qiskit's primitives refuse an observable that is zero.
_COEFFICIENTS = st.one_of(
    st.sampled_from([1.0, -1.0, 0.5, 2.0]), st.floats(0.01, 10.0), st.floats(-10.0, -0.01)
)


@st.composite
def circuit_and_observable(draw):
    qc = draw(qiskit_circuits(num_qubits=range(1, 5), depth=range(0, 7), registers=True))
    observable = SparsePauliOp.from_list(draw(observables(qc.num_qubits, coefficients=_COEFFICIENTS)))
    assume(np.any(observable.simplify().coeffs != 0))  # repeated terms may cancel
    return qc, observable


@settings(max_examples=examples(0.15), deadline=None)
@given(circuit_and_observable())
def test_ferroq_estimator_equals_statevector_estimator_exactly(case):
    qc, observable = case
    exact = StatevectorEstimator().run([(qc, observable)]).result()[0].data.evs
    ours = FerroqEstimator().run([(qc, observable)]).result()[0].data
    np.testing.assert_allclose(ours.evs, exact, rtol=0, atol=1e-10)
    assert np.all(ours.stds == 0)


@settings(max_examples=examples(0.1), deadline=None)
@given(circuit_and_observable())
def test_backend_estimator_is_within_shot_noise_of_statevector_estimator(case):
    qc, observable = case
    precision = 0.02
    exact = float(StatevectorEstimator().run([(qc, observable)]).result()[0].data.evs)
    estimator = BackendEstimatorV2(
        backend=FerroqSimulator(),
        options={"default_precision": precision, "seed_simulator": stable_seed(str(observable))},
    )
    got = float(estimator.run([(qc, observable)]).result()[0].data.evs)
    # Each Pauli term is a mean of shots = 1/precision^2 samples of +-1: by Hoeffding,
    # 6 standard errors per term bound the total error except with probability ~1e-8.
    shots = math.ceil(1 / precision**2)
    bound = 6 * float(np.sum(np.abs(observable.coeffs))) / math.sqrt(shots)
    assert abs(got - exact) <= bound + 1e-9, (got, exact, bound)
