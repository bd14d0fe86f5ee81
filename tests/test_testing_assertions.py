"""ferroq.testing's assertions and run_many: they pass on equal inputs, fail with a
readable message on different ones, and the statistical ones have the false-alarm
rate they claim and the power to see a 5-point shift at 10,000 shots."""

from __future__ import annotations

import math
import subprocess
import sys

import ferroq
import numpy as np
import pytest
import reference as ref
from conftest import requires_qiskit
from ferroq.testing import (
    DEFAULT_ALPHA,
    assert_circuits_equivalent,
    assert_counts_consistent,
    assert_distribution_close,
    assert_statevectors_close,
    chi2_goodness_of_fit,
    chi2_homogeneity,
    circuit_unitary,
    run_many,
)
from ferroq.testing._stats import chi2_sf, gammaincc, goodness_of_fit_statistics

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")


def ry_for(p1: float) -> float:
    """The RY angle that measures 1 with probability ``p1``."""
    return 2 * math.asin(math.sqrt(p1))


def binomial_band(trials: int, p: float, confidence: float = 0.999) -> tuple[int, int]:
    """Two-sided ``confidence`` interval of a Binomial(trials, p) count."""
    lo, hi = scipy_stats.binom.interval(confidence, trials, p)
    return int(lo), int(hi)


# ---------------------------------------------------------------------------
# Documentation and imports
# ---------------------------------------------------------------------------


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_ferroq_imports_neither_ferroq_testing_nor_hypothesis():
    out = _python(
        "import sys, ferroq; import ferroq.testing as t; "
        "print('hypothesis' in sys.modules, 'qiskit' in sys.modules, 'scipy' in sys.modules)"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "False"]
    out = _python("import sys, ferroq; print('ferroq.testing' in sys.modules)")
    assert out.stdout.strip() == "False"


def test_assertions_work_without_hypothesis_and_strategies_say_how_to_install_it():
    code = """
import sys
sys.modules["hypothesis"] = None  # as if it were not installed
import ferroq
from ferroq.testing import assert_counts_consistent, run_many
[counts] = run_many([ferroq.Circuit(1).h(0).measure_all()], shots=1000, seed=1)
assert_counts_consistent(counts, [0.5, 0.5])
try:
    import ferroq.testing.strategies
except ImportError as error:
    print(error)
"""
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert 'pip install "ferroq[testing]"' in out.stdout


def test_qiskit_circuits_without_qiskit_raises_a_clear_import_error():
    code = """
import sys
sys.modules["qiskit"] = None
from ferroq.testing.strategies import circuits, qiskit_circuits
circuits()
try:
    qiskit_circuits()
except ImportError as error:
    print(error)
"""
    out = _python(code)
    assert out.returncode == 0, out.stderr
    assert 'qiskit_circuits needs qiskit: pip install "ferroq[qiskit]"' in out.stdout


# ---------------------------------------------------------------------------
# The chi-square tail probability and the tests, against scipy
# ---------------------------------------------------------------------------


def test_gammaincc_matches_scipy():
    for a in [0.5, 1.0, 1.5, 2.0, 3.5, 7.0, 10.0, 50.5, 100.0, 1000.0, 1e4, 2e5]:
        for x in sorted({a * r for r in [0, 1e-6, 0.01, 0.3, 0.9, 1.0, 1.1, 2.0, 5.0]} | {a + 1, 1e-3, 30.0}):
            expected = scipy_special.gammaincc(a, x)
            got = gammaincc(a, x)
            if expected < 1e-300:
                assert got < 1e-290
                continue
            rtol = 1e-12 if a <= 1000 else 1e-8
            assert got == pytest.approx(expected, rel=rtol, abs=0), (a, x)


def test_chi2_sf_matches_scipy_including_far_tails():
    for dof in [1, 2, 3, 5, 15, 63, 255, 4095]:
        for q in [0.5, 0.05, 1e-3, 1e-5, 1e-8, 1e-15, 1e-40]:
            stat = scipy_stats.chi2.isf(q, dof)
            assert chi2_sf(stat, dof) == pytest.approx(q, rel=1e-9)
    assert chi2_sf(0.0, 3) == 1.0 and chi2_sf(5.0, 0) == 1.0
    with pytest.raises(ValueError):
        gammaincc(0.0, 1.0)


