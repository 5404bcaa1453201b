"""Compaction's pure rules: the folded table is exactly the same before and after (properties)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langchain_rememberer._records import LogRecord
from langchain_rememberer._snapshots import (
    MARGIN,
    choose_cutoff,
    fold_live,
    plan_state,
)
from langchain_rememberer.config import RLEMConfig

CONFIGS = [RLEMConfig(), RLEMConfig(learning_rate="constant", alpha=0.3)]

update_rows = st.lists(
    st.tuples(
        st.sampled_from(["go east", "take coin", "answer"]),
        st.floats(-5, 5, allow_nan=False),  # target
        st.floats(-1, 1, allow_nan=False),  # reward
        st.floats(0.02, 3.0),  # seconds after the previous update
        st.booleans(),  # an answer with it
    ),
    min_size=1,
    max_size=40,
)


def _log(rows) -> list[LogRecord]:
    at, records = 1000.0, []
    for n, (action, target, reward, gap, answers) in enumerate(rows):
        at += gap
        records.append(
            LogRecord(
                id=f"u{n}",
                state_id="s",
                task="t",
                observation="o",
                action=action,
                target=target,
                reward=reward,
                run_id=f"run-{n}",
                step=0,
                created_at=at,
                answer=f"answer {n}" if answers else "",
            )
        )
    return records


def _compacted(log: list[LogRecord], cutoff: float, config: RLEMConfig) -> list[LogRecord]:
    """The state's reads after compacting `log` at `cutoff` (archived updates are gone)."""
    plan = plan_state(log, cutoff, config)
    if plan is None:
        return log
    archived = {r.id for r in plan.archive}
    kept = [r for r in log if r.id not in archived and r.id not in plan.stale]
    return [*plan.snapshots, *kept]


@settings(max_examples=150, deadline=None)
@given(rows=update_rows, cuts=st.lists(st.floats(0.0, 1.0), max_size=3), which=st.integers(0, 1))
def test_q_and_n_are_identical_after_any_compactions(rows, cuts, which) -> None:
    config = CONFIGS[which]
    log = _log(rows)
    whole = fold_live(log, config)
    first, last = log[0].created_at, log[-1].created_at
    view = list(log)
    for cut in sorted(cuts):
        view = _compacted(view, first + cut * (last - first + 1.0), config)
        assert fold_live(view, config) == whole  # Q, N, last reward, kept answer: all exact
    later = _log([("go east", 2.0, 0.0, 0.5, False)])[0]
    later = dataclasses.replace(later, id="later", created_at=last + 2.0)  # after every cut
    assert fold_live([*view, later], config) == fold_live([*log, later], config)


@given(rows=update_rows, wanted=st.floats(1000.0, 1200.0))
def test_a_cutoff_keeps_its_distance_from_every_update(rows, wanted) -> None:
    log = _log(rows)
    cutoff = choose_cutoff(log, wanted)
    assert cutoff <= wanted
    assert all(abs(r.created_at - cutoff) >= MARGIN - 1e-9 for r in log)


def test_a_half_appended_run_is_not_compacted() -> None:
    log = _log([("go east", 1.0, 0.0, 1.0, False)] * 5)
    assert plan_state(log, log[-1].created_at + 1, RLEMConfig()) is not None
    partial = frozenset({log[2].id})
    assert plan_state(log, log[-1].created_at + 1, RLEMConfig(), partial=partial) is None


def test_too_few_updates_or_an_earlier_cutoff_plans_nothing() -> None:
    log = _log([("go east", 1.0, 0.0, 1.0, False)] * 5)
    cutoff = log[-1].created_at + 1
    assert plan_state(log, cutoff, RLEMConfig(), min_updates=6) is None
    compacted = _compacted(log, cutoff, RLEMConfig())
    assert [r.visits for r in compacted] == [5]  # one snapshot: N = 5
    assert plan_state(compacted, cutoff - 2, RLEMConfig()) is None  # not later than the last
    assert plan_state([], cutoff, RLEMConfig()) is None


@pytest.mark.parametrize("config", CONFIGS)
def test_an_update_older_than_the_cutoff_left_behind_is_not_counted_twice(config) -> None:
    log = _log([("go east", 1.0, 0.0, 1.0, False), ("go east", 3.0, 0.0, 1.0, False)])
    plan = plan_state(log, log[-1].created_at + 1, config)
    assert plan is not None
    # A crash after the snapshots' add, before the covered updates were archived:
    assert fold_live([*plan.snapshots, *log], config) == fold_live(log, config)
