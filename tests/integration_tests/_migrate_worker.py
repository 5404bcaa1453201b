"""Subprocess of the migrate kill test: migrate, or be killed with SIGKILL part-way.

`python -m tests.integration_tests._migrate_worker <path> <kill at>` migrates namespace
"default" of the embedded store at `<path>`. With `<kill at>` ≥ 0 it sends itself SIGKILL just
before rename number `<kill at>` of the swap (0: the new layout is written, nothing renamed
yet); with -1 it migrates to the end and prints one JSON line: the report, every state's
(Q, N) table and which runs are learned.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from langchain_rememberer import RemembererMemory, RetrievalConfig
from langchain_rememberer import _migrate as migration
from langchain_rememberer.config import SpoolConfig

TASKS = ("Find the coin and take it.", "Water the plants.")


def _killed_at(number: int) -> None:
    real, done = migration._rename, []

    def rename(*args: Any) -> None:
        if len(done) == number:
            os.kill(os.getpid(), signal.SIGKILL)
        real(*args)
        done.append(args)

    migration._rename = rename  # type: ignore[assignment]


def main() -> None:
    path, kill_at = sys.argv[1], int(sys.argv[2])
    memory = RemembererMemory(
        path=path,
        spool=SpoolConfig(enabled=False),
        retrieval=RetrievalConfig(min_similarity=-1.0, min_task_similarity=-1.0),
    )
    if kill_at >= 0:
        _killed_at(kill_at)
    report = memory.migrate()
    tables = {
        f"{task}|{state.observation}": {a.action: [a.q, a.visits] for a in state.actions}
        for task in TASKS
        for state in memory.retrieve(task, "kitchen", k=20)
        if state.task == task
    }
    learned = [r for r in ("run-1", "run-2", "run-3", "run-4", "run-5") if memory.is_learned(r)]
    print(json.dumps({"status": report.status, "tables": tables, "learned": learned}))


if __name__ == "__main__":
    main()
