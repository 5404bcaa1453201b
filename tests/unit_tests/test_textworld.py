from __future__ import annotations

import pytest

from langchain_rememberer.bench.textworld import (
    EnvUnavailableError,
    StepResult,
    observation_key,
    parse_env_spec,
    parse_game_params,
    tool_content,
)


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
