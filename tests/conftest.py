"""Shared pytest configuration for the ferroq test suite.

Hypothesis profiles (select with the ``HYPOTHESIS_PROFILE`` environment variable):

* ``ci`` (default): deterministic (derandomized), moderate number of examples, so
  the whole suite runs in a few minutes on two cores;
* ``dev``: random exploration with more examples;
* ``thorough``: many examples, for occasional long runs.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

# States that fit in half the CPU's last-level cache run unblocked by default. The
# suite's 16-20 qubit circuits are there to exercise the cache-blocked stages, so
# blocking stays on for every state here (read once, at the first fused run);
# test_fusion.py checks the automatic choice in a subprocess.
os.environ.setdefault("FERROQ_CACHE_BYTES", "0")

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # make ``reference`` / ``helpers`` importable in any import mode
    sys.path.insert(0, _HERE)

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci", deadline=None, max_examples=200, derandomize=True, print_blob=True, suppress_health_check=_SUPPRESS
)
settings.register_profile(
    "dev", deadline=None, max_examples=300, print_blob=True, suppress_health_check=_SUPPRESS
)
settings.register_profile("thorough", deadline=None, max_examples=1500, suppress_health_check=_SUPPRESS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

HAVE_QISKIT = importlib.util.find_spec("qiskit") is not None

#: Skip marker for tests that compare against qiskit (skip, not fail, without it).
requires_qiskit = pytest.mark.skipif(not HAVE_QISKIT, reason="qiskit is not installed")


def _res(x):
    """``Simulator.run`` returns a Result today; a later change may return a job."""
    return x.result() if hasattr(x, "result") and callable(x.result) else x


@pytest.fixture
def qiskit():
    """The qiskit module, or skip the test when it is not installed."""
    return pytest.importorskip("qiskit")


@pytest.fixture
def sim():
    import ferroq

    return ferroq.Simulator()


@pytest.fixture
def run(sim):
    """``run(circuits, **options)`` -> Result (job or not)."""

    def _run(circuits, **options):
        return _res(sim.run(circuits, **options))

    return _run
