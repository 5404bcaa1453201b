"""Namespace templates filled per run: `namespace="team-{user_id}"` through real agents and graphs.

A real `create_agent` with `RemembererMiddleware`, a real LangGraph graph and LCEL chain with
`RLEMCallbackHandler`, real tools, real in-memory Chroma; only the chat model is scripted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from typing import Any, TypedDict

import pydantic
import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver

from langchain_rememberer import (
    Episode,
    FeedbackError,
    FeedbackScorer,
    InvalidInputError,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
)
from tests.integration_tests.test_callbacks import graph
from tests.integration_tests.test_middleware import (
    TOOLS,
    call,
    right_run,
    scripted,
    system_text,
    wrong_run,
)

TASK = "What is 2 plus 3?"
SYSTEM = "You add."
TEMPLATE = "team-{user_id}"
SUB = "sub(a=2, b=3)"
ADD = "add(a=2, b=3)"
BLOCK = "<experience_memory>"


def records(memory: RemembererMemory) -> dict[str, int]:
    """Records per namespace of this memory, over every collection it has in Chroma."""
    prefix = memory.store.collection_name + "."
    found: dict[str, int] = {}
    for collection in memory.store.client.list_collections():
        name = collection if isinstance(collection, str) else collection.name
        if name.startswith(prefix):
            namespace = name[len(prefix) :].rsplit(".", 1)[0]
            count = memory.store.client.get_collection(name).count()
            found[namespace] = found.get(namespace, 0) + count
    return found


def actions(memory: RemembererMemory, namespace: str, task: str = TASK) -> set[str]:
    """The actions stored for the first state of `task` (observation = task) in `namespace`."""
    return {
        a.action
        for state in memory.retrieve(task, task, k=5, namespace=namespace)
        if (state.task, state.observation) == (task, task)
        for a in state.actions
    }


def ask(user: str | None = None, **configurable: Any) -> dict[str, Any]:
    if user is not None:
        configurable["user_id"] = user
    return {"configurable": configurable}


def warnings_of(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and r.name.startswith("langchain_rememberer")
    ]


def learn_in_default(memory: RemembererMemory) -> None:
    """A lesson for TASK in the memory's default namespace, which no template run may see."""
    memory.learn(
        Episode(
            task=TASK,
            run_id="default-run",
            steps=[
                Step(observation=TASK, action="add(a=9, b=9)", reward=1.0),
                Step(observation="18", action="final_answer", answer="18"),
            ],
        )
    )


# -- the middleware ----------------------------------------------------------------------------


def test_two_users_through_one_agent_learn_apart_and_never_see_each_other(memory) -> None:
    # One agent, one model: alice subtracts, bob adds, then alice subtracts again.
    model = scripted(*wrong_run().responses, *right_run().responses, *wrong_run().responses)
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE, placement="system")
    agent = create_agent(model, TOOLS, system_prompt=SYSTEM, middleware=[middleware])

    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("alice"))
    assert actions(memory, "team-alice") == {SUB}
    assert memory.stats(namespace="team-alice").updates == 2

    bob = agent.invoke({"messages": [HumanMessage(TASK)]}, ask("bob"))
    assert bob["messages"][-1].content == "5"
    bobs_prompts = [system_text(m) for m in model.received[2:4]]
    assert bobs_prompts == [SYSTEM, SYSTEM]  # alice's lesson on the same task: not shown
    assert actions(memory, "team-bob") == {ADD}
    assert actions(memory, "team-alice") == {SUB}

    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("alice"))
    alices_prompt = system_text(model.received[4])
    assert BLOCK in alices_prompt
    assert SUB in alices_prompt
    assert ADD not in alices_prompt  # nor bob's
    assert memory.stats(namespace="team-alice").updates == 4
    assert memory.stats(namespace="team-bob").updates == 2
    assert set(records(memory)) == {"team-alice", "team-bob"}  # nothing in "default"


