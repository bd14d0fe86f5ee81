"""ferroq._plot: histograms of counts and bar charts of probabilities (matplotlib, no pyplot)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import ferroq
import matplotlib.image
from ferroq._plot import plot_histogram, plot_probabilities
from matplotlib.figure import Figure


def tick_labels(fig):
    return [t.get_text() for t in fig.axes[0].get_xticklabels()]


def heights(fig, container=0):
    return [bar.get_height() for bar in fig.axes[0].containers[container]]


def read_png(path):
    """The image as an (H, W, channels) float array, checked to be a drawn chart:
    many distinct colours and a fair share of non-white pixels."""
    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    rgb = image[..., :3]
    channels = (rgb * 255).astype(np.uint32).reshape(-1, 3)
    distinct = np.unique(channels[:, 0] << 16 | channels[:, 1] << 8 | channels[:, 2])
    assert len(distinct) > 20, "the image is (nearly) one colour"
    ink = np.any(rgb < 0.9, axis=2).mean()
    assert 0.01 < ink < 0.9, f"{ink:.3f} of the pixels are not background"
    return image


def ghz(n, measure=True):
    c = ferroq.Circuit(n, n if measure else 0, name=f"ghz{n}").h(0)
    for q in range(n - 1):
        c.cx(q, q + 1)
    if measure:
        c.measure(list(range(n)), list(range(n)))
    return c


def spread_counts(n_outcomes, seed=3):
    rng = np.random.default_rng(seed)
    return {format(i, "06b"): int(c) for i, c in enumerate(rng.integers(1, 500, n_outcomes))}


# ------------------------------------------------------------------- histogram
def test_histogram_of_a_run_is_a_figure_with_probabilities():
    counts = ferroq.Simulator(seed=1).run(ghz(3), shots=1000).result().get_counts()
    fig = plot_histogram(counts, title="GHZ")
    assert isinstance(fig, Figure)
    assert tick_labels(fig) == ["000", "111"]
    assert heights(fig) == pytest.approx([counts["000"] / 1000, counts["111"] / 1000])
    ax = fig.axes[0]
    assert ax.get_title() == "GHZ"
    assert ax.get_ylabel() == "Probability"
    labels = [t.get_text() for t in ax.texts]  # bar labels
    assert labels == [f"{counts['000'] / 1000:.3f}", f"{counts['111'] / 1000:.3f}"]


def test_histogram_written_to_png_has_the_expected_size_and_content(tmp_path):
    path = tmp_path / "bell.png"
    counts = {"00": 512, "11": 488}
    fig = plot_histogram(counts, filename=path, figsize=(4, 3))
    assert isinstance(fig, Figure)
    image = read_png(path)
    height, width = image.shape[:2]
    # 4 x 3 inches at 150 dpi, give or take the tight bounding box.
    assert 0.7 * 600 < width < 1.2 * 600
    assert 0.7 * 450 < height < 1.2 * 450


def test_counts_not_normalized_and_bar_labels_off():
    fig = plot_histogram({"1": 30, "0": 70}, normalize=False, bar_labels=False)
    assert tick_labels(fig) == ["0", "1"]
    assert heights(fig) == [70, 30]
    assert fig.axes[0].get_ylabel() == "Count"
    assert len(fig.axes[0].texts) == 0


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("outcome", ["00", "01", "10", "11"]),
        ("count", ["10", "11", "00", "01"]),
        ("-count", ["01", "00", "11", "10"]),
    ],
)
def test_sort_orders(sort, expected):
    fig = plot_histogram({"11": 20, "00": 30, "10": 10, "01": 40}, sort=sort)
    assert tick_labels(fig) == expected


def test_outcomes_sort_by_value_not_text():
    fig = plot_histogram({"0x10": 1, "0x9": 1, "0x2": 1})
    assert tick_labels(fig) == ["0x2", "0x9", "0x10"]


def test_several_count_dicts_side_by_side_with_a_legend(tmp_path):
    c1, c2 = ghz(3), ferroq.Circuit(3, 3, name="plus")
    for q in range(3):
        c2.h(q)
    c2.measure([0, 1, 2], [0, 1, 2])
    result = ferroq.Simulator(seed=5).run([c1, c2], shots=400).result()
    counts = result.get_counts()
    path = tmp_path / "two.png"
    fig = plot_histogram(counts, legend=["ghz", "plus"], filename=path)
    ax = fig.axes[0]
    assert len(ax.containers) == 2
    outcomes = sorted(set(counts[0]) | set(counts[1]), key=lambda s: int(s, 2))
    assert tick_labels(fig) == outcomes
    for i in range(2):
        assert heights(fig, i) == pytest.approx([counts[i].get(k, 0) / 400 for k in outcomes])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ghz", "plus"]
    read_png(path)


def test_legend_labels_may_be_none():
    fig = plot_histogram([{"0": 1}, {"1": 1}], legend=["first", None])
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["first", "1"]


def test_outcomes_beyond_max_outcomes_become_one_other_bar(tmp_path):
    counts = spread_counts(40)
    total = sum(counts.values())
    fig = plot_histogram(counts, max_outcomes=8, filename=tmp_path / "other.png")
    labels = tick_labels(fig)
    assert len(labels) == 9
    assert labels[-1] == "other (32 outcomes)"
    top = sorted(counts, key=lambda k: -counts[k])[:8]
    assert labels[:-1] == sorted(top)
    bars = heights(fig)
    assert bars[:-1] == pytest.approx([counts[k] / total for k in sorted(top)])
    assert bars[-1] == pytest.approx(sum(counts[k] for k in counts if k not in top) / total)
    assert math.fsum(bars) == pytest.approx(1.0)
    read_png(tmp_path / "other.png")


def test_other_bar_with_several_dicts_and_sorting():
    a = {format(i, "03b"): i + 1 for i in range(8)}
    b = {format(i, "03b"): 8 - i for i in range(8)}
    fig = plot_histogram([a, b], max_outcomes=3, sort="-count", normalize=False)
    labels = tick_labels(fig)
    assert labels[-1] == "other (5 outcomes)"
    assert len(labels) == 4
    assert heights(fig, 0)[-1] + sum(heights(fig, 0)[:-1]) == sum(a.values())
    assert heights(fig, 1)[-1] + sum(heights(fig, 1)[:-1]) == sum(b.values())


def test_one_outcome_over_the_limit_says_outcome():
    fig = plot_histogram({"00": 5, "01": 4, "10": 3}, max_outcomes=2)
    assert tick_labels(fig)[-1] == "other (1 outcome)"


def test_max_outcomes_none_draws_everything():
    fig = plot_histogram(spread_counts(50), max_outcomes=None)
    assert len(tick_labels(fig)) == 50
    assert all("other" not in label for label in tick_labels(fig))


def test_many_outcomes_rotate_their_labels():
    fig = plot_histogram(spread_counts(20))
    assert all(t.get_rotation() == 70 for t in fig.axes[0].get_xticklabels())
    fig = plot_histogram({"0": 1, "1": 1})
    assert all(t.get_rotation() == 0 for t in fig.axes[0].get_xticklabels())


def test_draws_into_a_given_axes():
    fig = Figure()
    left, right = fig.subplots(1, 2)
    assert plot_histogram({"0": 1, "1": 3}, ax=right) is fig
    assert len(right.patches) == 2
    assert len(left.patches) == 0
    sub = Figure().subfigures(1, 2)[1]
    ax = sub.subplots()
    assert plot_histogram({"0": 1}, ax=ax) is sub.figure


def test_float_counts_are_accepted():
    fig = plot_histogram({"0": 0.25, "1": 0.75})
    assert heights(fig) == pytest.approx([0.25, 0.75])


@pytest.mark.parametrize(
    ("counts", "kwargs", "error", "match"),
    [
        ({}, {}, ValueError, "empty"),
        ([], {}, ValueError, "empty"),
        ([{"0": 1}, {}], {}, ValueError, "counts 1 is empty"),
        ({"0": 3, "1": -1}, {}, ValueError, "negative"),
        ({"0": float("nan")}, {}, ValueError, "non-finite"),
        ({"0": float("inf")}, {}, ValueError, "non-finite"),
        ({"0": 0, "1": 0}, {}, ValueError, "zero"),
        ({0: 1}, {}, TypeError, "not a str"),
        ({"0": "3"}, {}, TypeError, "not a number"),
        ({"0": True}, {}, TypeError, "not a number"),
        ("0101", {}, TypeError, "must be a dict"),
        (42, {}, TypeError, "must be a dict"),
        ([{"0": 1}, 5], {}, TypeError, "counts 1 is a int"),
        ({"0": 1}, {"legend": ["a", "b"]}, ValueError, "2 labels for 1 count dict"),
        ({"0": 1}, {"legend": [3]}, TypeError, "legend labels"),
        ({"0": 1}, {"sort": "value"}, ValueError, "sort must be one of"),
        ({"0": 1}, {"max_outcomes": 0}, ValueError, "max_outcomes"),
        ({"0": 1}, {"max_outcomes": 2.5}, ValueError, "max_outcomes"),
        ({"0": 1}, {"ax": "not axes"}, TypeError, "matplotlib Axes"),
    ],
)
def test_histogram_errors(counts, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_histogram(counts, **kwargs)


# -------------------------------------------------------------- probabilities
def test_probabilities_of_a_run_with_statevector(tmp_path):
    result = ferroq.Simulator(seed=2).run([ghz(3), ghz(4)], shots=10, statevector=True).result()
    path = tmp_path / "ghz.png"
    fig = plot_probabilities(result.get_probabilities(1), title="GHZ 4", filename=path)
    assert tick_labels(fig) == ["0000", "1111"]
    assert heights(fig) == pytest.approx([0.5, 0.5])
    assert fig.axes[0].get_title() == "GHZ 4"
    read_png(path)


def test_probability_labels_put_qubit_zero_rightmost():
    probabilities = np.abs(ferroq.statevector(ferroq.Circuit(3).x(0))) ** 2
    assert tick_labels(plot_probabilities(probabilities)) == ["001"]
    assert tick_labels(plot_probabilities(probabilities, num_bits=5)) == ["00001"]


def test_probabilities_threshold_drops_small_outcomes():
    p = np.array([0.5, 1e-13, 0.25, 0.25 - 1e-13])
    assert tick_labels(plot_probabilities(p)) == ["00", "10", "11"]
    assert tick_labels(plot_probabilities(p, threshold=0)) == ["00", "01", "10", "11"]
    assert tick_labels(plot_probabilities(p, threshold=0.3)) == ["00"]


def test_probabilities_of_a_large_state_keep_the_most_probable(tmp_path):
    n = 16
    rng = np.random.default_rng(7)
    p = rng.random(1 << n)
    p[[5, 700, 40000]] = [3.0, 2.0, 1.0]
    p /= p.sum()
    fig = plot_probabilities(p, max_outcomes=3, sort="-count", filename=tmp_path / "big.png")
    labels = tick_labels(fig)
    assert labels[:3] == [format(5, "016b"), format(700, "016b"), format(40000, "016b")]
    assert labels[3] == f"other ({(1 << n) - 3} outcomes)"
    assert math.fsum(heights(fig)) == pytest.approx(1.0)
    read_png(tmp_path / "big.png")


def test_probability_ties_keep_the_lowest_outcomes():
    p = np.full(8, 1 / 8)
    assert tick_labels(plot_probabilities(p, max_outcomes=3))[:3] == ["000", "001", "010"]


def test_probabilities_sorted_by_value():
    p = [0.1, 0.4, 0.2, 0.3]
    assert tick_labels(plot_probabilities(p, sort="count")) == ["00", "10", "11", "01"]
    assert tick_labels(plot_probabilities(p, sort="-count")) == ["01", "11", "10", "00"]


def test_probabilities_from_a_dict_of_bitstrings_hex_or_ints():
    fig = plot_probabilities({"11": 0.5, "00": 0.5})
    assert tick_labels(fig) == ["00", "11"]
    c = ghz(3, measure=False).save_probabilities_dict()
    saved = ferroq.Simulator().run(c).result().data(0)["probabilities_dict"]
    assert tick_labels(plot_probabilities(saved, num_bits=3)) == ["000", "111"]
    assert tick_labels(plot_probabilities({5: 1.0}, num_bits=4)) == ["0101"]
    assert tick_labels(plot_probabilities({"0x5": 0.5, 0: 0.5})) == ["000", "101"]


def test_plot_probabilities_into_an_axes():
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_probabilities([0.5, 0.5], ax=ax) is fig
    assert len(ax.patches) == 2


@pytest.mark.parametrize(
    ("probabilities", "kwargs", "error", "match"),
    [
        ([0.5, 0.25, 0.25], {}, ValueError, "not a power of two"),
        ([], {}, ValueError, "not a power of two"),
        ([0.5, float("nan")], {}, ValueError, "index 1 is nan"),
        ([0.5, float("inf")], {}, ValueError, "non-finite"),
        ([0.5, -0.1], {}, ValueError, "negative"),
        ([[0.5, 0.5], [1.0, 0.0]], {}, ValueError, "1-D"),
        (np.array([0.5, 0.5j]), {}, TypeError, "complex"),
        (["a", "b"], {}, TypeError, "real numbers"),
        ([1e-20, 0.0], {}, ValueError, "no outcome"),
        ([0.25] * 4, {"num_bits": 1}, ValueError, "too small"),
        ([0.25] * 4, {"num_bits": -1}, ValueError, "num_bits"),
        ([0.25] * 4, {"threshold": -1.0}, ValueError, "threshold"),
        ([0.25] * 4, {"threshold": float("nan")}, ValueError, "threshold"),
        ([0.25] * 4, {"sort": "up"}, ValueError, "sort"),
        ({}, {}, ValueError, "empty"),
        ({"012": 1.0}, {}, ValueError, "neither a bitstring"),
        ({1.5: 1.0}, {}, TypeError, "not a str or int"),
        ({"1": 0.5, "01": 0.5}, {}, ValueError, "same outcome"),
        ({"1": float("nan")}, {}, ValueError, "outcome '1' is nan"),
        ({"1": -0.5}, {}, ValueError, "negative"),
        ({"1": "x"}, {}, TypeError, "not a number"),
        ({"1111": 1.0}, {"num_bits": 2}, ValueError, "too small"),
    ],
)
def test_probability_errors(probabilities, kwargs, error, match):
    with pytest.raises(error, match=match):
        plot_probabilities(probabilities, **kwargs)


# ------------------------------------------------------------------ packaging
def test_missing_matplotlib_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'ferroq\[plot\]'"):
        plot_histogram({"0": 1})
    with pytest.raises(ImportError, match="needs matplotlib"):
        plot_probabilities([1.0, 0.0])
    # Bad input is still reported as such without matplotlib.
    with pytest.raises(ValueError, match="empty"):
        plot_histogram({})


def test_no_pyplot_state_is_touched():
    before = "matplotlib.pyplot" in sys.modules
    plot_histogram({"0": 1})
    plot_probabilities([1.0, 0.0])
    assert ("matplotlib.pyplot" in sys.modules) == before
