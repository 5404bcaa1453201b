from __future__ import annotations

import random

import pytest

from langchain_rememberer.bench.direct import EpisodeResult, act_action
from langchain_rememberer.bench.protocol import (
    BenchConfig,
    TabularQPlayer,
    compare,
    mean_ci,
    paired_diff_ci,
    pick_seeds,
    summarize,
    wilson_ci,
)
from langchain_rememberer.bench.textworld import (
    EnvUnavailableError,
    StepResult,
    observation_key,
    parse_env_spec,
    parse_game_params,
    tool_content,
)
from langchain_rememberer.types import Episode, Step


def test_wilson_ci_known_values() -> None:
    low, high = wilson_ci(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3)
    assert high == pytest.approx(0.7634, abs=1e-3)
    assert wilson_ci(0, 0) == (0.0, 1.0)
    assert wilson_ci(0, 20)[0] == 0.0


def test_mean_and_paired_intervals() -> None:
    mean, low, high = mean_ci([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5
    assert low < 0.5 < high
    assert mean_ci([0.3]) == (0.3, 0.3, 0.3)
    diff = paired_diff_ci([1, 1, 1, 0], [0, 1, 0, 0])
    assert diff[0] == 0.5


def test_seeds_are_reproducible_and_from_their_folds() -> None:
    config = BenchConfig(train_seeds=5, test_seeds=7, seed=3)
    train, test = pick_seeds(config)
    assert (train, test) == pick_seeds(config)
    assert len(set(train)) == 5
    assert all(0 <= s < 1000 for s in train)
    assert all(10000 <= s < 11000 for s in test)
    assert pick_seeds(BenchConfig(seed=4)) != pick_seeds(BenchConfig(seed=3))


def _episode(rewards: list[float], task: str = "find the coin") -> Episode:
    steps = [
        Step(observation=f"room {t}", action=act_action(f"move {t}"), reward=r)
        for t, r in enumerate(rewards)
    ]
    return Episode(task=task, steps=steps)


def test_tabular_q_propagates_a_success_backwards() -> None:
    player = TabularQPlayer(gamma=0.5, history=0)
    player.learn(_episode([0.0, 0.0, 1.0]))
    q = {obs: next(iter(t.values()))[0] for (_, obs), t in player.q.items()}
    assert q == {"#room 0": 0.25, "#room 1": 0.5, "#room 2": 1.0}
    rng = random.Random(0)
    assert player.choose("find the coin", "room 1", ["move 1", "look"], [], rng, epsilon=0) == (
        "move 1"
    )


def test_tabular_q_avoids_known_bad_actions_and_mean_rate() -> None:
    player = TabularQPlayer(gamma=1.0, history=0)
    player.learn(_episode([0.0]))  # move 0 from room 0 -> Q 0
    valid = ["move 0", "look"]
    picks = {
        player.choose("find the coin", "room 0", valid, [], random.Random(s), epsilon=0)
        for s in range(30)
    }
    assert picks == {"look"}
    player.learn(_episode([1.0]))
    assert player.q[("find the coin", "#room 0")][act_action("move 0")] == [0.5, 2.0]


def test_summarize_and_compare() -> None:
    results = [EpisodeResult(seed=s, success=s % 2 == 0, score=float(s % 2 == 0), steps=3,
                             seconds=0.1, env_seconds=0.01) for s in range(4)]  # fmt: skip
    summary = summarize(results)
    assert summary["success"] == 0.5
    assert summary["per_seed_success"] == [1, 0, 1, 0]
    methods = {
        "no_memory": {"epochs": [{"epoch": 1, "eval": {"per_seed_success": [0, 0, 1, 0]}}]},
        "rememberer": {"epochs": [{"epoch": 1, "eval": {"per_seed_success": [1, 0, 1, 1]}}]},
    }
    rows = compare(methods)["rememberer-vs-no_memory"]
    assert rows[0]["diff"] == 0.5


def test_env_spec_and_params_validation() -> None:
    assert parse_env_spec("twx:coin") == "coin"
    with pytest.raises(EnvUnavailableError, match="twx:<game>"):
        parse_env_spec("gym:coin")
    assert parse_game_params(" numLocations = 6 ,includeDoors=1") == "numLocations=6,includeDoors=1"
    with pytest.raises(EnvUnavailableError, match="key=integer"):
        parse_game_params("numLocations:6")


def test_tool_content_lists_sorted_actions_and_the_end() -> None:
    result = StepResult("You take the coin.", ["b", "a"], reward=1.0, done=True, score=1.0,
                        success=True, steps=4)  # fmt: skip
    text = tool_content(result)
    assert "Valid actions: a | b" in text
    assert text.endswith("The episode succeeded (score 1.00).")
    assert result.artifact()["reward"] == 1.0


def test_observation_key_modes() -> None:
    text = "You are in the kitchen. A stove.\nValid actions: look around | move east"
    assert observation_key("actions")(text) == "Valid actions: look around | move east"
    assert observation_key("room+actions")(text).startswith("In the kitchen. Valid actions:")
    assert observation_key("full")(text) == " ".join(text.split())
    assert observation_key("actions")("Find the coin.") == "Find the coin."


def test_bench_config_rejects_nan_rates() -> None:
    import pytest

    from langchain_rememberer.bench.protocol import BenchConfig

    with pytest.raises(ValueError, match="gamma=nan"):
        BenchConfig(gamma=float("nan"))
