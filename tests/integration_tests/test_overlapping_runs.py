"""Many runs in flight at once on one handler, one middleware, one judge: nothing mixed up.

Every run waits in a tool until all the others are in theirs too (a barrier, not a sleep), so
the runs provably overlap; each asks a distinct question, and the stand-in judge scores a run
by its question, so a verdict, report or episode given to the wrong run shows.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
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
)
from langchain_rememberer.adapters.scoring import JudgeVerdict, LLMJudgeScorer
from tests.integration_tests.test_middleware import call, scripted

RUNS = 12
WAIT = 60.0  # seconds a barrier waits before failing the test (it never times out when green)


class QuestionJudge:
    """A stand-in judge scoring a run by the number in its question: question 7 -> 0.07."""

    def with_structured_output(self, schema, **kwargs):
        def judge(messages):
            number = int(re.search(r"<task>\s*question (\d+)", messages[-1].content)[1])
            return JudgeVerdict(score=number / 100, reason=f"question {number}")

        return RunnableLambda(judge)


def _script(number: int):
    """A model that first waits for the other runs (the `meet` tool), then answers."""
    return scripted(
        AIMessage("", tool_calls=[call("meet", f"c{number}", number=number)]),
        AIMessage(f"answer {number}"),
    )


class Finished:
    """An `on_finished` callback keeping what it was told, per run id (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Episode | None]] = []
        self._lock = threading.Lock()

    def __call__(self, run_id, episode, report) -> None:
        with self._lock:
            self.calls.append((run_id, episode))


def _check_handler(handler, judge, finished: Finished, ids: list[str]) -> int:
    """Assert every run id maps to its own question; return how many were mixed up (0)."""
    assert sorted(r for r, _ in finished.calls) == sorted(ids)  # once per run, no other run
    episodes = dict(finished.calls)
    mixed = 0
    for number, run_id in enumerate(ids):
        episode, verdict, report = episodes[run_id], judge.verdicts[run_id], handler.report(run_id)
        assert episode.run_id == run_id
        mixed += episode.task != f"question {number}"
        mixed += episode.steps[-1].answer != f"answer {number}"
        mixed += verdict.reason != f"question {number}"
        mixed += report.targets != [pytest.approx(number / 100)] * 2
    assert {e.run_id for e in handler.episodes} == set(ids)
    assert handler.last_run_id in ids  # some run's, under the lock; not a torn value
    assert handler.open_runs == {}
    return mixed


def test_overlapping_threads_on_one_handler_and_judge(make_memory) -> None:
    memory, judge, finished = make_memory(), LLMJudgeScorer(QuestionJudge()), Finished()
    handler = RLEMCallbackHandler(memory, scorer=judge, on_finished=finished)
    open_at_once: list[int] = []
    barrier = threading.Barrier(
        RUNS, action=lambda: open_at_once.append(len(handler.open_runs)), timeout=WAIT
    )

    @tool
    def meet(number: int) -> str:
        """Wait until every run is here."""
        barrier.wait()
        return f"met {number}"

    ids = [str(uuid.uuid4()) for _ in range(RUNS)]

    def run(number: int) -> str:
        out = create_agent(_script(number), [meet]).invoke(
            {"messages": [("user", f"question {number}")]},
            config={"callbacks": [handler], "run_id": ids[number]},
        )
        return out["messages"][-1].text

    with ThreadPoolExecutor(max_workers=RUNS) as pool:
        answers = list(pool.map(run, range(RUNS)))
    assert answers == [f"answer {n}" for n in range(RUNS)]
    assert open_at_once == [RUNS]  # all runs were in flight at the same moment
    assert _check_handler(handler, judge, finished, ids) == 0


def test_overlapping_ainvoke_runs_on_one_loop(make_memory) -> None:
    memory, judge, finished = make_memory(), LLMJudgeScorer(QuestionJudge()), Finished()
    handler = RLEMCallbackHandler(memory, scorer=judge, on_finished=finished)
    open_at_once: list[int] = []
    ids = [str(uuid.uuid4()) for _ in range(RUNS)]

    async def main() -> list[str]:
        barrier, arrived = asyncio.Barrier(RUNS), []

        @tool
        async def meet(number: int) -> str:
            """Wait until every run is here."""
            arrived.append(number)
            if len(arrived) == RUNS:
                open_at_once.append(len(handler.open_runs))
            await asyncio.wait_for(barrier.wait(), WAIT)
            return f"met {number}"

        outs = await asyncio.gather(
            *(
                create_agent(_script(n), [meet]).ainvoke(
                    {"messages": [("user", f"question {n}")]},
                    config={"callbacks": [handler], "run_id": ids[n]},
                )
                for n in range(RUNS)
            )
        )
        return [out["messages"][-1].text for out in outs]

    assert asyncio.run(main()) == [f"answer {n}" for n in range(RUNS)]
    assert open_at_once == [RUNS]
    assert _check_handler(handler, judge, finished, ids) == 0


