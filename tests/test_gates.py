"""Every gate, on every qubit position and ordering, against the numpy reference."""

from __future__ import annotations

import cmath
import itertools
import math

import ferroq
import numpy as np
import pytest
import reference as ref
from helpers import GATE_NAMES, stable_seed

ATOL = 1e-10


def _cases(sizes=(3, 4)):
    for name in GATE_NAMES:
        nq = ref.GATES[name][0]
        for n in sizes:
            for qubits in itertools.permutations(range(n), nq):
                yield pytest.param(name, n, qubits, id=f"{name}-n{n}-{'_'.join(map(str, qubits))}")


def _param_sets(name, rng, count=2):
    npar = ref.GATES[name][1]
    if npar == 0:
        return [()]
    sets = [tuple(float(v) for v in rng.uniform(-2 * math.pi, 2 * math.pi, npar)) for _ in range(count)]
    sets.append(tuple(float(v) for v in rng.choice([math.pi / 2, -math.pi, 3.0, 12.5], npar)))
    return sets


def _call(circ, name, params, qubits):
    return getattr(circ, name)(*params, *qubits)


def _prepared(n, prep):
    return ferroq.Circuit(n).unitary(prep, list(range(n)))


@pytest.mark.parametrize(("name", "n", "qubits"), list(_cases()))
def test_gate_on_random_state(name, n, qubits):
    rng = np.random.default_rng(stable_seed("gate", name, n, qubits))
    prep = ref.random_unitary(1 << n, rng)
    psi0 = ferroq.statevector(_prepared(n, prep))
    np.testing.assert_allclose(psi0, prep[:, 0], atol=ATOL, err_msg="state preparation with unitary()")
    for params in _param_sets(name, rng):
        circ = _prepared(n, prep)
        assert _call(circ, name, params, qubits) is circ
        got = ferroq.statevector(circ)
        expected = ref.apply(psi0, ref.gate_matrix(name, params), qubits)
        np.testing.assert_allclose(got, expected, atol=ATOL, err_msg=f"{name}{params} on {qubits}")


@pytest.mark.parametrize(("name", "n", "qubits"), list(_cases(sizes=(3,))))
def test_gate_full_matrix_on_basis_states(name, n, qubits):
    """Column by column: the gate on each basis state (prepared with x) equals the
    full 2^n matrix built by the loop reference (catches phase/ordering bugs that a
    single random state could hide only by coincidence)."""
    rng = np.random.default_rng(stable_seed("basis", name, n, qubits))
    params = _param_sets(name, rng, count=1)[0]
    full = ref.full_matrix(ref.gate_matrix(name, params), qubits, n)
    for basis in range(1 << n):
        circ = ferroq.Circuit(n)
        for q in range(n):
            if (basis >> q) & 1:
                circ.x(q)
        _call(circ, name, params, qubits)
        np.testing.assert_allclose(
            ferroq.statevector(circ), full[:, basis], atol=ATOL, err_msg=f"basis {basis}"
        )


@pytest.mark.parametrize("name", GATE_NAMES)
def test_append_matches_method(name):
    n = 4
    nq, npar, _ = ref.GATES[name]
    rng = np.random.default_rng(stable_seed("append", name))
    prep = ref.random_unitary(1 << n, rng)
    psi0 = ref.apply(ref.zero_state(n), prep, range(n))
    qubits = [int(q) for q in rng.permutation(n)[:nq]]
    params = [float(v) for v in rng.uniform(-4, 4, npar)]
    expected = ref.apply(psi0, ref.gate_matrix(name, params), qubits)

    by_method = _prepared(n, prep)
    _call(by_method, name, params, qubits)
    by_append = _prepared(n, prep)
    assert by_append.append(name, qubits, params) is by_append
    by_tuple = _prepared(n, prep).append(name, tuple(qubits), tuple(params))
    for circ in (by_method, by_append, by_tuple):
        np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)
    if npar == 0:
        default_params = _prepared(n, prep).append(name, qubits)
        np.testing.assert_allclose(ferroq.statevector(default_params), expected, atol=ATOL)


