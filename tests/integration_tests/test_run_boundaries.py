"""Where one run ends and another begins: traces, nesting, interrupts, streams, summaries.

Real `create_agent` agents and graphs, real tools, real Chroma; only chat models are scripted.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import numpy as np
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, SummarizationMiddleware
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import InjectedToolCallId, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.types import Command, interrupt
from langsmith import traceable, tracing_context

from langchain_rememberer import (
    Episode,
    FeedbackScorer,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
)
from langchain_rememberer.adapters._learning import finish_episode
from langchain_rememberer.adapters.scoring import JudgeVerdict, LLMJudgeScorer
from langchain_rememberer.transfer import export_records
from tests.integration_tests.test_middleware import (
    TOOLS,
    FakeToolModel,
    SilentClient,
    call,
    scripted,
)


class Recorder:
    """A scorer that keeps the episodes it was given."""

    def __init__(self, score: float = 1.0) -> None:
        self.episodes: list = []
        self.score = score

    def __call__(self, episode) -> float:
        self.episodes.append(episode)
        return self.score


def adding(i: int) -> FakeToolModel:
    return scripted(
        AIMessage("", tool_calls=[call("add", f"c{i}", a=i, b=1)]), AIMessage(f"{i + 1}")
    )


def steps(episode) -> list[tuple[str, str]]:
    return [(s.observation, s.action) for s in episode.steps]


def test_agent_runs_in_one_trace_are_separate_episodes(make_memory) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory, scorer=lambda e: 1.0)

    @traceable
    def evaluate_all() -> list[str]:
        return [
            create_agent(adding(i), TOOLS, middleware=[middleware]).invoke(
                {"messages": [("user", f"task {i}")]}
            )["rememberer_run_id"]
            for i in range(3)
        ]

    with tracing_context(enabled=True, client=SilentClient()):
        ids = evaluate_all()
    assert len(set(ids)) == 3
    assert memory.stats().updates == 6
    assert all(memory.is_learned(i) for i in ids)


def test_agents_inside_a_chain_with_the_handler_keep_their_own_runs(make_memory) -> None:
    memory = make_memory()
    scorer, outer = Recorder(), Recorder()
    middleware = RemembererMiddleware(memory, scorer=scorer)
    handler = RLEMCallbackHandler(memory, scorer=outer)

    def two_tasks(_: str, config) -> list[str]:
        one = create_agent(adding(1), TOOLS, middleware=[middleware])
        two = create_agent(adding(2), TOOLS, middleware=[middleware])
        return [
            one.invoke({"messages": [("user", "task one")]}, config)["rememberer_run_id"],
            two.invoke({"messages": [("user", "task two")]}, config)["rememberer_run_id"],
        ]

    ids = RunnableLambda(two_tasks).invoke("x", {"callbacks": [handler]})
    assert len(set(ids)) == 2
    assert [e.task for e in scorer.episodes] == ["task one", "task two"]
    assert memory.stats().updates == 4
    # The chain itself made no model call: it only wraps the agents, which learn their runs.
    assert outer.episodes == []


def test_a_sub_agent_with_middleware_inside_a_tool_of_a_handled_agent(make_memory) -> None:
    outer_memory, inner_memory = make_memory(), make_memory()
    inner = RemembererMiddleware(inner_memory, scorer=lambda e: 1.0)

    @tool
    def research(q: str) -> str:
        """Ask a sub-agent."""
        sub = create_agent(scripted(AIMessage("found it")), [], middleware=[inner])
        return sub.invoke({"messages": [("user", q)]})["messages"][-1].content

    outer_scorer = Recorder()
    handler = RLEMCallbackHandler(outer_memory, scorer=outer_scorer)
    model = scripted(
        AIMessage("", tool_calls=[call("research", "r1", q="sub question")]), AIMessage("done")
    )
    create_agent(model, [research]).invoke(
        {"messages": [("user", "outer task")]}, {"callbacks": [handler]}
    )
    (episode,) = outer_scorer.episodes
    assert steps(episode) == [
        ("outer task", 'research(q="sub question")'),
        ("found it", "final_answer"),
    ]
    assert outer_memory.stats().updates == 2
    assert inner_memory.stats().updates == 1


@tool
def ask(q: str) -> str:
    """Ask a human."""
    return "human said " + str(interrupt(q))


def test_interrupted_runs_are_learned_once_by_the_middleware_only(make_memory) -> None:
    memory = make_memory()
    handler_scorer, scorer = Recorder(), Recorder()
    handler = RLEMCallbackHandler(memory, scorer=handler_scorer)
    middleware = RemembererMiddleware(memory, scorer=scorer)
    model = scripted(AIMessage("", tool_calls=[call("ask", "c1", q="ok?")]), AIMessage("done"))
    agent = create_agent(model, [ask], middleware=[middleware], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    paused = agent.invoke({"messages": [("user", "need approval")]}, config)
    assert "__interrupt__" in paused
    assert scorer.episodes == []
    assert handler_scorer.episodes == []
    agent.invoke(Command(resume="yes"), config)
    (episode,) = scorer.episodes
    assert steps(episode) == [("need approval", 'ask(q="ok?")'), ("human said yes", "final_answer")]
    assert handler_scorer.episodes == []  # neither the paused run nor its resumption
    assert memory.stats().updates == 2


def test_handler_alone_does_not_learn_interrupted_or_resumed_runs(memory) -> None:
    scorer = Recorder()
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    model = scripted(AIMessage("", tool_calls=[call("ask", "c1", q="ok?")]), AIMessage("done"))
    agent = create_agent(model, [ask], checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}, "callbacks": [handler]}
    agent.invoke({"messages": [("user", "need approval")]}, config)
    agent.invoke(Command(resume="yes"), config)
    assert scorer.episodes == []
    assert memory.stats().updates == 0
    assert handler.open_runs == {}


def test_a_stream_left_early_is_not_a_failed_episode(memory) -> None:
    scorer = Recorder()
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    agent = create_agent(adding(1), TOOLS)
    for _ in agent.stream({"messages": [("user", "stream task")]}, {"callbacks": [handler]}):
        break
    assert scorer.episodes == []
    assert memory.stats().updates == 0
    assert handler.open_runs == {}


class ScriptedJudge:
    """Stand-in for a chat model with structured output, streaming its verdict as text."""

    def __init__(self) -> None:
        self.model = scripted(AIMessage("JUDGE SAYS 0.75"))

    def with_structured_output(self, schema, **kwargs):
        return self.model | RunnableLambda(lambda m: JudgeVerdict(score=0.75, reason=m.content))


def test_the_judge_is_not_streamed_to_the_user(make_memory) -> None:
    memory = make_memory()
    judge = LLMJudgeScorer(ScriptedJudge())
    agent = create_agent(
        scripted(AIMessage("agent answer")),
        [],
        middleware=[RemembererMiddleware(memory, scorer=judge)],
    )
    chunks = [
        chunk.content
        for chunk, _ in agent.stream({"messages": [("user", "hi")]}, stream_mode="messages")
    ]
    assert "agent answer" in chunks
    assert not any("JUDGE" in str(c) for c in chunks)
    assert judge.last_verdict is not None
    assert judge.last_verdict.reason == "JUDGE SAYS 0.75"  # it did judge, off the stream


def test_both_adapters_build_the_same_episode_with_a_task_override(make_memory) -> None:
    scorer_mw, scorer_h = Recorder(), Recorder()
    meta = {"metadata": {"rememberer_task": "ADDITION"}}
    agent = create_agent(
        adding(1), TOOLS, middleware=[RemembererMiddleware(make_memory(), scorer=scorer_mw)]
    )
    agent.invoke({"messages": [("user", "what is 1+1")]}, meta)
    handler = RLEMCallbackHandler(make_memory(), scorer=scorer_h)
    create_agent(adding(1), TOOLS).invoke(
        {"messages": [("user", "what is 1+1")]}, {**meta, "callbacks": [handler]}
    )
    (by_middleware,), (by_handler,) = scorer_mw.episodes, scorer_h.episodes
    assert by_middleware.task == by_handler.task == "ADDITION"
    assert (
        steps(by_middleware)
        == steps(by_handler)
        == [
            ("what is 1+1", "add(a=1, b=1)"),
            ("2", "final_answer"),
        ]
    )


def test_a_summarized_run_keeps_its_task_and_the_steps_it_can_replay(make_memory) -> None:
    scorer = Recorder()
    summarizer = SummarizationMiddleware(
        model=scripted(*[AIMessage("SUMMARY TEXT")] * 5),
        trigger=("messages", 4),
        keep=("messages", 2),
    )
    model = scripted(
        AIMessage("", tool_calls=[call("add", "c1", a=1, b=1)]),
        AIMessage("", tool_calls=[call("add", "c2", a=2, b=2)]),
        AIMessage("", tool_calls=[call("add", "c3", a=3, b=3)]),
        AIMessage("done"),
    )
    memory = make_memory()
    agent = create_agent(
        model, TOOLS, middleware=[summarizer, RemembererMiddleware(memory, scorer=scorer)]
    )
    out = agent.invoke({"messages": [HumanMessage("Add the numbers please")]})
    assert "SUMMARY TEXT" in out["messages"][0].content  # the run was summarized
    (episode,) = scorer.episodes
    assert episode.task == "Add the numbers please"
    assert steps(episode) == [("6", "final_answer")]


@tool(response_format="content_and_artifact")
def numpy_reward(x: int) -> tuple[str, dict]:
    """A tool reporting its reward as a numpy scalar."""
    return str(x), {"reward": np.int64(2)}


def test_numpy_rewards_count(make_memory) -> None:
    scorer = Recorder(score=0.0)
    model = scripted(AIMessage("", tool_calls=[call("numpy_reward", "n1", x=1)]), AIMessage("ok"))
    create_agent(
        model, [numpy_reward], middleware=[RemembererMiddleware(make_memory(), scorer=scorer)]
    ).invoke({"messages": [("user", "numpy")]})
    (episode,) = scorer.episodes
    assert [s.reward for s in episode.steps] == [2.0, 0.0]


@tool
def goto(room: str, tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Move, updating the graph state with a Command."""
    message = ToolMessage(f"You are in the {room}.", tool_call_id=tool_call_id)
    return Command(update={"messages": [message]})


