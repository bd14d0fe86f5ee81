"""Smoke test of an installed ferroq wheel, run by .ci/run in a fresh virtual
environment away from the checkout: the README's quick starts, the version the
wheel carries, and what a release build must not contain.

``--quick`` runs only the engine part (for a run under CPU emulation);
``FERROQ_SMOKE_EXPECT_ISA`` names the kernel family the engine must pick.
"""

from __future__ import annotations

import importlib.metadata
import os
import pathlib
import sys

import ferroq
import numpy as np
from ferroq import _core

quick = "--quick" in sys.argv[1:]

# Installed from the wheel, not imported from a source tree.
here = pathlib.Path(ferroq.__file__).resolve()
assert "site-packages" in here.parts, here
assert not (here.parent.parent / "rust").exists(), "ferroq was imported from a checkout"

# One version: the wheel's metadata, the package, the extension.
assert ferroq.__version__ == importlib.metadata.version("ferroq") == _core.__version__, ferroq.__version__

# The test hooks are compiled out of release builds.
assert not hasattr(_core, "_inject_fault"), "the release extension carries the fault-injection hook"

info = ferroq.engine_info()
print("engine:", info)
expect = os.environ.get("FERROQ_SMOKE_EXPECT_ISA")
if expect:
    assert info.instruction_set == expect, (info.instruction_set, expect)

# The Python quick start, checked against numpy.
bell = ferroq.Circuit(2, 2, name="bell").h(0).cx(0, 1).measure([0, 1], [0, 1])
counts = ferroq.Simulator().run(bell, shots=1000, seed=42).result(timeout=120).get_counts()
assert set(counts) == {"00", "11"} and sum(counts.values()) == 1000, counts
assert 400 < counts["00"] < 600, counts  # 6 sigma
state = ferroq.statevector(ferroq.Circuit(3).h(0).cx(0, 1).cx(1, 2).rz(0.3, 2))
want = np.zeros(8, complex)
want[0], want[7] = np.exp(-0.15j) / np.sqrt(2), np.exp(0.15j) / np.sqrt(2)
assert np.allclose(state, want, atol=1e-12), state
# A state large enough for the multithreaded, fused, cache-blocked path.
n = 12 if quick else 18
wide = ferroq.Circuit(n)
for q in range(n):
    wide.h(q)
for q in range(n - 1):
    wide.cx(q, q + 1)
for q in range(n):
    wide.rx(0.1 * (q + 1), q)
plain = ferroq.Simulator(fusion=False).run(wide, statevector=True).result(timeout=600).get_statevector()
fused = ferroq.statevector(wide)
assert np.allclose(plain, fused, atol=1e-10)
assert abs(np.vdot(fused, fused) - 1) < 1e-10

if not quick:
    # The Qiskit quick start (the wheel was installed with its qiskit extra).
    from ferroq.qiskit import FerroqSimulator as AerSimulator
    from qiskit import QuantumCircuit, transpile

    backend = AerSimulator()
    qc = QuantumCircuit(3, 3)
    qc.h(0)
    qc.cx(0, 1)
    qc.cx(1, 2)
    qc.measure(range(3), range(3))
    result = backend.run(transpile(qc, backend), shots=1000, seed_simulator=42).result()
    assert sorted(result.get_counts()) == ["000", "111"], result.get_counts()
    assert sum(result.get_counts().values()) == 1000

print("smoke test passed:", "ferroq", ferroq.__version__, "on", info.instruction_set)
