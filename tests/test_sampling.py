"""Measurement sampling: counts, memory, clbit ordering, mid-circuit measurement and
reset, batches, seeds, statevector / probabilities in results, options."""

from __future__ import annotations

import collections
import itertools
import math

import ferroq
import numpy as np
import pytest
import reference as ref
from conftest import _res
from helpers import build

ATOL = 1e-10
ALPHA = 1e-4


def _fit(counts, probs):
    pvalue, dof = ref.chi_square_pvalue(counts, probs)
    assert pvalue > ALPHA, f"chi-square p={pvalue:.3g} (dof={dof}); counts={counts}; probs={probs}"


def _check_dynamic(run, ops, n, num_clbits, shots=4000, seed=1):
    """Sample and compare with the exact branch-enumeration distribution."""
    result = run(build(ops, n, num_clbits), shots=shots, seed=seed)
    counts = result.get_counts()
    assert sum(counts.values()) == shots
    probs = ref.outcome_distribution(ops, n, num_clbits)
    _fit(counts, probs)
    return counts, probs


# ---------------------------------------------------------------------------
# Terminal measurement
# ---------------------------------------------------------------------------


def test_bell_counts(run):
    circ = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
    shots = 4000
    counts = run(circ, shots=shots, seed=7).get_counts()
    assert set(counts) <= {"00", "11"}
    assert sum(counts.values()) == shots
    # binomial(4000, 1/2): sigma ~ 31.6; 6 sigma bound
    assert abs(counts.get("00", 0) - shots / 2) < 6 * math.sqrt(shots / 4)
    _fit(counts, {"00": 0.5, "11": 0.5})


def test_deterministic_outcomes(run):
    circ = ferroq.Circuit(4, 4).x(0).x(2).measure([0, 1, 2, 3], [0, 1, 2, 3])
    assert run(circ, shots=100, seed=1).get_counts() == {"0101": 100}


def test_x_then_measure_is_always_one(run):
    circ = ferroq.Circuit(1, 1).x(0).measure(0, 0)
    assert run(circ, shots=500).get_counts() == {"1": 500}


def test_clbit_zero_is_rightmost(run):
    circ = ferroq.Circuit(3, 3).x(0).measure([0, 1, 2], [0, 1, 2])
    assert run(circ, shots=10).get_counts() == {"001": 10}


def test_measurement_into_permuted_clbits(run):
    # q0 -> c1, q1 -> c2, q2 -> c0 with q0 = q2 = 1: c1 = c0 = 1
    circ = ferroq.Circuit(3, 3).x(0).x(2).measure([0, 1, 2], [1, 2, 0])
    assert run(circ, shots=50).get_counts() == {"011": 50}
    circ = ferroq.Circuit(3, 3).x(0).measure([0, 1, 2], [2, 0, 1])
    assert run(circ, shots=50).get_counts() == {"100": 50}


def test_unmeasured_clbits_stay_zero(run):
    circ = ferroq.Circuit(1, 4).x(0).measure(0, 2)
    assert run(circ, shots=20).get_counts() == {"0100": 20}


def test_partial_measurement_statistics(run):
    ops = [("x", (2,), ()), ("h", (0,), ()), ("ry", (1,), (1.2,)), ("cx", (1, 3), ()),
           ("measure", (1,), (0,)), ("measure", (2,), (1,))]  # fmt: skip
    counts, _ = _check_dynamic(run, ops, 4, 2)
    assert all(k[0] == "1" for k in counts)


def test_partial_measurement_single_qubit_of_ghz(run):
    circ = ferroq.Circuit(3, 1).h(0).cx(0, 1).cx(1, 2).measure(2, 0)
    counts = run(circ, shots=4000, seed=3).get_counts()
    assert set(counts) == {"0", "1"}
    _fit(counts, {"0": 0.5, "1": 0.5})


