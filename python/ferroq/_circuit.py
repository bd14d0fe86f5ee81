"""The circuit builder: one method per gate, named and ordered as in Qiskit."""

from __future__ import annotations

import numbers
import operator
from array import array
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NamedTuple, SupportsIndex

import numpy as np

from ferroq import _core

__all__ = ["GATES", "Circuit", "Instruction"]

QubitSpec = SupportsIndex | Iterable[SupportsIndex]

#: Every gate: ``name -> (num_qubits, num_params)``; ``num_qubits`` is ``None``
#: where it varies (``mcx``, ``unitary``).
GATES: dict[str, tuple[int | None, int]] = {name: (nq, np_) for name, nq, np_ in _core.gate_table()}
GATES["unitary"] = (None, 0)


class Instruction(NamedTuple):
    """One instruction of a circuit, as listed by :attr:`Circuit.instructions`."""

    name: str
    qubits: tuple[int, ...]
    clbits: tuple[int, ...]
    params: tuple[float, ...]


#: A condition: ``(clbit, value)`` or ``([clbit, ...], value)`` (a register read
#: with its first clbit least significant) compared for equality, or an
#: expression in the core's nested-tuple form (``("eq", ("register", [0, 1]),
#: ("value", 3))``; see ``_core.Circuit.if_else``).
Condition = tuple[Any, ...]


def _condition(condition: Condition) -> tuple[Any, ...]:
    """The core's expression for a condition as users write it."""
    if not isinstance(condition, tuple) or not condition:
        raise TypeError(
            f"a condition is a tuple (clbit or clbits, value) or an expression, got {condition!r}"
        )
    if isinstance(condition[0], str):
        return condition
    if len(condition) != 2:
        raise TypeError(f"a condition is (clbit or clbits, value), got {condition!r}")
    bits, value = condition
    if isinstance(value, bool) or isinstance(value, np.bool_):
        value = int(value)
    value = operator.index(value)
    if isinstance(bits, Iterable):
        return ("eq", ("register", _indices(bits)), ("value", value))
    return ("eq", ("bit", operator.index(bits)), ("value", value))


class _Block:
    """While its ``with`` body runs, the circuit's instructions go into a block
    of the same width; on a clean exit the block is handed to ``finish``."""

    def __init__(self, circuit: Circuit, finish: Any) -> None:
        self._circuit = circuit
        self._finish = finish
        self._parent: _core.Circuit | None = None

    def __enter__(self) -> Any:
        self._parent = self._circuit._native
        self._circuit._native = _core.Circuit(self._parent.num_qubits, self._parent.num_clbits)
        return self._entered()

    def _entered(self) -> Any:
        return None

    def __exit__(self, kind: Any, *_: Any) -> None:
        assert self._parent is not None
        body, self._circuit._native = self._circuit._native, self._parent
        if kind is None:
            self._finish(self._parent, body)


class _If(_Block):
    def _entered(self) -> _Block:
        # ``with circuit.if_test(...) as else_:`` then ``with else_:``.
        return _Block(self._circuit, lambda parent, body: parent.attach_else(body))


class _Switch:
    """``with circuit.switch(target) as case:`` then ``with case(1, 2):`` and
    ``with case(case.DEFAULT):``; the switch is appended when the outer block ends."""

    DEFAULT = object()

    def __init__(self, circuit: Circuit, target: tuple[Any, ...]) -> None:
        self._circuit = circuit
        self._target = target
        self._cases: list[tuple[list[int], _core.Circuit]] = []
        self._default: _core.Circuit | None = None

    def __enter__(self) -> _Switch:
        return self

    def __call__(self, *values: Any) -> _Block:
        def add(_parent: _core.Circuit, body: _core.Circuit) -> None:
            if any(v is _Switch.DEFAULT for v in values):
                self._default = body
            else:
                self._cases.append(([operator.index(v) for v in values], body))

        return _Block(self._circuit, add)

    def __exit__(self, kind: Any, *_: Any) -> None:
        if kind is None:
            self._circuit._native.switch_case(self._target, self._cases, self._default)


