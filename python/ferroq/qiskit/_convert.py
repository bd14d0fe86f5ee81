"""QuantumCircuit -> ferroq.Circuit, once per circuit, with one call into Rust.

Gates of the native set go straight through (as a list handed to Rust in
one call); any other gate is expanded through its definition. Control flow
(``if_else``, ``while_loop``, ``switch_case``, ``break_loop``,
``continue_loop``, ``store`` into clbits and registers) becomes ferroq's, its
conditions (clbits, registers and classical expressions over them) included; a
``for_loop`` is unrolled and a ``box`` inlined. Opaque gates, standalone
classical variables are refused by name; Qiskit 1.x's ``c_if`` becomes an
``if`` block around its instruction.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import qiskit
import qiskit.circuit.library as lib
from qiskit.circuit import (
    ClassicalRegister,
    Clbit,
    ControlledGate,
    Parameter,
    ParameterExpression,
    QuantumCircuit,
)
from qiskit.circuit.classical import expr, types
from qiskit.circuit.controlflow import CASE_DEFAULT
from qiskit.quantum_info import Operator

import ferroq
from ferroq import _core
from ferroq.exceptions import CircuitError

__all__ = [
    "NATIVE_GATE_CLASSES",
    "Derived",
    "Template",
    "is_hidden",
    "to_ferroq",
    "to_ferroq_template",
    "to_ferroq_with_derived",
]

#: Qiskit's classes for the gates the engine runs natively, by name.
NATIVE_GATE_CLASSES: dict[str, type] = {
    "id": lib.IGate,
    "x": lib.XGate,
    "y": lib.YGate,
    "z": lib.ZGate,
    "h": lib.HGate,
    "s": lib.SGate,
    "sdg": lib.SdgGate,
    "t": lib.TGate,
    "tdg": lib.TdgGate,
    "sx": lib.SXGate,
    "sxdg": lib.SXdgGate,
    "p": lib.PhaseGate,
    "r": lib.RGate,
    "rx": lib.RXGate,
    "ry": lib.RYGate,
    "rz": lib.RZGate,
    "u": lib.UGate,
    "u1": lib.U1Gate,
    "u2": lib.U2Gate,
    "u3": lib.U3Gate,
    "cx": lib.CXGate,
    "cy": lib.CYGate,
    "cz": lib.CZGate,
    "ch": lib.CHGate,
    "cs": lib.CSGate,
    "csdg": lib.CSdgGate,
    "csx": lib.CSXGate,
    "cp": lib.CPhaseGate,
    "crx": lib.CRXGate,
    "cry": lib.CRYGate,
    "crz": lib.CRZGate,
    "cu": lib.CUGate,
    "cu1": lib.CU1Gate,
    "cu3": lib.CU3Gate,
    "swap": lib.SwapGate,
    "iswap": lib.iSwapGate,
    "dcx": lib.DCXGate,
    "ecr": lib.ECRGate,
    "rxx": lib.RXXGate,
    "ryy": lib.RYYGate,
    "rzz": lib.RZZGate,
    "rzx": lib.RZXGate,
    "xx_plus_yy": lib.XXPlusYYGate,
    "xx_minus_yy": lib.XXMinusYYGate,
    "ccx": lib.CCXGate,
    "ccz": lib.CCZGate,
    "cswap": lib.CSwapGate,
    "rccx": lib.RCCXGate,
    "mcx": lib.MCXGate,
}
_NATIVE_BY_CLASS = {cls: name for name, cls in NATIVE_GATE_CLASSES.items()}

_CONTROL_FLOW = {"if_else", "while_loop", "for_loop", "switch_case", "box", "break_loop", "continue_loop"}
#: Qiskit's binary operators on clbits and registers, by their core names.
_BINARY_OPS = {
    "BIT_AND": "bitand",
    "BIT_OR": "bitor",
    "BIT_XOR": "bitxor",
    "LOGIC_AND": "and",
    "LOGIC_OR": "or",
    "EQUAL": "eq",
    "NOT_EQUAL": "ne",
    "LESS": "lt",
    "LESS_EQUAL": "le",
    "GREATER": "gt",
    "GREATER_EQUAL": "ge",
}
# Instructions on classical variables (Qiskit's real-time classical expressions).
_SAVE_KINDS = {
    "save_statevector": "statevector",
    "save_probabilities": "probabilities",
    "save_probabilities_dict": "probabilities_dict",
    "save_amplitudes": "amplitudes",
    "save_expval": "expectation_value",
    "save_expectation_value": "expectation_value",
}
_SKIPPED = {"delay"}
SaveMode = Literal["average", "single", "pershot", "conditional", "conditional_pershot"]
#: Aer's save subtypes -> the core's save modes ("single": a state or amplitudes
#: saved after a mid-circuit measurement is the last shot's, as Aer keeps one
#: shot's; ferroq's own API refuses that unless asked per shot or per memory).
_SAVE_MODES: dict[str, SaveMode] = {
    "single": "single",
    "average": "average",
    "list": "pershot",
    "c_single": "conditional",
    "c_average": "conditional",
    "c_list": "conditional_pershot",
}
#: Aer's saves that are ferroq's with a step after the run (see ``Derived``).
_DERIVED_SAVES = {
    "save_state",
    "save_statevector_dict",
    "save_amplitudes_sq",
    "save_expval_var",
    "save_density_matrix",
}
#: Labels of the values a derived save is computed from; never shown.
_HIDDEN = "\x00ferroq:"

#: Aer save label -> how its value is made from the engine's saved values:
#: ``("statevector_dict",)``, ``("amplitudes_sq",)``, ``("expval_var", mean, square)``
#: (the labels of two expectation values) or ``("density_matrix", state, qubits)``
#: (the label of the whole statevector and the qubits to keep, least significant
#: first).
Derived = dict[str, tuple[Any, ...]]

# Qiskit's C API in a layout the extension knows (Qiskit 2.6); other versions,
# or FERROQ_QISKIT_CAPI=0, take the path through Python objects below.
_NATIVE_READER = _core.qiskit_capi_available()


def _conditions_possible(version: str) -> bool:
    """Whether instructions of this Qiskit version can carry a ``c_if`` condition
    (``Instruction.condition``, removed in Qiskit 2.0)."""
    return int(version.split(".", 1)[0]) < 2


# The bulk reader in Rust (``extend_qiskit``, the one Qiskit 1.x gets) does not look
# at conditions and would run a conditioned gate unconditionally, so on Qiskit 1.x
# the circuit is scanned for them first; Qiskit 2 pays nothing.
_CHECK_CONDITIONS = _conditions_possible(qiskit.__version__)


def _value(p: Any, circuit: QuantumCircuit) -> float:
    if isinstance(p, ParameterExpression):
        if p.parameters:
            names = ", ".join(sorted(str(x) for x in p.parameters))
            raise CircuitError(
                f"circuit {circuit.name!r} has unbound parameters ({names}): bind them with "
                "assign_parameters() or run(..., parameter_binds=...)"
            )
        value = complex(p)
        if value.imag != 0:
            raise CircuitError(f"circuit {circuit.name!r}: parameter value {value} is not real")
        return value.real
    return float(p)


def _native_name(op: Any) -> str | None:
    """The engine's name for ``op`` if it is exactly a native gate, else None."""
    name = _NATIVE_BY_CLASS.get(getattr(op, "base_class", type(op)))
    if name is None:
        return None
    # An open control (ctrl_state not all ones) is not the native gate.
    if isinstance(op, ControlledGate) and op.ctrl_state != (1 << op.num_ctrl_qubits) - 1:
        return None
    return name


