"""Bar charts of counts and probabilities (needs matplotlib: ``pip install 'ferroq[plot]'``).

The functions draw on a new :class:`matplotlib.figure.Figure` (no pyplot: no global
state, no GUI backend needed, usable from worker threads, one figure per thread; a
figure shows itself in Jupyter) or into an existing Axes given as ``ax``. Inputs are
checked before matplotlib is imported, so bad data raises ``ValueError`` or
``TypeError`` even where matplotlib is missing.

>>> import ferroq
>>> from ferroq._plot import plot_histogram
>>> bell = ferroq.Circuit(2, 2).h(0).cx(0, 1).measure([0, 1], [0, 1])
>>> counts = ferroq.Simulator(seed=1).run(bell, shots=1000).result().get_counts()
>>> fig = plot_histogram(counts, title="Bell state")
>>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
['00', '11']
"""

from __future__ import annotations

import importlib
import math
import numbers
import os
from collections.abc import Mapping, Sequence
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = ["plot_histogram", "plot_probabilities"]

#: A ``matplotlib.figure.Figure`` (matplotlib is optional, so it is ``Any`` here).
Figure: TypeAlias = Any
#: A ``matplotlib.axes.Axes``.
Axes: TypeAlias = Any
Sort = Literal["outcome", "count", "-count"]
Counts = Mapping[str, int] | Mapping[str, float]

_SORTS = ("outcome", "count", "-count")
_INSTALL = "pip install 'ferroq[plot]'"
_DPI = 150


# ----------------------------------------------------------------------- public
def plot_histogram(
    counts: Counts | Sequence[Counts],
    *,
    title: str | None = None,
    legend: str | Sequence[str | None] | None = None,
    sort: Sort = "outcome",
    max_outcomes: int | None = 32,
    normalize: bool = True,
    bar_labels: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    filename: str | os.PathLike[str] | None = None,
) -> Figure:
    """A bar chart of measurement counts, as ``qiskit.visualization.plot_histogram``.

    Args:
        counts: bitstring -> count (``Result.get_counts(i)``), or a list of such
            dicts drawn side by side (``Result.get_counts()`` of several circuits).
        title: the chart's title.
        legend: one label per count dict (a legend is drawn only when given);
            a ``None`` label is replaced by the dict's index.
        sort: ``"outcome"`` (by bitstring), ``"count"`` (ascending) or
            ``"-count"`` (descending); with several dicts, by their sum.
        max_outcomes: draw at most this many outcomes, the most frequent; the rest
            are summed into one last bar ``"other (K outcomes)"``. ``None``: all.
        normalize: show probabilities (each dict divided by its total); ``False``
            shows the counts.
        bar_labels: write each bar's value above it.
        ax: a matplotlib Axes to draw into (then its figure is returned);
            by default a new figure.
        figsize: ``(width, height)`` in inches of a new figure; by default it
            widens with the number of bars.
        filename: also save the figure there (PNG, SVG, PDF... by extension),
            at 150 dpi with a tight bounding box.

    Returns:
        the ``matplotlib.figure.Figure``.

    Raises:
        TypeError: counts that are not dicts of str -> number, a bad argument type.
        ValueError: empty counts, negative or non-finite counts, all counts zero,
            a legend of the wrong length, an unknown ``sort``.
        ImportError: matplotlib is not installed.

    >>> from ferroq._plot import plot_histogram
    >>> fig = plot_histogram(
    ...     [{"00": 480, "11": 520}, {"00": 400, "01": 90, "11": 510}],
    ...     legend=["ideal", "noisy"], sort="-count", normalize=False)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['11', '00', '01']
    >>> plot_histogram({"0": 3, "1": -1})
    Traceback (most recent call last):
    ...
    ValueError: counts: outcome '1' has a negative count (-1)
    """
    dicts = _count_dicts(counts)
    labels = _legend(legend, len(dicts))
    _check_sort(sort)
    limit = _check_max_outcomes(max_outcomes)
    values: list[dict[str, float]] = []
    for i, d in enumerate(dicts):
        total = math.fsum(d.values())
        if total == 0:
            where = f"counts {i}" if len(dicts) > 1 else "counts"
            raise ValueError(f"{where}: every count is zero")
        values.append({k: v / total for k, v in d.items()} if normalize else dict(d))
    outcomes = sorted({k for d in dicts for k in d}, key=_outcome_key)
    totals = {k: math.fsum(v.get(k, 0.0) for v in values) for k in outcomes}
    kept, rest = _select(outcomes, totals, limit, sort)
    series = [[v.get(k, 0.0) for k in kept] for v in values]
    if rest:
        for row, v in zip(series, values, strict=True):
            row.append(math.fsum(v.get(k, 0.0) for k in rest))
    names = kept + ([_other(len(rest))] if rest else [])
    fmt = _fmt_probability if normalize else _fmt_count
    fig = _draw(
        names,
        series,
        other=bool(rest),
        legend=labels,
        ylabel="Probability" if normalize else "Count",
        fmt=fmt,
        bar_labels=bar_labels,
        title=title,
        ax=ax,
        figsize=figsize,
    )
    return _save(fig, filename)


