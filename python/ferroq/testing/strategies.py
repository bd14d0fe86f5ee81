"""Hypothesis strategies for quantum programs (``pip install "ferroq[testing]"``).

* :func:`circuits`: random ``ferroq.Circuit`` objects over ferroq's gate set
  (:data:`ferroq.GATES`), with measurements and resets as options;
* :func:`qiskit_circuits`: the same as qiskit ``QuantumCircuit`` objects (needs qiskit);
* :func:`states`: normalised statevectors; :func:`unitaries`: unitary matrices;
* :func:`pauli_strings` and :func:`observables`: Pauli strings and sums of them,
  in the format of :meth:`ferroq.Circuit.save_expectation_value`;
* :func:`angles`: the default strategy for gate parameters.

Every strategy shrinks a failing example towards a small one: circuits towards
fewer qubits, fewer layers and gates, gates earlier in :data:`ferroq.GATES`
(``id``, ``x``, ``y``, ...) and angles 0 or simple multiples of pi; states towards
``|0...0>``; unitaries towards the identity; Pauli strings towards ``I...I``.

Widths and depths may be given as an int, a ``range`` (``range(1, 6)``: 1 to 5)
or a strategy of ints.

>>> import ferroq
>>> from hypothesis import given
>>> from ferroq.testing import assert_circuits_equivalent
>>> from ferroq.testing.strategies import circuits
>>> @given(circuits(num_qubits=range(1, 4), depth=range(0, 6)))
... def test_inverse_undoes_circuit(circuit):
...     identity = ferroq.Circuit(circuit.num_qubits)
...     assert_circuits_equivalent(circuit.copy().compose(circuit.inverse()), identity)
>>> test_inverse_undoes_circuit()
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

try:
    from hypothesis import note
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
except ImportError as error:  # pragma: no cover - exercised without hypothesis
    raise ImportError(
        'ferroq.testing.strategies needs hypothesis: pip install "ferroq[testing]" '
        "(the assertions and run_many in ferroq.testing work without it)"
    ) from error

from ferroq._circuit import GATES, Circuit

__all__ = [
    "SIMPLE_ANGLES",
    "angles",
    "circuit_code",
    "circuits",
    "observables",
    "pauli_strings",
    "qiskit_circuits",
    "states",
    "unitaries",
]

SearchStrategy = st.SearchStrategy
IntSpec = int | range | SearchStrategy[int]
MeasureSpec = bool | Literal["final", "mid"]

#: Angles tried first and shrunk towards (0 first): failures are reported with
#: these values where they still fail.
SIMPLE_ANGLES: tuple[float, ...] = (
    0.0,
    math.pi,
    math.pi / 2,
    -math.pi / 2,
    math.pi / 4,
    -math.pi / 4,
    -math.pi,
    2 * math.pi,
    3 * math.pi / 4,
    math.pi / 8,
)

#: Largest ``unitary`` gate drawn by :func:`circuits` (qubits).
_MAX_UNITARY_QUBITS = 3
#: Largest number of controls of an ``mcx`` gate drawn by :func:`circuits`.
_MAX_MCX_CONTROLS = 4
#: Widths up to which states and unitaries are built from hypothesis-drawn floats
#: (fine-grained shrinking); wider ones come from a drawn seed.
_STATE_FLOATS_MAX_QUBITS = 5
_UNITARY_FLOATS_MAX_QUBITS = 3


def angles(
    *, simple: bool = True, min_value: float = -2 * math.pi, max_value: float = 2 * math.pi
) -> SearchStrategy[float]:
    """Gate angles: with ``simple`` (the default) one of :data:`SIMPLE_ANGLES` or any
    finite float in ``[min_value, max_value]``; shrinks towards 0 and simple
    fractions of pi.

    >>> from ferroq.testing.strategies import angles
    >>> strategy = angles(min_value=-1.0, max_value=1.0)
    """
    if not (math.isfinite(min_value) and math.isfinite(max_value) and min_value <= max_value):
        raise InvalidArgument(f"angles: need finite min_value <= max_value, got {min_value}, {max_value}")
    floats = st.floats(min_value, max_value, allow_nan=False, allow_infinity=False)
    if not simple:
        return floats
    specials = [a for a in SIMPLE_ANGLES if min_value <= a <= max_value]
    return st.one_of(st.sampled_from(specials), floats) if specials else floats


def _ints(value: IntSpec, name: str, minimum: int = 0) -> SearchStrategy[int]:
    """An int, a range or a strategy of ints, as a strategy (validated eagerly where possible)."""
    if isinstance(value, SearchStrategy):
        return value.map(lambda v: _check_int(v, name, minimum))
    if isinstance(value, range):
        if len(value) == 0:
            raise InvalidArgument(f"{name}={value!r} is empty")
        if min(value) < minimum:
            raise InvalidArgument(f"{name}={value!r} includes values below {minimum}")
        return st.sampled_from(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return st.just(_check_int(int(value), name, minimum))
    raise InvalidArgument(f"{name} must be an int, a range or a strategy of ints, got {value!r}")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise InvalidArgument(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


# ---------------------------------------------------------------------------
# States, unitaries, Pauli strings
# ---------------------------------------------------------------------------


def _basis_state(num_qubits: int, index: int) -> npt.NDArray[np.complex128]:
    state = np.zeros(1 << num_qubits, dtype=np.complex128)
    state[index] = 1.0
    return state


@st.composite
def _generic_state(draw: st.DrawFn, num_qubits: int) -> npt.NDArray[np.complex128]:
    dim = 1 << num_qubits
    if num_qubits <= _STATE_FLOATS_MAX_QUBITS:
        parts = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)
        re = np.array(draw(st.lists(parts, min_size=dim, max_size=dim)), dtype=np.float64)
        im = np.array(draw(st.lists(parts, min_size=dim, max_size=dim)), dtype=np.float64)
        vector = re + 1j * im
        vector[0] += 1.0  # all-zero draws (the shrink target) give |0...0>
        phase = draw(angles())
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**64 - 1)))
        vector = rng.standard_normal(dim) + 1j * rng.standard_normal(dim)
        phase = 0.0
    norm = float(np.linalg.norm(vector))
    if norm < 1e-3:
        return _basis_state(num_qubits, 0)
    return np.asarray(np.exp(1j * phase) * vector / norm, dtype=np.complex128)


@st.composite
def _state(draw: st.DrawFn, width: SearchStrategy[int], basis: bool) -> npt.NDArray[np.complex128]:
    n = draw(width)
    if basis and draw(st.booleans()):
        # hypothesis shrinks booleans to False: generic states shrink via their own
        # floats to |0...0>, and basis states are drawn as the other branch.
        return _basis_state(n, draw(st.integers(0, (1 << n) - 1)))
    return draw(_generic_state(n))


def states(num_qubits: IntSpec, *, basis_states: bool = True) -> SearchStrategy[npt.NDArray[np.complex128]]:
    """Normalised statevectors: complex128 arrays of length ``2**num_qubits`` (qubit 0 is
    the least significant bit of the index) and norm 1 within 1e-15.

    With ``basis_states`` (the default) a share of them are computational basis
    states. Up to 5 qubits every amplitude is drawn by hypothesis (so that failures
    shrink amplitude by amplitude, towards ``|0...0>``); wider states are Gaussian
    random states (uniform on the sphere) from a drawn seed.

    >>> import numpy as np
    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import states
    >>> @given(states(range(1, 4)))
    ... def test_normalised(state):
    ...     assert abs(np.linalg.norm(state) - 1) < 1e-12
    >>> test_normalised()
    """
    return _state(_ints(num_qubits, "num_qubits"), basis_states)


def _identity(dim: int) -> npt.NDArray[np.complex128]:
    return np.eye(dim, dtype=np.complex128)


def _haar(dim: int, seed: int) -> npt.NDArray[np.complex128]:
    """A Haar-random unitary: QR of a complex Gaussian matrix with the phases of R's
    diagonal moved into Q (Mezzadri)."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((dim, dim)) + 1j * rng.standard_normal((dim, dim))) / math.sqrt(2)
    q, r = np.linalg.qr(z)
    d = np.diagonal(r)
    return np.asarray(q * (d / np.abs(d)), dtype=np.complex128)