def test_goodness_of_fit_matches_scipy_chisquare():
    counts = {"00": 2410, "01": 2630, "10": 2480, "11": 2480}
    probs = [0.25, 0.25, 0.25, 0.25]
    result = chi2_goodness_of_fit(counts, probs)
    expected = scipy_stats.chisquare([2410, 2630, 2480, 2480], [2500] * 4)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=1e-10)
    assert (result.dof, result.bins) == (3, 4)


def test_goodness_of_fit_pools_small_expected_counts():
    # 1000 shots: 0.9, 0.06, 0.02 and 0.01 (expected 900, 60, 20, 10) are bins of their
    # own, while 0.004, 0.003 and 0.003 (expected 4, 3, 3) are pooled into one bin of 10.
    probs = {"000": 0.9, "001": 0.06, "010": 0.02, "011": 0.01, "100": 0.004, "101": 0.003, "110": 0.003}
    counts = {"000": 890, "001": 75, "010": 17, "011": 9, "100": 7, "101": 2}
    result = chi2_goodness_of_fit(counts, probs)
    observed = [890, 75, 17, 9, 7 + 2 + 0]
    expected = [900, 60, 20, 10, 4 + 3 + 3]
    reference = scipy_stats.chisquare(observed, expected)
    assert (result.bins, result.dof) == (5, 4)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert result.pvalue == pytest.approx(reference.pvalue, rel=1e-10)


def test_pooled_bin_below_threshold_joins_the_smallest_other_bin():
    # Expected 45, 52, and 2 + 1 = 3 < 5: the pool joins the bin of 45.
    result = chi2_goodness_of_fit(
        {"00": 40, "01": 57, "10": 3}, {"00": 0.45, "01": 0.52, "10": 0.02, "11": 0.01}
    )
    reference = scipy_stats.chisquare([40 + 3, 57], [45 + 3, 52])
    assert (result.bins, result.dof) == (2, 1)
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-12)


def test_homogeneity_matches_scipy_contingency_with_different_shots():
    a = {"00": 480, "01": 260, "10": 140, "11": 120}
    b = {"00": 1530, "01": 700, "10": 450, "11": 320}
    result = chi2_homogeneity(a, b)
    table = np.array([[480, 260, 140, 120], [1530, 700, 450, 320]])
    stat, pvalue, dof, _ = scipy_stats.chi2_contingency(table, correction=False)
    assert result.statistic == pytest.approx(stat, rel=1e-12)
    assert result.pvalue == pytest.approx(pvalue, rel=1e-10)
    assert result.dof == dof == 3


def test_homogeneity_pools_rare_outcomes():
    # Outcomes seen 3 and 2 times in all: their smaller expected counts (1.5, 1) are
    # below 5, pooled into one column of 5 observations: expected 2.5 < 5 again, so
    # it joins the smallest other column.
    a = {"00": 500, "11": 480, "01": 2, "10": 1}
    b = {"00": 510, "11": 470, "01": 1, "10": 1}
    result = chi2_homogeneity(a, b)
    table = np.array([[500, 480 + 2 + 1], [510, 470 + 1 + 1]])
    stat, _, dof, _ = scipy_stats.chi2_contingency(table, correction=False)
    assert result.dof == dof == 1
    assert result.statistic == pytest.approx(stat, rel=1e-12)


# ---------------------------------------------------------------------------
# assert_counts_consistent
# ---------------------------------------------------------------------------


def test_counts_consistent_passes_on_ferroq_samples():
    ghz = ferroq.Circuit(3).h(0).cx(0, 1).cx(1, 2).ry(0.7, 2)
    probabilities = np.abs(ferroq.statevector(ghz)) ** 2
    [counts] = run_many([ghz.copy().measure_all()], shots=20_000, seed=11)
    assert_counts_consistent(counts, probabilities)
    # the same with the probabilities as a dict of bitstrings, hex strings, integers
    assert_counts_consistent(counts, {format(i, "03b"): p for i, p in enumerate(probabilities) if p > 0})
    assert_counts_consistent(counts, {hex(i): p for i, p in enumerate(probabilities)})
    assert_counts_consistent({int(k, 2): v for k, v in counts.items()}, probabilities)