def test_gates_table_lists_every_gate():
    table = ferroq.GATES
    for name, (nq, npar, _) in ref.GATES.items():
        assert name in table, name
        assert tuple(table[name]) == (nq, npar), name
    assert "mcx" in table
    assert table["mcx"][0] is None
    assert "unitary" in table
    assert table["unitary"][0] is None


@pytest.mark.parametrize("integer_params", [False, True])
def test_integer_parameters_accepted(integer_params):
    theta = 2 if integer_params else 2.0
    circ = ferroq.Circuit(1).rx(theta, 0)
    np.testing.assert_allclose(ferroq.statevector(circ), ref.gate_matrix("rx", (2.0,))[:, 0], atol=ATOL)


# ---------------------------------------------------------------------------
# mcx
# ---------------------------------------------------------------------------


def _mcx_cases():
    rng = np.random.default_rng(1234)
    n = 5
    for k in range(1, n):
        orders = list(itertools.permutations(range(n), k + 1))
        for idx in rng.choice(len(orders), size=min(6, len(orders)), replace=False):
            qubits = orders[int(idx)]
            yield pytest.param(
                n, qubits[:-1], qubits[-1], id=f"c{'_'.join(map(str, qubits[:-1]))}-t{qubits[-1]}"
            )
    yield pytest.param(5, (4, 3, 2, 1), 0, id="controls-above")
    yield pytest.param(5, (0, 1, 2, 3), 4, id="controls-below")
    yield pytest.param(5, (0, 4), 2, id="controls-around")


@pytest.mark.parametrize(("n", "controls", "target"), list(_mcx_cases()))
def test_mcx_on_random_state(n, controls, target):
    rng = np.random.default_rng(stable_seed("mcx", controls, target))
    prep = ref.random_unitary(1 << n, rng)
    psi0 = ref.apply(ref.zero_state(n), prep, range(n))
    circ = _prepared(n, prep)
    assert circ.mcx(list(controls), target) is circ
    expected = ref.apply(psi0, ref.mcx_matrix(len(controls)), [*controls, target])
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)
    np.testing.assert_allclose(ref.apply_mcx(psi0, controls, target), expected, atol=ATOL)


def test_mcx_with_many_controls():
    n = 10
    rng = np.random.default_rng(77)
    circ = ferroq.Circuit(n)
    ops = []
    for q in range(n):
        theta = float(rng.uniform(0.5, 2.5))
        circ.ry(theta, q)
        ops.append(("ry", (q,), (theta,)))
    controls = [int(q) for q in rng.permutation(n)]
    target = controls.pop(3)
    circ.mcx(controls, target)
    ops.append(("mcx", (*controls, target), ()))
    np.testing.assert_allclose(ferroq.statevector(circ), ref.simulate(ops, n), atol=ATOL)


def test_mcx_one_and_two_controls_equal_cx_and_ccx():
    rng = np.random.default_rng(3)
    prep = ref.random_unitary(8, rng)
    a = _prepared(3, prep).mcx([2], 0)
    b = _prepared(3, prep).cx(2, 0)
    np.testing.assert_allclose(ferroq.statevector(a), ferroq.statevector(b), atol=ATOL)
    a = _prepared(3, prep).mcx([2, 0], 1)
    b = _prepared(3, prep).ccx(2, 0, 1)
    np.testing.assert_allclose(ferroq.statevector(a), ferroq.statevector(b), atol=ATOL)
    c = _prepared(3, prep).append("mcx", [2, 0, 1])
    np.testing.assert_allclose(ferroq.statevector(c), ferroq.statevector(b), atol=ATOL)


# ---------------------------------------------------------------------------
# unitary
# ---------------------------------------------------------------------------


