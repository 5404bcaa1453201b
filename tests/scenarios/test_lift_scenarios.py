"""The document-search and IT-ticket apps with a holdout: does the memory help them?

The model is a stand-in that behaves like a small model given lessons: it searches, then opens
the document or ticket the memory encourages, else the first one listed, and answers once a
read was rewarded. Half the runs (`holdout=0.5`, so a few dozen runs tell) are control
runs, shown nothing. Each app prints its lift line (`pytest -s` shows it).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langchain_rememberer import RemembererMemory, RemembererMiddleware

from .conftest import ScriptedModel, calls, nearest, shown
from .test_shared_formats import (
    VACATION,
    VACATION_ANSWER,
    VPN,
    VPN_ANSWER,
    open_ticket,
    read_doc,
    right_answer,
    search_docs,
    search_tickets,
)

RUNS = 40


class Follower(ScriptedModel):
    """Search, then open what the memory encourages (else the first listed); answer when right."""

    app: dict[str, Any] = {}  # noqa: RUF012 - a pydantic field, given per instance
    slip: bool = False
    """Answer wrongly this run (a model is not always right: the rewards vary in both arms)."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.received.append(list(messages))
        self.responses = [self._decide(messages)]
        self.i = 0
        return super(ScriptedModel, self)._generate(messages, stop, run_manager, **kwargs)

    def _decide(self, messages) -> AIMessage:
        app = self.app
        tools = [m for m in messages if isinstance(m, ToolMessage)]
        if not tools:
            return calls((app["search"], {"query": app["query"]}))
        last = tools[-1]
        if (last.artifact or {}).get("reward", 0) > 0:
            return AIMessage("I am not sure." if self.slip else app["answer"])
        listed = re.findall(app["item"], str(tools[0].content))
        block = shown(messages)
        encouraged = re.findall(rf'{app["arg"]}="([^"]+)"', nearest(block, "encouraged"))
        avoid = set(re.findall(rf'{app["arg"]}="([^"]+)"', nearest(block, "discouraged")))
        avoid |= {  # each read once
            str(c["args"][app["arg"]])
            for m in messages
            if isinstance(m, AIMessage)
            for c in m.tool_calls
            if c["name"] == app["open"]
        }
        options = [item for item in listed if item not in avoid] or listed
        choice = encouraged[0] if encouraged else options[0]
        return calls((app["open"], {app["arg"]: choice}))


DOCS = {
    "search": "search_docs",
    "query": "vacation days",
    "open": "read_doc",
    "arg": "name",
    "item": r"[\w-]+\.md",
    "answer": VACATION_ANSWER,
    "question": VACATION,
    "tools": [search_docs, read_doc],
}
TICKETS = {
    "search": "search_tickets",
    "query": "vpn drops",
    "open": "open_ticket",
    "arg": "ticket",
    "item": r"(?<=#)\d+",
    "answer": VPN_ANSWER,
    "question": VPN,
    "tools": [search_tickets, open_ticket],
}


@pytest.mark.parametrize(("name", "app"), [("document search", DOCS), ("IT tickets", TICKETS)])
def test_the_app_runs_with_a_holdout_and_the_memory_helps(tmp_path, embeddings, name, app) -> None:
    memory = RemembererMemory(path=tmp_path / "memory", embeddings=embeddings, holdout=0.5)
    middleware = RemembererMiddleware(memory, scorer=right_answer)
    shown_to = {"memory": 0, "control": 0}
    for i in range(RUNS):
        model = Follower(responses=[], received=[], app=app, slip=i % 5 == 2)
        agent = create_agent(model, app["tools"], middleware=[middleware])
        run_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{i}")
        out = agent.invoke({"messages": [HumanMessage(app["question"])]}, {"run_id": run_id})
        shown_to[out["rememberer_arm"]] += any(shown(p) for p in model.received)
    report = memory.lift()
    print(f"{name}: {report.summary()}")
    assert shown_to["control"] == 0  # a control run is never shown a lesson
    assert shown_to["memory"] >= report.memory.runs - 1  # the first run had nothing to show
    assert report.runs == RUNS
    assert report.verdict == "helped"
    assert report.summary().startswith("memory helped by +")
    assert report.difference is not None
    assert 0.2 < report.difference < 0.8  # the detour's -0.5 read, which lessons skip