def test_counts_formats():
    probs = [0.5, 0, 0, 0.5]
    assert_counts_consistent({"0x0": 510, "0x3": 490}, probs)  # hex keys
    assert_counts_consistent({"0 0": 510, "1 1": 490}, probs)  # registers separated by spaces
    assert_counts_consistent(np.array([510, 0, 0, 490]), probs)  # an array indexed by outcome
    assert_counts_consistent({"00": 3}, probs)  # 3 shots: one bin, nothing to test


def test_counts_inconsistent_fail_with_a_readable_message():
    counts = {"000": 4700, "011": 2900, "101": 2400}
    probs = {"000": 0.5, "011": 0.25, "101": 0.25}
    with pytest.raises(AssertionError) as info:
        assert_counts_consistent(counts, probs, err_msg="circuit 7")
    message = str(info.value)
    assert message.startswith("circuit 7\ncounts are not consistent with the probabilities: chi-square = ")
    assert "on 2 degrees of freedom, p-value = " in message and "< alpha = 1e-05" in message
    assert "10000 shots" in message
    lines = message.splitlines()
    table = lines[lines.index("outcomes that deviate most:") + 1 :]
    assert table[0].split()[:3] == ["outcome", "observed", "expected"]
    # the outcome that deviates most comes first, with its counts and residual
    assert table[1].split() == ["'011'", "2900", "2500.0", "+8.00"]


def test_observed_outcome_of_probability_zero_fails_whatever_alpha():
    with pytest.raises(
        AssertionError, match=r"2 outcome\(s\) of probability 0.*'11' \(3 times\), '10' \(1 times\)"
    ):
        assert_counts_consistent(
            {"00": 500, "11": 3, "10": 1, "01": 496}, {"00": 0.5, "01": 0.5}, alpha=1e-300
        )
    with pytest.raises(AssertionError, match="probability 0"):
        assert_counts_consistent({"1": 1, "0": 999}, [1.0, 1e-15])


@pytest.mark.parametrize(
    ("counts", "probs", "message"),
    [
        ({"00": 5}, [0.5, 0.4], "sum to 0.9"),
        ({"00": 5}, [1.2, -0.2], "non-negative"),
        ({"00": 5}, np.array([1, 0j]), "complex"),
        ({"00": 5.5}, [1.0, 0.0], "non-negative integers"),
        ({"00": -1}, [1.0, 0.0], "non-negative integers"),
        ({"0a": 5}, [1.0, 0.0], "not a bitstring"),
        ({"01": 5, "1": 2}, [0.5, 0.5], "appears twice"),
        ({"0": 5}, np.ones((2, 2)) / 4, "1-D"),
    ],
)
def test_bad_counts_or_probabilities_raise_value_error(counts, probs, message):
    with pytest.raises(ValueError, match=message):
        assert_counts_consistent(counts, probs)


def test_alpha_must_be_a_probability():
    with pytest.raises(ValueError, match="alpha"):
        assert_counts_consistent({"0": 1}, [1.0], alpha=0)
    with pytest.raises(ValueError, match="alpha"):
        assert_distribution_close({"0": 1}, {"0": 1}, alpha=1.5)


# ---------------------------------------------------------------------------
# False alarms and power
# ---------------------------------------------------------------------------


def test_counts_false_alarm_rate_on_ferroq_samples():
    """1000 independent ferroq samples (one batch: circuit i samples with its own
    seed) of a 3-qubit state with 8 uneven outcomes: the share of failures at
    alpha = 0.05 and 0.01 is within a 99.9% binomial band of alpha."""
    c = ferroq.Circuit(3).ry(0.9, 0).ry(1.7, 1).cx(1, 2).ry(0.4, 2).h(0)
    probabilities = np.abs(ferroq.statevector(c)) ** 2
    samples = run_many([c.copy().measure_all()] * 1000, shots=500, seed=2024)
    for alpha in (0.05, 0.01):
        failures = 0
        for counts in samples:
            try:
                assert_counts_consistent(counts, probabilities, alpha=alpha)
            except AssertionError:
                failures += 1
        lo, hi = binomial_band(len(samples), alpha)
        assert lo <= failures <= hi, (alpha, failures, (lo, hi))


def critical_value(alpha: float, dof: int) -> float:
    """The statistic above which chi2_sf is below alpha (by bisection on chi2_sf)."""
    lo, hi = 0.0, 1000.0 + 100.0 * dof
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if chi2_sf(mid, dof) >= alpha else (lo, mid)
    return hi


