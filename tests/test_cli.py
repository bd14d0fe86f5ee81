"""The ``ferroq`` command line, driven as a user drives it: in a subprocess."""

from __future__ import annotations

import importlib.util
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
from hypothesis import given, settings
from hypothesis import strategies as st

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


#: Checking an image path's format needs matplotlib (``ferroq[plot]``); without
#: it ``--plot`` is refused as a whole, which other tests check.
NEEDS_MATPLOTLIB = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib is not installed"
)


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


@pytest.mark.parametrize(
    ("flags", "needs"),
    [
        (["--memory"], "--out"),
        (["--statevector"], "--out"),
        (["--name", "x"], "--store"),
        (["--tag", "t"], "--out"),
    ],
)
def test_options_that_would_be_ignored_are_refused(flags, needs):
    """An option acts or is refused: --memory and --statevector only show in --out,
    --name and --tag only in a store or --out."""
    done = ferroq_cli("run", EXAMPLES / "bell.qasm", *flags, "-q")
    assert done.returncode == 2, done.stderr
    assert needs in done.stderr and done.stderr.count("\n") == 1


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
            'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\ncreg c[1];\nif (c==2) x q[0];\n',
            [":5:8:", "does not fit"],
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


@NEEDS_MATPLOTLIB
def test_plot_of_circuits_without_clbits_is_one_line(tmp_path):
    f = tmp_path / "noclbits.qasm"
    f.write_text('OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[1];\nh q[0];\n')
    assert_one_line_error(ferroq_cli("run", f, "--plot", tmp_path / "x.png", "-q"), "--plot", "empty")


# ------------------------------------------------------------ exit statuses
def in_process(*args):
    """Runs ``main(ARGS)`` here (for the many cases of a table or hypothesis);
    returns ``(status, stdout, stderr)``."""
    import contextlib
    import io

    from ferroq.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main([str(a) for a in args])
        except SystemExit as done:  # argparse's own exits
            status = done.code
    return status, out.getvalue(), err.getvalue()


def assert_exit(done, status, *fragments):
    code, out, err = done
    assert code == status, (code, out, err)
    if status != 0:
        lines = err.strip().splitlines()
        assert lines and "error:" in lines[0] and "Traceback" not in err, err
        for fragment in fragments:
            assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """A store with one finished job, a file that is not a database, a directory."""
    root = tmp_path_factory.mktemp("stores")
    good = root / "jobs.sqlite"
    c = ferroq.qasm2.load(EXAMPLES / "bell.qasm")
    job = ferroq.Simulator(store=good, shots=10).run(c, name="done")
    job.result(timeout=60)
    ferroq.retrieve_job(job.job_id(), store=good).wait_for_final_state(timeout=30)
    garbage = root / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    newer = root / "newer.sqlite"
    import sqlite3

    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    folder = root / "folder.sqlite"
    folder.mkdir()
    return {"good": good, "garbage": garbage, "newer": newer, "folder": folder, "done": job.job_id()}


