"""Subprocess of the kill test: check what the last killed worker left, retry its run, go on.

`python -m tests.integration_tests._crash_worker <target> <collection> <first run number>`;
prints JSON lines: `{"check": ...}` (what every reader sees, before and after retrying the
interrupted run), then `{"start": run}` before each new run and `{"write": n}` after each
Chroma write (an `add`, `upsert` or `update` of the log or the states), so the parent can kill
it between any two writes of one run. It learns until it is killed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from langchain_rememberer import Episode, RemembererMemory, Step
from tests.integration_tests._worker import memory_for

STEPS = 60
BATCH = 2  # records per Chroma call: every run is written in many calls
ROOMS = [f"room {i} of the maze" for i in range(5)]
TASK = "Walk the maze."


def episode(number: int) -> Episode:
    return Episode(
        task=TASK,
        run_id=f"run-{number}",
        steps=[
            Step(observation=ROOMS[t % len(ROOMS)], action=f"door {(number + t) % 3}", reward=1.0)
            for t in range(STEPS)
        ],
    )


def say(**data: object) -> None:
    print(json.dumps(data), flush=True)


def check(memory: RemembererMemory, started: list[int]) -> dict[str, object]:
    """What each reader sees of the runs started so far."""
    learned = sorted(n for n in started if memory.is_learned(f"run-{n}"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.jsonl"
        memory.export_jsonl(path)
        rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    exported = Counter(row["run_id"] for row in rows)
    return {
        "learned": learned,
        "exported": sorted(int(r.removeprefix("run-")) for r in exported),
        "partial_exported": sorted(r for r, c in exported.items() if c != STEPS),
        "retrieved_visits": sum(
            a.visits for s in memory.retrieve(TASK, ROOMS[0], k=50) for a in s.actions
        ),
        "stats_updates": memory.stats().updates,
    }


def count_writes(collection: Any, counter: list[int]) -> None:
    """Report every write call of a collection (the kill points)."""
    for name in ("add", "upsert", "update"):
        method = getattr(collection, name)

        def counted(*args: object, _method: Any = method, **kwargs: object) -> None:
            _method(*args, **kwargs)
            counter[0] += 1
            say(write=counter[0])

        setattr(collection, name, counted)


def main() -> None:
    target, collection, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    memory = memory_for(target, collection)
    memory.store.batch_size = BATCH
    started = list(range(first))
    say(check=check(memory, started))
    if first:
        report = memory.learn(episode(first - 1))  # retry the run the kill interrupted
        say(retried=report.updates_written, check=check(memory, started))
    ns = memory._open(None)
    counter = [0]
    count_writes(ns.log, counter)
    count_writes(ns.states, counter)
    number = first
    while True:
        say(start=number)
        memory.learn(episode(number))
        number += 1


if __name__ == "__main__":
    main()