def plot_probabilities(
    probabilities: npt.ArrayLike | Mapping[str, float] | Mapping[int, float],
    *,
    num_bits: int | None = None,
    threshold: float = 1e-12,
    max_outcomes: int | None = 32,
    sort: Sort = "outcome",
    title: str | None = None,
    bar_labels: bool = True,
    ax: Axes | None = None,
    figsize: tuple[float, float] | None = None,
    filename: str | os.PathLike[str] | None = None,
) -> Figure:
    """A bar chart of exact outcome probabilities, labelled with bitstrings.

    Args:
        probabilities: an array of length ``2**n`` whose index is the outcome
            (qubit 0 the least significant bit), as ``Result.get_probabilities(i)``
            or ``Circuit.save_probabilities``; or a dict outcome -> probability whose
            keys are bitstrings (``"101"``), hex strings (``"0x5"``, as
            ``save_probabilities_dict``) or ints.
        num_bits: width of the bitstring labels, zero-padded; by default
            ``log2(len(probabilities))`` for an array and the longest key for a dict.
        threshold: outcomes with a probability below it are not drawn (nor
            counted in "other").
        max_outcomes: draw at most this many outcomes, the most probable; the rest
            are summed into one last bar ``"other (K outcomes)"``. ``None``: all.
        sort: ``"outcome"``, ``"count"`` (by probability, ascending) or ``"-count"``
            (descending).
        title, bar_labels, ax, figsize, filename: as for :func:`plot_histogram`.

    Labels print qubit ``n-1`` leftmost, as Qiskit does. Only the outcomes kept
    are turned into strings, so a large state costs a few passes of numpy.

    Raises:
        TypeError: complex amplitudes instead of probabilities, non-numeric
            values, bad key types.
        ValueError: a length that is not a power of two, NaN, infinite or
            negative probabilities, nothing at or above ``threshold``, a
            ``num_bits`` too small for the outcomes.
        ImportError: matplotlib is not installed.

    >>> import ferroq
    >>> from ferroq._plot import plot_probabilities
    >>> c = ferroq.Circuit(3).h(0).cx(0, 2)
    >>> fig = plot_probabilities(ferroq.statevector(c).real ** 2)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['000', '101']
    >>> plot_probabilities([0.5, 0.25, 0.25])
    Traceback (most recent call last):
    ...
    ValueError: probabilities: length 3 is not a power of two (2**n outcomes for n qubits)
    """
    _check_sort(sort)
    limit = _check_max_outcomes(max_outcomes)
    threshold = _check_threshold(threshold)
    if num_bits is not None and (not _is_int(num_bits) or num_bits < 0):
        raise ValueError(f"num_bits must be a non-negative int or None, got {num_bits!r}")
    if isinstance(probabilities, Mapping):
        index, values, width = _sparse_from_mapping(probabilities, num_bits)
    else:
        values, width = _dense(probabilities, num_bits)
        index = None
    keep_mask = values >= threshold
    if not keep_mask.any():
        raise ValueError(
            f"probabilities: no outcome has a probability of at least threshold={threshold!r} "
            f"(the largest is {float(values.max()) if values.size else 0.0!r})"
        )
    positions = np.flatnonzero(keep_mask)
    chosen = positions
    rest_count, rest_value = 0, 0.0
    if limit is not None and positions.size > limit:
        chosen = _top(positions, values, limit)
        rest_count = positions.size - limit
        rest_value = float(values[positions].sum() - values[chosen].sum())
    outcomes = chosen if index is None else index[chosen]
    probs = values[chosen]
    if sort == "outcome":
        order = np.argsort(outcomes, kind="stable")
    elif sort == "count":
        order = np.lexsort((outcomes, probs))
    else:
        order = np.lexsort((outcomes, -probs))
    names = [format(int(i), f"0{width}b") for i in outcomes[order]]
    heights = [float(p) for p in probs[order]]
    if rest_count:
        names.append(_other(rest_count))
        heights.append(max(rest_value, 0.0))
    fig = _draw(
        names,
        [heights],
        other=bool(rest_count),
        legend=None,
        ylabel="Probability",
        fmt=_fmt_probability,
        bar_labels=bar_labels,
        title=title,
        ax=ax,
        figsize=figsize,
    )
    return _save(fig, filename)


