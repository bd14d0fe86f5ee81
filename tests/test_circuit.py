"""Circuit object: properties, data, len, copy, inverse."""

from __future__ import annotations

import cmath
import pickle

import ferroq
import numpy as np
import pytest
import reference as ref
from helpers import build

ATOL = 1e-10


def test_properties():
    circ = ferroq.Circuit(3, 2, name="bell")
    assert circ.num_qubits == 3
    assert circ.num_clbits == 2
    assert circ.name == "bell"
    assert circ.global_phase == 0.0
    assert len(circ) == 0
    assert list(circ.data) == []
    assert ferroq.Circuit(4).num_clbits == 0


def test_data_entries():
    circ = ferroq.Circuit(3, 2)
    circ.h(0).cx(0, 2).rx(0.5, 1).u(0.1, 0.2, 0.3, 2).mcx([2, 0], 1)
    circ.barrier()
    circ.measure(2, 1)
    circ.reset(0)
    data = list(circ.data)
    assert len(circ) == len(data) == 8
    names = [d[0] for d in data]
    assert names == ["h", "cx", "rx", "u", "mcx", "barrier", "measure", "reset"]
    assert tuple(data[0][1]) == (0,)
    assert tuple(data[0][2]) == ()
    assert tuple(data[1][1]) == (0, 2)
    assert tuple(data[2][1]) == (1,)
    assert tuple(data[2][2]) == pytest.approx((0.5,))
    assert tuple(data[3][2]) == pytest.approx((0.1, 0.2, 0.3))
    assert tuple(data[4][1]) == (2, 0, 1)
    assert sorted(data[5][1]) == [0, 1, 2]
    assert tuple(data[6][1]) == (2,)
    assert tuple(data[6][2]) == ()
    assert tuple(data[7][1]) == (0,)
    for name, qubits, params in data:
        assert isinstance(name, str)
        assert isinstance(qubits, tuple)
        assert all(isinstance(q, int) for q in qubits)
        assert isinstance(params, tuple)
        assert all(isinstance(x, float) for x in params)


def test_data_unitary_and_append():
    circ = ferroq.Circuit(2)
    circ.unitary(np.eye(4), [1, 0])
    circ.append("cry", [1, 0], [0.7])
    data = list(circ.data)
    assert data[0][0] == "unitary"
    assert tuple(data[0][1]) == (1, 0)
    assert data[1][0] == "cry"
    assert tuple(data[1][1]) == (1, 0)
    assert tuple(data[1][2]) == pytest.approx((0.7,))


def test_measure_lists_and_barrier_subset():
    circ = ferroq.Circuit(3, 3)
    circ.measure([0, 1, 2], [2, 0, 1])
    circ.barrier(0, 2)
    data = list(circ.data)
    assert [d[0] for d in data] == ["measure"] * 3 + ["barrier"]
    assert [tuple(d[1]) for d in data[:3]] == [(0,), (1,), (2,)]
    assert sorted(data[3][1]) == [0, 2]


def test_measure_all_structure():
    circ = ferroq.Circuit(3, 2).h(0)
    circ.measure_all()
    assert circ.num_clbits == 5
    data = list(circ.data)
    assert [d[0] for d in data] == ["h", "barrier", "measure", "measure", "measure"]
    assert [tuple(d[1]) for d in data[2:]] == [(0,), (1,), (2,)]


def test_reset_list():
    circ = ferroq.Circuit(3).reset([0, 2])
    assert [(d[0], tuple(d[1])) for d in circ.data] == [("reset", (0,)), ("reset", (2,))]


def test_copy_is_independent():
    circ = ferroq.Circuit(2, 1, name="orig").h(0)
    circ.global_phase = 0.2
    dup = circ.copy()
    assert dup is not circ
    assert dup.num_qubits == 2
    assert dup.num_clbits == 1
    assert dup.name == "orig"
    assert dup.global_phase == pytest.approx(0.2)
    dup.x(1)
    dup.global_phase = 1.0
    assert len(circ) == 1
    assert len(dup) == 2
    assert circ.global_phase == pytest.approx(0.2)
    expected = cmath.exp(0.2j) * ref.simulate([("h", (0,), ())], 2)
    np.testing.assert_allclose(ferroq.statevector(circ), expected, atol=ATOL)