def test_measure_all(run):
    circ = ferroq.Circuit(3, 2).x(0).x(1)
    circ.measure_all()
    counts = run(circ, shots=30).get_counts()
    # new clbits 2, 3, 4 hold q0, q1, q2; old clbits 0, 1 stay 0
    assert counts == {"01100": 30}


def test_measure_all_statistics(run):
    ops = [("h", (0,), ()), ("cry", (0, 1), (2.0,)), ("u", (2,), (0.7, 0.1, -0.3))]
    circ = build(ops, 3)
    circ.measure_all()
    counts = run(circ, shots=4000, seed=5).get_counts()
    probs = ref.marginal_probabilities(ref.simulate(ops, 3), [0, 1, 2], [0, 1, 2], 3)
    _fit(counts, probs)


def test_uniform_superposition_statistics(run):
    n = 5
    circ = ferroq.Circuit(n, n)
    for q in range(n):
        circ.h(q)
    circ.measure(list(range(n)), list(range(n)))
    counts = run(circ, shots=8000, seed=11).get_counts()
    _fit(counts, {format(i, "05b"): 1 / 32 for i in range(32)})


def test_high_precision_sampling(run):
    """200k shots: sensitive to small biases in the sampler (e.g. p**1.05)."""
    ops = [("ry", (0,), (0.9,)), ("ry", (1,), (2.1,)), ("cry", (0, 2), (1.4,)), ("u", (3,), (0.3, 1.0, 2.0))]
    n = 4
    circ = build(ops, n, n).measure(list(range(n)), list(range(n)))
    shots = 200_000
    counts = run(circ, shots=shots, seed=2024).get_counts()
    probs = ref.marginal_probabilities(ref.simulate(ops, n), range(n), range(n), n)
    _fit(counts, probs)
    for key, pr in probs.items():
        sigma = math.sqrt(shots * pr * (1 - pr)) + 1e-9
        assert abs(counts.get(key, 0) - shots * pr) < 6 * sigma + 1, (key, counts.get(key, 0), shots * pr)


@pytest.mark.slow
def test_high_precision_mid_circuit_sampling(run):
    ops = [
        ("ry", (0,), (1.0,)),
        ("measure", (0,), (0,)),
        ("cry", (0, 1), (2.2,)),
        ("reset", (0,), ()),
        ("ry", (0,), (0.4,)),
        ("cx", (1, 0), ()),
        ("measure", (0,), (1,)),
        ("measure", (1,), (2,)),
    ]
    _check_dynamic(run, ops, 2, 3, shots=200_000, seed=77)


def test_no_measurement_gives_empty_counts(run):
    result = run(ferroq.Circuit(2).h(0), shots=10)
    assert result.get_counts() == {}


def test_unmeasured_clbits_read_zero(run):
    """As in Qiskit: counts are over the classical register, and a clbit that
    is never written reads 0 in every shot."""
    result = run(ferroq.Circuit(2, 2).h(0), shots=10, memory=True)
    assert result.get_counts() == {"00": 10}
    assert result.get_memory() == ["00"] * 10
    result = run(ferroq.Circuit(2, 3).x(0).measure(0, 1), shots=5)
    assert result.get_counts() == {"010": 5}


def test_default_shots(run):
    circ = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    result = run(circ)
    assert sum(result.get_counts().values()) == 1024
    assert result.results[0].shots == 1024


@pytest.mark.parametrize("shots", [1, 2, 17, 1000])
def test_shot_count(run, shots):
    circ = ferroq.Circuit(2, 2).h(0).h(1).measure([0, 1], [0, 1])
    result = run(circ, shots=shots, seed=2, memory=True)
    assert sum(result.get_counts().values()) == shots
    assert len(result.get_memory()) == shots
    assert result.results[0].shots == shots


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def test_memory_consistent_with_counts(run):
    circ = ferroq.Circuit(3, 3).h(0).cx(0, 1).ry(0.8, 2).measure([0, 1, 2], [0, 1, 2])
    result = run(circ, shots=777, seed=9, memory=True)
    memory = result.get_memory()
    assert len(memory) == 777
    assert all(isinstance(m, str) and len(m) == 3 for m in memory)
    assert collections.Counter(memory) == collections.Counter(result.get_counts())