BELL_FILE = EXAMPLES / "bell.qasm"
ERROR_PATHS = [
    # (argv with {good} {garbage} {done} {tmp} placeholders, status, fragment of the message)
    (["run", "{tmp}/nope.qasm"], 2, "no such file"),
    (["run", BELL_FILE, "--shots", "0"], 2, "--shots"),
    (["run", BELL_FILE, "--shots", str(2**64)], 2, "--shots"),
    (["run", BELL_FILE, "--shots", "100000000000000000000000"], 2, "at most"),
    (["run", BELL_FILE, "--shots", str(2**63 - 1), "-q"], 2, "shots"),
    (["run", BELL_FILE, "--threads", str(2**63 - 1), "-q"], 2, "max_parallel_threads"),
    (["run", BELL_FILE, "--max-outcomes", str(2**70)], 2, "--max-outcomes"),
    (["run", BELL_FILE, "--seed", str(2**64)], 2, "--seed"),
    (["run", BELL_FILE, "--timeout", "nan"], 2, "--timeout"),
    (["run", BELL_FILE, "--out", "{tmp}", "-q"], 2, "is a directory"),
    (["run", BELL_FILE, "--out", "{tmp}/no/such/out.json", "-q"], 2, "cannot write"),
    (["run", BELL_FILE, "--out", "{garbage}/out.json", "-q"], 2, "not a directory"),
    pytest.param(
        ["run", BELL_FILE, "--plot", "{tmp}/counts.xyz", "-q"],
        2,
        "unknown image format 'xyz'",
        marks=NEEDS_MATPLOTLIB,
    ),
    pytest.param(
        ["run", BELL_FILE, "--plot", "{tmp}/no/such/counts.png", "-q"],
        2,
        "cannot write",
        marks=NEEDS_MATPLOTLIB,
    ),
    (["run", BELL_FILE, "--store", "{garbage}", "-q"], 2, "cannot open the job store"),
    (["run", BELL_FILE, "--store", "{folder}", "-q"], 2, "cannot open the job store"),
    (["run", BELL_FILE, "--store", "{good}", "--name", "\udcff", "-q"], 2, "name"),
    (["jobs"], 2, "no job store"),
    (["jobs", "--store", "{garbage}"], 2, "cannot open the job store"),
    (["jobs", "--store", "{newer}", "--json"], 2, "schema version 99"),
    (["jobs", "--store", "{folder}"], 2, "cannot open the job store"),
    (["jobs", "--store", "{good}", "--status", "SLEEPING"], 2, "SLEEPING"),
    (["jobs", "--store", "{good}", "--since", "soon"], 2, "--since"),
    (["jobs", "--store", "{good}", "--limit", str(2**64)], 2, "--limit"),
    (["show", "zzzz", "--store", "{good}"], 2, "no job zzzz"),
    (["show", "x", "--store", "{garbage}"], 2, "cannot open the job store"),
    (["show", "x", "--store", "{newer}"], 2, "schema version 99"),
    (["show", "x", "--store", "{tmp}/missing.sqlite"], 2, "no job store"),
    (["cancel", "x", "--store", "{garbage}"], 2, "cannot open the job store"),
    (["cancel", "{done}", "--store", "{good}"], 1, "already ended (DONE)"),
    (["bench", "--peers", "nosuchpeer", "-q"], 2, "nosuchpeer"),
    (["bench", "--out", "{tmp}/no/such/bench.json", "-q"], 2, "cannot write"),
    (["bench", "--qubits", str(2**64)], 2, "--qubits"),
    (["frobnicate"], 2, "frobnicate"),
]


@pytest.mark.parametrize(("argv", "status", "fragment"), ERROR_PATHS, ids=lambda v: str(v)[:40])
def test_every_error_path_exits_with_the_documented_status(stores, tmp_path, argv, status, fragment):
    """README: 2 for bad input (the store and the output paths included), 1 for
    a failed or cancelled job, in one line."""
    names = {k: str(v) for k, v in stores.items()} | {"tmp": str(tmp_path)}
    done = in_process(*[str(a).format(**names) for a in argv])
    assert_exit(done, status, fragment)


@settings(max_examples=30, deadline=None)
@given(
    option=st.sampled_from(["--shots", "--threads", "--max-outcomes"]),
    value=st.one_of(st.integers(min_value=2**63), st.integers(max_value=0)),
)
def test_counts_out_of_range_are_bad_input_naming_the_option(option, value):
    """Huge counts used to overflow in the engine's conversion and exit 1."""
    assert_exit(in_process("run", BELL_FILE, option, value, "-q"), 2, option)


