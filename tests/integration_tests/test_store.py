"""Chroma storage (`_store`): collections, the append-only log, state records, ids and errors.

Real Chroma (in-process `EphemeralClient`); some tests go through `RemembererMemory`, the
others drive `ChromaStore` directly.
"""

from __future__ import annotations

import json

import pytest
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_rememberer import (
    EmbeddingDimensionError,
    Episode,
    InvalidInputError,
    RemembererMemory,
    Step,
    StorageError,
)
from langchain_rememberer._records import LogRecord, StateRecord, stable_id
from langchain_rememberer._store import ChromaStore, local_client
from langchain_rememberer.rlem import ActionStats
from langchain_rememberer.transfer import EXPORT_FORMAT
from tests.helpers import TASK, q_table


def test_collection_name_with_two_dots_is_rejected(embeddings) -> None:
    # Chroma refuses ".." in a collection name; the check must catch it first, clearly.
    with pytest.raises(InvalidInputError, match=r"collection_name 'a\.\.b'.*two '\.' in a row"):
        RemembererMemory(path=None, embeddings=embeddings, collection_name="a..b")


def test_other_embedding_dimension_is_rejected_before_writing(make_memory, embeddings) -> None:
    first = make_memory()
    first.learn(Episode(task=TASK, steps=[Step(observation="o", action="a")]))
    other = make_memory(
        client=first.store.client,
        collection_name=first.store.collection_name,
        embeddings=DeterministicFakeEmbedding(size=32),
    )
    # Both sizes are embedding sizes (a state vector holds two embeddings).
    message = r"written with 256-d embeddings, but the current embeddings give 32-d"
    with pytest.raises(EmbeddingDimensionError, match=message):
        other.learn(Episode(task=TASK, steps=[Step(observation="o", action="b")]))
    with pytest.raises(EmbeddingDimensionError):
        other.retrieve(TASK, "o")
    assert first.stats().updates == 1


def test_in_memory_memories_are_isolated(embeddings) -> None:
    first = RemembererMemory(path=None, embeddings=embeddings)
    second = RemembererMemory(path=None, embeddings=embeddings)
    first.learn(Episode(task=TASK, steps=[Step(observation="kitchen", action="a")]))
    assert first.stats().updates == 1
    assert second.stats().updates == 0
    assert second.retrieve(TASK, "kitchen") == []


def test_import_of_many_states_reads_the_log_in_chunks(memory, tmp_path) -> None:
    path = tmp_path / "big.jsonl"
    rows = [json.dumps({"format": EXPORT_FORMAT, "version": 1, "task_weight": 0.5})]
    for i in range(1200):  # more states than one `$in` chunk (500)
        obs = f"room number {i}"
        rows.append(json.dumps({
            "id": stable_id("update", "big", str(i)), "state_id": stable_id(TASK, obs),
            "task": TASK, "observation": obs, "action": "a", "target": float(i % 3),
            "reward": 0.0, "run_id": "big", "step": i, "created_at": 1.0,
        }))  # fmt: skip
    path.write_text("\n".join(rows) + "\n")
    assert memory.import_jsonl(path) == 1200
    assert memory.stats().states == 1200
    ns = memory.store.run(memory._open(None))
    for i in (0, 499, 500, 1100, 1199):  # states from every chunk were folded
        (state,) = memory.store.run(
            memory.store.get_states(ns, [stable_id(TASK, f"room number {i}")])
        ).values()
        assert {a: (s.q, s.visits) for a, s in state.table.items()} == {"a": (float(i % 3), 1)}


