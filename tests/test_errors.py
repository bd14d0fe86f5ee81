"""Bad input: every case checks the exception type and that the message names the
problem. Circuit construction errors must be raised by the offending call itself."""

from __future__ import annotations

import time

import ferroq
import numpy as np
import pytest
from conftest import _res
from ferroq.exceptions import (
    CircuitError,
    FerroqError,
    OptionError,
    OptionTypeError,
    SimulationMemoryError,
    UnknownOptionError,
)

NAN = float("nan")
INF = float("inf")


def _c(n=3, m=2):
    return ferroq.Circuit(n, m)


# (id, callable raising on a fresh circuit, message regex)
CIRCUIT_CASES = [
    # qubit out of range: the message names the offending index
    ("h-qubit", lambda: _c().h(7), r"\b7\b"),
    ("rx-qubit", lambda: _c().rx(0.1, 3), r"\b3\b"),
    ("cx-target", lambda: _c().cx(0, 5), r"\b5\b"),
    ("cx-control", lambda: _c().cx(6, 0), r"\b6\b"),
    ("ccx-qubit", lambda: _c().ccx(0, 1, 9), r"\b9\b"),
    ("cu-qubit", lambda: _c().cu(0.1, 0.2, 0.3, 0.4, 0, 8), r"\b8\b"),
    ("rzz-qubit", lambda: _c().rzz(0.1, 4, 0), r"\b4\b"),
    ("mcx-control", lambda: _c().mcx([0, 7], 1), r"\b7\b"),
    ("mcx-target", lambda: _c().mcx([0, 1], 11), r"\b11\b"),
    ("unitary-qubit", lambda: _c().unitary(np.eye(2), [5]), r"\b5\b"),
    ("append-qubit", lambda: _c().append("h", [12]), r"\b12\b"),
    ("measure-qubit", lambda: _c().measure(5, 0), r"\b5\b"),
    ("reset-qubit", lambda: _c().reset(6), r"\b6\b"),
    ("barrier-qubit", lambda: _c().barrier(0, 9), r"\b9\b"),
    # clbit out of range
    ("measure-clbit", lambda: _c().measure(0, 4), r"\b4\b"),
    ("measure-clbit-no-clbits", lambda: ferroq.Circuit(2).measure(0, 0), r"(?i)clbit|classical|\b0\b"),
    ("measure-list-clbit", lambda: _c().measure([0, 1], [0, 13]), r"\b13\b"),
    # repeated qubit in one gate
    ("cx-dup", lambda: _c().cx(1, 1), r"(?i)\b1\b|cx|duplicate|repeat|distinct|unique|twice|same"),
    ("swap-dup", lambda: _c().swap(2, 2), r"(?i)\b2\b|swap|duplicate|repeat|distinct|unique|twice|same"),
    ("ccx-dup", lambda: _c().ccx(0, 2, 0), r"(?i)\b0\b|ccx|duplicate|repeat|distinct|unique|twice|same"),
    ("rzz-dup", lambda: _c().rzz(0.3, 1, 1), r"(?i)\b1\b|rzz|duplicate|repeat|distinct|unique|twice|same"),
    (
        "mcx-dup-controls",
        lambda: _c().mcx([0, 0], 1),
        r"(?i)\b0\b|mcx|duplicate|repeat|distinct|unique|twice",
    ),
    (
        "mcx-target-in-controls",
        lambda: _c().mcx([0, 1], 1),
        r"(?i)\b1\b|mcx|duplicate|repeat|distinct|unique",
    ),
    ("unitary-dup", lambda: _c().unitary(np.eye(4), [1, 1]), r"(?i)\b1\b|unitary|duplicate|repeat|distinct"),
    ("append-dup", lambda: _c().append("cz", [0, 0]), r"(?i)\b0\b|cz|duplicate|repeat|distinct|unique"),
    # wrong parameter count (via append): the message names the gate
    ("append-rx-no-param", lambda: _c().append("rx", [0], []), r"rx"),
    ("append-rx-two-params", lambda: _c().append("rx", [0], [0.1, 0.2]), r"rx"),
    ("append-h-param", lambda: _c().append("h", [0], [0.1]), r"\bh\b"),
    ("append-u-two-params", lambda: _c().append("u", [0], [0.1, 0.2]), r"\bu\b"),
    ("append-cu-three-params", lambda: _c().append("cu", [0, 1], [0.1, 0.2, 0.3]), r"\bcu\b"),
    ("append-xx_plus_yy-one-param", lambda: _c().append("xx_plus_yy", [0, 1], [0.1]), r"xx_plus_yy"),
    ("append-global_phase-no-param", lambda: _c().append("global_phase", [], []), r"global_phase"),
    # wrong number of qubits (via append): the message names the gate
    ("append-cx-one-qubit", lambda: _c().append("cx", [0]), r"\bcx\b"),
    ("append-h-two-qubits", lambda: _c().append("h", [0, 1]), r"\bh\b"),
    ("append-ccx-two-qubits", lambda: _c().append("ccx", [0, 1]), r"ccx"),
    # NaN / inf parameters
    ("rx-nan", lambda: _c().rx(NAN, 0), r"(?i)nan"),
    ("u-nan", lambda: _c().u(0.1, NAN, 0.2, 0), r"(?i)nan"),
    ("cp-inf", lambda: _c().cp(INF, 0, 1), r"(?i)inf"),
    ("rzz-neg-inf", lambda: _c().rzz(-INF, 0, 1), r"(?i)inf"),
    ("append-rz-nan", lambda: _c().append("rz", [0], [NAN]), r"(?i)nan"),
    ("append-global_phase-nan", lambda: _c().append("global_phase", [], [NAN]), r"(?i)nan"),
    ("xx_minus_yy-inf-beta", lambda: _c().xx_minus_yy(0.1, INF, 0, 1), r"(?i)inf"),
    # unknown gate names: the message names the gate
    ("unknown-gate", lambda: _c().append("foo", [0]), r"foo"),
    ("unknown-gate-2q", lambda: _c().append("not_a_gate", [0, 1], [0.5]), r"not_a_gate"),
    # unitary matrices
    ("unitary-non-unitary", lambda: _c().unitary([[1, 1], [0, 1]], [0]), r"(?i)unitary"),
    ("unitary-scaled", lambda: _c().unitary(2 * np.eye(2), [0]), r"(?i)unitary"),
    (
        "unitary-slightly-off",
        lambda: _c().unitary(np.eye(4) + 1e-6 * np.ones((4, 4)), [0, 1]),
        r"(?i)unitary",
    ),
    ("unitary-nan-entry", lambda: _c().unitary([[NAN, 0], [0, 1]], [0]), r"(?i)nan|unitary"),
    ("unitary-shape-too-small", lambda: _c().unitary(np.eye(2), [0, 1]), r"(?i)unitary|shape|dimension|size"),
    ("unitary-shape-too-big", lambda: _c().unitary(np.eye(8), [0, 1]), r"(?i)unitary|shape|dimension|size"),
    ("unitary-non-square", lambda: _c().unitary(np.ones((2, 4)), [0]), r"(?i)unitary|shape|dimension|square"),
    (
        "unitary-not-power-of-two",
        lambda: _c().unitary(np.eye(3), [0, 1]),
        r"(?i)unitary|shape|dimension|size",
    ),
    ("unitary-1d", lambda: _c().unitary(np.ones(4), [0, 1]), r"(?i)unitary|shape|dimension|2-?d|matrix"),
]


