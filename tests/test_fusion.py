"""Gate fusion, cache blocking and the vectorised kernels change results only by
rounding: checked against the unfused engine and the numpy reference on random circuits,
including states large enough (16+ qubits) for the cache-blocked stages to run."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import ferroq
import numpy as np
import pytest
import reference as ref
from helpers import build, circuits, examples, measured_circuits
from hypothesis import given, settings
from hypothesis import strategies as st

# The bound: fusion never moves a result by more than this.
FUSION_ATOL = 1e-12


def _assert_fusion_only_rounds(n, ops):
    circ = build(ops, n)
    fused = ferroq.statevector(circ)
    plain = ferroq.statevector(circ, fusion=False)
    np.testing.assert_allclose(fused, plain, rtol=0, atol=FUSION_ATOL)
    np.testing.assert_allclose(fused, ref.simulate(ops, n), rtol=0, atol=1e-10)


@given(circuits(max_qubits=12, max_ops=60))
def test_fusion_changes_small_circuits_only_by_rounding(nc):
    _assert_fusion_only_rounds(*nc)


# Blocks hold 2^15 amplitudes: from 16 qubits on, stages gather high qubits.
@settings(max_examples=examples(0.1, minimum=6), deadline=None)
@given(circuits(min_qubits=16, max_qubits=17, max_ops=80, max_unitary_qubits=3))
def test_cache_blocked_large_circuits_match_unfused_and_reference(nc):
    _assert_fusion_only_rounds(*nc)


@settings(max_examples=examples(0.1, minimum=5), deadline=None)
@given(measured_circuits(min_qubits=16, max_qubits=17, max_ops=40), st.integers(0, 2**32 - 1))
def test_large_fused_runs_give_the_same_counts_on_any_thread_count(nmc, seed):
    n, num_clbits, ops = nmc
    circ = build(ops, n, num_clbits)
    runs = [
        ferroq.Simulator(max_parallel_threads=t, seed=seed, shots=300, memory=True)
        .run(circ)
        .result()
        .get_memory()
        for t in (1, 2, 3)
    ]
    assert runs[0] == runs[1] == runs[2]


def test_deep_layered_circuit_at_18_qubits_matches_unfused():
    """Many layers, every qubit busy: fused 4-qubit blocks and stages of 5 high
    qubits all run; the unfused engine is checked against numpy elsewhere."""
    rng = np.random.default_rng(3)
    n = 18
    circ = ferroq.Circuit(n)
    for layer in range(12):
        for q in range(n):
            circ.rx(float(rng.uniform(0, 6.3)), q).rz(float(rng.uniform(0, 6.3)), q)
        for q in range(layer % 2, n - 1, 2):
            circ.cx(q, q + 1)
        circ.rzz(0.3, 0, n - 1).cp(0.2, 3, n - 2).swap(1, n - 3)
    fused = ferroq.statevector(circ)
    np.testing.assert_allclose(fused, ferroq.statevector(circ, fusion=False), rtol=0, atol=FUSION_ATOL)
    assert abs(np.linalg.norm(fused) - 1) < 1e-12


def test_barriers_split_fusion_but_not_results():
    circ = ferroq.Circuit(3)
    for _ in range(50):
        circ.h(0).h(1).barrier().cx(0, 2).t(2).barrier(0, 1)
    np.testing.assert_allclose(
        ferroq.statevector(circ), ferroq.statevector(circ, fusion=False), rtol=0, atol=FUSION_ATOL
    )


def test_fusion_option_is_validated_and_kept():
    sim = ferroq.Simulator(fusion=False)
    assert sim.options["fusion"] is False
    with pytest.raises(ferroq.exceptions.OptionTypeError, match="fusion"):
        sim.run(ferroq.Circuit(1, 1).measure(0, 0), fusion="yes")


def test_portable_kernels_agree_with_the_vectorised_ones():
    """FERROQ_NO_SIMD=1 forces the portable kernels: a fresh process must reach the
    same state (within rounding) on a circuit that touches every kernel."""
    program = textwrap.dedent(
        """
        import sys, numpy as np, ferroq
        rng = np.random.default_rng(11)
        n = 16
        c = ferroq.Circuit(n)
        for layer in range(6):
            for q in range(n):
                c.u(*rng.uniform(0, 6.3, 3).tolist(), q)
            for q in range(layer % 2, n - 1, 2):
                c.cx(q, q + 1)
            c.ccx(0, 7, 15).rzz(0.4, 2, 13).swap(0, 9).cswap(1, 2, 14).cry(0.3, 15, 0)
        for fusion in (True, False):
            np.save(sys.stdout.buffer, ferroq.statevector(c, fusion=fusion))
        """
    )

    def states(no_simd: bool) -> list[np.ndarray]:
        env = dict(os.environ)
        env.pop("FERROQ_NO_SIMD", None)
        if no_simd:
            env["FERROQ_NO_SIMD"] = "1"
        out = subprocess.run(
            [sys.executable, "-c", program], env=env, capture_output=True, check=True, timeout=120
        ).stdout
        buf = io.BytesIO(out)
        return [np.load(buf), np.load(buf)]

    fast, portable = states(False), states(True)
    for a, b in zip(fast + portable, fast[1:] + portable + fast[:1], strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=FUSION_ATOL)


@settings(max_examples=examples(0.3))
@given(measured_circuits(max_qubits=6, max_ops=12), st.integers(0, 2**32 - 1))
def test_counts_array_matches_counts(nmc, seed):
    n, num_clbits, ops = nmc
    result = ferroq.Simulator(seed=seed, shots=500).run(build(ops, n, num_clbits)).result()
    outcomes, counts = result.get_counts_array()
    assert outcomes.dtype == np.uint64 and counts.dtype == np.uint64
    assert list(outcomes) == sorted(outcomes)
    as_dict = {format(int(k), f"0{num_clbits}b"): int(v) for k, v in zip(outcomes, counts, strict=True)}
    assert as_dict == result.get_counts()


def test_counts_array_refuses_more_than_64_clbits():
    result = ferroq.Simulator(shots=4).run(ferroq.Circuit(1, 65).measure(0, 64)).result()
    assert result.get_counts() == {"0" * 65: 4}
    with pytest.raises(ValueError, match="64 clbits"):
        result.get_counts_array()


_STATE_SCRIPT = """
import random, sys
import numpy as np
import ferroq
n = 18
rng = random.Random(4)
c = ferroq.Circuit(n)
for layer in range(8):
    for q in range(n):
        c.rx(rng.uniform(0, 6.3), q).rz(rng.uniform(0, 6.3), q)
    for q in range(layer % 2, n - 1, 2):
        c.cx(q, q + 1)
np.save(sys.argv[1], ferroq.statevector(c, precision=sys.argv[2]))
"""


@pytest.mark.parametrize("precision", ["double", "single"])
def test_states_below_the_cache_run_unblocked_with_the_same_result(tmp_path, precision):
    # An 18-qubit state (4 MiB) fits in half of most last-level caches, so by default
    # its fused plan runs without cache blocking; FERROQ_CACHE_BYTES=0 forces the
    # blocked stages. Each setting is read once per process: one subprocess each.
    states = {}
    for label, cache in [("auto", None), ("blocked", "0")]:
        env = {k: v for k, v in os.environ.items() if k != "FERROQ_CACHE_BYTES"}
        if cache is not None:
            env["FERROQ_CACHE_BYTES"] = cache
        out = tmp_path / f"{label}.npy"
        subprocess.run(
            [sys.executable, "-c", _STATE_SCRIPT, str(out), precision], env=env, check=True, timeout=120
        )
        states[label] = np.load(out)
    atol = FUSION_ATOL if precision == "double" else 1e-5
    np.testing.assert_allclose(states["auto"], states["blocked"], rtol=0, atol=atol)
    assert abs(np.linalg.norm(states["auto"]) - 1) < 1e-5
