"""Looking a circuit's data up in a Result: by index, by name, or by the circuit
itself (its identity, never another circuit that shares its name)."""

from __future__ import annotations

import pickle
import re

import ferroq
import pytest
from ferroq import Result
from ferroq.exceptions import FerroqError, JobError
from hypothesis import given, settings
from hypothesis import strategies as st

WIDTH = 3  # circuit i prepares the basis state i on WIDTH clbits: its counts say which it is


def marked(i, name=None):
    """A circuit whose counts are ``{format(i, '03b'): shots}``: which circuit
    answered a look-up shows in its counts."""
    c = ferroq.Circuit(WIDTH, WIDTH, name=name)
    for bit in range(WIDTH):
        if i >> bit & 1:
            c.x(bit)
    return c.measure(list(range(WIDTH)), list(range(WIDTH)))


def mark(i):
    return {format(i, f"0{WIDTH}b"): 4}


def run(circuits, **options):
    return ferroq.Simulator(shots=4, seed=1, **options).run(circuits).result(timeout=60)


RESULT = run([marked(0, "x"), marked(1, "y")])


def keeping_circuits(result, circuits):
    """``result`` rebuilt with its circuits kept, as a job that passes them builds it."""
    return Result(
        result.seed, result.results, options=result.options, job_id=result.job_id, circuits=circuits
    )


# ------------------------------------------------------------- by identity
def test_a_circuit_is_found_by_identity_not_by_its_name():
    a, b, unnamed = marked(1, "same"), marked(2, "same"), marked(3)
    result = keeping_circuits(run([a, b, unnamed]), [a, b, unnamed])
    assert result.get_counts(a) == mark(1)
    assert result.get_counts(b) == mark(2)
    assert result.get_counts(unnamed) == mark(3)
    # Renaming a circuit after the run does not move its data.
    a.name = "renamed"
    assert result.get_counts(a) == mark(1)


def test_a_circuit_submitted_twice_or_not_at_all_is_refused_by_what_it_is():
    c, other = marked(1, "c"), marked(1, "c")
    result = keeping_circuits(run([c, c]), [c, c])
    with pytest.raises(FerroqError, match=r"submitted 2 times \(indices 0, 1\)"):
        result.get_counts(c)
    single = keeping_circuits(run([c]), [c])
    with pytest.raises(
        FerroqError, match=r"is not one of the run's circuits \(an equal circuit is at index 0"
    ):
        single.get_counts(other)
    with pytest.raises(FerroqError, match=r"is not one of the run's circuits$"):
        single.get_counts(marked(5))


def test_a_partial_result_names_the_missing_circuit_found_by_identity():
    a, b = marked(1, "a"), marked(2, "b")
    whole = run([a, b])
    error = ValueError("chunk failed")
    partial = Result(
        whole.seed, [whole.results[0]], options=whole.options, missing={1: error}, circuits=[a, b]
    )
    assert partial.get_counts(a) == mark(1)
    for key in (b, "b", 1):
        with pytest.raises(FerroqError, match="circuit 1 has no result: ValueError: chunk failed"):
            partial.get_counts(key)


def test_a_result_is_given_as_many_circuits_as_it_has():
    whole = run([marked(1), marked(2)])
    with pytest.raises(ValueError, match="1 circuits for a result of 2 circuits"):
        Result(whole.seed, whole.results, options=whole.options, circuits=[marked(1)])


def test_stored_results_find_their_circuits_by_identity(tmp_path):
    store = tmp_path / "jobs.sqlite"
    job = ferroq.Simulator(store=store, shots=4).run([marked(1, "same"), marked(2, "same"), marked(3)])
    job.result(timeout=60)
    stored = ferroq.retrieve_job(job.job_id(), store=store)
    stored.wait_for_final_state(timeout=30)
    result = stored.result()
    first, second, unnamed = stored.circuits()
    assert result.get_counts(first) == mark(1)
    assert result.get_counts(second) == mark(2)
    assert result.get_counts(unnamed) == mark(3)
    with pytest.raises(FerroqError, match="named 'same' \\(indices 0, 1\\)"):
        result.get_counts("same")


def test_a_job_result_finds_its_circuits_by_identity():
    a, b = marked(1, "same"), marked(2, "same")
    result = run([a, b])
    assert (result.get_counts(a), result.get_counts(b)) == (mark(1), mark(2))


# ------------------------------------------------- never another circuit's data
NAMES = st.sampled_from([None, "a", "b", "c"])


@settings(max_examples=60)
@given(names=st.lists(NAMES, min_size=1, max_size=6), keep=st.booleans(), split=st.booleans())
def test_a_look_up_returns_that_circuits_data_or_refuses(names, keep, split):
    """Whatever names the circuits share, a look-up by index, name or circuit
    returns that circuit's counts or raises FerroqError; never another's."""
    circuits = [marked(i, name) for i, name in enumerate(names)]
    options = {"max_job_size": 2} if split else {}
    result = run(circuits, **options)
    if keep:
        result = keeping_circuits(result, circuits)
    for i, circuit in enumerate(circuits):
        assert result.get_counts(i) == mark(i)
        assert result.get_counts(i - len(circuits)) == mark(i)
        shared = names.count(circuit.name) > 1
        try:
            counts = result.get_counts(circuit)
        except FerroqError as err:
            assert not keep, err  # kept circuits are found by identity
            assert shared or circuit.name is None, err
        else:
            assert counts == mark(i)
        if circuit.name is None:
            continue
        if shared:
            indices = ", ".join(str(j) for j, n in enumerate(names) if n == circuit.name)
            with pytest.raises(FerroqError, match=f"named {circuit.name!r} \\(indices {indices}\\)"):
                result.get_counts(circuit.name)
        else:
            assert result.get_counts(circuit.name) == mark(i)


