"""RemembererMiddleware on real `create_agent` agents, real tools and real Chroma.

Only the chat model is scripted (a fake tool-calling model that records what it received).
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langchain_core.tracers.langchain import LangChainTracer
from langsmith import Client
from langsmith import schemas as ls_schemas

from langchain_rememberer import (
    Episode,
    RemembererMiddleware,
    RLEMCallbackHandler,
    RLEMConfig,
    Step,
)
from langchain_rememberer.adapters.prompting import EXEMPLARS_KEY
from langchain_rememberer.adapters.scoring import JudgeVerdict, LLMJudgeScorer


class FakeToolModel(FakeMessagesListChatModel):
    """A scripted tool-calling model; `received` keeps every prompt it was given."""

    received: list = []  # noqa: RUF012 - a pydantic field, given per instance

    def bind_tools(self, tools: Any, *, tool_choice: Any = None, **kwargs: Any) -> FakeToolModel:
        return self

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self.received.append(list(messages))
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def call(name: str, call_id: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args, "id": call_id, "type": "tool_call"}


def scripted(*turns: AIMessage) -> FakeToolModel:
    return FakeToolModel(responses=list(turns), received=[])


@tool(response_format="content_and_artifact")
def add(a: int, b: int) -> tuple[str, dict[str, float]]:
    """Add two integers."""
    return str(a + b), {"reward": 1.0}


@tool(response_format="content_and_artifact")
def sub(a: int, b: int) -> tuple[str, dict[str, float]]:
    """Subtract b from a."""
    return str(a - b), {"reward": -1.0}


TOOLS = [add, sub]
T1 = "What is 2 plus 3?"
T2 = "What is 2 plus 3? Please answer."
T3 = "Please tell me what 2 plus 3 is."


def wrong_run() -> FakeToolModel:
    return scripted(AIMessage("", tool_calls=[call("sub", "c1", a=2, b=3)]), AIMessage("-1"))


def right_run() -> FakeToolModel:
    return scripted(AIMessage("", tool_calls=[call("add", "c1", a=2, b=3)]), AIMessage("5"))


def system_text(messages: list[BaseMessage]) -> str:
    """The system message's text, followed by the block when it was sent after the conversation.

    So a test reads what the model was shown wherever the middleware put the block.
    """
    if isinstance(messages[0], SystemMessage):
        text = messages[0].text
    else:
        text = ""
    last = messages[-1]
    if isinstance(last, HumanMessage) and EXEMPLARS_KEY in last.additional_kwargs:
        text = f"{text}\n\n{last.text}" if text else last.text
    return text


def section(text: str, tag: str) -> str:
    return text.rsplit(f"<{tag}>", maxsplit=1)[-1].split(f"</{tag}>", maxsplit=1)[0]


class SilentClient(Client):
    """A LangSmith client that sends nothing anywhere."""

    def __init__(self) -> None:
        super().__init__(
            api_key="fake",
            api_url="http://127.0.0.1:9",
            auto_batch_tracing=False,
            info=ls_schemas.LangSmithInfo(),
        )

    def create_run(self, *args, **kwargs) -> None:
        return None

    def update_run(self, *args, **kwargs) -> None:
        return None


def final_bonus(episode) -> float:
    """Scorer: 0.5 for a run whose answer came after an `add` call."""
    return 0.5 if any(s.action.startswith("add(") for s in episode.steps) else 0.0


def q_table(memory, task: str, observation: str) -> dict[str, tuple[float, int]]:
    state = memory.retrieve(task, observation, k=1)[0]
    assert state.task == task
    assert state.observation == observation
    return {a.action: (a.q, a.visits) for a in state.actions}


def test_second_run_sees_exemplars_and_q_values_follow_rlem(make_memory) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=0.9))
    middleware = RemembererMiddleware(memory, scorer=final_bonus, placement="system")

    first = create_agent(wrong_run(), TOOLS, system_prompt="You add.", middleware=[middleware])
    out = first.invoke({"messages": [HumanMessage(T1)]})
    assert out["messages"][-1].content == "-1"
    assert uuid.UUID(out["rememberer_run_id"])
    # r: sub -> -1 (tool), final_answer -> 0 (scorer). G0 = -1 + 0.9 * 0, G1 = 0.
    assert q_table(memory, T1, T1) == {"sub(a=2, b=3)": (-1.0, 1)}
    assert q_table(memory, T1, "-1") == {"final_answer": (0.0, 1)}

    model = right_run()
    second = create_agent(model, TOOLS, system_prompt="You add.", middleware=[middleware])
    second.invoke({"messages": [HumanMessage(T2)]})
    shown = system_text(model.received[0])
    assert shown.startswith("You add.\n\n<experience_memory>")
    assert f"<task>{T1}</task>" in shown
    assert '<action value="-1.00" tried="1">sub(a=2, b=3)</action>' in section(shown, "discouraged")
    # The second model call of the run retrieves again, for the observation "5".
    assert "<experience_memory>" in system_text(model.received[1])
    # r: add -> 1 (tool), final_answer -> 0.5 (scorer): G0 = 1 + 0.9 * 0.5, G1 = 0.5.
    assert q_table(memory, T2, T2) == {"add(a=2, b=3)": (pytest.approx(1 + 0.9 * 0.5), 1)}
    assert q_table(memory, T2, "5") == {"final_answer": (0.5, 1)}

    model = right_run()
    third = create_agent(model, TOOLS, system_prompt="You add.", middleware=[middleware])
    third.invoke({"messages": [HumanMessage(T3)]})
    shown = system_text(model.received[0])
    assert (
        '<encouraged>\n<action value="1.45" tried="1">add(a=2, b=3)</action>\n</encouraged>'
    ) in shown
    assert (
        '<discouraged>\n<action value="-1.00" tried="1">sub(a=2, b=3)</action>\n</discouraged>'
    ) in shown


def test_async_run_learns_and_shows_exemplars(make_memory) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory, scorer=final_bonus, placement="system")

    async def main() -> FakeToolModel:
        agent = create_agent(right_run(), TOOLS, middleware=[middleware])
        await agent.ainvoke({"messages": [HumanMessage(T1)]})
        model = right_run()
        agent = create_agent(model, TOOLS, middleware=[middleware])
        await agent.ainvoke({"messages": [HumanMessage(T2)]})
        return model

    model = asyncio.run(main())
    shown = system_text(model.received[0])  # no system prompt: the block is the message
    assert shown.startswith("<experience_memory>")
    assert '<action value="1.50" tried="1">add(a=2, b=3)</action>' in section(shown, "encouraged")
    assert q_table(memory, T1, T1) == {"add(a=2, b=3)": (1.5, 1)}


def test_block_content_system_prompt_and_parallel_calls(make_memory) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory, placement="system")
    parallel = AIMessage("", tool_calls=[call("add", "c1", a=1, b=2), call("sub", "c2", a=5, b=1)])
    agent = create_agent(scripted(parallel, AIMessage("3 and 4")), TOOLS, middleware=[middleware])
    run_id = str(uuid.uuid4())
    out = agent.invoke({"messages": [("user", "Compute 1+2 and 5-1")]}, config={"run_id": run_id})
    assert out["rememberer_run_id"] == run_id
    table = q_table(memory, "Compute 1+2 and 5-1", "Compute 1+2 and 5-1")
    assert table == {"add(a=1, b=2); sub(a=5, b=1)": (0.0, 1)}  # +1 - 1 tool rewards
    # The parallel results "3" and "4" joined in call order (the key collapses whitespace).
    assert q_table(memory, "Compute 1+2 and 5-1", "3 4") == {"final_answer": (0.0, 1)}

    memory.learn(  # something worth showing: a neutral Q (0.0 above) is shown as nothing
        Episode(
            task="Compute 1+2 and 5-1",
            steps=[Step(observation="Compute 1+2 and 5-1", action="add(a=1, b=2)", reward=1.0)],
        )
    )
    model = scripted(AIMessage("3 and 4"))
    block_prompt = SystemMessage(content=[{"type": "text", "text": "Block prompt."}])
    agent = create_agent(model, TOOLS, system_prompt=block_prompt, middleware=[middleware])
    agent.invoke({"messages": [("user", "Compute 1+2 and 5-1")]})
    content = model.received[0][0].content
    assert content[0] == {"type": "text", "text": "Block prompt."}
    assert '<action value="1.00" tried="1">add(a=1, b=2)</action>' in content[1]["text"]


def test_only_this_turn_is_the_episode_with_metadata_task(make_memory) -> None:
    memory = make_memory()
    agent = create_agent(right_run(), TOOLS, middleware=[RemembererMiddleware(memory)])
    history = [HumanMessage("Earlier question"), AIMessage("Earlier answer")]
    agent.invoke(
        {"messages": [*history, HumanMessage("add them")]},
        config={"metadata": {"rememberer_task": "Add 2 and 3"}},
    )
    # The first observation is what the user said this turn; the task is the named one.
    assert q_table(memory, "Add 2 and 3", "add them") == {"add(a=2, b=3)": (1.0, 1)}
    assert memory.stats().updates == 2


def test_llm_judge_score_lands_in_the_episode(make_memory) -> None:
    memory = make_memory()
    judge = FakeToolModel(
        responses=[
            AIMessage("", tool_calls=[call("JudgeVerdict", "v1", score=0.8, reason="correct")])
        ],
        received=[],
    )
    middleware = RemembererMiddleware(memory, scorer=LLMJudgeScorer(judge))
    agent = create_agent(scripted(AIMessage("Paris.")), middleware=[middleware])
    agent.invoke({"messages": [("user", "Capital of France?")]})
    # A run without tool calls: one step, the final answer, rewarded by the judge.
    assert q_table(memory, "Capital of France?", "Capital of France?") == {
        "final_answer": (pytest.approx(0.8), 1)
    }
    judge_prompt = judge.received[0][-1].text
    assert "<task>\nCapital of France?\n</task>" in judge_prompt
    assert "final_answer" in judge_prompt


def test_invalid_judge_answer_means_no_learning(make_memory, caplog) -> None:
    memory = make_memory()

    class BadJudge(FakeToolModel):
        def with_structured_output(self, schema, **kwargs):
            return RunnableLambda(lambda _: JudgeVerdict.model_construct(score=7.0, reason="?"))

    middleware = RemembererMiddleware(memory, scorer=LLMJudgeScorer(BadJudge(responses=[])))
    agent = create_agent(scripted(AIMessage("Paris.")), middleware=[middleware])
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = agent.invoke({"messages": [("user", "Capital of France?")]})
    assert out["messages"][-1].content == "Paris."
    assert memory.stats().updates == 0
    assert memory.stats().pending == 0  # invalid is not "pending"
    assert f"run {out['rememberer_run_id']} not learned" in caplog.text
    assert "invalid verdict" in caplog.text


def test_nan_scorer_is_rejected_clearly(memory, caplog) -> None:
    agent = create_agent(
        scripted(AIMessage("ok")),
        middleware=[RemembererMiddleware(memory, scorer=lambda e: math.nan)],
    )
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        agent.invoke({"messages": [("user", "hello")]})
    assert memory.stats().updates == 0
    assert "not finite" in caplog.text


def test_non_memory_and_non_callable_scorer_are_rejected(memory) -> None:
    with pytest.raises(TypeError, match=r"needs a RemembererMemory.*got dict"):
        RemembererMiddleware({"path": "."})
    with pytest.raises(TypeError, match="scorer must be a callable"):
        RemembererMiddleware(memory, scorer=1.0)


def test_namespace_cleared_elsewhere_mid_session_is_recovered(make_memory, caplog) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory)
    create_agent(right_run(), TOOLS, middleware=[middleware]).invoke({"messages": [("user", T1)]})
    memory.store.client.delete_collection(f"{memory.store.collection_name}.default.states")

    model = right_run()
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = create_agent(model, TOOLS, middleware=[middleware]).invoke(
            {"messages": [("user", T2)]}
        )
    assert out["messages"][-1].content == "5"
    assert "<experience_memory>" not in str(model.received[0][0].content)  # states are gone
    assert "memory failed" not in caplog.text
    assert memory.stats().states == 2  # the new run was learned into fresh collections


def test_middleware_and_handler_on_one_run_learn_once(make_memory) -> None:
    memory = make_memory()
    handler = RLEMCallbackHandler(memory)
    agent = create_agent(right_run(), TOOLS, middleware=[RemembererMiddleware(memory)])
    out = agent.invoke({"messages": [("user", T1)]}, config={"callbacks": [handler]})
    assert out["rememberer_run_id"] == handler.last_run_id  # one run id for both
    assert not handler.episodes  # the handler left the run to the middleware
    assert memory.stats().updates == 2
    assert q_table(memory, T1, T1) == {"add(a=2, b=3)": (1.0, 1)}

    # Async, with the run id chosen by the caller (on Python 3.10 an async hook cannot see the
    # run's callbacks, so only an explicit run id makes both agree on it).
    rid = str(uuid.uuid4())

    async def again() -> dict[str, Any]:
        agent = create_agent(right_run(), TOOLS, middleware=[RemembererMiddleware(memory)])
        config = {"callbacks": [handler], "run_id": rid}
        return await agent.ainvoke({"messages": [("user", T2)]}, config=config)

    out = asyncio.run(again())
    assert out["rememberer_run_id"] == handler.last_run_id == rid
    assert not handler.episodes
    assert memory.stats().updates == 4


def test_langsmith_trace_shows_the_memories_used(make_memory, monkeypatch) -> None:
    """Offline: a langsmith Client that captures runs instead of sending them."""
    monkeypatch.delenv("LANGSMITH_TRACING", raising=False)

    class CaptureClient(SilentClient):
        def __init__(self) -> None:
            super().__init__()
            self.updated: list[tuple[str, dict, list]] = []

        def update_run(self, run_id, **kwargs) -> None:
            extra = kwargs.get("extra") or {}
            self.updated.append((str(run_id), extra.get("metadata", {}), kwargs.get("tags")))

    memory = make_memory()
    middleware = RemembererMiddleware(memory)
    create_agent(right_run(), TOOLS, middleware=[middleware]).invoke({"messages": [("user", T1)]})
    client = CaptureClient()
    tracer = LangChainTracer(client=client)
    run_id = str(uuid.uuid4())
    out = create_agent(right_run(), TOOLS, middleware=[middleware]).invoke(
        {"messages": [("user", T2)]}, config={"callbacks": [tracer], "run_id": run_id}
    )
    tracer.wait_for_futures()
    assert out["rememberer_run_id"] == run_id
    root = [(meta, tags) for rid, meta, tags in client.updated if rid == run_id]
    assert root
    meta, tags = root[-1]
    assert meta["rememberer_run_id"] == run_id
    assert meta["rememberer_exemplar_ids"]
    assert "rememberer" in tags


def test_frozen_middleware_shows_exemplars_but_learns_nothing(make_memory) -> None:
    memory = make_memory()
    create_agent(right_run(), TOOLS, middleware=[RemembererMiddleware(memory)]).invoke(
        {"messages": [("user", "Add 2 and 3")]}
    )
    before = memory.stats()
    model = right_run()
    frozen = RemembererMiddleware(memory, learn=False, placement="system")
    create_agent(model, TOOLS, middleware=[frozen]).invoke({"messages": [("user", "Add 2 and 3")]})
    assert '<action value="1.00" tried="1">add(a=2, b=3)</action>' in model.received[0][0].text
    assert memory.stats() == before


@tool
def explode(where: str) -> str:
    """A tool that fails: the agent run ends with its exception."""
    msg = f"no road to {where}"
    raise RuntimeError(msg)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_tool_exception_ending_the_run_is_learned_as_a_failure(make_memory, mode) -> None:
    memory = make_memory(rlem=RLEMConfig(gamma=0.9))
    told: list[bool | None] = []

    def scorer(episode) -> float:
        told.append(episode.succeeded)
        return -1.0 if episode.succeeded is False else 1.0

    middleware = RemembererMiddleware(memory, scorer=scorer)
    model = scripted(
        AIMessage("", tool_calls=[call("add", "c1", a=2, b=3)]),
        AIMessage("", tool_calls=[call("explode", "c2", where="north")]),
    )
    agent = create_agent(model, [*TOOLS, explode], middleware=[middleware])
    inputs = {"messages": [HumanMessage(T1)]}
    with pytest.raises(RuntimeError, match="no road to north"):
        agent.invoke(inputs) if mode == "sync" else asyncio.run(agent.ainvoke(inputs))
    assert told == [False]
    # r: add -> +1 (tool), explode -> 0 (raised) - 1 (scorer). G0 = 1 + 0.9 * -1, G1 = -1.
    assert q_table(memory, T1, T1) == {"add(a=2, b=3)": (pytest.approx(0.1), 1)}
    assert q_table(memory, T1, "5") == {'explode(where="north")': (-1.0, 1)}
    assert memory.stats().updates == 2


def test_tool_exception_caught_outside_is_replaced_by_the_whole_run(make_memory) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory, scorer=lambda e: 0.0)

    class Swallow(AgentMiddleware):
        def wrap_tool_call(self, request, handler):
            try:
                return handler(request)
            except RuntimeError as e:
                return ToolMessage(str(e), tool_call_id=request.tool_call["id"], status="error")

    model = scripted(
        AIMessage("", tool_calls=[call("explode", "c1", where="north")]),
        AIMessage("", tool_calls=[call("add", "c2", a=2, b=3)]),
        AIMessage("5"),
    )
    agent = create_agent(model, [*TOOLS, explode], middleware=[Swallow(), middleware])
    out = agent.invoke({"messages": [HumanMessage(T1)]})
    assert out["messages"][-1].content == "5"
    # The failure learned inside was forgotten; the run is one episode of three steps.
    assert memory.stats().updates == 3
    assert q_table(memory, T1, "5") == {"final_answer": (0.0, 1)}
    assert q_table(memory, T1, T1) == {'explode(where="north")': (1.0, 1)}
