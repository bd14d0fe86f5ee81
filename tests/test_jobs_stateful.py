"""A stateful model test of the job layer, on every job kind: a ``Job``; a
``JobSet`` on ferroq's scheduler, a thread pool, a process pool and Dask (where
installed); a ``StoredJob`` read back from a job store; and the Qiskit
``FerroqJob`` / ``FerroqJobSet`` (where qiskit is installed).

Hypothesis drives a handful of jobs (tiny, medium, long and failing ones) through
submit / cancel / result / exception / status / wait_for_final_state /
add_done_callback, each call made from the main thread or from a helper thread pool
(whose calls are awaited one at a time, so observations stay in real-time order).
The invariants: each job's observed status never goes backwards; once final it never
changes; predicates agree with a final status; a final job's result or error is
retrievable and matches its status; and at teardown every job is in exactly one final
state and every done-callback has fired exactly once.
"""

from __future__ import annotations

import concurrent.futures
import functools
import itertools
import threading
import time

import ferroq
import pytest
from ferroq import JOB_FINAL_STATES, JobStatus
from ferroq.exceptions import JobCancelledError, JobTimeoutError, SimulationMemoryError
from helpers import HANG_S, h_layers, job_rank, to_qiskit
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

FINAL_NAMES = {s.name for s in JOB_FINAL_STATES}


#: Kinds whose jobs are sets of two chunks (the others are one job).
SET_KINDS = {"local-set", "thread-set", "process-set", "dask-set", "qiskit-set"}
#: Kinds on which a running task cannot be stopped (it runs on after a cancel).
UNSTOPPABLE = {"process-set", "dask-set"}

#: Shared executors, made once per module (see ``_executors``).
_SHARED: dict[str, object] = {}


@functools.cache
def _circuit(kind: str, unstoppable: bool = False) -> ferroq.Circuit:
    if kind == "tiny":
        return ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
    if kind == "medium":  # some tens of milliseconds on one thread
        return h_layers(16, 40)
    if kind == "long":  # always cancelled at teardown: tens of seconds, or about
        # one where a running task cannot be stopped and would hold its worker
        return h_layers(16, 600) if unstoppable else h_layers(18, 5000)
    # Passes the submit-time memory check (one 1 MiB state in 1.5 MiB) but fails at
    # run time (a reset after a gate needs a second copy).
    return ferroq.Circuit(16, 1).h(0).reset(0).measure(0, 0)


_OPTIONS = {
    "tiny": {"shots": 5},
    "medium": {"shots": 1},
    "long": {"shots": 1},
    "error": {"shots": 4, "max_memory_mb": 1.5},
}

TIMEOUTS = st.sampled_from([0.0, 0.001, 0.02, 0.05])


class Tracked:
    """A job and what the test saw of it."""

    def __init__(self, job: ferroq.Job, kind: str):
        self.job = job
        self.kind = kind
        self.observed: list[JobStatus] = []
        self.result = None
        self.cancel_wins = 0
        self.lock = threading.Lock()
        self.callbacks: dict[int, list[bool]] = {}  # token -> [was the job final] per call

    def __repr__(self) -> str:
        return f"Tracked({self.kind}, {self.job!r})"


def _memory_error(err: BaseException | None) -> bool:
    """The error circuit's failure: the engine's own, or a set's JobError caused by it."""
    return isinstance(err, SimulationMemoryError) or isinstance(
        getattr(err, "__cause__", None), SimulationMemoryError
    )


