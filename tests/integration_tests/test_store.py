"""Chroma storage (`_store`): collections, the add-if-absent log, rows, ids and errors.

Real Chroma (in-process `EphemeralClient`); some tests go through `RemembererMemory`, the
others drive `ChromaStore` directly.
"""

from __future__ import annotations

import dataclasses
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
from langchain_rememberer._records import Slot, Update, slot_id, stable_id
from langchain_rememberer._rows import Row
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
    ns = memory._open(None)
    for i in (0, 499, 500, 1100, 1199):  # states from every chunk were folded
        (row,) = memory.store.get_rows(ns, [stable_id(TASK, f"room number {i}")]).values()
        (table,) = memory.ledger.view(ns, [row])  # the import's slot, pending or settled
        assert {a: (s.q, s.visits) for a, s in table.items()} == {"a": (float(i % 3), 1)}


def test_a_malformed_slot_counts_nothing_and_is_named_in_a_warning(
    memory, tmp_path, caplog
) -> None:
    memory.learn(Episode(task=TASK, run_id="ok", steps=[Step(observation="kitchen", action="a")]))
    ns = memory._open(None)
    ((state_id, row),) = [(r.id, r) for page in memory.store.row_pages(ns) for r in page]
    # A slot claimed at the state's next position (past the slot the row's intent names)
    # whose document cannot be read.
    broken = slot_id(state_id, max([row.known, *(i.index + 1 for i in row.live_intents())]))
    memory.store.add_log(
        ns, [(broken, {"kind": "slot", "run_id": "poisoned", "state_id": state_id}, "{not json")]
    )
    memory.learn(Episode(task=TASK, run_id="next", steps=[Step(observation="kitchen", action="b")]))
    assert f"log record {broken} is malformed" in caplog.text
    assert memory.is_learned("next")
    assert q_table(memory, TASK, "kitchen") == {"a": (0.0, 1), "b": (0.0, 1)}
    assert memory.rebuild() == 1
    assert memory.export_jsonl(tmp_path / "x.jsonl") == 2
    assert q_table(memory, TASK, "kitchen") == {"a": (0.0, 1), "b": (0.0, 1)}


# -- ChromaStore directly -----------------------------------------------------------------------


@pytest.fixture
def store():
    made = ChromaStore(local_client(None), "tstore")
    yield made
    made.drop("ns")


def test_a_namespace_has_three_collections(store) -> None:
    store.open("ns", dim=4, task_weight=0.5)
    names = {c if isinstance(c, str) else c.name for c in store.client.list_collections()}
    assert {"tstore.ns.states", "tstore.ns.log", "tstore.ns.pending"} <= names
    assert store.exists("ns")
    store.drop("ns")
    assert not store.exists("ns")


def test_log_add_keeps_the_first_record_of_an_id(store) -> None:
    ns = store.open("ns", dim=4, task_weight=0.5)
    store.add_log(
        ns, [("run:1", {"kind": "run", "n": 1}, "first"), ("done:1", {"kind": "done"}, "d")]
    )
    store.add_log(ns, [("run:1", {"kind": "run", "n": 2}, "second")])  # same id: ignored
    assert store.get_log(ns, ["run:1", "absent"]) == {"run:1": ({"kind": "run", "n": 1}, "first")}
    assert [i for i, _m, _d in store.log_of_kind(ns, "run")] == ["run:1"]
    assert [i for i, _m, _d in store.log_of_kind(ns, "done")] == ["done:1"]
    assert store.counts(ns) == (0, 2, 0)
    store.delete_log(ns, ["run:1"])
    assert store.get_log(ns, ["run:1", "done:1"]) == {"done:1": ({"kind": "done"}, "d")}


def test_log_reads_and_writes_in_batches(store) -> None:
    store.batch_size = 7
    ns = store.open("ns", dim=4, task_weight=0.5)
    records = [(f"slot:s:{i}", {"kind": "slot", "i": i}, str(i)) for i in range(30)]
    store.add_log(ns, records)
    got = store.get_log(ns, [i for i, _m, _d in records])
    assert got == {i: (m, d) for i, m, d in records}
    assert len(store.log_of_kind(ns, "slot")) == 30


