"""A persistent job store: one embedded SQLite file that keeps every job run with
``Simulator(store=...)`` (or ``FERROQ_STORE``), so results outlive the process.

The file is opened in WAL mode with a busy timeout, one connection per thread and
process, and every write is one short statement: several processes on one machine
may write and read the same store at once (not over a network file system).

Schema (``PRAGMA user_version`` 2; version 1 stores are upgraded in place), one
table ``jobs``, one row per job or job set:
``job_id`` (primary key), ``kind`` (``job`` / ``jobset``), ``name``, ``tags``
(JSON list), ``status`` (a :class:`JobStatus` name), ``steps`` (JSON: state name ->
POSIX time), ``options`` and ``header`` and ``metadata`` (JSON; values JSON cannot
hold are stored as their ``repr``), ``circuits`` (the circuits' ``to_bytes`` forms,
each prefixed by its length as a little-endian u64, after a u64 count), ``result``
(ferroq-core's versioned result-batch bytes: the run seed, the experiments, and the
error of each circuit that failed; for ``DONE``, and for an ``ERROR`` batch that ran
some of its circuits), ``error_type`` / ``error_message`` (``ERROR`` / ``CANCELLED``),
``pid`` / ``hostname`` / ``pid_start`` (the owning process and its start marker),
``created`` / ``updated`` (POSIX times), ``cancel_requested`` (POSIX time of a
cancellation asked for by another process, which the owner acts on within about
half a second).

While a job runs, its owner process writes each status it reaches (with its time)
and checks for cancellation requests, from ferroq's progress thread.

A store this process may read but not write (a read-only file, or a directory
where SQLite cannot create its write-ahead log) is opened read-only: every read
works, an unfinished job of an ended process reads as ``ERROR`` without being
written, and every write raises :class:`JobError` naming the store and the
operation (as does any other failure of SQLite). A row whose text is not UTF-8,
or whose values have types their columns never hold, is reported as corrupted,
naming the column; it costs that row only.

The result column holds no pickle: a store's rows are read by decoders that
check every length and value (``EncodingError`` on anything else). Only stores
written by ferroq 0.1, whose result column was a pickle, are unpickled, and only
those rows: open such stores only if you trust them.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import functools
import json
import os
import pathlib
import pickle
import socket
import sqlite3
import struct
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from ferroq import _core, exceptions
from ferroq._circuit import Circuit
from ferroq._contract import JOB_FINAL_STATES, JobStatus, settle
from ferroq._progress import ProgressEvent, store_watcher, watch
from ferroq._record import JobRecord, check_name
from ferroq._result import Result
from ferroq.exceptions import JobCancelledError, JobError, OptionError, OptionTypeError

__all__ = ["StoredJob", "check_store", "jobs", "retrieve_job"]

SCHEMA_VERSION = 2
ENV_VAR = "FERROQ_STORE"
_BUSY_TIMEOUT_MS = 30_000
#: Seconds between an owner's checks for cancellation requests from other processes.
_CANCEL_POLL = 0.5
#: Seconds StoredJob.cancel waits for the owner process to act on its request.
_CANCEL_WAIT = 5.0
_FINAL_NAMES = tuple(s.name for s in JOB_FINAL_STATES)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    tags TEXT NOT NULL,
    status TEXT NOT NULL,
    steps TEXT NOT NULL,
    options TEXT NOT NULL,
    header TEXT NOT NULL,
    metadata TEXT NOT NULL,
    circuits BLOB NOT NULL,
    result BLOB,
    error_type TEXT,
    error_message TEXT,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    pid_start TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    cancel_requested REAL
);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""

# Every column but the result, which is read only when a result is asked for.
_COLUMNS = (
    "job_id, kind, name, tags, status, steps, options, header, metadata, circuits, "
    "error_type, error_message, pid, hostname, pid_start, created, updated"
)


def check_store(value: Any) -> str:
    """The store option as a path string: a non-empty ``str`` or ``os.PathLike``."""
    if not isinstance(value, (str, os.PathLike)):
        got = type(value).__name__
        raise OptionTypeError.about("store", f"must be str or os.PathLike or None, got {got}")
    path = os.fspath(value)
    if not isinstance(path, str):
        raise OptionTypeError.about("store", f"must be a text path, got {path!r}")
    if not path:
        raise OptionError.about("store", "must be a non-empty path")
    return path


def default_store() -> str | None:
    """``FERROQ_STORE`` if it is set and not empty."""
    return os.environ.get(ENV_VAR) or None


# ---------------------------------------------------------------- the process
def _process_start(pid: int) -> str | None:
    """A marker of when process ``pid`` started (Linux: its start time in clock
    ticks since boot), so that a reused pid is not taken for the owner; ``None``
    where the platform does not tell."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else None


