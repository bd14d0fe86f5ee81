#!/usr/bin/env python3
"""Peak memory of a simulation against the size of its state: the growth of the
process's maximum resident set size around one call, divided by the state's bytes.

  python benches/memory.py 24 statevector
  python benches/memory.py 26 sampled
  python benches/memory.py 26 statevector single   (complex64: 8 * 2^n bytes)
"""

from __future__ import annotations

import random
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ferroq
from perf import layered


def peak_growth(call) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    mode = sys.argv[2] if len(sys.argv) > 2 else "statevector"
    precision = sys.argv[3] if len(sys.argv) > 3 else "double"
    measure = mode == "sampled"
    circuit = ferroq.Circuit(n, n if measure else 0)
    for name, qs, p in layered(n, 2, random.Random(1)):
        circuit.append(name, qs, () if p is None else (p,))
    if measure:
        circuit.measure(list(range(n)), list(range(n)))
        sim = ferroq.Simulator(precision=precision)
        growth = peak_growth(lambda: sim.run(circuit, shots=100_000).result())
    else:
        growth = peak_growth(lambda: ferroq.statevector(circuit, precision=precision))
    state = (8 if precision == "single" else 16) << n
    print(f"n={n} {mode} {precision}: peak memory growth {growth / state:.3f}x the state ({state >> 20} MiB)")


if __name__ == "__main__":
    main()
