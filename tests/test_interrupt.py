"""Blocking calls outside jobs also honour Ctrl-C."""

from __future__ import annotations

import _thread
import threading
import time

import ferroq
import pytest
from helpers import assert_waited, h_layers


def test_statevector_is_interrupted_by_ctrl_c():
    circuit = h_layers(20, 400)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        ferroq.statevector(circuit)
    elapsed = time.perf_counter() - start
    timer.join()
    # 0.2 s until the signal, then one 50 ms wait slice; the whole circuit takes far longer.
    assert_waited(elapsed, 0.2, what="statevector() interrupted by Ctrl-C")
    # The interrupted simulation was cancelled, so the scheduler serves the next call at once.
    small = ferroq.statevector(ferroq.Circuit(1).x(0))
    assert abs(small[1]) == pytest.approx(1.0)


def _dense_unitary(num_qubits: int):
    import numpy as np

    d = 2**num_qubits
    # The DFT matrix: dense (no zero skips the check) and cheap to build.
    return np.fft.fft(np.eye(d)) / np.sqrt(d)


def test_a_large_unitary_check_is_interrupted_by_ctrl_c():
    """The unitarity check is cubic in the matrix's size (seconds at 11 qubits)."""
    matrix = _dense_unitary(11)
    circuit = ferroq.Circuit(11)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        circuit.unitary(matrix, list(range(11)))
    elapsed = time.perf_counter() - start
    timer.join()
    assert_waited(elapsed, 0.2, what="a unitary check interrupted by Ctrl-C")
    assert len(circuit) == 0, "an interrupted append left something behind"


def test_unpickling_a_large_unitary_is_interrupted_by_ctrl_c():
    """Decoding checks the matrix again (the bytes may not be ours), interruptibly."""
    import pickle

    circuit = ferroq.Circuit(11)
    circuit.unitary(_dense_unitary(11), list(range(11)))
    data = pickle.dumps(circuit)
    timer = threading.Timer(0.2, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        pickle.loads(data)
    timer.join()
    assert len(pickle.loads(data)) == 1
