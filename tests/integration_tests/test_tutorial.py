"""The tutorial's code blocks, and the docstring examples of the public modules, run."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import textwrap
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "add-memory-to-an-existing-agent.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_tutorial_code_runs_in_order() -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 7
    namespace: dict = {"__name__": "tutorial"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{PAGE.name}[block {index}]", "exec"), namespace)
    memory = namespace["memory"]
    assert memory.pending_runs() == []
    assert namespace["report"].targets == [1.5, 1.0]  # track +1, then γ=0.5 × feedback +1
    assert namespace["handler"].episodes[-1].task == "Where is order 42?"


def _modules() -> list[str]:
    """Every module of the package, the benchmark's included (its docstrings are docs too)."""
    package = importlib.import_module("langchain_rememberer")
    names = [m.name for m in pkgutil.walk_packages(package.__path__, "langchain_rememberer.")]
    return sorted(n for n in names if not n.endswith(".__main__"))


MODULES = _modules()


def _docstring_examples() -> list[tuple[str, list[str]]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", []):
            obj = getattr(module, attr)
            blocks = BLOCK.findall(inspect.getdoc(obj) or "") if callable(obj) else []
            if blocks:
                found.append((f"{name}.{attr}", blocks))
    return found


@pytest.mark.parametrize(("where", "blocks"), _docstring_examples())
def test_docstring_examples_run(where: str, blocks: list[str]) -> None:
    assert blocks
    namespace: dict = {"__name__": where}
    for block in blocks:  # the sections of one docstring build on each other
        exec(compile(textwrap.dedent(block), where, "exec"), namespace)
