from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_rememberer import Episode, InvalidInputError, Step, TextLimits
from langchain_rememberer.adapters.trajectory import (
    FINAL_ANSWER,
    canonical_action,
    current_state,
    episode_from_messages,
    tool_reward,
)


def call(name, call_id, **args):
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def test_canonical_action_sorts_args_and_uses_json_values() -> None:
    calls = [call("search", "1", query="café", limit=3, filters={"b": 1, "a": [True, None]})]
    assert canonical_action(calls) == (
        'search(filters={"a": [true, null], "b": 1}, limit=3, query="café")'
    )
    assert canonical_action([call("a", "1"), call("b", "2", x=1)]) == "a(); b(x=1)"
    assert canonical_action([]) == FINAL_ANSWER


def test_tool_reward_from_dict_or_attribute() -> None:
    assert tool_reward({"reward": 2}) == 2.0
    assert tool_reward(SimpleNamespace(reward=-0.5)) == -0.5
    assert tool_reward({"hits": 3}) == 0.0
    assert tool_reward(None) == 0.0
    with pytest.raises(InvalidInputError, match="finite"):
        tool_reward({"reward": math.nan})
    with pytest.raises(InvalidInputError, match="finite"):
        tool_reward({"reward": "high"})


def test_episode_with_parallel_calls_errors_and_rewards() -> None:
    messages = [
        SystemMessage("sys"),
        HumanMessage("old turn"),
        AIMessage("old answer"),
        HumanMessage("Find the coin"),
        AIMessage("", tool_calls=[call("look", "a"), call("go", "b", to="east")]),
        ToolMessage("moved east", tool_call_id="b", artifact={"reward": 0.5}),  # out of order
        ToolMessage("a kitchen", tool_call_id="a", artifact={"reward": 0.25}),
        AIMessage("", tool_calls=[call("take", "c", item="coin")]),
        ToolMessage("no such item", tool_call_id="c", status="error"),
        AIMessage("I could not"),
    ]
    episode = episode_from_messages(messages, run_id="r1", succeeded=True)
    assert episode == Episode(
        task="Find the coin",
        run_id="r1",
        succeeded=True,
        steps=[
            Step(observation="Find the coin", action='look(); go(to="east")', reward=0.75),
            Step(observation="a kitchen\nmoved east", action='take(item="coin")'),
            Step(observation="Error: no such item", action=FINAL_ANSWER, answer="I could not"),
        ],
    )


def test_run_with_only_a_final_answer_and_explicit_task() -> None:
    episode = episode_from_messages([HumanMessage("hi"), AIMessage("hello")], task="Greet")
    # The task is named separately: the first observation is what the user said.
    assert episode.task == "Greet"
    assert episode.steps == [Step(observation="hi", action=FINAL_ANSWER, answer="hello")]


def test_explicit_task_without_human_message_is_the_first_observation() -> None:
    episode = episode_from_messages([AIMessage("hello")], task="Greet")
    assert episode.steps == [Step(observation="Greet", action=FINAL_ANSWER, answer="hello")]
    with pytest.raises(InvalidInputError, match="at least one step"):
        episode_from_messages([HumanMessage("hi")])  # asked, never answered: nothing to learn


def test_run_cut_off_after_tools_keeps_the_last_action() -> None:
    messages = [
        HumanMessage([{"type": "text", "text": "Add"}]),
        AIMessage("", tool_calls=[call("add", "x", a=1, b=2)]),
        ToolMessage("3", tool_call_id="x", artifact={"reward": 1}),
    ]
    state = current_state(messages)
    assert state is not None
    assert (state.task, state.observation, state.actions) == ("Add", "3", ["add(a=1, b=2)"])
    assert episode_from_messages(messages).steps[-1].reward == 1.0


def test_long_observations_are_cut() -> None:
    messages = [
        HumanMessage("read"),
        AIMessage("", tool_calls=[call("read", "x")]),
        ToolMessage("y" * 500_000, tool_call_id="x"),
        AIMessage("done"),
    ]
    episode = episode_from_messages(messages, limits=TextLimits(observation=100))
    assert len(episode.steps[1].observation) == 100
    assert episode.steps[1].observation.endswith("[cut]")


def test_no_task_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="no HumanMessage"):
        episode_from_messages([AIMessage("hello")])
