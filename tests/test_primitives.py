"""ferroq.qiskit.SamplerV2 and EstimatorV2 as drop-ins for Aer's V2 primitives:
the same constructors, options, result types and PUB broadcasting, checked against
exact references (``qiskit.quantum_info``) and, where it is installed, against
``qiskit_aer.primitives`` side by side."""

from __future__ import annotations

import importlib.util
import time

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

from ferroq.exceptions import OptionError  # noqa: E402
from ferroq.qiskit import (  # noqa: E402
    EstimatorOptions,
    EstimatorV2,
    FerroqJobError,
    FerroqJobTimeoutError,
    FerroqPrimitiveJob,
    FerroqSimulator,
    SamplerOptions,
    SamplerV2,
)
from ferroq.testing import assert_counts_consistent, assert_distribution_close  # noqa: E402
from ferroq.testing.strategies import observables, qiskit_circuits  # noqa: E402
from helpers import examples, stable_seed  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister  # noqa: E402
from qiskit.circuit import Parameter, ParameterVector  # noqa: E402
from qiskit.primitives.containers import BitArray, PrimitiveResult  # noqa: E402
from qiskit.quantum_info import SparsePauliOp, Statevector  # noqa: E402

HAVE_AER = importlib.util.find_spec("qiskit_aer") is not None
needs_aer = pytest.mark.skipif(not HAVE_AER, reason="qiskit-aer is not installed")


def ansatz(n: int) -> QuantumCircuit:
    theta = ParameterVector("t", 2 * n)
    qc = QuantumCircuit(n)
    for q in range(n):
        qc.ry(theta[q], q)
    for q in range(n - 1):
        qc.cx(q, q + 1)
    for q in range(n):
        qc.rz(theta[n + q] * 2 + 0.1, q)  # an expression, not only a bare parameter
    return qc


def exact_probabilities(qc: QuantumCircuit) -> np.ndarray:
    return Statevector(qc.remove_final_measurements(inplace=False)).probabilities()


# ------------------------------------------------------------------ the sampler
def test_sampler_bell_and_its_result_types():
    bell = QuantumCircuit(2)
    bell.h(0)
    bell.cx(0, 1)
    bell.measure_all()
    job = SamplerV2(seed=1).run([bell], shots=4000)
    assert isinstance(job, FerroqPrimitiveJob)
    result = job.result()
    assert isinstance(result, PrimitiveResult) and result.metadata == {"version": 2}
    (pub,) = result
    bits = pub.data.meas
    assert isinstance(bits, BitArray) and bits.num_shots == 4000 and bits.num_bits == 2 and bits.shape == ()
    assert_counts_consistent(bits.get_counts(), {"00": 0.5, "11": 0.5})
    assert pub.metadata["shots"] == 4000 and "simulator_metadata" in pub.metadata
    assert job.done() and job.in_final_state() and not job.cancelled() and job.status().name == "DONE"


def test_sampler_broadcasts_parameter_sets_over_several_registers():
    a, b = Parameter("a"), Parameter("b")
    qr, left, right = QuantumRegister(3), ClassicalRegister(1, "left"), ClassicalRegister(2, "right")
    qc = QuantumCircuit(qr, left, right)
    qc.ry(a, 0)
    qc.rx(b, 1)
    qc.cx(1, 2)
    qc.measure(0, left[0])
    qc.measure([1, 2], right)
    values = np.random.default_rng(3).uniform(0, np.pi, size=(2, 3, 2))
    shots = 3000
    (pub,) = SamplerV2(seed=5).run([(qc, values)], shots=shots).result()
    assert pub.data.left.shape == (2, 3) and pub.data.right.shape == (2, 3)
    assert pub.data.left.num_bits == 1 and pub.data.right.num_bits == 2
    for index in np.ndindex(2, 3):
        bound = qc.assign_parameters(dict(zip([a, b], values[index], strict=True)))
        probs = exact_probabilities(bound)  # qubit 0 is the least significant
        p0 = probs[1::2].sum()
        assert_counts_consistent(pub.data.left[index].get_counts(), {"0": 1 - p0, "1": p0})
        p_right = {f"{k:02b}": probs.reshape(4, 2)[k].sum() for k in range(4)}
        assert_counts_consistent(pub.data.right[index].get_counts(), p_right)