@st.composite
def _unitary(draw: st.DrawFn, width: SearchStrategy[int]) -> npt.NDArray[np.complex128]:
    n = draw(width)
    dim = 1 << n
    if n > _UNITARY_FLOATS_MAX_QUBITS:
        if not draw(st.booleans()):
            return _identity(dim)
        return _haar(dim, draw(st.integers(0, 2**64 - 1)))
    # exp(i H) for a Hermitian H drawn entry by entry: H = 0 (the shrink target) is
    # the identity, and eigenvalues of H up to about pi * dim reach every unitary.
    entries = st.floats(-math.pi, math.pi, allow_nan=False, allow_infinity=False)
    count = dim * dim
    values = np.array(draw(st.lists(entries, min_size=count, max_size=count)), dtype=np.float64)
    h = np.zeros((dim, dim), dtype=np.complex128)
    upper = np.triu_indices(dim, 1)
    h[np.diag_indices(dim)] = values[:dim]
    off = len(upper[0])
    h[upper] = values[dim : dim + off] + 1j * values[dim + off : dim + 2 * off]
    h = h + np.triu(h, 1).conj().T
    eigenvalues, vectors = np.linalg.eigh(h)
    return np.asarray((vectors * np.exp(1j * eigenvalues)) @ vectors.conj().T, dtype=np.complex128)