def _alive(pid: int, start: str | None) -> bool:
    """Whether process ``pid`` of this host still runs and is the one that started at ``start``."""
    if pid == os.getpid():
        return start is None or start == _process_start(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    except OSError:
        return True  # cannot tell: never declare a live job dead
    if start is None:
        return True
    now = _process_start(pid)
    return now is None or now == start


def _ended_message(pid: int, hostname: str) -> str:
    return f"process {pid} on host {hostname} ended before the job finished"


# -------------------------------------------------------------- connections
_local = threading.local()
_init_lock = threading.Lock()


class _Connection(sqlite3.Connection):
    """A connection to a store that knows whether it may write: a store this
    process may only read (a read-only file, or a directory where SQLite cannot
    create its write-ahead-log files) is opened read-only, and every read works on
    it without the housekeeping writes (see :func:`_reap`)."""

    writable = True


class _Undecodable:
    """A TEXT value of a row that is not UTF-8 (a damaged row): read as this
    instead of failing the whole query, and reported as a corrupted column of
    its row only (:func:`_check_row`)."""

    __slots__ = ("raw",)

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def __str__(self) -> str:
        return self.raw.decode("utf-8", "backslashreplace")

    def __repr__(self) -> str:
        return f"<not UTF-8: {self.raw[:40]!r}>"


def _text(raw: bytes) -> str | _Undecodable:
    """The connections' text factory: strict UTF-8, else an :class:`_Undecodable`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(raw)


def _is_read_only_error(err: BaseException) -> bool:
    """Whether ``err`` says that the store cannot be written or opened for writing."""
    text = str(err).lower()
    return any(sign in text for sign in ("readonly", "read-only", "unable to open", "cannot open"))


def _failed(path: str, operation: str, err: BaseException) -> JobError:
    why = f"the store is read-only ({err})" if _is_read_only_error(err) else str(err)
    return JobError(f"job store {path!r}: {operation} failed: {why}")


@contextlib.contextmanager
def _guarded(path: str, operation: str) -> Iterator[None]:
    """Turns an ``sqlite3.Error`` into a :class:`JobError` naming the store and the operation."""
    try:
        yield
    except sqlite3.Error as err:
        raise _failed(path, operation, err) from err


def _connect(path: str, write: str | None = None) -> _Connection:
    """This thread's connection to the store at ``path``. ``write`` names the
    writing operation the connection is for (then a new store is created with its
    schema, and a read-only one raises :class:`JobError`); without it the store
    may be read-only."""
    conns: dict[str, _Connection] | None = getattr(_local, "conns", None)
    if conns is None or getattr(_local, "pid", None) != os.getpid():
        conns = _local.conns = {}
        _local.pid = os.getpid()
    conn = conns.get(path)
    if conn is not None and (write is None or conn.writable):
        return conn
    if conn is not None:  # read-only so far: its permissions may have changed since
        del conns[path]
        conn.close()
    conn = _open(path, write)
    conns[path] = conn
    if write is not None and not conn.writable:
        raise JobError(f"job store {path!r}: {write} failed: the store is read-only")
    return conn


def _open(path: str, write: str | None) -> _Connection:
    """A new connection to the store at ``path``: read-write where it can be
    written, else (for reads) read-only."""
    purpose = write or "reading"
    try:
        if write is not None:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        conn = sqlite3.connect(
            path, timeout=_BUSY_TIMEOUT_MS / 1000, isolation_level=None, factory=_Connection
        )
    except (sqlite3.Error, OSError) as err:
        raise JobError(f"cannot open the job store {path!r} for {purpose}: {err}") from err
    try:
        conn.text_factory = _text
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            version = _create_or_upgrade(conn)
        if version == SCHEMA_VERSION:
            conn.writable = _can_write(conn)
    except sqlite3.Error as err:
        conn.close()
        if write is not None and _is_read_only_error(err):
            raise JobError(f"job store {path!r}: {write} failed: the store is read-only ({err})") from err
        if write is not None or not _is_read_only_error(err):
            raise JobError(f"cannot open the job store {path!r} for {purpose}: {err}") from err
        conn, version = _open_read_only(path, err)
    # A store this process cannot write is read as it is: a version 1 store has
    # every column a read needs, and one without a schema yet has no jobs.
    if version != SCHEMA_VERSION and not (version < SCHEMA_VERSION and not conn.writable):
        conn.close()
        raise JobError(
            f"the job store {path!r} has schema version {version}; this ferroq reads version {SCHEMA_VERSION}"
        )
    return conn


def _can_write(conn: sqlite3.Connection) -> bool:
    """Whether the store takes writes: a statement that writes nothing but needs
    the right to (SQLite opens a file it cannot write read-only, silently)."""
    try:
        conn.execute("UPDATE jobs SET kind = kind WHERE 0")
    except sqlite3.OperationalError as err:
        if _is_read_only_error(err):
            return False
        raise
    return True


def _open_read_only(path: str, first: sqlite3.Error) -> tuple[_Connection, int]:
    """A read-only connection to a store this process cannot write, and its schema
    version: ``mode=ro``, or where SQLite cannot even create the write-ahead log's
    index there (a read-only directory), ``immutable=1``, which reads the database
    file alone. A store without a schema yet reads as one without jobs."""
    uri = pathlib.Path(os.path.abspath(path)).as_uri()
    for query in ("mode=ro", "immutable=1"):
        try:
            conn = sqlite3.connect(
                f"{uri}?{query}",
                uri=True,
                timeout=_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                factory=_Connection,
            )
        except sqlite3.Error:
            continue
        try:
            conn.text_factory = _text
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version == 0:  # an empty store nobody may initialise: no jobs
                conn.execute(_SCHEMA.split(";")[0].replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE"))
            conn.execute("SELECT count(*) FROM jobs").fetchone()
        except sqlite3.Error:
            conn.close()
            continue
        conn.writable = False
        wal = path + "-wal"
        if query == "immutable=1" and os.path.exists(wal) and os.path.getsize(wal) > 0:
            warnings.warn(
                f"the job store {path!r} is read-only and its write-ahead log cannot be read here: "
                "the jobs written since its last checkpoint are missing",
                UserWarning,
                stacklevel=4,
            )
        return conn, version
    raise JobError(f"cannot open the job store {path!r} for reading: {first}") from first


def _create_or_upgrade(conn: sqlite3.Connection) -> int:
    """Creates the schema in a new store, or upgrades a version 1 store, in one
    transaction (another process may be doing the same)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            version = SCHEMA_VERSION
        elif version == 1:
            conn.execute("ALTER TABLE jobs ADD COLUMN cancel_requested REAL")
            version = 2
        conn.execute(f"PRAGMA user_version = {version}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)


def open_store(path: str) -> None:
    """Opens (and creates) the store for writing now, so a bad path or a store
    that cannot be written raises before any job runs."""
    _connect(path, "recording a job")


# ------------------------------------------------------------------ writing
def _json(value: Any) -> str:
    """``value`` as JSON, whatever it holds: values JSON cannot hold are stored as
    their ``repr``, keys that are not strings as their ``str``, a container that
    holds itself as its ``repr``."""
    try:
        return json.dumps(value, default=repr, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        return json.dumps(_plain(value, set()), default=repr, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(f"<{type(value).__name__} that cannot be stored>")


def _plain(value: Any, active: set[int]) -> Any:
    """``value`` with string keys only and without cycles (for :func:`_json`)."""
    if not isinstance(value, (dict, list, tuple)):
        return value
    if id(value) in active:
        return f"<recursive {type(value).__name__}>"
    active.add(id(value))
    try:
        if isinstance(value, dict):
            return {k if isinstance(k, str) else str(k): _plain(v, active) for k, v in value.items()}
        return [_plain(v, active) for v in value]
    finally:
        active.discard(id(value))


def _encode_circuits(circuits: Sequence[Circuit]) -> bytes:
    parts = [struct.pack("<Q", len(circuits))]
    for c in circuits:
        data = c._native.to_bytes()
        parts += [struct.pack("<Q", len(data)), data]
    return b"".join(parts)


def _decode_circuits(blob: bytes) -> list[Circuit]:
    (count,), at = struct.unpack_from("<Q", blob, 0), 8
    circuits = []
    for _ in range(count):
        (size,) = struct.unpack_from("<Q", blob, at)
        at += 8
        if at + size > len(blob):
            raise ValueError("truncated circuit data")
        circuits.append(Circuit._wrap(_core.Circuit.from_bytes(blob[at : at + size])))
        at += size
    if at != len(blob):
        raise ValueError("trailing bytes after the circuits")
    return circuits


class Recordable(Protocol):
    """What the store needs of a job it records (a :class:`ferroq.Job` or
    :class:`ferroq.JobSet`: the store imports neither)."""

    metadata: dict[str, Any]
    _on_metadata_change: Any

    def job_id(self) -> str: ...
    def status(self) -> JobStatus: ...
    def name(self) -> str | None: ...
    def tags(self) -> list[str]: ...
    def header(self) -> dict[str, Any]: ...
    def backend_options(self) -> dict[str, Any]: ...
    def circuits(self) -> list[Circuit]: ...
    def creation_date(self) -> datetime.datetime: ...
    def progress(self) -> float: ...
    def in_final_state(self) -> bool: ...
    def cancel(self) -> bool: ...
    def error_message(self) -> str | None: ...
    def add_done_callback(self, fn: Callable[[Any], object]) -> None: ...
    def result(self, timeout: float | None = None, *, partial: bool = False) -> Result: ...


def _is_set(job: Recordable) -> bool:
    return callable(getattr(job, "jobs", None))


def _job_steps(job: Recordable) -> dict[str, float]:
    time_per_step = getattr(job, "time_per_step", None)
    if time_per_step is not None:
        return {name: when.timestamp() for name, when in time_per_step().items()}
    steps = {JobStatus.INITIALIZING.name: job.creation_date().timestamp()}
    status = job.status()
    if status in JOB_FINAL_STATES:
        steps[status.name] = time.time()
    return steps


# job id -> (store path, job) for the jobs of this process not yet written final.
_unfinished: dict[str, tuple[str, Recordable]] = {}
_unfinished_lock = threading.Lock()


def _checked_name(name: Any) -> str | None:
    """``name`` if it can be stored as a job's name (``None`` or Unicode text);
    else :class:`JobError` naming it."""
    try:
        return check_name(name)
    except TypeError as err:
        raise JobError(str(err)) from None


def record(path: str, job: Recordable) -> None:
    """Writes ``job``'s row (as submitted) and arranges for its final write."""
    now = time.time()
    pid = os.getpid()
    status = job.status()
    job_id = job.job_id()
    row = (
        job_id,
        "jobset" if _is_set(job) else "job",
        _checked_name(job.name()),
        _json(job.tags()),
        JobStatus.QUEUED.name if status in JOB_FINAL_STATES else status.name,
        _json({k: v for k, v in _job_steps(job).items() if k not in _FINAL_NAMES}),
        _json(job.backend_options()),
        _json(job.header()),
        _json(job.metadata),
        _encode_circuits(job.circuits()),
        pid,
        socket.gethostname(),
        _process_start(pid),
        job.creation_date().timestamp(),
        now,
    )
    operation = f"recording job {job_id}"
    with _guarded(path, operation):
        _connect(path, operation).execute(
            "INSERT INTO jobs (job_id, kind, name, tags, status, steps, options, header, metadata, "
            "circuits, pid, hostname, pid_start, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            row,
        )
    with _unfinished_lock:
        _unfinished[job_id] = (path, job)
    job.add_done_callback(_finish)
    job._on_metadata_change = functools.partial(_write_metadata, path)
    watch(job, _Owner(path, job), every_tick=True, watcher=store_watcher)


class _Owner:
    """The owner process's side of a stored, unfinished job, called by the progress
    thread every tick: records each status the job reaches, and cancels it when
    another process asked for that in the store."""

    def __init__(self, path: str, job: Recordable) -> None:
        self._path, self._job = path, job
        self._status: JobStatus | None = None
        self._next_poll = 0.0

    def __call__(self, event: ProgressEvent) -> None:
        if event.final:
            return  # _finish writes the outcome with the final state
        job_id = self._job.job_id()
        operation = f"recording the progress of job {job_id}"
        with _guarded(self._path, operation):
            conn = _connect(self._path, operation)
            if event.status is not self._status:
                self._status = event.status
                steps = {k: v for k, v in _job_steps(self._job).items() if k not in _FINAL_NAMES}
                conn.execute(
                    f"UPDATE jobs SET status=?, steps=?, updated=? WHERE job_id=? "
                    f"AND status NOT IN ({','.join('?' * len(_FINAL_NAMES))})",
                    (event.status.name, _json(steps), time.time(), job_id, *_FINAL_NAMES),
                )
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + _CANCEL_POLL
                row = conn.execute("SELECT cancel_requested FROM jobs WHERE job_id=?", (job_id,)).fetchone()
                if row is not None and row[0] is not None:
                    self._job.cancel()


def _write_metadata(path: str, job: Any) -> None:
    """Persists a rename or retag of a stored job."""
    name = _checked_name(job.name())
    operation = f"updating the name and tags of job {job.job_id()}"
    with _guarded(path, operation):
        _connect(path, operation).execute(
            "UPDATE jobs SET name=?, tags=?, updated=? WHERE job_id=?",
            (name, _json(job.tags()), time.time(), job.job_id()),
        )


def _storable(text: str | None) -> str | None:
    """``text`` as SQLite can store it: lone surrogates (which UTF-8 cannot
    encode) written as backslash escapes."""
    if text is None:
        return None
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


#: One final write at a time: a read's _flush and the notifier thread may both
#: try to write the same job, and the later write must see the earlier's pop
#: from _unfinished, not overwrite a row after whoever read it changed it.
_finish_lock = threading.Lock()


def _finish(job: Recordable) -> None:
    """Writes the final state of ``job`` once, from the notifier thread, a read in
    this process (:func:`_flush`) or at exit, whichever comes first."""
    with _finish_lock:
        _write_final(job)


def _write_final(job: Recordable) -> None:
    """Writes the final state of ``job``, from the callback thread or at exit.

    The job leaves ``_unfinished`` only once written, so the exit hook writes again
    whatever a callback had not finished writing when the interpreter stopped (a
    second write of the same values is harmless)."""
    with _unfinished_lock:
        entry = _unfinished.get(job.job_id())
    if entry is None:
        return
    path = entry[0]
    status = job.status()
    result: bytes | None = None
    error_type = error_message = None
    try:
        outcome = job.result()
        result = _core.encode_result_batch(outcome.seed, list(outcome.results), [])
    except JobCancelledError as err:
        error_type, error_message = "JobCancelledError", str(err)
    except Exception as err:
        error_type, error_message = type(err).__name__, str(err)
        # What did run of a failed batch is kept, with each failed circuit's error
        # (by class name and message), for result(partial=True) in any process.
        part = job.result(partial=True)
        ran = [part._experiment(i) for i in range(len(part)) if i not in part.missing]
        if ran:
            failed = [(i, type(e).__name__, str(e)) for i, e in sorted(part.missing.items())]
            result = _core.encode_result_batch(part.seed, ran, failed)
    if status is JobStatus.ERROR and error_message is not None:
        error_message = job.error_message() or error_message
    steps = _job_steps(job)
    sql = (
        "UPDATE jobs SET status=?, steps=?, metadata=?, result=?, error_type=?, error_message=?, updated=? "
        "WHERE job_id=?"
    )
    error_type, error_message = _storable(error_type), _storable(error_message)
    values = [status.name, _json(steps), _json(job.metadata), result, error_type, error_message]
    operation = f"writing the final state of job {job.job_id()}"
    with _guarded(path, operation):
        conn = _connect(path, operation)
        try:
            conn.execute(sql, (*values, time.time(), job.job_id()))
        except sqlite3.Error as err:
            if result is None or _is_read_only_error(err):
                raise
            # Too large for SQLite (over a gigabyte, by default): keep the row, say why.
            values[3:6] = [None, "ResultNotStored", f"the result was not stored: {err}"]
            conn.execute(sql, (*values, time.time(), job.job_id()))
    with _unfinished_lock:
        _unfinished.pop(job.job_id(), None)


@atexit.register
def _at_exit() -> None:
    """Writes every finished job whose callback has not run yet, and marks the
    jobs still running as ended with the process."""
    with _unfinished_lock:
        left = list(_unfinished.values())
    for path, job in left:
        try:
            if job.in_final_state():
                _finish(job)
                continue
            with _unfinished_lock:
                _unfinished.pop(job.job_id(), None)
            conn = _connect(path, f"marking job {job.job_id()} as ended with its process")
            _mark_ended(conn, job.job_id(), os.getpid(), socket.gethostname(), None)
        except Exception:  # never fail the interpreter's exit
            pass


def _mark_ended(conn: sqlite3.Connection, job_id: str, pid: int, hostname: str, status: str | None) -> None:
    """Marks an unfinished job whose process ended as ``ERROR``."""
    row = conn.execute("SELECT steps, status FROM jobs WHERE job_id=?", (job_id,)).fetchone()
    if row is None or row[1] in _FINAL_NAMES or (status is not None and row[1] != status):
        return
    conn.execute(
        "UPDATE jobs SET status='ERROR', steps=COALESCE(?, steps), error_type='JobError', error_message=?, "
        "updated=? "
        "WHERE job_id=? AND status=?",
        (_ended_steps(row[0]), _ended_message(pid, hostname), time.time(), job_id, row[1]),
    )


def _ended_steps(steps: Any, when: float | None = None) -> str | None:
    """The steps column of a job marked as ended with its process: ``ERROR`` added
    at ``when`` (default: now); ``None`` (left as it is, and read as corrupted)
    where the column is not a JSON object."""
    try:
        decoded = json.loads(steps) if isinstance(steps, str) else None
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        return None
    decoded[JobStatus.ERROR.name] = time.time() if when is None else when
    return _json(decoded)


def _flush(path: str) -> None:
    """Writes now the final state of this process's finished jobs whose callback
    has not run yet, so that reads here see every job that has ended."""
    here = os.path.abspath(path)
    with _unfinished_lock:
        ended = [
            j for where, j in _unfinished.values() if os.path.abspath(where) == here and j.in_final_state()
        ]
    for job in ended:
        # A write that fails here (the store became read-only) is reported where
        # the job's own final write runs; the read goes on with what the store has.
        with contextlib.suppress(JobError):
            _finish(job)


def _reap(conn: _Connection) -> None:
    """Marks the unfinished jobs of ended processes on this host as ``ERROR``. A
    store this process cannot write is left as it is: its rows are marked as they
    are read instead (:func:`_as_read`)."""
    if not conn.writable:
        return
    host = socket.gethostname()
    placeholders = ",".join("?" * len(_FINAL_NAMES))
    rows = conn.execute(
        "SELECT job_id, pid, pid_start, status FROM jobs "
        f"WHERE status NOT IN ({placeholders}) AND hostname=?",
        (*_FINAL_NAMES, host),
    ).fetchall()
    verdicts: dict[tuple[Any, Any], bool] = {}
    for job_id, pid, start, status in rows:
        if any(isinstance(v, _Undecodable) for v in (job_id, start, status)):
            continue  # a damaged row: reported as corrupted when it is read
        key = (pid, start)
        if key not in verdicts:
            verdicts[key] = not isinstance(pid, int) or _alive(pid, start)
        if not verdicts[key]:
            try:
                _mark_ended(conn, job_id, pid, host, status)
            except sqlite3.OperationalError as err:
                if not _is_read_only_error(err):
                    raise
                conn.writable = False  # it became read-only: read on without writing
                return


def _as_read(conn: _Connection, row: Sequence[Any]) -> Sequence[Any]:
    """``row`` as a read shows it: on a store this process cannot write (so
    :func:`_reap` could not mark it), an unfinished job of an ended process on
    this host reads as ``ERROR``, as it would have been marked, at the time its
    row was last written."""
    if conn.writable:
        return row
    status, steps, pid, hostname, start, updated = (row[4], row[5], *row[12:15], row[16])
    if (
        status in _FINAL_NAMES
        or hostname != socket.gethostname()
        or not isinstance(pid, int)
        or not (start is None or isinstance(start, str))
        or _alive(pid, start)
    ):
        return row
    when = float(updated) if isinstance(updated, (int, float)) else None
    marked = list(row)
    marked[4], marked[5] = JobStatus.ERROR.name, _ended_steps(steps, when) or steps
    marked[10], marked[11] = "JobError", _ended_message(pid, hostname)
    return marked


# ------------------------------------------------------------------ reading
def _error_from(job_id: str, status: JobStatus, error_type: str | None, message: str | None) -> BaseException:
    message = message or ""
    if status is JobStatus.CANCELLED:
        return JobCancelledError(message or f"job {job_id} was cancelled")
    cls = getattr(exceptions, error_type or "", None)
    if isinstance(cls, type) and issubclass(cls, exceptions.FerroqError):
        return cls(message)
    return JobError(f"{error_type}: {message}" if error_type else message)


class StoredJob(JobRecord):
    """A job read back from a job store, perhaps written by another process
    (:func:`ferroq.retrieve_job`, :func:`ferroq.jobs`).

    Its whole read API works: ``status()``, ``done()``, ``result(timeout)`` (the
    same :class:`Result` as the original's), ``exception()``, ``error_message()``,
    ``name()``, ``tags()``, ``header()``, ``backend_options()``, ``circuits()``,
    ``time_per_step()``, ``creation_date()``, ``metadata``. While the job is
    unfinished, ``status()`` and the waits read the store again; its owner process
    records each status it reaches within about 0.1 s. ``cancel()`` asks the owner
    process, through the store, to cancel the job. ``owner`` names the process that
    ran it. ``update_name`` and ``update_tags`` are written to the store.

    Its state is a Rust job of its own (``_core.ExternalJob``), settled when the
    store records the end: every wait on it (``result``, ``wait_for_final_state``,
    ``ferroq.wait``, ``as_completed``, ``await``, done-callbacks) sleeps until then.
    While it is unfinished, ferroq's store thread reads its row every 0.1 s (the
    one place that polls: another process's job has no state here to wake on).
    """

    def __init__(self, path: str, row: Sequence[Any]) -> None:
        self._store_path = path
        self._result: Result | None = None
        self._partial: Result | None = None
        self._lock = threading.Lock()
        self._frozen_error: BaseException | None = None
        self._handle = _core.ExternalJob()
        self._on_metadata_change = functools.partial(_write_metadata, path)
        self._apply(row)
        if self._frozen_status not in JOB_FINAL_STATES:
            store_watcher.add(_RowReader(self), _ignore, every_tick=False)

    def _apply(self, row: Sequence[Any]) -> None:
        _check_row(row)
        (job_id, kind, name, tags, status, steps, options, header, metadata, circuits) = row[:10]
        (error_type, error_message, pid, hostname, _start, _created, _updated) = row[10:]
        self._job_id = job_id
        self.kind: str = kind
        self._name = name
        self._tags = _decode(job_id, "tags", lambda: _list_of_str(json.loads(tags)))
        try:
            frozen_status = JobStatus[status]
        except (KeyError, TypeError):
            raise JobError(f"job {job_id}: stored column 'status' is corrupted ({status!r})") from None
        self._frozen_steps = _decode(job_id, "steps", lambda: _steps_in_order(json.loads(steps)))
        self._options = _decode(job_id, "options", lambda: dict(json.loads(options)))
        self._header = _decode(job_id, "header", lambda: dict(json.loads(header)))
        self.metadata = _decode(job_id, "metadata", lambda: dict(json.loads(metadata)))
        self._circuits = _decode(job_id, "circuits", lambda: _decode_circuits(circuits))
        self._unstored = error_message if frozen_status is JobStatus.DONE else None
        final = frozen_status in JOB_FINAL_STATES
        self._frozen_progress = 1.0 if final else 0.0
        if final and frozen_status is not JobStatus.DONE:
            self._frozen_error = _error_from(job_id, frozen_status, error_type, error_message)
        self.owner: dict[str, Any] = {"pid": pid, "hostname": hostname}
        # Last, once everything that goes with a final status is in place.
        self._frozen_status = frozen_status
        if final:
            settle(self._handle, frozen_status, error_message or "")

    def _reload(self) -> None:
        path = self._store_path
        with _guarded(path, f"reading job {self._job_id}"):
            conn = _connect(path)
            _flush(path)
            _reap(conn)
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id=?", (self._job_id,)).fetchone()
        if row is None:
            raise JobError(f"job {self._job_id} is no longer in the store {path!r}")
        self._apply(_as_read(conn, row))

    def update_name(self, name: str) -> str:
        """Renames the job in the store; returns the new name. Raises
        :class:`JobError` (the name unchanged) where the store cannot be written."""
        before = self._name
        try:
            return super().update_name(name)
        except BaseException:
            self._name = before
            raise

    def update_tags(self, new_tags: list[str]) -> list[str]:
        """Replaces the tags in the store; returns them. Raises :class:`JobError`
        (the tags unchanged) where the store cannot be written."""
        before = self._tags
        try:
            return super().update_tags(new_tags)
        except BaseException:
            self._tags = before
            raise

    def status(self) -> JobStatus:
        """The state recorded in the store (read again while unfinished)."""
        assert self._frozen_status is not None
        if self._frozen_status not in JOB_FINAL_STATES:
            self._reload()
        return self._frozen_status

    def backend(self) -> Any:
        """A stored job has no simulator: this always raises."""
        raise JobError(f"job {self._job_id} has no backend (it was retrieved from a job store)")

    def submit(self) -> None:
        """A stored job was submitted by its owner process: this always raises."""
        raise JobError(f"job {self._job_id} has already been submitted")

    def result(self, timeout: float | None = None, refresh: bool = False, *, partial: bool = False) -> Result:
        """The result as the owner process stored it, waiting up to ``timeout``
        seconds for the job to end (reading the store); raises as
        :meth:`ferroq.Job.result` does. With ``partial=True`` a failed job returns
        what did run, each failed circuit in :attr:`Result.missing`."""
        del refresh
        return self._result_of(timeout, partial)

    def _what_ran(self) -> Result | None:
        with self._lock:
            return self._partial

    def _raw_steps(self) -> dict[str, float]:
        return dict(self._frozen_steps)

    def _error_now(self) -> BaseException | None:
        return self._frozen_error

    def progress(self) -> float:
        """1.0 once the stored job ended, else 0.0 (the store records states, not progress)."""
        return self._frozen_progress

    def cancel(self) -> bool:
        """Asks the owner process to cancel the job and waits (up to 5 s) for it
        to do so. Returns whether the job ended ``CANCELLED``; ``False`` when it
        had already ended, or its process ended first (the job then reads as
        ``ERROR``)."""
        if self.status() in JOB_FINAL_STATES:
            return False
        operation = f"requesting the cancellation of job {self._job_id}"
        with _guarded(self._store_path, operation):
            _connect(self._store_path, operation).execute(
                "UPDATE jobs SET cancel_requested=? WHERE job_id=? AND cancel_requested IS NULL",
                (time.time(), self._job_id),
            )
        self._wait(_CANCEL_WAIT)
        return self.status() is JobStatus.CANCELLED

    def _wait(self, timeout: float | None) -> bool:
        if self.status() in JOB_FINAL_STATES:  # reads the row now
            return True
        # The store thread settles the handle when the row records the end.
        return self._handle.wait(timeout)

    def _outcome(self) -> Result:
        with self._lock:
            if self._result is not None:
                return self._result
            if self._frozen_status is not JobStatus.DONE:
                assert self._frozen_error is not None
                if self._frozen_status is JobStatus.ERROR and self._partial is None:
                    self._partial = self._stored_partial()
                raise self._frozen_error
            blob = self._stored_result()

            def load() -> Result:
                if not isinstance(blob, bytes):
                    raise ValueError(self._unstored or "no result data")
                seed, experiments, _ = _load_results(blob)
                return Result(
                    seed, experiments, options=self._options, job_id=self._job_id, circuits=self._circuits
                )

            self._result = _decode(self._job_id, "result", load)
            return self._result

    def _stored_result(self) -> Any:
        """The row's result column (``None`` if the row is gone)."""
        with _guarded(self._store_path, f"reading the result of job {self._job_id}"):
            row = (
                _connect(self._store_path)
                .execute("SELECT result FROM jobs WHERE job_id=?", (self._job_id,))
                .fetchone()
            )
        return None if row is None else row[0]

    def _stored_partial(self) -> Result | None:
        """What did run of a failed batch, as its process stored it (or ``None``)."""
        blob = self._stored_result()
        if not isinstance(blob, bytes):
            return None

        def load() -> Result:
            seed, experiments, failed = _load_results(blob)
            missing = {
                int(i): _error_from(self._job_id, JobStatus.ERROR, str(kind), str(message))
                for i, kind, message in failed
            }
            return Result(
                seed,
                list(experiments),
                options=self._options,
                job_id=self._job_id,
                missing=missing,
                circuits=self._circuits,
            )

        partial: Result = _decode(self._job_id, "result", load)
        return partial

    # Pickled as what was read: the row's fields, the store's path, and the
    # result once loaded (a copy reads the store again only while unfinished).
    _STATE = (
        "_store_path", "_job_id", "kind", "_name", "_tags", "_frozen_status", "_frozen_steps", "_options",
        "_header", "metadata", "_circuits", "_unstored", "_frozen_progress", "_frozen_error", "owner",
        "_result", "_partial",
    )  # fmt: skip

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {name: getattr(self, name) for name in self._STATE}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in self._STATE:
            setattr(self, name, state[name])
        self._lock = threading.Lock()
        self._on_metadata_change = functools.partial(_write_metadata, self._store_path)
        self._handle = _core.ExternalJob()
        if self._frozen_status in JOB_FINAL_STATES:
            error = self._frozen_error
            settle(self._handle, self._frozen_status, "" if error is None else str(error))
        else:
            store_watcher.add(_RowReader(self), _ignore, every_tick=False)

    def __repr__(self) -> str:
        return f"<ferroq.StoredJob {self._job_id} {self.status().name}>"


def _steps_in_order(steps: dict[str, Any]) -> dict[str, float]:
    order = {name: i for i, name in enumerate(JobStatus.__members__)}
    pairs = sorted(
        ((str(k), float(v)) for k, v in steps.items()), key=lambda kv: (order.get(kv[0], 99), kv[1])
    )
    return dict(pairs)


def _list_of_str(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ValueError("not a list of strings")
    return value


class _RowReader:
    """What the store thread reads for one unfinished stored job: each read of the
    row settles the job's handle once the row is final. Holds the job weakly; a
    job nobody holds any more is not read again."""

    def __init__(self, job: StoredJob) -> None:
        self._job = weakref.ref(job)
        self._job_id = job.job_id()

    def job_id(self) -> str:
        return self._job_id

    def status(self) -> JobStatus:
        job = self._job()
        if job is None:  # forgotten: reads as over, so the thread lets it go
            return JobStatus.CANCELLED
        return job.status()

    def progress(self) -> float:
        return 0.0

    def circuits(self) -> list[Any]:
        return []


def _ignore(_event: ProgressEvent) -> None:
    """The store thread reads stored jobs for their handles, not to report them."""


def _load_results(blob: bytes) -> tuple[int, list[_core.ExperimentData], list[tuple[int, str, str]]]:
    """``(seed, experiments, failed)`` from a result column: the core's batch bytes,
    or the pickle a ferroq 0.1 store kept (``(seed, experiments)`` for a finished
    job, ``(seed, experiments, failed)`` for a partial one)."""
    if blob[:4] == b"FQB1":
        return _core.decode_result_batch(blob)
    legacy = pickle.loads(blob)
    seed, experiments = legacy[0], legacy[1]
    failed = legacy[2] if len(legacy) == 3 else []
    if not isinstance(seed, int) or not {type(e) for e in experiments} <= {_core.ExperimentData}:
        raise ValueError("not a list of experiment data")
    return seed, list(experiments), [(int(i), str(k), str(m)) for i, k, m in failed]


#: The names of the columns of a row read with _COLUMNS, in order.
_ROW_COLUMNS = tuple(c.strip() for c in _COLUMNS.split(","))
#: The types a row's value may have, for the columns read as they are.
_ROW_TYPES: dict[str, tuple[type, ...]] = {
    "job_id": (str,),
    "kind": (str,),
    "name": (str, type(None)),
    "error_type": (str, type(None)),
    "error_message": (str, type(None)),
    "pid": (int,),
    "hostname": (str,),
}


def _check_row(row: Sequence[Any]) -> None:
    """Raises :class:`JobError` naming the first column of ``row`` that holds
    text that is not UTF-8, or a value of a type its column never holds."""
    job_id = row[0]
    for column, value in zip(_ROW_COLUMNS, row, strict=True):
        if isinstance(value, _Undecodable):
            why = f"not UTF-8 text: {value.raw[:40]!r}"
        elif column in _ROW_TYPES and not isinstance(value, _ROW_TYPES[column]):
            why = f"a {type(value).__name__}: {value!r:.60}"
        else:
            continue
        raise JobError(f"job {job_id}: stored column {column!r} is corrupted ({why})")


def _decode(job_id: str, column: str, fn: Any) -> Any:
    try:
        return fn()
    except Exception as err:
        why = f"{type(err).__name__}: {err}"
        raise JobError(f"job {job_id}: stored column {column!r} is corrupted ({why})") from err


def _path(store: str | os.PathLike[str] | None) -> str:
    if store is None:
        env = default_store()
        if env is None:
            raise JobError(f"no job store: pass store=... or set {ENV_VAR}")
        return env
    return check_store(store)


def retrieve_job(job_id: str, store: str | os.PathLike[str] | None = None) -> StoredJob:
    """The job ``job_id`` from the job store (``store``, else ``FERROQ_STORE``), as
    a :class:`StoredJob` whose read API works as the original job's did, even
    when another process ran it. A job whose process ended before it finished
    reads as ``ERROR`` ("process PID on host HOST ended before the job finished").

    Raises :class:`~ferroq.exceptions.JobError` if the store has no such job or the
    job's row is corrupted (naming the column).

    >>> import ferroq, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "jobs.sqlite"
    >>> job = ferroq.Simulator(store=path).run(ferroq.Circuit(1, 1).x(0).measure(0, 0), shots=4, name="x")
    >>> job.result().get_counts()
    {'1': 4}
    >>> stored = ferroq.retrieve_job(job.job_id(), store=path)
    >>> stored.result(timeout=10).get_counts(), stored.status().name, stored.name()
    ({'1': 4}, 'DONE', 'x')
    """
    path = _path(store)
    if not os.path.exists(path):
        raise JobError(f"no job store at {path!r}")
    key = str(job_id)
    with _guarded(path, f"reading job {key}"):
        conn = _connect(path)
        _flush(path)
        _reap(conn)
        row = None
        if _bindable(key):
            row = conn.execute(f"SELECT {_COLUMNS} FROM jobs WHERE job_id=?", (key,)).fetchone()
    if row is None:
        raise JobError(f"no job {job_id} in the store {path!r}")
    return StoredJob(path, _as_read(conn, row))


def retrieve_job_by_prefix(prefix: str, store: str | os.PathLike[str] | None = None) -> StoredJob:
    """:func:`retrieve_job` for a job id or a unique prefix of one (as the command
    line takes them). Raises :class:`~ferroq.exceptions.JobError` when no job or
    several jobs match."""
    path = _path(store)
    if not os.path.exists(path):
        raise JobError(f"no job store at {path!r}")
    prefix = str(prefix)
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    ids: list[Any] = []
    if _bindable(prefix):
        with _guarded(path, f"looking up job {prefix}"):
            rows = (
                _connect(path)
                .execute(
                    "SELECT job_id FROM jobs WHERE job_id LIKE ? ESCAPE '\\' ORDER BY job_id LIMIT 3",
                    (escaped + "%",),
                )
                .fetchall()
            )
        ids = [r[0] for r in rows]
    if prefix in ids or len(ids) == 1:
        found = prefix if prefix in ids else ids[0]
        if not isinstance(found, str):
            raise JobError(f"job {found}: stored column 'job_id' is corrupted (not UTF-8 text: {found!r})")
        return retrieve_job(found, store=path)
    if not ids:
        raise JobError(f"no job {prefix} in the store {path!r}")
    shown = ", ".join(str(i) for i in ids[:2])
    raise JobError(f"{prefix!r} is the start of several job ids ({shown}, ...): give more of it")


def _bindable(text: str) -> bool:
    """Whether ``text`` can be looked up in SQLite (UTF-8 cannot encode lone
    surrogates, so no stored value equals such a text)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _statuses(status: Any) -> list[str]:
    items = [status] if isinstance(status, (str, JobStatus)) else list(status)
    names = []
    for s in items:
        if isinstance(s, JobStatus):
            names.append(s.name)
        elif isinstance(s, str) and s.upper() in JobStatus.__members__:
            names.append(s.upper())
        else:
            raise ValueError(f"unknown job status {s!r}")
    return names


def _since(since: datetime.datetime | float) -> float:
    if isinstance(since, datetime.datetime):
        return (since if since.tzinfo else since.astimezone()).timestamp()
    return float(since)


def jobs(
    limit: int | None = 10,
    *,
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    tags: Iterable[str] | None = None,
    name: str | None = None,
    since: datetime.datetime | float | None = None,
    store: str | os.PathLike[str] | None = None,
) -> list[StoredJob]:
    """The jobs of the job store (``store``, else ``FERROQ_STORE``), newest first.

    Filters: ``status`` (a :class:`JobStatus`, its name, or several), ``tags``
    (jobs carrying every one of them; a ``str`` is one tag), ``name`` (exact), ``since`` (created at or
    after a datetime or POSIX time); at most ``limit`` jobs (``None``: all). Rows
    that cannot be read are skipped with a ``UserWarning`` naming the job and column.

    >>> import ferroq, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "jobs.sqlite"
    >>> sim = ferroq.Simulator(store=path, shots=8)
    >>> for tag in ["a", "b", "a"]:
    ...     sim.run(ferroq.Circuit(1, 1).measure(0, 0), tags=[tag]).result().get_counts()
    {'0': 8}
    {'0': 8}
    {'0': 8}
    >>> [j.tags() for j in ferroq.jobs(store=path)]
    [['a'], ['b'], ['a']]
    >>> len(ferroq.jobs(tags=["a"], status="DONE", store=path))
    2
    """
    path = _path(store)
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
        raise ValueError(f"limit must be a non-negative int or None, got {limit!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str or None, got {type(name).__name__} {name!r}")
    if isinstance(tags, str):
        tags = [tags]
    wanted_tags = set(tags or ())
    if not all(isinstance(t, str) for t in wanted_tags):
        raise TypeError(f"tags must be strings, got {sorted(map(repr, wanted_tags))}")
    names = None if status is None else _statuses(status)
    if not os.path.exists(path):
        return []
    if name is not None and not _bindable(name):
        return []
    with _guarded(path, "listing jobs"):
        conn = _connect(path)
        _flush(path)
        _reap(conn)
        clauses: list[str] = []
        params: list[Any] = []
        # A store that cannot be written is reaped as it is read (_as_read), so
        # the statuses are compared after that.
        if names is not None and conn.writable:
            clauses.append(f"status IN ({','.join('?' * len(names))})")
            params += names
        if name is not None:
            clauses.append("name = ?")
            params.append(name)
        if since is not None:
            clauses.append("created >= ?")
            params.append(_since(since))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY created DESC, rowid DESC"
        found: list[StoredJob] = []
        cursor = conn.execute(sql, params)
        try:
            for raw in cursor:
                if limit is not None and len(found) >= limit:
                    break
                row = _as_read(conn, raw)
                if names is not None and row[4] not in names:
                    continue
                try:
                    job = StoredJob(path, row)
                except JobError as err:
                    warnings.warn(str(err), UserWarning, stacklevel=2)
                    continue
                if wanted_tags <= set(job.tags()):
                    found.append(job)
        finally:
            cursor.close()
    return found
