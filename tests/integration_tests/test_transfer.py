"""Moving memories in and out (`transfer`): the JSON-lines export of the update log and the
log records a reference pool becomes. Real Chroma, real WordLlama embeddings.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from langchain_rememberer import Episode, InvalidInputError, Step, transfer
from langchain_rememberer._records import Slot, slot_id
from langchain_rememberer.rlem import fold_table
from langchain_rememberer.transfer import (
    EXPORT_FORMAT,
    export_records,
    read_export,
    reference_pool_records,
    write_export,
)
from tests.helpers import TASK, two_step_episode


def test_export_import_round_trip_loses_nothing(memory, tmp_path) -> None:
    for i in range(5):
        memory.learn(
            Episode(
                task=TASK,
                steps=[
                    Step(observation=f"room {i % 3}", action=f"a{i % 2}", reward=float(i)),
                    Step(observation="end", action="stop"),
                ],
            )
        )
    path = tmp_path / "memory.jsonl"
    assert memory.export_jsonl(path) == 10
    assert memory.import_jsonl(path, namespace="copy") == 10
    assert memory.import_jsonl(path, namespace="copy") == 0  # idempotent: nothing new
    for ns in ("default", "copy"):
        assert memory.stats(namespace=ns).updates == 10
    original = sorted((s.observation, s.actions) for s in memory.retrieve(TASK, "room 1", k=10))
    copy = sorted(
        (s.observation, s.actions) for s in memory.retrieve(TASK, "room 1", k=10, namespace="copy")
    )
    assert copy == original
    second = tmp_path / "again.jsonl"
    memory.export_jsonl(second, namespace="copy")
    assert second.read_text() == path.read_text()


BREAKS = "\u2028 \u2029 \x85"
"""Line breaks to `str.splitlines()` that `json.dumps(ensure_ascii=False)` leaves raw."""


def test_text_with_unicode_line_breaks_round_trips(memory, tmp_path) -> None:
    memory.learn(
        Episode(
            task=f"task {BREAKS}",
            run_id="r",
            steps=[
                Step(observation=f"room {BREAKS}", action=f"go {BREAKS}", reward=1.0),
                Step(observation="end", action="final_answer", answer=f"done {BREAKS}"),
            ],
        )
    )
    path = tmp_path / "breaks.jsonl"
    assert memory.export_jsonl(path) == 2
    assert len(path.read_bytes().split(b"\n")) == 4  # header, 2 records, the final newline
    assert [r.action for r in read_export(path)] == [f"go {BREAKS}", "final_answer"]
    assert memory.import_jsonl(path, namespace="copy") == 2
    again = tmp_path / "again.jsonl"
    memory.export_jsonl(again, namespace="copy")
    assert again.read_text(encoding="utf-8") == path.read_text(encoding="utf-8")


def test_an_export_holding_raw_unicode_line_breaks_is_read(memory, tmp_path) -> None:
    """What earlier versions wrote: U+2028 and kin raw inside a JSON string."""
    memory.learn(two_step_episode("r1"))
    path = tmp_path / "raw.jsonl"
    memory.export_jsonl(path)
    header, *rows = (json.loads(line) for line in path.read_text(encoding="utf-8").split("\n")[:-1])
    lines = [json.dumps(header)]
    lines += [json.dumps({**r, "action": r["action"] + BREAKS}, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert "\u2028" in path.read_text(encoding="utf-8")
    assert [r.action for r in read_export(path)] == [f"a{BREAKS}", f"b{BREAKS}"]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("missing.jsonl", "no such file"),
        (".", "it is a directory, not a file"),
        ("no-folder/x.jsonl", "the folder .*no-folder does not exist"),
    ],
)
def test_a_path_that_cannot_be_read_is_an_invalid_input(memory, tmp_path, where, reason) -> None:
    path = tmp_path / where
    with pytest.raises(InvalidInputError, match=rf"cannot read .*: {reason}; nothing was imported"):
        memory.import_jsonl(path)


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        (".", "it is a directory, not a file"),
        ("no-folder/x.jsonl", "the folder .*no-folder does not exist"),
    ],
)
def test_a_path_that_cannot_be_written_is_an_invalid_input(memory, tmp_path, where, reason) -> None:
    memory.learn(two_step_episode("r1"))
    with pytest.raises(InvalidInputError, match=rf"cannot write the export to .*: {reason}"):
        memory.export_jsonl(tmp_path / where)
    assert not (tmp_path / "no-folder").exists()


def test_import_rejects_foreign_file(memory, tmp_path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    with pytest.raises(InvalidInputError, match="not a langchain-rememberer export"):
        memory.import_jsonl(path)


@pytest.mark.parametrize(
    ("field", "value"),
    [("created_at", math.inf), ("target", -math.inf), ("reward", math.nan), ("target", "1.0")],
)
def test_import_rejects_non_finite_numbers(memory, tmp_path, field, value) -> None:
    good = {
        "id": "u1", "state_id": "s1", "task": TASK, "observation": "kitchen", "action": "a",
        "target": 1.0, "reward": 0.0, "run_id": "r", "step": 0, "created_at": 1.0,
    }  # fmt: skip
    bad = {**good, "id": "u2", "step": 1, field: value}
    path = tmp_path / "bad.jsonl"
    header = {"format": EXPORT_FORMAT, "version": 1, "task_weight": 0.5}
    path.write_text("\n".join(json.dumps(x) for x in (header, good, bad)) + "\n")
    with pytest.raises(InvalidInputError, match=rf"line 3: .*'u2'.*{field} must be a finite"):
        memory.import_jsonl(path)
    assert memory.stats().updates == 0  # not even the good record


POOL = Path(__file__).resolve().parents[1] / "fixtures" / "reference_pools" / "init_pool.q.yaml"


def test_write_then_read_export_is_the_identity(memory, tmp_path) -> None:
    memory.learn(two_step_episode("r1"))
    records = export_records(memory, memory._open(None))
    path = tmp_path / "log.jsonl"
    assert write_export(path, list(reversed(records)), task_weight=0.25) == 2
    header = json.loads(path.read_text().splitlines()[0])
    assert header == {"format": EXPORT_FORMAT, "version": 1, "task_weight": 0.25}
    assert read_export(path) == records  # written in fold order, read back field for field


def test_export_record_without_a_field_names_it(tmp_path) -> None:
    path = tmp_path / "short.jsonl"
    header = {"format": EXPORT_FORMAT, "version": 1, "task_weight": 0.5}
    path.write_text(json.dumps(header) + "\n" + json.dumps({"id": "u1"}) + "\n")
    with pytest.raises(InvalidInputError, match=r"line 2: the record has no 'state_id' field"):
        read_export(path)


def test_reference_pool_records_fold_to_the_pool_values() -> None:
    records = reference_pool_records(POOL, task_key=str.strip, observation_key=str.strip)
    assert len(records) == 7  # one record per visit
    assert len({r.id for r in records}) == 7
    assert len({r.run_id for r in records}) == 1
    again = reference_pool_records(POOL, task_key=str.strip, observation_key=str.strip)
    assert [r.id for r in again] == [r.id for r in records]  # content-hashed: re-import is a no-op
    tables: dict[str, dict] = {}
    for r in records:
        tables.setdefault(r.state_id, []).append((r.action, r.target, r.reward))
    folded = [fold_table(updates) for updates in tables.values()]
    values = sorted((a, s.q, s.visits) for table in folded for a, s in table.items())
    assert values == [
        ("CLICK(0)", -0.5, 1),
        ("CLICK(1)", 0.75, 2),
        ("CLICK(2)", 0.0, 1),
        ("INPUT(1, fold a paper crane)", 1.5, 3),
    ]


def _export_line(run_id: str, step: int, observation: str, **extra) -> dict:
    return {
        "id": f"u-{run_id}-{step}", "state_id": "ignored", "task": TASK,
        "observation": observation, "action": "a", "target": 1.0, "reward": 1.0,
        "run_id": run_id, "step": step, "created_at": 1.0, **extra,
    }  # fmt: skip


def _write_lines(path: Path, lines: list[dict]) -> Path:
    header = {"format": EXPORT_FORMAT, "version": 1, "task_weight": 0.5}
    path.write_text("\n".join(json.dumps(x) for x in (header, *lines)) + "\n")
    return path


def test_import_is_idempotent_per_run_not_per_record(memory, tmp_path) -> None:
    memory.learn(two_step_episode("r1"))
    exported = tmp_path / "r1.jsonl"
    assert memory.export_jsonl(exported) == 2
    assert memory.import_jsonl(exported) == 0  # the run is learned here already
    # The same run under other record ids is still that run: skipped, whole.
    renamed = _write_lines(
        tmp_path / "renamed.jsonl",
        [_export_line("r1", 0, "kitchen", id="other-0"), _export_line("r2", 0, "attic")],
    )
    assert memory.import_jsonl(renamed) == 1  # only r2 is new
    assert memory.is_learned("r2")
    assert memory.stats().updates == 3
    assert memory.import_jsonl(renamed) == 0


def test_a_file_holding_a_step_of_a_run_twice_imports_nothing(memory, tmp_path) -> None:
    path = _write_lines(
        tmp_path / "twice.jsonl",
        [
            _export_line("ok", 0, "hall"),
            _export_line("dup", 0, "kitchen"),
            _export_line("dup", 0, "attic", id="u-dup-again"),
        ],
    )
    with pytest.raises(InvalidInputError, match=r"step 0 of run 'dup' twice"):
        memory.import_jsonl(path)
    assert memory.stats().updates == 0  # not even the good run
    assert not memory.is_learned("ok")


# -- an export's reads -------------------------------------------------------------------------


def _per_run_export(memory, ns) -> list:
    """The export as it read before batching: per run, a read of its slots and one of its rows."""
    records = []
    dones = memory.store.log_of_kind(ns, "done")
    status = memory.ledger.status(ns, [meta["run_id"] for _i, meta, _d in dones])
    for run_id, done in status.dones.items():
        if not status.learned(run_id):
            continue
        got = memory.store.get_log(ns, [slot_id(s, i) for s, i in done.slots])
        rows = memory.store.get_rows(ns, [s for s, _i in done.slots])
        for record_id, (meta, doc) in got.items():
            slot = Slot.from_chroma(record_id, meta, doc)
            if slot.run_id == run_id and slot.nonce == status.runs[run_id].nonce:
                row = rows.get(slot.state_id)  # none: evicted; a slot below its start: dead
                live = row is not None and slot.index >= row.start
                records += slot.log_records(status.runs[run_id]) if live else []
    return sorted(records, key=lambda r: r.order)


def _counting(ns) -> list[str]:
    """Record every call on the namespace's states and log collections."""
    calls: list[str] = []
    for kind in ("states", "log"):
        collection = getattr(ns, kind)
        for method in ("get", "add", "upsert", "update", "query", "delete", "count"):
            original = getattr(collection, method)

            def counted(*args, _o=original, _n=f"{kind}.{method}", **kwargs):
                calls.append(_n)
                return _o(*args, **kwargs)

            setattr(collection, method, counted)
    return calls