def unitaries(num_qubits: IntSpec) -> SearchStrategy[npt.NDArray[np.complex128]]:
    """Unitary matrices of shape ``(2**num_qubits, 2**num_qubits)`` (complex128, unitary
    within about 1e-14), in ferroq's convention (``Circuit.unitary(matrix, qubits)``:
    ``qubits[0]`` is the least significant bit of the index).

    Up to 3 qubits they are ``exp(iH)`` for a Hermitian ``H`` whose entries hypothesis
    draws, so that failures shrink towards the identity; wider ones are the identity
    or Haar-random from a drawn seed.

    >>> import numpy as np
    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import unitaries
    >>> @given(unitaries(2))
    ... def test_unitary(u):
    ...     assert np.allclose(u.conj().T @ u, np.eye(4))
    >>> test_unitary()
    """
    return _unitary(_ints(num_qubits, "num_qubits"))


def pauli_strings(num_qubits: IntSpec, *, identity: bool = True) -> SearchStrategy[str]:
    """Pauli strings such as ``"XIZY"``: one letter of ``IXYZ`` per qubit, the **rightmost
    letter acting on qubit 0** (Qiskit's convention, and that of
    :meth:`ferroq.Circuit.save_expectation_value`). Shrinks towards ``"I...I"``;
    with ``identity=False`` the all-``I`` string is never drawn.

    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import pauli_strings
    >>> @given(pauli_strings(3, identity=False))
    ... def test_labels(label):
    ...     assert len(label) == 3 and set(label) <= set("IXYZ") and label != "III"
    >>> test_labels()
    """
    width = _ints(num_qubits, "num_qubits")

    @st.composite
    def label(draw: st.DrawFn) -> str:
        n = draw(width)
        letters = draw(st.lists(st.sampled_from("IXYZ"), min_size=n, max_size=n))
        if not identity and set(letters) <= {"I"}:
            if n == 0:
                raise InvalidArgument("pauli_strings(0, identity=False) has nothing to draw")
            # Make one letter non-trivial rather than filtering (keeps shrinking simple).
            letters[-1 - draw(st.integers(0, n - 1))] = draw(st.sampled_from("XYZ"))
        return "".join(letters)

    return label()


