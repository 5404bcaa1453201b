"""The final answer is part of the episode: stored, folded, retrieved, exported and imported."""

from __future__ import annotations

import pytest

from langchain_rememberer import Episode, InvalidInputError, RemembererMemory, Step

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
    assert '"You get 25 days a year."' in block


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