# ------------------------------------------------------------------- checking
def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def _is_real(x: object) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def _check_sort(sort: object) -> None:
    if sort not in _SORTS:
        raise ValueError(f"sort must be one of {', '.join(map(repr, _SORTS))}, got {sort!r}")


def _check_max_outcomes(max_outcomes: object) -> int | None:
    if max_outcomes is None:
        return None
    if isinstance(max_outcomes, numbers.Integral) and _is_int(max_outcomes) and int(max_outcomes) >= 1:
        return int(max_outcomes)
    raise ValueError(f"max_outcomes must be an int >= 1 or None, got {max_outcomes!r}")


def _check_threshold(threshold: object) -> float:
    if isinstance(threshold, numbers.Real) and _is_real(threshold):
        value = float(threshold)
        if math.isfinite(value) and value >= 0:
            return value
    raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")


def _count_dicts(counts: object) -> list[dict[str, float]]:
    if isinstance(counts, Mapping):
        many, items = False, [counts]
    elif isinstance(counts, Sequence) and not isinstance(counts, (str, bytes)):
        many, items = True, list(counts)
        if not items:
            raise ValueError("counts: the list of count dicts is empty")
    else:
        raise TypeError(
            f"counts must be a dict of bitstring -> count or a list of them, not {type(counts).__name__}"
        )
    dicts: list[dict[str, float]] = []
    for i, d in enumerate(items):
        where = f"counts {i}" if many else "counts"
        if not isinstance(d, Mapping):
            raise TypeError(f"{where} is a {type(d).__name__}, not a dict of bitstring -> count")
        if not d:
            raise ValueError(f"{where} is empty (a circuit without classical bits has no counts)")
        checked: dict[str, float] = {}
        for key, value in d.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: outcome {key!r} is a {type(key).__name__}, not a str")
            if not _is_real(value):
                raise TypeError(f"{where}: the count of {key!r} is a {type(value).__name__}, not a number")
            number = float(value)
            if not math.isfinite(number):
                raise ValueError(f"{where}: outcome {key!r} has a non-finite count ({value!r})")
            if number < 0:
                raise ValueError(f"{where}: outcome {key!r} has a negative count ({value!r})")
            checked[key] = number
        dicts.append(checked)
    return dicts


def _legend(legend: str | Sequence[str | None] | None, n: int) -> list[str] | None:
    if legend is None:
        return None
    if not isinstance(legend, (str, Sequence)):
        raise TypeError(f"legend must be a list of labels, not {type(legend).__name__}")
    labels = [legend] if isinstance(legend, str) else list(legend)
    if len(labels) != n:
        raise ValueError(f"legend has {len(labels)} labels for {n} count dict{'s' if n != 1 else ''}")
    checked: list[str] = []
    for i, label in enumerate(labels):
        if label is not None and not isinstance(label, str):
            raise TypeError(f"legend labels must be str or None, got {type(label).__name__} {label!r}")
        checked.append(str(i) if label is None else label)
    return checked


def _outcome_key(outcome: str) -> tuple[int, int, str]:
    """Bitstrings (spaces between registers allowed) by their value, then hex
    strings by theirs, then anything else as text."""
    bits = outcome.replace(" ", "")
    if bits and set(bits) <= {"0", "1"}:
        return (0, int(bits, 2), outcome)
    if outcome[:2].lower() == "0x":
        try:
            return (1, int(outcome, 16), outcome)
        except ValueError:
            pass
    return (2, 0, outcome)


