"""The package's import graph: core ← adapters ← bench/cli, no cycles, modules kept small."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "langchain_rememberer"
NAME = "langchain_rememberer"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every package module `path` imports, at any depth (functions, TYPE_CHECKING included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(NAME))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(NAME):
            found.add(node.module)
            # `from langchain_rememberer import rlem` imports the module rlem.
            found.update(
                f"{node.module}.{a.name}"
                for a in node.names
                if (PACKAGE.parent / node.module.replace(".", "/") / f"{a.name}.py").exists()
            )
    return found


GRAPH = {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}
CORE = {_module_name(p) for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}


def _in(module: str, subpackage: str) -> bool:
    return module == f"{NAME}.{subpackage}" or module.startswith(f"{NAME}.{subpackage}.")


def test_graph_was_read() -> None:
    assert f"{NAME}.memory" in CORE
    assert f"{NAME}._store" in GRAPH[f"{NAME}.memory"]


def test_core_imports_neither_adapters_nor_bench_nor_cli() -> None:
    bad = {
        (m, i)
        for m in CORE
        for i in GRAPH[m]
        if _in(i, "adapters") or _in(i, "bench") or _in(i, "cli")
    }
    assert bad == set()


def test_adapters_do_not_import_bench_or_cli() -> None:
    bad = {
        (m, i)
        for m in GRAPH
        if _in(m, "adapters")
        for i in GRAPH[m]
        if _in(i, "bench") or _in(i, "cli")
    }
    assert bad == set()


STORAGE = {f"{NAME}.{m}" for m in ("_store", "_chroma", "_ledger", "_settling", "_capacity")}


def test_adapters_and_cli_do_not_import_storage_internals() -> None:
    """They reach storage through the memory's methods (and `memory.store`), never its modules."""
    bad = {
        (m, i)
        for m in GRAPH
        if _in(m, "adapters") or _in(m, "cli")
        for i in GRAPH[m]
        if i in STORAGE
    }
    assert bad == set()


def test_memory_commands_do_not_import_bench() -> None:
    assert not any(_in(i, "bench") for i in GRAPH[f"{NAME}.cli"])
    # cli.memory loads the TextWorld key only for a benchmark memory (a stated lazy import).
    assert GRAPH[f"{NAME}.cli.memory"] & {f"{NAME}.bench.protocol", f"{NAME}.bench.agent"} == set()


def test_no_import_cycle() -> None:
    # Edges into a package __init__ that only re-exports are left out: `from langchain_rememberer
    # import X` in a docstring-free module would otherwise make every module a cycle with it.
    edges = {
        m: {i for i in deps if i in GRAPH and i != NAME and i != m} for m, deps in GRAPH.items()
    }
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []


# Modules allowed over ~400 lines, each with its reason.
LONG = {
    f"{NAME}.memory": "the public facade: ~30 documented methods (a third of it docstrings); "
    "the logic is in _records, _folding, _store, _encoding and rlem",
    f"{NAME}.adapters.middleware": "one class of hooks (sync and async twins, one logic as "
    "effects) and each run's namespace, ~130 over",
    f"{NAME}.adapters.callbacks": "one handler: every callback event and its bookkeeping, ~20 over",
    f"{NAME}._store": "the storage layout: every read and write of the three collections, as "
    "operations (one `Call` each), ~50 over",
}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
"""A function's own lines: its docstring does not count (docstrings carry the examples)."""


def test_modules_stay_small() -> None:
    sizes = {
        _module_name(p): len(p.read_text(encoding="utf-8").splitlines())
        for p in PACKAGE.rglob("*.py")
    }
    long = {m: n for m, n in sizes.items() if n > MAX_MODULE_LINES}
    assert set(long) <= set(LONG), long
    assert all(n <= MAX_MODULE_LINES * 1.5 for n in long.values()), long


def test_functions_stay_short() -> None:
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
                lines = node.end_lineno - node.lineno + 1
                first = node.body[0]
                if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                    lines -= (first.end_lineno or first.lineno) - first.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append((_module_name(path), node.name, lines))
    assert long == []
