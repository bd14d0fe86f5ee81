"""OpenQASM 2.0 import, with no Qiskit needed.

The parser is written in Rust and accepts what ``qiskit.qasm2.loads`` accepts
with its default settings: ``qreg``/``creg`` (flattened in declaration order),
``include "qelib1.inc";`` (built in, with Qiskit's legacy additions such as
``sx``, ``p``, ``swap``, ``cu``, ``rxx``, ``rzz``, ``rccx``, ``c3x``), ``gate``
definitions, ``measure``, ``reset``, ``barrier``, register broadcast, comments
and parameter expressions. ``opaque`` gates may be declared but not used, and
``if`` is rejected, since ferroq circuits have no classical conditions. Every
error is a :class:`ferroq.exceptions.QasmError` carrying its ``line`` and
``column``.

>>> import ferroq
>>> from ferroq import qasm2
>>> bell = qasm2.loads('''
... OPENQASM 2.0;
... include "qelib1.inc";
... qreg q[2];
... creg c[2];
... h q[0];
... cx q[0], q[1];
... measure q -> c;
... ''')
>>> bell.num_qubits, bell.num_clbits, [i.name for i in bell.instructions]
(2, 2, ['h', 'cx', 'measure', 'measure'])
>>> counts = ferroq.Simulator().run(bell, shots=100, seed=7).result().get_counts()
>>> sorted(counts)
['00', '11']
"""

from __future__ import annotations

import os
from pathlib import Path

from ferroq import _core
from ferroq._circuit import Circuit

__all__ = ["load", "loads"]


def loads(text: str) -> Circuit:
    """Parses an OpenQASM 2.0 program given as a string.

    Raises :class:`ferroq.exceptions.QasmError` (with ``line`` and ``column``)
    when the program is invalid or uses something ferroq cannot simulate.
    """
    if not isinstance(text, str):
        raise TypeError(f"loads() expects a str, got {type(text).__name__}")
    return Circuit._wrap(_core.parse_qasm2(text))


def load(path: str | os.PathLike[str]) -> Circuit:
    """Parses the OpenQASM 2.0 file at ``path`` (UTF-8); the circuit is named
    after the file's stem (``bell.qasm`` gives ``"bell"``).

    Raises :class:`OSError` when the file cannot be read and
    :class:`ferroq.exceptions.QasmError` when it is invalid.
    """
    path = Path(path)
    circuit = loads(path.read_text(encoding="utf-8"))
    circuit.name = path.stem
    return circuit
