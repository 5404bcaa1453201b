"""RLEMCallbackHandler on a LangGraph graph, an LCEL chain and a classic AgentExecutor.

Real tools, real Chroma; only the chat model is scripted.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition

from langchain_rememberer import (
    Episode,
    FeedbackError,
    FeedbackScorer,
    RemembererMemory,
    RLEMCallbackHandler,
    Step,
    exemplars_prompt,
    exemplars_runnable,
)
from tests.integration_tests.test_middleware import TOOLS, FakeToolModel, call, scripted


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


@tool
def explode(x: int) -> str:
    """Always fails."""
    msg = f"no luck with {x}"
    raise ValueError(msg)


def graph(model: FakeToolModel, *, handle_tool_errors: bool = False) -> Any:
    """A hand-built tool-calling agent: model node, ToolNode, tools_condition."""

    def agent(state: State, config: RunnableConfig) -> dict[str, Any]:
        # Passing `config` on keeps callbacks attached on Python 3.10 under ainvoke, where
        # LangGraph cannot propagate them through contextvars.
        return {"messages": [model.invoke(state["messages"], config)]}

    builder = StateGraph(State)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([*TOOLS, explode], handle_tool_errors=handle_tool_errors))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    return builder.compile()


def two_step(task_seed: int) -> FakeToolModel:
    a, b = task_seed, task_seed + 1
    return scripted(
        AIMessage("", tool_calls=[call("add", f"c{a}", a=a, b=b)]), AIMessage(str(a + b))
    )


def expected(task_seed: int, run_id: str) -> Episode:
    a, b = task_seed, task_seed + 1
    return Episode(
        task=f"What is {a} plus {b}?",
        steps=[
            Step(observation=f"What is {a} plus {b}?", action=f"add(a={a}, b={b})", reward=1.0),
            Step(observation=str(a + b), action="final_answer", answer=str(a + b)),
        ],
        run_id=run_id,
        succeeded=True,
    )


def question(task_seed: int) -> dict[str, Any]:
    return {"messages": [HumanMessage(f"What is {task_seed} plus {task_seed + 1}?")]}


def test_langgraph_graph_with_tool_node(memory) -> None:
    handler = RLEMCallbackHandler(memory)
    run_id = uuid.uuid4()
    graph(two_step(2)).invoke(question(2), config={"callbacks": [handler], "run_id": run_id})
    assert handler.last_run_id == str(run_id)
    assert list(handler.episodes) == [expected(2, str(run_id))]
    assert handler.reports[str(run_id)].targets == [1.0, 0.0]
    state = memory.retrieve("What is 2 plus 3?", "What is 2 plus 3?", k=1)[0]
    assert [(a.action, a.q, a.visits) for a in state.actions] == [("add(a=2, b=3)", 1.0, 1)]
    assert handler.open_runs == {}


def test_parallel_tool_calls_and_tool_errors(memory) -> None:
    handler = RLEMCallbackHandler(memory)
    model = scripted(
        AIMessage("", tool_calls=[call("sub", "s", a=9, b=1), call("explode", "e", x=1)]),
        AIMessage("gave up"),
    )
    graph(model, handle_tool_errors=True).invoke(
        {"messages": [("user", "Try both")]}, config={"callbacks": [handler]}
    )
    (episode,) = handler.episodes
    assert [s.action for s in episode.steps] == ["sub(a=9, b=1); explode(x=1)", "final_answer"]
    assert episode.steps[0].reward == -1.0
    assert episode.steps[1].observation == "8\nError: ValueError: no luck with 1"


def test_failed_run_is_a_failed_episode(memory) -> None:
    seen: list[Episode] = []

    def scorer(episode: Episode) -> float:
        seen.append(episode)
        return 0.0 if episode.succeeded else -1.0

    handler = RLEMCallbackHandler(memory, scorer=scorer)
    model = scripted(AIMessage("", tool_calls=[call("explode", "e", x=3)]), AIMessage("never"))
    with pytest.raises(ValueError, match="no luck"):
        graph(model).invoke({"messages": [("user", "Explode 3")]}, config={"callbacks": [handler]})
    (episode,) = seen
    assert episode.succeeded is False
    assert episode.steps == [Step(observation="Explode 3", action="explode(x=3)")]
    assert memory.retrieve("Explode 3", "Explode 3", k=1)[0].actions[0].q == -1.0


def test_lcel_chain_without_tools(memory) -> None:
    handler = RLEMCallbackHandler(memory, scorer=lambda episode: 1.0)
    prompt = ChatPromptTemplate.from_messages([("system", "Be brief."), ("human", "{question}")])
    chain = prompt | scripted(AIMessage("Paris.")) | StrOutputParser()
    assert chain.invoke({"question": "Capital of France?"}, config={"callbacks": [handler]}) == (
        "Paris."
    )
    (episode,) = handler.episodes
    assert episode.task == "Capital of France?"
    assert episode.steps == [
        Step(observation="Capital of France?", action="final_answer", answer="Paris.")
    ]
    state = memory.retrieve("Capital of France?", "Capital of France?", k=1)[0]
    assert [(a.action, a.q) for a in state.actions] == [("final_answer", 1.0)]


def test_classic_agent_executor(memory) -> None:
    from langchain_classic import agents  # the `classic` extra, part of `test`

    prompt = ChatPromptTemplate.from_messages(
        [("system", "You add."), ("human", "{input}"), ("placeholder", "{agent_scratchpad}")]
    )
    model = two_step(4)
    executor = agents.AgentExecutor(
        agent=agents.create_tool_calling_agent(model, TOOLS, prompt), tools=TOOLS
    )
    handler = RLEMCallbackHandler(memory)
    run_id = uuid.uuid4()
    out = executor.invoke(
        {"input": "What is 4 plus 5?"}, config={"callbacks": [handler], "run_id": run_id}
    )
    assert out["output"] == "9"
    # Classic tools report raw content (no artifact), so the tool reward is not seen.
    (episode,) = handler.episodes
    assert episode.task == "What is 4 plus 5?"
    assert [(s.observation, s.action) for s in episode.steps] == [
        ("What is 4 plus 5?", "add(a=4, b=5)"),
        ("9", "final_answer"),
    ]
    assert episode.run_id == str(run_id)


def test_concurrent_runs_in_threads(memory) -> None:
    handler = RLEMCallbackHandler(memory)
    run_ids = {seed: str(uuid.uuid4()) for seed in range(1, 7)}

    def run(seed: int) -> None:
        config = {"callbacks": [handler], "run_id": run_ids[seed]}
        graph(two_step(seed)).invoke(question(seed), config=config)

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(run, run_ids))
    got = {e.run_id: e for e in handler.episodes}
    assert got == {rid: expected(seed, rid) for seed, rid in run_ids.items()}
    assert handler.open_runs == {}


def test_concurrent_runs_with_asyncio_gather(memory) -> None:
    handler = RLEMCallbackHandler(memory)
    run_ids = {seed: str(uuid.uuid4()) for seed in (1, 2)}

    async def main() -> None:
        await asyncio.gather(
            *(
                graph(two_step(seed)).ainvoke(
                    question(seed), config={"callbacks": [handler], "run_id": rid}
                )
                for seed, rid in run_ids.items()
            )
        )

    asyncio.run(main())
    got = {e.run_id: e for e in handler.episodes}
    assert got == {rid: expected(seed, rid) for seed, rid in run_ids.items()}
    assert memory.stats().updates == 4


def test_delayed_feedback_survives_a_restart(tmp_path, embeddings) -> None:
    options = {"path": tmp_path / "memory", "embeddings": embeddings}
    handler = RLEMCallbackHandler(RemembererMemory(**options), scorer=FeedbackScorer())
    graph(two_step(2)).invoke(question(2), config={"callbacks": [handler]})
    run_id = handler.last_run_id
    assert handler.memory.pending_runs() == [run_id]
    assert handler.memory.stats().updates == 0

    restarted = RLEMCallbackHandler(RemembererMemory(**options))  # a new process, same path
    report = restarted.record_feedback(run_id, reward=2.0)
    assert report.targets == [2.0, 2.0]  # tool reward 1 + γ=0.5 × feedback 2 on the last step
    assert restarted.memory.stats().updates == 2
    assert restarted.memory.pending_runs() == []
    with pytest.raises(
        FeedbackError, match=f"run '{run_id}' rejected: the run was already learned"
    ):
        restarted.record_feedback(run_id, reward=2.0)
    with pytest.raises(FeedbackError, match="unknown run id"):
        restarted.record_feedback(uuid.uuid4(), reward=1.0)
    assert restarted.memory.stats().updates == 2


def test_bad_inputs_are_rejected_or_logged(memory, caplog) -> None:
    with pytest.raises(TypeError, match=r"needs a RemembererMemory.*got str"):
        RLEMCallbackHandler("./memory")
    handler = RLEMCallbackHandler(memory, scorer=lambda episode: "great")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        graph(two_step(2)).invoke(question(2), config={"callbacks": [handler]})
    assert f"run {handler.last_run_id} not learned, the scorer returned 'great'" in caplog.text
    assert memory.stats().updates == 0


@pytest.mark.filterwarnings("ignore:create_react_agent has been moved")
def test_exemplars_prompt_in_a_langgraph_agent_with_the_handler(memory) -> None:
    from langgraph import prebuilt

    handler = RLEMCallbackHandler(memory)
    prompt = exemplars_prompt(memory, "You add.")
    first = prebuilt.create_react_agent(two_step(2), TOOLS, prompt=prompt)
    first.invoke(question(2), config={"callbacks": [handler]})
    model = two_step(2)
    second = prebuilt.create_react_agent(model, TOOLS, prompt=prompt)
    second.invoke({"messages": [("user", "Add 2 and 3")]}, config={"callbacks": [handler]})
    system = model.received[0][0]
    assert system.text.startswith("You add.\n\n<experience_memory>")
    assert (
        '<encouraged>\n<action value="1.00" tried="1">add(a=2, b=3)</action>\n</encouraged>'
    ) in system.text
    assert len(handler.episodes) == 2


def test_exemplars_runnable_without_task_logs_and_returns_nothing(memory, caplog) -> None:
    runnable = exemplars_runnable(memory, task_key="question")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert runnable.invoke({"q": "wrong key"}) == ""
    assert "no text under 'question'" in caplog.text


def test_namespace_cleared_elsewhere_is_recovered(make_memory, caplog) -> None:
    memory = make_memory()
    handler = RLEMCallbackHandler(memory)
    graph(two_step(2)).invoke(question(2), config={"callbacks": [handler]})
    # Another process clears the namespace under this memory's open collection handles.
    other = RemembererMemory(
        client=memory.store.client,
        collection_name=memory.store.collection_name,
        embeddings=memory.embeddings,
    )
    other.clear()
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = graph(two_step(3)).invoke(question(3), config={"callbacks": [handler]})
    assert out["messages"][-1].content == "7"
    assert "memory failed" not in caplog.text
    assert memory.stats().updates == 2  # only the run after the clear
