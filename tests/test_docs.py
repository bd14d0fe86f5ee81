"""The documentation's examples run and say what they print."""

from __future__ import annotations

import ast
import doctest
import importlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = ["ferroq", "ferroq._circuit", "ferroq._simulator", "ferroq._result", "ferroq.exceptions"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    failures, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
    assert tried > 0, f"{name} has no examples"


def test_readme_python_example_runs_and_its_comments_hold():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "README has no python example"
    namespace: dict[str, object] = {}
    exec(compile(blocks[0], "README.md", "exec"), namespace)
    # Every "expr  # literal" line whose comment is a Python literal must evaluate to it.
    checked = 0
    for line in blocks[0].splitlines():
        code, _, comment = line.partition("#")
        comment = comment.strip().split(", in ")[0]
        try:
            expected = ast.literal_eval(comment)
        except (ValueError, SyntaxError):
            continue
        assert eval(code.strip(), namespace) == expected, line
        checked += 1
    assert checked >= 2
