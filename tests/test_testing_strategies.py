"""ferroq.testing.strategies: valid inputs under hypothesis' health checks, coverage of
the whole gate set, and shrinking to small examples."""

from __future__ import annotations

import math

import ferroq
import numpy as np
import pytest
import reference as ref
from conftest import requires_qiskit
from ferroq.testing import assert_circuits_equivalent
from ferroq.testing.strategies import (
    SIMPLE_ANGLES,
    angles,
    circuit_code,
    circuits,
    observables,
    pauli_strings,
    qiskit_circuits,
    states,
    unitaries,
)
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

# Every health check on (the suite's profile suppresses some), a modest example count.
CHECKED = settings(max_examples=60, suppress_health_check=[], deadline=None)
# find() explores until it has a minimal example.
FIND = settings(max_examples=2000, database=None, suppress_health_check=list(HealthCheck))


def layer_depth(circuit: ferroq.Circuit) -> int:
    """The circuit's depth: the longest chain of instructions sharing qubits
    (barriers excluded, as in Qiskit)."""
    level = [0] * circuit.num_qubits
    for inst in circuit.instructions:
        if inst.name == "barrier":
            continue
        top = 1 + max(level[q] for q in inst.qubits)
        for q in inst.qubits:
            level[q] = top
    return max(level, default=0)


# ---------------------------------------------------------------------------
# Validity under hypothesis' own health checks
# ---------------------------------------------------------------------------


@CHECKED
@given(circuits())
def test_default_circuits_are_valid_and_simulate(circuit):
    assert isinstance(circuit, ferroq.Circuit)
    assert 1 <= circuit.num_qubits <= 5
    assert circuit.num_clbits == 0
    assert layer_depth(circuit) <= 8
    assert {i.name for i in circuit.instructions} <= set(ferroq.GATES)
    state = ferroq.statevector(circuit)
    assert abs(np.linalg.norm(state) - 1) < 1e-10


@CHECKED
@given(circuits(num_qubits=range(2, 5), depth=3, measure="mid", reset=True, barriers=True))
def test_circuits_with_mid_circuit_measurement_reset_and_barriers(circuit):
    n = circuit.num_qubits
    assert circuit.num_clbits == 2 * n
    names = [i.name for i in circuit.instructions]
    assert names[-n:] == ["measure"] * n and names[-n - 1] == "barrier"  # measure_all()
    for inst in circuit.instructions[: -n - 1]:
        if inst.name == "measure":
            assert inst.clbits == inst.qubits  # mid-circuit: qubit q into clbit q
    assert layer_depth(circuit) <= 3 + 1
    counts = ferroq.Simulator().run(circuit, shots=20, seed=1).result().get_counts()
    assert sum(counts.values()) == 20 and all(len(k) == 2 * n for k in counts)


@CHECKED
@given(circuits(num_qubits=st.integers(3, 4), depth=range(1, 4), gates=["h", "cx", "ccx"], measure=True))
def test_circuits_restricted_gate_set(circuit):
    assert circuit.num_qubits in (3, 4) and circuit.num_clbits == circuit.num_qubits
    assert {i.name for i in circuit.instructions} <= {"h", "cx", "ccx", "barrier", "measure"}


@CHECKED
@given(circuits(num_qubits=2, parameters=False))
def test_circuits_without_parameters(circuit):
    assert all(not params for _, _, params in circuit.data)


@CHECKED
@given(circuits(num_qubits=1, gates=["rx", "u"], parameters=st.just(0.25)))
def test_circuits_with_a_parameter_strategy(circuit):
    assert all(p == 0.25 for _, _, params in circuit.data for p in params)


@CHECKED
@given(circuits(num_qubits=range(1, 4)))
def test_drawn_circuit_prints_as_code_that_rebuilds_it(circuit):
    rebuilt = eval(repr(circuit), {"ferroq": ferroq, "np": np})
    assert type(rebuilt) is ferroq.Circuit
    assert rebuilt == circuit
    assert repr(circuit) == circuit_code(circuit)


@CHECKED
@given(states(range(0, 8)))
def test_states_are_normalised(state):
    assert state.dtype == np.complex128 and state.ndim == 1
    assert state.size in {1 << n for n in range(8)}
    assert abs(np.linalg.norm(state) - 1) < 1e-12


@CHECKED
@given(unitaries(range(0, 6)))
def test_unitaries_are_unitary_and_accepted_by_ferroq(u):
    assert u.dtype == np.complex128
    dim = u.shape[0]
    assert u.shape == (dim, dim) and dim & (dim - 1) == 0
    np.testing.assert_allclose(u.conj().T @ u, np.eye(dim), atol=1e-12)
    n = dim.bit_length() - 1
    if n:
        ferroq.Circuit(n).unitary(u, range(n))  # ferroq checks unitarity within 1e-9


@CHECKED
@given(pauli_strings(range(0, 7)))
def test_pauli_strings(label):
    assert len(label) <= 6 and set(label) <= set("IXYZ")


