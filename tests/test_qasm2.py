"""OpenQASM 2 import (``ferroq.qasm2``): a corpus of programs compared with
``qiskit.qasm2`` by final statevector (global phase included), random circuits
written out by ``qiskit.qasm2.dumps``, a table of bad programs with their error
positions, and random or mutated input that must only ever raise QasmError."""

from __future__ import annotations

import os
import pickle

import ferroq
import numpy as np
import pytest
from conftest import HAVE_QISKIT, requires_qiskit
from ferroq import qasm2
from ferroq.exceptions import CircuitError, QasmError
from helpers import examples, qiskit_gate
from hypothesis import given, settings
from hypothesis import strategies as st

HEAD = 'OPENQASM 2.0;\ninclude "qelib1.inc";\n'
NON_UNITARY = ("measure", "reset", "barrier")


def unitary_part_state(circuit: ferroq.Circuit) -> np.ndarray:
    """Final state of ``circuit`` without its measures, resets and barriers."""
    bare = ferroq.Circuit(circuit.num_qubits)
    bare.global_phase = circuit.global_phase
    for inst in circuit.instructions:
        if inst.name not in NON_UNITARY:
            bare.append(inst.name, inst.qubits, inst.params)
    return ferroq.statevector(bare)


def qiskit_load(text: str, legacy: bool = True):
    """qiskit's loader; ``legacy`` adds the qelib1.inc gates Qiskit ships beyond the
    original 23 (sx, p, swap, cu, rxx, ...), which ferroq's qelib1.inc always has."""
    import qiskit
    from qiskit import qasm2 as qk_qasm2

    if not legacy:
        return qk_qasm2.loads(text)
    libs = os.path.join(os.path.dirname(qiskit.__file__), "qasm", "libs")
    return qk_qasm2.loads(text, include_path=(libs,), custom_instructions=qk_qasm2.LEGACY_CUSTOM_INSTRUCTIONS)


def qiskit_state(qc) -> np.ndarray:
    from qiskit.quantum_info import Statevector

    bare = qc.copy_empty_like()
    for inst in qc.data:
        if inst.operation.name not in NON_UNITARY:
            bare.append(inst)
    return Statevector(bare).data


def assert_same_as_qiskit(text: str, legacy: bool = True) -> ferroq.Circuit:
    ours = qasm2.loads(text)
    if HAVE_QISKIT:
        theirs = qiskit_load(text, legacy)
        assert (ours.num_qubits, ours.num_clbits) == (theirs.num_qubits, theirs.num_clbits)
        np.testing.assert_allclose(unitary_part_state(ours), qiskit_state(theirs), atol=1e-9)
    return ours


# ---------------------------------------------------------------------------
# (1) corpus: every construct, compared with qiskit by statevector
# ---------------------------------------------------------------------------

