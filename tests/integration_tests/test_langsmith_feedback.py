"""LangSmith feedback becomes rewards, once per run (a fake LangSmith client, all else real)."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda
from langsmith import schemas

from langchain_rememberer import (
    InvalidInputError,
    RemembererMiddleware,
    RLEMCallbackHandler,
)
from langchain_rememberer.adapters.feedback import LangSmithFeedbackScorer
from tests.integration_tests.test_middleware import scripted


class FakeLangSmith:
    """Holds feedback like LangSmith does and answers `list_feedback` the same way."""

    def __init__(self) -> None:
        self.feedback: list[schemas.Feedback] = []
        self.calls = 0

    def give(self, run_id: str, key: str, *, score=None, value=None, minute: int = 0) -> None:
        when = dt.datetime(2026, 12, 3, 10, minute, tzinfo=dt.UTC)
        self.feedback.append(
            schemas.Feedback(
                id=uuid.uuid4(),
                run_id=uuid.UUID(run_id),
                trace_id=uuid.UUID(run_id),
                key=key,
                score=score,
                value=value,
                created_at=when,
                modified_at=when,
            )
        )

    def list_feedback(self, *, run_ids=None, feedback_key=None, **kwargs):
        self.calls += 1
        wanted = {str(r) for r in run_ids or []}
        for f in self.feedback:
            if str(f.run_id) in wanted and (feedback_key is None or f.key in feedback_key):
                yield f


def test_agent_runs_learn_from_their_latest_langsmith_feedback(make_memory) -> None:
    memory = make_memory()
    client = FakeLangSmith()
    scorer = LangSmithFeedbackScorer(client, key="thumbs", value_map={"up": 1.0, "down": -1.0})
    runs = [str(uuid.uuid4()) for _ in range(3)]
    for i, run_id in enumerate(runs):
        agent = create_agent(
            scripted(AIMessage(f"answer {i}")),
            middleware=[RemembererMiddleware(memory, scorer=scorer)],
        )
        out = agent.invoke({"messages": [("user", f"question {i}")]}, config={"run_id": run_id})
        assert out["rememberer_run_id"] == run_id  # the trace's id is the memory's
    assert sorted(memory.pending_runs()) == sorted(runs)
    client.give(runs[0], "thumbs", value="up")
    client.give(runs[1], "thumbs", value="up", minute=1)
    client.give(runs[1], "thumbs", value="down", minute=5)  # the latest counts
    client.give(runs[1], "other-key", score=100.0)  # another key is not read
    learned = scorer.sync(memory)
    assert {r: report.targets for r, report in learned.items()} == {
        runs[0]: [1.0],
        runs[1]: [-1.0],
    }
    assert memory.pending_runs() == [runs[2]]
    assert scorer.sync(memory) == {}  # exactly once
    client.give(runs[2], "thumbs", value="up")
    assert list(scorer.sync(memory)) == [runs[2]]
    assert memory.stats().updates == 3


def test_handler_runs_use_the_root_run_id(make_memory) -> None:
    memory = make_memory()
    client = FakeLangSmith()
    scorer = LangSmithFeedbackScorer(client)  # key "user_score", the score as the reward
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    run_id = str(uuid.uuid4())
    RunnableLambda(lambda q: "42").invoke("6*7?", config={"callbacks": [handler], "run_id": run_id})
    assert handler.last_run_id == run_id
    client.give(run_id, "user_score", score=True)  # a boolean score counts 1.0
    assert scorer.sync(memory)[run_id].targets == [1.0]


def test_feedback_that_maps_to_nothing_is_skipped_with_a_warning(make_memory, caplog) -> None:
    memory = make_memory()
    client = FakeLangSmith()
    scorer = LangSmithFeedbackScorer(client, key="thumbs", value_map={"up": 1.0})
    handler = RLEMCallbackHandler(memory, scorer=scorer)
    run_id = str(uuid.uuid4())
    RunnableLambda(lambda q: "ok").invoke("hi", config={"callbacks": [handler], "run_id": run_id})
    client.give(run_id, "thumbs", value="meh")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert scorer.sync(memory) == {}
    assert f"run {run_id}: feedback 'meh' under 'thumbs' maps to no reward" in caplog.text
    assert memory.pending_runs() == [run_id]  # still waiting, nothing lost


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"key": ""}, "feedback key"), ({"key": 3}, "feedback key"), ({"value_map": 1.0}, "mapping")],
)
def test_bad_settings_are_clear_errors(kwargs, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        LangSmithFeedbackScorer(FakeLangSmith(), **kwargs)
