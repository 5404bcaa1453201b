"""The final answer is part of the episode: stored, folded, retrieved, exported and imported."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableLambda

from langchain_rememberer import (
    Episode,
    InvalidInputError,
    RemembererMemory,
    RemembererMiddleware,
    RLEMCallbackHandler,
    Step,
    TextLimits,
)
from tests.integration_tests.test_middleware import scripted

TASK = "How many vacation days do I get?"


def _answered(run_id: str, answer: str, reward: float) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[
            Step(observation=TASK, action='open_doc(name="vacation.md")'),
            Step(
                observation="Vacation: 25 days a year.",
                action="final_answer",
                answer=answer,
                reward=reward,
            ),
        ],
    )


def test_the_best_answer_is_retrieved_and_shown(memory) -> None:
    memory.learn(_answered("wrong", "20 days", 0.0))
    memory.learn(_answered("right", "You get 25 days a year.", 1.0))
    (state,) = memory.retrieve(TASK, "Vacation: 25 days a year.", k=1)
    (answer,) = state.actions
    assert (answer.action, answer.visits, answer.q) == ("final_answer", 2, 0.5)
    assert (answer.answer, answer.answer_value) == ("You get 25 days a year.", 1.0)
    block = memory.format_exemplars(TASK, "Vacation: 25 days a year.")
    assert '<best_answer return="1.00">You get 25 days a year.</best_answer>' in block


def test_answers_survive_export_import_and_rebuild(memory, make_memory, tmp_path) -> None:
    memory.learn(_answered("right", "25 days", 1.0))
    path = tmp_path / "export.jsonl"
    memory.export_jsonl(path)
    other: RemembererMemory = make_memory()
    other.import_jsonl(path)
    other.rebuild()
    (state,) = other.retrieve(TASK, "Vacation: 25 days a year.", k=1)
    assert state.actions[0].answer == "25 days"


def test_an_answer_must_be_text() -> None:
    with pytest.raises(InvalidInputError, match="answer"):
        Step(observation="o", action="final_answer", answer=42)  # type: ignore[arg-type]


def test_both_adapters_cut_text_to_the_memorys_limits(make_memory) -> None:
    """One text-length setting: `memory.text_limits`, read by the middleware and the handler."""
    limits = TextLimits(observation=40, answer=30)
    seen: list[Episode] = []

    def keep(episode: Episode) -> float:
        seen.append(episode)
        return 1.0

    question, answer = "Q" * 100, "A" * 100
    agent = create_agent(
        scripted(AIMessage(answer)),
        middleware=[RemembererMiddleware(make_memory(text_limits=limits), scorer=keep)],
    )
    agent.invoke({"messages": [("user", question)]})
    handler = RLEMCallbackHandler(make_memory(text_limits=limits), scorer=keep)
    RunnableLambda(lambda _: answer).invoke(question, config={"callbacks": [handler]})
    assert len(seen) == 2
    for episode in seen:
        (step,) = episode.steps
        assert len(episode.task) == len(step.observation) == 40
        assert step.observation.endswith("…[cut]")
        assert len(step.answer) == 30
        assert step.answer.startswith("AAA")
