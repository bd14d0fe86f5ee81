"""Independent dense numpy reference for the ferroq test suite.

Gate matrices are written from the formulas in Qiskit's documentation (they are
checked against ``qiskit.quantum_info.Operator`` by ``test_reference.py``), in
Qiskit's little-endian convention: for a k-qubit gate applied to ``qubits``, bit
``j`` of the matrix row/column index is the state of ``qubits[j]``; bit ``q`` of a
statevector index is the state of qubit ``q``.

Operations are plain tuples ``(name, qubits, params)``:

* gates from :data:`GATES`: ``params`` is a tuple of floats;
* ``"mcx"``: ``qubits`` is ``(*controls, target)``, ``params`` is ``()``;
* ``"unitary"``: ``params`` is the matrix itself;
* ``"global_phase"``: ``qubits`` is ``()``, ``params`` is ``(phase,)``;
* ``"barrier"``: any qubits, no effect;
* ``"measure"``: ``qubits`` is ``(q,)``, ``params`` is ``(clbit,)`` (only for
  :func:`outcome_distribution`);
* ``"reset"``: ``qubits`` is ``(q,)`` (only for :func:`outcome_distribution`).
"""

from __future__ import annotations

import cmath
import math

import numpy as np

# ---------------------------------------------------------------------------
# Gate matrices
# ---------------------------------------------------------------------------

_SQ2 = 1.0 / math.sqrt(2.0)

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)
H = _SQ2 * np.array([[1, 1], [1, -1]], dtype=complex)
S = np.diag([1, 1j]).astype(complex)
SDG = np.diag([1, -1j]).astype(complex)
T = np.diag([1, cmath.exp(1j * math.pi / 4)]).astype(complex)
TDG = np.diag([1, cmath.exp(-1j * math.pi / 4)]).astype(complex)
SX = 0.5 * np.array([[1 + 1j, 1 - 1j], [1 - 1j, 1 + 1j]], dtype=complex)
SXDG = 0.5 * np.array([[1 - 1j, 1 + 1j], [1 + 1j, 1 - 1j]], dtype=complex)
SWAP = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=complex)


def controlled(u: np.ndarray, num_ctrl: int = 1, ctrl_phase: float = 0.0) -> np.ndarray:
    """Controlled version of ``u``: the controls are the *low* qubits 0..num_ctrl-1
    (they come first in the argument order), the targets the following ones.
    ``ctrl_phase`` multiplies the controlled block by ``e^{i ctrl_phase}``."""
    u = np.asarray(u, dtype=complex)
    k = u.shape[0]
    dim = k << num_ctrl
    out = np.eye(dim, dtype=complex)
    on = (1 << num_ctrl) - 1
    idx = [(t << num_ctrl) | on for t in range(k)]
    out[np.ix_(idx, idx)] = cmath.exp(1j * ctrl_phase) * u
    return out


def p(lam):
    return np.diag([1, cmath.exp(1j * lam)]).astype(complex)


def r(theta, phi):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * cmath.exp(-1j * phi) * s], [-1j * cmath.exp(1j * phi) * s, c]], dtype=complex)


def rx(theta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -1j * s], [-1j * s, c]], dtype=complex)


def ry(theta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array([[c, -s], [s, c]], dtype=complex)


def rz(phi):
    return np.diag([cmath.exp(-0.5j * phi), cmath.exp(0.5j * phi)]).astype(complex)


def u(theta, phi, lam):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [
            [c, -cmath.exp(1j * lam) * s],
            [cmath.exp(1j * phi) * s, cmath.exp(1j * (phi + lam)) * c],
        ],
        dtype=complex,
    )


def u2(phi, lam):
    return _SQ2 * np.array(
        [[1, -cmath.exp(1j * lam)], [cmath.exp(1j * phi), cmath.exp(1j * (phi + lam))]], dtype=complex
    )


