"""Hostile input, second pass (issue 20): classes of failure closed at every
entry point: time linear in the input, edits that happen whole or not at all,
options that act or are refused, and input that must not read other files."""

from __future__ import annotations

import re
import time

import ferroq
import pytest
from ferroq.exceptions import CircuitError, OptionError
from helpers import HANG_S, assert_prompt
from hypothesis import given, settings
from hypothesis import strategies as st


# ------------------------------------------------------------ linear time
@pytest.mark.parametrize("count", [24, 40, 5000])
def test_leading_comments_cost_linear_time(count, tmp_path):
    """The version line used to be found by a backtracking regular expression:
    24 block comments took 8 s, 40 never ended."""
    text = "/* a comment */\n" * count + "// and a line\nqreg q[1];\ncreg c[1];\nmeasure q[0] -> c[0];\n"
    start = time.monotonic()
    assert ferroq.qasm2.version(text) is None
    assert ferroq.qasm2.version(text.replace("qreg", "OPENQASM 2.0;\nqreg", 1)) == "2.0"
    assert_prompt(time.monotonic() - start, what=f"{count} comments")
    path = tmp_path / "many.qasm"
    path.write_text(text)
    from ferroq import cli

    start = time.monotonic()
    assert cli.main(["run", str(path), "--shots", "5", "-q"]) == 0
    assert time.monotonic() - start < HANG_S * 4


@settings(max_examples=50)
@given(st.text(alphabet="/* \n\tOPENQASM3.0;", max_size=300))
def test_version_reading_never_fails_on_any_text(text):
    got = ferroq.qasm2.version(text)
    assert got is None or got.replace(".", "").isdigit()


# ------------------------------------------------------------ whole edits
@pytest.mark.parametrize(
    "edit",
    [
        lambda c: c.measure([0, 1, 5], [0, 1, 2]),
        lambda c: c.measure([0, 1, 2], [0, 1, 9]),
        lambda c: c.reset([0, 1, 5]),
        lambda c: c.compose("x"),
        lambda c: c.measure([0, 1], [0]),
    ],
)
def test_a_refused_edit_changes_nothing(edit):
    c = ferroq.Circuit(3, 3, name="kept").h(0)
    before = c.copy()
    with pytest.raises((CircuitError, TypeError)):
        edit(c)
    assert c == before and len(c) == 1


def test_measure_all_is_all_or_nothing():
    c = ferroq.Circuit(2, 1).h(0)
    with pytest.raises(CircuitError):
        c.measure_all(add_bits=False)  # qubit 1 has no clbit 1
    assert (c.num_clbits, len(c)) == (1, 1)
    c.measure_all()
    assert (c.num_clbits, [i.name for i in c.instructions][-2:]) == (3, ["measure", "measure"])


# ------------------------------------------------------------ options act or are refused
def test_worker_threads_without_an_executor_is_refused():
    with pytest.raises(OptionError, match="worker_threads"):
        ferroq.Simulator(worker_threads=2).run(ferroq.Circuit(1))
    with pytest.raises(OptionError, match="worker_threads"):
        ferroq.Simulator().run(ferroq.Circuit(1), worker_threads=2)


def test_a_qiskit_circuit_given_to_the_native_simulator_is_named():
    qiskit = pytest.importorskip("qiskit")
    with pytest.raises(TypeError, match=r"QuantumCircuit.*FerroqSimulator"):
        ferroq.Simulator().run(qiskit.QuantumCircuit(2))


# ------------------------------------------------------------ no other files
def test_from_qasm_reads_no_other_file_unless_allowed(tmp_path):
    pytest.importorskip("qiskit")
    from ferroq.qiskit import from_qasm

    secret = tmp_path / "secret.inc"
    secret.write_text("SECRET-TOKEN gate s2 a { x a; }\n")
    for include in (str(secret), "../" * 8 + str(secret).lstrip("/"), "secret.inc"):
        text = f'OPENQASM 2.0;\ninclude "qelib1.inc";\ninclude "{include}";\nqreg q[1];\n'
        with pytest.raises(CircuitError, match="pass include_path") as err:
            from_qasm(text)
        assert "SECRET-TOKEN" not in str(err.value)
    good = tmp_path / "lib.inc"
    good.write_text("gate flip a { x a; }\n")
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\ninclude "lib.inc";\nqreg q[1];\nflip q[0];\n'
    assert from_qasm(text, include_path=[tmp_path]).count_ops()["flip"] == 1
    program = tmp_path / "prog.qasm"
    program.write_text(text)
    assert from_qasm(program).count_ops()["flip"] == 1, "a file's own directory is allowed"


