"""`compact()` on real Chroma: same Q and N, short reads, and nothing a user relies on breaks.

Re-learning a run, `forget_run`, `is_learned`, export and import keep working for compacted
runs; automatic compaction after `learn`; and writers learning on a real `chroma run` server
while compaction runs over and over: visit counts still sum exactly.
"""

from __future__ import annotations

import json
import threading

import pytest

from langchain_rememberer import (
    CompactionConfig,
    Episode,
    InvalidInputError,
    RemembererMemory,
    Step,
)
from langchain_rememberer._records import ARCHIVED
from tests.helpers import TASK, q_table, twin

ROOMS = ["kitchen", "pantry", "hallway"]
NEVER = CompactionConfig(after_updates=None)


def _episode(n: int, *, won: bool | None = None) -> Episode:
    """Every run walks the same three rooms; every third one fails."""
    won = n % 3 != 0 if won is None else won
    return Episode(
        task=TASK,
        run_id=f"run-{n}",
        steps=[
            Step(observation=ROOMS[0], action="go east" if n % 2 else "go west"),
            Step(observation=ROOMS[1], action="open door"),
            Step(observation=ROOMS[2], action="take coin", reward=1.0 if won else -1.0),
        ],
    )


def _tables(memory: RemembererMemory) -> dict[str, dict[str, tuple[float, int]]]:
    return {room: q_table(memory, TASK, room) for room in ROOMS}


def _reads(memory: RemembererMemory, room: str) -> int:
    """How many records a `learn` touching this room's state reads."""
    (state,) = memory.retrieve(TASK, room, k=1)
    ns = memory.store.run(memory._open(None))
    return len(memory.store.run(memory.store.read_log(ns, state_ids=[state.id])))


@pytest.fixture
def learned(make_memory) -> RemembererMemory:
    memory = make_memory(compaction=NEVER)
    for n in range(30):
        memory.learn(_episode(n))
    return memory


def test_compaction_keeps_every_q_and_n_and_shortens_the_reads(learned, make_memory) -> None:
    before, stats = _tables(learned), learned.stats()
    assert _reads(learned, "kitchen") == 30
    report = learned.compact(older_than=0)
    assert (report.states, report.updates_archived) == (3, 90)
    assert report.snapshots == 4  # go east, go west; open door; take coin
    assert _tables(learned) == before  # exactly: the same floats
    assert learned.stats() == stats  # snapshots are not updates
    assert _reads(learned, "kitchen") == 2  # one snapshot per action, nothing else
    # Learning on goes on from the snapshots exactly as from the whole log.
    plain = make_memory(compaction=NEVER)
    for n in range(30):
        plain.learn(_episode(n))
    for n in range(30, 36):
        learned.learn(_episode(n))
        plain.learn(_episode(n))
    assert _tables(learned) == _tables(plain)
    assert learned.compact(older_than=0).updates_archived == 18
    assert _tables(learned) == _tables(plain)
    assert learned.compact(older_than=0).states == 0  # nothing new to fold


def test_compacted_runs_are_still_learned_once_and_named_by_one_episode(learned) -> None:
    learned.compact(older_than=0)
    before = _tables(learned)
    assert learned.is_learned("run-4")
    report = learned.learn(_episode(4))
    assert report.already_learned
    assert report.updates_written == 0
    assert _tables(learned) == before
    with pytest.raises(InvalidInputError, match="different episode"):
        learned.learn(_episode(4, won=False))


def test_forget_run_undoes_a_compacted_run(learned, make_memory) -> None:
    learned.compact(older_than=0)
    assert learned.forget_run("run-4") == 3
    assert not learned.is_learned("run-4")
    without = make_memory(compaction=NEVER)
    for n in range(30):
        if n != 4:
            without.learn(_episode(n))
    assert _tables(learned) == _tables(without)
    ns = learned.store.run(learned._open(None))
    left = learned.store.run(learned.store.all_log(ns))
    assert not any(r.is_snapshot or r.is_archived for r in left)  # its states were unfolded
    assert learned.compact(older_than=0).states == 3  # and compact again


