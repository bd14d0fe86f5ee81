"""Progress events (the ``callback`` run option) and progress bars."""

from __future__ import annotations

import concurrent.futures
import io
import logging
import pickle
import sys
import time

import ferroq
import pytest
from ferroq import JobStatus
from ferroq._progress import ProgressEvent, TextProgressBar
from ferroq.exceptions import OptionTypeError


def layered(n=16, layers=60):
    c = ferroq.Circuit(n, n)
    for layer in range(layers):
        for q in range(n):
            c.rx(0.1 + 0.01 * layer + 0.001 * q, q)
        for q in range(n - 1):
            c.cx(q, q + 1)
    return c.measure(range(n), range(n))


def slow_batch(count=60):
    # Enough work for several 0.1 s ticks on two cores, in many circuits.
    return [layered() for _ in range(count)]


def check_sequence(events, job, status=JobStatus.DONE):
    assert events, "no progress event"
    assert all(isinstance(e, ProgressEvent) and e.job_id == job.job_id() for e in events)
    assert [e.final for e in events] == [False] * (len(events) - 1) + [True]
    assert events[-1].status is status
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and all(0.0 <= f <= 1.0 for f in fractions)
    elapsed = [e.elapsed for e in events]
    assert elapsed == sorted(elapsed)
    assert len({(e.status, e.fraction) for e in events}) == len(events)  # only changes are reported


def test_events_report_a_batch_from_start_to_end():
    events = []
    circuits = slow_batch()
    job = ferroq.Simulator(max_parallel_threads=2).run(circuits, shots=10, callback=events.append)
    job.result(timeout=120)
    ferroq.wait_for_progress(job, timeout=10)
    check_sequence(events, job)
    assert events[-1].fraction == 1.0 and events[-1].eta == 0.0 and events[-1].circuits == len(circuits)
    middle = [e for e in events if 0.0 < e.fraction < 1.0]
    assert middle, [(e.status, e.fraction) for e in events]
    assert all(e.eta is not None and e.eta >= 0 for e in middle)


def test_a_cancelled_job_ends_its_events_cancelled():
    events = []
    job = ferroq.Simulator().run(slow_batch(200), shots=10, callback=events.append)
    job.cancel()
    with pytest.raises(ferroq.JobCancelledError):
        job.result(timeout=60)
    ferroq.wait_for_progress(job, timeout=10)
    check_sequence(events, job, JobStatus.CANCELLED)


def test_a_failed_job_set_ends_its_events_in_error():
    events = []
    # Each chunk is checked on its worker, so the too-large circuit fails there.
    circuits = [ferroq.Circuit(2).h(0), ferroq.Circuit(22).h(0)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        job = ferroq.Simulator(max_memory_mb=1).run(
            circuits, executor=pool, max_job_size=1, callback=events.append
        )
        with pytest.raises(ferroq.JobError, match="SimulationMemoryError"):
            job.result(timeout=60)
        ferroq.wait_for_progress(job, timeout=10)
    check_sequence(events, job, JobStatus.ERROR)


def test_job_sets_report_progress_over_their_chunks():
    events = []
    circuits = slow_batch(40)
    job_set = ferroq.Simulator().run(circuits, shots=10, max_job_size=5, callback=events.append)
    assert isinstance(job_set, ferroq.JobSet)
    job_set.result(timeout=120)
    ferroq.wait_for_progress(job_set, timeout=10)
    check_sequence(events, job_set)
    assert events[-1].circuits == 40


def test_a_raising_callback_is_logged_and_the_job_is_unaffected(caplog):
    def broken(event):
        raise RuntimeError("observer bug")

    with caplog.at_level(logging.ERROR, logger="ferroq"):
        job = ferroq.Simulator().run(ferroq.Circuit(1, 1).x(0).measure(0, 0), shots=5, callback=broken)
        assert job.result(timeout=30).get_counts() == {"1": 5}
        ferroq.wait_for_progress(job, timeout=10)
    assert "observer bug" in caplog.text


def test_callback_option_is_checked_and_kept_out_of_the_job():
    with pytest.raises(OptionTypeError, match="'callback' must be callable"):
        ferroq.Simulator(callback=3)
    with pytest.raises(OptionTypeError, match="'progress_bar' must be bool"):
        ferroq.Simulator().run(ferroq.Circuit(1), progress_bar="yes")
    events = []
    job = ferroq.Simulator(callback=events.append).run(ferroq.Circuit(1, 1).measure(0, 0), shots=5)
    job.result(timeout=30)
    ferroq.wait_for_progress(job, timeout=10)
    assert "callback" not in job.backend_options() and "progress_bar" not in job.backend_options()
    restored = pickle.loads(pickle.dumps(job))  # no callable travels with the job
    assert restored.result().get_counts() == {"0": 5}
    assert events[-1].final


def test_progress_bar_uses_tqdm_when_installed(capsys):
    pytest.importorskip("tqdm")
    job = ferroq.Simulator().run(slow_batch(20), shots=10, progress_bar=True)
    job.result(timeout=120)
    ferroq.wait_for_progress(job, timeout=10)
    err = capsys.readouterr().err
    assert "20/20" in err and "circuit" in err


def test_progress_bar_falls_back_to_text_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    from ferroq import _progress

    bars = []
    real = _progress.TextProgressBar

    def recording(*args, **kwargs):
        bar = real(*args, **kwargs)
        bars.append(bar)
        return bar

    monkeypatch.setattr(_progress, "TextProgressBar", recording)
    job = ferroq.Simulator().run(ferroq.Circuit(1, 1).measure(0, 0), shots=5, progress_bar=True)
    job.result(timeout=30)
    ferroq.wait_for_progress(job, timeout=10)
    assert len(bars) == 1


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def event(fraction, status=JobStatus.RUNNING, elapsed=1.0, final=False):
    return ProgressEvent("id", status, fraction, 3, elapsed, final)


def test_text_bar_draws_only_on_terminals_and_only_after_its_delay():
    term = FakeTerminal()
    bar = TextProgressBar(term, delay=0.5)
    bar(event(0.0, elapsed=0.1))
    assert term.getvalue() == ""  # too early
    bar(event(0.5))
    assert "\r[" + "#" * 15 + "-" * 15 + "]  50.0%" in term.getvalue() and "3 circuits" in term.getvalue()
    assert "eta 1s" in term.getvalue()
    bar(event(1.0, JobStatus.DONE, 2.0, True))
    last = term.getvalue().split("\r")[-1]
    assert last.endswith("\n") and "100.0%" in last and "DONE" in last and "eta" not in last

    quick = FakeTerminal()
    bar = TextProgressBar(quick, delay=0.5)
    bar(event(1.0, JobStatus.DONE, 0.2, True))
    assert quick.getvalue() == ""  # a quick job draws nothing

    pipe = io.StringIO()
    bar = TextProgressBar(pipe, delay=0.0)
    bar(event(0.5))
    bar(event(1.0, JobStatus.DONE, 2.0, True))
    assert pipe.getvalue() == ""  # not a terminal


def test_finished_jobs_leave_no_watch_behind():
    from ferroq import _progress

    jobs = [ferroq.Simulator().run(ferroq.Circuit(1, 1).measure(0, 0), shots=5, callback=lambda e: None)]
    for job in jobs:
        job.result(timeout=30)
        ferroq.wait_for_progress(job, timeout=10)
    deadline = time.monotonic() + 10
    while any(j.job_id() in _progress._watches_by_job for j in jobs):
        assert time.monotonic() < deadline, "a finished job's watch was kept"
        time.sleep(0.05)
