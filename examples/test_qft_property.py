"""Property tests of a QFT builder with ferroq.testing: the worked example of docs/testing.md.

Run with:  pytest examples/test_qft_property.py
(needs ``pip install "ferroq[testing]" pytest``)
"""

from __future__ import annotations

import math

import ferroq
import numpy as np
import pytest
from ferroq.testing import assert_circuits_equivalent, assert_counts_consistent, run_many
from ferroq.testing.strategies import circuits
from hypothesis import given, settings
from hypothesis import strategies as st

# ---------------------------------------------------------------------------
# The code under test: a small compiler pass and the QFT built with it
# ---------------------------------------------------------------------------


def to_native(circuit: ferroq.Circuit) -> ferroq.Circuit:
    """Rewrites h, p, cp and swap into the native gates rz, sx and cx, keeping track of
    the global phase; every other gate is kept as it is."""
    out = ferroq.Circuit(circuit.num_qubits, circuit.num_clbits)
    phase = circuit.global_phase
    for name, qubits, params in circuit.data:
        if name == "h":  # H = e^{i pi/4} RZ(pi/2) SX RZ(pi/2)
            (q,) = qubits
            out.rz(math.pi / 2, q).sx(q).rz(math.pi / 2, q)
            phase += math.pi / 4
        elif name == "p":  # P(t) = e^{i t/2} RZ(t)
            out.rz(params[0], qubits[0])
            phase += params[0] / 2
        elif name == "cp":  # CP(t) = P(t/2) on both qubits and CX RZ(-t/2) CX on the target
            (t,), (a, b) = params, qubits
            out.rz(t / 2, a).rz(t / 2, b).cx(a, b).rz(-t / 2, b).cx(a, b)
            phase += t / 4
        elif name == "swap":
            a, b = qubits
            out.cx(a, b).cx(b, a).cx(a, b)
        else:
            out.append(name, qubits, params)
    out.global_phase = phase
    return out


def qft(num_qubits: int) -> ferroq.Circuit:
    """The quantum Fourier transform in native gates:
    ``|x> -> 2^{-n/2} sum_k e^{2 pi i x k / 2^n} |k>`` (qubit 0 least significant)."""
    c = ferroq.Circuit(num_qubits)
    for j in reversed(range(num_qubits)):
        c.h(j)
        for k in reversed(range(j)):
            c.cp(math.pi / 2 ** (j - k), k, j)
    for q in range(num_qubits // 2):
        c.swap(q, num_qubits - 1 - q)
    return to_native(c)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def textbook_qft(num_qubits: int) -> ferroq.Circuit:
    """The definition: the discrete Fourier transform matrix, as one unitary gate."""
    k = np.arange(2**num_qubits)
    dft = np.exp(2j * np.pi * np.outer(k, k) / 2**num_qubits) / math.sqrt(2**num_qubits)
    return ferroq.Circuit(num_qubits).unitary(dft, range(num_qubits))


@pytest.mark.parametrize("num_qubits", range(1, 9))
def test_qft_is_the_fourier_transform(num_qubits):
    # Exact: the two unitaries are compared entry by entry (global phase included).
    assert_circuits_equivalent(qft(num_qubits), textbook_qft(num_qubits), up_to_global_phase=False)


@settings(deadline=None)
@given(circuits(num_qubits=range(1, 5), gates=["h", "p", "cp", "swap", "x", "cx", "rz", "sx"]))
def test_to_native_keeps_the_unitary(circuit):
    native = to_native(circuit)
    assert {name for name, _, _ in native.data} <= {"x", "cx", "rz", "sx"}
    assert_circuits_equivalent(native, circuit, up_to_global_phase=False)


def phase_estimation(phase: float, num_counting: int) -> ferroq.Circuit:
    """Reads out ``phase`` (in turns) on ``num_counting`` qubits: the counting register
    after phase kickback, then the inverse QFT, then measurements."""
    c = ferroq.Circuit(num_counting)
    for q in range(num_counting):
        c.h(q).p(2 * math.pi * phase * 2**q, q)
    return c.compose(qft(num_counting).inverse()).measure_all()


def phase_estimation_probabilities(phase: float, num_counting: int) -> np.ndarray:
    """The textbook distribution: P(m) = |2^-n sum_x e^{2 pi i x (phase - m / 2^n)}|^2."""
    size = 2**num_counting
    m, x = np.arange(size), np.arange(size)
    amplitudes = np.exp(2j * np.pi * np.outer(phase - m / size, x)).sum(axis=1) / size
    return np.abs(amplitudes) ** 2


@settings(max_examples=25, deadline=None)
@given(
    num_counting=st.integers(1, 6),
    phases=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=16),
    seed=st.integers(0, 2**32 - 1),
)
def test_phase_estimation_reads_out_the_phase(num_counting, phases, seed):
    # One batch call for all the circuits of an example: the time goes to the engine.
    all_counts = run_many([phase_estimation(p, num_counting) for p in phases], shots=2000, seed=seed)
    for phase, counts in zip(phases, all_counts, strict=True):
        assert_counts_consistent(
            counts, phase_estimation_probabilities(phase, num_counting), err_msg=f"phase={phase!r}"
        )
