"""The `"agent"` harness: episodes run through `create_agent` + `RemembererMiddleware`.

This is exactly what users run: the env is one tool `act(command)`, the model (the offline
stand-in, or a real chat model) sees exemplars the middleware appends to its system message,
and the middleware learns each training episode with RLEM after the run. Evaluation episodes
use a middleware that shows exemplars but does not learn (a frozen memory).
"""

from __future__ import annotations

import logging
import random
import time
from typing import TYPE_CHECKING, Any

from langchain.agents import create_agent
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage

from langchain_rememberer.adapters.middleware import RemembererMiddleware
from langchain_rememberer.adapters.scoring import ToolRewardScorer
from langchain_rememberer.bench.direct import EpisodeResult, TimedEnv
from langchain_rememberer.bench.policies import StandInChatModel
from langchain_rememberer.bench.textworld import TextWorldEnv, make_act_tool

if TYPE_CHECKING:
    from langchain_rememberer.memory import RemembererMemory

__all__ = ["SYSTEM_PROMPT", "AgentRunner", "ModelFailedError"]

logger = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You play a text game. Each turn, call the tool `act` with exactly one command from the "
    "'Valid actions' list of the latest observation. When the episode is over, reply with a "
    "one-line summary instead of calling the tool."
)
"""System prompt of the benchmark agent (the stand-in ignores it; real models need it)."""


_MAX_FAILURES_BEFORE_ACTING = 3
"""Consecutive agent runs that raise before their first env step: the model is not usable."""


class ModelFailedError(RuntimeError):
    """The chat model keeps failing before it acts (bad endpoint, key or model name)."""


class AgentRunner:
    """Plays episodes of one method through `create_agent`; call it like `runner.play`.

    Args:
        memory: The method's memory; None runs the agent without memory.
        model: The chat model; default the offline `StandInChatModel`.
        max_steps: Step budget, used to size the graph's recursion limit.
        choice: Options of the stand-in (`exemplar_choice`, `avoid_discouraged`).
    """

    def __init__(
        self,
        memory: RemembererMemory | None,
        *,
        model: BaseChatModel | None = None,
        max_steps: int = 30,
        **choice: Any,
    ) -> None:
        self.memory = memory
        self.model = model or StandInChatModel(**choice)
        self.max_steps = max_steps
        self._failures_before_acting = 0
        self._agents: dict[tuple[int, bool], Any] = {}
        self._timed: dict[int, TimedEnv] = {}
        self._played = 0
        """Runs played: with the fold and seed, each run's unit key (the same on every rerun)."""

    def _agent(self, env: TextWorldEnv, *, learn: bool) -> tuple[Any, TimedEnv]:
        timed = self._timed.setdefault(id(env), TimedEnv(env))
        key = (id(env), learn)
        if key not in self._agents:
            middleware: list[Any] = []
            if self.memory is not None:
                middleware.append(
                    RemembererMiddleware(self.memory, scorer=ToolRewardScorer(), learn=learn)
                )
            self._agents[key] = create_agent(
                self.model,
                [make_act_tool(timed)],
                system_prompt=SYSTEM_PROMPT,
                middleware=middleware,
            )
        return self._agents[key], timed

    def _failed(self, error: Exception, fold: str, seed: int, *, acted: bool) -> None:
        """Log a failed agent run; give up when the model keeps failing before acting."""
        self._failures_before_acting = 0 if acted else self._failures_before_acting + 1
        if self._failures_before_acting >= _MAX_FAILURES_BEFORE_ACTING:
            msg = (
                f"the model failed {self._failures_before_acting} runs in a row before taking "
                f"any step; last error: {type(error).__name__}: {error}"
            )
            raise ModelFailedError(msg) from error
        logger.warning(
            "%s seed %s: the agent run raised %s: %s; the episode counts as played so far",
            fold,
            seed,
            type(error).__name__,
            error,
        )

    def __call__(
        self,
        env: TextWorldEnv,
        *,
        seed: int,
        fold: str,
        rng: random.Random,
        epsilon: float,
        learn: bool,
    ) -> EpisodeResult:
        """Play one episode; the middleware learns it when `learn`."""
        agent, timed = self._agent(env, learn=learn)
        if isinstance(self.model, StandInChatModel):
            self.model.use(rng, epsilon=epsilon)
        timed.seconds = 0.0
        self._played += 1
        start = time.perf_counter()
        first = timed.reset(seed, fold)
        try:
            agent.invoke(
                {"messages": [HumanMessage(first.text)]},
                config={
                    "metadata": {
                        "rememberer_task": env.task,
                        "rememberer_unit": f"{fold}/{seed}/{self._played}",
                        "env_seed": seed,
                        "env_fold": fold,
                    },
                    "recursion_limit": 4 * self.max_steps + 20,
                },
            )
        except Exception as e:  # a real model may fail, or keep acting after the end
            self._failed(e, fold, seed, acted=(env.last or first).steps > 0)
        else:
            self._failures_before_acting = 0
        last = env.last or first
        return EpisodeResult(
            seed=seed,
            success=last.success,
            score=last.score,
            steps=last.steps,
            seconds=time.perf_counter() - start,
            env_seconds=timed.seconds,
            task=env.task,
        )