@pytest.mark.parametrize(
    ("probabilities", "shots"),
    [(np.array([0.5, 0.5]), 10_000), (np.full(8, 1 / 8), 1000)],
    ids=["bell-10000-shots", "uniform-8-outcomes-1000-shots"],
)
def test_counts_false_alarm_rate_at_the_default_alpha(probabilities, shots):
    """At alpha = 1e-5 a rate needs many repetitions: 10^6 multinomial samples, whose
    statistics are computed by the vectorised form of the assertion's own code
    (checked equal to the assertion on the first thousand). Expected: 10 failures."""
    rng = np.random.default_rng(7)
    observed = rng.multinomial(shots, probabilities, size=1_000_000).astype(float)
    stats, dof = goodness_of_fit_statistics(observed, probabilities, 5.0)
    threshold = critical_value(DEFAULT_ALPHA, dof)
    for row, stat in zip(observed[:1000], stats[:1000], strict=True):
        result = chi2_goodness_of_fit(row.astype(int), probabilities)
        assert result.statistic == pytest.approx(stat, rel=1e-12, abs=1e-12)
        assert (result.pvalue < DEFAULT_ALPHA) == (stat > threshold)
    failures = int(np.sum(stats > threshold))
    assert 2 <= failures <= 25, failures  # Poisson(10): outside with probability < 1e-3


def test_counts_detect_a_five_point_shift_at_10000_shots():
    """P(1) = 0.55 sampled, 0.5 claimed; and 4 outcomes with 0.05 moved from one to
    another: every one of 200 seeded repetitions fails at the default alpha."""
    shifted = ferroq.Circuit(1).ry(ry_for(0.55), 0).measure_all()
    moved = ferroq.Circuit(2).ry(ry_for(0.45), 0).ry(ry_for(0.5), 1).measure_all()  # 0.275/0.225/...
    for circuit, claimed in [(shifted, [0.5, 0.5]), (moved, [0.25, 0.25, 0.25, 0.25])]:
        detected = 0
        for counts in run_many([circuit] * 200, shots=10_000, seed=99):
            try:
                assert_counts_consistent(counts, claimed)
            except AssertionError:
                detected += 1
        assert detected == 200


def test_distribution_close_false_alarm_rate_with_different_shots():
    c = ferroq.Circuit(2).ry(1.1, 0).cx(0, 1).ry(0.5, 1).measure_all()
    a = run_many([c] * 1000, shots=800, seed=5)
    b = run_many([c] * 1000, shots=2500, seed=6)
    for alpha in (0.05, 0.01):
        failures = 0
        for counts_a, counts_b in zip(a, b, strict=True):
            try:
                assert_distribution_close(counts_a, counts_b, alpha=alpha)
            except AssertionError:
                failures += 1
        lo, hi = binomial_band(1000, alpha)
        assert lo <= failures <= hi, (alpha, failures, (lo, hi))


def test_distribution_close_false_alarm_rate_at_the_default_alpha():
    """10^6 pairs of samples of P(1) = 0.3 with 4000 and 10000 shots; no pooling occurs,
    so the statistic is the plain 2 x 2 formula, checked equal to the assertion's on the
    first thousand. Expected: 10 failures at alpha = 1e-5."""
    rng = np.random.default_rng(8)
    na, nb, reps = 4000, 10_000, 1_000_000
    ones_a = rng.binomial(na, 0.3, size=reps).astype(float)
    ones_b = rng.binomial(nb, 0.3, size=reps).astype(float)
    table = np.stack([np.stack([na - ones_a, ones_a], 1), np.stack([nb - ones_b, ones_b], 1)], 1)
    column = table.sum(axis=1, keepdims=True)
    expected = column * np.array([na, nb])[None, :, None] / (na + nb)
    stats = ((table - expected) ** 2 / expected).sum(axis=(1, 2))
    threshold = critical_value(DEFAULT_ALPHA, 1)
    for i in range(1000):
        result = chi2_homogeneity(
            {"0": na - ones_a[i], "1": ones_a[i]}, {"0": nb - ones_b[i], "1": ones_b[i]}
        )
        assert result.statistic == pytest.approx(stats[i], rel=1e-9, abs=1e-12)
    failures = int(np.sum(stats > threshold))
    assert 2 <= failures <= 25, failures