@settings(max_examples=examples(0.3), deadline=None)
@given(qiskit_circuits(range(1, 5), range(0, 8), measure=True))
def test_sampler_matches_exact_probabilities(qc):
    shots = 2000
    (pub,) = SamplerV2(seed=stable_seed(str(qc))).run([qc], shots=shots).result()
    counts = pub.data.meas.get_counts()
    assert sum(counts.values()) == shots
    assert_counts_consistent(counts, exact_probabilities(qc))


def test_sampler_seeds_reproduce_and_seed_beats_run_options():
    qc = ansatz(3)
    qc.measure_all()
    values = np.random.default_rng(0).uniform(0, 2, size=(4, qc.num_parameters))
    first = SamplerV2(seed=11).run([(qc, values)], shots=64).result()[0].data.meas
    again = SamplerV2(seed=11, options={"run_options": {"seed_simulator": 99}}).run([(qc, values)], shots=64)
    assert np.array_equal(first.array, again.result()[0].data.meas.array)
    by_run_options = SamplerV2(options={"run_options": {"seed_simulator": 11}}).run([(qc, values)], shots=64)
    assert np.array_equal(first.array, by_run_options.result()[0].data.meas.array)


def test_sampler_pubs_with_different_shots_and_default_shots():
    qc = QuantumCircuit(1, 1)
    qc.x(0)
    qc.measure(0, 0)
    sampler = SamplerV2(default_shots=7)
    assert sampler.default_shots == 7 and sampler.seed is None
    result = sampler.run([qc, (qc, None, 3), (qc, None, 7)]).result()
    assert [r.data.c.num_shots for r in result] == [7, 3, 7]
    assert result[1].data.c.get_counts() == {"1": 3}


def test_sampler_warns_on_a_circuit_without_registers():
    qc = QuantumCircuit(1)
    qc.h(0)
    with pytest.warns(UserWarning, match="no output classical registers"):
        (pub,) = SamplerV2().run([qc], shots=5).result()
    assert list(pub.data) == []


def test_sampler_truncates_a_circuit_transpiled_for_a_large_device():
    """127 qubits, two of them used: only those are simulated, as in Aer."""
    qc = QuantumCircuit(127, 2)
    qc.h(60)
    qc.cx(60, 100)
    qc.measure([60, 100], [0, 1])
    (pub,) = SamplerV2(seed=2).run([qc], shots=2000).result()
    assert_counts_consistent(pub.data.c.get_counts(), {"00": 0.5, "11": 0.5})


def test_sampler_a_failing_circuit_names_its_pub():
    small, large = QuantumCircuit(1, 1), QuantumCircuit(30, 1)
    small.measure(0, 0)
    large.h(range(30))
    large.measure(0, 0)
    sampler = SamplerV2(options={"backend_options": {"max_memory_mb": 64}})
    with pytest.raises(FerroqJobError, match="pub 1, parameter set 0"):
        sampler.run([small, large], shots=10).result()


def test_sampler_options_are_checked():
    with pytest.raises(OptionError, match="unknown option 'shots'"):
        SamplerV2(options={"shots": 5})
    with pytest.raises(OptionError, match="run_options must be a dict"):
        SamplerV2(options={"run_options": 3})
    with pytest.raises(OptionError, match="max_parallel_threads"):
        SamplerV2(options={"backend_options": {"max_parallel_threads": -1}})
    assert SamplerV2(options={"backend_options": {"precision": "single"}}).options == SamplerOptions(
        backend_options={"precision": "single"}
    )


