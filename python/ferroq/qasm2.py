"""OpenQASM 2.0 import, with no Qiskit needed.

The parser is written in Rust and accepts what ``qiskit.qasm2.loads`` accepts
with its default settings: ``qreg``/``creg`` (flattened in declaration order),
``include "qelib1.inc";`` (built in, with Qiskit's legacy additions such as
``sx``, ``p``, ``swap``, ``cu``, ``rxx``, ``rzz``, ``rccx``, ``c3x``), ``gate``
definitions, ``measure``, ``reset``, ``barrier``, register broadcast, comments,
parameter expressions and ``if (creg == n) op;`` (a classically conditioned
operation, run shot by shot). ``opaque`` gates may be declared but not used.
Every error is a :class:`ferroq.exceptions.QasmError` carrying its ``line`` and
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

__all__ = ["load", "loads", "version"]


def version(text: str) -> str | None:
    """The version an OpenQASM program declares (``"2.0"``, ``"3"``, ...), read
    after any leading whitespace and comments, or ``None`` when it declares none.
    Linear in the text's length, however many comments come first.

    >>> version("// a comment\\n/* and\\n another */ OPENQASM 3.0;\\nqubit q;")
    '3.0'
    >>> version("qreg q[1];") is None
    True
    """
    at, end = 0, len(text)
    while at < end:
        if text[at].isspace():
            at += 1
        elif text.startswith("//", at):
            newline = text.find("\n", at)
            at = end if newline < 0 else newline + 1
        elif text.startswith("/*", at):
            close = text.find("*/", at + 2)
            if close < 0:
                return None
            at = close + 2
        else:
            break
    if not text.startswith("OPENQASM", at):
        return None
    rest = text[at + len("OPENQASM") :]
    stripped = rest.lstrip()
    if len(stripped) == len(rest):  # "OPENQASM3" is no header
        return None
    number = ""
    for ch in stripped:
        if not (ch.isdigit() or ch == "."):
            break
        number += ch
    return number or None


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
