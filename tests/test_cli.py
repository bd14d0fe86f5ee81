"""The ``ferroq`` command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import json
import os
import pathlib
import pty
import select
import signal
import subprocess
import sys
import time

import ferroq
import numpy as np
import pytest
from conftest import requires_qiskit

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples" / "qasm"
BELL = """OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
measure q -> c;
"""


def env_without_store(**extra):
    env = dict(os.environ)
    env.pop("FERROQ_STORE", None)
    env.pop("FERROQ_DEBUG", None)
    env.update(extra)
    return env


def ferroq_cli(*args, timeout=120, input=None, env=None, cwd=None):
    """Runs ``python -m ferroq ARGS``; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "ferroq", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        input=input,
        env=env or env_without_store(),
        cwd=cwd,
    )


def assert_one_line_error(done, *fragments, status=2):
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert lines and lines[0].startswith("ferroq"), done.stderr
    assert "error:" in lines[0]
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def long_qasm(n=20, layers=300):
    """A circuit that takes a few seconds: layers of rotations and a CX ladder."""
    body = [f'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[{n}];\ncreg c[{n}];']
    for layer in range(layers):
        body += [f"rx({0.1 + 0.01 * layer + 0.001 * q}) q[{q}];" for q in range(n)]
        body += [f"cx q[{q}], q[{q + 1}];" for q in range(n - 1)]
    body.append("measure q -> c;")
    return "\n".join(body)


# ----------------------------------------------------------------- run
def test_run_prints_counts_per_circuit_and_a_footer():
    files = sorted(EXAMPLES.glob("*.qasm"))
    assert len(files) >= 3
    done = ferroq_cli("run", *files, "--shots", 500, "--seed", 7)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for f in files:
        assert f"{f.stem}: " in out
    assert "00       " in out and "11       " in out  # the bell pair
    assert "0101     500" in out  # qft4 then its inverse reads the input back
    assert f"{len(files)} circuits, run seed 7" in out
    assert done.stderr == ""  # no progress bar when stderr is not a terminal


def test_run_counts_match_the_library_for_the_same_seed(tmp_path):
    files = [EXAMPLES / "bell.qasm", EXAMPLES / "rotations.qasm"]
    out = tmp_path / "r.json"
    done = ferroq_cli("run", *files, "--shots", 300, "--seed", 11, "--out", out)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    circuits = [ferroq.qasm2.load(f) for f in files]
    expected = ferroq.Simulator(shots=300, seed=11).run(circuits).result().get_counts()
    assert [r["counts"] for r in data["results"]] == expected


def test_json_output_holds_counts_memory_seeds_timings_and_metadata(tmp_path):
    out = tmp_path / "r.json"
    done = ferroq_cli(
        "run", EXAMPLES / "bell.qasm", EXAMPLES / "ghz5.qasm", "--shots", 64, "--seed", "0x2a",
        "--memory", "--statevector", "--precision", "single", "--threads", 1,
        "--name", "demo", "--tag", "a", "--tag", "b", "--out", out, "-q",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["ferroq_version"] == ferroq.__version__
    assert data["status"] == "DONE" and data["seed"] == 42
    assert data["name"] == "demo" and data["tags"] == ["a", "b"]
    assert data["options"]["precision"] == "single" and data["options"]["max_parallel_threads"] == 1
    assert next(iter(data["time_per_step"])) == "INITIALIZING" and "DONE" in data["time_per_step"]
    assert data["time_taken"] > 0
    names = [r["name"] for r in data["results"]]
    assert names == ["bell", "ghz5"]
    seeds = set()
    for r, n in zip(data["results"], (2, 5), strict=True):
        assert r["num_qubits"] == n and r["num_clbits"] == n and r["shots"] == 64
        assert sum(r["counts"].values()) == 64
        assert len(r["memory"]) == 64 and set(r["memory"]) == set(r["counts"])
        state = np.array([complex(re, im) for re, im in r["statevector"]])
        assert state.shape == (2**n,)
        assert abs(abs(state[0]) ** 2 - 0.5) < 1e-6 and abs(abs(state[-1]) ** 2 - 0.5) < 1e-6
        assert r["time_taken"] >= 0 and r["file"].endswith(f"{r['name']}.qasm")
        seeds.add(r["seed"])
    assert len(seeds) == 2


def test_json_to_stdout_replaces_the_table():
    done = ferroq_cli("run", EXAMPLES / "bell.qasm", "--shots", 10, "--seed", 1, "--out", "-")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert sum(data["results"][0]["counts"].values()) == 10


def test_stdin_and_long_outcome_lists(tmp_path):
    done = ferroq_cli("run", "-", "--shots", 2000, "--seed", 5, "--max-outcomes", 3, input=
        'OPENQASM 2.0; include "qelib1.inc"; qreg q[4]; creg c[4]; h q; measure q -> c;')  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("stdin: 4 qubits, 2000 shots")
    assert "... 13 more outcomes" in done.stdout


@requires_qiskit
def test_openqasm_3_goes_through_qiskit(tmp_path):
    pytest.importorskip("qiskit_qasm3_import")
    f = tmp_path / "bell3.qasm"
    f.write_text(
        'OPENQASM 3.0;\ninclude "stdgates.inc";\nqubit[2] q;\nbit[2] c;\n'
        "h q[0];\ncx q[0], q[1];\nc = measure q;\n"
    )
    done = ferroq_cli("run", f, "--shots", 100, "--seed", 3, "--out", "-")
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)["results"][0]["counts"]
    assert set(counts) <= {"00", "11"} and sum(counts.values()) == 100
    bad = tmp_path / "bad3.qasm"
    bad.write_text("OPENQASM 3.0;\nqubit[1] q;\nnotagate q[0];\n")
    assert_one_line_error(ferroq_cli("run", bad), "bad3.qasm")