@settings(max_examples=40)
@given(names=st.lists(NAMES, min_size=2, max_size=5, unique=True))
def test_get_counts_by_index_name_and_in_full_is_unchanged(names):
    circuits = [marked(i, name) for i, name in enumerate(names)]
    result = run(circuits)
    assert result.get_counts() == [mark(i) for i in range(len(names))]
    for i, name in enumerate(names):
        assert result.get_counts(i) == mark(i)
        if name is not None:
            assert result.get_counts(name) == mark(i)
    assert run(circuits[0]).get_counts() == mark(0)


# ------------------------------------------------------------ what is refused
def test_an_unnamed_circuit_is_refused_with_a_message_that_says_why():
    c = marked(1)
    ran = run([c, marked(2, "two")])
    assert ran.get_counts(c) == mark(1), "a job's result keeps its circuits: found by identity"
    # A result that does not keep them (as pickled before they were) refuses, saying why.
    result = ferroq.Result(ran.seed, ran.results, options={})
    with pytest.raises(FerroqError) as err:
        result.get_counts(c)
    message = str(err.value)
    assert "unnamed circuit" in message and "look it up by index" in message
    assert "use an index, a name or a circuit" not in message  # (what it used to say, and refuse)


@settings(max_examples=50)
@given(
    key=st.one_of(
        st.floats(allow_nan=False),
        st.complex_numbers(),
        st.binary(max_size=5),
        st.lists(st.integers(), max_size=3),
        st.tuples(st.integers()),
        st.booleans(),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    )
)
def test_a_key_of_another_kind_is_refused_naming_it(key):
    result = RESULT
    with pytest.raises(FerroqError) as err:
        result.get_counts(key)
    assert type(key).__name__ in str(err.value)
    assert "use an index, a circuit name or one of the run's circuits" in str(err.value)


@settings(max_examples=50)
@given(name=st.text(max_size=12).filter(lambda n: n not in ("x", "y")))
def test_an_unknown_name_is_refused_naming_it_and_the_names_there_are(name):
    with pytest.raises(FerroqError) as err:
        RESULT.get_counts(name)
    assert f"no result for a circuit named {name!r}" in str(err.value)
    assert "the names are 'x', 'y'" in str(err.value)


@settings(max_examples=50)
@given(index=st.one_of(st.integers(min_value=2), st.integers(max_value=-3)))
def test_an_index_out_of_range_is_refused_naming_it(index):
    with pytest.raises(FerroqError, match=re.escape(f"no result {index}: the run had 2 circuits")):
        RESULT.get_counts(index)


def test_a_result_pickled_before_it_kept_circuits_still_reads():
    result = run([marked(1, "one"), marked(2, "two")])
    state = dict(result.__dict__)
    state.pop("_circuits", None)
    old = Result.__new__(Result)
    old.__dict__.update(state)
    again = pickle.loads(pickle.dumps(old))
    assert again.get_counts("two") == mark(2) and again.get_counts(0) == mark(1)


# -------------------------------------------------------------------- memory
def test_memory_of_a_circuit_without_clbits_is_empty_when_asked_for():
    quiet = ferroq.Circuit(1, name="quiet").h(0)
    loud = ferroq.Circuit(1, 1, name="loud").x(0).measure(0, 0)
    result = ferroq.Simulator(shots=3).run([quiet, loud], memory=True).result(timeout=60)
    assert result.get_memory("quiet") == []
    assert result.get_counts("quiet") == {}
    assert result.get_memory() == [[], ["1", "1", "1"]]
    single = ferroq.Simulator(shots=3).run(quiet, memory=True).result(timeout=60)
    assert single.get_memory() == []


def test_memory_not_asked_for_says_so():
    quiet = ferroq.Circuit(1, name="quiet").h(0)
    loud = ferroq.Circuit(1, 1, name="loud").x(0).measure(0, 0)
    result = ferroq.Simulator(shots=3).run([quiet, loud]).result(timeout=60)
    with pytest.raises(FerroqError, match=r"'quiet': run with memory=True \(it has no classical bits"):
        result.get_memory("quiet")
    with pytest.raises(FerroqError, match=r"'loud': run with memory=True$"):
        result.get_memory("loud")


def test_a_job_error_is_not_raised_by_look_ups():
    """Look-ups raise FerroqError (the result's error), not JobError (the job's)."""
    with pytest.raises(FerroqError) as err:
        RESULT.get_counts("nope")
    assert not isinstance(err.value, JobError)