def _pauli_rotation(theta, pauli_2q):
    """exp(-i theta/2 P) for a Pauli string P (P^2 = I)."""
    return math.cos(theta / 2) * np.eye(pauli_2q.shape[0]) - 1j * math.sin(theta / 2) * pauli_2q


def rxx(theta):
    return _pauli_rotation(theta, np.kron(X, X))


def ryy(theta):
    return _pauli_rotation(theta, np.kron(Y, Y))


def rzz(theta):
    return _pauli_rotation(theta, np.kron(Z, Z))


def rzx(theta):
    # Z acts on the first qubit (bit 0), X on the second (bit 1): kron(X_q1, Z_q0).
    return _pauli_rotation(theta, np.kron(X, Z))


def xx_plus_yy(theta, beta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [
            [1, 0, 0, 0],
            [0, c, -1j * s * cmath.exp(-1j * beta), 0],
            [0, -1j * s * cmath.exp(1j * beta), c, 0],
            [0, 0, 0, 1],
        ],
        dtype=complex,
    )


def xx_minus_yy(theta, beta):
    c, s = math.cos(theta / 2), math.sin(theta / 2)
    return np.array(
        [
            [c, 0, 0, -1j * s * cmath.exp(-1j * beta)],
            [0, 1, 0, 0],
            [0, 0, 1, 0],
            [-1j * s * cmath.exp(1j * beta), 0, 0, c],
        ],
        dtype=complex,
    )


