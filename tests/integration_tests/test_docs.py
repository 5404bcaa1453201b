"""The docs' code blocks run, in order, as one script per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks(page: str) -> list[str]:
    return BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", ["memory.md", "langsmith-feedback.md", "lift.md"])
def test_page_code_runs(page: str) -> None:
    blocks = _blocks(page)
    assert len(blocks) >= 2
    namespace: dict = {"__name__": f"docs_{page}"}
    for block in blocks:
        exec(compile(block, f"{page}", "exec"), namespace)  # noqa: S102


def test_readme_quickstart_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    (block,) = BLOCK.findall(readme)
    exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
    assert (tmp_path / ".rememberer").is_dir()
