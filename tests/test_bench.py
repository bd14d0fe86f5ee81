"""ferroq._bench (``ferroq bench``): structure of the report and of the printed tables.
Timings are never asserted: only that they exist and are positive."""

from __future__ import annotations

import importlib.util
import io
import json
import time

import ferroq
import numpy as np
import pytest
from ferroq import _bench
from ferroq._bench import PEERS, run_bench

WORKLOADS = ["layered", "layered_single", "batch", "sampling", "sweep"]
INSTALLED = [p for p in PEERS if importlib.util.find_spec(_bench._PEER_MODULES[p]) is not None]


def bench(**kwargs):
    out = io.StringIO()
    messages = []
    options = {"quick": True, "qubits": 12, "reps": 2, "peers": [], "threads": 2}
    options.update(kwargs)
    report = run_bench(out=out, progress=messages.append, **options)
    json.dumps(report)  # JSON-able as it is
    return report, out.getvalue(), messages


def check_timed(entry):
    assert entry["ok"] is True
    assert entry["reps"] >= 1
    assert len(entry["times_s"]) == entry["reps"]
    assert entry["min_s"] <= entry["median_s"] <= entry["max_s"]
    assert entry["ratio"] is not None and entry["ratio"] > 0


@pytest.fixture(scope="module")
def alone():
    return bench()


def test_report_without_peers(alone):
    report, text, messages = alone
    assert set(report) >= {"settings", "machine", "skipped", "workloads", "agreement", "elapsed_s"}
    assert report["settings"] == {
        "quick": True,
        "qubits": 12,
        "reps": 2,
        "threads": 2,
        "peers": [],
        "seed": _bench._SEED,
        "time_budget_s": 0.5,
    }
    machine = report["machine"]
    for key in ("cpu_count", "usable_cpus", "ferroq", "numpy", "python", "peers"):
        assert key in machine
    assert machine["last_level_cache_bytes"] == ferroq._core.system_cache_bytes()
    reported = {k: v for k, v in machine["ferroq_engine"].items() if k != "available_memory"}
    now = ferroq.engine_info()._replace(available_memory=0)._asdict()  # free memory: read at each call
    assert reported == {k: v for k, v in now.items() if k != "available_memory"}
    assert f"ferroq engine: {machine['ferroq_engine']['instruction_set']} kernels, cache blocking" in text
    assert machine["peers"] == {}
    assert machine["numpy"] == np.__version__
    assert list(report["workloads"]) == WORKLOADS
    assert report["agreement"] == {}
    assert report["skipped"] == {}
    assert all(isinstance(m, str) for m in messages) and len(messages) > 5


@pytest.mark.parametrize("name", WORKLOADS)
def test_every_workload_has_its_baseline_timed(alone, name):
    report, text, _ = alone
    record = report["workloads"][name]
    assert set(record) >= {"name", "title", "params", "baseline", "contenders", "notes", "elapsed_s"}
    assert record["name"] == name
    baseline = record["contenders"][record["baseline"]]
    if name == "sweep" and baseline["median_s"] <= 0:  # a difference of two timings: noise can win
        assert baseline["ratio"] is None
    else:
        check_timed(baseline)
        assert baseline["ratio"] == 1.0
    assert f"\n{name}: {record['title']}\n" in text
    assert record["baseline"] in text.split(f"\n{name}: ")[1]


def test_workload_parameters(alone):
    report, text, _ = alone
    workloads = report["workloads"]
    assert workloads["layered"]["params"]["qubits"] == 12
    assert workloads["layered_single"]["contenders"]["ferroq_single"]["fidelity"] > 1 - 1e-6
    assert workloads["batch"]["params"] == {"circuits": 200, "qubits": 10, "layers": 20, "shots": 1000}
    check_batch_size(workloads["batch"]["contenders"]["ferroq"], total=200)
    assert workloads["sampling"]["params"] == {"qubits": 12, "shots": 100_000}
    sweep = workloads["sweep"]
    assert sweep["params"]["bytes"] == 16 << 12
    assert sweep["probe"]["median_s"] > 0 and sweep["probe"]["bytes"] == 16 << 12
    assert sweep["contenders"]["ferroq"]["vs_probe"] is not None
    assert "bandwidth probe" in text
    assert "no peer to check" in text


