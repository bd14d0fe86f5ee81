"""Chi-square tests with numpy only: the chi-square tail probability, the pooling of
sparse outcomes, and the goodness-of-fit and homogeneity statistics.

Everything here is deterministic arithmetic; the assertions in
:mod:`ferroq.testing._assertions` turn the results into readable failures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

__all__ = [
    "ChiSquareResult",
    "Outcomes",
    "chi2_sf",
    "gammaincc",
    "goodness_of_fit_table",
    "homogeneity_table",
    "parse_counts",
    "parse_probabilities",
    "pool",
]

_EPS = 1e-15
_TINY = 1e-300

#: Probabilities at or below this are "numerically zero": an outcome with such a
#: probability that shows up in the counts fails the test by itself.
ZERO_PROBABILITY = 1e-12


def gammaincc(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function ``Q(a, x) = Γ(a, x) / Γ(a)``.

    Uses the power series of ``P = 1 - Q`` for ``x < a + 1`` and the continued
    fraction of ``Q`` (modified Lentz) otherwise, so that neither branch subtracts
    nearly equal numbers where the result is small. The prefactor
    ``x^a e^-x / Γ(a)`` is computed in logarithms (no overflow for large ``a``).
    Relative accuracy is about 1e-13 for moderate ``a`` and degrades slowly (to
    about 1e-9) for ``a`` near 1e6.

    >>> round(gammaincc(1.0, 2.0), 12) == round(math.exp(-2.0), 12)
    True
    """
    if not a > 0 or math.isinf(a):
        raise ValueError(f"gammaincc: a must be positive and finite, got {a!r}")
    if math.isnan(x) or x < 0:
        raise ValueError(f"gammaincc: x must be non-negative, got {x!r}")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_prefactor = a * math.log(x) - x - math.lgamma(a)
    # Enough iterations for either expansion: both converge within a few multiples
    # of sqrt(a) + sqrt(x) terms.
    max_iter = 1000 + 50 * int(math.sqrt(a) + math.sqrt(x))
    if x < a + 1.0:
        # P(a, x) = e^{log_prefactor} * sum_{n>=0} x^n / (a (a+1) ... (a+n))
        term = total = 1.0 / a
        ap = a
        for _ in range(max_iter):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        else:  # pragma: no cover - the bound above is generous
            raise ArithmeticError(f"gammaincc({a}, {x}): the series did not converge")
        p = total * math.exp(log_prefactor)
        return min(1.0, max(0.0, 1.0 - p))
    # Q(a, x) = e^{log_prefactor} / (x + 1 - a - 1(1-a) / (x + 3 - a - 2(2-a) / ...))
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, max_iter):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    else:  # pragma: no cover
        raise ArithmeticError(f"gammaincc({a}, {x}): the continued fraction did not converge")
    return min(1.0, max(0.0, math.exp(log_prefactor) * h))


def chi2_sf(statistic: float, dof: int) -> float:
    """``P(X >= statistic)`` for ``X`` chi-square distributed with ``dof`` degrees of
    freedom (1 for ``dof == 0``: no test).

    >>> round(chi2_sf(3.841458820694124, 1), 6)
    0.05
    """
    if dof < 0:
        raise ValueError(f"dof must be non-negative, got {dof}")
    if dof == 0 or statistic <= 0:
        return 1.0
    return gammaincc(dof / 2.0, statistic / 2.0)


class ChiSquareResult(NamedTuple):
    """The outcome of a chi-square test: ``statistic`` (Pearson's X²), ``dof`` (degrees
    of freedom after pooling), ``pvalue`` (1.0 when ``dof == 0``: too few shots to
    test anything) and ``bins`` (the number of bins after pooling)."""

    statistic: float
    dof: int
    pvalue: float
    bins: int


# ---------------------------------------------------------------------------
# Parsing counts and probabilities into integer outcomes
# ---------------------------------------------------------------------------


class Outcomes(NamedTuple):
    """Sorted integer outcomes with their values, and the bitstring width to print them
    with (0 when unknown)."""

    keys: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    width: int


