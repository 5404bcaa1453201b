"""`max_states` on real Chroma: the cap holds, the least useful states go, and count nothing."""

from __future__ import annotations

import pytest

from langchain_rememberer import Episode, InvalidInputError, Step
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
    ns = memory._open(None)
    return {row.key for page in memory.store.row_pages(ns) for row in page}


def _log_states(memory) -> set[str]:
    """The states the log holds slots of."""
    ns = memory._open(None)
    return {meta["state_id"] for _i, meta, _d in memory.store.log_of_kind(ns, "slot")}


def test_the_cap_holds_and_the_least_visited_oldest_states_go(make_memory) -> None:
    memory = make_memory(max_states=5)
    _visit(memory, "busy hall", "busy", times=3)  # visited most: stays
    for n in range(12):
        _visit(memory, f"room {n}", f"run-{n}")
        assert memory.stats().states <= 5
    # At the cap it evicts down to max_states - check_every (here 1) before the next state.
    # Ties on visits: the latest-updated rooms stay (the oldest go first).
    assert _rooms(memory) == {"busy hall", "room 9", "room 10", "room 11"}
    ns = memory._open(None)
    live = {row.id for page in memory.store.row_pages(ns) for row in page}
    assert live < _log_states(memory)  # the evicted states' slots stay in the log...
    assert memory.stats().updates == 3 + 3  # ...and count nothing: their rows are gone
    assert memory.is_learned("busy")


def test_eviction_counts_rarely_and_scans_only_near_the_cap(make_memory, monkeypatch) -> None:
    memory = make_memory(max_states=100)
    calls = {"count": 0, "scan": 0}
    count, scan = ChromaStore.row_count, ChromaStore.row_pages

    def counted(self, ns):
        calls["count"] += 1
        return count(self, ns)

    def scanned(self, ns):
        calls["scan"] += 1
        return scan(self, ns)

    monkeypatch.setattr(ChromaStore, "row_count", counted)
    monkeypatch.setattr(ChromaStore, "row_pages", scanned)
    for n in range(150):
        _visit(memory, f"room {n}", f"run-{n}")
    assert memory.capacity.check_every == 1 * 100 // 100
    scans = calls["scan"]
    assert memory.stats().states <= 100
    calls["scan"] = scans  # stats() scans the rows on its own
    assert calls["count"] == 150  # one count per check_every (1) new states: no scan
    assert 1 <= calls["scan"] <= 51  # a scan only when the next batch would pass the cap
    big = make_memory(max_states=1000)
    calls.update(count=0, scan=0)
    for n in range(60):
        _visit(big, f"room {n}", f"big-{n}")
    assert calls == {"count": 6, "scan": 0}  # every 10 new states, far below the cap


def test_evict_now_deletes_the_rows_and_the_slots_left_count_nothing(make_memory, tmp_path) -> None:
    memory = make_memory()
    for n in range(6):
        _visit(memory, f"room {n}", f"run-{n}", times=n + 1)
    for n in range(6):  # a second run on each room: two slots per state
        _visit(memory, f"room {n}", f"again-{n}")
    capped = make_memory(max_states=2, collection_name=memory.store.collection_name)
    capped.store = memory.store  # the same collections, now with a cap
    capped.store.batch_size = 2  # the deletes take several calls
    assert capped.evict() == 4
    assert _rooms(capped) == {"room 4", "room 5"}  # the most visited
    ns = capped._open(None)
    # Slots stay (a run's tentative done record is judged by the slots it names, DESIGN §6),
    # and count nothing: below their state's eviction marker, and without a row.
    left = capped.store.log_of_kind(ns, "slot")
    assert len(left) == 12
    assert capped.is_learned("run-0")  # the run stays learned; its state is gone
    assert capped.stats().updates == 5 + 1 + 6 + 1
    exported = capped.export_jsonl(tmp_path / "out.jsonl")
    assert exported == 5 + 1 + 6 + 1  # the evicted states' slots are not exported


def test_bad_capacity_arguments_are_refused(make_memory) -> None:
    with pytest.raises(InvalidInputError, match="max_states"):
        make_memory(max_states=0)
    with pytest.raises(InvalidInputError, match="max_states"):
        make_memory(max_states=2.5)
    with pytest.raises(InvalidInputError, match="needs a memory with max_states"):
        make_memory().evict()
