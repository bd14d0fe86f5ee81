"""ferroq.qiskit: a BackendV2 that Qiskit code can use in place of AerSimulator."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

import ferroq  # noqa: E402
import reference as ref  # noqa: E402
from ferroq.exceptions import CircuitError, OptionError, UnknownOptionError  # noqa: E402
from ferroq.qiskit import (  # noqa: E402
    FerroqJob,
    FerroqJobCancelledError,
    FerroqJobTimeoutError,
    FerroqProvider,
    FerroqSimulator,
    from_qasm,
    save_amplitudes,
    save_expectation_value,
    save_probabilities,
    save_probabilities_dict,
    save_statevector,
    to_ferroq,
)
from helpers import build_qiskit, circuits, dynamic_circuits, examples, qiskit_bell_measured, stable_seed  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister, transpile  # noqa: E402
from qiskit.circuit import Gate, Parameter  # noqa: E402
from qiskit.circuit.library import CXGate, HGate, XXPlusYYGate  # noqa: E402
from qiskit.exceptions import QiskitError  # noqa: E402
from qiskit.primitives import (  # noqa: E402
    BackendEstimatorV2,
    BackendSamplerV2,
    StatevectorEstimator,
    StatevectorSampler,
)
from qiskit.providers import BackendV2, JobV1  # noqa: E402
from qiskit.providers import JobStatus as QiskitJobStatus  # noqa: E402
from qiskit.providers.basic_provider import BasicSimulator  # noqa: E402
from qiskit.quantum_info import SparsePauliOp, Statevector  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    return FerroqSimulator()


def bell_measured() -> QuantumCircuit:
    return qiskit_bell_measured()


def long_qiskit_circuit(n: int = 20, layers: int = 2000) -> QuantumCircuit:
    """Seconds of work: the barriers keep fusion from cancelling the H pairs."""
    qc = QuantumCircuit(n)
    for _ in range(layers):
        for q in range(n):
            qc.h(q)
        qc.barrier()
    return qc


# --------------------------------------------------------------------------- interfaces


def test_is_a_backend_v2_and_jobs_are_job_v1(backend):
    assert isinstance(backend, BackendV2)
    job = backend.run(bell_measured(), shots=10)
    assert isinstance(job, JobV1) and isinstance(job, FerroqJob)
    job.wait_for_final_state(timeout=30)
    assert job.status() is QiskitJobStatus.DONE
    assert job.done() and job.in_final_state()
    assert job.result().success
    assert job.job_id() == job.result().job_id
    assert job.backend() is backend
    assert job.progress() == 1.0  # ferroq.Job's surface passes through


def test_importing_ferroq_does_not_import_qiskit():
    code = "import sys, ferroq; ferroq.Circuit(1).h(0); assert 'qiskit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_target_lists_the_native_gates_and_transpile_keeps_them(backend):
    names = set(backend.target.operation_names)
    assert set(ferroq.GATES) - {"id"} <= names | {"id"}
    assert {"measure", "reset", "barrier", "delay", "unitary", "save_statevector", "save_expval"} <= names
    assert backend.max_circuits is None
    assert backend.num_qubits >= 20
    qc = QuantumCircuit(3)
    qc.rxx(0.3, 0, 2)
    qc.ecr(1, 0)
    qc.mcx([0, 1], 2)
    qc.append(XXPlusYYGate(0.1, 0.2), [1, 2])
    out = transpile(qc, backend, optimization_level=0)
    assert dict(out.count_ops()) == dict(qc.count_ops())
    assert out.num_qubits == 3


# --------------------------------------------------------------------------- differential


@settings(max_examples=examples(0.3), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(max_qubits=7, max_ops=20))
def test_statevector_equals_qiskit(case):
    n, ops = case
    qc = build_qiskit(ops, n)
    expected = Statevector(qc).data
    save_statevector(qc)
    got = FerroqSimulator().run(qc, shots=1).result().get_statevector()
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-10)


@settings(max_examples=examples(0.1, minimum=4), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(min_qubits=15, max_qubits=16, max_ops=40))
def test_fusion_enable_changes_states_only_by_rounding(case):
    """Large enough for cache-blocked stages; both settings against Qiskit."""
    n, ops = case
    qc = build_qiskit(ops, n)
    expected = Statevector(qc).data
    save_statevector(qc)
    states = [
        np.asarray(FerroqSimulator(fusion_enable=f).run(qc, shots=1).result().get_statevector())
        for f in (True, False)
    ]
    np.testing.assert_allclose(states[0], states[1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(states[0], expected, atol=1e-10)


@settings(max_examples=examples(0.2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits(min_qubits=1, max_qubits=16, max_ops=40))
def test_single_precision_states_are_complex64_within_rounding(case):
    """Each stage rounds to complex64 once: 2^-24 of the norm per op, at most. (Qiskit's
    Statevector holds complex128 whatever it is given.)"""
    n, ops = case
    qc = build_qiskit(ops, n)
    expected = Statevector(qc).data
    save_statevector(qc)
    state = FerroqSimulator(precision="single").run(qc, shots=1).result().get_statevector()
    assert np.linalg.norm(np.asarray(state) - expected) <= 1.01 * (len(ops) + 2) * 2.0**-24 + 1e-12


def _with_registers(qc: QuantumCircuit, sizes: list[int]) -> QuantumCircuit:
    """The same circuit with its clbits split into registers of ``sizes``."""
    regs = [ClassicalRegister(s, f"c{i}") for i, s in enumerate(sizes)]
    out = QuantumCircuit(QuantumRegister(qc.num_qubits, "q"), *regs)
    flat = [bit for reg in regs for bit in reg]
    for inst in qc.data:
        out.append(inst.operation, [out.qubits[qc.find_bit(q).index] for q in inst.qubits],
                   [flat[qc.find_bit(c).index] for c in inst.clbits])  # fmt: skip
    out.global_phase = qc.global_phase
    return out


@settings(max_examples=examples(0.2), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dynamic_circuits(), st.data())
def test_counts_of_dynamic_multi_register_circuits_fit_exact_probabilities(case, data):
    n, num_clbits, ops = case
    cut = data.draw(st.integers(1, num_clbits))
    sizes = [cut, num_clbits - cut] if cut < num_clbits else [num_clbits]
    qc = _with_registers(build_qiskit(ops, n, num_clbits), sizes)
    shots = 3000
    result = FerroqSimulator().run(qc, shots=shots, seed_simulator=stable_seed(ops)).result()
    counts = result.get_counts()
    assert all(k.count(" ") == len(sizes) - 1 for k in counts)
    flat = {}
    for k, v in counts.items():
        flat[k.replace(" ", "")] = flat.get(k.replace(" ", ""), 0) + v
    probs = ref.outcome_distribution(ops, n, num_clbits)
    assert ref.chi_square_pvalue(flat, probs)[0] > 1e-4


def test_result_layout_matches_basic_simulator(backend):
    q = QuantumRegister(3, "q")
    a, b = ClassicalRegister(1, "a"), ClassicalRegister(2, "b")
    qc = QuantumCircuit(q, a, b, name="layout", metadata={"k": 1})
    qc.x(0)
    qc.x(2)
    qc.measure(0, a[0])
    qc.measure(2, b[1])
    qc.measure(1, b[0])
    ours = backend.run(qc, shots=5, memory=True, seed_simulator=3).result()
    theirs = BasicSimulator().run(qc, shots=5, memory=True, seed_simulator=3).result()
    assert ours.get_counts() == theirs.get_counts() == {"10 1": 5}
    assert ours.get_memory() == theirs.get_memory()
    mine, ref_exp = ours.to_dict()["results"][0], theirs.to_dict()["results"][0]
    assert mine["data"] == ref_exp["data"]
    for key in (
        "name",
        "creg_sizes",
        "qreg_sizes",
        "memory_slots",
        "clbit_labels",
        "qubit_labels",
        "metadata",
    ):
        assert mine["header"][key] == ref_exp["header"][key], key
    assert mine["shots"] == 5 and mine["success"] and mine["status"] == "DONE"
    assert mine["seed_simulator"] == ours.results[0].seed_simulator
    assert ours.results[0].time_taken >= 0
    unmeasured = QuantumCircuit(2)
    unmeasured.h(0)
    # As Aer (the drop-in's reference), not BasicSimulator: no counts at all.
    with pytest.raises(QiskitError, match="No counts"):
        backend.run(unmeasured).result().get_counts()


def test_batch_counts_keep_submission_order_and_names(backend):
    circs = []
    for k in range(4):
        qc = QuantumCircuit(3, 3, name=f"c{k}")
        for q in range(3):
            if k >> q & 1:
                qc.x(q)
        qc.measure(range(3), range(3))
        circs.append(qc)
    result = backend.run(circs, shots=7).result()
    assert result.get_counts() == [{format(k, "03b"): 7} for k in range(4)]
    assert result.get_counts("c2") == {"010": 7}


# --------------------------------------------------------------------------- conversion


def test_open_controls_and_custom_gates_are_decomposed():
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.append(CXGate(ctrl_state=0), [0, 1])
    qc.append(HGate().control(2, ctrl_state="01", annotated=False), [0, 1, 2])
    qc.append(HGate().control(2, ctrl_state="10", annotated=True), [2, 0, 1])
    sub = QuantumCircuit(2, name="mine")
    sub.ry(0.7, 0)
    sub.cz(0, 1)
    sub.global_phase = 0.4
    qc.append(sub.to_gate(), [2, 0])
    qc.global_phase = 0.25
    np.testing.assert_allclose(ferroq.statevector(to_ferroq(qc)), Statevector(qc).data, atol=1e-12)


def test_unbound_opaque_and_classical_variables_are_refused_by_name():
    theta = Parameter("θ")
    qc = QuantumCircuit(1)
    qc.rx(theta, 0)
    with pytest.raises(CircuitError, match="unbound parameters"):
        to_ferroq(qc)
    opaque = QuantumCircuit(1)
    opaque.append(Gate("magic", 1, []), [0])
    with pytest.raises(CircuitError, match="'magic' is opaque"):
        to_ferroq(opaque)
    from qiskit.circuit.classical import expr

    flow = QuantumCircuit(1, 1)
    flow.measure(0, 0)
    var = flow.add_var("v", expr.lift(True))
    with flow.if_test(var):
        flow.x(0)
    with pytest.raises(CircuitError, match=r"classical (variable|instruction)"):
        to_ferroq(flow)


def test_parameter_binds_run_as_one_batch(backend):
    theta = Parameter("θ")
    qc = QuantumCircuit(1, 1)
    qc.ry(theta, 0)
    qc.measure(0, 0)
    values = [0.0, np.pi, np.pi / 2]
    result = backend.run(qc, parameter_binds=[{theta: values}], shots=2000, seed_simulator=5).result()
    counts = result.get_counts()
    assert len(counts) == 3
    assert counts[0] == {"0": 2000} and counts[1] == {"1": 2000}
    assert abs(counts[2].get("0", 0) - 1000) < 150
    with pytest.raises(OptionError):
        backend.run(qc, parameter_binds=[{theta: [0.1]}, {}])


def test_from_qasm_text_and_file(tmp_path, backend):
    text = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\ncreg c[2];\nx q[1];\nmeasure q -> c;\n'
    path = tmp_path / "c.qasm"
    path.write_text(text)
    for source in (text, path, str(path)):
        qc = from_qasm(source)
        assert backend.run(qc, shots=3).result().get_counts() == {"10": 3}


# --------------------------------------------------------------------------- saves


def test_save_instructions_match_qiskit(backend):
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(0.4, 2)
    qc.s(2)
    state = Statevector(qc)
    op = SparsePauliOp.from_list([("ZZI", 1.0), ("IXY", 0.25), ("XII", -0.5)])
    save_statevector(qc)
    save_probabilities(qc, [2, 0], label="p20")
    save_probabilities_dict(qc, label="pd")
    save_amplitudes(qc, [0, 3, 5], label="amps")
    save_expectation_value(qc, op, [0, 1, 2], label="ev")
    save_expectation_value(qc, SparsePauliOp("ZX"), [2, 1], label="ev21")
    data = backend.run(qc, shots=1).result().data(0)
    np.testing.assert_allclose(np.asarray(data["statevector"]), state.data, atol=1e-12)
    np.testing.assert_allclose(data["p20"], state.probabilities([2, 0]), atol=1e-12)
    # As Aer: a ProbDistribution keyed by the outcome's integer.
    expected_pd = {int(k, 2): v for k, v in state.probabilities_dict().items() if v > 1e-15}
    assert data["pd"].keys() == expected_pd.keys()
    assert all(data["pd"][k] == pytest.approx(v, abs=1e-12) for k, v in expected_pd.items())
    np.testing.assert_allclose(data["amps"], state.data[[0, 3, 5]], atol=1e-12)
    assert data["ev"] == pytest.approx(state.expectation_value(op, [0, 1, 2]).real, abs=1e-12)
    assert data["ev21"] == pytest.approx(state.expectation_value(SparsePauliOp("ZX"), [2, 1]).real, abs=1e-12)


def test_aer_save_instructions_work_when_aer_is_installed(backend):
    pytest.importorskip("qiskit_aer")
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.save_statevector()
    qc.save_expectation_value(SparsePauliOp("ZZ"), [0, 1])
    data = backend.run(qc).result().data(0)
    np.testing.assert_allclose(np.asarray(data["statevector"]), Statevector(_bell()).data, atol=1e-12)
    assert data["expectation_value"] == pytest.approx(1.0)


def _bell() -> QuantumCircuit:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    return qc


# --------------------------------------------------------------------------- primitives


def test_sampler_and_estimator_agree_with_statevector_primitives(backend):
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.rx(0.3, 2)
    obs = SparsePauliOp.from_list([("ZZI", 1), ("IIX", 0.5), ("YII", 0.2)])
    exact = StatevectorEstimator().run([(qc, obs)]).result()[0].data.evs
    ours = BackendEstimatorV2(backend=backend, options={"default_precision": 0.005}).run([(qc, obs)])
    assert float(ours.result()[0].data.evs) == pytest.approx(float(exact), abs=0.05)
    measured = qc.copy()
    measured.measure_all()
    shots = 4000
    theirs = StatevectorSampler(seed=1).run([measured], shots=shots).result()[0].data.meas.get_counts()
    mine = BackendSamplerV2(backend=backend).run([measured], shots=shots).result()[0].data.meas.get_counts()
    assert set(mine) <= {k for k, p in Statevector(qc).probabilities_dict().items() if p > 1e-12}
    assert sum(mine.values()) == sum(theirs.values()) == shots
    exact_probs = Statevector(qc).probabilities_dict()
    assert ref.chi_square_pvalue(mine, exact_probs)[0] > 1e-4


def test_ferroq_estimator_is_exact_and_broadcasts():
    from ferroq.qiskit import FerroqEstimator

    theta = Parameter("θ")
    qc = QuantumCircuit(3)
    qc.h(0)
    qc.cx(0, 1)
    qc.ry(theta, 2)
    qc.cz(1, 2)
    observables = [
        [SparsePauliOp.from_list([("ZZI", 1), ("XII", 0.5)])],
        [SparsePauliOp.from_list([("YYX", 0.7), ("IIZ", -1.0)])],
    ]
    values = [[0.1], [0.7], [2.0]]
    pub = (qc, observables, values)
    exact = StatevectorEstimator().run([pub]).result()[0].data.evs
    ours = FerroqEstimator().run([pub]).result()[0].data.evs
    assert ours.shape == exact.shape == (2, 3)
    np.testing.assert_allclose(ours, exact, atol=1e-12)
    noisy = FerroqEstimator(seed=3).run([pub], precision=0.01).result()[0].data.evs
    assert np.max(np.abs(noisy - exact)) < 0.1 and not np.allclose(noisy, exact, atol=1e-9)


def test_circuit_library_runs_after_transpile(backend):
    from qiskit.circuit.library import efficient_su2, quantum_volume
    from qiskit.synthesis.qft import synth_qft_full

    su2 = efficient_su2(4, reps=2)
    su2 = su2.assign_parameters(np.linspace(0, 1, su2.num_parameters))
    for qc in (synth_qft_full(5), quantum_volume(5, seed=3), su2):
        qc = qc.copy()
        expected = Statevector(qc).data
        t = transpile(qc, backend)
        save_statevector(t)
        got = backend.run(t).result().get_statevector()
        np.testing.assert_allclose(np.asarray(got), expected, atol=1e-10)


# --------------------------------------------------------------------------- options and errors


def test_unknown_options_warn_as_aer_and_run_options_do_not_stick(backend):
    """Aer ignores options it does not know; so does its drop-in, with a warning
    naming the option (ferroq's own Simulator refuses them)."""
    with pytest.warns(UserWarning, match="run option 'bogus' is not an option"):
        counts = backend.run(bell_measured(), bogus=1, shots=20).result().get_counts()
    assert sum(counts.values()) == 20
    with pytest.warns(UserWarning, match="option 'bogus'"):
        sim = FerroqSimulator(bogus=1)
    assert not hasattr(sim.options, "bogus")
    with pytest.raises(UnknownOptionError):
        ferroq.Simulator(bogus=1)
    with pytest.raises(OptionError, match="precision"):
        backend.run(bell_measured(), precision="half")
    sim = FerroqSimulator(shots=10)
    assert sum(sim.run(bell_measured(), shots=33).result().get_counts().values()) == 33
    assert sum(sim.run(bell_measured()).result().get_counts().values()) == 10
    assert sim.options.shots == 10


def test_max_parallel_experiments_reaches_the_engine(backend):
    circuits = [bell_measured() for _ in range(6)]
    one = backend.run(circuits, shots=200, seed_simulator=4, max_parallel_experiments=1).result()
    auto = backend.run(circuits, shots=200, seed_simulator=4).result()
    assert one.get_counts() == auto.get_counts()
    with pytest.raises(OptionError, match="max_parallel_experiments"):
        backend.run(circuits, max_parallel_experiments=-1)


def test_set_options_never_leaks_into_a_running_job():
    sim = FerroqSimulator(shots=100, seed_simulator=1)
    job = sim.run([bell_measured()] * 50)
    sim.set_options(shots=7)
    assert all(sum(c.values()) == 100 for c in job.result().get_counts())

    def run(shots):
        return sum(sim.run(bell_measured(), shots=shots).result().get_counts().values())

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(run, range(1, 41)))
    assert got == list(range(1, 41))