@CHECKED
@given(pauli_strings(st.integers(1, 4), identity=False))
def test_pauli_strings_without_identity(label):
    assert set(label) - {"I"}


def pauli_matrix(label: str) -> np.ndarray:
    matrices = {"I": ref.I2, "X": ref.X, "Y": ref.Y, "Z": ref.Z}
    out = np.ones((1, 1), dtype=complex)
    for letter in label:  # leftmost letter on the highest qubit
        out = np.kron(out, matrices[letter])
    return out


@CHECKED
@given(observables(range(1, 4), max_terms=3), states(1).map(lambda s: s))
def test_observables_work_with_save_expectation_value(observable, _):
    n = len(observable[0][0])
    assert 1 <= len(observable) <= 3
    assert all(len(p) == n and isinstance(c, float) for p, c in observable)
    circuit = ferroq.Circuit(n)
    for q in range(n):
        circuit.h(q).t(q)
    if n > 1:
        circuit.cx(0, n - 1)
    state = ferroq.statevector(circuit)
    expected = sum(c * np.vdot(state, pauli_matrix(p) @ state) for p, c in observable)
    circuit.save_expectation_value(observable)
    value = ferroq.Simulator().run(circuit).result().data(0)["expectation_value"]
    assert abs(value - expected) < 1e-9


@requires_qiskit
@CHECKED
# Deferred: the decorator runs at import, where qiskit may be missing (the test skips).
@given(st.deferred(lambda: qiskit_circuits(num_qubits=range(1, 4), depth=range(0, 5))))
def test_qiskit_circuits_match_qiskit_statevector(qc):
    from ferroq.qiskit import to_ferroq
    from qiskit.quantum_info import Statevector

    got = ferroq.statevector(to_ferroq(qc))
    np.testing.assert_allclose(got, Statevector(qc).data, atol=1e-9)


@requires_qiskit
@CHECKED
@given(
    st.deferred(
        lambda: qiskit_circuits(
            num_qubits=range(2, 5), depth=range(1, 4), measure="mid", reset=True, registers=True
        )
    )
)
def test_qiskit_circuits_with_registers_and_mid_circuit_measurement(qc):
    from ferroq.qiskit import to_ferroq

    n = qc.num_qubits
    assert qc.num_clbits == 2 * n
    assert [r.name for r in qc.cregs] == ["mid", "meas"]
    assert 1 <= len(qc.qregs) <= 3 and sum(r.size for r in qc.qregs) == n
    counts = ferroq.Simulator().run(to_ferroq(qc), shots=10, seed=3).result().get_counts()
    assert sum(counts.values()) == 10


# ---------------------------------------------------------------------------
# Coverage over a run
# ---------------------------------------------------------------------------


def test_circuits_cover_the_whole_gate_set_and_simple_and_generic_angles():
    seen: set[str] = set()
    angles_seen: set[float] = set()

    # Wide and deep circuits, so that every gate fits: about 4000 gates in all.
    @settings(max_examples=400, deadline=None, database=None)
    @given(circuits(num_qubits=range(3, 7), depth=range(2, 9), measure="mid", reset=True, barriers=True))
    def draw(circuit):
        for inst in circuit.instructions:
            seen.add(inst.name)
            angles_seen.update(inst.params)

    draw()
    assert set(ferroq.GATES) <= seen, f"never drawn: {sorted(set(ferroq.GATES) - seen)}"
    assert {"measure", "reset", "barrier"} <= seen
    assert set(SIMPLE_ANGLES) <= angles_seen
    assert len(angles_seen - set(SIMPLE_ANGLES)) > 50  # generic angles too


@requires_qiskit
@settings(max_examples=1, deadline=None, database=None)
@given(st.data())
def test_qiskit_circuits_draw_every_gate_of_the_standard_set(data):
    # The ops are drawn as for circuits() (covered above); here each gate name must
    # come out as the qiskit gate of that name.
    for gate in ferroq.GATES:
        qc = data.draw(qiskit_circuits(num_qubits=6, depth=1, gates=[gate]))
        ops = set(qc.count_ops())
        assert ops <= {gate, "ccx", "cx"} and ops, (gate, ops)  # an mcx may print as cx / ccx


def test_states_cover_basis_and_generic_states():
    kinds: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None)
    @given(states(range(1, 8)))
    def draw(state):
        basis = np.count_nonzero(state) == 1
        kinds.add(("basis" if basis else "generic") + ("-wide" if state.size > 32 else ""))

    draw()
    assert kinds == {"basis", "generic", "basis-wide", "generic-wide"}


# ---------------------------------------------------------------------------
# Shrinking
# ---------------------------------------------------------------------------


def names(circuit):
    return [inst.name for inst in circuit.instructions]