@pytest.mark.parametrize("mode", ["threads", "asyncio"])
def test_overlapping_runs_of_one_middleware_each_return_their_id(make_memory, mode) -> None:
    """One middleware instance and one judge, shared by all agents; ids from each output."""
    memory, judge = make_memory(), LLMJudgeScorer(QuestionJudge())
    middleware = RemembererMiddleware(memory, scorer=judge)
    if mode == "threads":
        barrier = threading.Barrier(RUNS, timeout=WAIT)

        @tool
        def meet(number: int) -> str:
            """Wait until every run is here."""
            barrier.wait()
            return f"met {number}"

        def run(number: int) -> dict:
            agent = create_agent(_script(number), [meet], middleware=[middleware])
            return agent.invoke({"messages": [("user", f"question {number}")]})

        with ThreadPoolExecutor(max_workers=RUNS) as pool:
            outs = list(pool.map(run, range(RUNS)))
    else:

        async def main() -> list[dict]:
            barrier = asyncio.Barrier(RUNS)

            @tool
            async def meet(number: int) -> str:
                """Wait until every run is here."""
                await asyncio.wait_for(barrier.wait(), WAIT)
                return f"met {number}"

            return await asyncio.gather(
                *(
                    create_agent(_script(n), [meet], middleware=[middleware]).ainvoke(
                        {"messages": [("user", f"question {n}")]}
                    )
                    for n in range(RUNS)
                )
            )

        outs = asyncio.run(main())
    ids = [out["rememberer_run_id"] for out in outs]
    assert len(set(ids)) == RUNS
    mixed = sum(judge.verdicts[rid].reason != f"question {n}" for n, rid in enumerate(ids))
    assert mixed == 0
    assert all(memory.is_learned(rid) for rid in ids)


# -- a scorer that forgets to return --------------------------------------------------------


def _ask(handler, n: int) -> None:
    RunnableLambda(lambda q: "ok").invoke(f"hello {n}", config={"callbacks": [handler]})


class PatientScorer:
    """A scorer of its own that means None: it declares it waits for feedback."""

    expects_feedback = True

    def __call__(self, episode: Episode) -> None:
        return None


class ThumbsScorer(FeedbackScorer):
    """A FeedbackScorer subclass: inherits the declaration."""


def test_a_handler_whose_scorer_returns_none_by_mistake_warns_once(make_memory, caplog) -> None:
    memory = make_memory()
    forgot = RLEMCallbackHandler(memory, scorer=lambda episode: None)
    forgot_too = RLEMCallbackHandler(memory, scorer=lambda episode: None)
    meant = [
        RLEMCallbackHandler(make_memory(), scorer=scorer)
        for scorer in (FeedbackScorer(), ThumbsScorer(), PatientScorer())
    ]
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        for n in range(3):
            _ask(forgot, n)
        first = [r.getMessage() for r in caplog.records if "returned None" in r.getMessage()]
        _ask(forgot_too, 3)  # another handler: its own warning
        for handler in meant:
            for n in range(3):
                _ask(handler, n)
    warned = [r.getMessage() for r in caplog.records if "returned None" in r.getMessage()]
    assert len(first) == 1
    assert "RLEMCallbackHandler" in first[0]
    assert "record_feedback" in first[0]
    assert "FeedbackScorer" in first[0]
    assert len(warned) == 2
    assert len(memory.pending_runs()) == 4  # every run still saved, nothing lost
    assert all(len(h.memory.pending_runs()) == 3 for h in meant)


# -- a NaN tool reward ----------------------------------------------------------------------


@tool(response_format="content_and_artifact")
def broken_meter(x: int) -> tuple[str, dict]:
    """A tool reporting a NaN reward."""
    return str(x), {"reward": math.nan}


def _meter_model():
    return scripted(
        AIMessage("", tool_calls=[call("broken_meter", "c1", x=1)]),
        AIMessage("", tool_calls=[call("broken_meter", "c2", x=1)]),
        AIMessage("1"),
    )