def test_export_after_compaction_is_the_whole_log_and_imports_back(learned, make_memory, tmp_path):
    learned.export_jsonl(tmp_path / "before.jsonl")
    learned.compact(older_than=0)
    assert learned.export_jsonl(tmp_path / "after.jsonl") == 90
    lines = [json.loads(x) for x in (tmp_path / "after.jsonl").read_text().splitlines()]
    assert not any(str(x.get("state_id", "")).startswith(ARCHIVED) for x in lines)
    assert sorted((tmp_path / "after.jsonl").read_text().splitlines()) == sorted(
        (tmp_path / "before.jsonl").read_text().splitlines()
    )
    copy = make_memory(compaction=NEVER)
    assert copy.import_jsonl(tmp_path / "after.jsonl") == 90
    assert _tables(copy) == _tables(learned)


def test_importing_older_updates_into_a_compacted_state_counts_them(learned, make_memory, tmp_path):
    older = make_memory(compaction=NEVER)
    for n in range(100, 106):
        older.learn(_episode(n))
    older.export_jsonl(tmp_path / "older.jsonl")
    learned.compact(older_than=0)  # its cutoff is after the older memory's updates
    assert learned.import_jsonl(tmp_path / "older.jsonl") == 18
    both = make_memory(compaction=NEVER)
    both.import_jsonl(tmp_path / "older.jsonl")
    for n in range(30):
        both.learn(_episode(n))
    visits = {room: sum(n for _q, n in table.values()) for room, table in _tables(learned).items()}
    assert visits == dict.fromkeys(ROOMS, 36)
    for room, table in _tables(both).items():
        assert {a: pytest.approx(qn) for a, qn in table.items()} == _tables(learned)[room]


def test_learn_compacts_a_busy_state_on_its_own(make_memory) -> None:
    busy = make_memory(compaction=CompactionConfig(after_updates=10, older_than=0))
    plain = make_memory(compaction=NEVER)
    for n in range(25):
        busy.learn(_episode(n))
        plain.learn(_episode(n))
    assert _tables(busy) == _tables(plain)
    assert _reads(busy, "kitchen") < 10 + 2  # compacted at 10 updates, 5 and 10 more since
    assert busy.stats().updates == plain.stats().updates == 75


def test_bad_arguments_are_refused(learned) -> None:
    with pytest.raises(InvalidInputError, match="older_than"):
        learned.compact(older_than=-1)
    with pytest.raises(InvalidInputError, match="min_updates"):
        learned.compact(min_updates=0)
    with pytest.raises(InvalidInputError, match="after_updates"):
        CompactionConfig(after_updates=1)
    assert learned.compact().states == 0  # by default only updates older than 10 minutes


def test_writers_during_compaction_on_a_server_keep_visit_counts_exact(
    chroma_server, embeddings, make_memory, tmp_path
) -> None:
    client = chroma_server.client()
    writers, episodes = 3, 12
    memory = RemembererMemory(
        client=client, embeddings=embeddings, collection_name="compaction", compaction=NEVER
    )
    for n in range(20):  # old enough to compact as soon as the writers start
        memory.learn(_episode(1000 + n))
    done = threading.Event()
    archived: list[int] = []
    errors: list[BaseException] = []

    def write(w: int) -> None:
        mine = twin(memory, embeddings)
        try:
            for e in range(episodes):
                mine.learn(_episode(w * 100 + e))
        except BaseException as e:
            errors.append(e)

    def compact_until_done() -> None:
        mine = twin(memory, embeddings)
        try:
            while not done.is_set():
                archived.append(mine.compact(older_than=0.5).updates_archived)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    compactor = threading.Thread(target=compact_until_done)
    compactor.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    compactor.join()
    assert errors == []
    assert sum(archived) > 0  # compaction really ran beside the writers
    runs = 20 + writers * episodes
    for room in ROOMS:
        assert sum(n for _q, n in q_table(memory, TASK, room).values()) == runs
    tables = _tables(memory)
    memory.compact(older_than=0)
    assert _tables(memory) == tables
    assert memory.stats().updates == 3 * runs
    # The tables are those of folding the whole log afresh (an export, imported elsewhere).
    assert memory.export_jsonl(tmp_path / "all.jsonl") == 3 * runs
    fresh = make_memory(compaction=NEVER, rlem=memory.rlem)
    fresh.import_jsonl(tmp_path / "all.jsonl")
    for room, table in _tables(fresh).items():
        assert {a: pytest.approx(qn) for a, qn in table.items()} == tables[room]