def test_inverse_is_adjoint():
    rng = np.random.default_rng(4)
    m = ref.random_unitary(4, rng)
    ops = [("h", (0,), ()), ("s", (1,), ()), ("t", (2,), ()), ("sx", (0,), ()), ("cx", (0, 2), ()),
           ("rzx", (2, 1), (0.4,)), ("cu", (1, 0), (0.1, 0.2, 0.3, 0.4)), ("unitary", (2, 0), m),
           ("mcx", (0, 1, 2), ()), ("iswap", (1, 2), ()), ("ecr", (2, 0), ()), ("rccx", (1, 2, 0), ()),
           ("xx_plus_yy", (0, 1), (0.3, -0.8)), ("global_phase", (), (0.6,))]  # fmt: skip
    circ = build(ops, 3)
    inv = circ.inverse()
    assert isinstance(inv, ferroq.Circuit)
    assert inv is not circ
    assert inv.num_qubits == 3
    # appending "global_phase" may or may not be recorded as an instruction
    assert len(circ) in (len(ops) - 1, len(ops))
    expected = ref.simulate(ref.inverse_ops(ops), 3)
    np.testing.assert_allclose(ferroq.statevector(inv), expected, atol=ATOL)
    # the original is untouched
    np.testing.assert_allclose(ferroq.statevector(circ), ref.simulate(ops, 3), atol=ATOL)


def test_inverse_negates_global_phase():
    circ = ferroq.Circuit(1)
    circ.global_phase = 0.3
    inv = circ.inverse()
    assert inv.global_phase == pytest.approx(-0.3) or inv.global_phase == pytest.approx(2 * np.pi - 0.3)
    np.testing.assert_allclose(ferroq.statevector(inv), [cmath.exp(-0.3j), 0], atol=ATOL)


def test_inverse_with_barrier_keeps_registers():
    circ = ferroq.Circuit(2, 3).h(0).barrier().cx(0, 1).s(1)
    inv = circ.inverse()
    assert inv.num_qubits == 2
    assert inv.num_clbits == 3
    ops = [("h", (0,), ()), ("cx", (0, 1), ()), ("s", (1,), ())]
    np.testing.assert_allclose(ferroq.statevector(inv), ref.simulate(ref.inverse_ops(ops), 2), atol=ATOL)


@pytest.mark.parametrize("kind", ["measure", "reset"])
def test_inverse_rejects_nonunitary(kind):
    circ = ferroq.Circuit(1, 1).h(0)
    if kind == "measure":
        circ.measure(0, 0)
    else:
        circ.reset(0)
    with pytest.raises(ferroq.exceptions.CircuitError):
        circ.inverse()


def test_exception_hierarchy():
    exc = ferroq.exceptions
    assert issubclass(exc.CircuitError, exc.FerroqError)
    assert issubclass(exc.CircuitError, ValueError)
    assert issubclass(exc.UnknownOptionError, exc.FerroqError)
    assert issubclass(exc.UnknownOptionError, TypeError)
    assert issubclass(exc.OptionError, exc.FerroqError)
    assert issubclass(exc.OptionError, ValueError)
    assert issubclass(exc.SimulationMemoryError, exc.FerroqError)
    assert issubclass(exc.SimulationMemoryError, MemoryError)
    assert issubclass(exc.FerroqError, Exception)


def test_bytes_round_trip_and_pickle():
    c = ferroq.Circuit(4, 2, name="enc").h(0).cp(0.5, 0, 3).mcx([0, 1, 2], 3).unitary(np.eye(2) * 1j, [1])
    c.barrier().save_probabilities([3, 1]).save_expectation_value([("YX", -0.5)], [2, 0]).measure(3, 1)
    data = c._native.to_bytes()
    assert isinstance(data, bytes) and data[:4] == b"FQC1"
    assert ferroq._core.Circuit.from_bytes(data) == c._native
    restored = pickle.loads(pickle.dumps(c))
    assert restored == c and restored.data == c.data and restored.name == "enc"
    # Large enough that encoding and decoding run without the GIL.
    big = ferroq.Circuit(3, name="big")
    for k in range(6000):
        big.rx(0.001 * k, k % 3)
    assert len(big._native.to_bytes()) > 32 * 1024
    assert pickle.loads(pickle.dumps(big)) == big


def test_bad_bytes_raise_circuit_error():
    data = ferroq.Circuit(2).cx(0, 1)._native.to_bytes()
    for bad, message in [
        (data[:-1], "truncated"),
        (data[:4] + b"\x09\x00" + data[6:], "format version 9"),
        (data[:-1] + b"\x07", "out of range"),
    ]:
        with pytest.raises(ferroq.exceptions.CircuitError, match=message):
            ferroq._core.Circuit.from_bytes(bad)


def test_compose_refuses_a_save_label_twice():
    c = ferroq.Circuit(2).save_statevector()
    with pytest.raises(ferroq.exceptions.CircuitError, match=r"'statevector'.*already used"):
        c.compose(c)
    assert len(c) == 1
