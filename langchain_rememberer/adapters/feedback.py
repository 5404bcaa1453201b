"""`LangSmithFeedbackScorer`: thumbs up / down collected in LangSmith become rewards.

Teams already collect feedback on runs in LangSmith. This scorer saves each finished episode as
pending (like `FeedbackScorer`); `sync(memory)` then reads the feedback LangSmith holds for the
pending runs and learns each run once, through the memory's pending/feedback path. Run ids are
shared: the callback handler's run id is the root run id LangSmith traces; with
`RemembererMiddleware`, pass `config={"run_id": uuid}` so the agent's run and the trace have
the same id (the middleware uses it as `rememberer_run_id`).

Only a client object is needed (`langsmith.Client()` by default): anything with LangSmith's
`list_feedback(run_ids=..., feedback_key=...)` returning feedback with `run_id`, `key`,
`score`, `value` and `created_at` works, which is how it is tested offline.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from langchain_rememberer.adapters.scoring import FeedbackScorer
from langchain_rememberer.errors import FeedbackError, InvalidInputError
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import LearnReport, is_finite_number

__all__ = ["LangSmithFeedbackScorer"]

logger = logging.getLogger(__name__)

_BATCH = 100


def _score_of(feedback: Any) -> Any:
    """The feedback's score, else its value (LangSmith keeps either)."""
    score = getattr(feedback, "score", None)
    return score if score is not None else getattr(feedback, "value", None)


class LangSmithFeedbackScorer(FeedbackScorer):
    """Learn runs from their LangSmith feedback: pending until `sync` finds a score.

    Setup:
        ```python
        from langchain_rememberer import RemembererMemory, RLEMCallbackHandler
        from langchain_rememberer.adapters.feedback import LangSmithFeedbackScorer

        memory = RemembererMemory(path=None)
        scorer = LangSmithFeedbackScorer(client=object(), key="user_score")  # or langsmith.Client()
        handler = RLEMCallbackHandler(memory, scorer=scorer)
        ```

    Then, e.g. from a periodic job: `scorer.sync(memory)` learns every pending run that has
    feedback under `key` (the latest one counts), exactly once.

    Args:
        client: A `langsmith.Client` (default: one built from the environment, on first sync).
        key: The feedback key to read (e.g. "user_score", "thumbs").
        value_map: Turns a feedback's score (or value, when it has no score) into the reward:
            a mapping (e.g. `{"up": 1.0, "down": -1.0}`) or a callable. Default: the score as a
            number (booleans count 1.0 / 0.0). A feedback that maps to nothing is skipped, with
            a warning.
    """

    def __init__(
        self,
        client: Any = None,
        *,
        key: str = "user_score",
        value_map: Mapping[Any, float] | Callable[[Any], float | None] | None = None,
    ) -> None:
        if not isinstance(key, str) or not key.strip():
            msg = f"key must be a non-empty feedback key, got {key!r}"
            raise InvalidInputError(msg)
        if value_map is not None and not (isinstance(value_map, Mapping) or callable(value_map)):
            msg = f"value_map must be a mapping or a callable, got {type(value_map).__name__}"
            raise InvalidInputError(msg)
        self.key = key
        self.value_map = value_map
        self._client = client

    @property
    def client(self) -> Any:
        """The LangSmith client (built from the environment on first use when none was given)."""
        if self._client is None:
            from langsmith import Client  # noqa: PLC0415 - a network client, built only when used

            self._client = Client()
        return self._client

    def reward_of(self, feedback: Any) -> float | None:
        """The reward one feedback stands for, or None when it maps to nothing."""
        raw = _score_of(feedback)
        if isinstance(self.value_map, Mapping):
            reward: Any = self.value_map.get(raw)
        elif callable(self.value_map):
            reward = self.value_map(raw)
        else:
            reward = float(raw) if isinstance(raw, bool) else raw
        return float(reward) if is_finite_number(reward) else None

    def sync(
        self,
        memory: RemembererMemory,
        *,
        namespace: str | None = None,
        run_ids: Iterable[str] | None = None,
    ) -> dict[str, LearnReport]:
        """Learn every pending run (or those of `run_ids`) that has feedback under `key`.

        Returns the reports of the runs learned now. A run is learned once: a second sync, or
        one in another process, finds it learned already and skips it.
        """
        pending = list(run_ids) if run_ids is not None else memory.pending_runs(namespace=namespace)
        learned: dict[str, LearnReport] = {}
        for start in range(0, len(pending), _BATCH):
            batch = pending[start : start + _BATCH]
            for run_id, reward in self._rewards(batch).items():
                try:
                    learned[run_id] = memory.learn_pending(run_id, reward, namespace=namespace)
                except FeedbackError as e:  # learned meanwhile (another sync), or not pending
                    logger.debug("rememberer: run %s skipped: %s", run_id, e)
        return learned

    def _rewards(self, run_ids: list[str]) -> dict[str, float]:
        """The latest mappable feedback's reward per run id."""
        latest: dict[str, tuple[Any, float]] = {}
        for feedback in self.client.list_feedback(run_ids=run_ids, feedback_key=[self.key]):
            if getattr(feedback, "key", self.key) != self.key:
                continue
            run_id = str(getattr(feedback, "run_id", ""))
            reward = self.reward_of(feedback)
            if reward is None:
                logger.warning(
                    "rememberer: run %s: feedback %r under %r maps to no reward; skipped",
                    run_id,
                    _score_of(feedback),
                    self.key,
                )
                continue
            when: Any = getattr(feedback, "created_at", None)
            order = when.timestamp() if hasattr(when, "timestamp") else -math.inf
            if run_id not in latest or order >= latest[run_id][0]:
                latest[run_id] = (order, reward)
        return {run_id: reward for run_id, (_, reward) in latest.items()}
