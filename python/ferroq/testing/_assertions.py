"""Assertions for tests of quantum programs: states, circuits and sampled counts.

Every assertion raises ``AssertionError`` with a message meant to be read in a
pytest report; wrong arguments (bad shapes, non-unitary circuits, unnormalised
probabilities) raise ``ValueError`` or ``TypeError`` instead.
"""

from __future__ import annotations

import cmath
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ferroq._circuit import Circuit
from ferroq.testing._run import as_circuit, run_many
from ferroq.testing._stats import (
    ZERO_PROBABILITY,
    ChiSquareResult,
    Outcomes,
    format_outcome,
    goodness_of_fit_table,
    homogeneity_table,
    parse_counts,
    parse_probabilities,
)

__all__ = [
    "DEFAULT_ALPHA",
    "assert_circuits_equivalent",
    "assert_counts_consistent",
    "assert_distribution_close",
    "assert_statevectors_close",
    "chi2_goodness_of_fit",
    "chi2_homogeneity",
    "circuit_unitary",
]

#: Default significance level of the statistical assertions: the probability that
#: one assertion fails although the counts do follow the distribution. It is small
#: because property tests make many assertions per run (see docs/testing.md).
DEFAULT_ALPHA = 1e-5

#: Bins with a smaller expected count are pooled, so that the chi-square
#: approximation of the statistic's distribution holds.
MIN_EXPECTED = 5.0

#: Outcomes listed in a failure message.
_ROWS = 5

ComplexArray = npt.NDArray[np.complex128]


def _prefix(msg: str) -> str:
    return f"{msg}\n" if msg else ""


# ---------------------------------------------------------------------------
# Statevectors
# ---------------------------------------------------------------------------


def _as_state(value: Any, what: str) -> ComplexArray:
    array = np.asarray(value)
    if array.ndim != 1:
        raise ValueError(f"{what} must be a 1-D statevector, got an array of shape {array.shape}")
    if array.size == 0 or array.size & (array.size - 1):
        raise ValueError(f"{what} has length {array.size}, which is not a power of two")
    return array.astype(np.complex128)


def _ket(index: int, num_qubits: int) -> str:
    return f"|{format(index, f'0{num_qubits}b')}>" if num_qubits else "|>"


def _fidelity(a: ComplexArray, b: ComplexArray) -> float:
    norms = float(np.vdot(a, a).real * np.vdot(b, b).real)
    return abs(complex(np.vdot(a, b))) ** 2 / norms if norms > 0 else 0.0


def _format_fidelity(fidelity: float) -> str:
    # A fidelity lies in [0, 1] and is known to about 1e-16 absolute, so its
    # digits are absolute: orthogonal states print 0, not rounding residue such
    # as 5e-34 (which numpy's summation order decides).
    return f"{round(fidelity, 12):.12g}"