@dataclasses.dataclass
class DataContext:
    user_id: str | None = None


class DictContext(TypedDict, total=False):
    user_id: str


class ModelContext(pydantic.BaseModel):
    user_id: str | None = None


@pytest.mark.parametrize(
    ("schema", "context"),
    [
        (DataContext, DataContext("carol")),
        (DictContext, {"user_id": "carol"}),
        (ModelContext, ModelContext(user_id="carol")),
    ],
)
def test_the_runtime_context_fills_the_template(memory, schema, context) -> None:
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)
    agent = create_agent(
        wrong_run(), TOOLS, system_prompt=SYSTEM, middleware=[middleware], context_schema=schema
    )
    out = agent.invoke({"messages": [HumanMessage(TASK)]}, context=context)
    assert out["messages"][-1].content == "-1"
    assert actions(memory, "team-carol") == {SUB}
    assert set(records(memory)) == {"team-carol"}


def test_the_runtime_context_wins_over_configurable(memory) -> None:
    middleware = RemembererMiddleware(memory, namespace="{org}-{user_id}")
    agent = create_agent(
        wrong_run(),
        TOOLS,
        system_prompt=SYSTEM,
        middleware=[middleware],
        context_schema=DataContext,
    )
    agent.invoke(
        {"messages": [HumanMessage(TASK)]},
        ask("dave", org="acme"),  # org only here: configurable fills what the context lacks
        context=DataContext("carol"),
    )
    assert set(records(memory)) == {"acme-carol"}
    assert actions(memory, "acme-carol") == {SUB}


def test_a_context_value_of_none_falls_back_to_configurable(memory) -> None:
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)
    agent = create_agent(
        wrong_run(),
        TOOLS,
        system_prompt=SYSTEM,
        middleware=[middleware],
        context_schema=DataContext,
    )
    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("dave"), context=DataContext())
    assert set(records(memory)) == {"team-dave"}


def test_a_missing_key_warns_once_and_the_run_uses_no_memory_at_all(memory, caplog) -> None:
    learn_in_default(memory)
    before = records(memory)
    model = wrong_run()
    middleware = RemembererMiddleware(memory, namespace="team-{team_id}")
    agent = create_agent(model, TOOLS, system_prompt=SYSTEM, middleware=[middleware])
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = agent.invoke({"messages": [HumanMessage(TASK)]}, ask("alice"))
    assert out["messages"][-1].content == "-1"  # the run went on normally
    (warning,) = warnings_of(caplog)  # once per run, though the model was called twice
    assert f"run {out['rememberer_run_id']} uses no memory" in warning
    assert "needs the key 'team_id'" in warning
    assert "'team-{team_id}'" in warning
    assert [system_text(m) for m in model.received] == [SYSTEM, SYSTEM]  # not even "default"'s
    assert records(memory) == before  # nothing written to any namespace


def test_a_filled_value_that_is_not_a_namespace_is_an_error_not_a_rewrite(memory, caplog) -> None:
    before = records(memory)
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)
    agent = create_agent(wrong_run(), TOOLS, system_prompt=SYSTEM, middleware=[middleware])
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = agent.invoke({"messages": [HumanMessage(TASK)]}, ask("a/b"))
    assert out["messages"][-1].content == "-1"
    (warning,) = warnings_of(caplog)
    assert "'a/b'" in warning
    assert "not rewritten" in warning
    assert records(memory) == before
    assert memory.stats(namespace="team-a-b").updates == 0
    with pytest.raises(FeedbackError, match="was not recorded"):
        middleware.record_feedback(out["rememberer_run_id"], 1.0)