def test_from_backend_runs_on_that_backend():
    backend = FerroqSimulator(precision="single")
    qc = QuantumCircuit(1, 1)
    qc.measure(0, 0)
    (pub,) = SamplerV2.from_backend(backend, seed=1).run([qc], shots=3).result()
    assert pub.metadata["simulator_metadata"]["precision"] == "single"
    estimator = EstimatorV2.from_backend(backend)
    (ev,) = estimator.run([(QuantumCircuit(1), SparsePauliOp("Z"))]).result()
    assert ev.data.evs == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(TypeError, match="FerroqSimulator"):
        SamplerV2.from_backend(object())


# ---------------------------------------------------------------- the estimator
def exact_ev(qc: QuantumCircuit, observable: SparsePauliOp) -> float:
    return float(np.real(Statevector(qc).expectation_value(observable)))


@settings(max_examples=examples(0.3), deadline=None)
@given(st.data())
def test_estimator_is_exact_on_random_circuits_and_observables(data):
    qc = data.draw(qiskit_circuits(range(1, 6), range(0, 10)))
    terms = data.draw(observables(qc.num_qubits, max_terms=5))
    observable = SparsePauliOp.from_list(terms)
    # Qiskit refuses an observable that simplifies to nothing (as Aer's estimator does).
    assume(bool(np.any(np.abs(observable.simplify().coeffs) > 1e-6)))
    (pub,) = EstimatorV2().run([(qc, observable)]).result()
    assert pub.data.evs.shape == () and pub.data.stds == 0.0
    assert float(pub.data.evs) == pytest.approx(exact_ev(qc, observable), abs=1e-10)


def test_estimator_broadcasts_parameters_against_observables():
    qc = ansatz(3)
    values = np.random.default_rng(2).uniform(0, 2 * np.pi, size=(4, 1, qc.num_parameters))
    obs = [SparsePauliOp("ZZI"), SparsePauliOp.from_list([("XXY", 0.5), ("IZI", -1)]), SparsePauliOp("III")]
    (pub,) = EstimatorV2().run([(qc, obs, values)]).result()
    assert pub.data.evs.shape == (4, 3) and pub.data.stds.shape == (4, 3)
    for i in range(4):
        bound = qc.assign_parameters(values[i, 0])
        for j in range(3):
            assert pub.data.evs[i, j] == pytest.approx(exact_ev(bound, obs[j]), abs=1e-10)
    assert pub.metadata["target_precision"] == 0.0


def test_estimator_precision_adds_seeded_normal_noise_as_aer():
    qc = QuantumCircuit(1)
    qc.ry(0.7, 0)
    observable = SparsePauliOp("Z")
    many = [(qc, [observable] * 4000)]
    options = {"run_options": {"seed_simulator": 5}}
    (pub,) = EstimatorV2(options=options).run(many, precision=0.05).result()
    exact = np.cos(0.7)
    assert np.all(pub.data.stds == 0.05)
    # The draws are N(exact, 0.05): their mean within 5 standard errors, and
    # their spread within 10% of 0.05.
    assert abs(pub.data.evs.mean() - exact) < 5 * 0.05 / np.sqrt(4000)
    assert abs(pub.data.evs.std() - 0.05) < 0.005
    (again,) = EstimatorV2(options=options).run(many, precision=0.05).result()
    assert np.array_equal(pub.data.evs, again.data.evs)
    expected = np.random.default_rng(5).normal(np.full(4000, exact), 0.05)
    assert np.allclose(pub.data.evs, expected, atol=1e-12)


def test_estimator_refuses_bad_precision_and_noise_on_non_hermitian():
    qc = QuantumCircuit(1)
    with pytest.raises(ValueError, match="precision"):
        EstimatorV2().run([(qc, SparsePauliOp("Z"))], precision=-0.1)
    qc.h(0)
    non_hermitian = SparsePauliOp(["X", "Y"], [1.0, 1j])
    with pytest.raises(ValueError, match="Hermitian"):  # refused by Qiskit's coercion, as in Aer
        EstimatorV2(options={"default_precision": 0.1}).run([(qc, non_hermitian)]).result()


