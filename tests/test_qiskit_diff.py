"""Differential tests against qiskit's Statevector (skipped when qiskit is absent)."""

from __future__ import annotations

import itertools
import math

import ferroq
import numpy as np
import pytest
import reference as ref
from conftest import _res
from helpers import GATE_NAMES, build, build_qiskit, circuits, examples, stable_seed
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("qiskit")

from ferroq.qiskit import FerroqSimulator, save_statevector, to_ferroq
from ferroq.qiskit._convert import _native_name
from ferroq.testing.strategies import qiskit_circuits
from qiskit import QuantumCircuit, QuantumRegister
from qiskit.circuit import CircuitInstruction
from qiskit.circuit import library as lib
from qiskit.quantum_info import SparsePauliOp, Statevector

ATOL = 1e-10


def _qiskit_state(ops, n):
    return Statevector(build_qiskit(ops, n)).data


@given(circuits(max_qubits=10, max_ops=25))
def test_random_circuit_matches_qiskit(nc):
    n, ops = nc
    np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=1e-9)


@settings(max_examples=examples(0.5))
@given(circuits(min_qubits=3, max_qubits=5, max_ops=40, max_unitary_qubits=0, max_mcx_controls=0))
def test_deep_gate_only_circuit_matches_qiskit(nc):
    n, ops = nc
    np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=1e-9)


@settings(max_examples=examples(0.5))
@given(circuits(max_qubits=6, max_ops=15))
def test_inverse_matches_qiskit_inverse(nc):
    n, ops = nc
    expected = Statevector(build_qiskit(ops, n).inverse()).data
    np.testing.assert_allclose(ferroq.statevector(build(ops, n).inverse()), expected, atol=1e-9)


@pytest.mark.parametrize("name", GATE_NAMES)
def test_each_gate_every_ordering_matches_qiskit(name):
    """Every gate on every ordered qubit tuple of a 3-qubit register, after a
    random-state preparation, compared with qiskit."""
    n = 3
    rng = np.random.default_rng(stable_seed("qiskit-diff", name))
    nq, npar, _ = ref.GATES[name]
    prep = ("unitary", (0, 1, 2), ref.random_unitary(8, rng))
    for qubits in itertools.permutations(range(n), nq):
        params = tuple(float(v) for v in rng.uniform(-2 * math.pi, 2 * math.pi, npar))
        ops = [prep, (name, qubits, params), ("global_phase", (), (0.37,))]
        np.testing.assert_allclose(
            ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=ATOL, err_msg=f"{name} {qubits}"
        )


@pytest.mark.parametrize("num_ctrl", [1, 2, 3, 4])
def test_mcx_matches_qiskit(num_ctrl):
    n = 5
    rng = np.random.default_rng(stable_seed("qiskit-mcx", num_ctrl))
    prep = ("unitary", tuple(range(n)), ref.random_unitary(1 << n, rng))
    for _ in range(5):
        qubits = tuple(int(q) for q in rng.permutation(n)[: num_ctrl + 1])
        ops = [prep, ("mcx", qubits, ())]
        np.testing.assert_allclose(ferroq.statevector(build(ops, n)), _qiskit_state(ops, n), atol=ATOL)


def test_counts_bitstring_convention_matches_qiskit():
    """The count keys use qiskit's ordering (clbit 0 rightmost): compare the single
    possible outcome of a deterministic circuit with qiskit's probabilities_dict."""
    ops = [("x", (0,), ()), ("x", (3,), ()), ("swap", (0, 1), ())]
    n = 4
    circ = build(ops, n, n).measure(list(range(n)), list(range(n)))
    counts = _res(ferroq.Simulator().run(circ, shots=16)).get_counts()
    expected = Statevector(build_qiskit(ops, n)).probabilities_dict()
    (key,) = (k for k, v in expected.items() if v > 0.5)
    assert counts == {key: 16}


# --------------------------------------------------------------------------- through ferroq.qiskit


def _angle(rng: np.random.Generator) -> float:
    return float(rng.uniform(-2 * math.pi, 2 * math.pi))


