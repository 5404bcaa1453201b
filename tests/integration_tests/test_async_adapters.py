"""The adapters' async path: many runs on one event loop, on the memory's async API.

A real `create_agent` with `RemembererMiddleware` and a real LCEL chain with
`AsyncRLEMCallbackHandler`, against a real `chroma run` server whose calls are watched during
the runs: every retrieval, learn and feedback goes through the memory's async methods, in
worker threads, never on the event loop. Only the chat models are scripted.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from langchain_rememberer import (
    AsyncRLEMCallbackHandler,
    FeedbackError,
    FeedbackScorer,
    InvalidInputError,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
)
from langchain_rememberer.adapters.scoring import JudgeVerdict, LLMJudgeScorer
from tests.helpers import twin
from tests.integration_tests.test_async_memory import StoreCalls
from tests.integration_tests.test_middleware import TOOLS, right_run, system_text, wrong_run

RUNS = 8
T1 = "What is 2 plus 3?"


def test_concurrent_agent_runs_learn_and_see_exemplars_on_the_async_api(
    server_memory, embeddings, monkeypatch
) -> None:
    middleware = RemembererMiddleware(server_memory, placement="system")
    wrong = create_agent(wrong_run(), TOOLS, middleware=[middleware])
    wrong.invoke({"messages": [("user", T1)]})  # sync: the lesson the async runs will see
    calls = StoreCalls(server_memory, monkeypatch)
    models = [right_run() for _ in range(RUNS)]

    async def main() -> list[dict[str, Any]]:
        agents = [create_agent(m, TOOLS, middleware=[middleware]) for m in models]
        return await asyncio.gather(
            *(a.ainvoke({"messages": [("user", f"{T1} (#{n})")]}) for n, a in enumerate(agents))
        )

    results = asyncio.run(main())
    assert calls.most > 1  # the runs' Chroma calls overlapped ...
    assert calls.on_loop == []  # ... in worker threads, never on the loop
    shown = '<action value="-1.00" tried="1">sub(a=2, b=3)</action>'
    assert all(shown in system_text(m.received[0]) for m in models)
    check = twin(server_memory, embeddings)
    run_ids = [r["rememberer_run_id"] for r in results]
    assert len(set(run_ids)) == RUNS
    assert all(check.is_learned(run_id) for run_id in run_ids)
    assert check.stats().updates == 2 * (RUNS + 1)  # one tool call and one answer per run


def test_async_handler_learns_concurrent_chain_runs_exactly(
    server_memory, embeddings, monkeypatch
) -> None:
    calls = StoreCalls(server_memory, monkeypatch)
    finished: dict[str, str] = {}
    handler = AsyncRLEMCallbackHandler(
        server_memory,
        scorer=lambda episode: 1.0,  # a plain callable: run in a thread, the loop stays free
        on_finished=lambda run_id, episode, report: finished.update({run_id: episode.task}),
    )
    chain = RunnableLambda(lambda question: f"Answered: {question}")
    questions = [f"Where is order {n}?" for n in range(RUNS)]

    async def ask(question: str) -> str:
        run_id = str(uuid.uuid4())
        await chain.ainvoke(question, config={"callbacks": [handler], "run_id": run_id})
        return run_id

    async def main() -> list[str]:
        return await asyncio.gather(*(ask(q) for q in questions))

    run_ids = asyncio.run(main())
    assert [finished[run_id] for run_id in run_ids] == questions
    assert all(handler.report(run_id).updates_written == 1 for run_id in run_ids)
    assert calls.most > 1
    assert calls.on_loop == []
    assert twin(server_memory, embeddings).stats().updates == RUNS


class AsyncOnlyJudge(FakeMessagesListChatModel):
    """A judge model whose sync `invoke` is forbidden: the async path must `ainvoke` it."""

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        async def answer(_: Any) -> JudgeVerdict:
            await asyncio.sleep(0)  # yield to the loop, as a real model call would
            return JudgeVerdict(score=1.0, reason="helpful")

        def refuse(_: Any) -> JudgeVerdict:
            msg = "the sync judge was called on the async path"
            raise AssertionError(msg)

        return RunnableLambda(refuse, afunc=answer)


def test_the_judge_is_awaited_and_its_own_runs_are_no_episodes(server_memory, monkeypatch) -> None:
    calls = StoreCalls(server_memory, monkeypatch)
    judge = LLMJudgeScorer(AsyncOnlyJudge(responses=[AIMessage("unused")]))
    handler = AsyncRLEMCallbackHandler(server_memory, scorer=judge)
    chain = RunnableLambda(lambda question: f"Answered: {question}")
    run_ids = [str(uuid.uuid4()) for _ in range(RUNS)]

    async def main() -> None:
        await asyncio.gather(
            *(
                chain.ainvoke(f"Question {n}", config={"callbacks": [handler], "run_id": r})
                for n, r in enumerate(run_ids)
            )
        )

    asyncio.run(main())
    assert calls.on_loop == []
    assert all(judge.verdicts[r].reason == "helpful" for r in run_ids)
    assert all(handler.report(r).updates_written == 1 for r in run_ids)
    # The judge's runs happened inside the handler: none became an episode of its own.
    assert sorted(e.run_id for e in handler.episodes) == sorted(run_ids)


def test_arecord_feedback_learns_each_pending_run_once(
    server_memory, embeddings, monkeypatch
) -> None:
    calls = StoreCalls(server_memory, monkeypatch)
    middleware = RemembererMiddleware(server_memory, scorer=FeedbackScorer())
    handler = AsyncRLEMCallbackHandler(server_memory, scorer=FeedbackScorer())
    chain = RunnableLambda(lambda question: "5")
    chain_run = str(uuid.uuid4())

    async def main() -> list[Any]:
        result = await create_agent(right_run(), TOOLS, middleware=[middleware]).ainvoke(
            {"messages": [("user", T1)]}
        )
        await chain.ainvoke(T1, config={"callbacks": [handler], "run_id": chain_run})
        agent_run = result["rememberer_run_id"]
        return await asyncio.gather(
            *(middleware.arecord_feedback(agent_run, 1.0) for _ in range(3)),
            *(handler.arecord_feedback(chain_run, 1.0) for _ in range(3)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(main())
    assert calls.on_loop == []
    reports = [o for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, FeedbackError) for o in outcomes if o not in reports)
    # Learned once per run, whoever got there first; the others are told it already was.
    assert sum(r.updates_written for r in reports[:3] if not r.already_learned) == 2
    assert sum(r.updates_written for r in reports[3:] if not r.already_learned) == 1
    assert sum(not r.already_learned for r in reports) == 2
    check = twin(server_memory, embeddings)
    assert check.pending_runs() == []
    assert check.stats().updates == 3


@pytest.mark.parametrize("adapter", [RemembererMiddleware, RLEMCallbackHandler])
def test_arecord_feedback_refuses_a_bad_reward(memory: RemembererMemory, adapter) -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        asyncio.run(adapter(memory).arecord_feedback("some-run", math.nan))


def test_an_embedded_memory_learns_async_runs_too(memory) -> None:
    handler = AsyncRLEMCallbackHandler(memory, scorer=lambda episode: 1.0)
    chain = RunnableLambda(lambda question: "5")
    run_id = str(uuid.uuid4())
    asyncio.run(chain.ainvoke(T1, config={"callbacks": [handler], "run_id": run_id}))
    assert handler.report(run_id).updates_written == 1
    assert memory.is_learned(run_id)