def test_estimator_options():
    est = EstimatorV2(options={"default_precision": 0.25, "run_options": {"seed_simulator": 1}})
    assert est.options == EstimatorOptions(default_precision=0.25, run_options={"seed_simulator": 1})
    (pub,) = est.run([(QuantumCircuit(1), SparsePauliOp("Z"))]).result()
    assert pub.metadata["target_precision"] == 0.25 and pub.data.stds == 0.25
    with pytest.raises(OptionError, match="unknown option 'seed'"):
        EstimatorV2(options={"seed": 1})


# ----------------------------------------------------------------- the job
def test_a_primitive_job_times_out_and_cancels():
    qc = QuantumCircuit(22)
    for _ in range(60):
        qc.h(range(22))
        qc.cx(range(0, 21, 2), range(1, 22, 2))
    job = EstimatorV2().run([(qc, SparsePauliOp("Z" * 22))])
    with pytest.raises(FerroqJobTimeoutError):
        job.result(timeout=0)
    assert job.cancel()
    start = time.monotonic()
    while not job.in_final_state() and time.monotonic() - start < 60:
        time.sleep(0.01)
    assert job.cancelled() and job.status().name == "CANCELLED"


# ------------------------------------------------------- side by side with Aer
@needs_aer
def test_estimator_agrees_with_aer_to_1e_10():
    from qiskit_aer.primitives import EstimatorV2 as AerEstimator

    qc = ansatz(5)
    rng = np.random.default_rng(9)
    values = rng.uniform(0, 2 * np.pi, size=(6, qc.num_parameters))
    paulis = ["".join(rng.choice(list("IXYZ"), 5)) for _ in range(8)]
    observable = SparsePauliOp(paulis, rng.normal(size=8))
    pubs = [(qc, observable, values), (qc, [[observable], [SparsePauliOp("ZZZZZ")]], values)]
    ours = EstimatorV2().run(pubs).result()
    aers = AerEstimator().run(pubs).result()
    for mine, theirs in zip(ours, aers, strict=True):
        assert mine.data.evs.shape == theirs.data.evs.shape
        assert np.allclose(mine.data.evs, theirs.data.evs, atol=1e-10)
        assert np.array_equal(mine.data.stds, theirs.data.stds)
        assert set(mine.metadata) == set(theirs.metadata)


@needs_aer
def test_sampler_agrees_with_aer_in_layout_and_distribution():
    from qiskit_aer.primitives import SamplerV2 as AerSampler

    qc = ansatz(3)
    extra = ClassicalRegister(2, "extra")
    qc.add_register(extra)
    qc.measure_all()
    qc.measure([0, 2], extra)
    values = np.random.default_rng(4).uniform(0, 2 * np.pi, size=(2, qc.num_parameters))
    ours = SamplerV2(seed=1).run([(qc, values)], shots=3000).result()[0]
    aers = AerSampler(seed=1).run([(qc, values)], shots=3000).result()[0]
    assert set(ours.data) == set(aers.data)
    assert set(ours.metadata) == set(aers.metadata)
    for name in aers.data:
        mine, theirs = ours.data[name], aers.data[name]
        assert mine.shape == theirs.shape and mine.num_bits == theirs.num_bits
        assert mine.array.shape == theirs.array.shape
        for index in np.ndindex(*mine.shape):
            assert_distribution_close(mine[index].get_counts(), theirs[index].get_counts())


# ------------------------------------------- a sweep's circuit converted once
P = ParameterVector("p", 3)
EXPRESSIONS = [
    lambda: P[0],
    lambda: P[1],
    lambda: 2 * P[0] + 0.3,
    lambda: P[0] * P[2] - P[1],
    lambda: P[2].sin() + 1,
    lambda: 0.7,
]


