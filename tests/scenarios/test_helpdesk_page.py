"""docs/helpdesk-lessons.md runs, in order, with the library's defaults."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "helpdesk-lessons.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_helpdesk_page_runs_in_order() -> None:
    blocks = BLOCK.findall(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 7
    namespace: dict = {"__name__": "helpdesk_page"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{PAGE.name}[block {index}]", "exec"), namespace)
    assert namespace["memory"].stats().updates == 3 + 2 + 2 + 1
