"""Scorers: the episode's final reward (what the adapters do with it: `adapters._learning`).

A scorer is any callable `Episode -> float | None`:

- a finite float is the final reward, added to the last step, and the episode is learned;
- `None` means "wait for feedback": the episode is persisted as pending in the memory and
  learned exactly once when `record_feedback(run_id, reward)` arrives;
- raising (e.g. `ScoringError`) or returning anything else (NaN, a string) means "no learning":
  the adapters log a warning with the run id and go on.

Built-ins: `ToolRewardScorer` (only the rewards the tools reported), `LLMJudgeScorer` (any chat
model's structured output) and `FeedbackScorer` (explicit feedback by run id).

On the async path (`ainvoke`, `AsyncRLEMCallbackHandler`) a scorer's `async ascore(episode)`
is awaited when it has one (the built-ins do; the judge then uses the model's `ainvoke`); any
other callable runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field

from langchain_rememberer._text import escape_text
from langchain_rememberer.errors import InvalidInputError, ScoringError
from langchain_rememberer.prompts import JUDGE_PROMPT, JUDGE_RUBRIC, JUDGE_SYSTEM
from langchain_rememberer.types import Episode, is_finite_number

__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_RUBRIC",
    "FeedbackScorer",
    "JudgeVerdict",
    "LLMJudgeScorer",
    "Scorer",
    "ToolRewardScorer",
    "ascore",
]

logger = logging.getLogger(__name__)


@runtime_checkable
class Scorer(Protocol):
    """Anything called with the finished episode, returning its final reward or None."""

    def __call__(self, episode: Episode, /) -> float | None:
        """The final reward of `episode`, or None to wait for explicit feedback."""
        ...


async def ascore(scorer: Callable[[Episode], float | None], episode: Episode) -> float | None:
    """Score on the async path: the scorer's own coroutine `ascore` when it has one.

    A scorer without one (any plain callable) runs in a worker thread, since it may block
    (call a model, a database); the event loop stays free either way.

    Example:
        ```python
        import asyncio

        from langchain_rememberer import Episode, Step
        from langchain_rememberer.adapters.scoring import ascore

        episode = Episode(task="t", steps=[Step(observation="o", action="a")])
        assert asyncio.run(ascore(lambda e: 0.5, episode)) == 0.5
        ```
    """
    native = getattr(scorer, "ascore", None)
    if callable(native):
        return await native(episode)  # type: ignore[no-any-return]
    return await asyncio.to_thread(scorer, episode)


class ToolRewardScorer:
    """Learn from the rewards the tools reported only (the step rewards); adds 0.0.

    Example:
        ```python
        from langchain_rememberer import Episode, Step
        from langchain_rememberer.adapters.scoring import ToolRewardScorer

        episode = Episode(task="t", steps=[Step(observation="o", action="a", reward=1.0)])
        assert ToolRewardScorer()(episode) == 0.0
        ```
    """

    def __call__(self, episode: Episode, /) -> float:  # noqa: ARG002
        """Return 0.0: the step rewards already carry what the tools reported."""
        return 0.0

    async def ascore(self, episode: Episode, /) -> float | None:
        """Async twin of calling it (no I/O; a subclass's own `__call__` is what runs)."""
        return self(episode)


class FeedbackScorer:
    """Wait for explicit feedback: the episode is saved as pending until `record_feedback`.

    Pending episodes live in the memory's Chroma storage, so feedback may come after a restart.

    Example:
        ```python
        from langchain_rememberer import Episode, Step
        from langchain_rememberer.adapters.scoring import FeedbackScorer

        episode = Episode(task="t", steps=[Step(observation="o", action="a")])
        assert FeedbackScorer()(episode) is None
        ```
    """

    expects_feedback = True
    """Returning None is meant: the run waits for feedback (no warning)."""

    def __call__(self, episode: Episode, /) -> None:  # noqa: ARG002
        """Return None: no score now."""
        return

    async def ascore(self, episode: Episode, /) -> float | None:
        """Async twin of calling it (no I/O; a subclass's own `__call__` is what runs)."""
        score: Callable[[Episode], float | None] = self
        return score(episode)


class JudgeVerdict(BaseModel):
    """The judge's structured answer."""

    score: float = Field(description="How well the task was accomplished, from 0.0 to 1.0.")
    reason: str = Field(default="", description="One sentence explaining the score.")


class LLMJudgeScorer:
    """Score an episode with a chat model's structured output (a `JudgeVerdict`).

    Works with any chat model implementing `with_structured_output` (e.g. `ChatOpenAI`). The
    verdict's score, in [0, 1], times `scale` is the final reward. An invalid answer (no
    verdict, a score outside [0, 1] or not finite) raises `ScoringError`: the adapters then log
    a warning and do not learn the run (unlike None, which would mean "pending").

    Example:
        ```python
        from langchain_core.runnables import RunnableLambda

        from langchain_rememberer import Episode, Step
        from langchain_rememberer.adapters.scoring import JudgeVerdict, LLMJudgeScorer


        class StandInJudge:  # stands in for e.g. ChatOpenAI(model="gpt-4o-mini")
            def with_structured_output(self, schema, **kwargs):
                return RunnableLambda(lambda _: JudgeVerdict(score=0.5, reason="partly"))


        scorer = LLMJudgeScorer(StandInJudge())
        assert scorer(Episode(task="t", steps=[Step(observation="o", action="a")])) == 0.5
        assert scorer.last_verdict.reason == "partly"
        ```

    Many runs at once (one scorer shared by concurrent runs): read each run's verdict by its
    run id, `verdicts[run_id]` (kept for the latest `keep_verdicts` runs);
    `last_verdict` is the latest of any run, for one run after another only:
        ```python
        episode = Episode(task="t", steps=[Step(observation="o", action="a")], run_id="run-7")
        scorer(episode)
        assert scorer.verdicts["run-7"].reason == "partly"
        ```

    Args:
        model: A chat model with `with_structured_output` (the judge).
        rubric: What a good run is, given to the judge in `prompt`.
        prompt: The judge's message, a `str.format` template with the fields `{rubric}`,
            `{task}`, `{trajectory}` and `{status}`.
        system: The judge's system message.
        scale: The final reward is the judge's score in [0, 1] times this finite number.
        max_trajectory_chars: The trajectory shown is cut to its last this many characters.
        keep_verdicts: How many runs' verdicts `verdicts` remembers (the latest runs).

    Raises:
        TypeError: `model` has no `with_structured_output`.
        InvalidInputError: a bad `prompt`, `rubric`, `system`, `scale`,
            `max_trajectory_chars` or `keep_verdicts`.
    """

    def __init__(
        self,
        model: BaseChatModel | Any,
        *,
        rubric: str = JUDGE_RUBRIC,
        prompt: str = JUDGE_PROMPT,
        system: str = JUDGE_SYSTEM,
        scale: float = 1.0,
        max_trajectory_chars: int = 12_000,
        keep_verdicts: int = 256,
    ) -> None:
        if not hasattr(model, "with_structured_output"):
            msg = (
                f"LLMJudgeScorer needs a chat model with with_structured_output, got "
                f"{type(model).__name__}"
            )
            raise TypeError(msg)
        _check_prompt(prompt, rubric, system)
        if not is_finite_number(scale):
            msg = f"LLMJudgeScorer scale must be a finite number, got {scale!r}"
            raise InvalidInputError(msg)
        for name, value in (
            ("max_trajectory_chars", max_trajectory_chars),
            ("keep_verdicts", keep_verdicts),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                msg = f"LLMJudgeScorer {name} must be a whole number of at least 1, got {value!r}"
                raise InvalidInputError(msg)
        self.judge = model.with_structured_output(JudgeVerdict)
        self.rubric = rubric
        self.prompt = prompt
        self.system = system
        self.scale = scale
        self.max_trajectory_chars = max_trajectory_chars
        self.last_verdict: JudgeVerdict | None = None
        """The latest verdict of any run (sequential use; see `verdicts` for concurrent runs)."""
        self.keep_verdicts = keep_verdicts
        self._verdicts: OrderedDict[str, JudgeVerdict] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def verdicts(self) -> Mapping[str, JudgeVerdict]:
        """The verdict per run id, of the latest `keep_verdicts` runs judged (a copy)."""
        with self._lock:
            return dict(self._verdicts)

    def render(self, episode: Episode) -> str:
        """The judge's prompt for `episode`."""
        lines = []
        for t, step in enumerate(episode.steps):
            lines.append(f"[{t}] observation: {step.observation}")
            lines.append(f"[{t}] action: {step.action} (reward {step.reward:g})")
            if step.answer is not None:
                lines.append(f"[{t}] answer: {step.answer}")
        trajectory = "\n".join(lines)[-self.max_trajectory_chars :]
        status = {True: "completed", False: "failed with an error", None: "unknown"}
        return self.prompt.format(
            rubric=self.rubric,
            task=escape_text(episode.task),
            trajectory=escape_text(trajectory),
            status=status[episode.succeeded],
        )

    def _messages(self, episode: Episode) -> list[BaseMessage]:
        return [SystemMessage(self.system), HumanMessage(self.render(episode))]

    def __call__(self, episode: Episode, /) -> float:
        """Ask the judge; return its score times `scale`.

        Raises:
            ScoringError: the judge failed or answered something invalid.
        """
        try:
            answer = self.judge.invoke(self._messages(episode), config=_JUDGE_CONFIG)
        except Exception as e:
            msg = f"the LLM judge failed on run {episode.run_id}: {e}"
            raise ScoringError(msg) from e
        return self._accept(answer, episode)

    async def ascore(self, episode: Episode, /) -> float:
        """Async twin of calling it: the judge's `ainvoke`, on the event loop.

        Raises:
            ScoringError: the judge failed or answered something invalid.
        """
        try:
            answer = await self.judge.ainvoke(self._messages(episode), config=_JUDGE_CONFIG)
        except Exception as e:
            msg = f"the LLM judge failed on run {episode.run_id}: {e}"
            raise ScoringError(msg) from e
        return self._accept(answer, episode)

    def _accept(self, answer: Any, episode: Episode) -> float:
        """Check the judge's answer, keep its verdict under the run id, return the score."""
        verdict = _as_verdict(answer)
        if verdict is None or not is_finite_number(verdict.score) or not 0 <= verdict.score <= 1:
            msg = (
                f"the LLM judge gave an invalid verdict for run {episode.run_id}: {answer!r}; "
                "expected a JudgeVerdict with a score in [0, 1]"
            )
            raise ScoringError(msg)
        with self._lock:
            self.last_verdict = verdict
            self._verdicts[episode.run_id] = verdict
            self._verdicts.move_to_end(episode.run_id)
            while len(self._verdicts) > self.keep_verdicts:
                self._verdicts.popitem(last=False)
        return verdict.score * self.scale


# Traced, but never streamed to the host's users (LangGraph's "nostream" tag).
_JUDGE_CONFIG: RunnableConfig = {
    "tags": ["nostream", "rememberer_judge"],
    "run_name": "rememberer_judge",
}


def _check_prompt(prompt: object, rubric: object, system: object) -> None:
    """Reject judge texts that `render` could not use (they would fail every run)."""
    for name, value in (("prompt", prompt), ("rubric", rubric), ("system", system)):
        if not isinstance(value, str):
            msg = f"LLMJudgeScorer {name} must be a string, got {type(value).__name__}"
            raise InvalidInputError(msg)
    try:
        str(prompt).format(rubric="", task="", trajectory="", status="")
    except (KeyError, IndexError, ValueError) as e:
        msg = (
            "LLMJudgeScorer prompt must be a str.format template using only {rubric}, {task}, "
            f"{{trajectory}} and {{status}} (other braces doubled); {type(e).__name__}: {e}"
        )
        raise InvalidInputError(msg) from e


def _as_verdict(answer: Any) -> JudgeVerdict | None:
    if isinstance(answer, dict) and "parsed" in answer:
        answer = answer["parsed"]
    if isinstance(answer, JudgeVerdict):
        return answer
    try:
        return JudgeVerdict.model_validate(answer)
    except ValueError:
        return None
