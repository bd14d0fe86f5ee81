"""ferroq: a fast, dependable statevector simulator with a Rust core.

>>> import ferroq
>>> bell = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
>>> counts = ferroq.Simulator().run(bell, shots=1000, seed=1).get_counts()
>>> sorted(counts), sum(counts.values())
(['00', '11'], 1000)
"""

from ferroq import exceptions
from ferroq._circuit import GATES, Circuit, Instruction
from ferroq._core import __version__
from ferroq._result import ExperimentResult, Result
from ferroq._simulator import Simulator, statevector

__all__ = [
    "GATES",
    "Circuit",
    "ExperimentResult",
    "Instruction",
    "Result",
    "Simulator",
    "__version__",
    "exceptions",
    "statevector",
]