def observables(
    num_qubits: IntSpec,
    *,
    max_terms: int = 4,
    coefficients: SearchStrategy[float] | None = None,
) -> SearchStrategy[list[tuple[str, float]]]:
    """Observables as sums of Pauli strings: lists of ``(pauli_string, coefficient)``
    pairs with 1 to ``max_terms`` terms, all strings of the same length (drawn
    once per example), real coefficients. This is the format
    :meth:`ferroq.Circuit.save_expectation_value` takes, and
    ``qiskit.quantum_info.SparsePauliOp.from_list`` too. A string may repeat (the
    terms add up). ``coefficients`` defaults to 1, -1, 0.5, 2 or any float in
    ``[-10, 10]``; shrinks towards one term ``("I...I", 1.0)``.

    >>> import ferroq
    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import observables
    >>> @given(observables(2))
    ... def test_bounded(observable):
    ...     c = ferroq.Circuit(2).h(0).cx(0, 1).save_expectation_value(observable)
    ...     value = ferroq.Simulator().run(c).result().data(0)["expectation_value"]
    ...     assert abs(value) <= sum(abs(coeff) for _, coeff in observable) + 1e-9
    >>> test_bounded()
    """
    if max_terms < 1:
        raise InvalidArgument(f"max_terms must be at least 1, got {max_terms}")
    width = _ints(num_qubits, "num_qubits")
    coeffs = (
        coefficients
        if coefficients is not None
        else st.one_of(
            st.sampled_from([1.0, -1.0, 0.5, 2.0]),
            st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False),
        )
    )

    @st.composite
    def observable(draw: st.DrawFn) -> list[tuple[str, float]]:
        n = draw(width)
        term = st.tuples(pauli_strings(n), coeffs.map(float))
        return draw(st.lists(term, min_size=1, max_size=max_terms))

    return observable()


# ---------------------------------------------------------------------------
# Circuits
# ---------------------------------------------------------------------------

Op = tuple[str, tuple[int, ...], Any]  # (name, qubits, params or matrix)


@dataclass
class _Program:
    """A drawn circuit before it is built: ops on ``num_qubits`` qubits, mid-circuit
    measurements into clbit ``q`` of ``mid_clbits`` clbits, and final measurements."""

    num_qubits: int
    ops: list[Op] = field(default_factory=list)
    mid_clbits: int = 0
    measure_final: bool = False


def _arity(name: str) -> int:
    """Qubits of a fixed-arity gate (``mcx`` and ``unitary``: their least)."""
    if name in ("measure", "reset", "barrier"):
        return 1
    if name == "mcx":
        return 2
    width, _ = GATES[name]
    return 1 if width is None else width


@st.composite
def _op(draw: st.DrawFn, n: int, names: Sequence[str], parameter: SearchStrategy[float]) -> Op:
    """One op on ``n`` qubits: a gate name, its qubits and its parameters.

    The draws are laid out so that shrinking works across widths: the name is an
    index into ``names`` whatever ``n`` (a gate too wide for ``n`` qubits is replaced
    by a fitting one), and each qubit is drawn on its own (moved up to the next
    free one if taken), so that each shrinks towards 0 independently of the others
    and keeps its meaning when ``n`` shrinks."""
    index = draw(st.integers(0, len(names) - 1))
    name = names[index]
    if _arity(name) > n:
        fitting = [g for g in names if _arity(g) <= n]
        name = fitting[index % len(fitting)]
    if name == "mcx":
        k = draw(st.integers(2, min(n, _MAX_MCX_CONTROLS + 1)))
    elif name == "unitary":
        k = draw(st.integers(1, min(n, _MAX_UNITARY_QUBITS)))
    elif name == "barrier":
        k = draw(st.integers(1, n))
    else:
        k = _arity(name)
    chosen: list[int] = []
    for _ in range(k):
        q = draw(st.integers(0, n - 1))
        while q in chosen:  # taken: the next qubit up (cyclically) that is not
            q = (q + 1) % n
        chosen.append(q)
    if name == "unitary":
        return (name, tuple(chosen), draw(unitaries(k)))
    _, num_params = GATES.get(name, (1, 0))
    params = tuple(draw(parameter) for _ in range(num_params))
    return (name, tuple(chosen), params)