# Gates of Qiskit's library outside ferroq's native set (each converted through its
# definition or matrix): name -> (width, gate from a generator).
NON_NATIVE_GATES = {
    "c3x": (4, lambda rng: lib.C3XGate()),
    "c3sx": (4, lambda rng: lib.C3SXGate()),
    "rc3x": (4, lambda rng: lib.RC3XGate()),
    "c4x": (5, lambda rng: lib.C4XGate()),
    "ms": (3, lambda rng: lib.MSGate(3, _angle(rng))),
    "pauli": (3, lambda rng: lib.PauliGate("XYZ")),
    "rv": (1, lambda rng: lib.RVGate(_angle(rng), _angle(rng), _angle(rng))),
    "diagonal": (2, lambda rng: lib.DiagonalGate(list(np.exp(1j * rng.uniform(0, 2 * math.pi, 4))))),
    "permutation": (3, lambda rng: lib.PermutationGate([2, 0, 1])),
    "mcphase": (4, lambda rng: lib.MCPhaseGate(_angle(rng), 3)),
    "c3rx": (4, lambda rng: lib.RXGate(_angle(rng)).control(3, annotated=False)),
    "cu2": (2, lambda rng: lib.U2Gate(_angle(rng), _angle(rng)).control(1, annotated=False)),
    "open_ccry": (3, lambda rng: lib.RYGate(_angle(rng)).control(2, ctrl_state="10", annotated=False)),
    "annotated_open_cch": (3, lambda rng: lib.HGate().control(2, ctrl_state="01", annotated=True)),
    "controlled_unitary": (
        3,
        lambda rng: lib.UnitaryGate(ref.random_unitary(4, rng)).control(1, annotated=False),
    ),
    "pauli_evolution": (
        3,
        lambda rng: lib.PauliEvolutionGate(
            # Commuting terms, so that the definition ferroq expands (a Trotter product,
            # as transpile makes) equals the exact exponential Statevector applies.
            SparsePauliOp(["XXI", "YYI", "ZZZ"], rng.uniform(-1, 1, 3)),
            time=_angle(rng),
        ),
    ),
    "global_phase": (0, lambda rng: lib.GlobalPhaseGate(_angle(rng))),
}


def _registers(n: int) -> list[QuantumRegister]:
    """``n`` qubits in three registers (two if ``n`` is 2), so gates cross them."""
    sizes = [1, n - 2, 1] if n > 2 else [1, 1]
    return [QuantumRegister(size, name) for size, name in zip(sizes, "abc", strict=False)]


def test_non_native_gates_are_not_native():
    """Otherwise the tests below would not exercise the decomposition."""
    rng = np.random.default_rng(0)
    for name, (_, make) in NON_NATIVE_GATES.items():
        assert _native_name(make(rng)) is None, name


# Statevector's exact exponential of a PauliEvolutionGate goes through scipy's sparse
# solvers, which warn about the matrix format qiskit hands them.
@pytest.mark.filterwarnings("ignore:spsolve is more efficient", "ignore:splu converted its input")
@pytest.mark.parametrize("name", sorted(NON_NATIVE_GATES))
def test_non_native_gate_on_several_registers_matches_qiskit(name):
    """Each non-native gate on several qubit orderings across registers, after a random
    state preparation, compared with qiskit's Statevector."""
    width, make = NON_NATIVE_GATES[name]
    n = max(width + 1, 3)
    rng = np.random.default_rng(stable_seed("qiskit-non-native", name))
    for _ in range(4):
        qc = QuantumCircuit(*_registers(n))
        qc.unitary(ref.random_unitary(1 << n, rng), qc.qubits)
        qubits = [qc.qubits[int(q)] for q in rng.permutation(n)[:width]]
        qc.append(make(rng), qubits)
        qc.global_phase = 0.3
        np.testing.assert_allclose(
            ferroq.statevector(to_ferroq(qc)), Statevector(qc).data, atol=ATOL, err_msg=f"{name} {qubits}"
        )


@st.composite
def mixed_register_circuits(draw):
    """A random multi-register circuit of native gates with 1 to 3 non-native gates
    inserted at random places, on random qubits across the registers."""
    qc = draw(qiskit_circuits(num_qubits=range(2, 7), depth=range(0, 6), registers=True))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    fitting = sorted(name for name, (width, _) in NON_NATIVE_GATES.items() if width <= qc.num_qubits)
    for name in draw(st.lists(st.sampled_from(fitting), min_size=1, max_size=3)):
        width, make = NON_NATIVE_GATES[name]
        qubits = draw(st.permutations(qc.qubits))[:width]
        position = draw(st.integers(0, len(qc.data)))
        qc.data.insert(position, CircuitInstruction(make(rng), qubits))
    return qc


@pytest.mark.filterwarnings("ignore:spsolve is more efficient", "ignore:splu converted its input")
@settings(max_examples=examples(0.2), deadline=None)
@given(mixed_register_circuits())
def test_mixed_multi_register_circuits_match_qiskit_through_the_backend(qc):
    expected = Statevector(qc).data
    save_statevector(qc)
    state = FerroqSimulator().run(qc, shots=1).result().get_statevector()
    np.testing.assert_allclose(np.asarray(state), expected, atol=ATOL)
