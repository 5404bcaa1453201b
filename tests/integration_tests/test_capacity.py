"""`max_states` on real Chroma: the cap holds, the least useful states go, nothing is left."""

from __future__ import annotations

import pytest

from langchain_rememberer import CompactionConfig, Episode, InvalidInputError, Step
from langchain_rememberer._records import ARCHIVED
from langchain_rememberer._store import ChromaStore
from tests.helpers import TASK


def _visit(memory, room: str, run_id: str, times: int = 1) -> None:
    memory.learn(
        Episode(
            task=TASK,
            run_id=run_id,
            steps=[Step(observation=room, action="look", reward=1.0)] * times,
        )
    )


def _rooms(memory) -> set[str]:
    ns = memory.store.run(memory._open(None))
    ids = memory.store.run(memory.store.state_ids(ns))
    return {s.observation for s in memory.store.run(memory.store.get_states(ns, ids)).values()}


def _log_states(memory) -> set[str]:
    ns = memory.store.run(memory._open(None))
    return {r.state_id.removeprefix(ARCHIVED) for r in memory.store.run(memory.store.all_log(ns))}


def test_the_cap_holds_and_the_least_visited_oldest_states_go(make_memory) -> None:
    memory = make_memory(max_states=5)
    _visit(memory, "busy hall", "busy", times=3)  # visited most: stays
    for n in range(12):
        _visit(memory, f"room {n}", f"run-{n}")
        assert memory.stats().states <= 5
    # At the cap it evicts down to max_states - check_every (here 1) before the next state.
    # Ties on visits: the latest-updated rooms stay (the oldest go first).
    assert _rooms(memory) == {"busy hall", "room 9", "room 10", "room 11"}
    ns = memory.store.run(memory._open(None))
    assert _log_states(memory) == set(memory.store.run(memory.store.state_ids(ns)))
    assert memory.stats().updates == 3 + 3  # the evicted states' updates are gone with them
    assert memory.is_learned("busy")


def test_eviction_counts_rarely_and_scans_only_near_the_cap(make_memory, monkeypatch) -> None:
    memory = make_memory(max_states=100)
    calls = {"count": 0, "scan": 0}
    count, scan = ChromaStore.state_count, ChromaStore.state_ranks

    def counted(self, ns):
        calls["count"] += 1
        return (yield from count(self, ns))

    def scanned(self, ns):
        calls["scan"] += 1
        return (yield from scan(self, ns))

    monkeypatch.setattr(ChromaStore, "state_count", counted)
    monkeypatch.setattr(ChromaStore, "state_ranks", scanned)
    for n in range(150):
        _visit(memory, f"room {n}", f"run-{n}")
    assert memory.capacity.check_every == 1 * 100 // 100
    assert memory.stats().states <= 100
    assert calls["count"] == 150  # one count per check_every (1) new states: no scan
    assert 1 <= calls["scan"] <= 51  # a scan only when the next batch would pass the cap
    big = make_memory(max_states=1000)
    calls.update(count=0, scan=0)
    for n in range(60):
        _visit(big, f"room {n}", f"big-{n}")
    assert calls == {"count": 6, "scan": 0}  # every 10 new states, far below the cap


def test_evict_now_and_with_compacted_states(make_memory) -> None:
    memory = make_memory(compaction=CompactionConfig(after_updates=None))
    for n in range(6):
        _visit(memory, f"room {n}", f"run-{n}", times=n + 1)
    memory.compact(older_than=0)
    capped = make_memory(max_states=2, collection_name=memory.store.collection_name)
    capped.store = memory.store  # the same collections, now with a cap
    capped.store.batch_size = 2  # the deletes take several calls
    assert capped.evict() == 4
    assert _rooms(capped) == {"room 4", "room 5"}  # the most visited
    ns = capped.store.run(capped._open(None))
    left = capped.store.run(capped.store.all_log(ns))
    assert {r.observation for r in left} == {"room 4", "room 5"}  # snapshots and archived too


def test_bad_capacity_arguments_are_refused(make_memory) -> None:
    with pytest.raises(InvalidInputError, match="max_states"):
        make_memory(max_states=0)
    with pytest.raises(InvalidInputError, match="max_states"):
        make_memory(max_states=2.5)
    with pytest.raises(InvalidInputError, match="needs a memory with max_states"):
        make_memory().evict()