def test_two_tenants_whose_values_join_alike_never_share_a_memory(memory, caplog) -> None:
    # "acme" + "x-bob" and "acme-x" + "bob" both join to "acme-x-bob": the second is refused.
    model = scripted(*wrong_run().responses, *wrong_run().responses)
    middleware = RemembererMiddleware(memory, namespace="{org}-{user_id}")
    agent = create_agent(model, TOOLS, system_prompt=SYSTEM, middleware=[middleware])
    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("x-bob", org="acme"))
    assert set(records(memory)) == {"acme-x-bob"}  # the last field may hold the separator
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        other = agent.invoke({"messages": [HumanMessage(TASK)]}, ask("bob", org="acme-x"))
    assert other["messages"][-1].content == "-1"  # the run went on, with no memory
    (warning,) = warnings_of(caplog)
    assert "org='acme-x' holds '-', the text after {org}" in warning
    assert [system_text(m) for m in model.received[2:]] == [SYSTEM, SYSTEM]  # not acme/x-bob's
    assert memory.stats(namespace="acme-x-bob").updates == 2  # nothing of the other tenant's
    with pytest.raises(FeedbackError, match="was not recorded"):
        middleware.record_feedback(other["rememberer_run_id"], 1.0)


BAD_TEMPLATES = ["team-{user.id}", "team-{0}", "team-{}", "team-{user_id!r}", "team-{user_id:x}"]
BAD_TEMPLATES += ["team-{user[0]}", "team:{user_id}", "team-{user_id", "team/a", "{org}{user_id}"]


@pytest.mark.parametrize("template", BAD_TEMPLATES)
def test_a_bad_template_fails_at_construction(memory, template: str) -> None:
    with pytest.raises(InvalidInputError, match="namespace"):
        RemembererMiddleware(memory, namespace=template)
    with pytest.raises(InvalidInputError, match="namespace"):
        RLEMCallbackHandler(memory, namespace=template)


def test_feedback_goes_to_the_namespace_the_run_was_recorded_in(memory) -> None:
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE, scorer=FeedbackScorer())
    alice = create_agent(right_run(), TOOLS, middleware=[middleware])
    bob = create_agent(right_run(), TOOLS, middleware=[middleware])
    alice_run = alice.invoke({"messages": [HumanMessage(TASK)]}, ask("alice"))
    bob_run = bob.invoke({"messages": [HumanMessage(TASK)]}, ask("bob"))
    alice_id, bob_id = alice_run["rememberer_run_id"], bob_run["rememberer_run_id"]
    assert memory.pending_runs(namespace="team-alice") == [alice_id]
    assert memory.pending_runs(namespace="team-bob") == [bob_id]

    report = middleware.record_feedback(alice_id, 1.0)  # this middleware remembers where
    assert report.targets == [2.0, 1.0]
    assert memory.is_learned(alice_id, namespace="team-alice")

    restarted = RemembererMiddleware(memory, namespace=TEMPLATE, scorer=FeedbackScorer())
    with pytest.raises(InvalidInputError, match="pass namespace="):
        restarted.record_feedback(bob_id, 1.0)
    restarted.record_feedback(bob_id, 1.0, namespace="team-bob")
    assert memory.is_learned(bob_id, namespace="team-bob")
    assert memory.pending_runs(namespace="team-bob") == []
    assert set(records(memory)) == {"team-alice", "team-bob"}


@tool
def explode(a: int, b: int) -> str:
    """Always fails."""
    msg = f"no luck with {a} and {b}"
    raise ValueError(msg)


def test_a_failed_tools_episode_goes_to_the_runs_namespace(memory) -> None:
    model = scripted(AIMessage("", tool_calls=[call("explode", "c1", a=2, b=3)]))
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)
    agent = create_agent(model, [explode], middleware=[middleware])
    run_id = str(uuid.uuid4())
    with pytest.raises(ValueError, match="no luck"):
        agent.invoke({"messages": [HumanMessage(TASK)]}, {**ask("erin"), "run_id": run_id})
    assert memory.is_learned(f"{run_id}#failed", namespace="team-erin")
    assert set(records(memory)) == {"team-erin"}