def test_distribution_close_detects_a_five_point_shift_at_10000_shots():
    """0.50 against 0.55 with 10,000 shots each: the expected power at alpha = 1e-5 is
    99.6%; 200 seeded repetitions must all but a few fail."""
    a = run_many([ferroq.Circuit(1).h(0).measure_all()] * 200, shots=10_000, seed=1)
    b = run_many([ferroq.Circuit(1).ry(ry_for(0.55), 0).measure_all()] * 200, shots=10_000, seed=2)
    detected = 0
    for counts_a, counts_b in zip(a, b, strict=True):
        try:
            assert_distribution_close(counts_a, counts_b)
        except AssertionError:
            detected += 1
    assert detected >= 196


# ---------------------------------------------------------------------------
# assert_distribution_close
# ---------------------------------------------------------------------------


def test_distribution_close_passes_on_equal_samples_and_ferroq_vs_reference():
    counts = {"00": 500, "11": 500}
    assert_distribution_close(counts, counts)
    c = ferroq.Circuit(2).h(0).cx(0, 1).rx(0.3, 1)
    unfused = run_many([c.copy().measure_all()], shots=20_000, seed=3, fusion=False)[0]
    fused = run_many([c.copy().measure_all()], shots=5_000, seed=4)[0]
    assert_distribution_close(fused, unfused)
    assert_distribution_close({"0x0": 40, "0x3": 60}, {"00": 45, "11": 55})


def test_distribution_close_fails_with_a_readable_message():
    a = {"00": 5000, "11": 5000}
    b = {"00": 4000, "11": 5900, "01": 100}
    with pytest.raises(AssertionError) as info:
        assert_distribution_close(a, b)
    message = str(info.value)
    assert message.startswith("samples do not come from the same distribution: chi-square = ")
    assert "p-value = " in message and "alpha = 1e-05" in message
    assert "(10000 and 10000 shots; 3 outcomes in 3 bins" in message
    rows = message.splitlines()[-4:]
    assert rows[0].split() == ["outcome", "count", "a", "count", "b", "freq", "a", "freq", "b", "chi-square"]
    assert rows[1].split() == ["'00'", "5000", "4000", "0.5000", "0.4000", "111.11"]  # largest first
    assert rows[2].split() == ["'01'", "0", "100", "0.0000", "0.0100", "100.00"]
    with pytest.raises(ValueError, match="at least one shot"):
        assert_distribution_close({}, a)


# ---------------------------------------------------------------------------
# assert_statevectors_close
# ---------------------------------------------------------------------------


def test_statevectors_close_passes_on_equal_states_and_global_phases():
    state = ferroq.statevector(ferroq.Circuit(3).h(0).cx(0, 1).ry(0.4, 2))
    assert_statevectors_close(state, state.copy())
    assert_statevectors_close(np.exp(0.3j) * state, state)
    assert_statevectors_close(state + 1e-10, state)
    assert_statevectors_close(list(state), tuple(state), up_to_global_phase=False)
    single = ferroq.statevector(ferroq.Circuit(3).h(0).cx(0, 1).ry(0.4, 2), precision="single")
    assert_statevectors_close(single, state, atol=1e-6)


def test_statevectors_close_fails_with_max_deviation_and_fidelity():
    a = np.array([1, 0, 0, 1]) / math.sqrt(2)
    b = np.array([1, 0, 0, -1]) / math.sqrt(2)
    with pytest.raises(AssertionError) as info:
        assert_statevectors_close(a, b, err_msg="bell")
    lines = str(info.value).splitlines()
    assert lines[0] == "bell"
    assert lines[1].startswith("statevectors differ: max |actual - desired| = 1.41 at |")
    assert lines[2] == "1 of 4 amplitudes outside atol=1e-08, rtol=0 (up to global phase)"
    assert lines[3] == "fidelity |<desired|actual>|^2 = 0"


def test_statevectors_close_global_phase_included():
    state = np.array([0.6, 0.8j])
    with pytest.raises(AssertionError, match=r"equal up to a global phase of 1.5708 rad"):
        assert_statevectors_close(1j * state, state, up_to_global_phase=False)


