"""The holdout experiment end to end: real agents, real Chroma, `memory.lift()`.

Only the chat model is scripted. A control run must make no retrieval call and show no
lessons, yet be learned with its arm; `lift()` counts each learned run exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from langchain_rememberer import (
    AsyncRLEMCallbackHandler,
    Episode,
    InvalidInputError,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
    exemplars_prompt,
)
from langchain_rememberer._outcomes import experiment_outcomes
from langchain_rememberer.holdout import assign_arm
from tests.integration_tests.test_callbacks import State
from tests.integration_tests.test_middleware import TOOLS, call, scripted

SHARE = 0.5
TASK = "What is 2 plus 3?"


def run_id_in(arm: str, skip: int = 0) -> uuid.UUID:
    """The `skip`-th UUID (by integer) whose run falls in `arm` at `SHARE`."""
    found = (u for i in range(1, 10_000) if assign_arm(str(u := uuid.UUID(int=i)), SHARE) == arm)
    for _ in range(skip):
        next(found)
    return next(found)


def right_model() -> Any:
    return scripted(AIMessage("", tool_calls=[call("add", "c1", a=2, b=3)]), AIMessage("5"))


def teach(memory: RemembererMemory) -> None:
    """A run without arm whose lesson any later run on TASK would be shown."""
    memory.learn(
        Episode(
            task=TASK,
            steps=[Step(observation=TASK, action="add(a=2, b=3)", reward=1.0)],
            run_id="lesson",
        )
    )


@contextmanager
def chroma_calls(memory: RemembererMemory) -> Iterator[list[tuple[str, str]]]:
    """Every call on the namespace's collections: (collection, method)."""
    ns = memory._open(None)
    calls: list[tuple[str, str]] = []
    saved = {}
    for kind in ("states", "log", "pending"):
        collection = getattr(ns, kind)
        for method in ("get", "query", "add", "upsert", "delete", "count"):
            original = getattr(collection, method)
            saved[kind, method] = original

            def recorded(
                *a: Any, _o: Any = original, _k: str = kind, _m: str = method, **kw: Any
            ) -> Any:
                calls.append((_k, _m))
                return _o(*a, **kw)

            setattr(collection, method, recorded)
    try:
        yield calls
    finally:
        for (kind, method), original in saved.items():
            setattr(getattr(ns, kind), method, original)


def shown_lessons(model: Any) -> bool:
    # The block is on the request's last message (the default placement), or the system message.
    return any("add(a=2, b=3)" in str(m[0].content) + str(m[-1].content) for m in model.received)


# -- the middleware ------------------------------------------------------------------------


def test_a_control_run_makes_no_retrieval_call_and_is_learned_with_its_arm(make_memory) -> None:
    runs = {}
    for arm in ("control", "memory"):  # each on a memory of its own, in the same state
        memory = make_memory(holdout=SHARE)
        teach(memory)
        memory.compact()  # rows settled: a retrieval is its vector query alone
        model = right_model()
        agent = create_agent(model, tools=TOOLS, middleware=[RemembererMiddleware(memory)])
        run_id = run_id_in(arm)
        with chroma_calls(memory) as calls:
            out = agent.invoke({"messages": [HumanMessage(TASK)]}, config={"run_id": run_id})
        runs[arm] = (model, calls, out)
        assert out["rememberer_arm"] == arm
        assert out["rememberer_run_id"] == str(run_id)
        report = memory.lift()
        assert (report.memory.runs, report.control.runs) == ((arm == "memory"), (arm == "control"))
        assert report.unassigned == 1  # the lesson
    control, memory_arm = runs["control"], runs["memory"]
    assert not shown_lessons(control[0])
    assert shown_lessons(memory_arm[0])
    assert ("states", "query") not in control[1]  # no retrieval at all
    assert ("states", "query") in memory_arm[1]
    # Its learn is the same calls as any learn's: the arm rides on the run record it writes.
    learn_calls = [c for c in memory_arm[1] if c != ("states", "query")]
    assert sorted(control[1]) == sorted(learn_calls)


def test_the_unit_key_puts_every_run_of_a_user_in_one_arm(make_memory) -> None:
    memory = make_memory(holdout=SHARE)
    user = next(f"user-{i}" for i in range(100) if assign_arm(f"user-{i}", SHARE) == "control")
    for _ in range(3):
        agent = create_agent(right_model(), tools=TOOLS, middleware=[RemembererMiddleware(memory)])
        config: RunnableConfig = {"metadata": {"rememberer_unit": user}}
        assert (
            agent.invoke({"messages": [HumanMessage(TASK)]}, config)["rememberer_arm"] == "control"
        )
    report = memory.lift()
    assert (report.memory.runs, report.control.runs) == (0, 3)
    outcomes, _ = experiment_outcomes(memory.store, memory._open(None))
    assert len({o.unit for o in outcomes}) == 1  # one unit: lift() resamples it whole
    assert outcomes[0].unit not in {"", user}  # a hash: the key itself is not stored
    assert report.summary().startswith("not enough runs to tell yet (need about")


