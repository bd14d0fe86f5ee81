"""Aer's options on ferroq's backend: every option ``AerSimulator`` documents is
accepted, with Aer's default, and treated one of three ways (the table in the
README is this module's):

- **honoured**: passed on to ``ferroq.Simulator`` under ferroq's name, with
  Aer's meaning (shots, seeds, memory, precision, threads, fusion, memory limit,
  truncation, executors);
- **no effect**: options that tune how Aer computes, not what, or that belong
  to another method or a GPU, and that cannot change a statevector result:
  accepted whatever their value, each with the reason it does not apply;
- **neutral only**: options that would change the simulation itself (another
  method, a device, noise): accepted at the value under which Aer too runs a
  noiseless CPU statevector simulation, and refused otherwise, naming the option
  and why, so that a script never gets the results of a simulation other than
  the one it asked for.

An option Aer does not know either is a warning naming it, not an error (as Aer
ignores unknown run options); ferroq's own ``Simulator`` keeps refusing them.
"""

from __future__ import annotations

import reprlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ferroq import _core
from ferroq.exceptions import OptionError

__all__ = ["AER_DEFAULTS", "FERROQ_NAMES", "NEUTRAL_ONLY", "NO_EFFECT", "check", "to_ferroq"]

#: Options with a meaning for ferroq: Aer's name -> ferroq.Simulator's.
FERROQ_NAMES: dict[str, str] = {
    "shots": "shots",
    "seed_simulator": "seed",
    "memory": "memory",
    "precision": "precision",
    "max_parallel_threads": "max_parallel_threads",
    "max_parallel_experiments": "max_parallel_experiments",
    "statevector_parallel_threshold": "parallel_threshold",
    "max_memory_mb": "max_memory_mb",
    "fusion_enable": "fusion",
    "fusion_max_qubit": "fusion_max_qubit",
    "fusion_threshold": "fusion_threshold",
    "executor": "executor",
    "max_job_size": "max_job_size",
    "blocking": "blocking",
}

#: Options the backend itself acts on (not passed to ferroq.Simulator).
BACKEND_OPTIONS = ("enable_truncation",)

_THREADS = "ferroq decides per circuit whether threads share shots or amplitudes; results do not depend on it"
_GPU = "applies to Aer's GPU simulation; ferroq runs on the CPU"
_OTHER_METHOD = "applies to another of Aer's methods; ferroq runs the statevector method"
_MPI = "applies to Aer's distributed (MPI) runs; ferroq runs in one process or on an executor"
_CHUNKS = "Aer's chunked state for GPUs and MPI; ferroq blocks its state for the cache by itself"