def test_statevectors_close_tolerances():
    a = np.array([1.0, 0.0])
    nudged = a + np.array([1e-5, 0])
    assert_statevectors_close(nudged, a, atol=2e-5)
    with pytest.raises(AssertionError, match="1 of 2 amplitudes outside atol=1e-06, rtol=0"):
        assert_statevectors_close(nudged, a, atol=1e-6, up_to_global_phase=False)
    assert_statevectors_close(a * (1 + 1e-5), a, atol=0, rtol=2e-5, up_to_global_phase=False)


def test_statevectors_close_checks_shapes():
    with pytest.raises(AssertionError, match=r"actual has 4 amplitudes \(2 qubits\), desired has 8"):
        assert_statevectors_close(np.ones(4) / 2, np.ones(8) / math.sqrt(8))
    with pytest.raises(ValueError, match="not a power of two"):
        assert_statevectors_close(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="1-D"):
        assert_statevectors_close(np.eye(2), np.eye(2))


@requires_qiskit
def test_statevectors_close_accepts_qiskit_statevectors():
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    assert_statevectors_close(Statevector(qc), ferroq.statevector(ferroq.Circuit(2).h(0).cx(0, 1)))


# ---------------------------------------------------------------------------
# assert_circuits_equivalent and circuit_unitary
# ---------------------------------------------------------------------------


def test_circuit_unitary_matches_the_reference():
    c = ferroq.Circuit(3).h(0).cx(0, 2).rzz(0.3, 1, 2).u(0.1, 0.2, 0.3, 1).ccx(2, 1, 0)
    c.global_phase = 0.7
    ops = [
        ("h", (0,), ()),
        ("cx", (0, 2), ()),
        ("rzz", (1, 2), (0.3,)),
        ("u", (1,), (0.1, 0.2, 0.3)),
        ("ccx", (2, 1, 0), ()),
    ]
    expected = np.stack([ref.simulate(ops, 3, initial=np.eye(8)[j], global_phase=0.7) for j in range(8)], 1)
    np.testing.assert_allclose(circuit_unitary(c), expected, atol=1e-12)
    with pytest.raises(ValueError, match="4\\^13 entries"):
        circuit_unitary(ferroq.Circuit(13))


def test_circuits_equivalent_passes_on_equal_unitaries():
    swap = ferroq.Circuit(3).swap(0, 2)
    assert_circuits_equivalent(swap, ferroq.Circuit(3).cx(0, 2).cx(2, 0).cx(0, 2))
    p = ferroq.Circuit(1).rz(0.5, 0)
    p.global_phase = 0.25
    assert_circuits_equivalent(p, ferroq.Circuit(1).p(0.5, 0), up_to_global_phase=False)
    # clbits and barriers do not matter
    assert_circuits_equivalent(ferroq.Circuit(2, 3).h(0).barrier(), ferroq.Circuit(2).h(0))


def test_circuits_equivalent_fails_with_the_input_that_differs():
    with pytest.raises(AssertionError) as info:
        assert_circuits_equivalent(ferroq.Circuit(2).cz(0, 1), ferroq.Circuit(2))
    lines = str(info.value).splitlines()
    assert lines[0] == (
        "circuits are not equivalent (exact check on all 4 basis states, up to global phase): "
        "1 of 4 inputs give different outputs"
    )
    assert lines[1].startswith("largest difference on input |11>: output amplitude |11> is -1")
    assert "process fidelity" in lines[2]


def test_circuits_equivalent_global_phase_included():
    with pytest.raises(AssertionError, match=r"equal up to a global phase of -0\.25 rad"):
        assert_circuits_equivalent(
            ferroq.Circuit(1).rz(0.5, 0), ferroq.Circuit(1).p(0.5, 0), up_to_global_phase=False
        )


def test_circuits_equivalent_batches_all_basis_states_in_one_run(monkeypatch):
    calls = []
    original = ferroq.Simulator.run

    def counting_run(self, circuits, **kwargs):
        calls.append(len(list(circuits)) if isinstance(circuits, list) else 1)
        return original(self, circuits, **kwargs)

    monkeypatch.setattr(ferroq.Simulator, "run", counting_run)
    c = ferroq.Circuit(6).h(0).cx(0, 5)
    assert_circuits_equivalent(c, c.copy())
    assert calls == [2 * 64]


def multi_controlled_z(n: int) -> ferroq.Circuit:
    return ferroq.Circuit(n).h(n - 1).mcx(list(range(n - 1)), n - 1).h(n - 1)