def test_a_unit_key_that_is_not_a_string_warns_and_leaves_the_run_out(make_memory, caplog) -> None:
    memory = make_memory(holdout=SHARE)
    teach(memory)
    model = right_model()
    agent = create_agent(model, tools=TOOLS, middleware=[RemembererMiddleware(memory)])
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = agent.invoke(
            {"messages": [HumanMessage(TASK)]}, {"metadata": {"rememberer_unit": 42}}
        )
    assert out["messages"][-1].content == "5"  # the run itself went on
    assert out["rememberer_arm"] == ""
    assert "left out of the holdout experiment" in caplog.text
    assert "must be a non-empty string" in caplog.text
    assert shown_lessons(model)
    with pytest.raises(InvalidInputError, match="carry no arm"):
        memory.lift()  # learned, but in no arm: nothing to compare


def test_async_middleware_runs_the_holdout_too(make_memory) -> None:
    memory = make_memory(holdout=SHARE)
    teach(memory)
    model = right_model()
    agent = create_agent(model, tools=TOOLS, middleware=[RemembererMiddleware(memory)])
    out = asyncio.run(
        agent.ainvoke({"messages": [HumanMessage(TASK)]}, {"run_id": run_id_in("control")})
    )
    assert out["rememberer_arm"] == "control"
    assert not shown_lessons(model)
    assert asyncio.run(memory.alift()).control.runs == 1


# -- the callback handler and the prompt helper ----------------------------------------------


def prompted_graph(model: Any, memory: RemembererMemory) -> Any:
    """A hand-built agent whose model node prompts with `exemplars_prompt`."""
    from langgraph.graph import START, StateGraph  # noqa: PLC0415
    from langgraph.prebuilt import ToolNode, tools_condition  # noqa: PLC0415

    prompt = exemplars_prompt(memory, "You add numbers.")

    def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        return {"messages": [model.invoke(prompt(state), config)]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(TOOLS))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


@pytest.mark.parametrize("arm", ["control", "memory"])
def test_the_handler_and_the_prompt_helper_agree_on_the_arm(make_memory, arm: str) -> None:
    memory = make_memory(holdout=SHARE)
    teach(memory)
    model = right_model()
    handler = RLEMCallbackHandler(memory)
    run_id = run_id_in(arm)
    prompted_graph(model, memory).invoke(
        {"messages": [HumanMessage(TASK)]}, {"callbacks": [handler], "run_id": run_id}
    )
    assert shown_lessons(model) == (arm == "memory")
    (episode,) = handler.episodes
    assert (episode.arm, episode.holdout) == (arm, SHARE)
    report = memory.lift()
    assert getattr(report, arm).runs == 1


def test_the_async_handler_records_the_arm(make_memory) -> None:
    memory = make_memory(holdout=SHARE)
    teach(memory)
    model = right_model()
    handler = AsyncRLEMCallbackHandler(memory)
    run_id = run_id_in("control", skip=1)
    asyncio.run(
        prompted_graph(model, memory).ainvoke(
            {"messages": [HumanMessage(TASK)]}, {"callbacks": [handler], "run_id": run_id}
        )
    )
    assert not shown_lessons(model)
    assert memory.lift().control.runs == 1


# -- counting: exactly the learned runs ------------------------------------------------------


def episode(i: int, arm: str, reward: float) -> Episode:
    return Episode(
        task=f"task {i % 2}",
        steps=[Step(observation="o", action="a", reward=reward)],
        run_id=f"run-{i}",
        arm=arm,
        holdout=0.2,
    )


def test_a_relearn_counts_once_and_a_half_written_run_not_at_all(make_memory, monkeypatch) -> None:
    memory = make_memory(holdout=0.2)
    for i in range(30):
        memory.learn(episode(i, "control" if i % 3 == 0 else "memory", float(i % 2)))
    before = memory.lift()
    assert before.runs == 30
    assert memory.learn(episode(4, "memory", 0.0)).already_learned  # a retry
    assert memory.lift() == before

    # A process killed after the run record, before its done record:
    def killed(*_a: Any, **_k: Any) -> Any:
        raise SystemExit("killed")

    monkeypatch.setattr(memory.ledger, "complete", killed)
    with pytest.raises(SystemExit):
        memory.learn(episode(99, "control", 1.0))
    monkeypatch.undo()
    assert memory.lift() == before  # prepared, never committed: not counted
    memory.learn(episode(99, "control", 1.0))  # the same learn again completes it, once
    after = memory.lift()
    assert (after.runs, after.control.runs) == (31, before.control.runs + 1)
    assert memory.forget_run("run-99") > 0
    assert memory.lift() == before  # forgotten: not counted


