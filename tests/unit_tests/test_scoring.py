from __future__ import annotations

import math

import pytest
from langchain_core.runnables import RunnableLambda

from langchain_rememberer import (
    Episode,
    FeedbackScorer,
    JudgeVerdict,
    LLMJudgeScorer,
    Scorer,
    ScoringError,
    Step,
    ToolRewardScorer,
)

EPISODE = Episode(
    task="Add <2> and 3",
    steps=[Step(observation="Add <2> and 3", action="add(a=2, b=3)", reward=1.0)],
    run_id="r1",
    succeeded=False,
)


class StandInJudge:
    def __init__(self, *answers):
        self.answers = list(answers)
        self.prompts = []

    def with_structured_output(self, schema, **kwargs):
        assert schema is JudgeVerdict

        def answer(messages):
            self.prompts.append(messages[-1].content)
            result = self.answers.pop(0)
            if isinstance(result, Exception):
                raise result
            return result

        return RunnableLambda(answer)


def test_builtin_scorers() -> None:
    assert ToolRewardScorer()(EPISODE) == 0.0
    assert FeedbackScorer()(EPISODE) is None
    assert isinstance(ToolRewardScorer(), Scorer)
    assert isinstance(lambda episode: 1.0, Scorer)


def test_judge_scores_and_sees_an_escaped_trajectory() -> None:
    judge = StandInJudge(JudgeVerdict(score=0.25, reason="wrong"), {"score": 1.0})
    scorer = LLMJudgeScorer(judge, rubric="RUBRIC-X", scale=2.0)
    assert scorer(EPISODE) == 0.5
    prompt = judge.prompts[0]
    assert "RUBRIC-X" in prompt
    assert "Add &lt;2&gt; and 3" in prompt
    assert "<run_status>failed with an error</run_status>" in prompt
    assert scorer(EPISODE) == 2.0  # a dict answer is validated into a verdict


@pytest.mark.parametrize(
    "answer",
    [
        JudgeVerdict.model_construct(score=1.5, reason=""),
        JudgeVerdict.model_construct(score=math.nan, reason=""),
        {"raw": None, "parsed": None, "parsing_error": "bad json"},
        "not a verdict",
        RuntimeError("rate limited"),
    ],
)
def test_judge_invalid_answers_raise_scoring_error(answer) -> None:
    with pytest.raises(ScoringError, match="run r1"):
        LLMJudgeScorer(StandInJudge(answer))(EPISODE)


def test_judge_needs_structured_output() -> None:
    with pytest.raises(TypeError, match="with_structured_output"):
        LLMJudgeScorer(object())