def _select(outcomes: list[str], totals: Mapping[str, float], limit: int | None, sort: str) -> Any:
    """``(kept, rest)``: the ``limit`` outcomes of largest total (ties: outcome order),
    in the order ``sort`` asks, and the others."""
    kept = outcomes
    rest: list[str] = []
    if limit is not None and len(outcomes) > limit:
        by_size = sorted(outcomes, key=lambda k: -totals[k])  # stable: ties stay in outcome order
        chosen = set(by_size[:limit])
        kept = [k for k in outcomes if k in chosen]
        rest = [k for k in outcomes if k not in chosen]
    if sort == "count":
        kept = sorted(kept, key=lambda k: totals[k])
    elif sort == "-count":
        kept = sorted(kept, key=lambda k: -totals[k])
    return kept, rest


def _other(n: int) -> str:
    return f"other ({n} outcome{'s' if n != 1 else ''})"


def _dense(probabilities: object, num_bits: int | None) -> tuple[npt.NDArray[np.float64], int]:
    try:
        array = np.asarray(probabilities)
    except (TypeError, ValueError) as err:  # ragged nested lists
        raise TypeError(f"probabilities must be a 1-D array of numbers: {err}") from None
    if array.dtype.kind == "c":
        raise TypeError(
            "probabilities are complex: pass |amplitude|**2 (np.abs(state) ** 2, or "
            "Result.get_probabilities), not the amplitudes"
        )
    if array.dtype.kind not in "iuf":
        raise TypeError(f"probabilities must be real numbers, got an array of dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(
            f"probabilities must be one 1-D array of length 2**n, got shape {array.shape} "
            "(plot one circuit's probabilities at a time)"
        )
    size = array.size
    if size == 0 or size & (size - 1):
        raise ValueError(f"probabilities: length {size} is not a power of two (2**n outcomes for n qubits)")
    values = array.astype(np.float64, copy=False)
    _check_values(values)
    n = size.bit_length() - 1
    if num_bits is not None and num_bits < n:
        raise ValueError(f"num_bits={num_bits} is too small for {size} outcomes ({n} bits)")
    return values, max(n if num_bits is None else num_bits, 1)


def _check_values(values: npt.NDArray[np.float64], keys: Sequence[object] | None = None) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        where = f"outcome {keys[i]!r}" if keys is not None else f"index {i}"
        raise ValueError(f"probabilities: {where} is {float(values[i])} ({bad.size} non-finite values)")
    negative = np.flatnonzero(values < 0)
    if negative.size:
        i = int(negative[0])
        where = f"outcome {keys[i]!r}" if keys is not None else f"index {i}"
        raise ValueError(f"probabilities: {where} is negative ({float(values[i])})")


def _sparse_from_mapping(
    probabilities: Mapping[Any, Any], num_bits: int | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], int]:
    if not probabilities:
        raise ValueError("probabilities: the dict is empty")
    keys = list(probabilities)
    outcomes: list[int] = []
    width = 1
    for key in keys:
        if _is_int(key):
            value = int(key)
            if value < 0:
                raise ValueError(f"probabilities: outcome {key!r} is negative")
            width = max(width, value.bit_length())
        elif isinstance(key, str):
            bits = key.replace(" ", "")
            if bits and set(bits) <= {"0", "1"}:
                value = int(bits, 2)
                width = max(width, len(bits))
            else:
                try:
                    if key[:2].lower() != "0x":
                        raise ValueError
                    value = int(key, 16)
                except ValueError:
                    raise ValueError(
                        f"probabilities: outcome {key!r} is neither a bitstring nor a hex string ('0x...')"
                    ) from None
                width = max(width, value.bit_length())
        else:
            raise TypeError(f"probabilities: outcome {key!r} is a {type(key).__name__}, not a str or int")
        outcomes.append(value)
    if len(set(outcomes)) != len(outcomes):
        raise ValueError("probabilities: two keys name the same outcome")
    if width > 63:
        raise ValueError(f"probabilities: outcomes of {width} bits are too wide to plot")
    if num_bits is not None:
        if num_bits < width:
            raise ValueError(f"num_bits={num_bits} is too small for the outcomes ({width} bits)")
        width = max(num_bits, 1)
    raw = [probabilities[k] for k in keys]
    for key, value in zip(keys, raw, strict=True):
        if not _is_real(value):
            raise TypeError(f"probabilities: the value of {key!r} is a {type(value).__name__}, not a number")
    values = np.array([float(v) for v in raw], dtype=np.float64)
    _check_values(values, keys)
    return np.array(outcomes, dtype=np.int64), values, width