class JobMachine(RuleBasedStateMachine):
    jobs = Bundle("jobs")
    #: "job", "local-set" (two chunks on ferroq's scheduler) or "thread-set".
    KIND = "job"

    def __init__(self):
        super().__init__()
        self.sim = ferroq.Simulator(max_parallel_threads=1)
        self.pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="stateful")
        self.executor = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="chunks")
        self.tracked: list[Tracked] = []
        self.tokens = itertools.count()
        self.owned: list[ferroq.Job] = []  # the owners of stored jobs
        if self.KIND == "stored":
            self.store = _SHARED["store-dir"] / f"jobs-{next(_STORES)}.sqlite"  # type: ignore[operator]
            self.stored_sim = ferroq.Simulator(max_parallel_threads=1, store=self.store)

    def run(self, kind: str):
        circuit, options = _circuit(kind, self.KIND in UNSTOPPABLE), _OPTIONS[kind]
        if self.KIND == "job":
            return self.sim.run(circuit, **options)
        if self.KIND == "stored":
            job = self.stored_sim.run(circuit, **options)
            self.owned.append(job)
            return ferroq.retrieve_job(job.job_id(), store=self.store)
        if self.KIND.startswith("qiskit"):
            from ferroq.qiskit import FerroqSimulator

            backend = FerroqSimulator(max_parallel_threads=1)
            split = {"max_job_size": 1} if self.KIND == "qiskit-set" else {}
            qc = to_qiskit(circuit)
            # No truncation: the failing circuit must keep its 16 qubits to fail.
            return backend.run([qc, qc] if split else qc, enable_truncation=False, **split, **options)
        executors = {"thread-set": self.executor, **_SHARED}
        extra = {"executor": executors[self.KIND]} if self.KIND in executors else {}
        return self.sim.run([circuit, circuit], max_job_size=1, **extra, **options)

    def status_of(self, job) -> JobStatus:
        """ferroq's status of any kind's job (the Qiskit jobs report qiskit's)."""
        return JobStatus[job.status().name]

    # ------------------------------------------------------------ helpers
    def call(self, in_pool: bool, fn):
        """Runs ``fn`` here or on the pool; returns ``(value, exception)``."""

        def capture():
            try:
                return fn(), None
            except Exception as err:
                return None, err

        if in_pool:
            return self.pool.submit(capture).result(timeout=60)
        return capture()

    def observe(self, t: Tracked, status: JobStatus) -> None:
        if t.observed:
            last = t.observed[-1]
            assert job_rank(status) >= job_rank(last), f"{t}: status went from {last} back to {status}"
            if last in JOB_FINAL_STATES:
                assert status is last, f"{t}: left final state {last} for {status}"
        t.observed.append(status)

    def check_final(self, t: Tracked) -> None:
        """For a job seen in a final state: predicates and outcome match it."""
        job = t.job
        status = self.status_of(job)
        assert status in JOB_FINAL_STATES
        assert job.done() is (status is JobStatus.DONE)
        assert job.cancelled() is (status is JobStatus.CANCELLED)
        assert job.running() is False
        assert job.in_final_state() is True
        if isinstance(job, ferroq.Job):
            assert job.queue_position() is None
            steps = list(job.time_per_step())
            assert steps[-1] == status.name and len(FINAL_NAMES & set(steps)) == 1, steps
        if status is JobStatus.DONE:
            assert t.kind != "error"
            result = job.result(timeout=0)
            if t.result is not None:
                assert result is t.result
            t.result = result
            assert job.exception(timeout=0) is None
            assert job.error_message() is None
            assert job.progress() == 1.0
        elif status is JobStatus.CANCELLED:
            try:
                job.result(timeout=0)
            except JobCancelledError:
                pass
            else:
                raise AssertionError(f"{t}: result() of a cancelled job did not raise")
            assert job.error_message() is None
            assert t.cancel_wins <= 1
        else:
            assert t.kind == "error", f"{t}: unexpected ERROR: {job.error_message()}"
            assert job.error_message() is not None and "memory limit" in job.error_message()
            assert _memory_error(job.exception(timeout=0))
            # Only a set can be ERROR after a winning cancel (see the cancel rule).
            assert t.cancel_wins == 0 or self.KIND in SET_KINDS

    # -------------------------------------------------------------- rules
    @rule(target=jobs, kind=st.sampled_from(["tiny", "medium", "long", "error"]))
    def submit(self, kind):
        job = self.run(kind)
        t = Tracked(job, kind)
        self.tracked.append(t)
        self.observe(t, self.status_of(job))
        return t

    @rule(t=jobs, in_pool=st.booleans())
    def cancel(self, t, in_pool):
        won, err = self.call(in_pool, t.job.cancel)
        assert err is None
        status = self.status_of(t.job)
        self.observe(t, status)
        if won:
            t.cancel_wins += 1
            assert t.cancel_wins == 1, f"{t}: cancel() returned True twice"
            if self.KIND not in SET_KINDS or t.kind != "error":
                assert status is JobStatus.CANCELLED
            else:
                # A set's cancel stops its unfinished chunks; one that had failed
                # makes the set ERROR all the same (ERROR outranks CANCELLED).
                assert status in (JobStatus.CANCELLED, JobStatus.ERROR)
        else:
            # False only when the job had already ended (or another party ended it).
            assert status in JOB_FINAL_STATES

    @rule(t=jobs, timeout=TIMEOUTS, in_pool=st.booleans())
    def result(self, t, timeout, in_pool):
        value, err = self.call(in_pool, lambda: t.job.result(timeout=timeout))
        status = self.status_of(t.job)
        self.observe(t, status)
        if err is None:
            assert status is JobStatus.DONE
            if t.result is not None:
                assert value is t.result
            t.result = value
        elif isinstance(err, JobTimeoutError):
            assert t.job.job_id() in str(err)
        elif isinstance(err, JobCancelledError):
            assert status is JobStatus.CANCELLED
        elif _memory_error(err):
            assert status is JobStatus.ERROR
        else:
            raise err

    @rule(t=jobs, timeout=TIMEOUTS, in_pool=st.booleans())
    def exception(self, t, timeout, in_pool):
        value, err = self.call(in_pool, lambda: t.job.exception(timeout=timeout))
        status = self.status_of(t.job)
        self.observe(t, status)
        if err is None:
            if value is None:
                assert status is JobStatus.DONE
            else:
                assert _memory_error(value)
                assert status is JobStatus.ERROR
        elif isinstance(err, JobCancelledError):
            assert status is JobStatus.CANCELLED
        elif not isinstance(err, JobTimeoutError):
            raise err

    @rule(t=jobs, in_pool=st.booleans())
    def status(self, t, in_pool):
        value, err = self.call(in_pool, lambda: self.status_of(t.job))
        assert err is None
        self.observe(t, value)

    @rule(
        t=jobs,
        timeout=st.sampled_from([0.0, 0.02, 0.06]),
        wait=st.sampled_from([0.01, 0.03]),
        in_pool=st.booleans(),
    )
    def wait_for_final_state(self, t, timeout, wait, in_pool):
        seen = []

        def callback(job_id, status, job):
            assert job_id == t.job.job_id() and job is t.job
            seen.append(JobStatus[status.name])

        start = time.monotonic()
        value, err = self.call(
            in_pool, lambda: t.job.wait_for_final_state(timeout=timeout, wait=wait, callback=callback)
        )
        elapsed = time.monotonic() - start
        status = self.status_of(t.job)
        assert all(s not in JOB_FINAL_STATES for s in seen), seen
        ranks = [job_rank(s) for s in seen]
        assert ranks == sorted(ranks)
        if seen:
            self.observe(t, seen[0])  # the first callback came after every earlier observation
        self.observe(t, status)
        if err is None:
            assert value is None
            assert status in JOB_FINAL_STATES
        else:
            assert isinstance(err, JobTimeoutError), err
            # Qiskit's errors print their message quoted (QiskitError.__str__).
            message = getattr(err, "message", str(err))
            assert message == f"Timeout while waiting for job {t.job.job_id()}."
            assert elapsed >= timeout * 0.9
        assert elapsed < timeout + HANG_S  # returned, did not hang

    @rule(t=jobs, in_pool=st.booleans())
    def add_done_callback(self, t, in_pool):
        token = next(self.tokens)
        t.callbacks[token] = []

        def fn(job):
            assert job is t.job
            with t.lock:
                t.callbacks[token].append(job.in_final_state())

        _, err = self.call(in_pool, lambda: t.job.add_done_callback(fn))
        assert err is None

    @rule(t=jobs)
    def predicates(self, t):
        status = self.status_of(t.job)
        self.observe(t, status)
        if status in JOB_FINAL_STATES:
            self.check_final(t)
        elif t.job.done():
            assert self.status_of(t.job) is JobStatus.DONE  # done() may only turn True by finishing

    # ---------------------------------------------------------- invariants
    @invariant()
    def statuses_monotonic_and_final_outcomes_consistent(self):
        for t in self.tracked:
            status = self.status_of(t.job)
            self.observe(t, status)
            if status in JOB_FINAL_STATES:
                self.check_final(t)
            with t.lock:
                fired = {k: list(v) for k, v in t.callbacks.items()}
            for calls in fired.values():
                assert len(calls) <= 1, f"{t}: a done-callback fired {len(calls)} times"
                assert all(calls), f"{t}: a done-callback ran before the job ended"

    def teardown(self):
        try:
            for t in self.tracked:
                t.job.cancel()
            for t in self.tracked:
                t.job.wait_for_final_state(timeout=10)
                self.observe(t, self.status_of(t.job))
                self.check_final(t)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with_calls = [(t, len(c)) for t in self.tracked for c in t.callbacks.values()]
                if all(n >= 1 for _, n in with_calls):
                    break
                time.sleep(0.005)
            time.sleep(0.02)  # a duplicate call would show up now
            for t in self.tracked:
                with t.lock:
                    counts = [len(c) for c in t.callbacks.values()]
                assert all(n == 1 for n in counts), f"{t}: done-callback call counts {counts}"
                assert all(all(c) for c in t.callbacks.values())
        finally:
            for t in self.tracked:
                t.job.cancel()
            for job in self.owned:
                job.cancel()
                job.wait_for_final_state(timeout=30)
            self.pool.shutdown(wait=True)
            self.executor.shutdown(wait=True, cancel_futures=True)