def check_batch_size(entry, total):
    # How many circuits fit the time budget depends on the machine's speed (a
    # loaded CI runner times fewer), so only the bookkeeping is checked here.
    size = entry["circuits"]
    assert _bench._MIN_CIRCUITS <= size <= total
    assert entry["per_circuit_s"] == pytest.approx(entry["median_s"] / size)
    if size < total:
        assert (
            entry["note"]
            == f"timed on the first {size} of the {total} circuits (time budget); ratio per circuit"
        )
    else:
        assert entry["note"] is None


def test_a_batch_too_slow_for_the_budget_is_timed_on_a_prefix(monkeypatch):
    """A peer taking 10 ms a circuit cannot run 200 in the 0.5 s budget: it is timed on
    about 50 (at least 20) and its ratio is per circuit."""
    seen = []

    def slow_peer(threads):
        def batch(circuits, n, shots, seed):
            def run():
                seen.append(len(circuits))
                time.sleep(0.01 * len(circuits))
                return [{"0" * n: shots} for _ in circuits]

            return run

        return _bench._Contender("aer", statevector=None, batch=batch, sample=None)

    monkeypatch.setitem(_bench._PEER_MODULES, "aer", "numpy")  # "installed"
    monkeypatch.setitem(_bench._MAKERS, "aer", slow_peer)
    report, text, _ = bench(peers=["aer"], qubits=6, reps=1)
    batch = report["workloads"]["batch"]
    entry = batch["contenders"]["aer"]
    check_batch_size(entry, total=200)
    assert (
        entry["circuits"] <= 50
        and seen[:2] == [_bench._WARM_CIRCUITS] * 2
        and set(seen[2:]) == {entry["circuits"]}
    )
    ferroq_per_circuit = batch["contenders"]["ferroq"]["per_circuit_s"]
    assert entry["ratio"] == pytest.approx(entry["per_circuit_s"] / ferroq_per_circuit)
    assert "timed on the first" in text


def test_unknown_peer_is_refused_before_anything_runs():
    out = io.StringIO()
    with pytest.raises(ValueError, match="unknown peer 'cirq'"):
        run_bench(peers=["aer", "cirq"], out=out)
    assert out.getvalue() == ""


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"qubits": 0}, ValueError),
        ({"qubits": 31}, ValueError),
        ({"qubits": 2.0}, TypeError),
        ({"qubits": True}, TypeError),
        ({"reps": 0}, ValueError),
        ({"threads": 0}, ValueError),
        ({"threads": 4097}, ValueError),  # the engine's bound, named as this argument
        ({"peers": [3]}, TypeError),
        ({"quick": "yes"}, TypeError),
    ],
)
def test_bad_arguments(kwargs, error):
    (name,) = kwargs
    with pytest.raises(error, match=name):
        run_bench(out=io.StringIO(), **kwargs)


def test_a_huge_reps_costs_the_time_budget_not_reps_rounds():
    """``reps`` is an upper bound: every timed loop, the bandwidth probe's too,
    stops once its budget is spent (it used to run 2**63 empty rounds)."""
    start = time.monotonic()
    report, _, _ = bench(qubits=4, reps=2**63 - 1)
    assert time.monotonic() - start < 120, "a huge reps did not stop at the time budget"
    for workload in report["workloads"].values():
        for entry in workload["contenders"].values():
            check_timed(entry)


def test_peer_names_are_normalised_and_a_comma_list_is_accepted(monkeypatch):
    monkeypatch.setattr(_bench, "_PEER_MODULES", {p: "no_such_module_for_ferroq_tests" for p in PEERS})
    assert _bench._resolve_peers([" AER", "aer", "qsim"]) == (
        [],
        {
            "aer": "not installed (no module no_such_module_for_ferroq_tests)",
            "qsim": "not installed (no module no_such_module_for_ferroq_tests)",
        },
    )
    assert list(_bench._resolve_peers("qulacs,aer")[1]) == ["qulacs", "aer"]
    assert list(_bench._resolve_peers(None)[1]) == list(PEERS)