def test_malformed_stored_record_is_a_storage_error(memory, tmp_path) -> None:
    memory.learn(Episode(task=TASK, run_id="ok", steps=[Step(observation="kitchen", action="a")]))
    ns = memory.store.run(memory._open(None))
    (state_id,) = memory.store.run(memory.store.state_ids(ns))
    # A record as Chroma leaves it after silently dropping a non-finite `target`.
    memory.store.driver.handle(ns.log).add(
        ids=["broken"],
        embeddings=[[1.0]],
        metadatas=[
            {
                "state_id": state_id,
                "task": TASK,
                "action": "a",
                "reward": 0.0,
                "run_id": "poisoned",
                "step": 0,
                "created_at": 2.0,
            }
        ],
        documents=["kitchen"],
    )
    with pytest.raises(StorageError, match=r"log record broken .*forget_run\('poisoned'\)"):
        memory.export_jsonl(tmp_path / "x.jsonl")
    with pytest.raises(StorageError, match="malformed"):
        memory.learn(
            Episode(task=TASK, run_id="next", steps=[Step(observation="kitchen", action="b")])
        )
    assert not memory.is_learned("next")  # rolled back
    # The advice in the message works: the run's records go, the state is re-folded.
    assert memory.forget_run("poisoned") == 1
    assert memory.export_jsonl(tmp_path / "x.jsonl") == 1
    assert q_table(memory, TASK, "kitchen") == {"a": (0.0, 1)}


# -- ChromaStore directly -----------------------------------------------------------------------


@pytest.fixture
def store():
    made = ChromaStore(local_client(None), "tstore")
    yield made
    made.run(made.drop("ns"))


def _record(step: int, *, target: float, state: str = "s1", run: str = "r1") -> LogRecord:
    return LogRecord(
        id=stable_id("update", run, str(step)),
        state_id=state,
        task=TASK,
        observation="kitchen",
        action="a",
        target=target,
        reward=0.5,
        run_id=run,
        step=step,
        created_at=10.0,
        answer="",
    )


def test_a_namespace_has_three_collections(store) -> None:
    store.run(store.open("ns", dim=4, task_weight=0.5))
    names = {c if isinstance(c, str) else c.name for c in store.client.list_collections()}
    assert {"tstore.ns.states", "tstore.ns.log", "tstore.ns.pending"} <= names
    assert store.run(store.exists("ns"))
    store.run(store.drop("ns"))
    assert not store.run(store.exists("ns"))


def test_log_append_keeps_the_first_record_of_an_id(store) -> None:
    ns = store.run(store.open("ns", dim=4, task_weight=0.5))
    store.run(store.append_log(ns, [_record(1, target=2.0), _record(0, target=1.0)]))
    store.run(store.append_log(ns, [_record(0, target=99.0)]))  # same id: ignored
    got = store.run(store.read_log(ns, state_ids=["s1"]))
    assert [(r.step, r.target) for r in got] == [(0, 1.0), (1, 2.0)]  # fold order
    assert store.run(store.read_log(ns, run_id="r1")) == got
    assert store.run(store.log_ids_present(ns, [got[0].id, "absent"])) == {got[0].id}
    assert sorted(store.run(store.all_log(ns)), key=lambda r: r.order) == got


def test_state_records_round_trip_with_their_tables(store) -> None:
    ns = store.run(store.open("ns", dim=4, task_weight=0.5))
    table = {"a": ActionStats(1.5, 3, 0.25), "b": ActionStats(-1.0, 1, -1.0)}
    state = StateRecord("s1", TASK, "kitchen", table)
    assert state.metadata()["visits"] == 4
    store.run(store.write_states(ns, [state], [[0.6, 0.0, 0.8, 0.0]]))
    assert store.run(store.get_states(ns, ["s1", "absent"])) == {"s1": state}
    ((hit,),) = store.run(store.query_states(ns, [[0.6, 0.0, 0.8, 0.0]], n_results=1))
    assert hit.table == table
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)  # ip distance is 1 - similarity
    assert store.run(store.state_ids(ns)) == ["s1"]
    store.run(store.delete_states(ns, ["s1"]))
    assert store.run(store.get_states(ns, ["s1"])) == {}


def test_a_corrupt_state_table_is_a_storage_error(store) -> None:
    ns = store.run(store.open("ns", dim=4, task_weight=0.5))
    store.driver.handle(ns.states).add(
        ids=["s1"],
        embeddings=[[1.0, 0.0, 0.0, 0.0]],
        metadatas=[{"task": TASK, "table": "{not json", "visits": 1}],
        documents=["kitchen"],
    )
    with pytest.raises(StorageError, match=r"state s1 has a corrupt action table.*rebuild"):
        store.run(store.get_states(ns, ["s1"]))
