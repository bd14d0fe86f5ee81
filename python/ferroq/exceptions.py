"""Exceptions raised by ferroq.

Every error ferroq raises derives from :class:`FerroqError`, and also from
the built-in class that fits it, so ``except ValueError`` keeps working for
code that does not know ferroq.

>>> import ferroq
>>> try:
...     ferroq.Circuit(2).cx(0, 2)
... except ferroq.exceptions.CircuitError as err:
...     print(err)
gate 'cx': qubit 2 is out of range for a circuit of 2 qubits
"""

from __future__ import annotations

import concurrent.futures

__all__ = [
    "CircuitError",
    "EncodingError",
    "FerroqError",
    "InternalError",
    "JobCancelledError",
    "JobError",
    "JobTimeoutError",
    "OptionError",
    "OptionTypeError",
    "QasmError",
    "SimulationMemoryError",
    "UnknownOptionError",
]


class FerroqError(Exception):
    """Base class of every ferroq error."""


class CircuitError(FerroqError, ValueError):
    """A circuit or instruction is invalid: a qubit or clbit out of range, a
    repeated qubit, a wrong parameter count, a NaN or infinite parameter, an
    unknown gate, or a matrix of the wrong shape or not unitary."""


class QasmError(CircuitError):
    """An OpenQASM 2 program could not be parsed (a syntax error, an undeclared
    register, an unknown gate, ...). ``line`` and ``column`` (1-based, in
    characters) say where; the message starts with them too.

    >>> import ferroq.qasm2
    >>> try:
    ...     ferroq.qasm2.loads("qreg q[1];\\nh q[0];")
    ... except QasmError as err:
    ...     print(err.line, err.column, err)
    2 1 line 2, column 1: unknown gate 'h' (add 'include "qelib1.inc";' to use the standard gates)
    """

    line: int
    column: int

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column

    def __reduce__(self) -> tuple[type[QasmError], tuple[str, int, int]]:
        return (type(self), (str(self), self.line, self.column))


class EncodingError(CircuitError):
    """Bytes that are not one of ferroq's binary forms (a circuit's or a result's
    ``to_bytes``, or a job store's result column), or that are truncated, of
    another format version, or describe a value ferroq could not have made.
    ``offset`` is the byte at fault; the message starts with it. A
    :class:`CircuitError` because circuits' bytes were refused as one before the
    result format existed.

    >>> import ferroq
    >>> try:
    ...     ferroq.ExperimentResult.from_bytes(b"FQR1")
    ... except EncodingError as err:
    ...     print(err.offset, err)
    4 invalid encoding at byte 4: truncated: version needs 1 byte(s), 0 left
    """

    offset: int

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.offset = offset

    def __reduce__(self) -> tuple[type[EncodingError], tuple[str, int]]:
        return (type(self), (str(self), self.offset))


class _NamesAnOption(FerroqError):
    """An error about one run option, carried as fields: ``option`` is its name as
    the user wrote it, and the message is rendered from ``template`` with
    ``{option}`` replaced by that name's repr. :meth:`renamed` re-renders it for
    another name (the Qiskit backend names Aer's options), so no layer parses or
    rewrites message text.

    >>> from ferroq.exceptions import OptionError
    >>> err = OptionError(option="seed", template="option {option} must be an int, got 1.5")
    >>> str(err), err.option
    ("option 'seed' must be an int, got 1.5", 'seed')
    >>> str(err.renamed("seed_simulator"))
    "option 'seed_simulator' must be an int, got 1.5"
    """

    option: str | None
    template: str | None

    def __init__(self, message: str | None = None, *, option: str | None = None, template: str | None = None):
        if message is None:
            message = (template or "option {option}").format(option=repr(option))
        super().__init__(message)
        self.option = option
        self.template = template

    @classmethod
    def about(cls, option: str, reason: str) -> _NamesAnOption:
        """``option <name> <reason>``: the usual message, with ``reason`` kept verbatim."""
        return cls(option=option, template="option {option} " + _literal(reason))

    def renamed(self, option: str) -> _NamesAnOption:
        """The same error naming ``option`` instead (itself when it names none)."""
        if self.option is None or self.template is None:
            return self
        return type(self)(option=option, template=self.template)

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_option_error, (type(self), str(self), self.option, self.template))


def _literal(text: str) -> str:
    """``text`` as a ``str.format`` template that renders to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def _rebuild_option_error(
    cls: type[_NamesAnOption], message: str, option: str | None, template: str | None
) -> _NamesAnOption:
    return cls(message, option=option, template=template)


class OptionError(_NamesAnOption, ValueError):
    """A run option has a value out of its range (for example ``shots=0``);
    ``option`` names it."""


class OptionTypeError(_NamesAnOption, TypeError):
    """A run option has a value of the wrong type (for example ``shots="10"``);
    ``option`` names it."""


class UnknownOptionError(_NamesAnOption, TypeError):
    """A run option name that ferroq does not know; ``option`` is that name."""


class SimulationMemoryError(FerroqError, MemoryError):
    """The statevector would not fit in the memory limit (checked before
    anything is allocated), or its allocation failed."""

    # MemoryError's own __new__ refuses a subclass whose first base is another
    # exception class, and ``SimulationMemoryError.__new__`` would find it first:
    # picklers that call ``cls.__new__(cls, *args)`` (tblib, which Dask uses to send
    # a worker's error back) would then turn this error into a bare Exception.
    def __new__(cls, *args: object, **kwargs: object) -> SimulationMemoryError:
        return FerroqError.__new__(cls, *args)


class InternalError(FerroqError, RuntimeError):
    """A bug in ferroq caught at a boundary (for example a panic in a worker);
    the message says where. Please report it."""


class JobError(FerroqError):
    """A job was used in a way its state does not allow (as Qiskit's ``JobError``)."""


class JobTimeoutError(JobError, concurrent.futures.TimeoutError):
    """Waiting for a job timed out. Also a ``concurrent.futures.TimeoutError``
    (the built-in ``TimeoutError``), so futures-style callers catch it too.
    The job keeps running."""


class JobCancelledError(JobError, concurrent.futures.CancelledError):
    """The job was cancelled, so it has no result. Also a
    ``concurrent.futures.CancelledError``."""