#: Accepted with any value, each with why it cannot change a result here.
NO_EFFECT: dict[str, str] = {
    "max_parallel_shots": _THREADS,
    "max_shot_size": "ferroq runs all shots of a circuit in one pass; results do not depend on the split",
    "blocking_enable": _CHUNKS,
    "blocking_qubits": _CHUNKS,
    "chunk_swap_buffer_qubits": "Aer's chunked state for GPUs and MPI; ferroq does not chunk",
    "statevector_sample_measure_opt": "a tuning threshold of Aer's sampler; ferroq's has no such switch",
    "shot_branching_enable": "a way Aer schedules shots; it does not change results",
    "shot_branching_sampling_enable": "a way Aer schedules shots; it does not change results",
    "runtime_parameter_bind_enable": "ferroq binds parameter_binds when it converts the circuits",
    "fusion_verbose": "ferroq's fusion keeps no per-experiment report",
    "zero_threshold": "ferroq returns amplitudes and probabilities as computed",
    "chop_threshold": "ferroq returns amplitudes and probabilities as computed",
    "validation_threshold": "ferroq checks states and unitaries with its own tolerance",
    "accept_distributed_results": _MPI,
    "batched_shots_gpu_max_qubits": _GPU,
    "num_threads_per_device": _GPU,
    "stabilizer_max_snapshot_probabilities": _OTHER_METHOD,
    "tensor_network_num_sampling_qubits": _OTHER_METHOD,
    "extended_stabilizer_approximation_error": _OTHER_METHOD,
    "extended_stabilizer_metropolis_mixing_time": _OTHER_METHOD,
    "extended_stabilizer_norm_estimation_repetitions": _OTHER_METHOD,
    "extended_stabilizer_norm_estimation_samples": _OTHER_METHOD,
    "extended_stabilizer_parallel_threshold": _OTHER_METHOD,
    "extended_stabilizer_probabilities_snapshot_samples": _OTHER_METHOD,
    "extended_stabilizer_sampling_method": _OTHER_METHOD,
    "matrix_product_state_max_bond_dimension": _OTHER_METHOD,
    "matrix_product_state_truncation_threshold": _OTHER_METHOD,
    "mps_lapack": _OTHER_METHOD,
    "mps_log_data": _OTHER_METHOD,
    "mps_omp_threads": _OTHER_METHOD,
    "mps_parallel_threshold": _OTHER_METHOD,
    "mps_sample_measure_algorithm": _OTHER_METHOD,
    "mps_swap_direction": _OTHER_METHOD,
    "unitary_parallel_threshold": _OTHER_METHOD,
    "superop_parallel_threshold": _OTHER_METHOD,
    "basis_gates": "ferroq's target keeps every gate it runs natively",
    "custom_instructions": "ferroq's target lists the instructions it runs",
    "parameterizations": "ferroq binds parameters with parameter_binds",
}


def _is_ideal(noise_model: Any) -> bool:
    # Duck-typed so that qiskit-aer stays optional: an empty NoiseModel adds no noise.
    is_ideal = getattr(noise_model, "is_ideal", None)
    return noise_model is None or (callable(is_ideal) and bool(is_ideal()))


#: Accepted only at the value meaning a noiseless CPU statevector simulation.
NEUTRAL_ONLY: dict[str, tuple[Callable[[Any], bool], str]] = {
    "method": (
        lambda v: isinstance(v, str) and v in ("automatic", "statevector"),
        "ferroq is a statevector simulator; use 'automatic' or 'statevector'",
    ),
    "device": (
        lambda v: isinstance(v, str) and v == "CPU",
        "ferroq runs on the CPU only; use 'CPU'",
    ),
    "noise_model": (
        _is_ideal,
        "ferroq simulates noiseless circuits only; use None (or an ideal NoiseModel)",
    ),
    "cuStateVec_enable": (
        lambda v: v is False,
        "ferroq runs on the CPU and does not use cuStateVec; use False",
    ),
    "batched_shots_gpu": (lambda v: v is False, "ferroq runs on the CPU; use False"),
    "target_gpus": (lambda v: v is None, "ferroq runs on the CPU; use None"),
    "use_cuTensorNet_autotuning": (lambda v: v is False, "ferroq does not use cuTensorNet; use False"),
}