class LocalSetMachine(JobMachine):
    KIND = "local-set"


class ThreadSetMachine(JobMachine):
    KIND = "thread-set"


class ProcessSetMachine(JobMachine):
    KIND = "process-set"


class DaskSetMachine(JobMachine):
    KIND = "dask-set"


class StoredMachine(JobMachine):
    KIND = "stored"


class QiskitJobMachine(JobMachine):
    KIND = "qiskit-job"


class QiskitSetMachine(JobMachine):
    KIND = "qiskit-set"


_STORES = itertools.count()
_SETTINGS = settings(max_examples=25, stateful_step_count=15, deadline=None)
# Kinds whose every step costs more (processes, Dask, a store, Qiskit's conversions).
_FEWER = settings(max_examples=10, stateful_step_count=12, deadline=None)
TestJobMachine = JobMachine.TestCase
TestLocalSetMachine = LocalSetMachine.TestCase
TestThreadSetMachine = ThreadSetMachine.TestCase
TestProcessSetMachine = ProcessSetMachine.TestCase
TestDaskSetMachine = DaskSetMachine.TestCase
TestStoredMachine = StoredMachine.TestCase
TestQiskitJobMachine = QiskitJobMachine.TestCase
TestQiskitSetMachine = QiskitSetMachine.TestCase
for _case in (TestJobMachine, TestLocalSetMachine, TestThreadSetMachine):
    _case.settings = _SETTINGS
for _case in (
    TestProcessSetMachine,
    TestDaskSetMachine,
    TestStoredMachine,
    TestQiskitJobMachine,
    TestQiskitSetMachine,
):
    _case.settings = _FEWER
del _case


@pytest.fixture(autouse=True)
def _executors(request, tmp_path_factory):
    """What the machine of the running test case needs: the shared process pool,
    the session's Dask client, a folder for job stores, or qiskit (skipping where
    it is not installed)."""
    case = request.cls
    if case is TestProcessSetMachine:
        pool = concurrent.futures.ProcessPoolExecutor(2)
        _SHARED["process-set"] = pool

        def shut_down() -> None:
            _SHARED.pop("process-set", None)
            pool.shutdown(wait=False, cancel_futures=True)

        request.addfinalizer(shut_down)
    if case is TestDaskSetMachine:
        _SHARED["dask-set"] = request.getfixturevalue("dask_client")
        request.addfinalizer(lambda: _SHARED.pop("dask-set", None))
    if case is TestStoredMachine:
        _SHARED["store-dir"] = tmp_path_factory.mktemp("stateful-stores")
    if case in (TestQiskitJobMachine, TestQiskitSetMachine):
        pytest.importorskip("qiskit")
