"""Tools for testing quantum programs with ferroq: assertions, batch runs, and
hypothesis strategies.

* Assertions (numpy only): :func:`assert_statevectors_close`,
  :func:`assert_circuits_equivalent`, :func:`assert_counts_consistent` (chi-square
  goodness of fit) and :func:`assert_distribution_close` (chi-square two-sample
  test), with the underlying tests :func:`chi2_goodness_of_fit` and
  :func:`chi2_homogeneity`, and :func:`circuit_unitary`.
* :func:`run_many`: a whole list of circuits in one batch call into the engine.
* :mod:`ferroq.testing.strategies`: hypothesis strategies for circuits, states,
  unitaries, Pauli strings and observables (``pip install "ferroq[testing]"``).

``import ferroq`` does not import this package, and this package does not import
hypothesis: only :mod:`ferroq.testing.strategies` needs it. See
``docs/testing.md`` for a guide.

>>> import ferroq
>>> from ferroq.testing import assert_counts_consistent, run_many
>>> bell = ferroq.Circuit(2).h(0).cx(0, 1)
>>> [counts] = run_many([bell.copy().measure_all()], shots=10_000, seed=5)
>>> assert_counts_consistent(counts, abs(ferroq.statevector(bell)) ** 2)
"""

from __future__ import annotations

from ferroq.testing._assertions import (
    DEFAULT_ALPHA,
    assert_circuits_equivalent,
    assert_counts_consistent,
    assert_distribution_close,
    assert_statevectors_close,
    chi2_goodness_of_fit,
    chi2_homogeneity,
    circuit_unitary,
)
from ferroq.testing._run import run_many
from ferroq.testing._stats import ChiSquareResult

__all__ = [
    "DEFAULT_ALPHA",
    "ChiSquareResult",
    "assert_circuits_equivalent",
    "assert_counts_consistent",
    "assert_distribution_close",
    "assert_statevectors_close",
    "chi2_goodness_of_fit",
    "chi2_homogeneity",
    "circuit_unitary",
    "run_many",
]
