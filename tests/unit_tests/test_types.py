import math

import pytest

from langchain_rememberer import (
    Episode,
    InvalidInputError,
    RemembererError,
    RetrievalConfig,
    RLEMConfig,
    Step,
)
from langchain_rememberer.types import MAX_TEXT_CHARS


@pytest.mark.parametrize("reward", [math.nan, math.inf, -math.inf])
def test_non_finite_reward_is_rejected(reward: float) -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        Step(observation="o", action="a", reward=reward)


def test_empty_task_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="task"):
        Episode(task="   ", steps=[])


def test_non_string_observation_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="observation"):
        Step(observation=42, action="a")  # type: ignore[arg-type]


def test_huge_observation_is_rejected_with_advice() -> None:
    with pytest.raises(InvalidInputError, match="observation_key"):
        Step(observation="x" * (MAX_TEXT_CHARS + 1), action="a")


def test_errors_are_remembererr_and_value_errors() -> None:
    with pytest.raises(RemembererError):
        Step(observation="o", action="")
    assert issubclass(InvalidInputError, ValueError)


def test_with_final_reward_adds_to_last_step() -> None:
    episode = Episode(
        task="t", steps=[Step(observation="a", action="x", reward=0.5)] * 2, run_id="r"
    )
    scored = episode.with_final_reward(1.0)
    assert [s.reward for s in scored.steps] == [0.5, 1.5]
    assert scored.run_id == "r"


def test_configs_validate() -> None:
    with pytest.raises(InvalidInputError, match="task_weight"):
        RetrievalConfig(task_weight=1.0)
    with pytest.raises(InvalidInputError, match="n_step"):
        RLEMConfig(n_step=0)
    with pytest.raises(InvalidInputError, match="both 0"):
        RetrievalConfig(max_encouraged=0, max_discouraged=0)


@pytest.mark.parametrize("reward", [True, False, "2.5", b"1"])
def test_reward_must_be_a_number_not_bool_or_text(reward: object) -> None:
    with pytest.raises(InvalidInputError, match="reward must be a finite number"):
        Step(observation="o", action="a", reward=reward)  # type: ignore[arg-type]


def test_integer_reward_is_a_float() -> None:
    assert Step(observation="o", action="a", reward=2).reward == 2.0
