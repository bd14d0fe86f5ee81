"""ferroq's Qiskit adapter (``pip install "ferroq[qiskit]"``): a ``BackendV2``,
its jobs, save instructions, a provider and OpenQASM input.

Importing ``ferroq`` never imports qiskit; importing ``ferroq.qiskit`` does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from qiskit import QuantumCircuit

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
    "FerroqBackendNotFoundError",
    "FerroqEstimator",
    "FerroqJob",
    "FerroqJobCancelledError",
    "FerroqJobError",
    "FerroqJobSet",
    "FerroqJobTimeoutError",
    "FerroqProvider",
    "FerroqSimulator",
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


# The version statement comes first, after any whitespace and comments. A comment
# is matched whole (up to its line's end, or its own "*/"), never only in part:
# "// OPENQASM 3" in front of an OpenQASM 2 program is no header.
_QASM3_HEADER = re.compile(r"(?:\s|//[^\n]*\n|/\*(?:[^*]|\*(?!/))*\*/)*OPENQASM\s+3\b")


def _qasm_text(source: str | os.PathLike[str]) -> str:
    """The program: ``source`` itself, or the file it names."""
    if isinstance(source, os.PathLike):
        return Path(source).read_text()
    if "\n" in source or not source.strip():
        return source
    path = Path(source)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name too long, or with a NUL, for a path
        is_file = False
    # Every OpenQASM statement ends in ';': a single line without one can only be
    # meant as a path, and reading it says which file is missing.
    return path.read_text() if is_file or ";" not in source else source


def from_qasm(source: str | os.PathLike[str]) -> QuantumCircuit:
    """A ``QuantumCircuit`` from OpenQASM 2 or 3 text, or from a file path, through
    ``qiskit.qasm2`` / ``qiskit.qasm3`` (OpenQASM 3 needs ``qiskit_qasm3_import``).

    A string is program text if it spans several lines or holds a ``;``, unless it
    names an existing file; otherwise it is a path. The version is read from the
    ``OPENQASM`` statement, after any leading comments; without one, OpenQASM 2.

    >>> from ferroq.qiskit import from_qasm
    >>> qc = from_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0], q[1];')
    >>> qc.count_ops()["cx"]
    1
    """
    text = _qasm_text(source)
    if _QASM3_HEADER.match(text):
        from qiskit import qasm3

        return qasm3.loads(text)
    from qiskit import qasm2

    return qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
