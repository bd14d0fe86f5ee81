"""Save instructions for ``QuantumCircuit``s, compatible with qiskit-aer's names and layout.

ferroq computes them in Rust from the final state; the values appear in
``result.data(i)[label]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qiskit.circuit import Instruction, QuantumCircuit

__all__ = [
    "SaveAmplitudes",
    "SaveExpectationValue",
    "SaveProbabilities",
    "SaveProbabilitiesDict",
    "SaveStatevector",
    "save_amplitudes",
    "save_expectation_value",
    "save_probabilities",
    "save_probabilities_dict",
    "save_statevector",
]


class _Save(Instruction):
    """A save instruction: no effect on the state, a labelled value in the result."""

    _directive = True

    def __init__(self, name: str, num_qubits: int, label: str, params: Sequence[Any] = ()) -> None:
        super().__init__(name, num_qubits, 0, list(params))
        self._label = label
        # Aer's field: one value for the circuit ("single") or an average over shots.
        self._subtype = "single" if name in ("save_statevector", "save_amplitudes") else "average"

    def validate_parameter(self, parameter: Any) -> Any:
        return parameter


class SaveStatevector(_Save):
    def __init__(self, num_qubits: int, label: str = "statevector") -> None:
        super().__init__("save_statevector", num_qubits, label)


class SaveProbabilities(_Save):
    def __init__(self, num_qubits: int, label: str = "probabilities") -> None:
        super().__init__("save_probabilities", num_qubits, label)


class SaveProbabilitiesDict(_Save):
    def __init__(self, num_qubits: int, label: str = "probabilities_dict") -> None:
        super().__init__("save_probabilities_dict", num_qubits, label)


class SaveAmplitudes(_Save):
    def __init__(self, num_qubits: int, params: Sequence[int], label: str = "amplitudes") -> None:
        super().__init__("save_amplitudes", num_qubits, label, [int(p) for p in params])


class SaveExpectationValue(_Save):
    """``<psi|O|psi>`` of a ``SparsePauliOp`` (or anything with ``to_list()``)."""

    def __init__(self, operator: Any, label: str = "expectation_value") -> None:
        terms = operator.to_list() if hasattr(operator, "to_list") else list(operator)
        width = len(terms[0][0]) if terms else 0
        # Aer's layout: (pauli, (coeff, variance coeff)).
        super().__init__("save_expval", width, label, [(str(p), (complex(c), 0)) for p, c in terms])


class _AerSave(_Save):
    """Stands for an Aer save instruction in ferroq's transpiler target (so that
    ``transpile`` keeps Aer's saves); circuits carry Aer's own classes."""


#: Aer's save instructions that ferroq runs from its own saves (see
#: ``_convert._DERIVED_SAVES``), one target class each.
AER_ONLY_SAVES: dict[str, type[_AerSave]] = {
    name: type(f"_{name}", (_AerSave,), {})
    for name in (
        "save_state",
        "save_statevector_dict",
        "save_amplitudes_sq",
        "save_expval_var",
        "save_density_matrix",
    )
}


def save_statevector(circuit: QuantumCircuit, label: str = "statevector") -> QuantumCircuit:
    """Appends a statevector save on all qubits of ``circuit``; returns the circuit."""
    circuit.append(SaveStatevector(circuit.num_qubits, label), circuit.qubits)
    return circuit


def save_probabilities(
    circuit: QuantumCircuit, qubits: Sequence[Any] | None = None, label: str = "probabilities"
) -> QuantumCircuit:
    """Appends a save of the marginal probabilities of ``qubits`` (all by default)."""
    wires = circuit.qubits if qubits is None else qubits
    circuit.append(SaveProbabilities(len(wires), label), wires)
    return circuit


def save_probabilities_dict(
    circuit: QuantumCircuit, qubits: Sequence[Any] | None = None, label: str = "probabilities_dict"
) -> QuantumCircuit:
    """As :func:`save_probabilities`, as a dict of the non-zero ones with hex keys."""
    wires = circuit.qubits if qubits is None else qubits
    circuit.append(SaveProbabilitiesDict(len(wires), label), wires)
    return circuit


def save_amplitudes(
    circuit: QuantumCircuit, params: Sequence[int], label: str = "amplitudes"
) -> QuantumCircuit:
    """Appends a save of the amplitudes of the basis states ``params``."""
    circuit.append(SaveAmplitudes(circuit.num_qubits, params, label), circuit.qubits)
    return circuit


def save_expectation_value(
    circuit: QuantumCircuit, operator: Any, qubits: Sequence[Any], label: str = "expectation_value"
) -> QuantumCircuit:
    """Appends a save of ``<psi|operator|psi>`` with the operator on ``qubits``."""
    circuit.append(SaveExpectationValue(operator, label), qubits)
    return circuit