def test_errors_are_qiskit_and_futures_types(backend):
    job = backend.run(long_qiskit_circuit(), shots=1)
    with pytest.raises(FerroqJobTimeoutError) as err:
        job.result(timeout=0.05)
    assert isinstance(err.value, qiskit.providers.JobTimeoutError)
    assert isinstance(err.value, concurrent.futures.TimeoutError)
    assert job.cancel() is True
    assert job.status() is QiskitJobStatus.CANCELLED
    with pytest.raises(FerroqJobCancelledError) as err:
        job.result()
    assert isinstance(err.value, qiskit.providers.JobError)
    assert isinstance(err.value, concurrent.futures.CancelledError)
    with pytest.raises(qiskit.providers.JobError):
        job.submit()


def test_wait_for_final_state_relays_qiskit_status(backend):
    job = backend.run(long_qiskit_circuit(), shots=1)
    seen = []
    with pytest.raises(FerroqJobTimeoutError):
        job.wait_for_final_state(timeout=0.3, wait=0.1, callback=lambda *a: seen.append(a))
    job.cancel()
    assert 2 <= len(seen) <= 4
    assert all(s[0] == job.job_id() and isinstance(s[1], QiskitJobStatus) and s[2] is job for s in seen)


def test_provider():
    provider = FerroqProvider()
    assert [b.name for b in provider.backends()] == ["ferroq_simulator"]
    backend = provider.get_backend("ferroq_simulator")
    assert isinstance(backend, FerroqSimulator) and backend.provider is provider
    assert provider.backends("other") == []
    with pytest.raises(ferroq.exceptions.FerroqError):
        provider.get_backend("other")


def test_drop_in_for_aer_script():
    """A statevector workload written for AerSimulator runs unchanged."""
    from ferroq.qiskit import FerroqSimulator as AerSimulator

    sim = AerSimulator(method="statevector")
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure(range(3), range(3))
    counts = sim.run(transpile(qc, sim), shots=1000, seed_simulator=42).result().get_counts(qc)
    assert set(counts) == {"000", "111"}
