"""The ``ferroq`` command line (also ``python -m ferroq``).

Subcommands:

* ``ferroq run FILE.qasm [FILE ...]``: runs OpenQASM 2 files (OpenQASM 3 through
  qiskit's importer, when installed) as one batch job and prints their counts;
  ``--out`` writes JSON, ``--plot`` a histogram.
* ``ferroq jobs``, ``ferroq show JOB_ID``, ``ferroq cancel JOB_ID``: the job store
  (``--store PATH`` or ``FERROQ_STORE``). A job id may be shortened to any
  unique prefix.
* ``ferroq bench``: a short side-by-side benchmark against the installed peers.

Errors print one line, ``ferroq: error: ...``, and exit with status 2 for bad
input (a missing file, a parse error with its line and column, an unsupported
instruction, a bad option, an output path that cannot be written, a job store
that cannot be read, or written where a command writes), 1 when a job fails or
is cancelled, and 130 on Ctrl-C; set ``FERROQ_DEBUG=1`` for the traceback. Paths
given to ``--out`` and ``--plot`` are checked before the job runs. Output to a
pipe closed early (``ferroq jobs | head -1``) ends the command quietly, with
status 0.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import ferroq
from ferroq import _store
from ferroq._circuit import Circuit
from ferroq._job import JOB_FINAL_STATES, Job, JobStatus
from ferroq._progress import TextProgressBar
from ferroq._result import Result
from ferroq.exceptions import FerroqError, JobCancelledError, JobError, QasmError

__all__ = ["main"]

EXIT_OK, EXIT_JOB_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130
#: The largest count an option takes (the engine's counts are 64-bit).
_MAX_COUNT = 2**63 - 1


class CliError(Exception):
    """A failure to report as one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_BAD_INPUT) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------ loading
def load_circuit(path: str) -> Circuit:
    """The circuit in OpenQASM file ``path`` (``-``: standard input), named after
    the file. OpenQASM 3 goes through qiskit's importer."""
    # A file name need not be UTF-8; the circuit's name must be text.
    name = "stdin" if path == "-" else os.fsencode(Path(path).stem).decode("utf-8", "replace")
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a directory, not an OpenQASM file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"{path}: cannot read: {err}") from None
    version = ferroq.qasm2.version(text)
    if version is not None and version.split(".")[0] == "3":
        circuit = _load_qasm3(path, text)
    else:
        try:
            circuit = ferroq.qasm2.loads(text)
        except QasmError as err:
            raise CliError(f"{path}:{err.line}:{err.column}: {_without_position(str(err))}") from None
    circuit.name = name
    return circuit


def _without_position(message: str) -> str:
    return re.sub(r"^line \d+, column \d+: ", "", message)


def _load_qasm3(path: str, text: str) -> Circuit:
    try:
        from qiskit import qasm3

        from ferroq.qiskit import to_ferroq
    except ImportError:
        raise CliError(
            f'{path}: OpenQASM 3 needs qiskit and its importer: pip install "ferroq[qiskit]"'
        ) from None
    try:
        quantum_circuit = qasm3.loads(text)
    except ImportError as err:  # qiskit without qiskit_qasm3_import
        raise CliError(
            f'{path}: OpenQASM 3 needs {err.name or "qiskit_qasm3_import"}: pip install "ferroq[qiskit]"'
        ) from None
    except Exception as err:  # the importer's own error types vary between versions
        raise CliError(f"{path}: {_one_line(str(err))}") from None
    try:
        return to_ferroq(quantum_circuit)
    except (FerroqError, ValueError, TypeError) as err:
        raise CliError(f"{path}: {_one_line(str(err))}") from None


def _one_line(message: str) -> str:
    return " ".join(message.split())


# ------------------------------------------------------------------ output
def _table(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line.rstrip(), file=out)
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip(), file=out)


