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