def _top(positions: npt.NDArray[np.intp], values: npt.NDArray[np.float64], limit: int) -> Any:
    """The ``limit`` positions of largest value (ties: lowest position), ascending."""
    candidates = values[positions]
    kth = np.partition(candidates, candidates.size - limit)[candidates.size - limit]
    greater = positions[candidates > kth]
    equal = positions[candidates == kth][: limit - greater.size]
    return np.sort(np.concatenate([greater, equal]))


# ------------------------------------------------------------------- drawing
def _fmt_probability(value: float) -> str:
    if value == 0:
        return ""
    if value < 0.0005:
        return f"{value:.0e}"
    return f"{value:.3f}"


def _fmt_count(value: float) -> str:
    if value == 0:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def _matplotlib(what: str) -> Any:
    try:
        return importlib.import_module(what)
    except ImportError as err:
        raise ImportError(f"ferroq's plotting needs matplotlib: {_INSTALL} ({err})") from err


def _draw(
    names: list[str],
    series: list[list[float]],
    *,
    other: bool,
    legend: list[str] | None,
    ylabel: str,
    fmt: Any,
    bar_labels: bool,
    title: str | None,
    ax: Axes | None,
    figsize: tuple[float, float] | None,
) -> Figure:
    groups, k = len(names), len(series)
    if ax is None:
        figure_module = _matplotlib("matplotlib.figure")
        if figsize is None:
            longest = max(len(s) for s in names)
            width = min(max(6.4, groups * (0.3 + 0.15 * k) + 1.5), 24.0)
            figsize = (width, 4.8 + (min(longest, 40) * 0.06 if groups > 8 else 0.0))
        fig = figure_module.Figure(figsize=figsize, layout="constrained")
        ax = fig.add_subplot()
    else:
        if not hasattr(ax, "bar") or not hasattr(ax, "figure"):
            raise TypeError(f"ax must be a matplotlib Axes, not {type(ax).__name__}")
        fig = getattr(ax.figure, "figure", None) or ax.figure  # the root figure of a subfigure
    x = np.arange(groups, dtype=float)
    width = 0.8 / k
    many = groups * k > 16
    for j, heights in enumerate(series):
        offset = (j - (k - 1) / 2) * width
        bars = ax.bar(
            x + offset,
            heights,
            width=width * 0.95,
            color=f"C{j % 10}",
            label=None if legend is None else legend[j],
            zorder=3,
        )
        if other:
            bars[-1].set_hatch("//")
            bars[-1].set_alpha(0.6)
        if bar_labels:
            ax.bar_label(
                bars,
                labels=[fmt(h) for h in heights],
                padding=2,
                fontsize=7 if many else 8,
                rotation=90 if many else 0,
            )
    longest = max(len(s) for s in names)
    rotate = groups > 10 or groups * longest > 60
    ax.set_xticks(x)
    if rotate:
        ax.set_xticklabels(names, rotation=70, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticklabels(names)
    ax.set_ylabel(ylabel)
    ax.set_xlim(-0.6, groups - 0.4)
    top = max((max(h) for h in series), default=0.0)
    headroom = 1.25 if bar_labels and many else 1.12
    ax.set_ylim(0, top * headroom if top > 0 else 1.0)
    ax.grid(axis="y", linestyle=":", linewidth=0.8, alpha=0.7, zorder=0)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is not None:
        ax.set_title(title)
    if legend is not None:
        ax.legend(loc="best", frameon=False)
    return fig


def _save(fig: Figure, filename: str | os.PathLike[str] | None) -> Figure:
    if filename is not None:
        fig.savefig(os.fspath(filename), bbox_inches="tight", dpi=_DPI)
    return fig