class _Builder:
    def __init__(self, target: ferroq.Circuit, source: QuantumCircuit, template: bool = False) -> None:
        self.target = target
        self.source = source
        self.pending: list[tuple[str, list[int], list[int], list[float]]] = []
        self.phase = 0.0
        self.derived: Derived = {}
        # Building a template (see ``Template``): where each unbound gate
        # parameter went, and the unbound parts of the global phase.
        self.slots: list[tuple[int, int, ParameterExpression]] | None = [] if template else None
        self.phase_terms: list[ParameterExpression] = []
        # False for a control-flow block's builder: a state is set only at top level.
        self.top_level = True

    def _phase(self, value: Any) -> None:
        if self.slots is not None and isinstance(value, ParameterExpression) and value.parameters:
            self.phase_terms.append(value)
        else:
            self.phase += _value(value, self.source)

    def _params(self, params: list[Any]) -> list[float]:
        if self.slots is None:
            return [_value(p, self.source) for p in params]
        # The gate's index once the pending instructions are flushed.
        at = len(self.target) + len(self.pending)
        out = []
        for k, p in enumerate(params):
            if isinstance(p, ParameterExpression) and p.parameters:
                self.slots.append((at, k, p))
                out.append(0.0)
            else:
                out.append(_value(p, self.source))
        return out

    def flush(self) -> None:
        if self.pending:
            self.target._native.extend(self.pending)
            self.pending = []

    def add(self, circuit: QuantumCircuit, qmap: list[int], cmap: list[int], depth: int = 0) -> None:
        if depth > 64:
            raise CircuitError(f"circuit {self.source.name!r}: gate definitions nest more than 64 levels")
        self._phase(circuit.global_phase)
        qindex = {q: qmap[i] for i, q in enumerate(circuit.qubits)}
        cindex = {c: cmap[i] for i, c in enumerate(circuit.clbits)}
        if _CHECK_CONDITIONS and _has_conditions(circuit):
            # Qiskit 1.x's c_if: the bulk readers in Rust do not see conditions,
            # so such a circuit goes instruction by instruction through Python.
            for inst in circuit.data:
                self.one(inst, qindex, cindex, depth)
            return
        if _NATIVE_READER:
            data = circuit._data
            start = 0
            while True:
                # Rust reads Qiskit's native instructions through its C API and
                # stops at the first one that needs Python.
                self.flush()
                stop = self.target._native.extend_qiskit_native(data, start, qmap, cmap)
                if stop is None:
                    return
                self.one(data[stop], qindex, cindex, depth)
                start = stop + 1
        instructions = iter(circuit.data)
        while True:
            # Rust takes the common instructions in bulk and hands back the first
            # one that needs Python (a definition to expand, a save, an error).
            self.flush()
            left = self.target._native.extend_qiskit(instructions, qindex, cindex)
            if left is None:
                return
            self.one(left, qindex, cindex, depth)

    def one(self, inst: Any, qindex: dict[Any, int], cindex: dict[Any, int], depth: int) -> None:
        name = inst.name
        qargs = [qindex[q] for q in inst.qubits]
        op = inst.operation
        if name in _CONTROL_FLOW:
            self.flush()
            self._control_flow(inst, qindex, cindex, depth)
            return
        if name == "store":
            self.flush()
            self._store(op, cindex)
            return
        if getattr(op, "condition", None) is not None:
            self.flush()
            self._conditioned(inst, qindex, cindex, depth)
            return
        native = _native_name(op)
        if native is not None:
            self.pending.append((native, qargs, [], self._params(op.params)))
        elif name in ("measure", "reset", "barrier"):
            self.pending.append((name, qargs, [cindex[c] for c in inst.clbits], []))
        elif name in ("set_statevector", "initialize") and self._set_state(op, name, qargs):
            return
        elif name in _SKIPPED:
            return
        elif name == "global_phase":
            self._phase(op.params[0])
        elif name == "unitary":
            self.flush()
            self.target._native.unitary(np.asarray(op.to_matrix(), dtype=np.complex128), qargs)
        elif name in _SAVE_KINDS:
            self.flush()
            self._save(op, qargs)
        elif name in _DERIVED_SAVES:
            self.flush()
            self._derived_save(op, qargs)
        elif name.startswith("save_"):
            raise CircuitError(f"circuit {self.source.name!r}: '{name}' is not supported by ferroq")
        else:
            self.flush()
            definition = getattr(op, "definition", None)
            if definition is not None:
                self.add(definition, qargs, [cindex[c] for c in inst.clbits], depth + 1)
            else:
                # Annotated operations and the like: no definition, but a matrix.
                self.target._native.unitary(self._matrix(op, name), qargs)

    def _set_state(self, op: Any, name: str, qargs: list[int]) -> bool:
        """Adds ``op`` as a ``set_statevector`` where it is one (see
        ``_whole_state``); whether it did."""
        state = self._whole_state(op, name, qargs)
        if state is None:
            return False
        self.flush()
        self.target._native.set_statevector(state)
        return True

    def _whole_state(self, op: Any, name: str, qargs: list[int]) -> np.ndarray | None:
        """The state Aer's ``set_statevector`` sets, or an ``initialize`` of every
        qubit with only gates before it (the state is then the same whatever they
        did), in the circuit's qubit order; ``None`` for an ``initialize`` that
        must run as its definition (reset, then prepare)."""
        n = self.target.num_qubits
        if name == "initialize":
            if len(qargs) != n or not self.top_level or not self._only_gates_so_far():
                return None
            params = list(op.params)
            if params and all(isinstance(p, str) for p in params):
                from qiskit.quantum_info import Statevector

                state = np.asarray(Statevector.from_label("".join(params)).data)
            elif len(params) == 1 and n != 0:
                state = np.zeros(2**n, dtype=np.complex128)
                state[int(np.real(params[0]))] = 1.0
            else:
                state = np.asarray(params, dtype=np.complex128)
        else:
            if len(qargs) != n:
                raise CircuitError(
                    f"circuit {self.source.name!r}: set_statevector acts on {len(qargs)} of its {n} "
                    "qubits; it must act on every qubit"
                )
            state = np.asarray(getattr(op.params[0], "data", op.params[0]), dtype=np.complex128)
            # As Aer: the state is the register's in the circuit's qubit order,
            # whatever order the instruction lists the qubits in.
            return state
        if qargs != list(range(n)) and state.size == 2**n:
            # Bit j of the state's index is qubit qargs[j]; tensor axis k is bit n-1-k.
            where = {q: j for j, q in enumerate(qargs)}
            axes = [n - 1 - where[n - 1 - a] for a in range(n)]
            state = np.transpose(state.reshape([2] * n), axes).reshape(-1)
        return state

    def _only_gates_so_far(self) -> bool:
        """Whether everything added so far acts the same on every shot, so that a
        state set now forgets all of it."""
        self.flush()
        names = {inst[0] for inst in self.target._native.instructions()}
        return not names & {"measure", "reset", "if_else", "while_loop", "switch_case"} and not any(
            n.startswith("save_") for n in names
        )

    def _matrix(self, op: Any, name: str) -> np.ndarray:
        if getattr(op, "num_clbits", 0) == 0 and op.num_qubits <= 12:
            try:
                return np.asarray(Operator(op).data, dtype=np.complex128)
            except Exception:  # qiskit raises several types for "no matrix"
                pass
        raise CircuitError(
            f"circuit {self.source.name!r}: '{name}' is opaque (it has no definition), "
            "so ferroq cannot simulate it"
        )

    def _mode(self, op: Any) -> SaveMode:
        """The core's save mode for Aer's subtype of ``op``."""
        subtype = getattr(op, "_subtype", "single")
        mode = _SAVE_MODES.get(subtype)
        if mode is None:
            raise CircuitError(
                f"circuit {self.source.name!r}: '{op.name}' with subtype {subtype!r} "
                "is not supported by ferroq"
            )
        return mode

    def _save(self, op: Any, qargs: list[int]) -> None:
        kind = _SAVE_KINDS[op.name]
        label = getattr(op, "_label", None) or kind
        mode = self._mode(op)
        native = self.target._native
        if kind == "amplitudes":
            native.save(kind, label, qargs, [int(i) for i in op.params], mode=mode)
        elif kind == "expectation_value":
            terms = [(str(p), complex(c[0] if isinstance(c, (tuple, list)) else c)) for p, c in op.params]
            native.save(kind, label, qargs, [], terms, mode=mode)
        else:
            native.save(kind, label, qargs, mode=mode)

    def _control_flow(self, inst: Any, qindex: dict[Any, int], cindex: dict[Any, int], depth: int) -> None:
        """Qiskit's control flow as ferroq's: if/else, while, switch, break and
        continue as they are; a for loop unrolled (its parameter bound each
        round); a box inlined."""
        op, name = inst.operation, inst.operation.name
        native = self.target._native
        qmap = [qindex[q] for q in inst.qubits]
        cmap = [cindex[c] for c in inst.clbits]

        def block(body: QuantumCircuit) -> _core.Circuit:
            inner = ferroq.Circuit(self.target.num_qubits, self.target.num_clbits)
            builder = _Builder(inner, self.source)
            builder.top_level = False
            builder.add(body, qmap, cmap, depth + 1)
            builder.flush()
            if builder.derived:
                raise CircuitError(f"circuit {self.source.name!r}: saves inside '{name}' are not supported")
            return inner._native

        if name == "if_else":
            then_body, else_body = op.blocks[0], op.blocks[1] if len(op.blocks) > 1 else None
            condition = self._expr(op.condition, cindex)
            native.if_else(condition, block(then_body), None if else_body is None else block(else_body))
        elif name == "while_loop":
            native.while_loop(self._expr(op.condition, cindex), block(op.blocks[0]))
        elif name == "switch_case":
            target = self._target_expr(op.target, cindex)
            cases: list[tuple[list[int], _core.Circuit]] = []
            default = None
            for values, body in op.cases_specifier():
                built = block(body)
                if any(v is CASE_DEFAULT for v in values):
                    default = built
                else:
                    cases.append(([int(v) for v in values], built))
            native.switch_case(target, cases, default)
        elif name == "for_loop":
            indexset, parameter, body = op.params
            if _breaks(body):
                raise CircuitError(
                    f"circuit {self.source.name!r}: 'break_loop' or 'continue_loop' in a for loop "
                    "is not supported by ferroq (use a while loop)"
                )
            for value in indexset:
                bound = (
                    body if parameter is None else body.assign_parameters({parameter: value}, inplace=False)
                )
                self.add(bound, qmap, cmap, depth + 1)
        elif name == "break_loop":
            native.break_loop()
        elif name == "continue_loop":
            native.continue_loop()
        else:  # box: its body, inline
            self.add(op.blocks[0], qmap, cmap, depth + 1)

    def _conditioned(self, inst: Any, qindex: dict[Any, int], cindex: dict[Any, int], depth: int) -> None:
        """Qiskit 1.x's ``c_if``: the instruction, without its condition, in an
        ``if`` block on the condition (a clbit or a register equal to a value)."""
        op = inst.operation
        bare = op.to_mutable()
        bare.condition = None
        inner = ferroq.Circuit(self.target.num_qubits, self.target.num_clbits)
        builder = _Builder(inner, self.source)
        builder.top_level = False
        builder.one(inst.replace(operation=bare), qindex, cindex, depth + 1)
        builder.flush()
        if builder.derived or builder.phase:
            raise CircuitError(
                f"circuit {self.source.name!r}: '{op.name}' with a classical condition (c_if) "
                "is a save or changes the global phase, which ferroq cannot condition"
            )
        self.target._native.if_else(self._expr(op.condition, cindex), inner._native, None)

    def _store(self, op: Any, cindex: dict[Any, int]) -> None:
        """Qiskit's ``store`` into a clbit or a register (a standalone classical
        variable is refused by name)."""
        target = op.lvalue
        where = target.var if isinstance(target, expr.Var) else None
        if isinstance(target, expr.Index) and isinstance(target.index, expr.Value):
            register = target.target.var if isinstance(target.target, expr.Var) else None
            if isinstance(register, ClassicalRegister):
                where = register[int(target.index.value)]
        if isinstance(where, Clbit):
            clbits = [cindex[where]]
        elif isinstance(where, ClassicalRegister):
            clbits = [cindex[b] for b in where]
        else:
            raise CircuitError(
                f"circuit {self.source.name!r}: 'store' into the classical variable {target} is not "
                "supported by ferroq (store into clbits and registers)"
            )
        self.target._native.store(clbits, self._expr(op.rvalue, cindex))

    def _target_expr(self, target: Any, cindex: dict[Any, int]) -> tuple[Any, ...]:
        """A switch's target: a clbit, a register or an expression."""
        if isinstance(target, Clbit):
            return ("bit", cindex[target])
        if isinstance(target, ClassicalRegister):
            return ("register", [cindex[b] for b in target])
        return self._expr(target, cindex)

    def _expr(self, condition: Any, cindex: dict[Any, int]) -> tuple[Any, ...]:
        """A Qiskit condition (``(clbit or register, value)`` or a classical
        expression) in the core's nested-tuple form."""
        if isinstance(condition, tuple):
            bits, value = condition
            return ("eq", self._target_expr(bits, cindex), ("value", int(value)))
        e = condition
        if isinstance(e, expr.Var):
            if isinstance(e.var, (Clbit, ClassicalRegister)):
                return self._target_expr(e.var, cindex)
            raise CircuitError(
                f"circuit {self.source.name!r}: classical variable {e.name!r} in a condition is not "
                "supported by ferroq (use clbits and registers)"
            )
        if isinstance(e, expr.Value):
            return ("value", int(e.value))
        if isinstance(e, expr.Index) and isinstance(e.index, expr.Value):
            register = e.target.var if isinstance(e.target, expr.Var) else None
            if isinstance(register, ClassicalRegister):
                return ("bit", cindex[register[int(e.index.value)]])
        if isinstance(e, expr.Cast):
            inner = self._expr(e.operand, cindex)
            if isinstance(e.type, types.Bool):
                return ("ne", inner, ("value", 0))
            width = getattr(e.type, "width", 64)
            return ("bitand", inner, ("value", (1 << min(width, 64)) - 1))
        if isinstance(e, expr.Unary) and e.op.name in ("LOGIC_NOT", "BIT_NOT"):
            inner = self._expr(e.operand, cindex)
            if e.op.name == "LOGIC_NOT":
                return ("not", inner)
            return ("bitnot", inner, getattr(e.operand.type, "width", 1))
        if isinstance(e, expr.Binary) and e.op.name in _BINARY_OPS:
            return (_BINARY_OPS[e.op.name], self._expr(e.left, cindex), self._expr(e.right, cindex))
        raise CircuitError(
            f"circuit {self.source.name!r}: the classical expression {e} is not supported by ferroq"
        )

    def _derived_save(self, op: Any, qargs: list[int]) -> None:
        """Aer's saves that ferroq computes from one or two of its own. Those Aer
        averages over the shots (squared amplitudes, expectation value and
        variance, density matrix) are not linear in the state: after a
        measurement their sources are taken per shot and the derived values
        averaged (over all shots, or per memory)."""
        label = getattr(op, "_label", None) or op.name[len("save_") :]
        mode: SaveMode = self._mode(op)
        mean = False
        if op.name in ("save_amplitudes_sq", "save_expval_var", "save_density_matrix") and not (
            self.top_level and self._only_gates_so_far()
        ):
            if mode == "average":
                mode, mean = "pershot", True
            elif mode == "conditional":
                mode, mean = "conditional_pershot", True
        native = self.target._native
        everything = list(range(self.target.num_qubits))
        if op.name == "save_state":
            # Aer's default label is the method's name.
            native.save("statevector", "statevector" if label == "_method_" else label, qargs, mode=mode)
        elif op.name == "save_statevector_dict":
            native.save("statevector", label, qargs, mode=mode)
            self.derived[label] = ("statevector_dict", mode, mean)
        elif op.name == "save_amplitudes_sq":
            native.save("amplitudes", label, qargs, [int(i) for i in op.params], mode=mode)
            self.derived[label] = ("amplitudes_sq", mode, mean)
        elif op.name == "save_expval_var":
            # Aer's terms carry two coefficients: the operator's, and its square's.
            mean_label, square = f"{_HIDDEN}{label}:mean", f"{_HIDDEN}{label}:square"
            first = [(str(p), complex(c[0])) for p, c in op.params]
            second = [(str(p), complex(c[1])) for p, c in op.params]
            native.save("expectation_value", mean_label, qargs, [], first, mode=mode)
            native.save("expectation_value", square, qargs, [], second, mode=mode)
            self.derived[label] = ("expval_var", mode, mean, mean_label, square)
        else:  # save_density_matrix: the reduced state of its qubits
            state = f"{_HIDDEN}{label}:state"
            native.save("statevector", state, everything, mode=mode)
            self.derived[label] = ("density_matrix", mode, mean, state, list(qargs))