def test_a_nan_tool_reward_is_refused_by_name_and_retrieval_goes_on(make_memory, caplog) -> None:
    memory = make_memory()
    memory.learn(
        Episode(
            task="Read the meter.",
            steps=[
                {"observation": "Read the meter.", "action": "broken_meter(x=1)", "reward": 1.0}
            ],
        )
    )
    before = memory.stats().updates
    model = _meter_model()
    agent = create_agent(
        model,
        [broken_meter],
        middleware=[RemembererMiddleware(memory, scorer=lambda e: 1.0, placement="system")],
    )
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = agent.invoke({"messages": [("user", "Read the meter.")]})
    run_id = out["rememberer_run_id"]
    assert out["messages"][-1].text == "1"  # the host run is untouched
    systems = [m for prompt in model.received for m in prompt if isinstance(m, SystemMessage)]
    assert [("<experience_memory>" in m.text) for m in systems] == [True, True, True]
    refused = [r.getMessage() for r in caplog.records if "not learned" in r.getMessage()]
    assert len(refused) == 1
    assert f"run {run_id} not learned" in refused[0]
    assert "tool 'broken_meter'" in refused[0]
    assert "nan" in refused[0]
    assert not any("without exemplars" in r.getMessage() for r in caplog.records)
    assert not memory.is_learned(run_id)
    assert memory.stats().updates == before


def test_a_nan_tool_reward_through_the_handler_is_refused_by_name(make_memory, caplog) -> None:
    memory, run_id = make_memory(), str(uuid.uuid4())
    handler = RLEMCallbackHandler(memory, scorer=lambda e: 1.0)
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        out = create_agent(_meter_model(), [broken_meter]).invoke(
            {"messages": [("user", "Read the meter.")]},
            config={"callbacks": [handler], "run_id": run_id},
        )
    assert out["messages"][-1].text == "1"
    refused = [r.getMessage() for r in caplog.records if "not learned" in r.getMessage()]
    assert len(refused) == 1
    assert f"run {run_id} not learned" in refused[0]
    assert "tool 'broken_meter'" in refused[0]
    assert "nan" in refused[0]
    assert not memory.is_learned(run_id)
    assert handler.report(run_id) is None


# -- bad settings fail at construction --------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_episodes": -1}, "keep_episodes must be a whole number of at least 0"),
        ({"keep_episodes": "3"}, "keep_episodes must be a whole number"),
        ({"keep_reports": 0}, "keep_reports must be a whole number of at least 1"),
        ({"keep_reports": True}, "keep_reports must be a whole number"),
        ({"max_open_runs": 2.0}, "max_open_runs must be a whole number"),
    ],
)
def test_bad_handler_settings_fail_at_construction(memory, kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        RLEMCallbackHandler(memory, **kwargs)


def test_a_non_callable_on_finished_fails_at_construction(memory) -> None:
    with pytest.raises(TypeError, match="on_finished must be a callable"):
        RLEMCallbackHandler(memory, on_finished="print")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 10_001}, "k must be a whole number from 1 to 10,000"),
        ({"k": 0}, "k must be a whole number from 1"),
        ({"learn": "no"}, "learn must be True or False"),
    ],
)
def test_bad_middleware_settings_fail_at_construction(memory, kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        RemembererMiddleware(memory, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"keep_verdicts": 0}, "keep_verdicts must be a whole number of at least 1"),
        ({"keep_verdicts": -1}, "keep_verdicts must be a whole number"),
        ({"max_trajectory_chars": 0}, "max_trajectory_chars must be a whole number"),
        ({"scale": math.nan}, "scale must be a finite number"),
        ({"scale": "2"}, "scale must be a finite number"),
        ({"prompt": "Judge {transcript}"}, "prompt must be a str.format template"),
        ({"prompt": "Judge {task"}, "prompt must be a str.format template"),
        ({"rubric": None}, "rubric must be a string"),
    ],
)
def test_bad_judge_settings_fail_at_construction(kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        LLMJudgeScorer(QuestionJudge(), **kwargs)


def test_the_handlers_episodes_and_reports_are_snapshots(memory) -> None:
    handler = RLEMCallbackHandler(memory, keep_episodes=1, keep_reports=2)
    run_ids = [str(uuid.uuid4()) for _ in range(3)]
    for run_id in run_ids:
        RunnableLambda(lambda q: "ok").invoke(
            "hi", config={"callbacks": [handler], "run_id": run_id}
        )
    handler.episodes.clear()
    handler.reports.clear()  # a copy: the handler's own state is untouched
    assert [e.run_id for e in handler.episodes] == run_ids[-1:]
    assert list(handler.reports) == run_ids[-2:]  # the latest keep_reports runs
    assert handler.report(run_ids[0]) is None
    assert handler.report(run_ids[-1]).updates_written == 1
