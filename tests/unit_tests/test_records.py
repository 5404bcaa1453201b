"""The log's records and the pure rules that fold them (DESIGN §6): round trips, verdicts,
views, settling, refolding, and candidate ranking."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_rememberer import RLEMConfig, StorageError
from langchain_rememberer._records import (
    Done,
    PlannedStep,
    RunRecord,
    Slot,
    Update,
    stable_id,
)
from langchain_rememberer._rows import Row, rank, ties
from langchain_rememberer._rows import Status
from langchain_rememberer.rlem import ActionStats, fold_table

MEAN = RLEMConfig()


def _slot(index: int, run: str, target: float = 1.0, *, nonce: str = "n", state: str = "s") -> Slot:
    return Slot(state, index, run, (Update(0, "go", target, 0.0),), "t", "k", nonce=nonce)


def _run(run: str, nonce: str = "n") -> RunRecord:
    return RunRecord(run, nonce, "fp", "t", (PlannedStep("s", "k", Update(0, "go", 1.0, 0.0)),))


def _status(*committed: tuple[str, tuple[int, ...]], prepared: tuple[str, ...] = ()) -> Status:
    runs = {r: _run(r) for r, _ in committed} | {r: _run(r) for r in prepared}
    dones = {r: Done(r, "n", tuple(("s", i) for i in slots)) for r, slots in committed}
    return Status(runs, dones)


def test_stable_id_hashes_parts_unambiguously() -> None:
    assert stable_id("a b", "c") != stable_id("a", "b c")
    assert stable_id("a", "b") == stable_id("a", "b")
    assert len(stable_id("x")) == 32
    assert int(stable_id("x"), 16) >= 0  # hex digits only


def test_records_round_trip_through_chroma_metadata_and_documents() -> None:
    slot = Slot("s", 3, "r", (Update(2, "final_answer", 1.5, 1.0, "25 days"),), "t", "k", nonce="x")
    assert Slot.from_chroma(slot.id, *slot.chroma()) == slot
    marker = Slot("s", 4, "r", forget=True, nonce="y")
    assert Slot.from_chroma(marker.id, *marker.chroma()) == marker
    run = RunRecord("r", "x", "fp", "t", (PlannedStep("s", "k", Update(0, "go", 0.5, 0.0), "t2"),))
    assert RunRecord.from_chroma("run:1", *run.chroma()) == run
    done = Done("r", "x", (("s", 3),))
    assert Done.from_chroma("done:1", *done.chroma()) == done
    tentative = Done("r", "x", (("s", 3), ("u", 0)), "by-1", tentative=True)
    assert Done.from_chroma("done:1", *tentative.chroma()) == tentative
    kept = Slot("s", 3, "r", slot.updates, nonce="x")  # a row keeps no task and key per slot
    row = Row("s", "t", "k", {"go": ActionStats(0.5, 2, 0.0, "", 0.0)}, 1, 4, (kept,), 7.0)
    back = Row.from_chroma("s", *row.chroma(), distance=0.25)
    assert back == Row(**{**row.__dict__, "similarity": 0.75})


def test_a_malformed_record_is_a_storage_error_naming_it() -> None:
    with pytest.raises(StorageError, match=r"log record slot:s:1 is malformed.*forget_run"):
        Slot.from_chroma("slot:s:1", {"state_id": "s"}, "{not json")
    with pytest.raises(StorageError, match="state s has a corrupt row.*rebuild"):
        Row.from_chroma("s", {"task": "t", "table": "[1"}, "k")


def test_a_tentative_done_counts_only_when_every_slot_it_names_is_its_runs() -> None:
    run = RunRecord(
        "r",
        "n",
        "fp",
        "t",
        (
            PlannedStep("s", "k", Update(0, "go", 1.0, 0.0)),
            PlannedStep("u", "k2", Update(1, "go", 1.0, 0.0)),
        ),
    )
    done = Done("r", "n", (("s", 3), ("u", 0)), "by-1", tentative=True)
    unread = Status({"r": run}, {"r": done})
    assert unread.to_check() == ["slot:s:3", "slot:u:0"]
    assert not unread.learned("r")  # not judged before its slots are read
    assert not unread.void("r")
    won = Status({"r": run}, {"r": done}, held={"slot:s:3": ("r", "n"), "slot:u:0": ("r", "n")})
    assert won.to_check() == []
    assert won.learned("r")
    assert won.verdict(_slot(3, "r")) == "valid"
    assert not won.void("r")
    lost = Status({"r": run}, {"r": done}, held={"slot:s:3": ("r", "n"), "slot:u:0": ("w", "m")})
    assert not lost.learned("r")  # one claim lost: void, for good
    assert lost.void("r")
    assert lost.verdict(_slot(3, "r")) == "undecided"  # its run goes the long way, or is helped
    gone = Status({"r": run}, {"r": done}, held={"slot:s:3": ("r", "n"), "slot:u:0": None})
    assert not gone.learned("r")
    assert gone.void("r")  # a named slot absent: never counts either
    stale = Status({"r": _run("r", nonce="other")}, {"r": done})
    assert stale.to_check() == []  # another attempt's run record: nothing to judge
    assert not stale.void("r")  # stale, not void: deleted by its nonce (`_add_done`)


def test_a_run_is_learned_only_with_its_own_done_record() -> None:
    status = Status({"r": _run("r", nonce="new")}, {"r": Done("r", "old", (("s", 0),))})
    assert not status.learned("r")  # a done record of an earlier, forgotten incarnation
    assert status.verdict(_slot(0, "r", nonce="new")) == "undecided"
    assert Status().verdict(_slot(0, "r")) == "invalid"  # never prepared, or forgotten
    both = _status(("r", (0,)))
    assert both.learned("r")
    assert both.verdict(_slot(0, "r")) == "valid"
    assert both.verdict(_slot(1, "r")) == "invalid"  # a second claim of the same run: not listed
    assert both.verdict(Slot("s", 2, "r", forget=True)) == "marker"


def test_view_shows_valid_slots_only_and_settle_stops_at_an_undecided_one() -> None:
    pending = (_slot(0, "a", 1.0), _slot(1, "b", 3.0), _slot(2, "c", 5.0), _slot(3, "a", 9.0))
    row = Row("s", "t", "k", known=4, pending=pending)
    status = _status(("a", (0,)), ("c", (2,)), prepared=("b",))
    assert row.view(status, MEAN) == fold_table([("go", 1.0, 0.0), ("go", 5.0, 0.0)])
    settled = row.settle(status, MEAN)
    assert (settled.through, [s.index for s in settled.pending]) == (1, [1, 2, 3])
    assert settled.view(status, MEAN) == row.view(status, MEAN)  # settling changes no view
    done = _status(("a", (0,)), ("b", (1,)), ("c", (2,)))
    final = settled.settle(done, MEAN)
    assert (final.through, final.pending) == (4, ())
    assert final.base == fold_table([("go", g, 0.0) for g in (1.0, 3.0, 5.0)])


def test_with_slots_keeps_every_slot_once_in_order() -> None:
    row = Row("s", "t", "k", through=2, known=3, pending=(_slot(2, "a"),))
    grown = row.with_slots([_slot(4, "c"), _slot(3, "b"), _slot(2, "a"), _slot(1, "z")])
    assert [s.index for s in grown.pending] == [2, 3, 4]
    assert grown.known == 5
    assert row.with_slots([]) is row


@settings(max_examples=60, deadline=None)
@given(
    targets=st.lists(st.floats(-5, 5), min_size=1, max_size=12),
    seed=st.integers(0, 10**6),
    learning_rate=st.sampled_from(["mean", "constant"]),
)
def test_settling_in_any_order_of_commits_folds_in_slot_order(
    targets: list[float], seed: int, learning_rate: str
) -> None:
    """Whatever order runs commit in and rows settle, the table is the fold in slot order."""
    rlem = RLEMConfig(learning_rate=learning_rate, alpha=0.3)  # type: ignore[arg-type]
    rng = random.Random(seed)
    slots = tuple(_slot(i, f"r{i}", g) for i, g in enumerate(targets))
    row = Row("s", "t", "k", known=len(slots), pending=slots)
    committed: list[tuple[str, tuple[int, ...]]] = []
    prepared = tuple(s.run_id for s in slots)  # each run is prepared before its slot is claimed
    for i in rng.sample(range(len(slots)), len(slots)):
        committed.append((f"r{i}", (i,)))
        now = _status(*committed, prepared=prepared)
        row = row.settle(now, rlem) if rng.random() < 0.5 else row
    status = _status(*committed)
    expected = fold_table(
        [("go", g, 0.0) for g in targets], learning_rate=rlem.learning_rate, alpha=rlem.alpha
    )
    assert row.view(status, rlem) == expected
    assert row.settle(status, rlem).base == expected
    assert row.refolded(slots, status, rlem).base == expected


def test_rank_applies_the_floors_and_breaks_ties_by_visits() -> None:
    def cand(name: str, similarity: float, visits: int = 1, task: float | None = None) -> tuple:
        row = Row(name, "t", name, similarity=similarity)
        return row, {"a": ActionStats(1.0, visits)}, task

    candidates = [
        cand("low", 0.30),
        cand("few", 0.9000000001, visits=1),
        cand("many", 0.9, visits=7),
        cand("top", 0.95),
        (Row("empty", "t", "empty", similarity=0.99), {}, None),  # nothing to show
        cand("other task", 0.97, task=0.1),
    ]
    assert [s.id for s in rank(candidates, 5, 0.35)] == ["other task", "top", "many", "few"]
    assert [s.id for s in rank(candidates, 5, 0.35, 0.5)] == ["top", "many", "few"]
    assert [s.id for s in rank(candidates, 2, 0.35, 0.5)] == ["top", "many"]
    assert ties(candidates[1][0], candidates[2][0])
    assert not ties(candidates[2][0], candidates[3][0])


def test_a_row_breaking_its_invariants_cannot_be_made_or_read() -> None:
    import json

    from langchain_rememberer._records import Slot
    from langchain_rememberer._rows import Row
    from langchain_rememberer.errors import StorageError

    slot = Slot("s", 3, "r", nonce="n")
    with pytest.raises(ValueError, match="through 5 is not within 0..known 4"):
        Row("s", "t", "k", through=5, known=4)
    with pytest.raises(ValueError, match="pending slots"):
        Row("s", "t", "k", through=0, known=3, pending=(slot,))  # 3 is not below known
    with pytest.raises(ValueError, match="pending slots"):
        Row("s", "t", "k", through=0, known=5, pending=(slot, slot))
    assert Row("s", "t", "k", through=3, known=4, pending=(slot,)).pending == (slot,)
    meta = {"task": "t", "table": "{}", "through": 2, "known": 1, "pending": json.dumps([])}
    with pytest.raises(StorageError, match="corrupt row"):
        Row.from_chroma("s", meta, "k")