@st.composite
def parameterised_circuits(draw):
    n = draw(st.integers(1, 4))
    qc = QuantumCircuit(n)
    pick = st.sampled_from(range(len(EXPRESSIONS)))
    if draw(st.booleans()):
        qc.global_phase = EXPRESSIONS[draw(pick)]()
    for _ in range(draw(st.integers(0, 10))):
        gate = draw(st.sampled_from(["rx", "rz", "u", "cp", "rzz", "evolution", "for", "h"]))
        q = draw(st.integers(0, n - 1))
        e = [EXPRESSIONS[draw(pick)]() for _ in range(3)]
        if gate == "rx":
            qc.rx(e[0], q)
        elif gate == "rz":
            qc.rz(e[0], q)
        elif gate == "u":
            qc.u(e[0], e[1], e[2], q)
        elif gate == "h":
            qc.h(q)
        elif gate == "for":  # unrolled; its body's other parameters stay slots
            i = Parameter("i")
            with qc.for_loop(range(2), loop_parameter=i):
                qc.ry(i * e[0], q)
        elif n > 1:
            r = (q + 1) % n
            if gate == "cp":
                qc.cp(e[0], q, r)
            elif gate == "rzz":
                qc.rzz(e[0], q, r)
            else:  # not native: expanded through its definition
                from qiskit.circuit.library import PauliEvolutionGate

                qc.append(PauliEvolutionGate(SparsePauliOp(["XZ", "YY"]), time=e[0]), [q, r])
    return qc


@settings(max_examples=examples(0.3), deadline=None)
@given(parameterised_circuits(), st.integers(0, 2**32 - 1))
def test_a_template_binds_exactly_as_qiskit_binds_then_converts(qc, seed):
    from ferroq.qiskit._convert import to_ferroq, to_ferroq_template

    template = to_ferroq_template(qc)
    assert template is not None
    values = np.random.default_rng(seed).uniform(-4, 4, size=(3, len(template.parameters)))
    for circuit, row in zip(template.bind(values), values, strict=True):
        reference = to_ferroq(qc.assign_parameters(dict(zip(template.parameters, row, strict=True))))
        mine, theirs = list(circuit.data), list(reference.data)
        assert [(n, q) for n, q, _ in mine] == [(n, q) for n, q, _ in theirs]
        for (_, _, a), (_, _, b) in zip(mine, theirs, strict=True):
            assert np.allclose(a, b, rtol=1e-13, atol=1e-13)
        assert circuit.global_phase == pytest.approx(reference.global_phase, abs=1e-12)


def test_a_template_refuses_values_that_are_not_finite_real_numbers():
    from ferroq.exceptions import CircuitError
    from ferroq.qiskit._convert import to_ferroq_template

    a, b = Parameter("a"), Parameter("b")
    qc = QuantumCircuit(1)
    qc.rx(a / b, 0)
    template = to_ferroq_template(qc)
    assert template is not None
    with pytest.raises(CircuitError, match="finite"):
        template.bind(np.array([[1.0, 0.0]]))
    qc = QuantumCircuit(1)
    qc.rx(a.log(), 0)
    with pytest.raises(CircuitError, match="not real"):
        to_ferroq_template(qc).bind(np.array([[-1.0]]))
    with pytest.raises(CircuitError, match="shape"):
        to_ferroq_template(qc).bind(np.zeros((2, 3)))


def test_circuits_that_cannot_be_templates_are_bound_set_by_set():
    """rv needs numbers for its definition, a parameter inside an if block lives
    in a block: both still run, bound by Qiskit per set."""
    from ferroq.qiskit._convert import to_ferroq_template

    a = Parameter("a")
    qc = QuantumCircuit(1, 1)
    qc.rv(a, 0, 0, 0)
    qc.measure(0, 0)
    with qc.if_test((qc.clbits[0], 1)):
        qc.rx(a, 0)
    assert to_ferroq_template(qc) is None
    values = np.array([[0.0], [np.pi]])
    (pub,) = SamplerV2(seed=1).run([(qc, values)], shots=50).result()
    assert pub.data.c[0].get_counts() == {"0": 50}
    assert pub.data.c[1].get_counts() == {"1": 50}