def _unitary_cases():
    n = 4
    for k in (1, 2, 3):
        for qubits in itertools.permutations(range(n), k):
            yield pytest.param(n, qubits, id=f"n{n}-{'_'.join(map(str, qubits))}")
    yield pytest.param(4, (3, 1, 0, 2), id="n4-all-permuted")
    yield pytest.param(5, (4, 0, 2, 1), id="n5-k4")


@pytest.mark.parametrize(("n", "qubits"), list(_unitary_cases()))
def test_unitary_on_random_state(n, qubits):
    rng = np.random.default_rng(stable_seed("unitary", n, qubits))
    prep = ref.random_unitary(1 << n, rng)
    psi0 = ref.apply(ref.zero_state(n), prep, range(n))
    m = ref.random_unitary(1 << len(qubits), rng)
    circ = _prepared(n, prep)
    assert circ.unitary(m, list(qubits)) is circ
    np.testing.assert_allclose(ferroq.statevector(circ), ref.apply(psi0, m, qubits), atol=ATOL)


def test_unitary_full_register_is_first_column():
    rng = np.random.default_rng(8)
    for n in (1, 2, 3, 5):
        m = ref.random_unitary(1 << n, rng)
        np.testing.assert_allclose(ferroq.statevector(_prepared(n, m)), m[:, 0], atol=ATOL)


def test_unitary_little_endian_index():
    """Matrix index bit 0 is qubits[0]: an X-on-bit-1 (as kron(X, I)) on qubits
    [2, 0] flips qubit 0."""
    m = np.kron(ref.X, ref.I2)
    circ = ferroq.Circuit(3).unitary(m, [2, 0])
    expected = ref.zero_state(3)
    expected = ref.apply(expected, ref.X, [0])
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)


@pytest.mark.parametrize(
    "matrix",
    [
        [[0, 1], [1, 0]],
        np.array([[0, 1], [1, 0]], dtype=np.int64),
        np.array([[0, 1], [1, 0]], dtype=np.float32),
        ((0, 1j), (1j, 0)),
    ],
    ids=["list", "int64", "float32", "tuple-complex"],
)
def test_unitary_accepts_array_like(matrix):
    circ = ferroq.Circuit(2).unitary(matrix, [1])
    expected = ref.apply(ref.zero_state(2), np.asarray(matrix, dtype=complex), [1])
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=1e-7)


def test_unitary_tolerance_accepts_rounding_noise():
    rng = np.random.default_rng(21)
    m = ref.random_unitary(4, rng)
    noisy = m * (1 + 1e-13)
    circ = ferroq.Circuit(2).unitary(noisy, [0, 1])
    np.testing.assert_allclose(ferroq.statevector(circ), noisy[:, 0], atol=ATOL)


def test_unitary_is_copied_at_append_time():
    m = np.array(ref.X)
    circ = ferroq.Circuit(1).unitary(m, [0])
    m[:] = ref.I2
    np.testing.assert_allclose(ferroq.statevector(circ), [0, 1], atol=ATOL)


# ---------------------------------------------------------------------------
# Global phase
# ---------------------------------------------------------------------------


def test_global_phase_default_and_setter():
    circ = ferroq.Circuit(2)
    assert circ.global_phase == 0.0
    circ.global_phase = 0.4
    assert circ.global_phase == pytest.approx(0.4)
    expected = cmath.exp(0.4j) * ref.zero_state(2)
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)


def test_global_phase_applies_to_whole_state():
    rng = np.random.default_rng(9)
    prep = ref.random_unitary(8, rng)
    circ = _prepared(3, prep).h(1).cx(1, 2)
    circ.global_phase = -1.3
    expected = ref.simulate([("unitary", (0, 1, 2), prep), ("h", (1,), ()), ("cx", (1, 2), ())], 3)
    np.testing.assert_allclose(ferroq.statevector(circ), cmath.exp(-1.3j) * expected, atol=ATOL)


def test_append_global_phase_adds():
    circ = ferroq.Circuit(1).h(0)
    circ.global_phase = 0.25
    circ.append("global_phase", [], [0.5])
    assert circ.global_phase == pytest.approx(0.75)
    expected = cmath.exp(0.75j) * ref.gate_matrix("h")[:, 0]
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)