def test_a_store_that_is_not_a_database_is_bad_input_for_every_command(tmp_path):
    """`ferroq jobs` used to exit 1 here while `ferroq show` exited 2."""
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    for args in (["jobs"], ["jobs", "--json"], ["show", "abc"], ["cancel", "abc"]):
        done = ferroq_cli(*args, "--store", garbage)
        assert_one_line_error(done, "cannot open the job store", str(garbage), status=2)
    done = ferroq_cli("run", EXAMPLES / "bell.qasm", "--store", garbage, "-q")
    assert_one_line_error(done, "cannot open the job store", status=2)


@pytest.mark.parametrize(
    "option",
    [
        ["--out", "{tmp}/missing/out.json"],
        ["--out", "{tmp}"],
        ["--plot", "{tmp}/missing/counts.png"],
        ["--plot", "{tmp}/counts.nosuchformat"],
        ["--plot", "{tmp}"],
    ],
    ids=["out-missing-dir", "out-directory", "plot-missing-dir", "plot-format", "plot-directory"],
)
def test_output_problems_are_found_before_the_job_runs(tmp_path, option):
    """They used to be found after the job ran (minutes, for a long one)."""
    if option[0] == "--plot":
        pytest.importorskip("matplotlib")
    store = tmp_path / "jobs.sqlite"
    f = tmp_path / "long.qasm"
    f.write_text(long_qasm(20, 2000))  # would take a while if it ran
    start = time.monotonic()
    args = [a.format(tmp=tmp_path) for a in option]
    done = ferroq_cli("run", f, *args, "--store", store, "-q")
    assert_one_line_error(done, status=2)
    assert not store.exists()  # no job was recorded: it never ran
    assert time.monotonic() - start < 30


PIPE_COMMANDS = [
    ["run", "{bell}", "--shots", "10", "-q"],
    ["run", "{bell}", "{ghz}", "--out", "-", "--memory", "-q"],
    ["jobs"],
    ["jobs", "--json"],
    ["show", "{done}"],
    ["--help"],
]


@pytest.mark.parametrize("buffered", [True, False], ids=["buffered", "unbuffered"])
@pytest.mark.parametrize("argv", PIPE_COMMANDS, ids=lambda a: " ".join(a)[:30])
def test_a_closed_standard_output_ends_quietly(stores, argv, buffered):
    """`ferroq run ... | head -c1`: the reader has gone; the command exits 0 without
    a BrokenPipeError (it used to print one from the interpreter's last flush and
    exit 120)."""
    names = {
        "bell": EXAMPLES / "bell.qasm",
        "ghz": EXAMPLES / "ghz5.qasm",
        "done": stores["done"],
    }
    env = env_without_store(FERROQ_STORE=str(stores["good"]))
    env.pop("PYTHONUNBUFFERED", None)  # as users run it: output buffered until the end
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"  # every write meets the closed pipe at once
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferroq", *[a.format(**names) for a in argv]],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    proc.stdout.close()  # as `head -c0` would: every write to standard output fails
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    assert err == b"", err.decode()