def test_handler_reads_the_tool_message_of_a_command(memory) -> None:
    scorer = Recorder()
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    model = scripted(AIMessage("", tool_calls=[call("goto", "g1", room="hall")]), AIMessage("ok"))
    create_agent(model, [goto]).invoke(
        {"messages": [("user", "go to the hall")]}, {"callbacks": [handler]}
    )
    (episode,) = scorer.episodes
    assert steps(episode) == [
        ("go to the hall", 'goto(room="hall")'),
        ("You are in the hall.", "final_answer"),
    ]


def test_runs_that_never_end_are_dropped_oldest_first(memory, caplog) -> None:
    handler = RLEMCallbackHandler(memory, max_open_runs=2)
    abandoned = [uuid.uuid4() for _ in range(3)]
    for run_id in abandoned:  # three root runs start; none ends
        handler.on_chain_start({}, {"input": "x"}, run_id=run_id)
    assert set(handler.open_runs) == {str(abandoned[1]), str(abandoned[2])}
    assert f"run {abandoned[0]} never ended" in caplog.text


def test_the_turn_after_a_summarized_turn_is_a_whole_episode(make_memory) -> None:
    scorer = Recorder()
    summarizer = SummarizationMiddleware(
        model=scripted(*[AIMessage("SUMMARY TEXT")] * 5),
        trigger=("messages", 4),
        keep=("messages", 3),
    )
    model = scripted(
        AIMessage("", tool_calls=[call("add", "c1", a=1, b=1)]),
        AIMessage("", tool_calls=[call("add", "c2", a=2, b=2)]),
        AIMessage("done"),
        AIMessage("", tool_calls=[call("add", "c3", a=5, b=5)]),
        AIMessage("10"),
    )
    agent = create_agent(
        model,
        TOOLS,
        middleware=[summarizer, RemembererMiddleware(make_memory(), scorer=scorer)],
        checkpointer=InMemorySaver(),
    )
    config = {"configurable": {"thread_id": "two turns"}}
    agent.invoke({"messages": [HumanMessage("Add the numbers please")]}, config)
    out = agent.invoke({"messages": [HumanMessage("Now add five and five")]}, config)
    assert any("SUMMARY TEXT" in str(m.content) for m in out["messages"])
    first, second = scorer.episodes
    assert first.task == "Add the numbers please"
    assert second.task == "Now add five and five"
    assert steps(second) == [
        ("Now add five and five", "add(a=5, b=5)"),
        ("10", "final_answer"),
    ]


