"""ferroq's Qiskit adapter (``pip install "ferroq[qiskit]"``): a ``BackendV2``,
its jobs, save instructions, a provider and OpenQASM input.

Importing ``ferroq`` never imports qiskit; importing ``ferroq.qiskit`` does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from qiskit import QuantumCircuit

import ferroq.qasm2
from ferroq.exceptions import CircuitError
from ferroq.qiskit._backend import FerroqSimulator
from ferroq.qiskit._convert import to_ferroq
from ferroq.qiskit._estimator import FerroqEstimator
from ferroq.qiskit._job import (
    FerroqJob,
    FerroqJobCancelledError,
    FerroqJobError,
    FerroqJobSet,
    FerroqJobTimeoutError,
)
from ferroq.qiskit._primitives import (
    EstimatorOptions,
    EstimatorV2,
    FerroqPrimitiveJob,
    SamplerOptions,
    SamplerV2,
)
from ferroq.qiskit._provider import FerroqBackendNotFoundError, FerroqProvider
from ferroq.qiskit._save import (
    SaveAmplitudes,
    SaveExpectationValue,
    SaveProbabilities,
    SaveProbabilitiesDict,
    SaveStatevector,
    save_amplitudes,
    save_expectation_value,
    save_probabilities,
    save_probabilities_dict,
    save_statevector,
)

__all__ = [
    "EstimatorOptions",
    "EstimatorV2",
    "FerroqBackendNotFoundError",
    "FerroqEstimator",
    "FerroqJob",
    "FerroqJobCancelledError",
    "FerroqJobError",
    "FerroqJobSet",
    "FerroqJobTimeoutError",
    "FerroqPrimitiveJob",
    "FerroqProvider",
    "FerroqSimulator",
    "SamplerOptions",
    "SamplerV2",
    "SaveAmplitudes",
    "SaveExpectationValue",
    "SaveProbabilities",
    "SaveProbabilitiesDict",
    "SaveStatevector",
    "from_qasm",
    "save_amplitudes",
    "save_expectation_value",
    "save_probabilities",
    "save_probabilities_dict",
    "save_statevector",
    "to_ferroq",
]


def _qasm_text(source: str | os.PathLike[str]) -> tuple[str, Path | None]:
    """The program: ``source`` itself, or the file it names (and that file)."""
    if isinstance(source, os.PathLike):
        return Path(source).read_text(), Path(source)
    if "\n" in source or not source.strip():
        return source, None
    path = Path(source)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL, for a path
        is_file = False
    # Every OpenQASM statement ends in ';': a single line without one can only be
    # meant as a path, and reading it says which file is missing.
    if is_file or ";" not in source:
        return path.read_text(), path
    return source, None


#: Includes every reader has built in, read from no file.
_BUILT_IN_INCLUDES = {"qelib1.inc", "stdgates.inc"}
_INCLUDE = re.compile(r'\binclude\s+"([^"\n]*)"')


def _check_includes(text: str, include_path: Sequence[str | os.PathLike[str]]) -> None:
    """Refuses an include of a file other than the built-in ones unless the caller
    gave directories to read includes from; the error names the include, never
    anything read from a file."""
    if include_path:
        return
    for name in _INCLUDE.findall(text):
        if name not in _BUILT_IN_INCLUDES:
            raise CircuitError(
                f"include {name!r} would read another file: pass include_path=[...] to allow it "
                "(only qelib1.inc and stdgates.inc are read without one)"
            )


def from_qasm(
    source: str | os.PathLike[str], include_path: Sequence[str | os.PathLike[str]] | None = None
) -> QuantumCircuit:
    """A ``QuantumCircuit`` from OpenQASM 2 or 3 text, or from a file path, through
    ``qiskit.qasm2`` / ``qiskit.qasm3`` (OpenQASM 3 needs ``qiskit_qasm3_import``).

    A string is program text if it spans several lines or holds a ``;``, unless it
    names an existing file; otherwise it is a path. The version is read from the
    ``OPENQASM`` statement, after any leading comments; without one, OpenQASM 2.

    ``include`` statements read no file but the built-in ``qelib1.inc`` and
    ``stdgates.inc`` unless ``include_path`` lists the directories to read them
    from; for a program read from a file, its directory is the default.

    >>> from ferroq.qiskit import from_qasm
    >>> qc = from_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0], q[1];')
    >>> qc.count_ops()["cx"]
    1
    """
    text, path = _qasm_text(source)
    if include_path is None:
        include_path = [] if path is None else [path.resolve().parent]
    _check_includes(text, include_path)
    declared = ferroq.qasm2.version(text)
    if declared is not None and declared.split(".")[0] == "3":
        from qiskit import qasm3

        return qasm3.loads(text)
    from qiskit import qasm2

    return qasm2.loads(
        text, include_path=list(include_path) or ["."], custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS
    )