#: Aer's defaults (qiskit-aer 0.17), ferroq's where it differs for a reason.
AER_DEFAULTS: dict[str, Any] = {
    "shots": 1024,
    "seed_simulator": None,
    "memory": False,
    "precision": "double",
    "max_parallel_threads": 0,
    "max_parallel_experiments": 0,
    "statevector_parallel_threshold": _core.DEFAULT_PARALLEL_THRESHOLD,
    "max_memory_mb": 0,
    "fusion_enable": True,
    "fusion_max_qubit": None,
    "fusion_threshold": None,
    "executor": None,
    "max_job_size": None,
    "blocking": False,
    "enable_truncation": True,
    "method": "automatic",
    "device": "CPU",
    "noise_model": None,
    "cuStateVec_enable": False,
    "batched_shots_gpu": False,
    "target_gpus": None,
    "use_cuTensorNet_autotuning": False,
    "max_parallel_shots": None,
    "max_shot_size": None,
    "blocking_enable": False,
    "blocking_qubits": None,
    "chunk_swap_buffer_qubits": None,
    "statevector_sample_measure_opt": 10,
    "shot_branching_enable": False,
    "shot_branching_sampling_enable": False,
    "runtime_parameter_bind_enable": False,
    "fusion_verbose": False,
    "zero_threshold": 1e-10,
    "chop_threshold": 1e-8,
    "validation_threshold": None,
    "accept_distributed_results": None,
    "batched_shots_gpu_max_qubits": 16,
    "num_threads_per_device": 1,
    "stabilizer_max_snapshot_probabilities": 32,
    "tensor_network_num_sampling_qubits": 10,
    "extended_stabilizer_approximation_error": 0.05,
    "extended_stabilizer_metropolis_mixing_time": 5000,
    "extended_stabilizer_norm_estimation_repetitions": 3,
    "extended_stabilizer_norm_estimation_samples": 100,
    "extended_stabilizer_parallel_threshold": 100,
    "extended_stabilizer_probabilities_snapshot_samples": 3000,
    "extended_stabilizer_sampling_method": "resampled_metropolis",
    "matrix_product_state_max_bond_dimension": None,
    "matrix_product_state_truncation_threshold": 1e-16,
    "mps_lapack": False,
    "mps_log_data": False,
    "mps_omp_threads": 1,
    "mps_parallel_threshold": 14,
    "mps_sample_measure_algorithm": "mps_heuristic",
    "mps_swap_direction": "mps_swap_left",
    "unitary_parallel_threshold": 6,
    "superop_parallel_threshold": 8,
    "basis_gates": None,
    "custom_instructions": None,
    "parameterizations": None,
}

KNOWN = set(FERROQ_NAMES) | set(BACKEND_OPTIONS) | set(NO_EFFECT) | set(NEUTRAL_ONLY)
assert KNOWN == set(AER_DEFAULTS), sorted(KNOWN ^ set(AER_DEFAULTS))

#: Options whose ``None`` or 0 means ferroq's default, as Aer's does.
_NONE_MEANS_DEFAULT = {
    "max_parallel_threads",
    "max_memory_mb",
    "max_parallel_experiments",
    "fusion_max_qubit",
}


def check(fields: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The known options of ``fields``; an unknown one is a warning naming it (and
    dropped), a neutral-only one at another value an :class:`OptionError`."""
    known = {}
    for name, value in fields.items():
        if name not in KNOWN:
            warnings.warn(
                f"{what} {name!r} is not an option of AerSimulator or ferroq; it is ignored",
                UserWarning,
                stacklevel=3,
            )
            continue
        neutral = NEUTRAL_ONLY.get(name)
        if neutral is not None and not neutral[0](value):
            raise OptionError.about(name, f"= {reprlib.repr(value)} is not supported: {neutral[1]}")
        known[name] = value
    return known


def to_ferroq(opts: Mapping[str, Any]) -> dict[str, Any]:
    """``ferroq.Simulator``'s options for the honoured Aer options in ``opts``."""
    out = {}
    for name, value in opts.items():
        ferroq_name = FERROQ_NAMES.get(name)
        if ferroq_name is None:
            continue
        # Aer's 0 or None (every CPU, no memory limit, Aer's default width) is
        # ferroq's None; a bool is left for ferroq to refuse, not taken for 0.
        if name in _NONE_MEANS_DEFAULT and (value is None or (value == 0 and not isinstance(value, bool))):
            value = None
        if name == "memory" and value is None:
            value = False
        if name == "shots" and isinstance(value, float) and value.is_integer():
            # Deprecated in Aer, still accepted there.
            warnings.warn(
                f"shots={value!r}: shots given as a float is deprecated (as in Aer); pass an int",
                DeprecationWarning,
                stacklevel=4,
            )
            value = int(value)
        if name == "max_parallel_experiments" and value is None:
            value = 0
        out[ferroq_name] = value
    return out
