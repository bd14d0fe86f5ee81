"""ferroq's Qiskit adapter (``pip install "ferroq[qiskit]"``): a ``BackendV2``,
its jobs, save instructions, a provider and OpenQASM input.

Importing ``ferroq`` never imports qiskit; importing ``ferroq.qiskit`` does.
"""

from __future__ import annotations

import os
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
from ferroq.qiskit._provider import FerroqProvider
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


def from_qasm(source: str | os.PathLike[str]) -> QuantumCircuit:
    """A ``QuantumCircuit`` from OpenQASM 2 or 3 text, or from a file path, through
    ``qiskit.qasm2`` / ``qiskit.qasm3`` (OpenQASM 3 needs ``qiskit_qasm3_import``).

    >>> from ferroq.qiskit import from_qasm
    >>> qc = from_qasm('OPENQASM 2.0; include "qelib1.inc"; qreg q[2]; h q[0]; cx q[0], q[1];')
    >>> qc.count_ops()["cx"]
    1
    """
    text = str(source)
    is_path = isinstance(source, os.PathLike) or (
        "\n" not in text and ";" not in text and Path(text).is_file()
    )
    if is_path:
        text = Path(source).read_text()
    if text.lstrip().startswith("OPENQASM 3"):
        from qiskit import qasm3

        return qasm3.loads(text)
    from qiskit import qasm2

    return qasm2.loads(text, custom_instructions=qasm2.LEGACY_CUSTOM_INSTRUCTIONS)