CORPUS = {
    "bell": HEAD + "qreg q[2];\ncreg c[2];\nh q[0];\ncx q[0],q[1];\nmeasure q -> c;\n",
    "builtins-only": "OPENQASM 2.0;\nqreg q[2];\n"
    + "U(pi/2, 0, pi) q[0];\nCX q[0], q[1];\nU(0.3, -0.2, 1.1) q[1];\n",
    "no-version": 'include "qelib1.inc";\nqreg q[1];\nh q[0];\n',
    "original-qelib1": HEAD
    + "qreg q[3];\n"
    + "u3(0.1,0.2,0.3) q[0]; u2(0.4,0.5) q[1]; u1(0.6) q[2]; cx q[0],q[1]; id q[2];\n"
    + "x q[0]; y q[1]; z q[2]; h q[0]; s q[1]; sdg q[2]; t q[0]; tdg q[1];\n"
    + "rx(0.7) q[0]; ry(0.8) q[1]; rz(0.9) q[2]; cz q[0],q[1]; cy q[1],q[2]; ch q[2],q[0];\n"
    + "ccx q[0],q[1],q[2]; crz(1.1) q[0],q[2]; cu1(1.2) q[1],q[0]; cu3(1.3,1.4,1.5) q[2],q[1];\n",
    "legacy-qelib1": HEAD
    + "qreg q[5];\n"
    + "h q; u0(2) q[0]; u(0.1,0.2,0.3) q[1]; p(0.4) q[2]; sx q[3]; sxdg q[4];\n"
    + "swap q[0],q[1]; cswap q[0],q[1],q[2]; crx(0.5) q[1],q[2]; cry(0.6) q[2],q[3];\n"
    + "cp(0.7) q[3],q[4]; csx q[4],q[0]; cu(0.1,0.2,0.3,0.4) q[0],q[2]; rxx(0.8) q[1],q[3];\n"
    + "rzz(0.9) q[2],q[4]; rccx q[0],q[1],q[2]; rc3x q[0],q[1],q[2],q[3];\n"
    + "c3x q[1],q[2],q[3],q[4]; c3sqrtx q[4],q[3],q[2],q[1]; c4x q[4],q[0],q[1],q[2],q[3];\n",
    "multiple-registers": HEAD
    + "qreg a[2];\ncreg m[1];\nqreg b[3];\ncreg n[4];\n"
    + "h a[1]; cx a[1], b[2]; ry(0.3) b[0]; measure b[2] -> n[3]; measure a[0] -> m[0];\n",
    "late-declaration": HEAD + "qreg a[1];\nh a[0];\nqreg b[2];\ncx a[0], b[1];\n",
    "broadcast": HEAD
    + "qreg q[3];\nqreg r[3];\ncreg c[3];\n"
    + "h q;\ncx q, r;\nrz(0.25) r;\ncx q[0], r;\ncx r, q[2];\nu3(0.1,0.2,0.3) q;\n"
    + "barrier q, r[1];\nbarrier q;\nmeasure q -> c;\n",
    "custom-gates": HEAD
    + "gate majority a,b,c { cx c,b; cx c,a; ccx a,b,c; }\n"
    + "gate unmaj a,b,c { ccx a,b,c; cx c,a; cx a,b; }\n"
    + "gate rot(theta, phi) x { rz(phi) x; ry(theta/2) x; rz(-phi) x; }\n"
    + "gate both(t) x, y { rot(t, t^2) x; rot(-t, 2*t) y; cu1(t/3) x, y; barrier x, y; }\n"
    + "qreg q[3];\nx q[0];\nh q[1];\nmajority q[0],q[1],q[2];\nunmaj q[0],q[1],q[2];\n"
    + "rot(0.3, pi/5) q[2];\nboth(1.1) q[0], q[2];\nboth(-0.4) q[1], q[0];\nrot(0.2, 0.1) q;\n",
    "custom-gate-builtins": "OPENQASM 2.0;\ngate myh a { U(pi/2, 0, pi) a; }\n"
    + "gate mycx c, t { CX c, t; }\ngate g c, t { myh c; mycx c, t; U(0.1, 0.2, 0.3) t; }\n"
    + "qreg q[2];\ng q[0], q[1];\ng q[1], q[0];\n",
    "custom-gate-no-params-parens": HEAD + "gate g() a { h a; }\nqreg q[1];\ng() q[0];\ng q[0];\n",
    "opaque-declared-not-used": HEAD + "opaque mystery(a, b) q, r;\nqreg q[1];\nx q[0];\n",
    "expressions": HEAD
    + "qreg q[1];\n"
    + "rz(-pi/2*2) q[0]; rz(2^3^0.5) q[0]; rz(-2^-1) q[0]; rz(1/2/2) q[0]; rz(2*-3) q[0];\n"
    + "rz(sin(0.3) + cos(0.4) - tan(0.5)) q[0]; ry(exp(0.2) * ln(1.5) / sqrt(2)) q[0];\n"
    + "u3(1e-1, 2.5E+0, .5) q[0]; u3(3., 0.25e1, -(1 + 2) * (3 - 4)) q[0]; rx(+0.5) q[0];\n",
    "comments-and-whitespace": '// leading comment\nOPENQASM 2.0; // version\n include "qelib1.inc";\n'
    + "qreg q[2]; // trailing\n\n h  q[0];//x\n\tcx\tq[0] ,\n q[1] ;\n// last line without newline",
    "reset-and-measure": HEAD
    + "qreg q[2];\ncreg c[2];\nreset q;\nreset q[1];\nh q[0];\nmeasure q[0] -> c[1];\n",
    "non-strict": 'OPENQASM 2;\ninclude "qelib1.inc";;\n'
    + "qreg q[2];\nu3(0.1, 0.2, 0.3,) q[0];\ncx q[0], q[1],;\n;\n",
    "global-phase-matters": HEAD
    + "qreg q[1];\nu1(0.7) q[0];\nu2(0.3, 0.2) q[0];\nrz(1.3) q[0];\np(0.4) q[0];\n",
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_corpus_matches_qiskit(name):
    circuit = assert_same_as_qiskit(CORPUS[name])
    assert circuit.num_qubits > 0


@requires_qiskit
def test_original_qelib1_matches_qiskit_default_loader():
    for name in ("bell", "original-qelib1", "custom-gates", "broadcast", "expressions"):
        assert_same_as_qiskit(CORPUS[name], legacy=False)


@requires_qiskit
def test_redefining_a_legacy_gate_uses_the_program_definition():
    text = (
        HEAD + "gate rzz(t) a, b { cx a, b; u1(2*t) b; cx a, b; }\nqreg q[2];\nh q;\nrzz(0.3) q[0], q[1];\n"
    )
    assert_same_as_qiskit(text, legacy=False)


def test_corpus_structure():
    bell = qasm2.loads(CORPUS["bell"])
    assert [i.name for i in bell.instructions] == ["h", "cx", "measure", "measure"]
    regs = qasm2.loads(CORPUS["multiple-registers"])
    assert (regs.num_qubits, regs.num_clbits) == (5, 5)
    assert regs.instructions[-2] == ("measure", (4,), (4,), ())
    assert regs.instructions[-1] == ("measure", (0,), (0,), ())
    broadcast = qasm2.loads(CORPUS["broadcast"])
    barriers = [i.qubits for i in broadcast.instructions if i.name == "barrier"]
    assert barriers == [(0, 1, 2, 4), (0, 1, 2)]


def test_block_comments_are_accepted():
    # Qiskit's loader only knows '//' comments; ferroq also takes OpenQASM 3's '/* */'.
    text = 'OPENQASM 2.0; /* block\n comment */ include "qelib1.inc";\n'
    text += "qreg q[2];\n/**/ h /* x */ q[0];\ncx q[0], q[1];"
    plain = 'OPENQASM 2.0;\ninclude "qelib1.inc";\nqreg q[2];\nh q[0];\ncx q[0], q[1];'
    assert qasm2.loads(text) == qasm2.loads(plain)
    assert_same_as_qiskit(plain)


def test_load_names_the_circuit_after_the_file(tmp_path):
    path = tmp_path / "bell_pair.qasm"
    path.write_text(CORPUS["bell"], encoding="utf-8")
    circuit = qasm2.load(path)
    assert circuit.name == "bell_pair"
    assert qasm2.load(str(path)).name == "bell_pair"
    counts = ferroq.Simulator().run(circuit, shots=200, seed=3).result().get_counts()
    assert set(counts) == {"00", "11"}
    with pytest.raises(OSError):
        qasm2.load(tmp_path / "missing.qasm")


def test_loads_rejects_non_text():
    with pytest.raises(TypeError):
        qasm2.loads(b"OPENQASM 2.0;")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# (2) random circuits written by qiskit.qasm2.dumps load to qiskit's state
# ---------------------------------------------------------------------------

# qelib1.inc gates, and a few others that dumps writes out as gate definitions.
QELIB1 = ["id", "x", "y", "z", "h", "s", "sdg", "t", "tdg", "sx", "sxdg", "p", "rx", "ry", "rz", "u",
          "u1", "u2", "u3", "cx", "cy", "cz", "ch", "csx", "swap", "cp", "crx", "cry", "crz", "cu",
          "cu1", "cu3", "rxx", "rzz", "ccx", "cswap", "rccx"]  # fmt: skip
DEFINED_BY_DUMPS = ["r", "ecr", "iswap", "dcx", "ryy", "rzx", "cs", "csdg", "ccz"]
ANGLE = st.floats(-2 * np.pi, 2 * np.pi, allow_nan=False, allow_infinity=False)


@st.composite
def qiskit_circuits(draw):
    from qiskit import QuantumCircuit

    n = draw(st.integers(3, 5))
    qc = QuantumCircuit(n)
    for _ in range(draw(st.integers(0, 20))):
        name = draw(st.sampled_from(QELIB1 + DEFINED_BY_DUMPS))
        params = [draw(ANGLE) for _ in range(ferroq.GATES[name][1])]
        gate = qiskit_gate(name, params)
        qubits = draw(st.permutations(range(n)))[: gate.num_qubits]
        qc.append(gate, qubits)
    return qc


@requires_qiskit
@settings(max_examples=examples(0.5))
@given(data=st.data())
def test_dumped_random_circuits_match_qiskit(data):
    from qiskit import qasm2 as qk_qasm2

    qc = data.draw(qiskit_circuits())
    text = qk_qasm2.dumps(qc)
    assert_same_as_qiskit(text)


# ---------------------------------------------------------------------------
# (3) bad programs: QasmError with the right position and a clear message
# ---------------------------------------------------------------------------

BAD = [
    # (source, line, column, text the message contains)
    ("OPENQASM 3.0;\nqreg q[1];", 1, 10, "unsupported OpenQASM version '3.0'"),
    ("qreg q[1];\nOPENQASM 2.0;", 2, 1, "must be the first statement"),
    ("qreg q[1]\nU(0,0,0) q[0];", 1, 10, "expected ';'"),
    (HEAD + "qreg q[1];\nh q[0]", 4, 7, "expected ';'"),
    ("qreg q[1];\nqreg q[2];", 2, 6, "register 'q' is already declared"),
    ("qreg q[1];\ncreg q[2];", 2, 6, "register 'q' is already declared"),
    (HEAD + "qreg q[2];\nh q[2];", 4, 5, "index 2 is out of range for register 'q' of size 2"),
    (HEAD + "qreg q[2];\nh r[0];", 4, 3, "register 'r' is not declared"),
    (HEAD + "qreg q[2];\nfoo q[0];", 4, 1, "unknown gate 'foo'"),
    ("qreg q[1];\nh q[0];", 2, 1, "unknown gate 'h' (add 'include \"qelib1.inc\";'"),
    (HEAD + "qreg q[2];\nrx q[0];", 4, 1, "gate 'rx' takes 1 parameter(s), got 0"),
    (HEAD + "qreg q[2];\nh(0.1) q[0];", 4, 1, "gate 'h' takes 0 parameter(s), got 1"),
    (HEAD + "qreg q[2];\ncx q[0];", 4, 1, "gate 'cx' acts on 2 qubit(s), got 1"),
    (HEAD + "qreg q[2];\ncx q[1], q[1];", 4, 1, "qubit 1 is used more than once"),
    (HEAD + "qreg q[3];\nqreg r[2];\ncx q, r;", 5, 7, "register 'r' has size 2 but register 'q' has size 3"),
    (HEAD + "qreg q[2];\ncreg c[3];\nmeasure q -> c;", 5, 14, "size"),
    (HEAD + "qreg q[2];\ncreg c[2];\nmeasure q[0] -> c;", 5, 17, "both operands"),
    (HEAD + "qreg q[1];\ncreg c[1];\nmeasure c[0] -> q[0];", 5, 9, "'c' is not a quantum register"),
    (HEAD + "qreg q[1];\ncreg c[1];\nh c;", 5, 3, "'c' is not a quantum register"),
    (HEAD + "qreg q[1];\ncreg c[1];\nif (c == 2) x q[0];", 5, 10, "does not fit"),
    (HEAD + "qreg q[1];\ncreg c[1];\nif (c == 1) barrier q;", 5, 13, "'if' conditions a gate"),
    (HEAD + "opaque magic(t) a;\nqreg q[1];\nmagic(0.1) q[0];", 5, 1, "gate 'magic' is opaque"),
    (HEAD + "opaque magic a;\ngate g a { magic a; }\nqreg q[1];\ng q[0];", 4, 12, "gate 'magic' is opaque"),
    (HEAD + "gate g a { h b; }", 3, 14, "'b' is not a qubit argument"),
    (HEAD + "gate g(t) a { rz(s) a; }", 3, 18, "'s' is not a parameter"),
    (HEAD + "gate g a { h a[0]; }", 3, 15, "cannot be indexed"),
    (HEAD + "gate g a { measure a -> a; }", 3, 12, "'measure' is not allowed in a gate body"),
    (HEAD + "gate g a, a { h a; }", 3, 11, "qubit argument 'a' is repeated"),
    (HEAD + "gate g a, b { cx b, b; }", 3, 15, "gate 'cx': qubit argument 'b' is repeated"),
    (HEAD + "gate g a { h a; }\ngate g a { x a; }", 4, 6, "gate 'g' is already defined"),
    (HEAD + "gate h a { x a; }", 3, 6, "gate 'h' is already defined"),
    (HEAD + "gate g a { h a; ", 3, 17, "body is missing its '}'"),
    (HEAD + "qreg q[1];\nrz(1/0) q[0];", 4, 1, "must be finite"),
    (HEAD + "qreg q[1];\nrz(ln(-1)) q[0];", 4, 1, "must be finite"),
    (HEAD + "qreg q[1];\nrz(foo(1)) q[0];", 4, 4, "unknown function 'foo'"),
    (HEAD + "qreg q[1];\nrz(1 +) q[0];", 4, 7, "expected an expression, found ')'"),
    (HEAD + "qreg q[1];\nrz((1) q[0];", 4, 8, "expected ')'"),
    (HEAD + "qreg q[1];\nrz(1e) q[0];", 4, 4, "malformed number"),
    ('include "other.inc";', 1, 9, "cannot include 'other.inc'"),
    ('include "qelib1.inc', 1, 9, "unterminated string"),
    ("/* never closed", 1, 1, "unterminated block comment"),
    ("qreg q[1];\n$", 2, 1, "unexpected character '$'"),
    (HEAD + "qreg h[1];", 3, 6, "'h' is already defined as a gate"),
    ("qreg g[1];\ngate g a { U(0,0,0) a; }", 2, 6, "'g' is already declared as a register"),
    ("qreg q[0];\nU(0,0,0) q[0];", 2, 12, "index 0 is out of range for register 'q' of size 0"),
    ("qreg barrier[1];", 1, 6, "'barrier' is a reserved word"),
    ("qreg q[1.5];", 1, 8, "expected a register size"),
    ("qreg q[1]; creg c[1];\nmeasure q[0] = c[0];", 2, 14, "'=='"),
    ("qreg q[1]; creg c[1];\nmeasure q[0] c[0];", 2, 14, "expected '->'"),
    ("OPENQASM 2.0;\nqreg q[1];\nh q[0];", 3, 1, "unknown gate 'h'"),
    ("  ;  ) ", 1, 6, "expected a statement, found ')'"),
]


@pytest.mark.parametrize(
    ("source", "line", "column", "needle"), BAD, ids=[f"bad{i}" for i in range(len(BAD))]
)
def test_bad_programs(source, line, column, needle):
    with pytest.raises(QasmError) as info:
        qasm2.loads(source)
    err = info.value
    assert (err.line, err.column) == (line, column), str(err)
    assert needle in str(err)
    assert str(err).startswith(f"line {line}, column {column}: ")
    assert isinstance(err, CircuitError) and isinstance(err, ValueError)


def test_qasm_error_pickles_with_its_position():
    with pytest.raises(QasmError) as info:
        qasm2.loads("qreg q[1];\nqreg q[1];")
    copy = pickle.loads(pickle.dumps(info.value))
    assert (type(copy), copy.line, copy.column, str(copy)) == (QasmError, 2, 6, str(info.value))


def test_exponential_expansion_is_refused():
    text = HEAD + "gate g0 a { x a; x a; }\n"
    text += "".join(f"gate g{i} a {{ g{i - 1} a; g{i - 1} a; }}\n" for i in range(1, 40))
    text += "qreg q[1];\ng39 q[0];\n"
    with pytest.raises(QasmError, match="more than"):
        qasm2.loads(text)


# ---------------------------------------------------------------------------
# (4) random and mutated input: a circuit or a QasmError, never anything else
# ---------------------------------------------------------------------------


def _parse_or_qasm_error(text: str) -> None:
    try:
        qasm2.loads(text)
    except QasmError as err:
        assert err.line >= 1 and err.column >= 1


@settings(max_examples=examples(1.0))
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data):
    _parse_or_qasm_error(data.decode("utf-8", errors="replace"))


PIECES = [*"qcrgate[](){},;->=+*/^.0123456789 \n\"'/eEpisnhx_", "pi", "qreg", "gate", "//", "/*"]
ALPHABET = st.sampled_from(PIECES)


@settings(max_examples=examples(1.5))
@given(
    st.sampled_from(sorted(CORPUS)),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 2), ALPHABET), max_size=6),
)
def test_mutated_programs_never_crash(name, edits):
    text = list(CORPUS[name])
    for at, kind, piece in edits:
        i = at % (len(text) + 1)
        if kind == 0 and i < len(text):
            del text[i]
        elif kind == 1:
            text.insert(i, piece)
        elif i < len(text):
            text[i] = piece
    _parse_or_qasm_error("".join(text))
