"""Group commit on real Chroma: merged calls keep each call's meaning, and many concurrent
`alearn`s stay exact (every run counted once, every reader agreeing)."""

from __future__ import annotations

import asyncio
import threading

from langchain_rememberer import Episode, Step
from langchain_rememberer._store import ChromaStore, local_client
from tests.helpers import q_table

WAIT = 60


def _held_store() -> tuple[ChromaStore, threading.Event, threading.Event]:
    """A store whose first log add blocks until released (so others queue behind it)."""
    store = ChromaStore(local_client(None), "groupcommit")
    entered, release = threading.Event(), threading.Event()
    original = store._add_log_now

    def held(ns, records):
        if not entered.is_set():
            entered.set()
            assert release.wait(WAIT)
        return original(ns, records)

    store._add_log_now = held  # type: ignore[method-assign]
    return store, entered, release


def test_adds_of_one_id_in_one_batch_keep_the_first_queued() -> None:
    store, entered, release = _held_store()
    ns = store.open("default", dim=4, task_weight=0.5)
    first = threading.Thread(target=store.add_log, args=(ns, [("other", {"k": "v"}, "0")]))
    first.start()
    assert entered.wait(WAIT)
    racers = [
        threading.Thread(target=store.add_log, args=(ns, [("slot", {"by": name}, name)]))
        for name in ("a", "b")
    ]
    for t in racers:
        t.start()
    combiner = ns.combiners["add_log"]
    with combiner._cond:
        assert combiner._cond.wait_for(lambda: len(combiner._queue) == 2, timeout=WAIT)
        queued_first = combiner._queue[0].payload[0][2]
    release.set()
    for t in [first, *racers]:
        t.join(WAIT)
    meta, doc = store.get_log(ns, ["slot"])["slot"]
    assert doc == queued_first == meta["by"]  # as if the two adds ran one after the other
    assert combiner.batches == 2
    assert set(store.get_log(ns, ["slot", "other", "none"])) == {"slot", "other"}


def test_many_concurrent_alearns_count_each_run_once(make_memory) -> None:
    memory = make_memory()
    task = "Walk the maze."
    runs = [
        Episode(
            task=task,
            run_id=f"run-{n}",
            steps=[
                Step(observation="the hall", action=f"door {n % 3}"),
                Step(observation="the vault", action="open it", reward=float(n % 2)),
            ],
        )
        for n in range(48)
    ]

    async def learn_all() -> list:
        return await asyncio.gather(*(memory.alearn(e) for e in [*runs, *runs[:8]]))

    reports = asyncio.run(learn_all())
    assert sum(r.updates_written for r in reports) == 2 * 48  # the 8 repeats wrote nothing
    assert all(memory.is_learned(e.run_id) for e in runs)
    assert memory.stats().updates == 96
    hall = q_table(memory, task, "the hall")
    assert {a: n for a, (_q, n) in hall.items()} == {"door 0": 16, "door 1": 16, "door 2": 16}
    assert q_table(memory, task, "the vault")["open it"][1] == 48
    assert abs(q_table(memory, task, "the vault")["open it"][0] - 0.5) < 1e-9