ISWAP = np.array([[1, 0, 0, 0], [0, 0, 1j, 0], [0, 1j, 0, 0], [0, 0, 0, 1]], dtype=complex)
DCX = np.array([[1, 0, 0, 0], [0, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=complex)
ECR = _SQ2 * np.array([[0, 1, 0, 1j], [1, 0, -1j, 0], [0, 1j, 0, 1], [-1j, 0, 1, 0]], dtype=complex)
RCCX = np.array(
    [
        [1, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0],
        [0, 0, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, -1j],
        [0, 0, 0, 0, 1, 0, 0, 0],
        [0, 0, 0, 0, 0, -1, 0, 0],
        [0, 0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 1j, 0, 0, 0, 0],
    ],
    dtype=complex,
)


def _const(m):
    m = np.asarray(m, dtype=complex)
    return lambda: m.copy()


#: name -> (num_qubits, num_params, function(*params) -> matrix)
GATES: dict[str, tuple[int, int, object]] = {
    # 1 qubit, no parameters
    "id": (1, 0, _const(I2)),
    "x": (1, 0, _const(X)),
    "y": (1, 0, _const(Y)),
    "z": (1, 0, _const(Z)),
    "h": (1, 0, _const(H)),
    "s": (1, 0, _const(S)),
    "sdg": (1, 0, _const(SDG)),
    "t": (1, 0, _const(T)),
    "tdg": (1, 0, _const(TDG)),
    "sx": (1, 0, _const(SX)),
    "sxdg": (1, 0, _const(SXDG)),
    # 1 qubit, parameters
    "p": (1, 1, p),
    "r": (1, 2, r),
    "rx": (1, 1, rx),
    "ry": (1, 1, ry),
    "rz": (1, 1, rz),
    "u": (1, 3, u),
    "u1": (1, 1, p),
    "u2": (1, 2, u2),
    "u3": (1, 3, u),
    # 2 qubits, no parameters
    "cx": (2, 0, _const(controlled(X))),
    "cy": (2, 0, _const(controlled(Y))),
    "cz": (2, 0, _const(controlled(Z))),
    "ch": (2, 0, _const(controlled(H))),
    "cs": (2, 0, _const(controlled(S))),
    "csdg": (2, 0, _const(controlled(SDG))),
    "csx": (2, 0, _const(controlled(SX))),
    "swap": (2, 0, _const(SWAP)),
    "iswap": (2, 0, _const(ISWAP)),
    "dcx": (2, 0, _const(DCX)),
    "ecr": (2, 0, _const(ECR)),
    # 2 qubits, parameters
    "cp": (2, 1, lambda lam: controlled(p(lam))),
    "crx": (2, 1, lambda theta: controlled(rx(theta))),
    "cry": (2, 1, lambda theta: controlled(ry(theta))),
    "crz": (2, 1, lambda theta: controlled(rz(theta))),
    "cu": (2, 4, lambda theta, phi, lam, gamma: controlled(u(theta, phi, lam), ctrl_phase=gamma)),
    "cu1": (2, 1, lambda lam: controlled(p(lam))),
    "cu3": (2, 3, lambda theta, phi, lam: controlled(u(theta, phi, lam))),
    "rxx": (2, 1, rxx),
    "ryy": (2, 1, ryy),
    "rzz": (2, 1, rzz),
    "rzx": (2, 1, rzx),
    "xx_plus_yy": (2, 2, xx_plus_yy),
    "xx_minus_yy": (2, 2, xx_minus_yy),
    # 3 qubits
    "ccx": (3, 0, _const(controlled(X, 2))),
    "ccz": (3, 0, _const(controlled(Z, 2))),
    "cswap": (3, 0, _const(controlled(SWAP, 1))),
    "rccx": (3, 0, _const(RCCX)),
}


def gate_matrix(name: str, params=()) -> np.ndarray:
    """Matrix of a fixed-arity gate from :data:`GATES`."""
    _, npar, fn = GATES[name]
    if len(params) != npar:
        raise ValueError(f"{name} takes {npar} parameters, got {len(params)}")
    return np.asarray(fn(*params), dtype=complex)


def mcx_matrix(num_ctrl: int) -> np.ndarray:
    """Matrix of an X controlled by ``num_ctrl`` qubits (controls = low qubits)."""
    return controlled(X, num_ctrl)


# ---------------------------------------------------------------------------
# Random objects
# ---------------------------------------------------------------------------


def random_unitary(dim: int, rng: np.random.Generator) -> np.ndarray:
    """Haar-random unitary (QR of a complex Ginibre matrix with phase fix)."""
    z = (rng.standard_normal((dim, dim)) + 1j * rng.standard_normal((dim, dim))) / math.sqrt(2)
    q, rr = np.linalg.qr(z)
    d = np.diagonal(rr)
    return q * (d / np.abs(d))


def random_state(num_qubits: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(1 << num_qubits) + 1j * rng.standard_normal(1 << num_qubits)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------------
# Dense application
# ---------------------------------------------------------------------------


def num_qubits_of(state: np.ndarray) -> int:
    n = round(math.log2(state.shape[0]))
    if (1 << n) != state.shape[0]:
        raise ValueError("state length is not a power of two")
    return n


def apply(state: np.ndarray, matrix: np.ndarray, qubits) -> np.ndarray:
    """Apply a k-qubit ``matrix`` to ``qubits`` of ``state`` by tensor contraction.

    Returns a new array; ``state`` is not modified."""
    state = np.asarray(state, dtype=complex)
    qubits = [int(q) for q in qubits]
    n = num_qubits_of(state)
    k = len(qubits)
    matrix = np.asarray(matrix, dtype=complex)
    if matrix.shape != (1 << k, 1 << k):
        raise ValueError("matrix shape does not match the number of qubits")
    if len(set(qubits)) != k or any(not 0 <= q < n for q in qubits):
        raise ValueError(f"bad qubits {qubits} for {n} qubits")
    if k == 0:
        return matrix[0, 0] * state
    psi = state.reshape([2] * n)  # axis a <-> qubit n-1-a
    m = matrix.reshape([2] * (2 * k))  # row axes: bits k-1..0, column axes: bits k-1..0
    axes = [n - 1 - q for q in reversed(qubits)]  # psi axes matching column axes k..2k-1
    out = np.tensordot(m, psi, axes=(list(range(k, 2 * k)), axes))
    out = np.moveaxis(out, list(range(k)), axes)
    return np.ascontiguousarray(out).reshape(-1)


def full_matrix(matrix: np.ndarray, qubits, n: int) -> np.ndarray:
    """The 2^n x 2^n matrix of ``matrix`` acting on ``qubits``, built entry by entry
    from bit manipulation (a second, loop-based reference for small n)."""
    qubits = [int(q) for q in qubits]
    k = len(qubits)
    dim = 1 << n
    out = np.zeros((dim, dim), dtype=complex)
    mask = sum(1 << q for q in qubits)
    for col in range(dim):
        sub = sum(((col >> q) & 1) << j for j, q in enumerate(qubits))
        rest = col & ~mask
        for rsub in range(1 << k):
            row = rest | sum(((rsub >> j) & 1) << q for j, q in enumerate(qubits))
            out[row, col] = matrix[rsub, sub]
    return out


def full_matrix_kron(matrix: np.ndarray, qubits, n: int) -> np.ndarray:
    """Same as :func:`full_matrix` but for *contiguous ascending* qubits only, via kron."""
    qubits = [int(q) for q in qubits]
    lo, k = qubits[0], len(qubits)
    assert qubits == list(range(lo, lo + k))
    return np.kron(np.kron(np.eye(1 << (n - lo - k)), matrix), np.eye(1 << lo))


def apply_mcx(state: np.ndarray, controls, target: int) -> np.ndarray:
    """Multi-controlled X by index permutation (no matrix built)."""
    state = np.asarray(state, dtype=complex)
    idx = np.arange(state.shape[0])
    cmask = sum(1 << int(c) for c in controls)
    on = (idx & cmask) == cmask
    perm = np.where(on, idx ^ (1 << int(target)), idx)
    out = np.empty_like(state)
    out[perm] = state
    return out


def op_matrix(op) -> np.ndarray:
    """Matrix of a unitary op (not for mcx with many controls: use apply_op)."""
    name, qubits, params = op
    if name == "unitary":
        return np.asarray(params, dtype=complex)
    if name == "mcx":
        return mcx_matrix(len(qubits) - 1)
    if name == "global_phase":
        return np.array([[cmath.exp(1j * params[0])]])
    return gate_matrix(name, tuple(params))


def apply_op(state: np.ndarray, op) -> np.ndarray:
    name, qubits, params = op
    if name == "barrier":
        return state
    if name == "global_phase":
        return cmath.exp(1j * params[0]) * state
    if name == "mcx":
        return apply_mcx(state, qubits[:-1], qubits[-1])
    if name in ("measure", "reset"):
        raise ValueError(f"{name} is not unitary")
    return apply(state, op_matrix(op), qubits)


def zero_state(n: int) -> np.ndarray:
    s = np.zeros(1 << n, dtype=complex)
    s[0] = 1.0
    return s


def simulate(ops, n: int, initial: np.ndarray | None = None, global_phase: float = 0.0) -> np.ndarray:
    """Final statevector of the unitary ops starting from |0..0> (or ``initial``)."""
    state = zero_state(n) if initial is None else np.array(initial, dtype=complex)
    for op in ops:
        state = apply_op(state, op)
    return cmath.exp(1j * global_phase) * state


def inverse_ops(ops):
    """The adjoint op list (every op turned into a unitary / phase / mcx)."""
    out = []
    for op in reversed(ops):
        name, qubits, params = op
        if name in ("barrier", "mcx"):
            out.append(op)
        elif name == "global_phase":
            out.append((name, (), (-params[0],)))
        else:
            out.append(("unitary", tuple(qubits), op_matrix(op).conj().T))
    return out


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------


def marginal_probabilities(state: np.ndarray, qubits, clbits, num_clbits: int) -> dict[str, float]:
    """Exact distribution of the classical register after measuring ``qubits[i]``
    into ``clbits[i]`` at the end (other clbits stay 0). Keys: clbit 0 rightmost."""
    probs = np.abs(np.asarray(state)) ** 2
    out: dict[str, float] = {}
    idx = np.arange(probs.shape[0])
    reg = np.zeros_like(idx)
    for q, c in zip(qubits, clbits, strict=True):
        bit = (idx >> int(q)) & 1
        reg = (reg & ~(1 << int(c))) | (bit << int(c))
    for value, pr in zip(reg.tolist(), probs.tolist(), strict=True):
        key = format(value, f"0{num_clbits}b") if num_clbits else ""
        out[key] = out.get(key, 0.0) + pr
    return out


def outcome_distribution(ops, n: int, num_clbits: int, prune: float = 1e-14) -> dict[str, float]:
    """Exact distribution of the final classical register for a circuit with
    measure / reset anywhere, by enumerating every measurement branch.

    Each branch is (unnormalised state, register value); its probability is the
    squared norm of its state. Exponential in the number of measure/reset ops."""
    branches = [(zero_state(n), 0)]
    for op in ops:
        name, qubits, params = op
        if name in ("measure", "reset"):
            q = int(qubits[0])
            new = []
            for state, reg in branches:
                bit = (np.arange(state.shape[0]) >> q) & 1
                for outcome in (0, 1):
                    proj = np.where(bit == outcome, state, 0)
                    if np.vdot(proj, proj).real <= prune:
                        continue
                    if name == "measure":
                        c = int(params[0])
                        new.append((proj, (reg & ~(1 << c)) | (outcome << c)))
                    else:
                        new.append((apply(proj, X, [q]) if outcome else proj, reg))
            branches = new
        else:
            branches = [(apply_op(state, op), reg) for state, reg in branches]
    out: dict[str, float] = {}
    for state, reg in branches:
        key = format(reg, f"0{num_clbits}b") if num_clbits else ""
        out[key] = out.get(key, 0.0) + float(np.vdot(state, state).real)
    return out


# ---------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------


def _gammaincc(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) (series / continued fraction)."""
    if x <= 0:
        return 1.0
    lg = math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        ap = a
        for _ in range(10000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-15:
                break
        return max(0.0, 1.0 - total * math.exp(-x + a * math.log(x) - lg))
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - lg) * h


def chi2_sf(stat: float, dof: int) -> float:
    """Survival function of the chi-square distribution."""
    try:
        from scipy.stats import chi2
    except ImportError:  # pragma: no cover - exercised only without scipy
        return _gammaincc(dof / 2.0, stat / 2.0)
    return float(chi2.sf(stat, dof))


def chi_square_pvalue(counts: dict[str, int], probs: dict[str, float], min_expected: float = 5.0):
    """Pearson chi-square goodness of fit of ``counts`` against ``probs``.

    Bins with an expected count below ``min_expected`` are pooled together.
    Returns ``(p_value, dof)``; ``p_value`` is 1.0 when fewer than two bins remain.
    Raises AssertionError if a sampled outcome has (numerically) zero probability."""
    shots = sum(counts.values())
    impossible = {k: v for k, v in counts.items() if probs.get(k, 0.0) < 1e-9}
    assert not impossible, f"sampled outcomes with zero probability: {impossible}"
    bins = sorted(((pr * shots, counts.get(k, 0)) for k, pr in probs.items()), reverse=True)
    kept = [b for b in bins if b[0] >= min_expected]
    small = [b for b in bins if b[0] < min_expected]
    if small:
        pooled = (sum(b[0] for b in small), sum(b[1] for b in small))
        if pooled[0] >= min_expected or not kept:
            kept.append(pooled)
        else:
            last = kept.pop()
            kept.append((last[0] + pooled[0], last[1] + pooled[1]))
    if len(kept) < 2:
        return 1.0, 0
    stat = sum((obs - exp) ** 2 / exp for exp, obs in kept if exp > 0)
    dof = len(kept) - 1
    return chi2_sf(stat, dof), dof