def test_memory_deterministic_circuit(run):
    circ = ferroq.Circuit(2, 3).x(1).measure([0, 1], [2, 0])
    memory = run(circ, shots=12, memory=True).get_memory()
    assert memory == ["001"] * 12


def test_memory_requires_option(run):
    circ = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    result = run(circ, shots=10)
    with pytest.raises(ferroq.exceptions.FerroqError):
        result.get_memory()


def test_memory_is_shot_ordered_and_not_sorted(run):
    circ = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    memory = run(circ, shots=200, seed=4, memory=True).get_memory()
    assert memory != sorted(memory)
    # no long runs: 200 fair coin flips essentially never have a run of 40
    longest = max(len(list(g)) for _, g in itertools.groupby(memory))
    assert longest < 40


# ---------------------------------------------------------------------------
# Mid-circuit measurement and reset
# ---------------------------------------------------------------------------


def test_measure_reset_x_measure(run):
    ops = [("h", (0,), ()), ("measure", (0,), (0,)), ("reset", (0,), ()), ("x", (0,), ()),
           ("measure", (0,), (1,))]  # fmt: skip
    counts, _ = _check_dynamic(run, ops, 1, 2)
    assert set(counts) == {"10", "11"}


def test_repeated_measurement_collapses(run):
    ops = [("h", (0,), ()), ("measure", (0,), (0,)), ("measure", (0,), (1,))]
    counts, _ = _check_dynamic(run, ops, 1, 2)
    assert set(counts) == {"00", "11"}


def test_measurement_then_hadamard_rerandomises(run):
    ops = [("h", (0,), ()), ("measure", (0,), (0,)), ("h", (0,), ()), ("measure", (0,), (1,))]
    counts, _ = _check_dynamic(run, ops, 1, 2)
    assert set(counts) == {"00", "01", "10", "11"}


def test_measurement_destroys_interference(run):
    # without the mid-circuit measurement H H |0> = |0>; with it the result is random
    ops = [("h", (0,), ()), ("measure", (0,), (1,)), ("h", (0,), ()), ("measure", (0,), (0,))]
    counts, _ = _check_dynamic(run, ops, 1, 2)
    assert {k[1] for k in counts} == {"0", "1"}


def test_reset_of_one_qubit_in_entangled_pair(run):
    ops = [("h", (0,), ()), ("cx", (0, 1), ()), ("reset", (0,), ()), ("measure", (0,), (0,)),
           ("measure", (1,), (1,))]  # fmt: skip
    counts, _ = _check_dynamic(run, ops, 2, 2)
    assert set(counts) == {"00", "10"}


def test_reset_of_excited_qubit(run):
    circ = ferroq.Circuit(2, 2).x(0).x(1).reset(0).measure([0, 1], [0, 1])
    assert run(circ, shots=100).get_counts() == {"10": 100}


def test_reset_at_start_is_noop(run):
    circ = ferroq.Circuit(1, 1).reset(0).x(0).measure(0, 0)
    assert run(circ, shots=50).get_counts() == {"1": 50}


def test_reset_list_resets_all(run):
    circ = ferroq.Circuit(3, 3).x(0).x(1).x(2).reset([0, 2]).measure([0, 1, 2], [0, 1, 2])
    assert run(circ, shots=20).get_counts() == {"010": 20}


def test_remeasure_overwrites_clbit(run):
    circ = ferroq.Circuit(1, 1).x(0).measure(0, 0).x(0).measure(0, 0)
    assert run(circ, shots=40).get_counts() == {"0": 40}


