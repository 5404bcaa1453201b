"""create_agent + RemembererMiddleware: a tool's reward teaches the agent for its next run.

Run 1 refunds an order that has already shipped (the refund tool reports reward -1). Run 2 asks
again; its model is shown the lesson as an `<experience_memory>` block after the conversation
(the middleware's default placement), with the refund *discouraged*, and this script prints
that block.

Run: python examples/create_agent_memory.py
Offline by default (a scripted stand-in model); with OPENAI_API_KEY set it uses ChatOpenAI.
The memory lives in memory only (path=None): nothing is written to disk.
"""

import os

from langchain.agents import create_agent
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from langchain_rememberer import RemembererMemory, RemembererMiddleware

SYSTEM = "You are an order-support agent. Use the tools; shipped orders cannot be refunded."
QUESTION = "My order 42 has not arrived yet. Please refund it or tell me where it is."


@tool(response_format="content_and_artifact")
def refund(order_id: str) -> tuple[str, dict]:
    """Refund an order."""
    return f"Order {order_id} has already shipped; it cannot be refunded.", {"reward": -1.0}


@tool(response_format="content_and_artifact")
def track(order_id: str) -> tuple[str, dict]:
    """Track an order."""
    return f"Order {order_id} is in transit, arriving Friday.", {"reward": 1.0}


class StandInModel(FakeMessagesListChatModel):
    """Replays scripted answers offline, in place of e.g. ChatOpenAI(model="gpt-4o-mini")."""

    def bind_tools(self, _tools, **_kwargs):
        return self


def chat_model(tool_name: str, answer: str):
    """ChatOpenAI when OPENAI_API_KEY is set; else a model that calls `tool_name`, then answers."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 (only needed online)

        return ChatOpenAI(model="gpt-4o-mini", temperature=0)
    call = {"name": tool_name, "args": {"order_id": "42"}, "id": "call_1", "type": "tool_call"}
    return StandInModel(responses=[AIMessage("", tool_calls=[call]), AIMessage(answer)])


class Prompts(BaseCallbackHandler):
    """Keeps the whole prompt of every model call, as text (works for any chat model)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, _serialized, messages, **_kwargs) -> None:
        self.seen.append("\n".join(message.text for message in messages[0]))


def experience_block(prompt: str) -> str:
    start, end = prompt.find("<experience_memory>"), prompt.find("</experience_memory>")
    return prompt[start : end + len("</experience_memory>")] if start >= 0 else "(no exemplars)"


def main() -> None:
    memory = RemembererMemory(path=None)  # or path="./.memory", or a Chroma server's client
    middleware = RemembererMiddleware(memory)  # default scorer: the tools' rewards

    scripts = [("refund", "Sorry, I could not refund it."), ("track", "It arrives Friday.")]
    for number, (tool_name, answer) in enumerate(scripts, start=1):
        prompts = Prompts()
        agent = create_agent(
            chat_model(tool_name, answer),
            [refund, track],
            system_prompt=SYSTEM,
            middleware=[middleware],
        )
        result = agent.invoke({"messages": [("user", QUESTION)]}, config={"callbacks": [prompts]})
        print(f"Run {number} ({result['rememberer_run_id']}): {result['messages'][-1].text}")

    print("\nWhat run 2's model saw before its first step:")
    print(experience_block(prompts.seen[0]))
    print("\nLearned:", memory.stats())


if __name__ == "__main__":
    main()