@pytest.mark.parametrize("gate", ["cx", "cu", "unitary", "mcx"])
def test_circuits_shrink_to_one_gate_on_the_fewest_qubits(gate):
    found = find(circuits(num_qubits=range(1, 7)), lambda c: gate in names(c), settings=FIND)
    assert names(found) == [gate]
    width = {"unitary": 1, "mcx": 2}.get(gate) or ferroq.GATES[gate][0]
    assert found.num_qubits == width
    assert found.instructions[0].qubits == tuple(range(width))
    assert all(p == 0.0 for p in found.instructions[0].params)


def test_angles_shrink_to_simple_values():
    def rx_not_identity(c):
        return any(name == "rx" and params[0] % (2 * math.pi) != 0 for name, _, params in c.data)

    found = find(circuits(), rx_not_identity, settings=FIND)
    assert found.data == [("rx", (0,), (math.pi,))]


def test_generic_angles_shrink_to_short_floats():
    # A property that fails only for angles that are no multiple of pi / 8.
    def odd_angle(c):
        return any(
            abs(p / (math.pi / 8) - round(p / (math.pi / 8))) > 1e-6
            for _, _, params in c.data
            for p in params
        )

    found = find(circuits(), odd_angle, settings=FIND)
    assert len(found.data) == 1 and found.num_qubits == 1
    (angle,) = [p for p in found.data[0][2] if p not in SIMPLE_ANGLES]
    assert angle == float(int(angle)) and abs(angle) <= 1.0  # shrinks to a small integer such as 1.0


def test_failures_shrink_to_short_circuits():
    found = find(circuits(), lambda c: len(c) >= 4, settings=FIND)
    assert found.num_qubits == 1 and names(found) == ["id"] * 4


def test_a_realistic_bug_shrinks_to_a_minimal_counterexample():
    """An 'optimiser' that wrongly drops every cz after an h on its target: the
    failure shrinks to the two gates that trigger it."""

    def optimise(circuit):
        out = ferroq.Circuit(circuit.num_qubits)
        last = {}
        for name, qubits, params in circuit.data:
            if name == "cz" and last.get(qubits[1]) == "h":
                continue
            out.append(name, qubits, params)
            for q in qubits:
                last[q] = name
        return out

    def broken(c):
        try:
            assert_circuits_equivalent(optimise(c), c)
        except AssertionError:
            return True
        return False

    found = find(circuits(num_qubits=range(1, 5), gates=["x", "h", "s", "cz", "cx"]), broken, settings=FIND)
    assert names(found) == ["h", "cz"]
    # Usually on 2 qubits; shrinking is a heuristic search, and with random exploration
    # it sometimes stops with the two gates on qubits 0 and 2 of 3.
    assert found.num_qubits <= 3


def test_states_unitaries_and_paulis_shrink_to_trivial_values():
    state = find(states(range(1, 4)), lambda s: abs(s[0]) < 0.5, settings=FIND)
    assert state.size == 2 and np.count_nonzero(state) == 1 and state[1] == 1
    u = find(unitaries(range(1, 3)), lambda u: not np.allclose(u, np.eye(u.shape[0])), settings=FIND)
    assert u.shape == (2, 2)
    assert find(unitaries(1), lambda u: True, settings=FIND).tolist() == np.eye(2).tolist()
    assert find(pauli_strings(range(1, 4)), lambda p: "Z" in p, settings=FIND) == "Z"


@requires_qiskit
def test_qiskit_circuits_shrink():
    found = find(qiskit_circuits(registers=True), lambda qc: "swap" in qc.count_ops(), settings=FIND)
    assert found.num_qubits == 2 and dict(found.count_ops()) == {"swap": 1}


# ---------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gates": ["cx", "toffoli"]}, "unknown gate"),
        ({"gates": "cx"}, "not the string"),
        ({"gates": ["rx"], "parameters": False}, "parametrised"),
        ({"num_qubits": 2, "gates": ["ccx"]}, "too small"),
        ({"num_qubits": range(0)}, "empty"),
        ({"num_qubits": -1}, ">= 0"),
        ({"depth": 1.5}, "must be an int"),
        ({"measure": "sometimes"}, "measure must be"),
        ({"parameters": 0.5}, "parameters must be"),
    ],
)
def test_bad_arguments_raise_invalid_argument(kwargs, message):
    with pytest.raises(InvalidArgument, match=message):
        circuits(**kwargs)


def test_bad_arguments_of_other_strategies():
    with pytest.raises(InvalidArgument):
        angles(min_value=1.0, max_value=0.0)
    with pytest.raises(InvalidArgument):
        observables(2, max_terms=0)
    with pytest.raises(InvalidArgument):
        states(range(3, 1))


def test_a_drawn_width_too_small_for_the_gates_is_reported():
    @settings(max_examples=5, database=None)
    @given(circuits(num_qubits=st.just(1), gates=["cx"]))
    def draw(_):
        pass

    with pytest.raises(InvalidArgument, match="fits none of the gates"):
        draw()
