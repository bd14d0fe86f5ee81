"""Results' binary form (ferroq-core's versioned codec): what pickling and the job
store keep. Round trips of random runs against the results themselves, corrupted
bytes refused with ``EncodingError`` and nothing else, and the job store's result
column written in it (and read from ferroq 0.1's pickles)."""

from __future__ import annotations

import pickle
import sqlite3

import ferroq
import numpy as np
import pytest
from ferroq import _core
from ferroq.exceptions import CircuitError, EncodingError
from ferroq.testing import strategies as fst
from helpers import saving
from hypothesis import given, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=40, deadline=None)


def _same(a: _core.ExperimentData, b: _core.ExperimentData) -> None:
    """Every accessor of ``a`` and ``b`` agrees, bit for bit."""
    for attr in ("name", "num_qubits", "num_clbits", "shots", "seed", "time_taken", "has_memory"):
        assert getattr(a, attr) == getattr(b, attr), attr
    assert a.counts() == b.counts()
    assert a.memory() == b.memory()
    assert a.saved_kinds() == b.saved_kinds()
    for label, value in a.saved().items():
        other = b.saved()[label]
        if isinstance(value, np.ndarray):
            assert value.dtype == other.dtype
            np.testing.assert_array_equal(value, other)
        else:
            assert value == other
    sa, sb = a.statevector(), b.statevector()
    assert (sa is None) == (sb is None)
    if sa is not None:
        assert sa.dtype == sb.dtype
        np.testing.assert_array_equal(sa, sb)


@st.composite
def runs(draw):
    """A random circuit, with saves and measurements, and random run options."""
    circuit = draw(fst.circuits(num_qubits=range(1, 5), depth=range(0, 5), measure=draw(st.booleans())))
    if draw(st.booleans()):
        circuit.name = draw(st.text(max_size=8))
    return circuit, {
        "shots": draw(st.integers(1, 300)),
        "seed": draw(st.integers(0, 2**64 - 1)),
        "memory": draw(st.booleans()),
        "statevector": draw(st.booleans()),
        "precision": draw(st.sampled_from(["double", "single"])),
    }


@SETTINGS
@given(runs(), st.booleans())
def test_random_results_round_trip_bit_for_bit(run, touch_state_first):
    circuit, options = run
    experiment = ferroq.Simulator().run(circuit, **options).result(timeout=60).results[0]
    if touch_state_first:  # numpy holds the state now: the bytes read it back
        experiment.statevector()
    data = experiment.to_bytes()
    back = _core.ExperimentData.from_bytes(data)
    _same(back, experiment)
    assert back.to_bytes() == data
    _same(pickle.loads(pickle.dumps(experiment)), experiment)


def test_every_saved_kind_round_trips():
    circuit = saving("saving ✓")
    for precision in ("double", "single"):
        e = ferroq.Simulator(precision=precision).run(circuit, shots=20, seed=1).result(timeout=30).results[0]
        _same(_core.ExperimentData.from_bytes(e.to_bytes()), e)


@SETTINGS
@given(st.data())
def test_corrupted_bytes_are_refused_with_an_encoding_error(data):
    e = (
        ferroq.Simulator()
        .run(
            ferroq.Circuit(2, 2).h(0).cx(0, 1).save_probabilities().measure([0, 1], [0, 1]),
            shots=30,
            memory=True,
            statevector=True,
            seed=3,
        )
        .result(timeout=30)
        .results[0]
    )
    good = bytearray(e.to_bytes())
    how = data.draw(st.sampled_from(["truncate", "flip", "append"]))
    if how == "truncate":
        bad = bytes(good[: data.draw(st.integers(0, len(good) - 1))])
    elif how == "append":
        bad = bytes(good) + data.draw(st.binary(min_size=1, max_size=9))
    else:
        at = data.draw(st.integers(0, len(good) - 1))
        good[at] ^= data.draw(st.integers(1, 255))
        bad = bytes(good)
    try:
        back = _core.ExperimentData.from_bytes(bad)
    except EncodingError as err:
        assert 0 <= err.offset <= len(bad)
        assert str(err).startswith(f"invalid encoding at byte {err.offset}")
        assert isinstance(err, CircuitError) and isinstance(err, ValueError)
    else:  # a flip that still makes a valid result: it is exactly those bytes
        assert back.to_bytes() == bad


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoders(blob):
    for decode in (_core.ExperimentData.from_bytes, _core.decode_result_batch):
        try:
            decode(blob)
        except EncodingError:
            pass


