"""The storage protocol's guarantees on real Chroma (DESIGN §6), each a regression test.

A run is learned exactly once whatever its length; a run id names one episode; the learn and
retrieve paths read by id or the vector query only, and read as much for a state with
thousands of updates as for a fresh one; `compact()` and `rebuild()` change no table.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from langchain_rememberer import Episode, InvalidInputError, RemembererMemory, Step
from tests.helpers import TASK, q_table


def _long_run(states: int, run_id: str = "r") -> Episode:
    steps = [Step(observation=f"room {i}", action="go", reward=1.0) for i in range(states)]
    return Episode(task="t", run_id=run_id, steps=steps)


def _visits(memory: RemembererMemory) -> int:
    """The visits of every state as retrieval shows them (each row's view, by a full scan)."""
    ns = memory._open(None)
    rows = [row for page in memory.store.row_pages(ns) for row in page]
    return sum(s.visits for table in memory.ledger.view(ns, rows) for s in table.values())


def test_a_run_of_501_states_learned_twice_counts_once(make_memory) -> None:
    memory = make_memory()
    episode = _long_run(501)
    first, again = memory.learn(episode), memory.learn(episode)
    assert (first.updates_written, first.states_added) == (501, 501)
    assert (again.already_learned, again.updates_written) == (True, 0)
    assert again.targets == first.targets
    assert _visits(memory) == 501
    assert memory.stats().updates == 501


def test_a_run_longer_than_a_chroma_call_is_one_run(make_memory, tmp_path) -> None:
    memory = make_memory()
    memory.store.batch_size = 7  # every write and read of this run takes several calls
    memory.learn(_long_run(40))
    assert memory.is_learned("r")
    assert memory.stats().updates == 40
    assert memory.export_jsonl(tmp_path / "log.jsonl") == 40
    other = make_memory()
    other.store.batch_size = 7
    assert other.import_jsonl(tmp_path / "log.jsonl") == 40
    assert other.import_jsonl(tmp_path / "log.jsonl") == 0  # a run is imported once
    assert other.stats().updates == 40


def test_a_run_id_names_one_episode(make_memory) -> None:
    memory = make_memory()
    memory.learn(_long_run(3))
    before = memory.stats()
    with pytest.raises(InvalidInputError, match="already learned with a different episode"):
        memory.learn(_long_run(4))
    assert memory.stats() == before
    assert memory.forget_run("r") == 3
    assert memory.learn(_long_run(4)).updates_written == 4  # forgotten: the id is free again
    assert memory.stats().updates == 4


@contextmanager
def _reads(memory: RemembererMemory) -> Iterator[list[tuple[str, str, Any]]]:
    """Record every read of the namespace's collections: (collection, method, how)."""
    ns = memory._open(None)
    calls: list[tuple[str, str, Any]] = []
    originals = {}
    for kind in ("states", "log"):
        collection = getattr(ns, kind)
        for method in ("get", "query"):
            original = getattr(collection, method)
            originals[(kind, method)] = original

            def recorded(
                *args: Any, _o: Any = original, _k: str = kind, _m: str = method, **kw: Any
            ) -> Any:
                how = (
                    "where"
                    if kw.get("where")
                    else len(kw.get("ids") or kw.get("query_embeddings") or [])
                )
                calls.append((_k, _m, how))
                return _o(*args, **kw)

            setattr(collection, method, recorded)
    try:
        yield calls
    finally:
        for (kind, method), original in originals.items():
            setattr(getattr(ns, kind), method, original)


def _hot(n: int, number: int) -> Episode:
    return Episode(
        task=TASK,
        run_id=f"hot-{number}",
        steps=[Step(observation="the help desk", action=f"answer {number % 3}", reward=1.0)]
        * (1 if n else 1),
    )


def test_learn_reads_by_id_as_much_for_a_hot_state_as_for_a_fresh_one(make_memory) -> None:
    memory = make_memory()
    for number in range(300):  # one state, 300 updates: a help desk's first question
        memory.learn(_hot(1, number))
    with _reads(memory) as hot:
        memory.learn(_hot(1, 300))
    with _reads(memory) as fresh:
        memory.learn(
            Episode(task="Other", run_id="fresh", steps=[Step(observation="new", action="a")])
        )
    assert all(how != "where" for _k, _m, how in hot + fresh)  # by id or by vector only
    assert len(hot) == len(fresh)
    # The extra ids: the run and done records of the run the last learn's intent names, and
    # its slot (the position at the row's `known`), never the state's history; the fresh state
    # reads one id the hot one does not: its eviction pointer (where it would start again).
    assert sum(how for _k, _m, how in hot) == sum(how for _k, _m, how in fresh) + 3 - 1
    assert q_table(memory, TASK, "the help desk")["answer 0"][1] == 101


def test_retrieve_reads_one_vector_query_only(make_memory) -> None:
    memory = make_memory()
    for number in range(5):
        memory.learn(_hot(1, number))
    with _reads(memory) as calls:
        (state,) = memory.retrieve(TASK, "the help desk", k=1)
    # The last learn's row names its intent: one read by id of its run's records and its slot.
    assert calls == [("states", "query", 1), ("log", "get", 3)]
    assert sum(a.visits for a in state.actions) == 5
    memory.compact()  # settles every row: a settled row needs no read
    with _reads(memory) as calls:
        (state,) = memory.retrieve(TASK, "the help desk", k=1)
    assert calls == [("states", "query", 1)]
    assert sum(a.visits for a in state.actions) == 5


def test_compact_and_rebuild_change_no_table(make_memory) -> None:
    memory = make_memory()
    for number in range(20):
        memory.learn(_long_run(5, run_id=f"run-{number}"))
    memory.forget_run("run-3")
    rooms = [f"room {i}" for i in range(5)]
    tables = {room: q_table(memory, "t", room) for room in rooms}
    assert memory.compact().states == 0  # every row is settled already
    assert memory.rebuild() == 5
    assert {room: q_table(memory, "t", room) for room in rooms} == tables
    assert _visits(memory) == 5 * 19