def test_global_phase_distinguishes_rz_from_p():
    """rz and p differ only by a global phase, which statevector must keep."""
    a = ferroq.statevector(ferroq.Circuit(1).h(0).rz(0.9, 0))
    b = ferroq.statevector(ferroq.Circuit(1).h(0).p(0.9, 0))
    np.testing.assert_allclose(a, cmath.exp(-0.45j) * b, atol=ATOL)
    assert np.abs(a - b).max() > 0.1


# ---------------------------------------------------------------------------
# Chaining, output format
# ---------------------------------------------------------------------------


def test_every_gate_method_returns_the_circuit():
    circ = ferroq.Circuit(4)
    for name in GATE_NAMES:
        nq, npar, _ = ref.GATES[name]
        out = _call(circ, name, [0.1] * npar, list(range(nq)))
        assert out is circ, name
    assert circ.mcx([0, 1, 2], 3) is circ
    assert circ.unitary(np.eye(2), [1]) is circ
    assert circ.append("h", [0]) is circ
    assert len(circ) == len(GATE_NAMES) + 3


def test_chained_circuit_matches_reference():
    circ = ferroq.Circuit(3).h(0).cx(0, 1).rz(0.3, 1).ccx(0, 1, 2).swap(0, 2).u(0.1, 0.2, 0.3, 1)
    ops = [("h", (0,), ()), ("cx", (0, 1), ()), ("rz", (1,), (0.3,)), ("ccx", (0, 1, 2), ()),
           ("swap", (0, 2), ()), ("u", (1,), (0.1, 0.2, 0.3))]  # fmt: skip
    np.testing.assert_allclose(ferroq.statevector(circ), ref.simulate(ops, 3), atol=ATOL)


def test_statevector_output_type():
    out = ferroq.statevector(ferroq.Circuit(3).h(2))
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.complex128
    assert out.shape == (8,)
    np.testing.assert_allclose(out, [2**-0.5, 0, 0, 0, 2**-0.5, 0, 0, 0], atol=ATOL)


def test_empty_circuit_is_zero_state():
    for n in (1, 2, 5):
        np.testing.assert_allclose(ferroq.statevector(ferroq.Circuit(n)), ref.zero_state(n), atol=0)


def test_x_sets_little_endian_bit():
    for n in (1, 3, 6):
        for q in range(n):
            sv = ferroq.statevector(ferroq.Circuit(n).x(q))
            assert abs(sv[1 << q] - 1) < ATOL, (n, q)


def test_barrier_has_no_effect():
    a = ferroq.Circuit(3).h(0).barrier().cx(0, 2).barrier(0, 1).t(1)
    b = ferroq.Circuit(3).h(0).cx(0, 2).t(1)
    np.testing.assert_allclose(ferroq.statevector(a), ferroq.statevector(b), atol=ATOL)


@pytest.mark.parametrize("threads", [1, 2, 4])
@pytest.mark.parametrize("threshold", [1, 14])
def test_statevector_parallel_options(threads, threshold):
    rng = np.random.default_rng(11)
    n = 8
    ops = []
    for layer in range(3):
        for q in range(n):
            ops.append(("u", (q,), tuple(float(v) for v in rng.uniform(-3, 3, 3))))
        for q in range(layer % 2, n - 1, 2):
            ops.append(("cx", (q, q + 1), ()))
    ops.append(("unitary", (7, 0, 4), ref.random_unitary(8, rng)))
    circ = ferroq.Circuit(n)
    for name, qubits, params in ops:
        if name == "unitary":
            circ.unitary(params, list(qubits))
        else:
            getattr(circ, name)(*params, *qubits)
    got = ferroq.statevector(circ, max_parallel_threads=threads, parallel_threshold=threshold)
    np.testing.assert_allclose(got, ref.simulate(ops, n), atol=ATOL)
