"""`adapters.prompting`: exemplars for LCEL chains and LangGraph `prompt=` callables."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_rememberer.adapters.prompting import exemplars_prompt, exemplars_runnable
from tests.helpers import TASK, two_step_episode

SYSTEM = "Be brief."
PROMPTING = "langchain_rememberer.adapters.prompting"


@pytest.fixture
def memory(make_memory):
    """A memory that has learned kitchen -a-> attic -b-> (a: -1)."""
    memory = make_memory()
    memory.learn(two_step_episode("r1"))
    return memory


def _after_a_tool_call(observation: str) -> list[Any]:
    call = {"name": "go", "args": {"to": "attic"}, "id": "c1"}
    return [
        HumanMessage(TASK),
        AIMessage("", tool_calls=[call]),
        ToolMessage(observation, tool_call_id="c1"),
    ]


def test_runnable_of_an_empty_memory_gives_no_block(make_memory) -> None:
    assert exemplars_runnable(make_memory()).invoke({"task": TASK}) == ""


def test_runnable_retrieves_by_the_task_and_the_observation_key(memory) -> None:
    runnable = exemplars_runnable(memory, observation_key="where")
    block = runnable.invoke({"task": TASK, "where": "kitchen"})
    assert block == memory.format_exemplars(TASK, "kitchen")
    assert 'similarity="1.00"' in block
    assert '<action value="-1.00" tried="1">a</action>' in block


def test_runnable_without_an_observation_key_retrieves_by_the_task(memory) -> None:
    block = exemplars_runnable(memory, task_key="question").invoke({"question": TASK})
    assert block == memory.format_exemplars(TASK, TASK)
    assert block.startswith("<experience_memory>")


@pytest.mark.parametrize("inputs", [{"question": TASK}, {"task": "   "}, {"task": 3}, TASK])
def test_runnable_input_without_a_task_gives_no_block_and_a_warning(
    memory, caplog: pytest.LogCaptureFixture, inputs: Any
) -> None:
    with caplog.at_level(logging.WARNING, logger=PROMPTING):
        assert exemplars_runnable(memory).invoke(inputs) == ""
    assert "input has no text under 'task'" in caplog.text


def test_runnable_survives_a_failing_memory(memory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=PROMPTING):
        assert exemplars_runnable(memory, k=0).invoke({"task": TASK}) == ""
    assert "no exemplars, the memory failed: k must be" in caplog.text


@pytest.mark.parametrize("build", [exemplars_runnable, exemplars_prompt])
def test_builders_reject_what_is_not_a_memory(build: Any) -> None:
    with pytest.raises(TypeError, match=f"{build.__name__} needs a RemembererMemory.*got dict"):
        build({"path": None})


def test_prompt_of_an_empty_memory_is_the_system_prompt_and_the_messages(make_memory) -> None:
    state = {"messages": [("user", TASK)]}
    assert exemplars_prompt(make_memory(), SYSTEM)(state) == [
        SystemMessage(SYSTEM),
        HumanMessage(TASK),
    ]
    assert exemplars_prompt(make_memory())(state) == [HumanMessage(TASK)]


def test_prompt_appends_the_block_of_the_latest_tool_result(memory) -> None:
    messages = _after_a_tool_call("kitchen")
    out = exemplars_prompt(memory, SYSTEM)({"messages": messages})
    assert out[1:] == messages
    assert out[0] == SystemMessage(f"{SYSTEM}\n\n{memory.format_exemplars(TASK, 'kitchen')}")
    assert "<observation>kitchen</observation>" in out[0].content


def test_prompt_reads_the_messages_attribute_of_a_state_object(memory) -> None:
    @dataclass
    class State:
        messages: list[Any] = field(default_factory=list)

    out = exemplars_prompt(memory)(State(_after_a_tool_call("kitchen")))
    assert out[0] == SystemMessage(memory.format_exemplars(TASK, "kitchen"))
    assert len(out) == 4


def test_prompt_without_a_human_message_shows_no_exemplars(
    memory, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"messages": [AIMessage("hello")]}
    with caplog.at_level(logging.WARNING, logger=PROMPTING):
        assert exemplars_prompt(memory, SYSTEM)(state) == [
            SystemMessage(SYSTEM),
            AIMessage("hello"),
        ]
    assert caplog.text == ""  # no task is not a failure


def test_prompt_survives_a_failing_memory(memory, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=PROMPTING):
        out = exemplars_prompt(memory, SYSTEM, k=0)({"messages": [("user", TASK)]})
    assert out == [SystemMessage(SYSTEM), HumanMessage(TASK)]
    assert "no exemplars, the memory failed" in caplog.text