def test_a_wrapped_agent_shares_its_run_id_with_the_handler(make_memory) -> None:
    memory = make_memory()
    middleware = RemembererMiddleware(memory, scorer=FeedbackScorer())
    handler = RLEMCallbackHandler(memory, scorer=FeedbackScorer())
    agent = create_agent(adding(1), TOOLS, middleware=[middleware]).with_retry()
    out = agent.invoke({"messages": [("user", "add one and one")]}, {"callbacks": [handler]})
    assert memory.pending_runs() == [out["rememberer_run_id"]]  # no empty episode beside it
    assert handler.last_run_id == out["rememberer_run_id"]
    assert handler.record_feedback(handler.last_run_id, 1.0).updates_written == 2


@tool
def handoff(tool_call_id: Annotated[str, InjectedToolCallId]) -> Command:
    """Hand the conversation to the finisher."""
    message = ToolMessage("handed off", tool_call_id=tool_call_id)
    return Command(graph=Command.PARENT, goto="finisher", update={"messages": [message]})


def test_a_hand_off_between_agents_is_not_an_interrupt(memory) -> None:
    scorer = Recorder()
    worker = create_agent(scripted(AIMessage("", tool_calls=[call("handoff", "h1")])), [handoff])
    graph = StateGraph(MessagesState)
    graph.add_node("worker", worker, destinations=("finisher",))
    graph.add_node("finisher", lambda state: {"messages": [AIMessage("done")]})
    graph.add_edge(START, "worker")
    graph.add_edge("finisher", END)
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    out = graph.compile().invoke(
        {"messages": [HumanMessage("do the task")]}, {"callbacks": [handler]}
    )
    assert out["messages"][-1].content == "done"
    (episode,) = scorer.episodes
    assert episode.succeeded is True
    assert steps(episode)[0] == ("do the task", "handoff()")