def _seconds(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.0f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def print_counts(result: Result, out: TextIO, max_outcomes: int) -> None:
    """A block per circuit: its header line, then its most frequent outcomes."""
    for i, e in enumerate(result.results):
        if i:
            print(file=out)
        print(
            f"{e.name}: {e.num_qubits} qubits, {e.shots} shots, seed {e.seed}, {_seconds(e.time_taken)}",
            file=out,
        )
        counts = e.counts()
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        shown = ranked[:max_outcomes]
        rows = [[k or "(no clbits)", str(v), f"{100 * v / max(1, e.shots):.2f}%"] for k, v in shown]
        _table(rows, ["outcome", "count", "share"], out)
        if len(ranked) > len(shown):
            rest = sum(v for _, v in ranked[len(shown) :])
            print(f"... {len(ranked) - len(shown)} more outcomes ({rest} shots)", file=out)


def result_json(job: Job, result: Result, files: Sequence[str], statevector: bool) -> dict[str, Any]:
    """What ``--out`` writes: the job's metadata and every circuit's data."""
    experiments = []
    for path, e in zip(files, result.results, strict=True):
        item: dict[str, Any] = {
            "file": path,
            "name": e.name,
            "num_qubits": e.num_qubits,
            "num_clbits": e.num_clbits,
            "shots": e.shots,
            "seed": e.seed,
            "time_taken": e.time_taken,
            "counts": e.counts(),
        }
        memory = e.memory()
        if memory is not None:
            item["memory"] = memory
        if statevector:
            state = e.statevector()
            if state is not None:
                item["statevector"] = [[float(z.real), float(z.imag)] for z in state.tolist()]
        experiments.append(item)
    return {
        "ferroq_version": ferroq.__version__,
        "job_id": job.job_id(),
        "name": job.name(),
        "tags": job.tags(),
        "status": job.status().name,
        "seed": result.seed,
        "time_taken": result.time_taken,
        "time_per_step": {k: v.isoformat() for k, v in job.time_per_step().items()},
        "options": {k: v for k, v in job.backend_options().items() if _is_json(v)},
        "results": experiments,
    }


def _is_json(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _write_json(data: Any, path: str) -> None:
    if path == "-":  # (a closed pipe here ends the command quietly: see main)
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
    except OSError as err:
        raise CliError(f"{path}: cannot write: {err.strerror or err}") from None


# ------------------------------------------------------------------ commands
def cmd_run(args: argparse.Namespace) -> int:
    # An option acts or is refused: these only show in --out, or in a store.
    for flag, given in (("--memory", args.memory), ("--statevector", args.statevector)):
        if given and args.out is None:
            raise CliError(f"{flag} keeps data only --out writes: add --out FILE (or --out -)")
    kept = args.out is not None or args.store is not None or _store.default_store() is not None
    if (args.name is not None or args.tag) and not kept:
        raise CliError(
            f"--name and --tag are kept in a job store or --out: add --store PATH (or set "
            f"{_store.ENV_VAR}) or --out FILE"
        )
    circuits = [load_circuit(path) for path in args.files]
    # What is written after the job is checked before it runs.
    if args.out is not None and args.out != "-":
        _check_writable(args.out)
    if args.plot is not None:
        _check_plot(args.plot, circuits)
    options: dict[str, Any] = {
        "shots": args.shots,
        "seed": args.seed,
        "memory": args.memory,
        "statevector": args.statevector,
        "precision": args.precision,
    }
    if args.threads is not None:
        options["max_parallel_threads"] = args.threads
    if args.store is not None:
        options["store"] = args.store
    if not args.quiet:
        options["callback"] = TextProgressBar(sys.stderr)
    try:
        job = ferroq.Simulator().run(circuits, name=args.name, tags=args.tag or [], **options)
    except (FerroqError, ValueError, TypeError, OverflowError) as err:
        # Refused before it ran: the circuits, the options or the store.
        raise CliError(_one_line(str(err))) from None
    assert isinstance(job, Job)
    try:
        result = job.result(timeout=args.timeout)
    except KeyboardInterrupt:
        job.cancel()
        raise
    except JobCancelledError as err:
        raise CliError(f"job {job.job_id()} was cancelled: {err}", EXIT_JOB_FAILED) from None
    except ferroq.JobTimeoutError:
        job.cancel()
        raise CliError(
            f"job {job.job_id()} did not finish in {args.timeout} s: cancelled", EXIT_JOB_FAILED
        ) from None
    except FerroqError as err:
        raise CliError(f"job {job.job_id()} failed: {err}", EXIT_JOB_FAILED) from None
    ferroq.wait_for_progress(job, timeout=5)  # the bar's last line before the table
    # Files first: standard output may be a pipe its reader has closed.
    if args.out is not None and args.out != "-":
        _write_json(result_json(job, result, args.files, args.statevector), args.out)
    if args.plot is not None:
        _plot(result, args.plot)
    if args.out == "-":
        _write_json(result_json(job, result, args.files, args.statevector), "-")
    else:
        print_counts(result, sys.stdout, args.max_outcomes)
        n = len(result)
        print(
            f"\njob {job.job_id()}: {n} circuit{'s' if n != 1 else ''}, run seed {result.seed}, "
            f"{_seconds(_elapsed(job))} from submission to result",
            file=sys.stdout,
        )
    return EXIT_OK


def _check_writable(path: str) -> None:
    """Raises :class:`CliError` (bad input) where a file cannot be written at ``path``:
    a directory, a missing or unwritable directory, or an unwritable file."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        why = "is a directory"
    elif not parent.exists():
        why = f"no such directory {str(parent)!r}"
    elif not parent.is_dir():
        why = f"{str(parent)!r} is not a directory"
    elif not os.access(target if target.exists() else parent, os.W_OK):
        why = "permission denied"
    else:
        return
    raise CliError(f"{path}: cannot write: {why}")


def _check_plot(path: str, circuits: Sequence[Circuit]) -> None:
    """Raises :class:`CliError` (bad input) where ``--plot`` could not draw the
    counts of ``circuits`` to ``path``: no matplotlib, a file format it does not
    write, an unwritable path, or a circuit without classical bits (no counts)."""
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise CliError("--plot needs matplotlib: pip install 'ferroq[plot]'") from None
    extension = os.path.splitext(path)[1][1:].lower()
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension and extension not in formats:
        raise CliError(
            f"--plot {path}: unknown image format {extension!r} (known: {', '.join(sorted(formats))})"
        )
    _check_writable(path)
    empty = [c.name or f"circuit {i}" for i, c in enumerate(circuits) if c.num_clbits == 0]
    if empty:
        raise CliError(
            f"--plot: the counts of {', '.join(empty[:3])}{', ...' if len(empty) > 3 else ''} are empty "
            "(a circuit without classical bits has no counts): nothing to plot"
        )


def _elapsed(job: Job) -> float:
    times = [t.timestamp() for t in job.time_per_step().values()]
    return max(times) - min(times) if times else 0.0


def _plot(result: Result, path: str) -> None:
    try:
        from ferroq._plot import plot_histogram
    except ImportError as err:  # pragma: no cover - the module itself has no hard imports
        raise CliError(str(err)) from None
    counts = [e.counts() for e in result.results]
    names = [e.name or f"circuit {i}" for i, e in enumerate(result.results)]
    try:
        plot_histogram(
            counts if len(counts) > 1 else counts[0],
            legend=names if len(counts) > 1 else None,
            title=", ".join(names) if len(names) <= 3 else f"{len(names)} circuits",
            filename=path,
        )
    except (ImportError, ValueError) as err:
        raise CliError(f"--plot: {err}") from None
    except OSError as err:
        raise CliError(f"{path}: cannot write: {err.strerror or err}") from None


def _store_path(args: argparse.Namespace) -> str:
    path = args.store or _store.default_store()
    if path is None:
        raise CliError(f"no job store: pass --store PATH or set {_store.ENV_VAR}")
    return str(path)


def _find(args: argparse.Namespace) -> _store.StoredJob:
    return _store.retrieve_job_by_prefix(args.job_id, store=_store_path(args))


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """A job store that cannot be read (or, by a command that writes, written) is
    bad input: its :class:`JobError` exits with status 2. The store's warnings
    (a damaged row, skipped) print as ``ferroq: warning: ...`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except JobError as err:
            raise CliError(_one_line(str(err))) from None
        finally:
            for warning in caught:
                print(f"ferroq: warning: {_one_line(str(warning.message))}", file=sys.stderr)


def _when(posix: float | None) -> str:
    if posix is None:
        return "-"
    return datetime.datetime.fromtimestamp(posix).strftime("%Y-%m-%d %H:%M:%S")


def _duration(job: _store.StoredJob) -> float | None:
    steps = job.time_per_step()
    if not steps:
        return None
    times = [t.timestamp() for t in steps.values()]
    return max(times) - min(times) if job.status() in JOB_FINAL_STATES else None


def _summary(job: _store.StoredJob) -> dict[str, Any]:
    duration = _duration(job)
    return {
        "job_id": job.job_id(),
        "name": job.name(),
        "tags": job.tags(),
        "status": job.status().name,
        "kind": job.kind,
        "circuits": len(job.circuits()),
        "created": job.creation_date().isoformat(),
        "duration": duration,
        "owner": job.owner,
    }


def cmd_jobs(args: argparse.Namespace) -> int:
    with _store_errors():
        return _list_jobs(args)


def _list_jobs(args: argparse.Namespace) -> int:
    path = _store_path(args)
    since = None
    if args.since is not None:
        since = _parse_since(args.since)
    try:
        found = ferroq.jobs(
            args.limit, status=args.status, tags=args.tag, name=args.name, since=since, store=path
        )
    except (ValueError, TypeError) as err:
        raise CliError(str(err)) from None
    if args.json:
        _write_json([_summary(j) for j in found], "-")
        return EXIT_OK
    if not found:
        print("no jobs", file=sys.stderr)
        return EXIT_OK
    rows = []
    for j in found:
        duration = _duration(j)
        rows.append(
            [
                j.job_id(),
                j.name() or "",
                j.status().name,
                str(len(j.circuits())),
                j.creation_date().strftime("%Y-%m-%d %H:%M:%S"),
                "" if duration is None else _seconds(duration),
                ",".join(j.tags()),
            ]
        )
    _table(rows, ["job id", "name", "status", "circuits", "created", "took", "tags"], sys.stdout)
    return EXIT_OK


def _parse_since(text: str) -> datetime.datetime:
    relative = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([smhd])", text.strip())
    if relative is not None:
        unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[relative.group(2)]
        return datetime.datetime.now().astimezone() - datetime.timedelta(
            seconds=float(relative.group(1)) * unit
        )
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--since: {text!r} is neither an ISO date/time nor an age such as 30m, 2h, 7d"
        ) from None


def cmd_show(args: argparse.Namespace) -> int:
    with _store_errors():
        return _show(args)


def _show(args: argparse.Namespace) -> int:
    job = _find(args)
    status = job.status()
    result: Result | None = None
    if status is JobStatus.DONE:
        try:
            result = job.result(timeout=0)
        except FerroqError as err:
            raise CliError(str(err), EXIT_JOB_FAILED) from None
    if args.json:
        data = _summary(job)
        data["time_per_step"] = {k: v.isoformat() for k, v in job.time_per_step().items()}
        data["options"] = job.backend_options()
        data["header"] = job.header()
        data["error"] = job.error_message()
        if result is not None:
            data["results"] = [
                {"name": e.name, "shots": e.shots, "seed": e.seed, "counts": e.counts()}
                for e in result.results
            ]
        _write_json(data, "-")
        return EXIT_OK
    print(f"job {job.job_id()}  {status.name}")
    fields: list[tuple[str, str]] = []
    if job.name():
        fields.append(("name", str(job.name())))
    if job.tags():
        fields.append(("tags", ", ".join(job.tags())))
    fields.append(("owner", f"pid {job.owner['pid']} on {job.owner['hostname']}"))
    fields.append(("circuits", str(len(job.circuits()))))
    for step, when in job.time_per_step().items():
        fields.append((step.lower(), when.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]))
    options = {k: v for k, v in job.backend_options().items() if v is not None}
    fields.append(("options", ", ".join(f"{k}={v}" for k, v in sorted(options.items()))))
    if status in (JobStatus.ERROR, JobStatus.CANCELLED):
        fields.append(("error", str(job.error_message())))
    width = max(len(label) for label, _ in fields) + 2
    for label, value in fields:
        print(f"{label:<{width}}{value}")
    if result is not None:
        print()
        print_counts(result, sys.stdout, args.max_outcomes)
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    with _store_errors():
        return _cancel(args)


def _cancel(args: argparse.Namespace) -> int:
    job = _find(args)
    status = job.status()
    if status in JOB_FINAL_STATES:
        raise CliError(f"job {job.job_id()} has already ended ({status.name})", EXIT_JOB_FAILED)
    if job.cancel():
        print(f"cancelled job {job.job_id()}")
        return EXIT_OK
    raise CliError(f"job {job.job_id()} was not cancelled: it is {job.status().name}", EXIT_JOB_FAILED)


def cmd_bench(args: argparse.Namespace) -> int:
    from ferroq._bench import run_bench

    peers = None if args.peers is None else [p for p in args.peers.split(",") if p]
    if args.out is not None and args.out != "-":
        _check_writable(args.out)
    try:
        report = run_bench(
            quick=args.quick,
            qubits=args.qubits,
            reps=args.reps,
            peers=peers,
            threads=args.threads,
            out=sys.stdout,
            progress=None if args.quiet else _bench_progress,
        )
    except ValueError as err:
        raise CliError(str(err)) from None
    if args.out is not None:
        _write_json(report, args.out)
    return EXIT_OK


def _bench_progress(message: str) -> None:
    if sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ parsing
def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    if value > _MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most 2**63 - 1, got {text}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**64:
        raise argparse.ArgumentTypeError(f"must be in [0, 2**64), got {value}")
    return value


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ferroq",
        description="Run OpenQASM circuits on ferroq's statevector simulator and manage stored jobs.",
    )
    parser.add_argument("--version", action="version", version=f"ferroq {ferroq.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser("run", help="run OpenQASM files as one batch job and print their counts")
    run.add_argument(
        "files", nargs="+", metavar="FILE", help="OpenQASM 2 (or 3, with qiskit) files; - reads stdin"
    )
    run.add_argument("--shots", type=_positive, default=1024, help="shots per circuit (default 1024)")
    run.add_argument(
        "--seed", type=_seed, default=None, help="run seed (default: drawn; printed per circuit)"
    )
    run.add_argument("--memory", action="store_true", help="keep every shot's outcome (in --out)")
    run.add_argument("--statevector", action="store_true", help="keep each final state (in --out)")
    run.add_argument("--threads", type=_positive, default=None, help="worker threads (default: all CPUs)")
    run.add_argument("--precision", choices=("double", "single"), default="double")
    run.add_argument(
        "--out", metavar="JSON", help="write results as JSON to this file (- for stdout, no table)"
    )
    run.add_argument("--plot", metavar="PNG", help="draw the counts as a histogram (needs ferroq[plot])")
    run.add_argument("--name", help="job name (kept in the job store)")
    run.add_argument("--tag", action="append", help="job tag, repeatable")
    run.add_argument(
        "--store", metavar="PATH", help="record the job in this job store (default: FERROQ_STORE)"
    )
    run.add_argument(
        "--timeout", type=_timeout, default=None, help="give up (and cancel) after this many seconds"
    )
    run.add_argument(
        "--max-outcomes", type=_positive, default=16, help="outcomes listed per circuit (default 16)"
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=cmd_run)

    def store_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--store", metavar="PATH", help="the job store (default: FERROQ_STORE)")

    jobs = sub.add_parser("jobs", help="list the jobs of the job store, newest first")
    store_option(jobs)
    jobs.add_argument("--limit", type=_positive, default=20, help="at most this many (default 20)")
    jobs.add_argument("--status", action="append", help="only jobs in this status (repeatable)")
    jobs.add_argument("--tag", action="append", help="only jobs with this tag (repeatable: all of them)")
    jobs.add_argument("--name", help="only jobs with this name")
    jobs.add_argument("--since", help="only jobs created since an ISO date/time or an age (30m, 2h, 7d)")
    jobs.add_argument("--json", action="store_true", help="print JSON")
    jobs.set_defaults(handler=cmd_jobs)

    show = sub.add_parser("show", help="show one stored job: status, steps, options, counts or error")
    show.add_argument("job_id", metavar="JOB_ID", help="a job id or a unique prefix of one")
    store_option(show)
    show.add_argument("--json", action="store_true", help="print JSON")
    show.add_argument(
        "--max-outcomes", type=_positive, default=16, help="outcomes listed per circuit (default 16)"
    )
    show.set_defaults(handler=cmd_show)

    cancel = sub.add_parser("cancel", help="cancel a stored job that another process is running")
    cancel.add_argument("job_id", metavar="JOB_ID", help="a job id or a unique prefix of one")
    store_option(cancel)
    cancel.set_defaults(handler=cmd_cancel)

    bench = sub.add_parser("bench", help="a short benchmark against the installed peers (Aer, qulacs, qsim)")
    bench.add_argument("--quick", action="store_true", help="fewer repetitions and smaller batches")
    bench.add_argument(
        "--qubits", type=_positive, default=20, help="width of the large-state workloads (default 20)"
    )
    bench.add_argument("--reps", type=_positive, default=None, help="timed repetitions per contender")
    bench.add_argument(
        "--peers", help="comma-separated subset of aer,qulacs,qsim (default: all installed; '' for none)"
    )
    bench.add_argument("--threads", type=_positive, default=None, help="threads for every contender")
    bench.add_argument("--out", metavar="JSON", help="also write the report as JSON")
    bench.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    started = time.monotonic()
    try:
        args = build_parser().parse_args(argv)
        status: int = args.handler(args)
    except SystemExit:  # argparse's --help, --version and usage errors
        _flush_stdout()
        raise
    except CliError as err:
        _error(str(err))
        status = err.status
    except KeyboardInterrupt:
        _error(f"interrupted after {time.monotonic() - started:.1f} s")
        status = EXIT_INTERRUPTED
    except BrokenPipeError:  # `ferroq jobs | head -1`: the reader has what it wanted
        _silence_stdout()
        return EXIT_OK
    except Exception as err:
        if os.environ.get("FERROQ_DEBUG"):
            raise
        _error(f"{type(err).__name__}: {_one_line(str(err))} (set FERROQ_DEBUG=1 for the traceback)")
        status = EXIT_JOB_FAILED
    _flush_stdout()
    return status


def _flush_stdout() -> None:
    """Flushes standard output here, not at the interpreter's exit, where a pipe
    whose reader has gone would print a ``BrokenPipeError``; such a pipe is quietly
    given up (the status stands)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()


def _silence_stdout() -> None:
    """Points standard output at the null device, so that the interpreter's own
    flush at exit finds no closed pipe (and prints no ``BrokenPipeError``)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _error(message: str) -> None:
    with contextlib.suppress(OSError):  # standard error too may be a closed pipe
        print(f"ferroq: error: {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