def test_a_peer_that_is_not_installed_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setitem(_bench._PEER_MODULES, "qsim", "no_such_module_for_ferroq_tests")
    report, text, _ = bench(peers=["qsim"], qubits=6, reps=1)
    assert report["skipped"] == {"qsim": "not installed (no module no_such_module_for_ferroq_tests)"}
    assert report["settings"]["peers"] == []
    assert "peer qsim skipped: not installed" in text
    assert "qsim" not in report["workloads"]["layered_single"]["contenders"]


def fake_peer(threads):
    """A peer that gets the state wrong, fails on the batch and samples plausibly."""

    def statevector(ops, n):
        def run():
            state = np.zeros(1 << n, dtype=np.complex128)
            state[-1] = 1
            return state

        return run

    def batch(circuits, n, shots, seed):
        def run():
            raise RuntimeError("the fake peer cannot batch")

        return run

    def sample(ops, n, shots, seed):
        return lambda: {"0" * n: shots}

    return _bench._Contender("aer", statevector=statevector, batch=batch, sample=sample)


def test_wrong_states_and_failures_get_no_ratio(monkeypatch):
    monkeypatch.setitem(_bench._PEER_MODULES, "aer", "numpy")  # "installed"
    monkeypatch.setitem(_bench._MAKERS, "aer", fake_peer)
    report, text, _ = bench(peers=["aer"], qubits=6, reps=1)
    layered = report["workloads"]["layered"]["contenders"]["aer"]
    assert layered["ok"] is False
    assert layered["ratio"] is None and layered["median_s"] is None
    assert layered["fidelity"] < 0.5
    assert report["agreement"]["aer"]["ok"] is False
    assert "WRONG STATE" in text and "no ratio reported: aer" in text
    batch = report["workloads"]["batch"]["contenders"]["aer"]
    assert batch["ok"] is False and batch["ratio"] is None
    assert "the fake peer cannot batch" in batch["error"]
    assert "failed: RuntimeError: the fake peer cannot batch" in text
    check_timed(report["workloads"]["sampling"]["contenders"]["aer"])


def test_a_peer_that_fails_to_load_is_skipped(monkeypatch):
    def broken(threads):
        raise OSError("libsomething.so: cannot open shared object file")

    monkeypatch.setitem(_bench._PEER_MODULES, "qulacs", "numpy")
    monkeypatch.setitem(_bench._MAKERS, "qulacs", broken)
    report, text, _ = bench(peers=["qulacs"], qubits=6, reps=1)
    assert report["skipped"]["qulacs"].startswith("failed to load: OSError: libsomething.so")
    assert report["settings"]["peers"] == []
    assert "peer qulacs skipped: failed to load" in text


@pytest.mark.skipif(not INSTALLED, reason="no peer simulator (qiskit-aer, qulacs, qsimcirq) is installed")
def test_with_an_installed_peer():
    # The quickest to load first: qulacs, then Aer, then qsim.
    peer = next(p for p in ("qulacs", "aer", "qsim") if p in INSTALLED)
    report, text, _ = bench(peers=[peer], qubits=10, reps=1)
    assert report["settings"]["peers"] == [peer]
    assert peer in report["machine"]["peers"]
    assert report["agreement"][peer]["ok"] is True
    assert report["agreement"][peer]["fidelity"] > 1 - 1e-6
    for name, record in report["workloads"].items():
        if name == "sweep" and peer == "qsim":
            assert peer not in record["contenders"]
            continue
        if name == ("layered" if peer == "qsim" else "layered_single"):
            continue
        check_timed(record["contenders"][peer])
        assert peer in text.split(f"\n{name}: ")[1].split("\n\n")[0]
    assert f"Correctness: {peer} reached ferroq's final state" in text