def test_events_of_a_dropped_run_do_not_become_episodes(memory) -> None:
    scorer = Recorder()
    handler = RLEMCallbackHandler(memory, scorer=scorer, max_open_runs=1)
    stream = create_agent(adding(1), TOOLS).stream(
        {"messages": [("user", "task A")]}, {"callbacks": [handler]}, stream_mode="updates"
    )
    next(stream)  # task A is open ...
    create_agent(adding(2), TOOLS).invoke(
        {"messages": [("user", "task B")]}, {"callbacks": [handler]}
    )  # ... and dropped when task B starts
    list(stream)  # task A's remaining steps
    assert [e.task for e in scorer.episodes] == ["task B"]


@tool
def flaky(x: int) -> str:
    """Fails."""
    msg = f"boom {x}"
    raise RuntimeError(msg)


def test_a_failure_after_a_caught_one_is_learned_whole(make_memory) -> None:
    class SwallowFirst(AgentMiddleware):
        seen = 0

        def wrap_tool_call(self, request, handler):
            try:
                return handler(request)
            except RuntimeError as e:
                SwallowFirst.seen += 1
                if SwallowFirst.seen > 1:
                    raise
                return ToolMessage(str(e), tool_call_id=request.tool_call["id"], status="error")

    scorer = Recorder(score=-1.0)
    memory = make_memory()
    model = scripted(
        AIMessage("", tool_calls=[call("flaky", "c1", x=1)]),
        AIMessage("", tool_calls=[call("add", "c2", a=1, b=2)]),
        AIMessage("", tool_calls=[call("flaky", "c3", x=2)]),
    )
    agent = create_agent(
        model,
        [*TOOLS, flaky],
        middleware=[SwallowFirst(), RemembererMiddleware(memory, scorer=scorer)],
    )
    with pytest.raises(RuntimeError, match="boom 2"):
        agent.invoke({"messages": [("user", "do it")]})
    assert [len(e.steps) for e in scorer.episodes] == [1, 3]
    assert memory.stats().updates == 3  # the first partial episode was replaced


