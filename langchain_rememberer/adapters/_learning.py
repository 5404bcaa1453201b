"""What both adapters do with a finished episode: check their arguments, score, learn.

Private: `RemembererMiddleware` and `RLEMCallbackHandler` call these; the scorers themselves
live in `adapters.scoring`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from langchain_rememberer._spool import ReplayReport, SpoolKind, is_storage_down
from langchain_rememberer.adapters._runs import ClosedRun
from langchain_rememberer.adapters.scoring import ToolRewardScorer, ascore
from langchain_rememberer.config import TextLimits
from langchain_rememberer.errors import RemembererError
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode, LearnReport, is_finite_number

__all__ = [
    "PendingWarning",
    "afinish_episode",
    "check_memory",
    "check_scorer",
    "closed_episode",
    "conclude",
    "finish_episode",
]

T = TypeVar("T")

logger = logging.getLogger(__name__)


def check_memory(memory: Any, owner: str) -> RemembererMemory:
    """Reject anything that is not a `RemembererMemory`, with a clear message."""
    if not isinstance(memory, RemembererMemory):
        msg = (
            f"{owner} needs a RemembererMemory as its first argument, got "
            f"{type(memory).__name__}; build one with RemembererMemory(path=...)"
        )
        raise TypeError(msg)
    return memory


def check_scorer(scorer: Any, owner: str) -> Callable[[Episode], float | None]:
    """Default to `ToolRewardScorer`; reject non-callables."""
    if scorer is None:
        return ToolRewardScorer()
    if not callable(scorer):
        msg = f"{owner} scorer must be a callable Episode -> float | None, got {scorer!r}"
        raise TypeError(msg)
    return scorer  # type: ignore[no-any-return]


class PendingWarning:
    """Warns once (per adapter) that a scorer not built for feedback returned None.

    A scorer that forgets to `return` makes every run pending, silently; scorers meant to wait
    for feedback (`FeedbackScorer` and its subclasses) say so with `expects_feedback = True`.
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.warned = False
        self._lock = threading.Lock()

    def __call__(self, scorer: object, run_id: str) -> None:
        """Warn, the first time only, unless `scorer` expects feedback."""
        if getattr(scorer, "expects_feedback", False):
            return
        with self._lock:
            if self.warned:
                return
            self.warned = True
        logger.warning(
            "rememberer: %s: the scorer %r returned None, so run %s (and every later run it "
            "scores None) is saved as pending, waiting for record_feedback(run_id, reward); "
            "return a float to learn at once, or use FeedbackScorer to mean it (warned once)",
            self.owner,
            scorer,
            run_id,
        )


def closed_episode(
    run: ClosedRun, run_id: str, succeeded: bool | None, limits: TextLimits
) -> Episode | None:
    """The episode of a root run the handler learns, or None (logged) when it is not learned.

    `succeeded` None: the run was stopped from outside.
    """
    if succeeded is None or run.paused:
        logger.info(
            "rememberer: run %s not learned: it was interrupted, resumed or stopped from "
            "outside (use RemembererMiddleware for agents that pause for human input)",
            run_id,
        )
        return None
    if run.recorder.is_empty():
        logger.debug("rememberer: run %s has no step: nothing to learn", run_id)
        return None
    try:
        return run.recorder.episode(run_id=run_id, succeeded=succeeded, limits=limits)
    except Exception as e:
        logger.warning("rememberer: run %s not learned, no episode could be built: %s", run_id, e)
        return None


def _warn(what: str, run: str, error: Exception) -> None:
    """One warning naming the run; a traceback only for what is not a `RemembererError`."""
    expected = isinstance(error, RemembererError)
    logger.warning(
        "rememberer: run %s not learned, %s: %s", run, what, error, exc_info=not expected
    )