@st.composite
def _program(
    draw: st.DrawFn,
    width: SearchStrategy[int],
    depth: SearchStrategy[int],
    names: Sequence[str],
    parameter: SearchStrategy[float],
    measure: str,
) -> _Program:
    min_arity = min(_arity(g) for g in names)
    n = draw(width)
    if 0 < n < min_arity:
        raise InvalidArgument(
            f"circuits: a {n}-qubit circuit fits none of the gates {sorted(names)}; "
            f"draw at least {min_arity} qubits"
        )
    program = _Program(n, mid_clbits=n if measure == "mid" else 0, measure_final=measure != "none")
    layers = draw(depth)
    if n == 0:
        return program
    op = _op(n, names, parameter)
    for _ in range(layers):
        # A layer: gates on disjoint qubits. A gate on a qubit that an earlier gate of
        # the layer took is left out (rather than moved elsewhere: each gate keeps the
        # qubits it drew whatever the shrinker deletes around it).
        used: set[int] = set()
        for name, qubits, params in draw(st.lists(op, min_size=1, max_size=n)):
            if used.isdisjoint(qubits):
                used.update(qubits)
                program.ops.append((name, qubits, params))
    return program


def circuit_code(circuit: Circuit) -> str:
    """Python code that builds ``circuit`` (with ``import ferroq`` and, for ``unitary``
    gates, ``import numpy as np``): how drawn circuits print in hypothesis' reports.

    >>> import ferroq
    >>> from ferroq.testing.strategies import circuit_code
    >>> print(circuit_code(ferroq.Circuit(2).h(0).cp(0.5, 0, 1)))
    ferroq.Circuit(2).h(0).cp(0.5, 0, 1)
    """
    head = f"ferroq.Circuit({circuit.num_qubits}" + (
        f", {circuit.num_clbits})" if circuit.num_clbits else ")"
    )
    parts = [head]
    if circuit.global_phase:
        parts.append(f'.append("global_phase", [], [{circuit.global_phase!r}])')
    matrices = iter(circuit._native.unitary_matrices())
    for name, qubits, clbits, params in circuit.instructions:
        if name == "measure":
            parts.append(f".measure({qubits[0]}, {clbits[0]})")
        elif name == "reset":
            parts.append(f".reset({qubits[0]})")
        elif name == "barrier":
            parts.append(f".barrier({list(qubits)})")
        elif name == "mcx":
            parts.append(f".mcx({list(qubits[:-1])}, {qubits[-1]})")
        elif name == "unitary":
            dim = 1 << len(qubits)
            matrix = np.asarray(next(matrices)).reshape(dim, dim)
            parts.append(f".unitary(np.array({matrix.tolist()!r}), {list(qubits)})")
        elif name.startswith("save_"):
            parts.append(f".{name}()")
        else:
            parts.append(f".{name}({', '.join([*map(repr, params), *map(str, qubits)])})")
    one_line = "".join(parts)
    if len(parts) <= 6 and len(one_line) <= 100:
        return one_line
    return "(\n    " + "\n    ".join(parts) + "\n)"


class _DrawnCircuit(Circuit):
    """A ``ferroq.Circuit`` whose repr is the code that builds it, so that hypothesis
    reports failing examples as code to paste into a test."""

    __slots__ = ()

    def __repr__(self) -> str:
        return circuit_code(self)


def _build(program: _Program) -> Circuit:
    n = program.num_qubits
    c = _DrawnCircuit(n, program.mid_clbits)
    for name, qubits, params in program.ops:
        if name == "measure":
            c.measure(qubits[0], qubits[0])
        elif name == "reset":
            c.reset(qubits[0])
        elif name == "barrier":
            c.barrier(list(qubits))
        elif name == "unitary":
            c.unitary(params, list(qubits))
        else:
            c.append(name, qubits, params)
    if program.measure_final:
        c.measure_all()
    return c


