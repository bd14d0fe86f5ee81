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
import re
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


@pytest.fixture(scope="session")
def dask_client():
    """A local Dask cluster (two single-threaded worker processes) shared by the
    whole session; skips where ``distributed`` is not installed."""
    import logging

    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


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


# ---------------------------------------------------------------------------
# Under CI, a skip of shipped code fails the run
# ---------------------------------------------------------------------------

#: With ``CI=true`` (as CI sets it), every shipped code path must run: a test
#: skipped because an optional package or a build feature is missing means that
#: part of the product was never tested, and the session fails after reporting
#: it. Skips that are facts of the platform (no ``/proc``, another Qiskit minor
#: than the C-API reader's) still pass. ``FERROQ_ALLOW_SKIPS=1`` lifts the rule.
STRICT_SKIPS = os.environ.get("CI", "").lower() in ("1", "true", "yes") and os.environ.get(
    "FERROQ_ALLOW_SKIPS", ""
) not in ("1", "true", "yes")

#: Reasons that mean "never tested": pytest.importorskip's own message, the
#: suite's "X is not installed" markers, a missing peer, a test hook compiled out.
UNTESTED = re.compile(r"could not import|is not installed|no peer simulator|not compiled in")

_untested: list[str] = []


def _skip_reason(report: pytest.CollectReport | pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)


def _note_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    if report.skipped:
        reason = _skip_reason(report)
        if UNTESTED.search(reason):
            _untested.append(f"{report.nodeid}: {reason}")


def pytest_collectreport(report: pytest.CollectReport) -> None:
    _note_skip(report)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _note_skip(report)


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    if STRICT_SKIPS and _untested:
        terminalreporter.section("shipped code left untested (CI=true)", red=True)
        for line in _untested:
            terminalreporter.line(line)
        terminalreporter.line(
            f"{len(_untested)} skip(s) above mean a part of ferroq never ran: install what they "
            "name (see .ci/run), or set FERROQ_ALLOW_SKIPS=1 to accept them."
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if STRICT_SKIPS and _untested and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