@pytest.mark.parametrize("theta", [0.0, 2 * math.pi / 3, 1.1, math.pi])
def test_teleportation_with_measured_controls(run, theta):
    """Teleport ry(theta)|0> from q0 to q2; q0, q1 are measured mid-circuit and the
    corrections are then applied as gates controlled by the collapsed qubits."""
    ops = [("ry", (0,), (theta,)), ("h", (1,), ()), ("cx", (1, 2), ()), ("cx", (0, 1), ()), ("h", (0,), ()),
           ("measure", (0,), (0,)), ("measure", (1,), (1,)), ("cx", (1, 2), ()), ("cz", (0, 2), ()),
           ("measure", (2,), (2,))]  # fmt: skip
    counts, probs = _check_dynamic(run, ops, 3, 3)
    p_one = sum(v for k, v in probs.items() if k[0] == "1")
    assert p_one == pytest.approx(math.sin(theta / 2) ** 2, abs=1e-12)
    if theta == 0.0:
        assert all(k[0] == "0" for k in counts)
    if theta == math.pi:
        assert all(k[0] == "1" for k in counts)


def test_reset_reuses_qubit_as_fresh_ancilla(run):
    ops = []
    for round_ in range(3):
        ops += [("h", (0,), ()), ("cx", (0, 1), ()), ("measure", (1,), (round_,)), ("reset", (1,), ())]
    ops += [("measure", (1,), (3,))]
    counts, _ = _check_dynamic(run, ops, 2, 4)
    assert all(k[0] == "0" for k in counts)


# ---------------------------------------------------------------------------
# Batches and seeds
# ---------------------------------------------------------------------------


def _batch():
    a = ferroq.Circuit(2, 2, name="a").x(0).measure([0, 1], [0, 1])
    b = ferroq.Circuit(2, 2, name="b").x(1).measure([0, 1], [0, 1])
    c = ferroq.Circuit(3, 3, name="c").x(0).x(1).x(2).measure([0, 1, 2], [0, 1, 2])
    return [a, b, c]


def test_batch_counts_in_order(run):
    result = run(_batch(), shots=64)
    assert len(result) == 3
    assert result.get_counts() == [{"01": 64}, {"10": 64}, {"111": 64}]
    assert result.get_counts(0) == {"01": 64}
    assert result.get_counts(2) == {"111": 64}
    assert result.get_counts("b") == {"10": 64}
    assert [r.name for r in result.results] == ["a", "b", "c"]
    assert [r.num_clbits for r in result.results] == [2, 2, 3]
    assert all(r.shots == 64 for r in result.results)
    for r in result.results:
        assert isinstance(r.time_taken, float)
        assert r.time_taken >= 0.0


def test_batch_with_unmeasured_circuit(run):
    circs = [ferroq.Circuit(1, name="u").h(0), ferroq.Circuit(1, 1, name="m").x(0).measure(0, 0)]
    result = run(circs, shots=5)
    assert result.get_counts() == [{}, {"1": 5}]


def test_batch_seeds(run):
    circ = ferroq.Circuit(4, 4)
    for q in range(4):
        circ.h(q)
    circ.measure([0, 1, 2, 3], [0, 1, 2, 3])
    circs = [circ.copy() for _ in range(4)]
    r1 = run(circs, shots=300, seed=1234, memory=True)
    r2 = run(circs, shots=300, seed=1234, memory=True)
    seeds = [r.seed for r in r1.results]
    assert all(isinstance(s, int) for s in seeds)
    assert len(set(seeds)) == len(seeds), "each circuit in a batch gets its own seed"
    assert seeds == [r.seed for r in r2.results]
    assert r1.get_counts() == r2.get_counts()
    for i in range(4):
        assert r1.get_memory(i) == r2.get_memory(i)
    # identical circuits with different derived seeds give different shot records
    assert len({tuple(r1.get_memory(i)) for i in range(4)}) == 4