@pytest.mark.parametrize(("fn", "pattern"), [pytest.param(f, p, id=i) for i, f, p in CIRCUIT_CASES])
def test_circuit_errors(fn, pattern):
    with pytest.raises(CircuitError, match=pattern) as info:
        fn()
    assert isinstance(info.value, FerroqError)
    assert isinstance(info.value, ValueError)


def test_failed_append_leaves_circuit_unchanged():
    circ = ferroq.Circuit(2).h(0)
    for bad in (lambda: circ.cx(0, 5), lambda: circ.rx(NAN, 0), lambda: circ.append("foo", [0])):
        with pytest.raises(CircuitError):
            bad()
    assert len(circ) == 1
    np.testing.assert_allclose(ferroq.statevector(circ), [2**-0.5, 2**-0.5, 0, 0], atol=1e-12)


def test_negative_qubit_rejected():
    with pytest.raises((CircuitError, OverflowError, TypeError, ValueError, IndexError)):
        ferroq.Circuit(3).h(-1)


@pytest.mark.parametrize("kind", ["measure", "reset"])
def test_statevector_rejects_nonunitary(kind):
    circ = ferroq.Circuit(2, 2).h(0)
    if kind == "measure":
        circ.measure(0, 0)
    else:
        circ.reset(1)
    with pytest.raises(CircuitError, match=rf"(?i){kind}"):
        ferroq.statevector(circ)


