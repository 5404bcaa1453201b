"""Per-run ids, verdicts and reports under concurrent runs; warnings that say what happened."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, SystemMessage
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool

from langchain_rememberer import (
    Episode,
    FeedbackScorer,
    InvalidInputError,
    RemembererMiddleware,
    RLEMCallbackHandler,
    ScoringError,
)
from langchain_rememberer.adapters.scoring import LLMJudgeScorer
from tests.integration_tests.test_middleware import call, scripted
from tests.integration_tests.test_overlapping_runs import QuestionJudge

RUNS = 8


def _handler_and_judge():
    finished: list[tuple[str, Episode | None]] = []
    lock = threading.Lock()

    def on_finished(run_id, episode, report) -> None:
        with lock:
            finished.append((run_id, episode))

    return finished, on_finished


def _check(handler, judge, finished, ids) -> None:
    assert sorted(r for r, _ in finished) == sorted(ids)  # once per run
    for number, run_id in enumerate(ids):
        assert judge.verdicts[run_id].reason == f"question {number}"
        assert handler.report(run_id).targets == [pytest.approx(number / 100)]
    tasks = {run_id: episode.task for run_id, episode in finished}
    assert all(tasks[run_id] == f"question {n}" for n, run_id in enumerate(ids))


def test_concurrent_threads_each_get_their_own_report_and_verdict(make_memory) -> None:
    memory, judge = make_memory(), LLMJudgeScorer(QuestionJudge())
    finished, on_finished = _handler_and_judge()
    handler = RLEMCallbackHandler(memory, scorer=judge, on_finished=on_finished)
    ids = [str(uuid.uuid4()) for _ in range(RUNS)]

    def run(number: int) -> None:
        agent = create_agent(scripted(AIMessage(f"answer {number}")))
        agent.invoke(
            {"messages": [("user", f"question {number}")]},
            config={"callbacks": [handler], "run_id": ids[number]},
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(run, range(RUNS)))
    _check(handler, judge, finished, ids)


def test_concurrent_async_runs_on_one_loop(make_memory) -> None:
    memory, judge = make_memory(), LLMJudgeScorer(QuestionJudge())
    finished, on_finished = _handler_and_judge()
    handler = RLEMCallbackHandler(memory, scorer=judge, on_finished=on_finished)
    ids = [str(uuid.uuid4()) for _ in range(RUNS)]

    async def main() -> None:
        agents = [create_agent(scripted(AIMessage(f"answer {n}"))) for n in range(RUNS)]
        await asyncio.gather(
            *(
                agent.ainvoke(
                    {"messages": [("user", f"question {n}")]},
                    config={"callbacks": [handler], "run_id": ids[n]},
                )
                for n, agent in enumerate(agents)
            )
        )

    asyncio.run(main())
    _check(handler, judge, finished, ids)


def test_the_middleware_returns_each_runs_id(make_memory) -> None:
    memory, judge = make_memory(), LLMJudgeScorer(QuestionJudge())

    def run(number: int) -> str:
        agent = create_agent(
            scripted(AIMessage(f"answer {number}")),
            middleware=[RemembererMiddleware(memory, scorer=judge)],
        )
        out = agent.invoke({"messages": [("user", f"question {number}")]})
        return out["rememberer_run_id"]

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(run, range(RUNS)))
    assert len(set(ids)) == RUNS
    assert [judge.verdicts[r].reason for r in ids] == [f"question {n}" for n in range(RUNS)]


def test_a_failing_on_finished_never_reaches_the_run(make_memory, caplog) -> None:
    def broken(run_id, episode, report) -> None:
        raise RuntimeError("dashboard down")

    handler = RLEMCallbackHandler(make_memory(), on_finished=broken)
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert RunnableLambda(lambda q: "ok").invoke("hi", config={"callbacks": [handler]}) == "ok"
    assert [r.getMessage() for r in caplog.records] == [
        f"rememberer: run {handler.last_run_id}: the on_finished callback failed"
    ]


@pytest.mark.parametrize("k", [0, -1, True, 2.5, "3"])
def test_a_bad_k_is_rejected_at_construction(memory, k) -> None:
    with pytest.raises(InvalidInputError, match="k must be a whole number"):
        RemembererMiddleware(memory, k=k)


@tool(response_format="content_and_artifact")
def broken_meter(x: int) -> tuple[str, dict]:
    """A tool reporting a NaN reward."""
    return str(x), {"reward": math.nan}


def test_a_nan_tool_reward_keeps_the_exemplars_and_is_named_when_learning(
    make_memory, caplog
) -> None:
    memory = make_memory()
    memory.learn(
        Episode(
            task="Read the meter.",
            steps=[
                {"observation": "Read the meter.", "action": "broken_meter(x=1)", "reward": 1.0}
            ],
        )
    )
    model = scripted(
        AIMessage("", tool_calls=[call("broken_meter", "c1", x=1)]),
        AIMessage("", tool_calls=[call("broken_meter", "c2", x=1)]),
        AIMessage("1"),
    )
    agent = create_agent(
        model,
        [broken_meter],
        middleware=[RemembererMiddleware(memory, scorer=lambda e: 1.0, placement="system")],
    )
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        agent.invoke({"messages": [("user", "Read the meter.")]})
    # Every model call, including those after the NaN result, was shown the exemplars.
    systems = [m for prompt in model.received for m in prompt if isinstance(m, SystemMessage)]
    assert len(systems) == 3
    assert all("<experience_memory>" in m.text for m in systems)
    assert "tool 'broken_meter'" in caplog.text
    assert "nan" in caplog.text


def test_a_scorer_returning_none_by_mistake_warns_once(make_memory, caplog) -> None:
    memory = make_memory()
    forgot = RemembererMiddleware(memory, scorer=lambda episode: None)
    meant = RemembererMiddleware(make_memory(), scorer=FeedbackScorer())
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        for middleware in (forgot, meant):
            for n in range(3):
                agent = create_agent(scripted(AIMessage("ok")), middleware=[middleware])
                agent.invoke({"messages": [("user", f"hello {n}")]})
    warnings = [r for r in caplog.records if "returned None" in r.getMessage()]
    assert len(warnings) == 1
    assert "RemembererMiddleware" in warnings[0].getMessage()
    assert len(memory.pending_runs()) == 3  # still saved, nothing lost


def test_tracebacks_only_for_unexpected_errors(make_memory, caplog) -> None:
    def expected(episode) -> float:
        raise ScoringError("the judge said nothing")

    def bug(episode) -> float:
        raise KeyError("oops")

    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        for scorer in (expected, bug):
            handler = RLEMCallbackHandler(make_memory(), scorer=scorer)
            RunnableLambda(lambda q: "ok").invoke("hi", config={"callbacks": [handler]})
    failed = [r for r in caplog.records if "the scorer failed" in r.getMessage()]
    assert [bool(r.exc_info) for r in failed] == [False, True]
