"""Shared helpers: building ferroq / qiskit circuits from reference op lists and
hypothesis strategies for random circuits. See ``reference.py`` for the op format."""

from __future__ import annotations

import math
import zlib

import ferroq
import numpy as np
import reference as ref
from hypothesis import settings
from hypothesis import strategies as st

GATE_NAMES = sorted(ref.GATES)
NON_GATE_OPS = ("mcx", "unitary", "global_phase", "barrier")

# Qiskit gate classes for every name of the reference table (qiskit imported lazily).
_QISKIT_CLASS_NAMES = {
    "id": "IGate", "x": "XGate", "y": "YGate", "z": "ZGate", "h": "HGate", "s": "SGate",
    "sdg": "SdgGate", "t": "TGate", "tdg": "TdgGate", "sx": "SXGate", "sxdg": "SXdgGate",
    "p": "PhaseGate", "r": "RGate", "rx": "RXGate", "ry": "RYGate", "rz": "RZGate", "u": "UGate",
    "u1": "U1Gate", "u2": "U2Gate", "u3": "U3Gate", "cx": "CXGate", "cy": "CYGate", "cz": "CZGate",
    "ch": "CHGate", "cs": "CSGate", "csdg": "CSdgGate", "csx": "CSXGate", "swap": "SwapGate",
    "iswap": "iSwapGate", "dcx": "DCXGate", "ecr": "ECRGate", "cp": "CPhaseGate", "crx": "CRXGate",
    "cry": "CRYGate", "crz": "CRZGate", "cu": "CUGate", "cu1": "CU1Gate", "cu3": "CU3Gate",
    "rxx": "RXXGate", "ryy": "RYYGate", "rzz": "RZZGate", "rzx": "RZXGate",
    "xx_plus_yy": "XXPlusYYGate", "xx_minus_yy": "XXMinusYYGate", "ccx": "CCXGate", "ccz": "CCZGate",
    "cswap": "CSwapGate", "rccx": "RCCXGate",
}  # fmt: skip


def qiskit_gate(name: str, params=()):
    from qiskit.circuit import library

    return getattr(library, _QISKIT_CLASS_NAMES[name])(*params)


def stable_seed(*parts) -> int:
    """A deterministic seed from a test's identifying values."""
    return zlib.crc32(repr(parts).encode())


def examples(fraction: float, minimum: int = 5) -> int:
    """A number of hypothesis examples relative to the loaded profile."""
    return max(minimum, int(settings().max_examples * fraction))


# ---------------------------------------------------------------------------
# Circuit builders
# ---------------------------------------------------------------------------


def add_op(circ, op, via_append: bool = False):
    """Add one reference op to a ferroq circuit; returns what the method returned."""
    name, qubits, params = op
    qubits = [int(q) for q in qubits]
    if name == "mcx":
        return circ.mcx(qubits[:-1], qubits[-1])
    if name == "unitary":
        return circ.unitary(np.asarray(params), qubits)
    if name == "global_phase":
        return circ.append("global_phase", [], [float(params[0])])
    if name == "barrier":
        return circ.barrier(*qubits)
    if name == "measure":
        return circ.measure(qubits[0], int(params[0]))
    if name == "reset":
        return circ.reset(qubits[0])
    params = [float(x) for x in params]
    if via_append:
        return circ.append(name, qubits, params)
    return getattr(circ, name)(*params, *qubits)


def build(ops, n: int, num_clbits: int = 0, name=None, via_append: bool = False):
    import ferroq

    circ = ferroq.Circuit(n, num_clbits, name=name)
    for op in ops:
        add_op(circ, op, via_append=via_append)
    return circ


def qiskit_bell_measured():
    """A measured Bell pair as a Qiskit circuit named "bell"."""
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(2, 2, name="bell")
    qc.h(0)
    qc.cx(0, 1)
    qc.measure([0, 1], [0, 1])
    return qc


def build_qiskit(ops, n: int, num_clbits: int = 0):
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(n, num_clbits)
    for name, qubits, params in ops:
        qubits = [int(q) for q in qubits]
        if name == "mcx":
            qc.mcx(qubits[:-1], qubits[-1])
        elif name == "unitary":
            qc.unitary(np.asarray(params), qubits)
        elif name == "global_phase":
            qc.global_phase += float(params[0])
        elif name == "barrier":
            qc.barrier(*qubits)
        elif name == "measure":
            qc.measure(qubits[0], int(params[0]))
        elif name == "reset":
            qc.reset(qubits[0])
        else:
            qc.append(qiskit_gate(name, [float(x) for x in params]), qubits)
    return qc