def _gate_names(
    gates: Iterable[str] | None,
    parameters: bool | SearchStrategy[float],
    measure: MeasureSpec,
    reset: bool,
    barriers: bool,
) -> tuple[list[str], SearchStrategy[float], str]:
    if gates is None:
        names = list(GATES)
    else:
        if isinstance(gates, str):
            raise InvalidArgument(f"gates must be a list of gate names, not the string {gates!r}")
        names = list(dict.fromkeys(gates))
        unknown = [g for g in names if g not in GATES]
        if unknown:
            raise InvalidArgument(f"unknown gate(s) {unknown}; known gates are {', '.join(GATES)}")
    if parameters is False:
        if gates is not None:
            parametrised = [g for g in names if GATES[g][1] > 0]
            if parametrised:
                raise InvalidArgument(
                    f"parameters=False but gates includes parametrised gates {parametrised}"
                )
        names = [g for g in names if GATES[g][1] == 0]
        parameter: SearchStrategy[float] = st.just(0.0)
    elif parameters is True:
        parameter = angles()
    elif isinstance(parameters, SearchStrategy):
        parameter = parameters
    else:
        raise InvalidArgument(f"parameters must be True, False or a strategy of floats, got {parameters!r}")
    if measure is True or measure == "final":
        mode = "final"
    elif measure is False:
        mode = "none"
    elif measure == "mid":
        mode = "mid"
        names.append("measure")
    else:
        raise InvalidArgument(f"measure must be False, True, 'final' or 'mid', got {measure!r}")
    if reset:
        names.append("reset")
    if barriers:
        names.append("barrier")
    if not names:
        raise InvalidArgument("circuits: no gates to draw from")
    return names, parameter, mode


def _program_strategy(
    num_qubits: IntSpec,
    depth: IntSpec,
    gates: Iterable[str] | None,
    measure: MeasureSpec,
    reset: bool,
    parameters: bool | SearchStrategy[float],
    barriers: bool,
) -> SearchStrategy[_Program]:
    names, parameter, mode = _gate_names(gates, parameters, measure, reset, barriers)
    width = _ints(num_qubits, "num_qubits")
    if not isinstance(num_qubits, SearchStrategy):
        # Widths that fit no gate are left out up front (a range may start too low).
        min_arity = min(_arity(g) for g in names)
        values = [num_qubits] if isinstance(num_qubits, int) else list(num_qubits)
        fitting = [v for v in values if v >= min_arity or v == 0]
        if not fitting:
            raise InvalidArgument(
                f"num_qubits={num_qubits!r} is too small for every gate of {names} (need {min_arity})"
            )
        width = st.sampled_from(fitting)
    return _program(width, _ints(depth, "depth"), names, parameter, mode)


def circuits(
    num_qubits: IntSpec = range(1, 6),
    depth: IntSpec = range(0, 9),
    *,
    gates: Iterable[str] | None = None,
    measure: MeasureSpec = False,
    reset: bool = False,
    parameters: bool | SearchStrategy[float] = True,
    barriers: bool = False,
) -> SearchStrategy[Circuit]:
    """Random ``ferroq.Circuit`` objects.

    Args:
        num_qubits: the width: an int, a ``range`` or a strategy of ints (default
            1 to 5 qubits).
        depth: the number of layers (default 0 to 8). A layer holds up to
            ``num_qubits`` gates on disjoint qubits, so the circuit's depth is at
            most ``depth`` (plus one for final measurements).
        gates: the gate names to draw from (names of :data:`ferroq.GATES`; default:
            all of them, ``mcx`` with up to 4 controls and ``unitary`` on up to 3
            qubits with a matrix from :func:`unitaries`). Where a drawn gate is
            wider than the circuit, one that fits is used instead.
        measure: ``False`` (default: no measurement, no clbits), ``True`` or
            ``"final"`` (``measure_all()`` at the end: ``num_qubits`` clbits behind a
            barrier), or ``"mid"``: measurements anywhere among the gates, qubit ``q``
            into clbit ``q`` of a first register of ``num_qubits`` clbits, and
            ``measure_all()`` into ``num_qubits`` more at the end (bitstrings are
            ``final + mid``, the final results on the left).
        reset: also draw ``reset`` instructions among the gates.
        parameters: ``True`` (default) draws parametrised gates with angles from
            :func:`angles`; ``False`` leaves parametrised gates out; a strategy of
            floats is used for every parameter.
        barriers: also draw barriers (on 1 to ``num_qubits`` qubits) among the gates.

    Failing examples shrink towards fewer qubits, fewer layers and gates, gates
    earlier in :data:`ferroq.GATES`, low qubit indices, and angles 0 or simple
    fractions of pi. The circuits are instances of a subclass of ``ferroq.Circuit``
    whose ``repr`` is the code that builds them (see :func:`circuit_code`), so that
    hypothesis reports a failing example as code to paste into a test; their
    copies (``circuit.copy()``) are plain ``ferroq.Circuit`` objects.

    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import circuits
    >>> @given(circuits(num_qubits=2, gates=["h", "cx", "rz"], measure=True))
    ... def test_counts_are_bitstrings(circuit):
    ...     assert circuit.num_clbits == 2
    ...     assert set(n for n, *_ in circuit.data) <= {"h", "cx", "rz", "barrier", "measure"}
    >>> test_counts_are_bitstrings()
    """
    program = _program_strategy(num_qubits, depth, gates, measure, reset, parameters, barriers)

    @st.composite
    def circuit(draw: st.DrawFn) -> Circuit:
        return _build(draw(program))

    return circuit()