def _outcome(key: Any) -> tuple[int, int]:
    """An outcome key as ``(integer, width)``; ``width`` is 0 when the key does not say."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        if not 0 <= key < 2**63:
            raise ValueError(f"outcome {key!r} is out of range (0 <= outcome < 2**63)")
        return int(key), 0
    if isinstance(key, str):
        text = key.replace(" ", "")
        value: int | None = None
        width = 0
        if text[:2].lower() == "0x":
            try:
                value = int(text, 16)
            except ValueError:
                value = None
        elif text and set(text) <= {"0", "1"}:
            value, width = int(text, 2), len(text)
        if value is not None:
            if value >= 2**63:
                raise ValueError(f"outcome {key!r} has more than 63 bits, which is not supported")
            return value, width
    raise ValueError(
        f"outcome {key!r} is not a bitstring ('0110'), a hex string ('0x6') or a non-negative integer"
    )


def _from_mapping(data: Mapping[Any, Any], what: str) -> tuple[dict[int, float], int]:
    values: dict[int, float] = {}
    width = 0
    for key, value in data.items():
        outcome, w = _outcome(key)
        width = max(width, w)
        if outcome in values:
            raise ValueError(f"{what}: outcome {key!r} appears twice (as {outcome})")
        values[outcome] = value
    return values, width


def _as_array_1d(data: Any, what: str) -> npt.NDArray[Any]:
    array = np.asarray(data)
    if array.ndim != 1:
        raise ValueError(
            f"{what} must be a mapping or a 1-D array indexed by outcome, got shape {array.shape}"
        )
    return array


def _width_of_length(length: int) -> int:
    return max(1, (length - 1).bit_length()) if length > 1 else 1


def _counts_array(values: Any) -> npt.NDArray[np.float64]:
    """Counts as floats, checked to be non-negative integers."""
    try:
        array = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError(f"counts must be non-negative integers, got {values!r}") from None
    bad = ~(np.isfinite(array) & (array >= 0) & (array == np.floor(array)))
    if bad.any():
        raise ValueError(f"counts must be non-negative integers, got {array[bad][0]!r}")
    return array


def parse_counts(counts: Any) -> Outcomes:
    """Counts as sorted integer outcomes with integer counts (positive ones only).

    ``counts`` is a mapping from bitstrings (``'0110'``, spaces between registers
    allowed), hex strings (``'0x6'``) or integers to non-negative integer counts,
    or a 1-D integer array indexed by outcome.
    """
    if isinstance(counts, Mapping):
        raw, width = _from_mapping(counts, "counts")
        keys = np.fromiter(raw.keys(), dtype=np.int64, count=len(raw))
        values = _counts_array(list(raw.values()))
    else:
        array = _as_array_1d(counts, "counts")
        width = _width_of_length(len(array))
        keys = np.arange(len(array), dtype=np.int64)
        values = _counts_array(array)
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    keep = values > 0
    return Outcomes(keys[keep], values[keep], width)


def parse_probabilities(probabilities: Any) -> Outcomes:
    """Probabilities as sorted integer outcomes (non-zero ones only), normalised.

    A mapping as for :func:`parse_counts`, or a 1-D array indexed by outcome.
    Values must be finite and non-negative (down to -1e-12, rounding) and sum to
    1 within 1e-4; they are renormalised to sum exactly to 1.
    """
    if isinstance(probabilities, Mapping):
        raw, width = _from_mapping(probabilities, "probabilities")
        keys = np.fromiter(raw.keys(), dtype=np.int64, count=len(raw))
        values = np.asarray([float(v) for v in raw.values()], dtype=np.float64)
    else:
        array = _as_array_1d(probabilities, "probabilities")
        if np.iscomplexobj(array):
            raise ValueError("probabilities are complex: pass |amplitude|**2, not amplitudes")
        values = array.astype(np.float64)
        width = _width_of_length(len(values))
        keys = np.arange(len(values), dtype=np.int64)
    if values.size and not np.all(np.isfinite(values)):
        raise ValueError("probabilities must be finite")
    if values.size and values.min() < -1e-12:
        bad = int(np.argmin(values))
        raise ValueError(f"probabilities must be non-negative: outcome {int(keys[bad])} has {values[bad]!r}")
    values = np.clip(values, 0.0, None)
    total = float(values.sum())
    if abs(total - 1.0) > 1e-4:
        raise ValueError(f"probabilities sum to {total!r}, not 1: normalise them (or pass |amplitude|**2)")
    values = values / total
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    keep = values > 0
    return Outcomes(keys[keep], values[keep], width)


def format_outcome(outcome: int, width: int) -> str:
    """An outcome as a quoted bitstring of at least ``width`` bits."""
    return repr(format(outcome, f"0{max(width, 1)}b"))


# ---------------------------------------------------------------------------
# Pooling and statistics
# ---------------------------------------------------------------------------


def pool(expected: npt.NDArray[np.float64], min_expected: float) -> tuple[npt.NDArray[np.intp], int]:
    """Bins for the outcomes whose expected counts are ``expected``: each outcome with
    an expected count of at least ``min_expected`` is a bin of its own; all others are
    pooled into one bin, which is merged into the smallest other bin if its own
    expected count is still below ``min_expected``. Returns ``(bin_of, number_of_bins)``.

    >>> bin_of, bins = pool(np.array([50.0, 3.0, 4.0, 43.0]), 5.0)
    >>> bin_of.tolist(), bins
    ([0, 2, 2, 1], 3)
    >>> bin_of, bins = pool(np.array([50.0, 3.0, 1.0, 46.0]), 5.0)  # 3 + 1 < 5: joins 46
    >>> bin_of.tolist(), bins
    ([0, 1, 1, 1], 2)
    """
    k = len(expected)
    bin_of = np.empty(k, dtype=np.intp)
    big = expected >= min_expected
    num_big = int(big.sum())
    bin_of[big] = np.arange(num_big)
    if num_big == k:
        return bin_of, k
    small_total = float(expected[~big].sum())
    if small_total >= min_expected or num_big == 0:
        bin_of[~big] = num_big
        return bin_of, num_big + 1
    smallest_big = int(bin_of[big][np.argmin(expected[big])])
    bin_of[~big] = smallest_big
    return bin_of, num_big


def goodness_of_fit_table(
    observed: npt.NDArray[np.float64], probabilities: npt.NDArray[np.float64], min_expected: float
) -> tuple[ChiSquareResult, npt.NDArray[np.float64]]:
    """Pearson's chi-square goodness of fit of ``observed`` counts (over the same
    outcomes as ``probabilities``, all of which are positive) after pooling.
    Returns the result and the expected counts."""
    shots = float(observed.sum())
    expected = shots * probabilities
    bin_of, bins = pool(expected, min_expected)
    obs_bins = np.bincount(bin_of, weights=observed, minlength=bins)
    exp_bins = np.bincount(bin_of, weights=expected, minlength=bins)
    statistic = float(np.sum((obs_bins - exp_bins) ** 2 / exp_bins)) if bins > 1 else 0.0
    dof = bins - 1
    return ChiSquareResult(statistic, dof, chi2_sf(statistic, dof), bins), expected


def goodness_of_fit_statistics(
    observed: npt.NDArray[np.float64], probabilities: npt.NDArray[np.float64], min_expected: float
) -> tuple[npt.NDArray[np.float64], int]:
    """The pooled Pearson statistics of many samples at once: ``observed`` has one row
    per sample (all with the same number of shots). Returns ``(statistics, dof)``;
    this is the computation of :func:`goodness_of_fit_table`, vectorised."""
    shots = float(observed[0].sum())
    expected = shots * probabilities
    bin_of, bins = pool(expected, min_expected)
    onehot = np.zeros((len(probabilities), bins))
    onehot[np.arange(len(probabilities)), bin_of] = 1.0
    obs_bins = observed @ onehot
    exp_bins = expected @ onehot
    return np.sum((obs_bins - exp_bins) ** 2 / exp_bins, axis=1), bins - 1


def homogeneity_table(
    counts_a: npt.NDArray[np.float64], counts_b: npt.NDArray[np.float64], min_expected: float
) -> tuple[ChiSquareResult, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Pearson's chi-square test of homogeneity on the 2 x K table of two samples over
    the same K outcomes (each observed at least once in one of them). Columns whose
    smaller expected count is below ``min_expected`` are pooled as in :func:`pool`.
    Returns the result and the expected counts of each row."""
    total_a, total_b = float(counts_a.sum()), float(counts_b.sum())
    total = total_a + total_b
    column = counts_a + counts_b
    expected_a = column * (total_a / total)
    expected_b = column * (total_b / total)
    bin_of, bins = pool(np.minimum(expected_a, expected_b), min_expected)
    oa = np.bincount(bin_of, weights=counts_a, minlength=bins)
    ob = np.bincount(bin_of, weights=counts_b, minlength=bins)
    ea = np.bincount(bin_of, weights=expected_a, minlength=bins)
    eb = np.bincount(bin_of, weights=expected_b, minlength=bins)
    statistic = float(np.sum((oa - ea) ** 2 / ea) + np.sum((ob - eb) ** 2 / eb)) if bins > 1 else 0.0
    dof = bins - 1
    return ChiSquareResult(statistic, dof, chi2_sf(statistic, dof), bins), expected_a, expected_b


def union(*keys: Iterable[int]) -> npt.NDArray[np.int64]:
    """The sorted union of integer outcome arrays."""
    arrays = [np.asarray(list(k) if not isinstance(k, np.ndarray) else k, dtype=np.int64) for k in keys]
    return np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.int64)
