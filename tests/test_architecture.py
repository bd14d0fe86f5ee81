"""ARCHITECTURE.md is true of the code: the Python layers it lists are the
package's modules, no module imports one from a layer above it (imports inside
functions and under ``TYPE_CHECKING`` included), and the import graph of
``python/ferroq`` has no cycle."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "python" / "ferroq"
ADAPTERS = "adapters"


def _layers() -> dict[str, int | str]:
    """Module name (``ferroq.x``, or a package ``ferroq.qiskit``) -> its layer
    number, or ``"adapters"``, as the table of ARCHITECTURE.md says."""
    text = (ROOT / "ARCHITECTURE.md").read_text()
    section = text[text.index("## Python (`python/ferroq`)") :]
    out: dict[str, int | str] = {}
    for line in section.splitlines():
        row = re.match(r"\| (\d+)\. [^|]+ \| ([^|]+) \|", line) or re.match(
            r"\| (adapters) \| ([^|]+) \|", line
        )
        if not row:
            continue
        layer: int | str = ADAPTERS if row[1] == ADAPTERS else int(row[1])
        # The modules are the backticked names before any parenthesis.
        names = re.findall(r"`([\w/]+)`(?![^(]*\))", row[2])
        for name in names:
            out["ferroq" + ("" if name == "__init__" else "." + name.rstrip("/"))] = layer
    return out


def _module_of(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str, layers: dict[str, int | str]) -> str:
    """The table's entry a module belongs to: itself, or its package."""
    while module not in layers and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def _imports(path: pathlib.Path, modules: set[str]) -> set[str]:
    """Every ferroq module ``path`` imports, anywhere in it."""
    module = _module_of(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "ferroq"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            if target.split(".")[0] != "ferroq":
                continue
            # `from ferroq import _core` imports the module `ferroq._core`;
            # `from ferroq import Job` imports the package itself.
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    return found


def _modules() -> dict[str, pathlib.Path]:
    files = list(PACKAGE.rglob("*.py"))
    files.append(PACKAGE / "_core.pyi")
    return {_module_of(p): p for p in files}


def test_the_table_lists_every_module():
    layers = _layers()
    assert layers, "no layer table found in ARCHITECTURE.md"
    units = {_unit(m, layers) for m in _modules()}
    assert units <= set(layers), f"modules missing from ARCHITECTURE.md: {sorted(units - set(layers))}"
    assert set(layers) <= units | {"ferroq._core"}, f"listed but absent: {sorted(set(layers) - units)}"


def test_no_module_imports_from_a_layer_above_it():
    layers = _layers()
    modules = _modules()
    wrong = []
    for name, path in modules.items():
        here = layers[_unit(name, layers)]
        for target in _imports(path, set(modules)):
            if target not in modules and target.rsplit(".", 1)[0] not in modules:
                continue
            target = target if target in modules else target.rsplit(".", 1)[0]
            there = layers[_unit(target, layers)]
            # The adapters sit between the front (6) and the command line (7).
            rank = {ADAPTERS: 6.5}
            ok = rank.get(there, there) <= rank.get(here, here)  # type: ignore[operator]
            if not ok and _unit(target, layers) != _unit(name, layers):
                wrong.append(f"{name} (layer {here}) imports {target} (layer {there})")
    assert not wrong, "\n".join(wrong)


def test_the_import_graph_has_no_cycle():
    modules = _modules()
    graph = {
        name: {t if t in modules else t.rsplit(".", 1)[0] for t in _imports(path, set(modules))}
        & set(modules) - {name}
        for name, path in modules.items()
    }
    # A package's __init__ re-exporting its own submodules is not a cycle of layers:
    # drop edges from a package to the modules inside it.
    for name in graph:
        graph[name] = {t for t in graph[name] if not t.startswith(name + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