def qiskit_circuits(
    num_qubits: IntSpec = range(1, 6),
    depth: IntSpec = range(0, 9),
    *,
    gates: Iterable[str] | None = None,
    measure: MeasureSpec = False,
    reset: bool = False,
    parameters: bool | SearchStrategy[float] = True,
    barriers: bool = False,
    registers: bool = False,
) -> SearchStrategy[Any]:
    """Random qiskit ``QuantumCircuit`` objects over Qiskit's standard gates (the gates of
    :data:`ferroq.GATES` are Qiskit's, by name; ``unitary`` is a ``UnitaryGate``,
    ``mcx`` an ``MCXGate``). Needs qiskit (``pip install "ferroq[qiskit]"``); it is
    imported when this function is called, and its absence raises ``ImportError``.

    The arguments are those of :func:`circuits`, and the same draw gives the same
    circuit in both. With ``registers=True`` the qubits are split into 1 to 3
    ``QuantumRegister`` objects (``qa``, ``qb``, ``qc``) and mid-circuit
    measurements go to a ``ClassicalRegister`` named ``mid``; final measurements
    use ``measure_all()`` (register ``meas``), as in :func:`circuits`.

    >>> from hypothesis import given
    >>> from ferroq.testing.strategies import qiskit_circuits
    >>> @given(qiskit_circuits(num_qubits=3, registers=True, measure="mid", reset=True))
    ... def test_widths(qc):
    ...     assert qc.num_qubits == 3 and qc.num_clbits == 6
    >>> test_widths()
    """
    try:
        import qiskit  # noqa: F401
    except ImportError as error:
        raise ImportError('qiskit_circuits needs qiskit: pip install "ferroq[qiskit]"') from error
    program = _program_strategy(num_qubits, depth, gates, measure, reset, parameters, barriers)

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        p = draw(program)
        splits: list[int] = []
        if registers and p.num_qubits > 1:
            parts = draw(st.integers(1, min(3, p.num_qubits)))
            splits = sorted(draw(st.permutations(range(1, p.num_qubits)))[: parts - 1])
        qc = _build_qiskit(p, splits if registers else None)
        # QuantumCircuit's repr says nothing: reports of failing examples show this.
        note(f"drawn qiskit circuit:\n{qc.draw(output='text', fold=-1)}")
        return qc

    return build()


def _build_qiskit(program: _Program, splits: list[int] | None) -> Any:
    from qiskit import ClassicalRegister, QuantumCircuit, QuantumRegister

    from ferroq.qiskit._convert import NATIVE_GATE_CLASSES

    n = program.num_qubits
    if splits is None:
        qc = QuantumCircuit(n, program.mid_clbits)
    else:
        bounds = [0, *splits, n]
        qregs = [
            QuantumRegister(hi - lo, f"q{'abc'[i]}") for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
        ]
        cregs = [ClassicalRegister(program.mid_clbits, "mid")] if program.mid_clbits else []
        qc = QuantumCircuit(*qregs, *cregs)
    for name, qubits, params in program.ops:
        wires = list(qubits)
        if name == "measure":
            qc.measure(wires[0], wires[0])
        elif name == "reset":
            qc.reset(wires[0])
        elif name == "barrier":
            qc.barrier(wires)
        elif name == "unitary":
            qc.unitary(params, wires)
        elif name == "mcx":
            qc.mcx(wires[:-1], wires[-1])
        else:
            qc.append(NATIVE_GATE_CLASSES[name](*params), wires)
    if program.measure_final:
        qc.measure_all()
    return qc
