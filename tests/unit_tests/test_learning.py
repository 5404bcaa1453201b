"""What both adapters do with a finished episode: argument checks, scoring, learning."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest

from langchain_rememberer import Episode, Step, ToolRewardScorer
from langchain_rememberer.adapters._learning import check_memory, check_scorer, finish_episode


def _episode(run_id: str = "r1") -> Episode:
    return Episode(task="t", run_id=run_id, steps=[Step(observation="o", action="a", reward=0.5)])


def test_check_memory_names_the_owner(memory) -> None:
    assert check_memory(memory, "Owner") is memory
    with pytest.raises(TypeError, match=r"Owner needs a RemembererMemory.*got str"):
        check_memory("path/to/db", "Owner")


def test_check_scorer_defaults_to_tool_rewards() -> None:
    assert isinstance(check_scorer(None, "Owner"), ToolRewardScorer)
    scorer = lambda episode: 1.0  # noqa: E731
    assert check_scorer(scorer, "Owner") is scorer
    with pytest.raises(TypeError, match="Owner scorer must be a callable"):
        check_scorer(1.0, "Owner")


@pytest.mark.parametrize("score", [1.0, 2, np.float32(0.25)])
def test_a_number_is_the_final_reward(memory, score) -> None:
    report = finish_episode(memory, _episode(), lambda e: score)
    assert report is not None
    assert report.targets == [pytest.approx(0.5 + float(score))]


def test_none_saves_the_episode_as_pending(memory) -> None:
    assert finish_episode(memory, _episode("later"), lambda e: None) is None
    assert memory.pending_runs() == ["later"]
    assert memory.learn_pending("later", 1.0).targets == [1.5]


@pytest.mark.parametrize("score", [math.nan, math.inf, True, "1.0", [1.0]])
def test_anything_else_is_not_learned_and_says_why(memory, caplog, score) -> None:
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert finish_episode(memory, _episode(), lambda e: score) is None
    assert memory.stats().updates == 0
    assert memory.pending_runs() == []
    assert "run r1 not learned, the scorer returned" in caplog.text


def test_a_failing_scorer_or_memory_never_raises(memory, caplog) -> None:
    def broken(episode: Episode) -> float:
        raise RuntimeError("judge offline")

    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert finish_episode(memory, _episode(), broken) is None
        assert finish_episode(memory, _episode(), lambda e: 1.0, namespace="bad..name") is None
    assert "the scorer failed: judge offline" in caplog.text
    assert "the memory failed" in caplog.text
    assert memory.stats().updates == 0