def _breaks(body: QuantumCircuit) -> bool:
    """Whether ``body`` breaks or continues its own loop (not an inner one's)."""
    for inst in body.data:
        name = inst.operation.name
        if name in ("break_loop", "continue_loop"):
            return True
        if name in ("if_else", "switch_case", "box") and any(_breaks(b) for b in inst.operation.blocks if b):
            return True
    return False


def is_hidden(label: str) -> bool:
    """Whether ``label`` names a value a derived save is computed from."""
    return label.startswith(_HIDDEN)


def _has_conditions(circuit: QuantumCircuit) -> bool:
    """Whether an instruction of ``circuit`` has a ``c_if`` condition (Qiskit 1.x)."""
    return any(getattr(inst.operation, "condition", None) is not None for inst in circuit.data)


def to_ferroq(circuit: QuantumCircuit) -> ferroq.Circuit:
    """Converts a ``QuantumCircuit`` (bound parameters) to a ``ferroq.Circuit``.

    Flat qubit and clbit indices follow ``circuit.qubits`` and ``circuit.clbits``
    (registers in the order they were added), so counts come out in Qiskit's order.
    """
    return to_ferroq_with_derived(circuit)[0]


def to_ferroq_with_derived(circuit: QuantumCircuit) -> tuple[ferroq.Circuit, Derived]:
    """:func:`to_ferroq`, and how the values of Aer's derived saves are made from
    the run's (see ``Derived``)."""
    out = ferroq.Circuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    builder = _Builder(out, circuit)
    builder.add(circuit, list(range(circuit.num_qubits)), list(range(circuit.num_clbits)))
    builder.flush()
    out.global_phase = builder.phase
    return out, builder.derived


