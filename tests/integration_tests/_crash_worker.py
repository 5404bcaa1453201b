"""Subprocess of the kill test: check what the last killed worker left, retry its run, go on.

`python _crash_worker.py <target> <collection> <first run number>`; prints JSON lines:
`{"check": ...}` (what every reader sees, before and after retrying the interrupted run),
then `{"start": run}` before each new run and `{"add": n}` after each Chroma `add` of the log,
so the parent can kill it between two `add`s of one run. It learns until it is killed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from langchain_rememberer import Episode, RemembererMemory, Step
from tests.integration_tests._worker import memory_for

STEPS = 60
BATCH = 10  # six `add`s per run
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
    ns = memory.store.run(memory._open(None))
    raw = {n: len(memory.store.run(memory.store.run_log_refs(ns, f"run-{n}"))) for n in started}
    learned = {n: memory.is_learned(f"run-{n}") for n in started}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.jsonl"
        memory.export_jsonl(path)
        rows = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    exported = Counter(row["run_id"] for row in rows)
    visits = sum(a.visits for s in memory.retrieve(TASK, ROOMS[0], k=50) for a in s.actions)
    return {
        "partial_in_log": sorted(n for n, c in raw.items() if 0 < c < STEPS),
        "learned_but_incomplete": sorted(n for n in started if learned[n] and raw[n] < STEPS),
        "complete_but_not_learned": sorted(
            n for n in started if raw[n] == STEPS and not learned[n]
        ),
        "partial_exported": sorted(r for r, c in exported.items() if c != STEPS),
        "visits": visits,
        "complete_runs": sum(1 for c in raw.values() if c == STEPS),
    }


def main() -> None:
    target, collection, first = sys.argv[1], sys.argv[2], int(sys.argv[3])
    memory = memory_for(target, collection)
    memory.store.batch_size = BATCH
    started = list(range(first))
    say(check=check(memory, started))
    if first:
        report = memory.learn(episode(first - 1))  # retry the run the kill interrupted
        say(retried=report.updates_written, check=check(memory, started))
    ns = memory.store.run(memory._open(None))
    add, count = memory.store.driver.handle(ns.log).add, [0]

    def counted_add(*args: object, **kwargs: object) -> None:
        add(*args, **kwargs)
        count[0] += 1
        say(add=count[0])

    memory.store.driver.handle(ns.log).add = counted_add
    number = first
    while True:
        say(start=number)
        memory.learn(episode(number))
        number += 1


if __name__ == "__main__":
    main()