def test_rows_round_trip_with_their_tables_and_pending_slots(store) -> None:
    ns = store.open("ns", dim=4, task_weight=0.5)
    table = {"a": ActionStats(1.5, 3, 0.25), "b": ActionStats(-1.0, 1, -1.0)}
    pending = (Slot("s1", 2, "r9", (Update(0, "a", 1.0, 1.0),), nonce="n9"),)
    row = Row("s1", TASK, "kitchen", table, through=2, known=3, pending=pending, last_update=5.0)
    assert set(row.chroma()[0]) == {"start", "row"}  # two keys: each is an indexed write
    store.write_rows(ns, [row], {"s1": [0.6, 0.0, 0.8, 0.0]})
    assert store.get_rows(ns, ["s1", "absent"]) == {"s1": row}
    (hit,) = store.query_rows(ns, [0.6, 0.0, 0.8, 0.0], 1)
    assert (hit.base, hit.pending, hit.through, hit.known) == (table, pending, 2, 3)
    assert hit.similarity == pytest.approx(1.0, abs=1e-5)  # ip distance is 1 - similarity
    settled = dataclasses.replace(row, pending=(), through=3)
    store.write_rows(ns, [settled])  # in place: the vector stays
    assert store.get_rows(ns, ["s1"]) == {"s1": settled}
    assert store.query_rows(ns, [0.6, 0.0, 0.8, 0.0], 1)[0].id == "s1"
    assert [[r.id for r in page] for page in store.row_pages(ns)] == [["s1"]]
    assert store.row_count(ns) == 1
    store.delete_rows(ns, ["s1"])
    assert store.get_rows(ns, ["s1"]) == {}
    assert store.row_count(ns) == 0


def test_records_and_rows_of_the_layouts_before_packing_still_read(store) -> None:
    """Rows with a key per field, log records with their body under `body` (or as a document),
    as earlier builds wrote them, read as the packed ones; an update in place packs a row."""
    ns = store.open("ns", dim=4, task_weight=0.5)
    table = {"a": ActionStats(1.5, 3, 0.25)}
    pending = (Slot("s1", 2, "r9", (Update(0, "a", 1.0, 1.0),), nonce="n9"),)
    row = Row("s1", TASK, "kitchen", table, through=2, known=3, pending=pending, last_update=5.0)
    keys = {
        "task": TASK,
        "table": json.dumps({"a": [1.5, 3, 0.25]}),
        "visits": 3,
        "through": 2,
        "known": 3,
        "start": 0,
        "last_update": 5.0,
        "pending": json.dumps([s.entry() for s in pending]),
    }
    ns.states.add(
        ids=["s1"], embeddings=[[1.0, 0.0, 0.0, 0.0]], metadatas=[keys], documents=["kitchen"]
    )
    assert store.get_rows(ns, ["s1"]) == {"s1": row}
    settled = dataclasses.replace(row, pending=(), through=3)
    store.write_rows(ns, [settled])  # in place: the old keys stay beside the packed one
    assert store.get_rows(ns, ["s1"]) == {"s1": settled}
    slot = Slot("s1", 2, "r9", (Update(0, "a", 1.0, 1.0),), TASK, "kitchen", nonce="n9")
    meta, body = slot.chroma()
    ns.log.add(ids=[slot.id], embeddings=[[1.0]], metadatas=[{**meta, "body": body}])
    older = dataclasses.replace(slot, index=3)
    meta3, body3 = older.chroma()
    ns.log.add(ids=[older.id], embeddings=[[1.0]], metadatas=[meta3], documents=[body3])
    got = store.get_log(ns, [slot.id, older.id])
    assert Slot.from_chroma(slot.id, *got[slot.id]) == slot
    assert Slot.from_chroma(older.id, *got[older.id]) == older


def test_a_corrupt_state_table_is_a_storage_error(store) -> None:
    ns = store.open("ns", dim=4, task_weight=0.5)
    ns.states.add(
        ids=["s1"],
        embeddings=[[1.0, 0.0, 0.0, 0.0]],
        metadatas=[{"task": TASK, "table": "{not json", "visits": 1}],
        documents=["kitchen"],
    )
    with pytest.raises(StorageError, match=r"state s1 has a corrupt row.*rebuild"):
        store.get_rows(ns, ["s1"])