# ------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nfoo q[0];\n', [":4:1:", "unknown gate 'foo'"]),
        ("OPENQASM 2.0;\nqreg q[2];\nh q[0];\n", [":3:1:", "'h'"]),  # no include: h is undefined
        (
            'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nif (c==1) x q[0];\n',
            [":5:1:", "'if'"],
        ),
        ("OPENQASM 2.0;\nopaque magic q;\nqreg q[1];\nmagic q[0];\n", [":4:", "opaque"]),
        ('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncx q[0], q[0];\n', [":4:"]),
        ("OPENQASM 2.0;\nqreg q[2]\n", [":"]),
    ],
    ids=["unknown-gate", "no-include", "if", "opaque", "repeated-qubit", "missing-semicolon"],
)
def test_bad_qasm_gives_one_line_with_line_and_column(tmp_path, text, fragments):
    f = tmp_path / "bad.qasm"
    f.write_text(text)
    done = ferroq_cli("run", f)
    assert_one_line_error(done, "bad.qasm:", *fragments)
    assert done.stdout == ""


def test_missing_files_directories_and_bad_options(tmp_path):
    assert_one_line_error(ferroq_cli("run", tmp_path / "nope.qasm"), "nope.qasm: no such file")
    assert_one_line_error(ferroq_cli("run", tmp_path), "is a directory")
    binary = tmp_path / "binary.qasm"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert_one_line_error(ferroq_cli("run", binary), "binary.qasm")
    bell = EXAMPLES / "bell.qasm"
    assert_one_line_error(ferroq_cli("run", bell, "--shots", 0), "--shots", "at least 1")
    assert_one_line_error(ferroq_cli("run", bell, "--shots", "many"), "--shots")
    assert_one_line_error(ferroq_cli("run", bell, "--precision", "quad"), "--precision")
    assert_one_line_error(ferroq_cli("run", bell, "--seed", -1), "--seed")
    assert_one_line_error(ferroq_cli("run"), "FILE")
    assert_one_line_error(ferroq_cli("frobnicate"), "frobnicate")
    unwritable = tmp_path / "no" / "such" / "dir" / "out.json"
    assert_one_line_error(ferroq_cli("run", bell, "--out", unwritable, "-q"), "cannot write", status=2)


def test_a_state_too_large_is_refused_in_one_line(tmp_path):
    f = tmp_path / "wide.qasm"
    f.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[60];\nh q[0];\n')
    assert_one_line_error(ferroq_cli("run", f), "60")


def test_timeout_cancels_the_job(tmp_path):
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 400))
    done = ferroq_cli("run", f, "--timeout", 0.2, "-q")
    assert_one_line_error(done, "did not finish in 0.2 s", status=1)


def test_ctrl_c_cancels_and_exits_130(tmp_path):
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 2000))
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroq", "run", str(f), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env_without_store(),
    )
    time.sleep(2.0)  # parsed and running
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 5
    assert proc.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err


# ------------------------------------------------------------ progress
def test_progress_bar_is_drawn_on_a_terminal_and_ends_with_the_job(tmp_path):
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 250))
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroq", "run", str(f), "--shots", "10"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env_without_store(),
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    text = seen.decode()
    assert "\r[" in text and "%" in text and "1 circuit" in text
    assert "100.0%" in text and "DONE" in text  # the last redraw shows the end
    assert b"long: 20 qubits" in out


def test_quiet_and_non_terminal_runs_draw_nothing(tmp_path):
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 150))
    done = ferroq_cli("run", f, "--shots", 10)
    assert done.returncode == 0 and done.stderr == ""


