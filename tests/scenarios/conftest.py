"""Scenario suite: small apps like the ones users build, real create_agent + real Chroma.

Only the chat model is scripted. Every scenario runs a few scored runs, then asserts exactly
what the next run's model was shown.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage

from langchain_rememberer import RemembererMemory, RemembererMiddleware


class ScriptedModel(FakeMessagesListChatModel):
    """A tool-calling chat model that plays a script and keeps every prompt it received."""

    received: list = []  # noqa: RUF012 - a pydantic field, given per instance

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.received.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def calls(*tool_calls: tuple[str, dict[str, Any]]) -> AIMessage:
    """One model turn calling the given tools."""
    return AIMessage(
        "",
        tool_calls=[
            {"name": name, "args": args, "id": f"c{i}", "type": "tool_call"}
            for i, (name, args) in enumerate(tool_calls)
        ],
    )


def shown(messages: list[BaseMessage]) -> str:
    """The experience-memory block the model saw in this prompt ("" when none).

    Wherever the middleware put it: after the conversation (the default) or in the system
    message.
    """
    for message in reversed(messages):
        if "<experience_memory>" in message.text:
            return message.text[message.text.index("<experience_memory>") :]
    return ""


def nearest(block: str, tag: str) -> str:
    """The `<tag>` section of the most similar exemplar (rendered last); "" when none."""
    parts = block.split(f"<{tag}>")[1:]
    return parts[-1].split(f"</{tag}>", maxsplit=1)[0].strip() if parts else ""


class App:
    """One app: tools, a system prompt, and the memory with the library's defaults."""

    def __init__(self, memory: RemembererMemory, tools: list, scorer: Any, system: str) -> None:
        self.memory = memory
        self.tools = tools
        self.middleware = RemembererMiddleware(memory, scorer=scorer)
        self.system = system

    def run(self, question: str, *turns: AIMessage) -> ScriptedModel:
        """Run the agent once with a scripted model; return the model (and what it saw)."""
        model = ScriptedModel(responses=list(turns), received=[])
        agent = create_agent(
            model, self.tools, system_prompt=self.system, middleware=[self.middleware]
        )
        agent.invoke({"messages": [("user", question)]})
        return model


@pytest.fixture
def app_memory(tmp_path, embeddings) -> RemembererMemory:
    """A memory with every setting left at the library's default (but the offline embedding)."""
    return RemembererMemory(path=tmp_path / "memory", embeddings=embeddings)