async def _areplay(memory: RemembererMemory) -> ReplayReport:
    """The spool's replay off the event loop; nothing to do (no thread) when it is empty."""
    if not len(memory.spool):
        return ReplayReport()
    return await asyncio.to_thread(memory.spool.replay)


def finish_episode(
    memory: RemembererMemory,
    episode: Episode,
    scorer: Callable[[Episode], float | None],
    *,
    namespace: str | None = None,
    pending_warning: PendingWarning | None = None,
) -> LearnReport | None:
    """Score the episode, then learn it, save it as pending, or skip it; never raises.

    What the storage cannot take (a `StorageError`: unreachable, not a rejected episode) waits
    in `memory.spool` on local disk and is learned once the storage is back: every call first
    replays the spool, oldest first, and while that fails the episode goes straight behind the
    others (DESIGN §6).

    Returns the `LearnReport` when learned, else None (pending, skipped, or memory failure,
    each logged once, with a traceback only for unexpected errors).
    """
    backlog = memory.spool.replay().storage_down  # older episodes first
    try:
        score = scorer(episode)
    except Exception as e:
        _warn("the scorer failed", episode.run_id, e)
        return None
    return conclude(memory, episode, score, backlog, namespace, pending_warning, scorer)


async def afinish_episode(
    memory: RemembererMemory,
    episode: Episode,
    scorer: Callable[[Episode], float | None],
    *,
    namespace: str | None = None,
    pending_warning: PendingWarning | None = None,
) -> LearnReport | None:
    """Async twin of `finish_episode`: the scorer's `ascore` if any, the rest in a thread.

    A scorer without `ascore` runs in a thread (it may call a model); the spool, on local
    disk, is replayed in a thread only when something waits in it.
    """
    backlog = (await _areplay(memory)).storage_down
    try:
        score = await ascore(scorer, episode)
    except Exception as e:
        _warn("the scorer failed", episode.run_id, e)
        return None
    return await asyncio.to_thread(
        conclude, memory, episode, score, backlog, namespace, pending_warning, scorer
    )


def conclude(  # noqa: PLR0917 (what finishing an episode needs, in order)
    memory: RemembererMemory,
    episode: Episode,
    score: float | None,
    backlog: bool,
    namespace: str | None,
    pending_warning: PendingWarning | None,
    scorer: object,
) -> LearnReport | None:
    """With the score known: learn the episode, save it as pending, or skip it; never raises."""
    run = episode.run_id
    kind: SpoolKind = "pending" if score is None else "learn"
    try:
        if score is None:
            if not (backlog and _keep(memory, kind, episode, namespace, None)):
                memory.save_pending(episode, namespace=namespace)
                logger.debug("rememberer: run %s saved, waiting for feedback", run)
            if pending_warning is not None:
                pending_warning(scorer, run)
            return None
        if not is_finite_number(score):
            logger.warning(
                "rememberer: run %s not learned, the scorer returned %r (not finite, or not a "
                "number); return a finite float, or None to wait for feedback",
                run,
                score,
            )
            return None
        episode = episode.with_final_reward(float(score))
        if backlog and _keep(memory, kind, episode, namespace, None):
            return None
        return memory.learn(episode, namespace=namespace)
    except Exception as e:
        if not (is_storage_down(e) and _keep(memory, kind, episode, namespace, e)):
            _warn("the memory failed", run, e)
        return None


def _keep(
    memory: RemembererMemory,
    kind: SpoolKind,
    episode: Episode,
    namespace: str | None,
    error: Exception | None,
) -> bool:
    """Put the episode in the spool and say so; False if the spool did not keep it."""
    if not memory.spool.keep(kind, episode, namespace):
        return False
    why = f"the storage failed: {error}" if error else "older runs wait, the storage is down"
    logger.warning(
        "rememberer: run %s not learned yet, %s; kept in the spool at %s (%d waiting) until "
        "the storage is back",
        episode.run_id,
        why,
        memory.spool.directory,
        len(memory.spool),
    )
    return True