class Template:
    """A parameterised ``QuantumCircuit`` converted once: a ``ferroq.Circuit`` whose
    unbound gate parameters are slots, and what goes into each (a Qiskit
    ``ParameterExpression``). :meth:`bind` makes one circuit per parameter set
    by evaluating the slots' expressions and filling them in Rust: a sweep costs
    one conversion, not one binding and conversion per set.
    """

    def __init__(self, source: QuantumCircuit, builder: _Builder) -> None:
        assert builder.slots is not None
        self.circuit = builder.target
        self.parameters = list(source.parameters)
        self._source = source
        self._slots = [(at, k) for at, k, _ in builder.slots]
        self._expressions = [e for _, _, e in builder.slots]
        self._phase = builder.phase
        self._phase_terms = builder.phase_terms

    def bind(self, values: Any) -> list[ferroq.Circuit]:
        """One circuit per row of ``values``: a ``(sets, len(parameters))`` array of
        each set's value of every parameter, in the order of ``parameters`` (the
        source circuit's ``parameters``, as ``BindingsArray.as_array`` gives them)."""
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != len(self.parameters):
            raise CircuitError(
                f"circuit {self._source.name!r}: parameter values of shape {values.shape} for "
                f"{len(self.parameters)} parameters"
            )
        sets = values.shape[0]
        column = {p: i for i, p in enumerate(self.parameters)}
        filled = np.empty((sets, len(self._slots)), dtype=np.float64)
        for j, expression in enumerate(self._expressions):
            filled[:, j] = self._evaluate(expression, values, column)
        phases = np.full(sets, self._phase)
        for expression in self._phase_terms:
            phases += self._evaluate(expression, values, column)
        if self._slots:
            natives = [ferroq.Circuit._wrap(n) for n in self.circuit._native.with_params(self._slots, filled)]
        else:
            natives = [self.circuit.copy() for _ in range(sets)]
        for circuit, phase in zip(natives, phases.tolist(), strict=True):
            circuit.global_phase = phase
        return natives

    def _evaluate(self, expression: ParameterExpression, values: Any, column: dict[Any, int]) -> Any:
        """``expression``'s value for every row of ``values``."""
        if isinstance(expression, Parameter):
            return values[:, column[expression]]
        params = list(expression.parameters)
        rows = values[:, [column[p] for p in params]].tolist()
        fast = getattr(expression, "bind_all", None)  # Qiskit 2.x: a numeric value, checked less
        out = np.empty(len(rows), dtype=np.float64)
        for i, row in enumerate(rows):
            binding = dict(zip(params, row, strict=True))
            if fast is not None:
                value = complex(fast(binding))
                if value.imag != 0:
                    raise CircuitError(f"circuit {self._source.name!r}: parameter value {value} is not real")
                out[i] = value.real
            else:
                out[i] = _value(expression.bind(binding), self._source)
        return out


def to_ferroq_template(circuit: QuantumCircuit) -> Template | None:
    """``circuit`` (parameters unbound) as a :class:`Template`, or ``None`` where
    it cannot be one (an unbound parameter inside a control-flow block, or in a
    gate whose definition needs numbers, such as ``rv``): bind it set by set then."""
    out = ferroq.Circuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    builder = _Builder(out, circuit, template=True)
    try:
        builder.add(circuit, list(range(circuit.num_qubits)), list(range(circuit.num_clbits)))
    except Exception:  # Qiskit raises several types for "needs numbers"
        # Binding set by set converts it again, and raises what is wrong, if anything.
        return None
    builder.flush()
    return Template(circuit, builder)