def test_a_batch_keeps_its_experiments_and_failures():
    r = (
        ferroq.Simulator(seed=5)
        .run([ferroq.Circuit(1, 1).h(0).measure(0, 0)] * 3, shots=40)
        .result(timeout=30)
    )
    blob = _core.encode_result_batch(r.seed, list(r.results), [(3, "CircuitError", "circuit 3: bad ✗")])
    seed, experiments, failed = _core.decode_result_batch(blob)
    assert seed == r.seed
    assert failed == [(3, "CircuitError", "circuit 3: bad ✗")]
    for a, b in zip(experiments, r.results, strict=True):
        _same(a, b)
    with pytest.raises(EncodingError, match="not ascending"):
        _core.decode_result_batch(_core.encode_result_batch(1, [], [(2, "E", "m"), (1, "E", "m")]))


def test_a_newer_format_version_is_named():
    data = bytearray(ferroq.Simulator().run(ferroq.Circuit(1)).result(timeout=30).results[0].to_bytes())
    data[4] = 2
    with pytest.raises(EncodingError, match="format version 2; this ferroq reads version 1"):
        _core.ExperimentData.from_bytes(bytes(data))


# ---------------------------------------------------------------- job store
def test_the_store_keeps_results_in_the_codec_not_a_pickle(tmp_path):
    store = tmp_path / "jobs.sqlite"
    job = ferroq.Simulator(store=store, shots=10, seed=2).run(
        [
            ferroq.Circuit(1, 1).h(0).measure(0, 0),
            ferroq.Circuit(1, 1, name="bad").measure(0, 0).save_statevector(),  # differs per shot
        ]
    )
    with pytest.raises(CircuitError):
        job.result(timeout=30)
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    stored.wait_for_final_state(timeout=30)
    with sqlite3.connect(store) as conn:
        (blob,) = conn.execute("SELECT result FROM jobs WHERE job_id=?", (job.job_id(),)).fetchone()
    conn.close()
    assert blob[:4] == b"FQB1"
    part = ferroq.retrieve_job(job.job_id(), store=store).result(partial=True)
    assert sorted(part.missing) == [1]
    assert part.get_counts(0) == job.result(partial=True).get_counts(0)


def _legacy_state(e: _core.ExperimentData) -> tuple:
    """The state tuple ferroq 0.1 pickled an experiment as."""
    keys, values = e.counts_array()
    return (
        e.name,
        e.num_qubits,
        e.num_clbits,
        e.shots,
        e.seed,
        1,
        list(keys),
        list(values),
        None,
        e.time_taken,
    )


def test_rows_of_a_ferroq_0_1_store_still_read(tmp_path):
    """Stores written by ferroq 0.1 kept ``pickle((seed, [ExperimentData]))``, each
    experiment pickled through ``_experiment_from_state``: such rows still read."""
    store = tmp_path / "jobs.sqlite"
    job = ferroq.Simulator(store=store, shots=10, seed=2).run(ferroq.Circuit(1, 1).h(0).measure(0, 0))
    e = job.result(timeout=30).results[0]
    ferroq.retrieve_job(job.job_id(), store=store).wait_for_final_state(timeout=30)

    class Legacy:
        def __reduce__(self):
            return (_core._experiment_from_state, (_legacy_state(e), None, []))

    blob = pickle.dumps((job.result().seed, [Legacy()]))
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE jobs SET result=? WHERE job_id=?", (blob, job.job_id()))
    conn.close()
    assert ferroq.retrieve_job(job.job_id(), store=store).result().get_counts() == e.counts()


def test_a_corrupted_legacy_pickle_is_checked_like_the_codec():
    e = (
        ferroq.Simulator()
        .run(ferroq.Circuit(1, 1).h(0).measure(0, 0), shots=10)
        .result(timeout=30)
        .results[0]
    )
    state = list(_legacy_state(e))
    state[3] += 1  # counts no longer add up to the shots
    with pytest.raises(EncodingError, match="counts add up to 10, not the 11 shots"):
        _core._experiment_from_state(tuple(state), None, [])
    with pytest.raises(ValueError, match='corrupt saved value "x" of kind "expectation_value"'):
        _core._experiment_from_state(_legacy_state(e), None, [("x", "expectation_value", np.zeros(3))])
