"""holdout.py: the arm of a unit key, stable across processes, in the requested share."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from langchain_rememberer import Episode, InvalidInputError, Step
from langchain_rememberer.holdout import assign_arm, check_holdout, uniform

KEYS = [f"user-{i}" for i in range(10_000)]


@pytest.mark.parametrize("share", [0.05, 0.1, 0.25, 0.5])
def test_the_split_is_within_two_points_of_the_share_over_10000_keys(share: float) -> None:
    control = sum(assign_arm(key, share) == "control" for key in KEYS)
    assert abs(control / len(KEYS) - share) <= 0.02


def test_arms_nest_and_a_salt_draws_another_split() -> None:
    small = {k for k in KEYS if assign_arm(k, 0.1) == "control"}
    large = {k for k in KEYS if assign_arm(k, 0.2) == "control"}
    assert small < large  # in control at 0.1: in control at 0.2 too
    salted = {k for k in KEYS if assign_arm(k, 0.1, salt="second experiment") == "control"}
    assert 0.05 < len(small & salted) / len(small) < 0.2  # independent: about 10% overlap


def test_no_holdout_puts_every_unit_in_the_memory_arm() -> None:
    assert {assign_arm(k, 0.0) for k in KEYS[:1000]} == {"memory"}


def test_the_same_key_gets_the_same_arm_in_another_process() -> None:
    keys = KEYS[:200]
    code = (
        "import sys\nfrom langchain_rememberer.holdout import assign_arm\n"
        "print(''.join('c' if assign_arm(f'user-{i}', 0.3) == 'control' else 'm' "
        "for i in range(200)))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    here = "".join("c" if assign_arm(k, 0.3) == "control" else "m" for k in keys)
    assert other.stdout.strip() == here
    assert "c" in here
    assert "m" in here


def test_the_hash_is_pinned() -> None:
    """Changing the hash would silently move units between arms mid-experiment: pinned."""
    assert round(uniform("ticket-42"), 6) == 0.574466
    arms = [assign_arm(f"user-{i}", 0.5) for i in range(6)]
    assert arms == ["control", "control", "memory", "memory", "control", "control"]


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, math.inf, True, "0.1", None])
def test_a_bad_holdout_is_a_clear_error(bad: object) -> None:
    with pytest.raises(InvalidInputError, match=r"holdout must be a number from 0"):
        check_holdout(bad)
    with pytest.raises(InvalidInputError, match=r"holdout must be"):
        assign_arm("user-1", bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [42, None, "", "  ", b"user"])
def test_a_unit_key_that_is_not_a_string_is_a_clear_error(bad: object) -> None:
    with pytest.raises(
        InvalidInputError, match=r"unit key \(rememberer_unit\) must be a non-empty"
    ):
        assign_arm(bad, 0.1)  # type: ignore[arg-type]


def test_an_episode_carries_its_arm_with_the_share_it_was_drawn_with() -> None:
    steps = [Step(observation="o", action="a")]
    episode = Episode(task="t", steps=steps, arm="control", holdout=0.1)
    assert (episode.arm, episode.holdout) == ("control", 0.1)
    with pytest.raises(InvalidInputError, match="arm and holdout go together"):
        Episode(task="t", steps=steps, arm="control")
    with pytest.raises(InvalidInputError, match="arm"):
        Episode(task="t", steps=steps, arm="treatment", holdout=0.1)
    with pytest.raises(InvalidInputError, match="holdout"):
        Episode(task="t", steps=steps, arm="memory", holdout=1.0)
    assert Episode.model_validate_json(episode.model_dump_json()) == episode  # spooled as is


def test_the_run_record_keeps_the_outcome_and_an_older_one_still_parses() -> None:
    from langchain_rememberer._records import PlannedStep, RunRecord, Update  # noqa: PLC0415

    steps = (PlannedStep("s", "key", Update(0, "a", 1.0, 1.0)),)
    outcome = {"reward": 1.0, "created_at": 5.0, "arm": "control", "holdout": 0.1, "unit": "u"}
    record = RunRecord("r", "n", "f", "t", steps, outcome)
    meta, document = record.chroma()
    assert RunRecord.from_chroma("run:x", meta, document) == record
    older = {k: v for k, v in meta.items() if k not in outcome}  # written before this feature
    parsed = RunRecord.from_chroma("run:x", older, document)
    assert parsed.outcome == {}
    assert parsed.steps == steps