# ------------------------------------------------------------ store
def test_jobs_show_and_cancel_against_the_store(tmp_path):
    store = tmp_path / "jobs.sqlite"
    env = env_without_store(FERROQ_STORE=str(store))
    done = ferroq_cli(
        "run", EXAMPLES / "bell.qasm", "--seed", 1, "--name", "first", "--tag", "x", "-q", env=env
    )
    assert done.returncode == 0, done.stderr
    done = ferroq_cli("run", EXAMPLES / "ghz5.qasm", "--seed", 2, "--store", store, "-q")
    assert done.returncode == 0, done.stderr

    listed = ferroq_cli("jobs", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [r["status"] for r in rows] == ["DONE", "DONE"]
    assert {r["name"] for r in rows} == {"first", None}
    first = next(r for r in rows if r["name"] == "first")
    table = ferroq_cli("jobs", "--store", store)
    assert first["job_id"] in table.stdout and "first" in table.stdout
    filtered = json.loads(ferroq_cli("jobs", "--json", "--tag", "x", "--since", "1h", env=env).stdout)
    assert [r["job_id"] for r in filtered] == [first["job_id"]]
    assert json.loads(ferroq_cli("jobs", "--json", "--status", "ERROR", env=env).stdout) == []
    assert_one_line_error(ferroq_cli("jobs", "--since", "yesterday-ish", env=env), "--since")
    assert_one_line_error(ferroq_cli("jobs", "--status", "SLEEPING", env=env), "SLEEPING")

    shown = ferroq_cli("show", first["job_id"][:8], env=env)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith(f"job {first['job_id']}  DONE") and "bell: 2 qubits" in shown.stdout
    data = json.loads(ferroq_cli("show", first["job_id"], "--json", env=env).stdout)
    assert data["results"][0]["name"] == "bell" and sum(data["results"][0]["counts"].values()) == 1024
    assert_one_line_error(ferroq_cli("show", "zzzz", env=env), "no job zzzz")
    assert_one_line_error(ferroq_cli("show", "", env=env), "several")
    assert_one_line_error(ferroq_cli("cancel", first["job_id"], env=env), "already ended (DONE)", status=1)
    assert_one_line_error(ferroq_cli("jobs", env=env_without_store()), "no job store")


def test_cancel_reaches_a_job_running_in_another_process(tmp_path):
    store = tmp_path / "jobs.sqlite"
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 3000))
    env = env_without_store(FERROQ_STORE=str(store))
    runner = subprocess.Popen(
        [sys.executable, "-m", "ferroq", "run", str(f), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        job_id = None
        while job_id is None:
            assert time.monotonic() < deadline
            rows = json.loads(ferroq_cli("jobs", "--json", env=env).stdout or "[]")
            running = [r for r in rows if r["status"] == "RUNNING"]
            job_id = running[0]["job_id"] if running else None
            time.sleep(0.1)
        done = ferroq_cli("cancel", job_id, env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"cancelled job {job_id}"
        _out, err = runner.communicate(timeout=30)
        assert runner.returncode == 1 and "was cancelled" in err and "Traceback" not in err
        assert json.loads(ferroq_cli("show", job_id, "--json", env=env).stdout)["status"] == "CANCELLED"
    finally:
        runner.kill()
        runner.wait()


# ------------------------------------------------------------ the rest
def test_version_and_help():
    done = ferroq_cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == f"ferroq {ferroq.__version__}"
    done = ferroq_cli("--help")
    assert done.returncode == 0
    for command in ("run", "jobs", "show", "cancel", "bench"):
        assert command in done.stdout


def test_the_version_is_the_installed_distributions_and_the_crates():
    """One version everywhere: the package metadata pip installed, ``ferroq.__version__``
    (from the extension) and the workspace's Cargo.toml."""
    import importlib.metadata
    import re

    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?(a|b|rc|dev)\d*)?", ferroq.__version__), ferroq.__version__
    assert importlib.metadata.version("ferroq") == ferroq.__version__
    cargo = pathlib.Path(__file__).resolve().parent.parent / "Cargo.toml"
    if cargo.exists():  # a source checkout
        (declared,) = re.findall(r'(?m)^version = "([^"]+)"', cargo.read_text())
        assert declared == ferroq.__version__


def test_the_console_script_is_installed():
    script = pathlib.Path(sys.executable).parent / "ferroq"
    if not script.exists():
        pytest.skip("ferroq is not installed as a console script in this environment")
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("ferroq ")


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "counts.png"
    done = ferroq_cli("run", EXAMPLES / "bell.qasm", EXAMPLES / "ghz5.qasm", "--seed", 1, "--plot", png, "-q")
    assert done.returncode == 0, done.stderr
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 5000


def test_bench_runs_quickly_without_peers(tmp_path):
    out = tmp_path / "bench.json"
    done = ferroq_cli("bench", "--quick", "--qubits", 10, "--reps", 1, "--peers", "", "--out", out, "-q")
    assert done.returncode == 0, done.stderr
    assert "ferroq" in done.stdout
    assert json.loads(out.read_text())
    assert_one_line_error(ferroq_cli("bench", "--peers", "nosuchpeer", "-q"), "nosuchpeer")


def test_plot_of_circuits_without_clbits_is_one_line(tmp_path):
    f = tmp_path / "noclbits.qasm"
    f.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n')
    assert_one_line_error(ferroq_cli("run", f, "--plot", tmp_path / "x.png", "-q"), "--plot", "empty")