def test_each_run_of_a_checkpointed_thread_resolves_its_own_namespace(memory) -> None:
    model = scripted(*wrong_run().responses, *right_run().responses)
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)
    agent = create_agent(
        model, TOOLS, system_prompt=SYSTEM, middleware=[middleware], checkpointer=InMemorySaver()
    )
    thread = {"thread_id": "shared"}
    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("alice", **thread))
    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("bob", **thread))
    assert actions(memory, "team-alice") == {SUB}
    assert actions(memory, "team-bob") == {ADD}
    assert system_text(model.received[2]) == SYSTEM  # bob's first call: nothing of alice's


def test_concurrent_async_runs_of_two_users_on_one_middleware(memory) -> None:
    middleware = RemembererMiddleware(memory, namespace=TEMPLATE)

    async def both() -> list[dict[str, Any]]:
        runs = []
        for n in range(4):
            user, model = ("alice", wrong_run()) if n % 2 == 0 else ("bob", right_run())
            agent = create_agent(model, TOOLS, middleware=[middleware])
            runs.append(agent.ainvoke({"messages": [HumanMessage(TASK)]}, ask(user)))
        return await asyncio.gather(*runs)

    outs = asyncio.run(both())
    assert [o["messages"][-1].content for o in outs] == ["-1", "5", "-1", "5"]
    assert actions(memory, "team-alice") == {SUB}
    assert actions(memory, "team-bob") == {ADD}
    assert memory.stats(namespace="team-alice").updates == 4
    assert memory.stats(namespace="team-bob").updates == 4


def test_a_plain_namespace_still_works_and_is_checked_at_construction(memory) -> None:
    middleware = RemembererMiddleware(memory, namespace="team-fixed")
    agent = create_agent(wrong_run(), TOOLS, middleware=[middleware])
    agent.invoke({"messages": [HumanMessage(TASK)]}, ask("alice"))
    assert set(records(memory)) == {"team-fixed"}
    with pytest.raises(InvalidInputError, match="is not usable"):
        RemembererMiddleware(memory, namespace="team fixed")


# -- the callback handler ----------------------------------------------------------------------


def graph_question() -> dict[str, Any]:
    return {"messages": [HumanMessage(TASK)]}


def with_handler(handler: RLEMCallbackHandler, user: str | None, **more: Any) -> dict[str, Any]:
    return {**ask(user), "callbacks": [handler], **more}


def test_handler_two_users_through_one_graph_learn_apart(memory) -> None:
    handler = RLEMCallbackHandler(memory, namespace=TEMPLATE)
    model = scripted(*wrong_run().responses, *right_run().responses)
    app = graph(model)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    app.invoke(graph_question(), with_handler(handler, "alice", run_id=alice))
    app.invoke(graph_question(), with_handler(handler, "bob", run_id=bob))
    assert handler.report(alice).targets == [-1.0, 0.0]
    assert handler.report(bob).targets == [1.0, 0.0]
    assert actions(memory, "team-alice") == {SUB}
    assert actions(memory, "team-bob") == {ADD}
    assert set(records(memory)) == {"team-alice", "team-bob"}


def test_handler_on_an_lcel_chain(memory) -> None:
    handler = RLEMCallbackHandler(memory, namespace=TEMPLATE, scorer=lambda e: 1.0)
    prompt = ChatPromptTemplate.from_messages([("system", SYSTEM), ("human", "{question}")])
    chain = prompt | scripted(AIMessage("5")) | StrOutputParser()
    assert chain.invoke({"question": TASK}, with_handler(handler, "alice")) == "5"
    assert actions(memory, "team-alice") == {"final_answer"}
    assert set(records(memory)) == {"team-alice"}


def test_handler_reads_the_runs_own_config_not_an_outer_runs(memory) -> None:
    handler = RLEMCallbackHandler(memory, namespace=TEMPLATE)
    app = graph(right_run())

    def outer(question: dict[str, Any]) -> Any:
        # The handler sees only this inner run, started inside carol's outer run.
        return app.invoke(question, with_handler(handler, "bob"))

    RunnableLambda(outer).invoke(graph_question(), ask("carol"))
    assert set(records(memory)) == {"team-bob"}
    assert actions(memory, "team-bob") == {ADD}


