"""Storage records (to and from Chroma metadata), episode records, and candidate ranking."""

from __future__ import annotations

import dataclasses
import math

import pytest

from langchain_rememberer import Episode, Step, StorageError
from langchain_rememberer._records import (
    LogRecord,
    StateRecord,
    episode_records,
    rank,
    stable_id,
    ties,
)
from langchain_rememberer.rlem import ActionStats


def _log(**changes: object) -> LogRecord:
    fields = {
        "id": "u1",
        "state_id": "s1",
        "task": "t",
        "observation": "kitchen",
        "action": "take coin",
        "target": 1.0,
        "reward": 1.0,
        "run_id": "r1",
        "step": 0,
        "created_at": 10.0,
    }
    return LogRecord(**{**fields, **changes})  # type: ignore[arg-type]


def test_stable_id_hashes_parts_unambiguously() -> None:
    assert stable_id("a b", "c") != stable_id("a", "b c")
    assert stable_id("a", "b") == stable_id("a", "b")
    assert len(stable_id("x")) == 32
    assert int(stable_id("x"), 16) >= 0  # hex digits only


@pytest.mark.parametrize("answer", ["", "You get 25 days."])
def test_a_log_record_round_trips_through_its_metadata(answer: str) -> None:
    record = _log(answer=answer)
    assert ("answer" in record.metadata()) is bool(answer)
    assert LogRecord.from_chroma("u1", record.metadata(), "kitchen") == record


@pytest.mark.parametrize(
    ("change", "why"),
    [({"target": math.nan}, "non-finite"), ({"step": "x"}, "ValueError"), ({}, "KeyError")],
)
def test_a_malformed_log_record_names_the_run_to_forget(change: dict, why: str) -> None:
    metadata = {**_log().metadata(), **change} if change else {"run_id": "r1"}
    with pytest.raises(StorageError, match=rf"u1 \(run 'r1'\).*{why}.*forget_run\('r1'\)"):
        LogRecord.from_chroma("u1", metadata, "kitchen")


def test_state_tables_round_trip_with_and_without_answers() -> None:
    table = {
        "take coin": ActionStats(1.5, 3, 0.25),
        "final_answer": ActionStats(0.5, 2, 0.0, "25 days", 1.0),
    }
    state = StateRecord("s1", "t", "kitchen", table)
    assert state.visits == 5
    assert state.metadata()["visits"] == 5
    back = StateRecord.from_chroma("s1", state.metadata(), "kitchen", distance=0.25)
    assert back.table == table
    assert back.similarity == 0.75
    legacy = {"task": "t", "table": '{"a": [1.0, 2, 0.0]}', "visits": 2}
    assert StateRecord.from_chroma("s2", legacy, "o").table == {"a": ActionStats(1.0, 2, 0.0)}


def test_retrieved_lists_actions_by_q_with_their_answers() -> None:
    table = {
        "look": ActionStats(0.1, 1, 0.0),
        "final_answer": ActionStats(0.5, 2, 0.0, "25 days", 1.0),
        "take": ActionStats(0.9, 4, -1.0),
    }
    got = StateRecord("s", "t", "o", table, similarity=0.8).retrieved()
    assert [(a.action, a.q, a.visits) for a in got.actions] == [
        ("take", 0.9, 4),
        ("final_answer", 0.5, 2),
        ("look", 0.1, 1),
    ]
    assert (got.actions[0].last_reward, got.actions[0].answer) == (-1.0, None)
    assert (got.actions[1].answer, got.actions[1].answer_value) == ("25 days", 1.0)
    assert got.similarity == 0.8


def _state(name: str, similarity: float, visits: int = 1) -> StateRecord:
    return StateRecord(name, "t", name, {"a": ActionStats(1.0, visits)}, similarity)


def test_rank_applies_the_floor_and_breaks_ties_by_visits() -> None:
    candidates = [
        _state("low", 0.30),
        _state("few", 0.9000000001, visits=1),
        _state("many", 0.9, visits=7),
        _state("top", 0.95),
        StateRecord("empty", "t", "empty", {}, 0.99),  # no table: nothing to show
    ]
    assert [s.id for s in rank(candidates, 5, 0.35)] == ["top", "many", "few"]
    assert [s.id for s in rank(candidates, 2, 0.35)] == ["top", "many"]
    assert [s.id for s in rank(candidates, 5, -1.0)] == ["top", "many", "few", "low"]
    assert ties(candidates[1], candidates[2])
    assert not ties(candidates[2], candidates[3])


def test_rank_drops_states_below_the_task_floor() -> None:
    def state(name: str, similarity: float, task: float | None) -> StateRecord:
        return dataclasses.replace(_state(name, similarity), task_similarity=task)

    candidates = [
        state("look-alike", 0.40, 0.19),  # same tool output, unrelated task
        state("related", 0.38, 0.61),
        state("unknown", 0.37, None),  # no task similarity known: only the composite floor
    ]
    assert [s.id for s in rank(candidates, 5, 0.35, 0.4)] == ["related", "unknown"]
    assert [s.id for s in rank(candidates, 5, 0.35)] == ["look-alike", "related", "unknown"]
    assert [s.id for s in rank(candidates, 1, 0.35, 0.4)] == ["related"]


def test_episode_records_are_one_per_step_with_stable_ids() -> None:
    episode = Episode(
        task="t",
        run_id="r9",
        steps=[
            Step(observation="o0", action="go"),
            Step(observation="o1", action="final_answer", answer="done", reward=1.0),
        ],
    )
    records = episode_records(episode, "t", ["k0", "k1"], ["s0", "s1"], [0.5, 1.0], created_at=3.0)
    assert [(r.state_id, r.observation, r.target, r.step) for r in records] == [
        ("s0", "k0", 0.5, 0),
        ("s1", "k1", 1.0, 1),
    ]
    assert [r.answer for r in records] == ["", "done"]
    again = episode_records(episode, "t", ["k0", "k1"], ["s0", "s1"], [0.5, 1.0], created_at=4.0)
    assert [r.id for r in records] == [r.id for r in again]