# ------------------------------------------------------------ numbers right or refused
@settings(max_examples=40)
@given(
    a=st.floats(allow_nan=False, allow_infinity=False),
    b=st.floats(allow_nan=False, allow_infinity=False),
    c=st.floats(allow_nan=False, allow_infinity=False),
)
def test_huge_finite_parameters_give_a_finite_normalised_state(a, b, c):
    """u(0, 1e308, 1e308) used to make a NaN state and confident wrong counts."""
    import numpy as np

    circuit = ferroq.Circuit(2).h(0).u(a, b, c, 1).cx(0, 1).rzz(a, 0, 1).cu(a, b, c, b, 1, 0)
    state = ferroq.statevector(circuit)
    assert np.all(np.isfinite(state))
    assert abs(np.vdot(state, state).real - 1) < 1e-9
    counts = ferroq.Simulator(seed=1).run(circuit.copy().measure_all(), shots=64).result().get_counts()
    assert sum(counts.values()) == 64


def test_the_reference_case_is_half_and_half():
    from ferroq.testing import assert_counts_consistent

    c = ferroq.Circuit(2, 2).u(0, 1e308, 1e308, 0).h(0).measure([0, 1], [0, 1])
    counts = ferroq.Simulator(seed=3).run(c, shots=4000).result().get_counts()
    assert_counts_consistent(counts, {"00": 0.5, "01": 0.5})


@pytest.mark.parametrize("param", ["12", b"1", 1j, complex(1, 0), True, None, [0.5]])
def test_a_parameter_is_a_real_number_or_an_error(param):
    import numpy as np

    c = ferroq.Circuit(1)
    with pytest.raises((CircuitError, TypeError), match=r"real number|parameter"):
        c.rx(param, 0)
    with pytest.raises((CircuitError, TypeError)):
        c.append("r", [0], param if isinstance(param, (str, bytes)) else [param, 0.0])
    with pytest.raises(CircuitError, match="real number"):
        c.rx(np.complex128(1), 0)
    assert len(c) == 0
    c.rx(np.float32(0.5), 0).rx(np.int64(2), 0).rx(3, 0)
    assert len(c) == 3


# ------------------------------------------------------------ environment variables
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FERROQ_NUM_THREADS", "100000"),
        ("FERROQ_NUM_THREADS", "0"),
        ("FERROQ_NUM_THREADS", "many"),
        ("FERROQ_CACHE_BYTES", "-5"),
        ("FERROQ_NO_SIMD", "yes"),
        ("FERROQ_NO_AVX512", "2"),
        ("FERROQ_QISKIT_CAPI", "off"),
    ],
)
def test_environment_variables_are_checked_like_their_options(monkeypatch, name, value):
    """FERROQ_NUM_THREADS=100000 was taken as is and every run hung building a
    100,000-thread pool; now a bad value is refused, naming the variable."""
    monkeypatch.setenv(name, value)
    start = time.monotonic()
    with pytest.raises(OptionError, match=re.escape(f"{name} (environment variable)")):
        ferroq.Simulator()
    with pytest.raises(OptionError, match=name):
        ferroq.statevector(ferroq.Circuit(1).h(0))
    assert_prompt(time.monotonic() - start, what="refusing a bad variable")
    monkeypatch.delenv(name)
    assert ferroq.Simulator(seed=1).run(
        ferroq.Circuit(1, 1).x(0).measure(0, 0), shots=5
    ).result().get_counts() == {"1": 5}


