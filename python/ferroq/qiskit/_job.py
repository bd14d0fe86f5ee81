"""FerroqJob: a ``qiskit.providers.JobV1`` on ferroq's Rust job."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from qiskit.providers import JobError as QiskitJobError
from qiskit.providers import JobStatus as QiskitJobStatus
from qiskit.providers import JobTimeoutError as QiskitJobTimeoutError
from qiskit.providers import JobV1
from qiskit.result import Result as QiskitResult

import ferroq
from ferroq import exceptions as fx

if TYPE_CHECKING:
    from qiskit.circuit import QuantumCircuit

    from ferroq.qiskit._backend import FerroqSimulator

__all__ = ["FerroqJob", "FerroqJobCancelledError", "FerroqJobError", "FerroqJobTimeoutError"]


class FerroqJobError(QiskitJobError, fx.JobError):
    """Qiskit's ``JobError`` that is also ferroq's."""


class FerroqJobTimeoutError(QiskitJobTimeoutError, fx.JobTimeoutError):
    """Qiskit's ``JobTimeoutError``, also ferroq's and a ``concurrent.futures.TimeoutError``."""


class FerroqJobCancelledError(QiskitJobError, fx.JobCancelledError):
    """Qiskit's ``JobError`` for a cancelled job, also a ``concurrent.futures.CancelledError``."""


class FerroqJob(JobV1):
    """The job of :meth:`FerroqSimulator.run`: a Qiskit ``JobV1`` whose state is the Rust job's.

    ``status()`` returns qiskit's ``JobStatus``; ``result()`` a ``qiskit.result.Result``.
    Everything else of :class:`ferroq.Job` (``progress()``, ``name()``, ``tags()``,
    ``add_done_callback``, ``exception``, ...) is available too.
    """

    def __init__(
        self,
        backend: FerroqSimulator,
        job: ferroq.Job,
        circuits: list[QuantumCircuit],
        to_result: Callable[[ferroq.Result], QiskitResult],
    ) -> None:
        super().__init__(backend, job.job_id())
        self._job = job
        self._qiskit_circuits = circuits
        self._to_result = to_result
        self._result: QiskitResult | None = None

    def submit(self) -> None:
        raise FerroqJobError(f"job {self.job_id()} has already been submitted")

    def status(self) -> QiskitJobStatus:
        return QiskitJobStatus[self._job.status().name]

    def cancel(self) -> bool:
        return self._job.cancel()

    def result(self, timeout: float | None = None, refresh: bool = False) -> QiskitResult:
        """The ``qiskit.result.Result``, waiting up to ``timeout`` seconds."""
        del refresh
        if self._result is None:
            try:
                native = self._job.result(timeout)
            except fx.JobTimeoutError as err:
                raise FerroqJobTimeoutError(str(err)) from None
            except fx.JobCancelledError as err:
                raise FerroqJobCancelledError(str(err)) from None
            except fx.FerroqError as err:
                raise FerroqJobError(f"job {self.job_id()} failed: {err}") from err
            self._result = self._to_result(native)
        return self._result

    def wait_for_final_state(
        self,
        timeout: float | None = None,
        wait: float = 5,
        callback: Callable[[str, QiskitJobStatus, FerroqJob], object] | None = None,
    ) -> None:
        """Returns as soon as the job ends (``wait`` only paces ``callback``)."""
        relay = None if callback is None else (lambda jid, _s, _j: callback(jid, self.status(), self))
        try:
            self._job.wait_for_final_state(timeout=timeout, wait=wait, callback=relay)
        except fx.JobTimeoutError as err:
            raise FerroqJobTimeoutError(str(err)) from None

    def circuits(self) -> list[QuantumCircuit]:
        """The circuits as submitted."""
        return list(self._qiskit_circuits)

    def executor(self) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        # The rest of ferroq.Job's surface (progress, name, tags, exception, ...).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._job, name)

    def __await__(self) -> Any:
        yield from self._job.__await__()
        return self.result()