def unitary_ops_only(ops):
    return [op for op in ops if op[0] not in ("measure", "reset")]


# ---------------------------------------------------------------------------
# Hypothesis strategies
# ---------------------------------------------------------------------------

SPECIAL_ANGLES = (0.0, math.pi, -math.pi, math.pi / 2, -math.pi / 2, math.pi / 4, 2 * math.pi, 1e-9)

angles = st.one_of(
    st.sampled_from(SPECIAL_ANGLES),
    st.floats(-2 * math.pi, 2 * math.pi, allow_nan=False, allow_infinity=False),
    st.floats(-100.0, 100.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def unitary_op(draw, n: int, max_k: int = 3):
    k = draw(st.integers(1, min(max_k, n)))
    qubits = tuple(draw(st.permutations(range(n)))[:k])
    seed = draw(st.integers(0, 2**32 - 1))
    return ("unitary", qubits, ref.random_unitary(1 << k, np.random.default_rng(seed)))


@st.composite
def gate_op(draw, n: int, names=None, max_unitary_qubits: int = 3, max_mcx_controls: int = 4):
    """One unitary op on an n-qubit register, drawn from the whole gate set."""
    names = GATE_NAMES if names is None else names
    choices = [g for g in names if ref.GATES[g][0] <= n]
    extra = ["global_phase", "barrier"]
    if max_unitary_qubits > 0:
        extra.append("unitary")
    if n >= 2 and max_mcx_controls > 0:
        extra.append("mcx")
    name = draw(st.sampled_from(choices + extra))
    if name == "unitary":
        return draw(unitary_op(n, max_unitary_qubits))
    if name == "global_phase":
        return ("global_phase", (), (draw(angles),))
    if name == "barrier":
        k = draw(st.integers(0, n))
        return ("barrier", tuple(sorted(draw(st.permutations(range(n)))[:k])), ())
    if name == "mcx":
        k = draw(st.integers(1, min(max_mcx_controls, n - 1)))
        return ("mcx", tuple(draw(st.permutations(range(n)))[: k + 1]), ())
    nq, npar, _ = ref.GATES[name]
    qubits = tuple(draw(st.permutations(range(n)))[:nq])
    params = tuple(draw(angles) for _ in range(npar))
    return (name, qubits, params)


@st.composite
def _op_lists(draw, op_strategy, max_ops: int):
    """A list of ops whose length is drawn first (plain st.lists favours very short lists)."""
    size = draw(st.integers(0, max_ops))
    return draw(st.lists(op_strategy, min_size=size, max_size=size))


@st.composite
def circuits(draw, min_qubits: int = 1, max_qubits: int = 12, max_ops: int = 25, **kw):
    """(n, ops) with only unitary ops."""
    n = draw(st.integers(min_qubits, max_qubits))
    return n, draw(_op_lists(gate_op(n, **kw), max_ops))


@st.composite
def measured_circuits(draw, min_qubits: int = 1, max_qubits: int = 5, max_ops: int = 15):
    """(n, num_clbits, ops) of unitary ops followed by terminal measurements of a
    random subset of qubits into random distinct clbits."""
    n = draw(st.integers(min_qubits, max_qubits))
    ops = draw(_op_lists(gate_op(n), max_ops))
    k = draw(st.integers(1, n))
    qubits = draw(st.permutations(range(n)))[:k]
    num_clbits = draw(st.integers(k, n + 1))
    clbits = draw(st.permutations(range(num_clbits)))[:k]
    ops = ops + [("measure", (q,), (c,)) for q, c in zip(qubits, clbits, strict=True)]
    return n, num_clbits, ops


@st.composite
def dynamic_circuits(
    draw, min_qubits: int = 1, max_qubits: int = 4, max_ops: int = 12, max_nonunitary: int = 5
):
    """(n, num_clbits, ops) with measure and reset anywhere (at least one mid-circuit
    measure or reset) and a final measurement of every qubit into clbits n.. 2n-1."""
    n = draw(st.integers(min_qubits, max_qubits))
    num_mid = draw(st.integers(1, 3))
    num_clbits = n + num_mid
    unitary = _op_lists(gate_op(n, max_unitary_qubits=2, max_mcx_controls=3), max_ops)

    def nonunitary(q, c):
        return st.sampled_from([("measure", (q,), (c,)), ("reset", (q,), ())])

    ops = list(draw(unitary))
    count = draw(st.integers(1, max_nonunitary))
    for _ in range(count):
        q = draw(st.integers(0, n - 1))
        c = draw(st.integers(0, num_mid - 1))
        pos = draw(st.integers(0, len(ops)))
        ops.insert(pos, draw(nonunitary(q, c)))
    ops += [("measure", (q,), (num_mid + q,)) for q in range(n)]
    return n, num_clbits, ops


# ---------------------------------------------------------------------------
# Job tests
# ---------------------------------------------------------------------------


def h_layers(n: int, count: int):
    """``count`` layers of H on each of ``n`` qubits (no measurement): a circuit whose
    run time is easy to dial. A barrier closes each layer, so that fusion cannot
    cancel the H pairs: every layer costs a full pass over the state."""
    import ferroq

    c = ferroq.Circuit(n)
    for _ in range(count):
        for q in range(n):
            c.h(q)
        c.barrier()
    return c


def job_rank(status) -> int:
    """Position along a job's life; the three final states share the last one."""
    from ferroq import JOB_FINAL_STATES, JobStatus

    return 4 if status in JOB_FINAL_STATES else list(JobStatus).index(status)


# ---------------------------------------------------------------------------
# Wall-clock bounds
# ---------------------------------------------------------------------------

#: Upper bound, in seconds, of a "did not hang" check: far above any scheduling delay
#: of a loaded two-core machine, far below what the tests' long jobs take (tens of
#: seconds to minutes), so a wait that missed its wake-up still fails.
HANG_S = 5.0


def assert_prompt(elapsed: float, instead: float | None = None, what: str = "the call") -> None:
    """``elapsed`` is a prompt return, not a hang: below :data:`HANG_S`, and below half
    of ``instead``, the time the call would take if it missed its wake-up (a poll
    interval or a timeout). Never a tight window: speed is measured in ``benches/``."""
    bound = HANG_S if instead is None else min(HANG_S, instead / 2)
    assert elapsed < bound, f"{what} took {elapsed:.3f} s (bound {bound} s): it did not return promptly"


def assert_waited(elapsed: float, timeout: float, what: str = "the wait") -> None:
    """A wait with ``timeout`` returned at its timeout: never early (1% clock slack),
    and without hanging after it."""
    assert elapsed >= timeout * 0.99 - 1e-3, f"{what} returned after {elapsed:.3f} s, before its {timeout} s"
    assert elapsed < timeout + HANG_S, f"{what} took {elapsed:.3f} s with a {timeout} s timeout: it hung"


def saving(name: str = "saving") -> ferroq.Circuit:
    """Two qubits with one save of every kind, then measured."""
    return (
        ferroq.Circuit(2, 2, name=name)
        .ry(0.4, 0)
        .cx(0, 1)
        .save_statevector()
        .save_probabilities([1], label="p1")
        .save_probabilities_dict(label="pd")
        .save_amplitudes([0, 3])
        .save_expectation_value([("ZZ", 0.5), ("XI", 1j)], label="ev")
        .measure_all(add_bits=False)
    )


def to_qiskit(circuit: ferroq.Circuit):
    """The same circuit in qiskit, for the instructions the job tests use (gates
    by name, measure, reset, barrier, save_statevector, save_probabilities)."""
    from ferroq.qiskit import save_probabilities, save_statevector
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(circuit.num_qubits, circuit.num_clbits, name=circuit.name)
    for inst in circuit.instructions:
        if inst.name == "save_statevector":
            save_statevector(qc)
            # ferroq's own save is averaged over shots (refused after a
            # measurement), not Aer's "single" (the last shot's state).
            qc.data[-1].operation._subtype = "average"
        elif inst.name == "save_probabilities":
            save_probabilities(qc, inst.qubits)
        elif inst.name == "measure":
            qc.measure(inst.qubits[0], inst.clbits[0])
        elif inst.name == "reset":
            qc.reset(inst.qubits[0])
        elif inst.name == "barrier":
            qc.barrier()
        else:
            getattr(qc, inst.name)(*inst.params, *inst.qubits)
    return qc
