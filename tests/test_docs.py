"""The documentation's examples run and say what they print."""

from __future__ import annotations

import ast
import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = [
    "ferroq",
    "ferroq._circuit",
    "ferroq._simulator",
    "ferroq._result",
    "ferroq._jobset",
    "ferroq._store",
    "ferroq._progress",
    "ferroq._bench",
    "ferroq.qasm2",
    "ferroq.exceptions",
]


QISKIT_MODULES = [
    "ferroq.qiskit",
    "ferroq.qiskit._backend",
    "ferroq.qiskit._provider",
    "ferroq.qiskit._estimator",
]


PLOT_MODULES = ["ferroq._plot"]


@pytest.mark.parametrize("name", MODULES + QISKIT_MODULES + PLOT_MODULES)
def test_docstring_examples(name):
    if name in QISKIT_MODULES:
        pytest.importorskip("qiskit")
    if name in PLOT_MODULES:
        pytest.importorskip("matplotlib")
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    assert tried > 0, f"{name} has no examples"


README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


@pytest.mark.parametrize("block", range(len(README_BLOCKS)))
def test_readme_python_examples_run_and_their_comments_hold(block):
    """Runs each README block once, with every ``expr  # literal`` line turned
    into ``assert (expr) == literal``."""
    if "qiskit" in README_BLOCKS[block]:
        pytest.importorskip("qiskit")
    lines = []
    checked = 0
    for line in README_BLOCKS[block].splitlines():
        code, _, comment = line.partition("#")
        comment = comment.strip().split(", in ")[0]
        try:
            expected = ast.literal_eval(comment)
            ast.parse(code.strip(), mode="eval")
        except (ValueError, SyntaxError):
            lines.append(line)
            continue
        indent = code[: len(code) - len(code.lstrip())]
        lines.append(f"{indent}assert ({code.strip()}) == {expected!r}, {line.strip()!r}")
        checked += 1
    exec(compile("\n".join(lines), "README.md", "exec"), {})
    assert checked >= 2


def test_readme_has_python_examples():
    assert len(README_BLOCKS) >= 2