def test_wide_circuits_are_checked_on_random_states():
    n = 12  # above exact_max_qubits=10
    ladder = ferroq.Circuit(n).h(0)
    for q in range(n - 1):
        ladder.cx(q, q + 1)
    same = ferroq.Circuit(n).h(0)
    for q in range(n - 1):
        same.h(q + 1).cz(q, q + 1).h(q + 1)
    assert_circuits_equivalent(ladder, same, seed=1)
    # A difference on one basis state out of 4096 (a phase flip of |1...1>) is found.
    with pytest.raises(AssertionError) as info:
        assert_circuits_equivalent(ladder, ladder.copy().compose(multi_controlled_z(n)), seed=1)
    assert "probabilistic check on 3 random input states, seed=1" in str(info.value)
    assert "average fidelity" in str(info.value)


def test_random_state_check_reports_its_seed():
    with pytest.raises(AssertionError, match=r"random input states, seed=\d+"):
        assert_circuits_equivalent(ferroq.Circuit(3).x(0), ferroq.Circuit(3), exact_max_qubits=2)


def test_circuits_equivalent_refuses_measurements_and_resets():
    with pytest.raises(ValueError, match=r"circuit2 is not unitary: instruction 1 is 'measure' on qubit 0"):
        assert_circuits_equivalent(ferroq.Circuit(1, 1), ferroq.Circuit(1, 1).h(0).measure(0, 0))
    with pytest.raises(ValueError, match="'reset'"):
        assert_circuits_equivalent(ferroq.Circuit(1).reset(0), ferroq.Circuit(1))
    with pytest.raises(AssertionError, match="different numbers of qubits: 1 and 2"):
        assert_circuits_equivalent(ferroq.Circuit(1), ferroq.Circuit(2))
    with pytest.raises(TypeError, match=r"not a ferroq\.Circuit or a qiskit QuantumCircuit"):
        assert_circuits_equivalent("h 0", ferroq.Circuit(1))


@requires_qiskit
def test_circuits_equivalent_accepts_qiskit_circuits():
    from qiskit import QuantumCircuit
    from qiskit.circuit.library import QFTGate

    qc = QuantumCircuit(3)
    qc.append(QFTGate(3), range(3))
    k = np.arange(8)
    dft = np.exp(2j * np.pi * np.outer(k, k) / 8) / math.sqrt(8)
    assert_circuits_equivalent(qc, ferroq.Circuit(3).unitary(dft, range(3)), up_to_global_phase=False)


# ---------------------------------------------------------------------------
# run_many
# ---------------------------------------------------------------------------


def test_run_many_returns_counts_or_states_per_circuit():
    circuits = [ferroq.Circuit(n).h(0).measure_all() for n in (1, 2, 3)]
    counts = run_many(circuits, shots=100, seed=1)
    assert [sorted(c) for c in counts] == [["0", "1"], ["00", "01"], ["000", "001"]]
    assert all(sum(c.values()) == 100 for c in counts)
    assert run_many(circuits, shots=100, seed=1) == counts  # seeded: reproducible
    states = run_many([ferroq.Circuit(2).x(1), ferroq.Circuit(1)], statevector=True)
    assert [s.tolist() for s in states] == [[0, 0, 1, 0], [1, 0]]
    assert run_many([]) == []
    assert run_many([ferroq.Circuit(1).x(0)], statevector=True, precision="single")[0].dtype == np.complex64
    assert sum(run_many([circuits[0]])[0].values()) == 1024  # the simulator's default shots
    sim = ferroq.Simulator(shots=7)
    assert sum(run_many([circuits[0]], simulator=sim)[0].values()) == 7


def test_run_many_is_one_batch(monkeypatch):
    calls = []
    original = ferroq.Simulator.run

    def counting_run(self, circuits, **kwargs):
        calls.append(len(circuits))
        return original(self, circuits, **kwargs)

    monkeypatch.setattr(ferroq.Simulator, "run", counting_run)
    run_many([ferroq.Circuit(1).h(0).measure_all()] * 300, shots=10)
    assert calls == [300]


@requires_qiskit
def test_run_many_accepts_qiskit_circuits():
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2)
    qc.x(1)
    qc.measure([0, 1], [0, 1])
    assert run_many([qc, ferroq.Circuit(1).measure_all()], shots=5) == [{"10": 5}, {"0": 5}]
