"""ferroq: a fast, dependable statevector simulator with a Rust core.

>>> import ferroq
>>> bell = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
>>> counts = ferroq.Simulator().run(bell, shots=1000, seed=1).result().get_counts()
>>> sorted(counts), sum(counts.values())
(['00', '11'], 1000)
"""

from ferroq import exceptions, qasm2
from ferroq._circuit import GATES, Circuit, Instruction
from ferroq._contract import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    FIRST_EXCEPTION,
    JOB_FINAL_STATES,
    JobStatus,
    as_completed,
    wait,
)
from ferroq._core import __version__
from ferroq._job import Job
from ferroq._jobset import ExecutorJob, JobSet
from ferroq._progress import ProgressEvent, wait_for_progress
from ferroq._result import ExperimentResult, Result
from ferroq._simulator import EngineInfo, Simulator, engine_info, statevector
from ferroq._store import StoredJob, jobs, retrieve_job
from ferroq.exceptions import JobCancelledError, JobError, JobTimeoutError

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "FIRST_EXCEPTION",
    "GATES",
    "JOB_FINAL_STATES",
    "Circuit",
    "EngineInfo",
    "ExecutorJob",
    "ExperimentResult",
    "Instruction",
    "Job",
    "JobCancelledError",
    "JobError",
    "JobSet",
    "JobStatus",
    "JobTimeoutError",
    "ProgressEvent",
    "Result",
    "Simulator",
    "StoredJob",
    "__version__",
    "as_completed",
    "engine_info",
    "exceptions",
    "jobs",
    "qasm2",
    "retrieve_job",
    "statevector",
    "wait",
    "wait_for_progress",
]