def test_a_damaged_row_is_skipped_with_a_warning_and_shown_as_an_error(tmp_path):
    import sqlite3

    store = tmp_path / "jobs.sqlite"
    env = env_without_store(FERROQ_STORE=str(store))
    for name in ("good", "bad"):
        assert ferroq_cli("run", EXAMPLES / "bell.qasm", "--name", name, "-q", env=env).returncode == 0
    rows = json.loads(ferroq_cli("jobs", "--json", env=env).stdout)
    bad = next(r["job_id"] for r in rows if r["name"] == "bad")
    conn = sqlite3.connect(store)
    with conn:
        conn.execute("UPDATE jobs SET name = CAST(? AS TEXT) WHERE job_id = ?", (b"\xff\xfe", bad))
    conn.close()
    listed = ferroq_cli("jobs", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "good" in listed.stdout and bad not in listed.stdout
    assert f"ferroq: warning: job {bad}: stored column 'name' is corrupted" in listed.stderr
    assert "Traceback" not in listed.stderr and "UserWarning" not in listed.stderr
    assert_one_line_error(ferroq_cli("show", bad, env=env), "stored column 'name' is corrupted", status=2)


def test_a_file_name_that_is_not_utf8_runs(tmp_path):
    f = tmp_path / os.fsdecode(b"bell-\xff.qasm")
    f.write_text(BELL)
    done = ferroq_cli("run", f, "--shots", 10, "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("bell-\ufffd: 2 qubits, 10 shots")


READ_ONLY_CLI = """
import contextlib, io, json, os, sys
import shutil  # (argparse imports it when it formats messages)
import ferroq, ferroq.cli
ferroq.Simulator(shots=1).run(ferroq.Circuit(1, 1).measure(0, 0)).result(timeout=60)
if os.geteuid() == 0:  # root ignores permissions: become nobody, whose store this is
    try:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
    except OSError as err:
        print(json.dumps({"skip": str(err)}))
        sys.exit(0)
if os.access(sys.argv[1], os.W_OK):
    print(json.dumps({"skip": "the store is writable here despite its permissions"}))
    sys.exit(0)
out = []
for argv in json.loads(sys.argv[2]):
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = ferroq.cli.main(argv)
        except SystemExit as done:
            status = done.code
    out.append([status, stdout.getvalue(), stderr.getvalue()])
print(json.dumps(out))
"""


def test_a_read_only_store_is_read_and_refuses_writes_in_one_line(tmp_path):
    """`ferroq jobs` and `show` used to fail on a store they could not write;
    writing commands now refuse it with status 2, naming the store, before any job runs."""
    import shutil
    import sqlite3
    import tempfile

    shared = pathlib.Path(tempfile.mkdtemp(prefix="ferroq-cli-"))
    try:
        shared.chmod(0o755)
        store = shared / "jobs.sqlite"
        env = env_without_store(FERROQ_STORE=str(store))
        for name in ("done", "elsewhere"):
            assert ferroq_cli("run", EXAMPLES / "bell.qasm", "--name", name, "-q", env=env).returncode == 0
        rows = {r["name"]: r["job_id"] for r in json.loads(ferroq_cli("jobs", "--json", env=env).stdout)}
        conn = sqlite3.connect(store)
        with conn:  # a job another host runs: only a cancel request could write
            conn.execute(
                "UPDATE jobs SET status='RUNNING', hostname='elsewhere' WHERE job_id=?", (rows["elsewhere"],)
            )
        conn.close()
        if os.geteuid() == 0:
            os.chown(store, 65534, 65534)
            os.chown(shared, 65534, 65534)
        store.chmod(0o444)
        shared.chmod(0o555)
        s = str(store)
        commands = [
            ["jobs", "--store", s],
            ["show", rows["done"], "--store", s],
            ["cancel", rows["elsewhere"], "--store", s],
            ["run", str(EXAMPLES / "bell.qasm"), "--store", s, "-q"],
            ["run", str(EXAMPLES / "bell.qasm"), "--out", str(shared / "out.json"), "-q"],
        ]
        done = subprocess.run(
            [sys.executable, "-c", READ_ONLY_CLI, s, json.dumps(commands)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env_without_store(HOME="/"),
            cwd="/",
        )
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout.strip().splitlines()[-1])
        if isinstance(out, dict):
            pytest.skip(out["skip"])
        (jobs, show, cancel, run, write) = out
        assert jobs[0] == 0 and rows["done"] in jobs[1] and "RUNNING" in jobs[1], jobs
        assert show[0] == 0 and show[1].startswith(f"job {rows['done']}  DONE"), show
        assert_exit(cancel, 2, s, "cancellation", "read-only")
        assert_exit(run, 2, s, "recording a job", "read-only")
        assert_exit(write, 2, "out.json", "cannot write: permission denied")
    finally:
        for p in [shared, *shared.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(shared, ignore_errors=True)
