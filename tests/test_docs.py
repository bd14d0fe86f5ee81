"""The documentation's examples run and say what they print."""

from __future__ import annotations

import ast
import doctest
import importlib
import importlib.util
import pathlib
import re
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Optional packages a docstring example may need, and the extra that installs each.
OPTIONAL = {
    "qiskit": "ferroq[qiskit]",
    "qiskit_qasm3_import": "ferroq[qiskit]",
    "qiskit_aer": "qiskit-aer",
    "matplotlib": "ferroq[plot]",
    "tqdm": "ferroq[progress]",
    "dask": "ferroq[dask]",
    "distributed": "ferroq[dask]",
    "qulacs": "qulacs",
    "qsimcirq": "qsimcirq",
}

# Modules whose docstrings must carry examples (a module without any fails).
DOCUMENTED = [
    "ferroq",
    "ferroq._circuit",
    "ferroq._simulator",
    "ferroq._result",
    "ferroq._jobset",
    "ferroq._store",
    "ferroq._progress",
    "ferroq._bench",
    "ferroq._plot",
    "ferroq.qasm2",
    "ferroq.exceptions",
    "ferroq.qiskit",
    "ferroq.qiskit._backend",
    "ferroq.qiskit._provider",
    "ferroq.qiskit._estimator",
    "ferroq.testing",
    "ferroq.testing._assertions",
    "ferroq.testing._run",
    "ferroq.testing._stats",
    "ferroq.testing.strategies",
]

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _package_modules() -> list[str]:
    """Every module of the installed ferroq package, found from its files (no import)."""
    import ferroq

    base = pathlib.Path(ferroq.__file__).parent
    names = []
    for path in sorted(base.rglob("*.py")):
        parts = ["ferroq", *path.relative_to(base).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] != "__main__":
            names.append(".".join(parts))
    return names


def _missing_optional(error: BaseException | None) -> str | None:
    """The optional package whose absence raised ``error`` (through its causes), if any."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            top = error.name.split(".")[0]
            if top in OPTIONAL and importlib.util.find_spec(top) is None:
                return top
        error = error.__cause__ or error.__context__
    return None


def _skip_reason(package: str) -> str:
    return f"{package} is not installed (pip install {OPTIONAL[package]!r})"


class _Missing(Exception):
    pass


class _Runner(doctest.DocTestRunner):
    """Stops a docstring at an example that needs a missing optional package."""

    def report_unexpected_exception(self, out, test, example, exc_info):  # type: ignore[no-untyped-def]
        package = _missing_optional(exc_info[1])
        if package is not None:
            raise _Missing(package)
        super().report_unexpected_exception(out, test, example, exc_info)


def _doctest_params() -> list:
    params = []
    for name in _package_modules():
        try:
            module = importlib.import_module(name)
        except ImportError as error:
            package = _missing_optional(error)
            if package is None:
                raise
            params.append(pytest.param(name, None, id=name, marks=pytest.mark.skip(_skip_reason(package))))
            continue
        for test in doctest.DocTestFinder().find(module, name):
            if test.examples:
                params.append(pytest.param(name, test.name, id=test.name))
    return params


DOCTESTS = _doctest_params()


@pytest.fixture
def few_examples():
    """``@given`` examples in docstrings run 10 examples each (they document, not test)."""
    from hypothesis import settings

    previous = settings.get_current_profile_name()
    settings.register_profile("ferroq-doctest", parent=settings.get_profile(previous), max_examples=10)
    settings.load_profile("ferroq-doctest")
    yield
    settings.load_profile(previous)


@pytest.mark.parametrize(("module_name", "test_name"), DOCTESTS)
def test_docstring_examples(module_name, test_name, few_examples):
    """Each docstring's examples, on their own; one that needs a missing optional
    package (directly or through ferroq's own ImportError) skips and says which."""
    module = importlib.import_module(module_name)
    (test,) = [t for t in doctest.DocTestFinder().find(module, module_name) if t.name == test_name]
    runner = _Runner(optionflags=FLAGS)
    try:
        runner.run(test)
    except _Missing as missing:
        pytest.skip(_skip_reason(missing.args[0]))
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{test_name}: {results.failed} of {results.attempted} examples failed"


@pytest.mark.parametrize("name", DOCUMENTED)
def test_documented_modules_have_examples(name):
    examples = [p for p in DOCTESTS if p.values[0] == name]
    if examples and examples[0].values[1] is None:
        pytest.skip(examples[0].marks[0].kwargs.get("reason") or examples[0].marks[0].args[0])
    assert examples, f"{name} has no docstring examples"


README_BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


@pytest.mark.parametrize("block", range(len(README_BLOCKS)))
def test_readme_python_examples_run_and_their_comments_hold(block):
    """Runs each README block once, with every ``expr  # literal`` line turned
    into ``assert (expr) == literal``."""
    if "qiskit" in README_BLOCKS[block]:
        pytest.importorskip("qiskit")
    lines = []
    checked = 0
    # A block inside a list item is indented with it.
    for line in textwrap.dedent(README_BLOCKS[block]).splitlines():
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