def _real_params(params: Any, gate: str) -> list[float]:
    """``params`` as floats; each must be a real number, as in Qiskit: a string,
    a complex number (numpy's included) or a bool is refused, never converted."""
    if isinstance(params, (str, bytes)):
        raise TypeError(f"{gate}: parameters must be a sequence of real numbers, not {params!r}")
    out = []
    for i, p in enumerate(params):
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (numbers.Real, np.integer, np.floating)):
            from ferroq.exceptions import CircuitError

            raise CircuitError(f"{gate}: parameter {i} must be a real number, got {type(p).__name__} {p!r}")
        out.append(float(p))
    return out


def _indices(spec: QubitSpec) -> list[int]:
    """An int, or an iterable of ints, as a list of ints."""
    if isinstance(spec, Iterable):
        return [operator.index(q) for q in spec]
    return [operator.index(spec)]


_SaveMode = Literal["average", "pershot", "conditional", "conditional_pershot"]


def _save_mode(pershot: object, conditional: object) -> _SaveMode:
    """The core's name for how a save gathers its values over the shots."""
    for name, flag in (("pershot", pershot), ("conditional", conditional)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
    if pershot and conditional:
        return "conditional_pershot"
    return "pershot" if pershot else "conditional" if conditional else "average"


class Circuit:
    """A quantum circuit over ``num_qubits`` qubits and ``num_clbits`` classical bits.

    Qubit 0 is the least significant bit of a basis state's index, and
    bitstrings print clbit 0 rightmost, as in Qiskit. Gate methods take
    parameters first and qubits after, in Qiskit's order, and return the
    circuit so that calls chain. Every instruction is validated when it is
    added: a bad qubit, parameter or matrix raises
    :class:`~ferroq.exceptions.CircuitError` at once.

    >>> import ferroq
    >>> bell = ferroq.Circuit(2, 2, name="bell").h(0).cx(0, 1).measure([0, 1], [0, 1])
    >>> len(bell), bell.num_qubits, bell.num_clbits
    (4, 2, 2)
    >>> counts = ferroq.Simulator().run(bell, shots=100, seed=7).result().get_counts()
    >>> sorted(counts), sum(counts.values())
    (['00', '11'], 100)
    """

    __slots__ = ("_native",)

    def __init__(self, num_qubits: int, num_clbits: int = 0, name: str | None = None) -> None:
        self._native = _core.Circuit(operator.index(num_qubits), operator.index(num_clbits), name)

    @classmethod
    def _wrap(cls, native: _core.Circuit) -> Circuit:
        circuit = cls.__new__(cls)
        circuit._native = native
        return circuit

    # ----------------------------------------------------------------- properties
    @property
    def num_qubits(self) -> int:
        """Number of qubits."""
        return self._native.num_qubits

    @property
    def num_clbits(self) -> int:
        """Number of classical bits."""
        return self._native.num_clbits

    @property
    def name(self) -> str | None:
        """The circuit's name (used to look its result up), or ``None``."""
        return self._native.name

    @name.setter
    def name(self, value: str | None) -> None:
        self._native.name = value

    @property
    def global_phase(self) -> float:
        """Global phase in radians, in ``[0, 2*pi)``."""
        return self._native.global_phase

    @global_phase.setter
    def global_phase(self, value: float) -> None:
        self._native.global_phase = float(value)

    @property
    def instructions(self) -> list[Instruction]:
        """The instructions in order, as ``(name, qubits, clbits, params)``."""
        return [
            Instruction(name, tuple(q), tuple(c), tuple(p)) for name, q, c, p in self._native.instructions()
        ]

    @property
    def data(self) -> list[tuple[str, tuple[int, ...], tuple[float, ...]]]:
        """The instructions in order, as ``(name, qubits, params)``."""
        return [(name, tuple(q), tuple(p)) for name, q, _, p in self._native.instructions()]

    def __len__(self) -> int:
        return len(self._native)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit):
            return NotImplemented
        return self._native == other._native

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"Circuit({self.num_qubits}, {self.num_clbits}{name}) with {len(self)} instructions"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # The engine's own binary form: written in one call, and read back in one call
        # that validates every instruction again (executors ship circuits this way).
        return (_from_bytes, (self._native.to_bytes(),))

    def copy(self) -> Circuit:
        """An independent copy."""
        return Circuit._wrap(self._native.copy())

    def inverse(self) -> Circuit:
        """The adjoint circuit: gates reversed and inverted, global phase negated.

        Raises :class:`~ferroq.exceptions.CircuitError` if the circuit measures or resets.

        >>> import ferroq, numpy as np
        >>> c = ferroq.Circuit(2).h(0).rzz(0.3, 0, 1).s(1)
        >>> state = ferroq.statevector(c.copy().compose(c.inverse()))
        >>> bool(np.allclose(state, [1, 0, 0, 0]))
        True
        """
        return Circuit._wrap(self._native.inverse())

    def compose(self, other: Circuit) -> Circuit:
        """Appends the instructions of ``other`` (same qubits and clbits) to this circuit."""
        if not isinstance(other, Circuit):
            raise TypeError(f"compose takes a ferroq.Circuit, not {type(other).__name__} {other!r}")
        # Composing a circuit with itself must read a snapshot, not the list being extended.
        self._native.compose(other._native.copy() if other is self else other._native)
        return self

    # ------------------------------------------------------------ generic forms
    def append(self, name: str, qubits: Sequence[SupportsIndex], params: Sequence[float] = ()) -> Circuit:
        """Appends the gate ``name`` (any name of :data:`GATES`, or ``"global_phase"``
        with no qubits and one parameter).

        >>> import ferroq
        >>> ferroq.Circuit(2).append("crx", [0, 1], [0.5]).data
        [('crx', (0, 1), (0.5,))]
        """
        self._native.append(name, [operator.index(q) for q in qubits], _real_params(params, name))
        return self

    def _gate(self, name: str, qubits: list[SupportsIndex], params: tuple[float, ...] = ()) -> Circuit:
        self._native.append(name, [operator.index(q) for q in qubits], _real_params(params, name))
        return self

    def unitary(self, matrix: Any, qubits: QubitSpec, label: str | None = None) -> Circuit:
        """Appends an arbitrary unitary matrix on ``qubits`` (``qubits[0]`` is the least
        significant bit of the matrix index). The matrix must be ``2^k x 2^k`` for
        ``k`` qubits and unitary within 1e-9. ``label`` is accepted for Qiskit
        compatibility and ignored.

        >>> import ferroq, numpy as np
        >>> c = ferroq.Circuit(1).unitary(np.array([[0, 1], [1, 0]]), [0])
        >>> ferroq.statevector(c).real.tolist()
        [0.0, 1.0]
        """
        del label
        array = np.asarray(matrix, dtype=np.complex128)
        self._native.unitary(array, _indices(qubits))
        return self

    # -------------------------------------------------------- non-unitary ops
    def set_statevector(self, state: Any) -> Circuit:
        """Sets the whole register's state to ``state`` (Aer's ``set_statevector``):
        ``2**num_qubits`` amplitudes, qubit 0 the least significant bit of the index,
        of norm 1 within 1e-8; anything with ``.data`` (qiskit's ``Statevector``) or a
        1-D array. Whatever came before is forgotten, so it may follow only gates
        and barriers (they are then skipped), not a measurement, reset, save or
        control flow; it cannot be inverted.

        >>> import ferroq, numpy as np
        >>> c = ferroq.Circuit(2).set_statevector(np.array([0, 1, 0, 0])).x(1)
        >>> ferroq.statevector(c).real.tolist()
        [0.0, 0.0, 0.0, 1.0]
        """
        array = np.asarray(getattr(state, "data", state), dtype=np.complex128)
        if array.ndim != 1:
            from ferroq.exceptions import CircuitError

            raise CircuitError(f"set_statevector: the state must be 1-dimensional, got shape {array.shape}")
        self._native.set_statevector(array)
        return self

    def measure(self, qubit: QubitSpec, clbit: QubitSpec) -> Circuit:
        """Measures ``qubit`` into ``clbit``; both may be lists of equal length."""
        qubits, clbits = _indices(qubit), _indices(clbit)
        if len(qubits) != len(clbits):
            from ferroq.exceptions import CircuitError

            raise CircuitError(f"measure: {len(qubits)} qubits but {len(clbits)} clbits")
        if len(qubits) == 1:
            self._native.measure(qubits[0], clbits[0])
            return self
        # All or nothing: a bad pair late in the lists leaves the circuit as it was.
        work = self._native.copy()
        for q, c in zip(qubits, clbits, strict=True):
            work.measure(q, c)
        self._native = work
        return self

    def measure_all(self, add_bits: bool = True) -> Circuit:
        """Measures every qubit. With ``add_bits`` (the default, as in Qiskit) new
        clbits are added after the existing ones, behind a barrier; without it,
        qubit ``i`` goes to clbit ``i``."""
        n = self.num_qubits
        work = self._native.copy()  # all or nothing
        if add_bits:
            first = self.num_clbits
            work.add_clbits(n)
            work.barrier([])
        else:
            first = 0
        for q in range(n):
            work.measure(q, first + q)
        self._native = work
        return self

    def reset(self, qubit: QubitSpec) -> Circuit:
        """Resets ``qubit`` (or each qubit of a list) to ``|0>``; all or nothing."""
        qubits = _indices(qubit)
        work = self._native if len(qubits) == 1 else self._native.copy()
        for q in qubits:
            work.reset(q)
        self._native = work
        return self

    def barrier(self, *qubits: QubitSpec) -> Circuit:
        """A barrier on the given qubits, or on all qubits when none are given."""
        flat: list[int] = []
        for spec in qubits:
            flat.extend(_indices(spec))
        self._native.barrier(flat)
        return self

    # ------------------------------------------------------ save instructions
    # Computed by the engine where they stand (after a mid-circuit measurement,
    # shot by shot and averaged); read them back with ``Result.data(i)[label]``.
    # ---------------------------------------------------------------- control flow
    def if_test(self, condition: Condition) -> _If:
        """A block that runs when ``condition`` holds, shot by shot (Qiskit's
        ``if_test``); ``as else_`` gives the block to run otherwise.

        >>> import ferroq
        >>> c = ferroq.Circuit(2, 2).h(0).measure(0, 0)
        >>> with c.if_test((0, 1)) as else_:
        ...     _ = c.x(1)
        >>> with else_:
        ...     _ = c.id(1)
        >>> c = c.measure(1, 1)
        >>> sorted(ferroq.Simulator(seed=1).run(c, shots=100).result().get_counts())
        ['00', '11']
        """
        expr = _condition(condition)
        return _If(self, lambda parent, body: parent.if_else(expr, body, None))

    def store(self, target: QubitSpec, value: int | Condition) -> Circuit:
        """Writes ``value`` into the clbit ``target`` (whether it is non-zero) or
        into the clbits ``target`` (a register, its first clbit the least
        significant), shot by shot (Qiskit's ``store``). ``value`` is an integer
        or an expression in the core's nested-tuple form (see :data:`Condition`),
        evaluated on the shot's clbits where the store stands.

        >>> import ferroq
        >>> c = ferroq.Circuit(1, 2).h(0).measure(0, 0).store(1, ("not", ("bit", 0)))
        >>> sorted(ferroq.Simulator(seed=1).run(c, shots=100).result().get_counts())
        ['01', '10']
        """
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, tuple):
            value = ("value", operator.index(value))
        self._native.store(_indices(target), value)
        return self

    def while_loop(self, condition: Condition) -> _Block:
        """A block repeated while ``condition`` holds (checked before each
        round), with :meth:`break_loop` and :meth:`continue_loop` inside.

        >>> import ferroq
        >>> c = ferroq.Circuit(1, 1)
        >>> with c.while_loop((0, 0)):   # repeat until the coin reads 1
        ...     _ = c.reset(0).h(0).measure(0, 0)
        >>> ferroq.Simulator(seed=2).run(c, shots=50).result().get_counts()
        {'1': 50}
        """
        expr = _condition(condition)
        return _Block(self, lambda parent, body: parent.while_loop(expr, body))

    def switch(self, target: Any) -> _Switch:
        """A switch on a clbit, a register (a list of clbits, the first least
        significant) or an expression: ``with c.switch([0, 1]) as case:``, then
        ``with case(0):``, ``with case(1, 2):``, ``with case(case.DEFAULT):``.

        >>> import ferroq
        >>> c = ferroq.Circuit(2, 2).h(0).measure(0, 0)
        >>> with c.switch([0]) as case:
        ...     with case(1):
        ...         _ = c.x(1)
        >>> sorted(ferroq.Simulator(seed=3).run(c.measure(1, 1), shots=100).result().get_counts())
        ['00', '11']
        """
        if isinstance(target, tuple) and target and isinstance(target[0], str):
            expr = target
        elif isinstance(target, Iterable):
            expr = ("register", _indices(target))
        else:
            expr = ("bit", operator.index(target))
        return _Switch(self, expr)

    def break_loop(self) -> Circuit:
        """Leaves the innermost :meth:`while_loop`."""
        self._native.break_loop()
        return self

    def continue_loop(self) -> Circuit:
        """Starts the next round of the innermost :meth:`while_loop`."""
        self._native.continue_loop()
        return self

    # Every save takes ``pershot`` and ``conditional`` (Aer's): with
    # ``pershot=True`` the value is a list with one value a shot (a numpy array
    # for expectation values); with ``conditional=True`` a dict from the classical
    # memory at the save (hex, as counts) to the value over the shots that had
    # it: averaged for probabilities and expectation values, the last such
    # shot's for a state or amplitudes (with both, a list per memory). A save
    # taken before any measurement has the same value in every shot, with memory
    # ``0x0``. A statevector or amplitudes saved after a mid-circuit measurement
    # differ from shot to shot, so with more than one shot they need one of them.
    def save_statevector(
        self, label: str = "statevector", *, pershot: bool = False, conditional: bool = False
    ) -> Circuit:
        """Saves the statevector where it stands (global phase included).

        >>> import ferroq
        >>> c = ferroq.Circuit(1).x(0).save_statevector()
        >>> ferroq.Simulator().run(c).result().data(0)["statevector"].real.tolist()
        [0.0, 1.0]
        """
        self._native.save("statevector", label, [], mode=_save_mode(pershot, conditional))
        return self

    def save_probabilities(
        self,
        qubits: QubitSpec | None = None,
        label: str = "probabilities",
        *,
        pershot: bool = False,
        conditional: bool = False,
    ) -> Circuit:
        """Saves the marginal probabilities of ``qubits`` (all by default) as an array
        indexed with ``qubits[0]`` as the least significant bit."""
        wires = [] if qubits is None else _indices(qubits)
        self._native.save("probabilities", label, wires, mode=_save_mode(pershot, conditional))
        return self

    def save_probabilities_dict(
        self,
        qubits: QubitSpec | None = None,
        label: str = "probabilities_dict",
        *,
        pershot: bool = False,
        conditional: bool = False,
    ) -> Circuit:
        """As :meth:`save_probabilities`, as a dict of the non-zero ones with hex keys."""
        wires = [] if qubits is None else _indices(qubits)
        self._native.save("probabilities_dict", label, wires, mode=_save_mode(pershot, conditional))
        return self

    def save_amplitudes(
        self,
        params: Iterable[SupportsIndex],
        label: str = "amplitudes",
        *,
        pershot: bool = False,
        conditional: bool = False,
    ) -> Circuit:
        """Saves the amplitudes of the basis states ``params`` (indices over all qubits)."""
        indices = [operator.index(i) for i in params]
        self._native.save("amplitudes", label, [], indices, mode=_save_mode(pershot, conditional))
        return self

    def save_expectation_value(
        self,
        operator_: Any,
        qubits: QubitSpec | None = None,
        label: str = "expectation_value",
        *,
        pershot: bool = False,
        conditional: bool = False,
    ) -> Circuit:
        """Saves ``<psi|O|psi>`` for ``O`` a sum of Pauli strings: a list of
        ``(label, coeff)`` such as ``[("ZZ", 1.0), ("XI", 0.5)]`` or anything with
        ``to_list()`` (qiskit's ``SparsePauliOp``). The rightmost letter acts on
        ``qubits[0]`` (default: qubits 0, 1, ...).

        >>> import ferroq
        >>> bell = ferroq.Circuit(2).h(0).cx(0, 1).save_expectation_value([("ZZ", 1), ("XX", 0.5)])
        >>> round(ferroq.Simulator().run(bell).result().data(0)["expectation_value"], 12)
        1.5
        >>> c = ferroq.Circuit(1, 1).h(0).measure(0, 0)
        >>> c = c.save_expectation_value([("Z", 1)], label="z", conditional=True)
        >>> z = ferroq.Simulator(seed=1).run(c, shots=10).result().data(0)["z"]
        >>> {memory: round(value, 12) for memory, value in z.items()}
        {'0x0': 1.0, '0x1': -1.0}
        """
        terms = operator_.to_list() if hasattr(operator_, "to_list") else list(operator_)
        parsed = [(str(p), complex(c)) for p, c in terms]
        width = len(parsed[0][0]) if parsed else 0
        wires = list(range(width)) if qubits is None else _indices(qubits)
        mode = _save_mode(pershot, conditional)
        self._native.save("expectation_value", label, wires, [], parsed, mode=mode)
        return self

    # ---------------------------------------------------------- 1-qubit gates
    def id(self, qubit: SupportsIndex) -> Circuit:
        """Identity."""
        return self._gate("id", [qubit])

    def x(self, qubit: SupportsIndex) -> Circuit:
        """Pauli X."""
        return self._gate("x", [qubit])

    def y(self, qubit: SupportsIndex) -> Circuit:
        """Pauli Y."""
        return self._gate("y", [qubit])

    def z(self, qubit: SupportsIndex) -> Circuit:
        """Pauli Z."""
        return self._gate("z", [qubit])

    def h(self, qubit: SupportsIndex) -> Circuit:
        """Hadamard."""
        return self._gate("h", [qubit])

    def s(self, qubit: SupportsIndex) -> Circuit:
        """S = diag(1, i)."""
        return self._gate("s", [qubit])

    def sdg(self, qubit: SupportsIndex) -> Circuit:
        """S-dagger = diag(1, -i)."""
        return self._gate("sdg", [qubit])

    def t(self, qubit: SupportsIndex) -> Circuit:
        """T = diag(1, e^{i pi/4})."""
        return self._gate("t", [qubit])

    def tdg(self, qubit: SupportsIndex) -> Circuit:
        """T-dagger."""
        return self._gate("tdg", [qubit])

    def sx(self, qubit: SupportsIndex) -> Circuit:
        """Square root of X."""
        return self._gate("sx", [qubit])

    def sxdg(self, qubit: SupportsIndex) -> Circuit:
        """Inverse square root of X."""
        return self._gate("sxdg", [qubit])

    def p(self, theta: float, qubit: SupportsIndex) -> Circuit:
        """Phase gate diag(1, e^{i theta})."""
        return self._gate("p", [qubit], (theta,))

    def r(self, theta: float, phi: float, qubit: SupportsIndex) -> Circuit:
        """Rotation by ``theta`` about the axis cos(phi) X + sin(phi) Y."""
        return self._gate("r", [qubit], (theta, phi))

    def rx(self, theta: float, qubit: SupportsIndex) -> Circuit:
        """exp(-i theta X / 2)."""
        return self._gate("rx", [qubit], (theta,))

    def ry(self, theta: float, qubit: SupportsIndex) -> Circuit:
        """exp(-i theta Y / 2)."""
        return self._gate("ry", [qubit], (theta,))

    def rz(self, phi: float, qubit: SupportsIndex) -> Circuit:
        """exp(-i phi Z / 2)."""
        return self._gate("rz", [qubit], (phi,))

    def u(self, theta: float, phi: float, lam: float, qubit: SupportsIndex) -> Circuit:
        """Generic single-qubit rotation U(theta, phi, lambda)."""
        return self._gate("u", [qubit], (theta, phi, lam))

    def u1(self, theta: float, qubit: SupportsIndex) -> Circuit:
        """U1(lambda), equal to P(lambda)."""
        return self._gate("u1", [qubit], (theta,))

    def u2(self, phi: float, lam: float, qubit: SupportsIndex) -> Circuit:
        """U2(phi, lambda) = U(pi/2, phi, lambda)."""
        return self._gate("u2", [qubit], (phi, lam))

    def u3(self, theta: float, phi: float, lam: float, qubit: SupportsIndex) -> Circuit:
        """U3(theta, phi, lambda), equal to U."""
        return self._gate("u3", [qubit], (theta, phi, lam))

    # ---------------------------------------------------------- 2-qubit gates
    def cx(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled X (CNOT)."""
        return self._gate("cx", [control_qubit, target_qubit])

    def cy(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled Y."""
        return self._gate("cy", [control_qubit, target_qubit])

    def cz(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled Z."""
        return self._gate("cz", [control_qubit, target_qubit])

    def ch(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled Hadamard."""
        return self._gate("ch", [control_qubit, target_qubit])

    def cs(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled S."""
        return self._gate("cs", [control_qubit, target_qubit])

    def csdg(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled S-dagger."""
        return self._gate("csdg", [control_qubit, target_qubit])

    def csx(self, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled square root of X."""
        return self._gate("csx", [control_qubit, target_qubit])

    def cp(self, theta: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled phase."""
        return self._gate("cp", [control_qubit, target_qubit], (theta,))

    def crx(self, theta: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled RX."""
        return self._gate("crx", [control_qubit, target_qubit], (theta,))

    def cry(self, theta: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled RY."""
        return self._gate("cry", [control_qubit, target_qubit], (theta,))

    def crz(self, theta: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled RZ."""
        return self._gate("crz", [control_qubit, target_qubit], (theta,))

    def cu(
        self,
        theta: float,
        phi: float,
        lam: float,
        gamma: float,
        control_qubit: SupportsIndex,
        target_qubit: SupportsIndex,
    ) -> Circuit:
        """Controlled e^{i gamma} U(theta, phi, lambda)."""
        return self._gate("cu", [control_qubit, target_qubit], (theta, phi, lam, gamma))

    def cu1(self, theta: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex) -> Circuit:
        """Controlled U1."""
        return self._gate("cu1", [control_qubit, target_qubit], (theta,))

    def cu3(
        self, theta: float, phi: float, lam: float, control_qubit: SupportsIndex, target_qubit: SupportsIndex
    ) -> Circuit:
        """Controlled U3."""
        return self._gate("cu3", [control_qubit, target_qubit], (theta, phi, lam))

    def swap(self, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """SWAP."""
        return self._gate("swap", [qubit1, qubit2])

    def iswap(self, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """iSWAP."""
        return self._gate("iswap", [qubit1, qubit2])

    def dcx(self, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """Double CNOT: CX(qubit1, qubit2) then CX(qubit2, qubit1)."""
        return self._gate("dcx", [qubit1, qubit2])

    def ecr(self, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """Echoed cross-resonance."""
        return self._gate("ecr", [qubit1, qubit2])

    def rxx(self, theta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """exp(-i theta X⊗X / 2)."""
        return self._gate("rxx", [qubit1, qubit2], (theta,))

    def ryy(self, theta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """exp(-i theta Y⊗Y / 2)."""
        return self._gate("ryy", [qubit1, qubit2], (theta,))

    def rzz(self, theta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """exp(-i theta Z⊗Z / 2)."""
        return self._gate("rzz", [qubit1, qubit2], (theta,))

    def rzx(self, theta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """exp(-i theta Z_{qubit1} X_{qubit2} / 2)."""
        return self._gate("rzx", [qubit1, qubit2], (theta,))

    def xx_plus_yy(self, theta: float, beta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """XX+YY interaction with phase ``beta``."""
        return self._gate("xx_plus_yy", [qubit1, qubit2], (theta, beta))

    def xx_minus_yy(self, theta: float, beta: float, qubit1: SupportsIndex, qubit2: SupportsIndex) -> Circuit:
        """XX-YY interaction with phase ``beta``."""
        return self._gate("xx_minus_yy", [qubit1, qubit2], (theta, beta))

    # ------------------------------------------------------ 3+-qubit gates
    def ccx(
        self, control_qubit1: SupportsIndex, control_qubit2: SupportsIndex, target_qubit: SupportsIndex
    ) -> Circuit:
        """Toffoli."""
        return self._gate("ccx", [control_qubit1, control_qubit2, target_qubit])

    def ccz(
        self, control_qubit1: SupportsIndex, control_qubit2: SupportsIndex, target_qubit: SupportsIndex
    ) -> Circuit:
        """Doubly controlled Z."""
        return self._gate("ccz", [control_qubit1, control_qubit2, target_qubit])

    def cswap(
        self, control_qubit: SupportsIndex, target_qubit1: SupportsIndex, target_qubit2: SupportsIndex
    ) -> Circuit:
        """Fredkin (controlled SWAP)."""
        return self._gate("cswap", [control_qubit, target_qubit1, target_qubit2])

    def rccx(
        self, control_qubit1: SupportsIndex, control_qubit2: SupportsIndex, target_qubit: SupportsIndex
    ) -> Circuit:
        """Simplified Toffoli (Toffoli up to relative phases)."""
        return self._gate("rccx", [control_qubit1, control_qubit2, target_qubit])

    def mcx(self, control_qubits: Iterable[SupportsIndex], target_qubit: SupportsIndex) -> Circuit:
        """Multi-controlled X on ``target_qubit``, controlled by all of ``control_qubits``."""
        return self._gate("mcx", [*control_qubits, target_qubit])


def _from_bytes(data: bytes) -> Circuit:
    """Unpickles a circuit from :meth:`ferroq._core.Circuit.to_bytes`'s form."""
    return Circuit._wrap(_core.Circuit.from_bytes(data))


# Pickles written by earlier versions name the loaders below: they stay, so that
# such pickles still load (validated again, instruction by instruction).

RawInstruction = tuple[str, list[int], list[int], list[float]]
Columns = tuple[str, "array[int]", "array[int]", "array[int]", "array[int]", "array[int]", "array[float]"]


def _rows(columns: Columns) -> list[RawInstruction]:
    """The instructions of columns of flat arrays: names joined by spaces, the
    qubit, clbit and parameter counts of each instruction, and every qubit, clbit
    and parameter in order."""
    names, nq, nc, np_, flat_q, flat_c, flat_p = columns
    qubits, clbits, params = flat_q.tolist(), flat_c.tolist(), flat_p.tolist()
    rows: list[RawInstruction] = []
    iq = ic = ip = 0
    for name, a, b, k in zip(names.split(" ") if names else [], nq, nc, np_, strict=True):
        rows.append((name, qubits[iq : iq + a], clbits[ic : ic + b], params[ip : ip + k]))
        iq, ic, ip = iq + a, ic + b, ip + k
    return rows


def _restore(
    num_qubits: int,
    num_clbits: int,
    name: str | None,
    global_phase: float,
    columns: Columns,
    matrices: list[Any],
) -> Circuit:
    """Unpickles a circuit pickled as columns (ferroq before the binary form); the
    engine validates every instruction again, in bulk between unitaries (whose
    matrices travel separately)."""
    instructions = _rows(columns)
    c = Circuit(num_qubits, num_clbits, name)
    c.global_phase = global_phase
    start = 0
    pending = iter(matrices)
    for i in [i for i, inst in enumerate(instructions) if inst[0] == "unitary"]:
        c._native.extend(instructions[start:i])
        c._native.unitary(next(pending), list(instructions[i][1]))
        start = i + 1
    c._native.extend(instructions[start:])
    return c


def _rebuild(
    num_qubits: int,
    num_clbits: int,
    name: str | None,
    global_phase: float,
    instructions: list[Instruction],
    matrices: list[Any],
) -> Circuit:
    """Unpickles a circuit pickled by ferroq 0.1.0 (Instruction tuples), validating
    every instruction again."""
    c = Circuit(num_qubits, num_clbits, name)
    c.global_phase = global_phase
    pending = iter(matrices)
    for inst in instructions:
        if inst.name == "measure":
            c._native.measure(inst.qubits[0], inst.clbits[0])
        elif inst.name == "reset":
            c._native.reset(inst.qubits[0])
        elif inst.name == "barrier":
            c._native.barrier(list(inst.qubits))
        elif inst.name == "unitary":
            c._native.unitary(next(pending), list(inst.qubits))
        else:
            c._native.append(inst.name, list(inst.qubits), list(inst.params))
    return c