def test_statevector_rejects_measure_all():
    circ = ferroq.Circuit(2).h(0)
    circ.measure_all()
    with pytest.raises(CircuitError, match=r"(?i)measure"):
        ferroq.statevector(circ)


# ---------------------------------------------------------------------------
# Simulator options
# ---------------------------------------------------------------------------


def _measured():
    return ferroq.Circuit(1, 1).h(0).measure(0, 0)


def _run(**opts):
    return _res(ferroq.Simulator().run(_measured(), **opts))


def _via_sim(**opts):
    """Constructor options may be validated at construction or at run time."""
    return _res(ferroq.Simulator(**opts).run(_measured()))


def _via_set_options(**opts):
    sim = ferroq.Simulator()
    sim.set_options(**opts)
    return _res(sim.run(_measured()))


# (id, callable, exception type, message regex)
OPTION_CASES = [
    ("shots-zero", lambda: _run(shots=0), OptionError, r"shots"),
    ("shots-negative", lambda: _run(shots=-5), OptionError, r"shots"),
    ("threads-negative", lambda: _run(max_parallel_threads=-1), OptionError, r"max_parallel_threads|thread"),
    ("run-unknown-option", lambda: _run(shotz=10), UnknownOptionError, r"shotz"),
    ("simulator-unknown-option", lambda: _via_sim(bogus_option=1), UnknownOptionError, r"bogus_option"),
    ("set-options-unknown", lambda: _via_set_options(frobnicate=True), UnknownOptionError, r"frobnicate"),
    ("shots-str", lambda: _run(shots="10"), TypeError, r"shots"),
    ("simulator-shots-str", lambda: _via_sim(shots="10"), TypeError, r"shots"),
    ("seed-str", lambda: _run(seed="abc"), TypeError, r"seed"),
    ("threshold-str", lambda: _run(parallel_threshold="x"), TypeError, r"parallel_threshold"),
    ("parallel-experiments-negative", lambda: _via_sim(max_parallel_experiments=-1), OptionError,
     r"max_parallel_experiments"),
    ("parallel-experiments-float", lambda: _run(max_parallel_experiments=1.5), TypeError,
     r"max_parallel_experiments"),
    ("simulator-shots-zero", lambda: _via_sim(shots=0), OptionError, r"shots"),
    ("set-options-threads-negative", lambda: _via_set_options(max_parallel_threads=-3), OptionError,
     r"max_parallel_threads|thread"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fn", "exc", "pattern"), [pytest.param(f, e, p, id=i) for i, f, e, p in OPTION_CASES]
)
def test_option_errors(fn, exc, pattern):
    with pytest.raises(exc, match=pattern) as info:
        fn()
    if exc is OptionError:
        assert isinstance(info.value, ValueError)
    if exc is UnknownOptionError:
        assert isinstance(info.value, TypeError)
        assert isinstance(info.value, FerroqError)


def test_run_rejects_non_circuit():
    with pytest.raises((TypeError, FerroqError)):
        _res(ferroq.Simulator().run("not a circuit"))


def test_statevector_negative_threads():
    with pytest.raises(ValueError, match=r"max_parallel_threads|thread"):
        ferroq.statevector(ferroq.Circuit(1).h(0), max_parallel_threads=-1)


# ---------------------------------------------------------------------------
# Result accessors
# ---------------------------------------------------------------------------


def test_result_accessor_errors():
    result = _res(ferroq.Simulator().run(_measured(), shots=4))
    with pytest.raises(FerroqError, match=r"(?i)memory"):
        result.get_memory()
    with pytest.raises(FerroqError, match=r"(?i)statevector"):
        result.get_statevector()
    with pytest.raises(FerroqError, match=r"(?i)statevector|probabilit"):
        result.get_probabilities()


def test_result_bad_index():
    result = _res(ferroq.Simulator().run([_measured(), _measured()], shots=4))
    with pytest.raises((IndexError, KeyError, FerroqError)):
        result.get_counts(5)
    with pytest.raises((IndexError, KeyError, FerroqError)):
        result.get_counts("no-such-circuit")


# ---------------------------------------------------------------------------
# Memory limits
# ---------------------------------------------------------------------------


def _forty_qubits():
    circ = ferroq.Circuit(40, 1)
    circ.h(0).cx(0, 39).measure(39, 0)
    return circ


def test_forty_qubit_statevector_raises_quickly():
    circ = ferroq.Circuit(40).h(0).cx(0, 39)
    start = time.perf_counter()
    with pytest.raises(SimulationMemoryError, match=r"(?i)memory|bytes|[mgt]i?b|40"):
        ferroq.statevector(circ)
    assert time.perf_counter() - start < 5.0


def test_forty_qubit_run_raises_quickly():
    start = time.perf_counter()
    with pytest.raises(SimulationMemoryError) as info:
        _res(ferroq.Simulator().run(_forty_qubits(), shots=10))
    assert isinstance(info.value, MemoryError)
    assert isinstance(info.value, FerroqError)
    assert time.perf_counter() - start < 5.0


def test_max_memory_mb_limit():
    circ = ferroq.Circuit(17, 1).h(16).measure(16, 0)  # 2^17 * 16 B = 2 MiB > 1 MB
    with pytest.raises(SimulationMemoryError):
        _res(ferroq.Simulator().run(circ, shots=1, max_memory_mb=1))
    with pytest.raises(SimulationMemoryError):
        _res(ferroq.Simulator(max_memory_mb=1).run(circ, shots=1))


def test_max_memory_error_in_batch_raises():
    small = ferroq.Circuit(2, 1).h(0).measure(0, 0)
    with pytest.raises(SimulationMemoryError):
        _res(ferroq.Simulator().run([small, _forty_qubits()], shots=4))


# ---------------------------------------------------------------------------
# Structured fields: no caller parses a message
# ---------------------------------------------------------------------------


def test_option_errors_carry_the_option_as_a_field():
    import pickle

    cases = [
        (lambda: ferroq.Simulator().run(ferroq.Circuit(1), shots=0), OptionError, "shots"),
        (
            lambda: ferroq.Simulator().run(ferroq.Circuit(1), parallel_threshold=99),
            OptionError,
            "parallel_threshold",
        ),
        (lambda: ferroq.Simulator().run(ferroq.Circuit(1), shots="3"), OptionTypeError, "shots"),  # Python
        (lambda: ferroq.Simulator(bogus=1), UnknownOptionError, "bogus"),
        (lambda: ferroq.Simulator().run(ferroq.Circuit(1), precision="half"), OptionError, "precision"),
    ]
    for call, cls, option in cases:
        with pytest.raises(cls) as info:
            call()
        err = info.value
        assert err.option == option
        assert repr(option) in str(err)
        renamed = err.renamed("other_name")
        assert type(renamed) is cls and renamed.option == "other_name"
        assert "'other_name'" in str(renamed) and repr(option) not in str(renamed)
        copy = pickle.loads(pickle.dumps(err))
        assert type(copy) is cls and str(copy) == str(err) and copy.option == option


def test_a_circuits_error_carries_its_index_and_name():
    good = ferroq.Circuit(1, 1).measure(0, 0)
    bad = ferroq.Circuit(1, 1, name="late").measure(0, 0).save_statevector()  # differs per shot
    part = ferroq.Simulator(shots=4).run([good, good, bad]).result(partial=True)
    err = part.missing[2]
    assert (err.circuit_index, err.circuit_name) == (2, "late")
    import pickle

    assert pickle.loads(pickle.dumps(err)).circuit_index == 2


@pytest.mark.parametrize(
    ("option", "value", "pattern"),
    [
        ("shots", 0, "at least 1"),
        ("shots", -5, "non-negative"),
        ("seed", -1, "between 0 and 2"),
        ("precision", "triple", "'double' or 'single'"),
        ("max_memory_mb", -1, "positive"),
        ("max_memory_mb", float("nan"), "positive"),
        ("parallel_threshold", 0, "between 1 and 62"),
        ("max_parallel_threads", -2, "non-negative"),
        ("max_parallel_experiments", -1, "non-negative"),
    ],
)
def test_a_bad_value_is_refused_when_it_is_set_not_when_first_used(option, value, pattern):
    """Ranges come from the core's one builder, checked at construction and by
    set_options (all or none), not first when a run, perhaps elsewhere, uses them."""
    with pytest.raises(OptionError, match=pattern) as info:
        ferroq.Simulator(**{option: value})
    assert info.value.option == option
    sim = ferroq.Simulator(shots=7)
    before = sim.options
    with pytest.raises(OptionError, match=pattern):
        sim.set_options(**{"memory": True, option: value})
    assert sim.options == before, "a refused set_options changed nothing"
