"""The two ways of reading a QuantumCircuit give the same ferroq.Circuit.

The converter reads Qiskit 2.6 circuits through Qiskit's C API (Rust walks the
native instructions) and any other Qiskit through Python objects. Both must
produce identical circuits, including everything the fast reader hands back to
Python: definitions to expand, saves, unitaries, open controls, custom gates
that borrow a native gate's name, unbound parameters.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

qiskit = pytest.importorskip("qiskit")

import ferroq  # noqa: E402
from ferroq import _core  # noqa: E402
from ferroq.exceptions import CircuitError  # noqa: E402
from ferroq.qiskit import _convert, save_probabilities, save_statevector  # noqa: E402
from ferroq.testing.strategies import qiskit_circuits  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister  # noqa: E402
from qiskit.circuit import Gate, Parameter  # noqa: E402
from qiskit.circuit.library import QFTGate, efficient_su2, quantum_volume  # noqa: E402
from qiskit.quantum_info import Statevector  # noqa: E402

NATIVE = _core.qiskit_capi_available()
needs_native = pytest.mark.skipif(not NATIVE, reason="Qiskit's C API reader is not available here")


@pytest.fixture
def reader() -> Iterator[Any]:
    """Sets which reader `to_ferroq` uses, restoring the default afterwards."""
    default = _convert._NATIVE_READER

    def use(native: bool) -> None:
        _convert._NATIVE_READER = native

    yield use
    _convert._NATIVE_READER = default


def both(qc: QuantumCircuit) -> tuple[ferroq.Circuit, ferroq.Circuit]:
    """``qc`` read by the C API reader and by the Python-object reader."""
    default = _convert._NATIVE_READER
    try:
        _convert._NATIVE_READER = True
        fast = _convert.to_ferroq(qc)
        _convert._NATIVE_READER = False
        slow = _convert.to_ferroq(qc)
    finally:
        _convert._NATIVE_READER = default
    return fast, slow


def test_available_on_the_qiskit_it_was_written_for() -> None:
    major, minor = (int(x) for x in qiskit.__version__.split(".")[:2])
    if (major, minor) == (2, 6) and os.environ.get("FERROQ_QISKIT_CAPI") != "0":
        assert NATIVE, "Qiskit 2.6 exports the C API capsule; the reader should find it"


def test_env_switch_turns_it_off() -> None:
    code = "import qiskit; from ferroq import _core; print(_core.qiskit_capi_available())"
    env = dict(os.environ, FERROQ_QISKIT_CAPI="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@needs_native
@settings(max_examples=150, deadline=None)
@given(qiskit_circuits(num_qubits=range(1, 6), depth=range(0, 12), measure="mid", reset=True, barriers=True))
def test_random_circuits_read_the_same(qc: QuantumCircuit) -> None:
    fast, slow = both(qc)
    assert fast == slow
    assert math.isclose(fast.global_phase, slow.global_phase, abs_tol=1e-15)


@needs_native
@settings(max_examples=40, deadline=None)
@given(qiskit_circuits(num_qubits=range(2, 7), depth=range(1, 8), registers=True, measure="mid", reset=True))
def test_registers_read_the_same(qc: QuantumCircuit) -> None:
    fast, slow = both(qc)
    assert fast == slow


class _NamedRx(Gate):
    """A gate named 'rx' whose definition is not an rx: the reader must not trust the name."""

    def __init__(self) -> None:
        super().__init__("rx", 1, [0.3])

    def _define(self) -> None:
        qc = QuantumCircuit(1)
        qc.x(0)
        self.definition = qc


def _awkward() -> QuantumCircuit:
    """Every instruction the fast reader must hand back to Python, mixed with ones it keeps."""
    qa, qb = QuantumRegister(2, "qa"), QuantumRegister(2, "qb")
    ca, cb = ClassicalRegister(2, "ca"), ClassicalRegister(1, "cb")
    qc = QuantumCircuit(qa, qb, ca, cb, global_phase=0.25)
    qc.h(qa[0])
    qc.cx(qa[0], qb[1], ctrl_state=0)  # open control: not the native cx
    qc.append(_NamedRx(), [qb[0]])  # custom gate borrowing a native name
    qc.rz(3, qa[1])  # an int parameter
    qc.unitary([[0, 1], [1, 0]], [qb[0]])
    qc.delay(100, qa[0])
    qc.append(QFTGate(3), [qa[1], qb[0], qb[1]])  # definition to expand
    qc.global_phase += 0.5
    save_statevector(qc)
    qc.measure(qb[1], cb[0])
    qc.reset(qa[0])
    qc.barrier()
    qc.ccx(qa[0], qa[1], qb[0])
    qc.measure(qa, ca)
    save_probabilities(qc, [0, 1], label="p01")
    return qc


@needs_native
def test_instructions_python_must_handle() -> None:
    qc = _awkward()
    fast, slow = both(qc)
    assert fast == slow
    assert math.isclose(fast.global_phase, slow.global_phase)
    names = [i[0] for i in fast.instructions]
    assert "rx" not in names  # the custom gate went through its definition
    assert names.count("measure") == 3


@needs_native
def test_custom_gate_with_native_name_is_expanded() -> None:
    qc = QuantumCircuit(1)
    qc.append(_NamedRx(), [0])
    fast, slow = both(qc)
    assert fast == slow
    assert [i[0] for i in fast.instructions] == ["x"]


@needs_native
@pytest.mark.parametrize("native", [True, False])
def test_unbound_parameter_named(reader: Any, native: bool) -> None:
    qc = QuantumCircuit(1)
    qc.h(0)
    qc.rz(Parameter("theta") * 2, 0)
    reader(native)
    with pytest.raises(CircuitError, match="theta"):
        _convert.to_ferroq(qc)


@needs_native
@pytest.mark.parametrize(
    "qc",
    [
        QuantumCircuit(6).compose(QFTGate(6), range(6)).decompose(),
        quantum_volume(5, seed=3).decompose(),
        efficient_su2(4, reps=2).assign_parameters(list(range(24))),
    ],
    ids=["qft", "qv", "su2"],
)
def test_circuit_library(qc: QuantumCircuit) -> None:
    fast, slow = both(qc)
    assert fast == slow
    np.testing.assert_allclose(ferroq.statevector(fast), Statevector(qc).data, atol=1e-10)


def test_not_a_circuit_data_is_refused() -> None:
    target = ferroq.Circuit(1)
    with pytest.raises(CircuitError, match="C API"):
        target._native.extend_qiskit_native([("h", [0])], 0, [0], [])


@needs_native
def test_bit_map_lengths_are_checked() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    with pytest.raises(CircuitError, match="bit maps"):
        ferroq.Circuit(2)._native.extend_qiskit_native(qc._data, 0, [0], [])


@needs_native
def test_resumes_from_start_index() -> None:
    qc = QuantumCircuit(2)
    qc.h(0)
    qc.cx(0, 1)
    qc.x(1)
    target = ferroq.Circuit(2)
    assert target._native.extend_qiskit_native(qc._data, 1, [0, 1], []) is None
    assert [i[0] for i in target.instructions] == ["cx", "x"]
    assert target._native.extend_qiskit_native(qc._data, 3, [0, 1], []) is None
    assert target._native.extend_qiskit_native(qc._data, 99, [0, 1], []) is None