def test_handler_missing_key_warns_and_writes_nothing(memory, caplog) -> None:
    learn_in_default(memory)
    before = records(memory)
    handler = RLEMCallbackHandler(memory, namespace="team-{team_id}")
    run_id = uuid.uuid4()
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = graph(right_run()).invoke(
            graph_question(), with_handler(handler, "alice", run_id=run_id)
        )
    assert out["messages"][-1].content == "5"
    (warning,) = warnings_of(caplog)
    assert f"run {run_id} uses no memory" in warning
    assert "needs the key 'team_id', not in config['configurable']" in warning
    assert records(memory) == before
    assert handler.report(run_id) is None
    assert handler.episodes[-1].run_id == str(run_id)  # recorded, not learned
    with pytest.raises(FeedbackError, match="was not recorded"):
        handler.record_feedback(run_id, 1.0)


def test_handler_says_when_a_run_showed_no_config(memory, caplog) -> None:
    handler = RLEMCallbackHandler(memory, namespace=TEMPLATE, scorer=lambda e: 1.0)
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        answer = RunnableLambda(lambda question: "42")  # no child run: no config to see
        assert answer.invoke("What is 6*7?", with_handler(handler, "alice")) == "42"
    (warning,) = warnings_of(caplog)
    assert "none reached the callbacks" in warning
    assert "needs the key 'user_id'" in warning
    assert records(memory) == {}
    assert handler.episodes[-1].task == "What is 6*7?"


def test_handler_feedback_goes_to_the_runs_namespace(memory) -> None:
    handler = RLEMCallbackHandler(memory, FeedbackScorer(), namespace=TEMPLATE)
    alice, bob = uuid.uuid4(), uuid.uuid4()
    graph(right_run()).invoke(graph_question(), with_handler(handler, "alice", run_id=alice))
    graph(right_run()).invoke(graph_question(), with_handler(handler, "bob", run_id=bob))
    assert memory.pending_runs(namespace="team-alice") == [str(alice)]
    assert handler.record_feedback(alice, 1.0).targets == [2.0, 1.0]
    assert handler.record_feedback(str(bob), 1.0, namespace="team-bob").targets == [2.0, 1.0]
    assert memory.is_learned(str(alice), namespace="team-alice")
    assert memory.is_learned(str(bob), namespace="team-bob")
    assert not memory.is_learned(str(alice), namespace="team-bob")
    assert set(records(memory)) == {"team-alice", "team-bob"}


def test_handler_concurrent_async_runs_of_two_users(memory) -> None:
    handler = RLEMCallbackHandler(memory, namespace=TEMPLATE)

    async def both() -> None:
        await asyncio.gather(
            *(
                graph(wrong_run() if n % 2 == 0 else right_run()).ainvoke(
                    graph_question(), with_handler(handler, "alice" if n % 2 == 0 else "bob")
                )
                for n in range(4)
            )
        )

    asyncio.run(both())
    assert actions(memory, "team-alice") == {SUB}
    assert actions(memory, "team-bob") == {ADD}
    assert memory.stats(namespace="team-alice").updates == 4
    assert memory.stats(namespace="team-bob").updates == 4


def test_handler_leaves_a_middleware_agent_to_its_own_template(memory) -> None:
    handler = RLEMCallbackHandler(memory, namespace="handler-{user_id}")
    middleware = RemembererMiddleware(memory, namespace="agent-{user_id}")
    agent = create_agent(right_run(), TOOLS, middleware=[middleware])
    out = agent.invoke({"messages": [HumanMessage(TASK)]}, with_handler(handler, "alice"))
    assert handler.last_run_id == out["rememberer_run_id"]
    assert set(records(memory)) == {"agent-alice"}  # learned once, by the middleware
