"""An LCEL chain (prompt | model | parser) that learns from a scorer, via RLEMCallbackHandler.

The scorer is a plain lambda over the finished episode: answers promising a refund of a shipped
order score -1, answers that tell the customer when it arrives score +1. The chain's prompt is
filled with the memory's exemplars (`exemplars_runnable`), so the second run's model is shown
the first run's answer with its value; this script prints that block.

Run: python examples/lcel_chain.py
Offline by default (a scripted stand-in model); with OPENAI_API_KEY set it uses ChatOpenAI.
The memory lives in memory only (path=None): nothing is written to disk.
"""

import os

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough

from langchain_rememberer import RemembererMemory, RLEMCallbackHandler, exemplars_runnable

QUESTION = "Order 42 shipped on Monday and has not arrived. What can you do?"


def chat_model(answer: str):
    """ChatOpenAI when OPENAI_API_KEY is set; else a model that gives `answer`."""
    if os.environ.get("OPENAI_API_KEY"):
        from langchain_openai import ChatOpenAI  # noqa: PLC0415 (only needed online)

        return ChatOpenAI(model="gpt-4o-mini", temperature=0)
    return FakeMessagesListChatModel(responses=[AIMessage(answer)])


class SystemPrompts(BaseCallbackHandler):
    """Keeps the system prompt of every model call (works for any chat model)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def on_chat_model_start(self, _serialized, messages, **_kwargs) -> None:
        first = messages[0][0]
        self.seen.append(first.text if first.type == "system" else "")


def main() -> None:
    memory = RemembererMemory(path=None)
    handler = RLEMCallbackHandler(
        memory,
        scorer=lambda episode: 1.0 if "arrive" in (episode.steps[-1].answer or "") else -1.0,
    )
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "You are an order-support agent. Reply in one sentence.\n{exemplars}"),
            ("human", "{question}"),
        ]
    )
    answers = ["I have refunded order 42.", "Order 42 is in transit and will arrive Friday."]
    for number, answer in enumerate(answers, start=1):
        prompts = SystemPrompts()
        chain = (
            RunnablePassthrough.assign(exemplars=exemplars_runnable(memory, task_key="question"))
            | prompt
            | chat_model(answer)
            | StrOutputParser()
        )
        reply = chain.invoke({"question": QUESTION}, config={"callbacks": [handler, prompts]})
        report = handler.report(handler.last_run_id)
        print(f"Run {number}: {reply!r} -> learned targets {report.targets}")

    print("\nThe system prompt of run 2:")
    print(prompts.seen[0])


if __name__ == "__main__":
    main()