def test_batch_seed_depends_on_index_only(run):
    circs = _batch()
    full = run(circs, shots=10, seed=99)
    first = run(circs[:1], shots=10, seed=99)
    assert first.results[0].seed == full.results[0].seed


def test_different_run_seeds_differ(run):
    circ = ferroq.Circuit(5, 5)
    for q in range(5):
        circ.h(q)
    circ.measure(list(range(5)), list(range(5)))
    m1 = run(circ, shots=200, seed=1, memory=True).get_memory()
    m2 = run(circ, shots=200, seed=2, memory=True).get_memory()
    assert m1 != m2


def test_seeded_single_circuit_reproducible(run):
    circ = ferroq.Circuit(3, 3).h(0).cx(0, 1).rx(0.3, 2).measure([0, 1, 2], [0, 1, 2])
    a = run(circ, shots=500, seed=42, memory=True)
    b = run(circ, shots=500, seed=42, memory=True)
    assert a.get_counts() == b.get_counts()
    assert a.get_memory() == b.get_memory()
    assert a.seed == b.seed == 42
    assert a.results[0].seed == b.results[0].seed


def test_unseeded_run_reports_reusable_seed(run):
    circ = ferroq.Circuit(3, 3).h(0).h(1).h(2).measure([0, 1, 2], [0, 1, 2])
    a = run(circ, shots=300, memory=True)
    assert isinstance(a.results[0].seed, int)
    if a.seed is None:
        pytest.skip("run seed not reported for unseeded runs")
    b = run(circ, shots=300, memory=True, seed=a.seed)
    assert a.get_memory() == b.get_memory()


def test_mid_circuit_seeded_reproducible(run):
    circ = ferroq.Circuit(2, 3).h(0).measure(0, 0).reset(0).h(0).cx(0, 1).measure([0, 1], [1, 2])
    a = run(circ, shots=300, seed=5, memory=True)
    b = run(circ, shots=300, seed=5, memory=True)
    assert a.get_memory() == b.get_memory()


# ---------------------------------------------------------------------------
# Statevector and probabilities in results
# ---------------------------------------------------------------------------


def test_result_statevector_terminal_measurement(run):
    ops = [("h", (0,), ()), ("cx", (0, 1), ()), ("ry", (2,), (0.4,)), ("global_phase", (), (0.3,))]
    circ = build(ops, 3, 3).measure([0, 1, 2], [0, 1, 2])
    result = run(circ, shots=100, seed=3, statevector=True)
    expected = ref.simulate(ops, 3)
    sv = result.get_statevector()
    assert isinstance(sv, np.ndarray)
    assert sv.dtype == np.complex128
    np.testing.assert_allclose(sv, expected, atol=ATOL)
    np.testing.assert_allclose(sv, ferroq.statevector(build(ops, 3)), atol=ATOL)
    probs = result.get_probabilities()
    assert isinstance(probs, np.ndarray)
    assert probs.dtype == np.float64
    np.testing.assert_allclose(probs, np.abs(expected) ** 2, atol=ATOL)
    assert sum(result.get_counts().values()) == 100


def test_result_statevector_without_measurement(run):
    ops = [("u", (0,), (0.3, 0.2, 0.1)), ("crx", (0, 1), (1.3,))]
    result = run(build(ops, 2), shots=5, statevector=True)
    np.testing.assert_allclose(result.get_statevector(), ref.simulate(ops, 2), atol=ATOL)
    np.testing.assert_allclose(result.get_statevector(0), ref.simulate(ops, 2), atol=ATOL)


def test_result_statevector_batch(run):
    c0 = ferroq.Circuit(1, 1, name="zero").h(0).measure(0, 0)
    c1 = ferroq.Circuit(2, 2, name="one").x(1).measure([0, 1], [0, 1])
    result = run([c0, c1], shots=8, statevector=True)
    np.testing.assert_allclose(result.get_statevector(0), [2**-0.5, 2**-0.5], atol=ATOL)
    np.testing.assert_allclose(result.get_statevector("one"), [0, 0, 1, 0], atol=ATOL)
    np.testing.assert_allclose(result.get_probabilities(1), [0, 0, 1, 0], atol=ATOL)