def test_a_capped_reward_is_measured_as_given(make_memory) -> None:
    from langchain_rememberer import RLEMConfig  # noqa: PLC0415

    memory = make_memory(holdout=0.2, rlem=RLEMConfig(gamma=1.0, max_run_reward=1.0))
    memory.learn(episode(1, "memory", 5.0))
    assert memory.lift().memory.mean == 5.0


def test_lift_on_nothing_is_a_clear_error_and_creates_nothing(make_memory) -> None:
    memory = make_memory(holdout=0.1)
    with pytest.raises(InvalidInputError, match="no runs recorded yet"):
        memory.lift()
    assert not memory.store.exists(memory.namespace)
    with pytest.raises(InvalidInputError, match="no runs recorded yet"):
        memory.lift(namespace="elsewhere")


def test_a_namespace_from_before_the_holdout_says_its_runs_carry_no_arm(make_memory) -> None:
    memory = make_memory()  # no holdout: runs learned as before this feature
    teach(memory)
    with pytest.raises(InvalidInputError, match=r"1 learned runs .* carry no arm"):
        memory.lift()


@pytest.mark.parametrize("bad", [-0.1, 1.0, math.nan, True, "0.1"])
def test_a_bad_holdout_is_refused_at_construction(make_memory, bad: object) -> None:
    with pytest.raises(InvalidInputError, match="holdout must be a number from 0"):
        make_memory(holdout=bad)


# -- on a server -----------------------------------------------------------------------------


def test_a_server_memory_measures_what_another_client_learned(chroma_server, embeddings) -> None:
    name = f"lift-{uuid.uuid4().hex[:8]}"
    writer = RemembererMemory(
        client=chroma_server.client(), embeddings=embeddings, collection_name=name, holdout=SHARE
    )
    reader = RemembererMemory(
        client=chroma_server.client(), embeddings=embeddings, collection_name=name
    )
    teach(writer)
    for arm, skip in (("control", 0), ("memory", 0), ("control", 1)):
        agent = create_agent(right_model(), tools=TOOLS, middleware=[RemembererMiddleware(writer)])
        agent.invoke({"messages": [HumanMessage(TASK)]}, {"run_id": run_id_in(arm, skip)})
    report = reader.lift()
    assert (report.memory.runs, report.control.runs, report.unassigned) == (1, 2, 1)
    writer.clear()


def test_a_langsmith_user_can_group_runs_by_arm(make_memory, monkeypatch) -> None:
    """Offline: a langsmith Client that captures the runs' metadata and tags."""
    from langchain_core.tracers.langchain import LangChainTracer  # noqa: PLC0415

    from tests.integration_tests.test_middleware import SilentClient  # noqa: PLC0415

    monkeypatch.delenv("LANGSMITH_TRACING", raising=False)

    class CaptureClient(SilentClient):
        def __init__(self) -> None:
            super().__init__()
            self.updated: list[tuple[str, dict, list]] = []

        def update_run(self, run_id, **kwargs) -> None:
            extra = kwargs.get("extra") or {}
            self.updated.append((str(run_id), extra.get("metadata", {}), kwargs.get("tags")))

    memory = make_memory(holdout=SHARE)
    for arm in ("control", "memory"):
        client = CaptureClient()
        tracer = LangChainTracer(client=client)
        run_id = str(run_id_in(arm))
        agent = create_agent(right_model(), TOOLS, middleware=[RemembererMiddleware(memory)])
        agent.invoke({"messages": [HumanMessage(TASK)]}, {"callbacks": [tracer], "run_id": run_id})
        tracer.wait_for_futures()
        meta, tags = next((m, t) for rid, m, t in reversed(client.updated) if rid == run_id)
        assert meta["rememberer_arm"] == arm
        assert f"rememberer:{arm}" in tags


def test_an_unknown_lift_option_is_a_clear_error(make_memory) -> None:
    memory = make_memory(holdout=0.2)
    memory.learn(episode(1, "memory", 1.0))
    with pytest.raises(InvalidInputError, match=r"unknown option 'min_efect'.*min_effect"):
        memory.lift(min_efect=0.1)
