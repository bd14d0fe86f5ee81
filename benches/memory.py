#!/usr/bin/env python3
"""Peak memory of a simulation against the size of its state: the growth of the
process's maximum resident set size around one call, divided by 16 * 2^n bytes.

  python benches/memory.py 24 26
"""

from __future__ import annotations

import random
import resource
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ferroq  # noqa: E402
from perf import layered  # noqa: E402


def peak_growth(call) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    call()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024


def main() -> None:
    for n in [int(a) for a in sys.argv[1:]] or [24]:
        ops = layered(n, 2, random.Random(1))
        plain = ferroq.Circuit(n)
        measured = ferroq.Circuit(n, n)
        for c in (plain, measured):
            for name, qs, p in ops:
                c.append(name, qs, () if p is None else (p,))
        measured.measure(list(range(n)), list(range(n)))
        state = 16 << n
        # Each in a fresh process would be cleaner; the statevector case runs
        # first, so the sampled one only shows growth beyond it.
        sv = peak_growth(lambda: ferroq.statevector(plain))
        print(f"n={n}: statevector peak growth {sv / state:.3f}x the state ({state >> 20} MiB)")
        sampled = peak_growth(lambda: ferroq.Simulator().run(measured, shots=100_000).result())
        print(f"n={n}: sampled run (10^5 shots) extra peak growth {sampled / state:.3f}x the state")


if __name__ == "__main__":
    main()