def _learn_one_step_runs(memory, runs: int, rooms: int) -> None:
    for n in range(runs):
        step = Step(observation=f"room {n % rooms}", action=f"a{n % 2}", reward=float(n % 3))
        memory.learn(Episode(task=TASK, run_id=f"run-{n:03d}", steps=[step]))


def test_an_export_reads_per_chunk_of_runs_not_per_run(memory, tmp_path, monkeypatch) -> None:
    _learn_one_step_runs(memory, 300, rooms=9)
    ns = memory._open(None)
    before = tmp_path / "before.jsonl"
    assert write_export(before, _per_run_export(memory, ns), task_weight=ns.task_weight) == 300
    monkeypatch.setattr(transfer, "_CHUNK", 100)
    calls = _counting(ns)
    after = tmp_path / "after.jsonl"
    assert memory.export_jsonl(after) == 300
    # The listing of done records, then per chunk of 100 runs three reads: their run and done
    # records, their slots, their rows. It was two reads a run (600 more).
    assert len(calls) <= 1 + 3 * 3, calls
    assert after.read_bytes() == before.read_bytes()


def test_a_batched_export_skips_what_a_run_by_run_export_skipped(make_memory, monkeypatch) -> None:
    # Evictions (9 rooms, room for 6) leave done records listing slots of evicted positions
    # (kept, counting nothing); chunks of 7 runs split them across reads.
    memory = make_memory(max_states=6)
    _learn_one_step_runs(memory, 60, rooms=9)
    ns = memory._open(None)
    kept = _per_run_export(memory, ns)
    assert 0 < len(kept) < 60  # evicted states' updates are left out
    # An eviction killed after deleting a row, before its slots: those slots are skipped.
    memory.store.delete_rows(ns, [kept[0].state_id])
    expected = _per_run_export(memory, ns)
    assert 0 < len(expected) < len(kept)
    monkeypatch.setattr(transfer, "_CHUNK", 7)
    assert export_records(memory, ns) == expected