def test_statevector_requires_option(run):
    result = run(ferroq.Circuit(1, 1).h(0).measure(0, 0), shots=4)
    with pytest.raises(ferroq.exceptions.FerroqError):
        result.get_statevector()
    with pytest.raises(ferroq.exceptions.FerroqError):
        result.get_probabilities()


# ---------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------


def test_simulator_options_defaults_and_override():
    circ = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    sim = ferroq.Simulator(shots=100)
    assert sim.options["shots"] == 100
    assert sum(_res(sim.run(circ)).get_counts().values()) == 100
    assert sum(_res(sim.run(circ, shots=7)).get_counts().values()) == 7
    sim.set_options(shots=50, seed=3)
    assert sim.options["shots"] == 50
    a = _res(sim.run(circ, memory=True))
    b = _res(sim.run(circ, memory=True))
    assert len(a.get_memory()) == 50
    assert a.get_memory() == b.get_memory()


def test_options_is_a_dict():
    sim = ferroq.Simulator(shots=12)
    assert isinstance(sim.options, dict)
    assert sim.options["shots"] == 12


def test_result_seed_attributes(run):
    circ = ferroq.Circuit(1, 1).h(0).measure(0, 0)
    result = run([circ, circ.copy()], shots=10, seed=17)
    assert result.seed == 17
    assert len(result.results) == 2
    assert all(isinstance(r.seed, int) for r in result.results)


def test_max_memory_allows_small_circuits(run):
    circ = ferroq.Circuit(10, 1).h(9).measure(9, 0)
    result = run(circ, shots=20, max_memory_mb=1)
    assert sum(result.get_counts().values()) == 20


def test_run_parallel_options_accepted(run):
    circ = ferroq.Circuit(3, 3).h(0).cx(0, 1).measure([0, 1, 2], [0, 1, 2])
    for threads in (1, 2, 4):
        counts = run(circ, shots=50, seed=1, max_parallel_threads=threads, parallel_threshold=1).get_counts()
        assert set(counts) <= {"000", "011"}


@pytest.mark.parametrize("width", [1, 5, 63, 64, 65, 130])
def test_hex_counts_and_memory_match_python_hex(width: int) -> None:
    """The hex layout Qiskit's Result uses, built in Rust, equals hex(int(bits, 2))."""
    qc = ferroq.Circuit(min(width, 6), width)
    for q in range(qc.num_qubits):
        qc.h(q)
    for c in range(width):
        qc.measure(c % qc.num_qubits, c)
    exp = ferroq.Simulator().run(qc, shots=300, seed=5, memory=True).result()._experiment(0)
    assert exp.counts_hex() == {hex(int(k, 2)): v for k, v in exp.counts().items()}
    assert exp.memory_hex() == [hex(int(m, 2)) for m in exp.memory()]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_max_parallel_experiments_changes_no_result(threads: int) -> None:
    """However many circuits run side by side, each gets the same counts and memory."""
    circuits = []
    for k in range(12):
        qc = ferroq.Circuit(5, 5).h(0).ry(0.2 * k, 1).cx(0, 2).rx(0.1, 3 + k % 2)
        circuits.append(qc.measure(list(range(5)), list(range(5))))
    sim = ferroq.Simulator(max_parallel_threads=threads, shots=200, seed=9, memory=True)
    reference = sim.run(circuits, max_parallel_experiments=1).result()
    for slots in (0, 2, 5, 64):
        result = sim.run(circuits, max_parallel_experiments=slots).result()
        assert result.get_counts() == reference.get_counts()
        assert result.get_memory(3) == reference.get_memory(3)