def test_a_ten_qubit_unitary_is_checked_promptly_and_without_the_gil():
    """Its unitarity check used to take 8 to 20 s holding the GIL."""
    import threading

    import numpy as np

    rng = np.random.default_rng(1)
    d = 2**10
    q, _ = np.linalg.qr(rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)))
    ticks = []
    stop = threading.Event()

    def tick():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    ticker = threading.Thread(target=tick)
    ticker.start()
    start = time.monotonic()
    try:
        ferroq.Circuit(10).unitary(q, list(range(10)))
        elapsed = time.monotonic() - start
    finally:
        stop.set()
        ticker.join()
    assert_prompt(elapsed, what="checking a 10-qubit unitary")
    if elapsed > 0.2:  # long enough for the other thread to have run meanwhile
        assert sum(start < t < start + elapsed for t in ticks) >= 2, "the GIL was held"
    bad = q.copy()
    bad[0, 0] += 1e-3
    with pytest.raises(CircuitError, match="unitary"):
        ferroq.Circuit(10).unitary(bad, list(range(10)))


# ------------------------------------------------------------ fuzzers for the classes above
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.complex_numbers(),
    st.text(max_size=4),
    st.binary(max_size=3),
    st.lists(st.integers(-3, 8), max_size=4),
)


@settings(max_examples=200)
@given(qubits=ANYTHING, clbits=ANYTHING, how=st.sampled_from(["measure", "reset", "barrier"]))
def test_fuzz_multi_target_edits_are_whole_or_nothing(qubits, clbits, how):
    c = ferroq.Circuit(3, 3).h(0)
    before = c.copy()
    try:
        if how == "measure":
            c.measure(qubits, clbits)
        elif how == "reset":
            c.reset(qubits)
        else:
            c.barrier(qubits)
    except (CircuitError, TypeError, ValueError, OverflowError):
        assert c == before, "a refused edit changed the circuit"


@settings(max_examples=200)
@given(params=st.lists(ANYTHING, min_size=1, max_size=3), gate=st.sampled_from(["rx", "u", "r", "cp"]))
def test_fuzz_parameters_are_real_numbers_or_refused(params, gate):
    import numpy as np

    width = 2 if gate == "cp" else 1
    c = ferroq.Circuit(width)
    try:
        c.append(gate, list(range(width)), params)
    except (CircuitError, TypeError, ValueError, OverflowError):
        assert len(c) == 0
        return
    assert all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in params)
    state = ferroq.statevector(c)
    assert np.all(np.isfinite(state)) and abs(np.vdot(state, state).real - 1) < 1e-9


def test_huge_parameters_through_the_qiskit_backend_stay_exact():
    pytest.importorskip("qiskit")
    from ferroq.qiskit import FerroqSimulator, save_statevector
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.u(1e300, -1e300, 1e308, 1)
    qc.cx(0, 1)
    reference = Statevector(qc)
    save_statevector(qc)
    got = FerroqSimulator().run(qc).result().get_statevector()
    # Qiskit itself computes with the huge angles; both must be finite and
    # normalised, and equal up to a global phase.
    import numpy as np

    ours = np.asarray(got)
    assert np.all(np.isfinite(ours)) and abs(np.vdot(ours, ours).real - 1) < 1e-9
    if np.all(np.isfinite(reference.data)):
        assert abs(abs(np.vdot(ours, reference.data)) - 1) < 1e-6


def test_a_rename_a_store_refuses_leaves_the_old_name(tmp_path):
    """update_name / update_tags used to set the new value before the store's
    write, so a refused write left the job renamed in memory only."""
    store = tmp_path / "jobs.sqlite"
    circuit = ferroq.Circuit(1, 1).measure(0, 0)
    job = ferroq.Simulator(store=store, shots=4).run(circuit, name="old", tags=["a"])
    job.result(timeout=60)

    def refuse(_job):
        raise ferroq.JobError("the store refused the write")

    job._on_metadata_change = refuse
    with pytest.raises(ferroq.JobError, match="refused"):
        job.update_name("new")
    assert job.name() == "old"
    with pytest.raises(ferroq.JobError, match="refused"):
        job.update_tags(["b"])
    assert job.tags() == ["a"]
