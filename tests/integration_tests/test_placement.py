"""Where the block goes: after the conversation (the default: a stable prefix), or the system message.

A real `create_agent` run with a scripted chat model: with `placement="after"` each model
request starts, byte for byte, with everything the previous request had before its block, so a
provider's prefix cache covers the whole conversation.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    convert_to_openai_messages,
)
from langchain_core.tools import tool

from langchain_rememberer import InvalidInputError, RemembererMemory, RemembererMiddleware
from langchain_rememberer.adapters.prompting import EXEMPLARS_KEY


class Recording(FakeMessagesListChatModel):
    """Plays a script; keeps every request's messages."""

    requests: list = []  # noqa: RUF012 - a pydantic field, given per instance

    def bind_tools(self, tools: Any, **kwargs: Any) -> Recording:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.requests.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


@tool(response_format="content_and_artifact")
def read_doc(name: str) -> tuple[str, dict[str, float]]:
    """Read one HR document."""
    text = {"vacation.md": "25 days a year.", "holidays.md": "Public holidays."}.get(name, "?")
    return text, {"reward": 0.5 if name == "vacation.md" else -0.5}


def _call(name: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "read_doc", "args": {"name": name}, "id": name}])


SCRIPT = [_call("holidays.md"), _call("vacation.md"), AIMessage("You get 25 days a year.")]


def _run(middleware: RemembererMiddleware) -> list[list[BaseMessage]]:
    model = Recording(responses=SCRIPT, requests=[])
    agent = create_agent(model, [read_doc], system_prompt="You answer HR.", middleware=[middleware])
    agent.invoke({"messages": [("user", "How many vacation days do I get?")]})
    return model.requests


def _wire(messages: list[BaseMessage]) -> str:
    """The request as an OpenAI-style payload's messages, one JSON object a line."""
    return "".join(
        json.dumps(m, sort_keys=True) + "\n" for m in convert_to_openai_messages(messages)
    )


@pytest.fixture
def learned(tmp_path, embeddings) -> RemembererMemory:
    """A memory that learned the run once, so every step of the next run is shown a lesson."""
    memory = RemembererMemory(path=tmp_path / "memory", embeddings=embeddings)
    _run(RemembererMiddleware(memory, scorer=lambda e: 1.0))
    return memory


def test_after_the_conversation_every_request_extends_the_previous_prefix(learned) -> None:
    middleware = RemembererMiddleware(learned, scorer=lambda e: 1.0)
    assert middleware.placement == "after"  # the default
    requests = _run(middleware)
    assert len(requests) == 3
    blocks = []
    # The current task is read after every lesson (prompts.CURRENT_TASK), then the lesson of
    # this very task and situation once more (prompts.ADVICE); an answer's lesson is not said
    # again (its text is in the block).
    advice = [
        '\nIn this situation of the current task: Do not take read_doc(name="holidays.md").',
        '\nIn this situation of the current task: take read_doc(name="vacation.md").',
        "",
    ]
    for request, said in zip(requests, advice, strict=True):
        *before, block = request
        assert isinstance(block, HumanMessage)
        assert block.text.startswith("<experience_memory>")
        assert block.text.endswith(
            "</experience_memory>\nThe current task: How many vacation days do I get?" + said
        )
        assert block.additional_kwargs[EXEMPLARS_KEY]  # the exemplars as data, too
        assert "<experience_memory>" not in _wire(before)
        blocks.append(block.text)
    assert len(set(blocks)) == 3  # a new block at every step
    for earlier, later in itertools.pairwise(requests):
        prefix = _wire(earlier[:-1])
        assert _wire(later).startswith(prefix)
        assert len(_wire(later[:-1])) > len(prefix)  # the conversation grew
    # The block never reaches the agent's state: the next run's history has none of it.
    assert all("<experience_memory>" not in m.text for m in requests[-1][:-1])


def test_in_the_system_message_the_prefix_changes_with_the_block(learned) -> None:
    requests = _run(RemembererMiddleware(learned, scorer=lambda e: 1.0, placement="system"))
    system = [request[0] for request in requests]
    assert all(isinstance(m, SystemMessage) and "<experience_memory>" in m.text for m in system)
    # No current-task line and no advice there: the block alone (prompts.EXEMPLARS_PROMPT).
    assert not any("The current task:" in m.text or "In this situation" in m.text for m in system)
    assert not _wire(requests[1]).startswith(_wire(requests[0][:1]))
    assert not any(
        isinstance(m, HumanMessage) and EXEMPLARS_KEY in m.additional_kwargs
        for request in requests
        for m in request
    )


def test_placement_is_checked_at_construction(learned) -> None:
    with pytest.raises(InvalidInputError, match='placement must be "system" or "after"'):
        RemembererMiddleware(learned, placement="top")  # type: ignore[arg-type]