def assert_statevectors_close(
    actual: Any,
    desired: Any,
    *,
    up_to_global_phase: bool = True,
    atol: float = 1e-8,
    rtol: float = 0.0,
    err_msg: str = "",
) -> None:
    """Asserts that two statevectors are equal within tolerances, amplitude by amplitude:
    ``|actual[i] - c * desired[i]| <= atol + rtol * |desired[i]|`` for every ``i``.

    With ``up_to_global_phase=True`` (the default: states that differ only by a
    global phase are the same physical state) ``c`` is the phase ``e^{i phi}`` that
    best aligns the two vectors (``phi = arg <desired|actual>``); with ``False``,
    ``c = 1`` and the global phase must match too. Both arguments are 1-D arrays
    (or anything ``numpy.asarray`` takes, such as qiskit's ``Statevector``) of the
    same length, a power of two; qubit 0 is the least significant bit of the index,
    as everywhere in ferroq. The states need not be normalised.

    The failure message gives the largest deviation, the amplitude where it occurs,
    the number of amplitudes outside the tolerance and the fidelity
    ``|<desired|actual>|^2 / (||actual||^2 ||desired||^2)``.

    >>> import numpy as np
    >>> from ferroq.testing import assert_statevectors_close
    >>> plus = np.array([1, 1]) / np.sqrt(2)
    >>> assert_statevectors_close(1j * plus, plus)  # a global phase: the same state
    >>> assert_statevectors_close(1j * plus, plus, up_to_global_phase=False)
    Traceback (most recent call last):
    ...
    AssertionError: statevectors differ: max |actual - desired| = 1 at |0> ...
    """
    a = _as_state(actual, "actual")
    b = _as_state(desired, "desired")
    if a.shape != b.shape:
        na, nb = a.size.bit_length() - 1, b.size.bit_length() - 1
        raise AssertionError(
            f"{_prefix(err_msg)}statevectors have different sizes: actual has {a.size} amplitudes "
            f"({na} qubits), desired has {b.size} ({nb} qubits)"
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise AssertionError(f"{_prefix(err_msg)}a statevector has NaN or infinite amplitudes")
    phase = 0.0
    if up_to_global_phase:
        overlap = complex(np.vdot(b, a))
        phase = cmath.phase(overlap) if overlap != 0 else 0.0
    aligned = b * cmath.exp(1j * phase)
    deviation = np.abs(a - aligned)
    bad = deviation > atol + rtol * np.abs(aligned)
    if not bad.any():
        return
    n = a.size.bit_length() - 1
    worst = int(np.argmax(deviation))
    fidelity = _fidelity(a, b)
    how = "up to global phase" if up_to_global_phase else "global phase included"
    lines = [
        f"statevectors differ: max |actual - desired| = {deviation[worst]:.3g} at {_ket(worst, n)} "
        f"(index {worst}): actual {complex(a[worst]):.6g}, desired {complex(aligned[worst]):.6g}",
        f"{int(bad.sum())} of {a.size} amplitudes outside atol={atol:g}, rtol={rtol:g} ({how})",
        f"fidelity |<desired|actual>|^2 = {_format_fidelity(fidelity)}",
    ]
    if up_to_global_phase:
        lines.append(f"desired was multiplied by the global phase e^(i {phase:.6g}) that best aligns the two")
    elif fidelity > 1 - 1e-12 and np.allclose(np.abs(a), np.abs(b), atol=atol + 1e-12, rtol=rtol):
        overlap = complex(np.vdot(b, a))
        lines.append(
            f"the states are equal up to a global phase of {cmath.phase(overlap):.6g} rad: "
            "pass up_to_global_phase=True if that is enough"
        )
    raise AssertionError(_prefix(err_msg) + "\n".join(lines))


# ---------------------------------------------------------------------------
# Circuits
# ---------------------------------------------------------------------------

_NON_UNITARY = {"measure", "reset"}


def _unitary_circuit(circuit: Any, what: str) -> Circuit:
    c = as_circuit(circuit, what)
    for position, inst in enumerate(c.instructions):
        if inst.name in _NON_UNITARY:
            raise ValueError(
                f"{what} is not unitary: instruction {position} is {inst.name!r} on qubit "
                f"{inst.qubits[0]}; compare circuits without measurements and resets "
                "(for qiskit circuits, see QuantumCircuit.remove_final_measurements)"
            )
    return c


def _basis_inputs(circuit: Circuit) -> list[Circuit]:
    """For each basis state ``|j>``: ``X`` gates preparing it, then ``circuit``."""
    n = circuit.num_qubits
    out = []
    for j in range(1 << n):
        c = Circuit(n, circuit.num_clbits)
        for q in range(n):
            if (j >> q) & 1:
                c.x(q)
        out.append(c.compose(circuit))
    return out


def _random_angles(num_qubits: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Angles for :func:`_state_preparation`: ``(layers, qubits, 3)``, the polar angle
    uniform on the Bloch sphere."""
    angles = rng.uniform(0.0, 2.0 * math.pi, size=(_PREP_LAYERS, num_qubits, 3))
    angles[..., 0] = np.arccos(1.0 - 2.0 * rng.random(size=(_PREP_LAYERS, num_qubits)))
    return angles


_PREP_LAYERS = 3


def _state_preparation(angles: npt.NDArray[np.float64], num_clbits: int) -> Circuit:
    """A random entangled state: layers of single-qubit ``u`` gates with the given
    angles, each followed by a brick of ``cx`` gates (even then odd pairs)."""
    num_qubits = angles.shape[1]
    c = Circuit(num_qubits, num_clbits)
    for layer in angles:
        for q, (theta, phi, lam) in enumerate(layer.tolist()):
            c.u(theta, phi, lam, q)
        for first in (0, 1):
            for q in range(first, num_qubits - 1, 2):
                c.cx(q, q + 1)
    return c


def circuit_unitary(circuit: Any, *, max_qubits: int = 12, **options: Any) -> ComplexArray:
    """The ``2^n x 2^n`` unitary of a circuit without measurements or resets (global
    phase included), column ``j`` being the final state from the basis state ``|j>``
    (qubit 0 is the least significant bit). All ``2^n`` columns are simulated in one
    batch. Circuits wider than ``max_qubits`` raise ``ValueError`` (the matrix has
    ``4^n`` entries). ``options`` are run options (``precision``, ``fusion``, ...).

    >>> import ferroq
    >>> from ferroq.testing import circuit_unitary
    >>> circuit_unitary(ferroq.Circuit(2).cx(0, 1)).real.astype(int).tolist()
    [[1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]]
    """
    c = _unitary_circuit(circuit, "circuit")
    if c.num_qubits > max_qubits:
        raise ValueError(
            f"the circuit has {c.num_qubits} qubits: its unitary would have 4^{c.num_qubits} entries "
            f"(raise max_qubits={max_qubits} to allow it)"
        )
    states = run_many(_basis_inputs(c), statevector=True, **options)
    return np.stack([np.asarray(s, dtype=np.complex128) for s in states], axis=1)


def assert_circuits_equivalent(
    circuit1: Any,
    circuit2: Any,
    *,
    up_to_global_phase: bool = True,
    atol: float = 1e-8,
    exact_max_qubits: int = 10,
    num_states: int = 3,
    seed: int | None = None,
    err_msg: str = "",
    **options: Any,
) -> None:
    """Asserts that two circuits implement the same unitary (up to a global phase by
    default), within ``atol`` on every amplitude.

    Up to ``exact_max_qubits`` qubits (10 by default) the check is **exact**: both
    circuits run on every basis state, all ``2 * 2^n`` runs in one batch, and the
    two unitaries are compared entry by entry (after aligning the global phase
    ``phi = arg tr(U2^dagger U1)``). Wider circuits are checked on ``num_states``
    random entangled input states (seeded by ``seed``; a random seed, printed on
    failure, when ``None``), with one global phase for all of them: a
    **probabilistic** check. Two circuits that differ pass it only if the random
    states happen to lie (within ``atol``) in the subspace where they agree, which
    has probability zero for a generic difference, but a difference confined to
    very few basis states (amplitudes of order ``2^{-n/2}``) can hide below a loose
    ``atol``.

    The circuits must have no measurements or resets (``ValueError``); barriers and
    clbits are allowed. They may be ``ferroq.Circuit`` or qiskit ``QuantumCircuit``
    objects. ``options`` are run options (``precision``, ``fusion``,
    ``max_parallel_threads``); with ``precision="single"`` loosen ``atol`` to about
    1e-5. Memory: the exact check holds two ``2^n x 2^n`` matrices (32 MiB at 10
    qubits), the probabilistic one ``2 * num_states`` statevectors.

    >>> import ferroq
    >>> from ferroq.testing import assert_circuits_equivalent
    >>> swap = ferroq.Circuit(2).swap(0, 1)
    >>> three_cx = ferroq.Circuit(2).cx(0, 1).cx(1, 0).cx(0, 1)
    >>> assert_circuits_equivalent(swap, three_cx)
    >>> assert_circuits_equivalent(ferroq.Circuit(1).rz(0.5, 0), ferroq.Circuit(1).p(0.5, 0))
    >>> assert_circuits_equivalent(swap, ferroq.Circuit(2).cx(0, 1).cx(1, 0))
    Traceback (most recent call last):
    ...
    AssertionError: circuits are not equivalent (exact check on all 4 basis states, up to global phase): ...
    """
    c1 = _unitary_circuit(circuit1, "circuit1")
    c2 = _unitary_circuit(circuit2, "circuit2")
    if c1.num_qubits != c2.num_qubits:
        raise AssertionError(
            f"{_prefix(err_msg)}circuits act on different numbers of qubits: "
            f"{c1.num_qubits} and {c2.num_qubits}"
        )
    n = c1.num_qubits
    if n <= exact_max_qubits:
        inputs = _basis_inputs(c1) + _basis_inputs(c2)
        states = run_many(inputs, statevector=True, **options)
        dim = 1 << n
        u1 = np.stack([np.asarray(s, dtype=np.complex128) for s in states[:dim]], axis=1)
        u2 = np.stack([np.asarray(s, dtype=np.complex128) for s in states[dim:]], axis=1)
        described = f"exact check on all {dim} basis states"
        labels = [_ket(j, n) for j in range(dim)]
    else:
        if num_states < 1:
            raise ValueError(f"num_states must be at least 1, got {num_states}")
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        rng = np.random.default_rng(seed)
        angles = [_random_angles(n, rng) for _ in range(num_states)]
        inputs = [_state_preparation(a, c1.num_clbits).compose(c1) for a in angles] + [
            _state_preparation(a, c2.num_clbits).compose(c2) for a in angles
        ]
        states = run_many(inputs, statevector=True, **options)
        u1 = np.stack([np.asarray(s, dtype=np.complex128) for s in states[:num_states]], axis=1)
        u2 = np.stack([np.asarray(s, dtype=np.complex128) for s in states[num_states:]], axis=1)
        described = f"probabilistic check on {num_states} random input states, seed={seed}"
        labels = [f"random state {k}" for k in range(num_states)]
    _compare_columns(u1, u2, up_to_global_phase, atol, described, labels, err_msg)


def _compare_columns(
    u1: ComplexArray,
    u2: ComplexArray,
    up_to_global_phase: bool,
    atol: float,
    described: str,
    labels: list[str],
    err_msg: str,
) -> None:
    overlap = complex(np.vdot(u2, u1))  # tr(U2^dagger U1) over the columns compared
    phase = cmath.phase(overlap) if up_to_global_phase and overlap != 0 else 0.0
    deviation = np.abs(u1 - cmath.exp(1j * phase) * u2)
    if deviation.max(initial=0.0) <= atol:
        return
    per_column = deviation.max(axis=0)
    bad = np.flatnonzero(per_column > atol)
    worst = int(np.argmax(per_column))
    row = int(np.argmax(deviation[:, worst]))
    n = u1.shape[0].bit_length() - 1
    columns = u1.shape[1]
    fidelity = abs(overlap) ** 2 / float(np.vdot(u1, u1).real * np.vdot(u2, u2).real)
    how = "up to global phase" if up_to_global_phase else "global phase included"
    lines = [
        f"circuits are not equivalent ({described}, {how}): "
        f"{len(bad)} of {columns} inputs give different outputs",
        f"largest difference on input {labels[worst]}: output amplitude {_ket(row, n)} is "
        f"{complex(u1[row, worst]):.6g} for circuit1 and "
        f"{complex(cmath.exp(1j * phase) * u2[row, worst]):.6g} for circuit2 "
        f"(|difference| = {deviation[row, worst]:.3g} > atol={atol:g})",
        f"{'process' if columns == u1.shape[0] else 'average'} fidelity "
        f"|tr(U2^dagger U1)|^2 / (tr(U1^dagger U1) tr(U2^dagger U2)) = {_format_fidelity(fidelity)}",
    ]
    if len(bad) > 1:
        shown = ", ".join(labels[j] for j in bad[:8]) + (", ..." if len(bad) > 8 else "")
        lines.append(f"inputs that differ: {shown}")
    if up_to_global_phase and phase != 0.0:
        lines.append(
            f"circuit2 was multiplied by the global phase e^(i {phase:.6g}) that best aligns the two"
        )
    if not up_to_global_phase and overlap != 0:
        best = cmath.phase(overlap)
        if np.abs(u1 - cmath.exp(1j * best) * u2).max() <= atol:
            lines.append(
                f"the circuits are equal up to a global phase of {best:.6g} rad: "
                "pass up_to_global_phase=True if that is enough"
            )
    raise AssertionError(_prefix(err_msg) + "\n".join(lines))


# ---------------------------------------------------------------------------
# Sampled counts
# ---------------------------------------------------------------------------


def _dof(dof: int) -> str:
    return f"{dof} degree{'' if dof == 1 else 's'} of freedom"


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _aligned(counts: Outcomes, probs: Outcomes) -> tuple[Any, Any, Any, Any]:
    """``(outcomes, observed, probabilities, impossible)`` over the support of ``probs``,
    and the observed outcomes outside it as ``impossible`` (outcome, count) pairs."""
    position = np.searchsorted(probs.keys, counts.keys)
    position = np.minimum(position, max(len(probs.keys) - 1, 0))
    inside = (
        (probs.keys[position] == counts.keys) if len(probs.keys) else np.zeros(len(counts.keys), dtype=bool)
    )
    p_of = np.where(inside, probs.values[position] if len(probs.keys) else 0.0, 0.0)
    impossible = ~inside | (p_of <= ZERO_PROBABILITY)
    observed = np.zeros(len(probs.keys))
    np.add.at(observed, position[~impossible], counts.values[~impossible])
    return (
        probs.keys,
        observed,
        probs.values,
        list(zip(counts.keys[impossible], counts.values[impossible], strict=True)),
    )


def chi2_goodness_of_fit(
    counts: Any, probabilities: Any, *, min_expected: float = MIN_EXPECTED
) -> ChiSquareResult:
    """Pearson's chi-square goodness-of-fit test of sampled ``counts`` against exact
    ``probabilities`` (see :func:`assert_counts_consistent` for the formats and the
    pooling). Returns ``ChiSquareResult(statistic, dof, pvalue, bins)``. Counts of
    outcomes with zero probability raise ``AssertionError``.

    >>> from ferroq.testing import chi2_goodness_of_fit
    >>> result = chi2_goodness_of_fit({"0": 520, "1": 480}, [0.5, 0.5])
    >>> result.statistic, result.dof, round(result.pvalue, 4)
    (1.6, 1, 0.2059)
    """
    c, p = parse_counts(counts), parse_probabilities(probabilities)
    width = max(c.width, p.width)
    _, observed, probs, impossible = _aligned(c, p)
    if impossible:
        raise AssertionError(_impossible_message(impossible, width, int(c.values.sum())))
    result, _ = goodness_of_fit_table(observed, probs, min_expected)
    return result


def _impossible_message(impossible: list[tuple[Any, Any]], width: int, shots: int) -> str:
    impossible = sorted(impossible, key=lambda kv: -kv[1])
    shown = ", ".join(f"{format_outcome(int(k), width)} ({int(v)} times)" for k, v in impossible[:_ROWS])
    more = f" and {len(impossible) - _ROWS} more" if len(impossible) > _ROWS else ""
    return (
        f"counts include {len(impossible)} outcome(s) of probability 0 (below {ZERO_PROBABILITY:g}): "
        f"{shown}{more} in {shots} shots"
    )


def assert_counts_consistent(
    counts: Any,
    probabilities: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_expected: float = MIN_EXPECTED,
    err_msg: str = "",
) -> None:
    """Asserts that sampled ``counts`` are consistent with exact ``probabilities``:
    Pearson's chi-square goodness-of-fit test must not reject at level ``alpha``.

    ``counts`` maps outcomes to non-negative integer counts; an outcome is a
    bitstring as ferroq and Qiskit print them (``'0110'``, clbit 0 rightmost; spaces
    between registers are ignored), a hex string (``'0x6'``) or an integer. It may
    also be a 1-D integer array indexed by outcome. ``probabilities`` is a mapping
    in the same formats or a 1-D array indexed by the integer outcome (such as
    ``abs(statevector)**2``); it must sum to 1 (within 1e-4).

    The test: outcomes whose expected count (``shots * p``) is below
    ``min_expected`` (5) are pooled into one bin (merged into the smallest other bin
    if still below 5), so that the chi-square approximation holds;
    ``X^2 = sum (observed - expected)^2 / expected`` over the bins is compared with
    the chi-square distribution with ``bins - 1`` degrees of freedom. The
    assertion fails if the p-value is below ``alpha``, which is then the
    probability of a false alarm for counts that do follow ``probabilities``. An
    outcome observed although its probability is 0 (at most 1e-12) fails
    immediately, whatever ``alpha``, and is named in the message. With fewer than
    10 shots or so there is only one bin and nothing to test: the assertion passes.

    The default ``alpha`` (1e-5) is small because a property test may make
    hundreds of such assertions per run; it still detects a shift of 5 points of
    probability (0.50 -> 0.55) at 10,000 shots essentially always.

    >>> from ferroq.testing import assert_counts_consistent
    >>> assert_counts_consistent({"00": 4982, "11": 5018}, {"00": 0.5, "11": 0.5})
    >>> assert_counts_consistent({"00": 5500, "11": 4500}, [0.5, 0, 0, 0.5])
    Traceback (most recent call last):
    ...
    AssertionError: counts are not consistent with the probabilities: chi-square = 100 ...
    """
    _check_alpha(alpha)
    c, p = parse_counts(counts), parse_probabilities(probabilities)
    width = max(c.width, p.width)
    shots = int(c.values.sum())
    outcomes, observed, probs, impossible = _aligned(c, p)
    if impossible:
        raise AssertionError(_prefix(err_msg) + _impossible_message(impossible, width, shots))
    if shots == 0:
        return
    result, expected = goodness_of_fit_table(observed, probs, min_expected)
    if result.pvalue >= alpha:
        return
    residual = (observed - expected) / np.sqrt(expected)
    order = np.argsort(-np.abs(residual), kind="stable")[:_ROWS]
    label = max(7, width + 2)
    rows = [f"  {'outcome':<{label}} {'observed':>10} {'expected':>12} {'(obs-exp)/sqrt(exp)':>21}"]
    for i in order:
        rows.append(
            f"  {format_outcome(int(outcomes[i]), width):<{label}} {int(observed[i]):>10d} "
            f"{expected[i]:>12.1f} {residual[i]:>+21.2f}"
        )
    head = (
        f"counts are not consistent with the probabilities: chi-square = {result.statistic:.6g} "
        f"on {_dof(result.dof)}, p-value = {result.pvalue:.3g} < alpha = {alpha:g}\n"
        f"({shots} shots; {len(outcomes)} outcomes of non-zero probability in {result.bins} bins "
        f"after pooling expected counts below {min_expected:g})\n"
        "outcomes that deviate most:\n"
    )
    raise AssertionError(_prefix(err_msg) + head + "\n".join(rows))


def chi2_homogeneity(counts_a: Any, counts_b: Any, *, min_expected: float = MIN_EXPECTED) -> ChiSquareResult:
    """Pearson's chi-square test of homogeneity of two samples (see
    :func:`assert_distribution_close`). Returns ``ChiSquareResult(statistic, dof,
    pvalue, bins)``.

    >>> from ferroq.testing import chi2_homogeneity
    >>> result = chi2_homogeneity({"0": 500, "1": 500}, {"0": 1000, "1": 1000})
    >>> result.statistic, result.dof, result.pvalue
    (0.0, 1, 1.0)
    """
    _, a, b, _ = _two_samples(counts_a, counts_b)
    result, _, _ = homogeneity_table(a, b, min_expected)
    return result


def _two_samples(counts_a: Any, counts_b: Any) -> tuple[Any, Any, Any, int]:
    ca, cb = parse_counts(counts_a), parse_counts(counts_b)
    if ca.values.sum() == 0 or cb.values.sum() == 0:
        raise ValueError("both samples need at least one shot")
    outcomes = np.union1d(ca.keys, cb.keys)
    a = np.zeros(len(outcomes))
    b = np.zeros(len(outcomes))
    a[np.searchsorted(outcomes, ca.keys)] = ca.values
    b[np.searchsorted(outcomes, cb.keys)] = cb.values
    return outcomes, a, b, max(ca.width, cb.width)


def assert_distribution_close(
    counts_a: Any,
    counts_b: Any,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_expected: float = MIN_EXPECTED,
    err_msg: str = "",
) -> None:
    """Asserts that two samples could come from the same distribution: Pearson's
    chi-square test of homogeneity on the 2 x K table of their counts must not
    reject at level ``alpha``.

    Use it when no exact distribution is at hand, for example to compare ferroq's
    counts with those of another simulator or of a transpiled circuit. The two
    samples may have different numbers of shots. Both arguments take the formats
    of ``counts`` in :func:`assert_counts_consistent`.

    The test: the expected count of outcome ``j`` in sample ``s`` is
    ``shots_s * (a_j + b_j) / (shots_a + shots_b)``; outcomes whose smaller
    expected count is below ``min_expected`` (5) are pooled (as in
    :func:`assert_counts_consistent`), and ``X^2`` over the 2 x bins table is
    compared with the chi-square distribution with ``bins - 1`` degrees of
    freedom. A false alarm (failure although both samples come from one
    distribution) has probability about ``alpha``.

    >>> from ferroq.testing import assert_distribution_close
    >>> assert_distribution_close({"0": 5020, "1": 4980}, {"0": 2470, "1": 2530})
    >>> assert_distribution_close({"0": 5000, "1": 5000}, {"0": 4500, "1": 5500})
    Traceback (most recent call last):
    ...
    AssertionError: samples do not come from the same distribution: chi-square = 50.1253 ...
    """
    _check_alpha(alpha)
    outcomes, a, b, width = _two_samples(counts_a, counts_b)
    result, ea, _ = homogeneity_table(a, b, min_expected)
    if result.pvalue >= alpha:
        return
    shots_a, shots_b = int(a.sum()), int(b.sum())
    eb = (a + b) - ea
    contribution = (a - ea) ** 2 / ea + (b - eb) ** 2 / eb  # of each outcome to the statistic
    order = np.argsort(-contribution, kind="stable")[:_ROWS]
    label = max(7, width + 2)
    columns = f"{'count a':>10} {'count b':>10} {'freq a':>9} {'freq b':>9} {'chi-square':>11}"
    rows = [f"  {'outcome':<{label}} {columns}"]
    for i in order:
        rows.append(
            f"  {format_outcome(int(outcomes[i]), width):<{label}} {int(a[i]):>10d} {int(b[i]):>10d} "
            f"{a[i] / shots_a:>9.4f} {b[i] / shots_b:>9.4f} {contribution[i]:>11.2f}"
        )
    head = (
        f"samples do not come from the same distribution: chi-square = {result.statistic:.6g} "
        f"on {_dof(result.dof)}, p-value = {result.pvalue:.3g} < alpha = {alpha:g}\n"
        f"({shots_a} and {shots_b} shots; {len(outcomes)} outcomes in {result.bins} bins "
        f"after pooling expected counts below {min_expected:g})\n"
        "outcomes that deviate most:\n"
    )
    raise AssertionError(_prefix(err_msg) + head + "\n".join(rows))
