"""FerroqEstimator: an ``EstimatorV2`` whose expectation values come from the engine, exactly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from qiskit.primitives import BaseEstimatorV2, PrimitiveJob
from qiskit.primitives.containers import DataBin, EstimatorPubLike, PrimitiveResult, PubResult
from qiskit.primitives.containers.estimator_pub import EstimatorPub

import ferroq
from ferroq.qiskit._convert import to_ferroq

__all__ = ["FerroqEstimator"]


class FerroqEstimator(BaseEstimatorV2):
    """Exact expectation values (``precision=0``, the default), computed in Rust from
    each bound circuit's final state: no sampling, no copy of the state to Python.
    With ``precision > 0`` Gaussian noise of that standard deviation is added, as
    ``StatevectorEstimator`` does.

    All circuit x observable combinations of a call run as one batch job.

    >>> from qiskit import QuantumCircuit
    >>> from qiskit.quantum_info import SparsePauliOp
    >>> from ferroq.qiskit import FerroqEstimator
    >>> qc = QuantumCircuit(2); _ = qc.h(0); _ = qc.cx(0, 1)
    >>> result = FerroqEstimator().run([(qc, SparsePauliOp.from_list([("ZZ", 1), ("XX", 0.5)]))]).result()
    >>> round(float(result[0].data.evs), 12)
    1.5
    """

    def __init__(self, *, default_precision: float = 0.0, seed: int | None = None, **run_options: Any):
        self._default_precision = default_precision
        self._seed = seed
        self._run_options = run_options

    def run(self, pubs: Iterable[EstimatorPubLike], *, precision: float | None = None) -> PrimitiveJob:
        if precision is None:
            precision = self._default_precision
        coerced = [EstimatorPub.coerce(pub, precision) for pub in pubs]
        job = PrimitiveJob(self._run, coerced)
        job._submit()
        return job

    def _run(self, pubs: list[EstimatorPub]) -> PrimitiveResult[PubResult]:
        rng = np.random.default_rng(self._seed)
        circuits: list[ferroq.Circuit] = []
        plans = []
        for pub in pubs:
            bound = pub.parameter_values.bind_all(pub.circuit)
            bc_circuits, bc_obs = np.broadcast_arrays(bound, pub.observables)
            plans.append((pub, bc_circuits.shape, len(circuits)))
            for index in np.ndindex(*bc_circuits.shape):
                circuit = to_ferroq(bc_circuits[index])
                terms = list(bc_obs[index].items())
                width = circuit.num_qubits
                circuit.save_expectation_value(terms, list(range(width)), label="ev")
                circuits.append(circuit)
        result = ferroq.Simulator(**self._run_options).run(circuits, shots=1).result() if circuits else None
        out = []
        for pub, shape, first in plans:
            evs = np.zeros(shape, dtype=np.float64)
            for k, index in enumerate(np.ndindex(*shape)):
                assert result is not None
                value = result.results[first + k].saved()["ev"]
                if pub.precision != 0:
                    if isinstance(value, complex):
                        raise ValueError("the operator is not Hermitian, so noise cannot be added")
                    value = rng.normal(value, pub.precision)
                evs[index] = np.real(value)
            data = DataBin(evs=evs, stds=np.zeros(shape), shape=shape)
            metadata = {"target_precision": pub.precision, "circuit_metadata": pub.circuit.metadata}
            out.append(PubResult(data, metadata=metadata))
        return PrimitiveResult(out, metadata={"version": 2})