def test_a_failed_run_resumed_elsewhere_is_two_attempts(make_memory) -> None:
    calls = {"n": 0}

    @tool(response_format="content_and_artifact")
    def once_flaky(x: int) -> tuple[str, dict]:
        """Fails the first time."""
        calls["n"] += 1
        if calls["n"] == 1:
            msg = "transient"
            raise ConnectionError(msg)
        return "ok", {"reward": 1.0}

    memory, saver = make_memory(), InMemorySaver()
    model = scripted(AIMessage("", tool_calls=[call("once_flaky", "c1", x=1)]), AIMessage("done"))

    def worker() -> Any:  # a fresh middleware: another process, after a restart
        middleware = RemembererMiddleware(memory, scorer=lambda e: 0.0)
        return create_agent(model, [once_flaky], middleware=[middleware], checkpointer=saver)

    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ConnectionError):
        worker().invoke({"messages": [("user", "try")]}, config)
    run_id = worker().invoke(None, config)["rememberer_run_id"]
    ns = memory._open(None)
    whole = sorted((r.step, r.reward) for r in export_records(memory, ns) if r.run_id == run_id)
    assert whole == [(0, 1.0), (1, 0.0)]  # not mixed with the failed attempt
    assert memory.is_learned(f"{run_id}#failed")


def test_numpy_scores_and_bad_handler_settings(memory) -> None:
    assert finish_episode(memory, Episode(task="t", steps=[Step(observation="o", action="a")]),
                          lambda e: np.float32(0.5)) is not None  # fmt: skip
    with pytest.raises(ValueError, match="max_open_runs must be a whole number"):
        RLEMCallbackHandler(memory, max_open_runs=0)


def test_a_repeated_question_starts_at_its_own_message(make_memory) -> None:
    """The run's start is its human message's id, so an identical earlier question is history."""
    scorer = Recorder()
    model = scripted(
        AIMessage("", tool_calls=[call("add", "c1", a=1, b=1)]),
        AIMessage("2"),
        AIMessage("", tool_calls=[call("add", "c2", a=5, b=5)]),
        AIMessage("10"),
    )
    memory = make_memory()
    agent = create_agent(
        model,
        TOOLS,
        middleware=[RemembererMiddleware(memory, scorer=scorer)],
        checkpointer=InMemorySaver(),
    )
    config: Any = {"configurable": {"thread_id": "t"}}
    agent.invoke({"messages": [HumanMessage("Add please")]}, config)
    agent.invoke({"messages": [HumanMessage("Add please")]}, config)
    first, second = scorer.episodes
    assert steps(first) == [("Add please", "add(a=1, b=1)"), ("2", "final_answer")]
    assert steps(second) == [("Add please", "add(a=5, b=5)"), ("10", "final_answer")]
    values = agent.get_state(config).values
    humans = [m for m in values["messages"] if isinstance(m, HumanMessage)]
    assert values["rememberer_start_id"] == humans[1].id != humans[0].id
