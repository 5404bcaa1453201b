"""Episode loops: how a policy with (or without) experience memory plays one env episode.

Two harnesses run the same learners:

- `"agent"` (what users run): `create_agent(model, [act], middleware=[RemembererMiddleware])`;
  exemplars go in through the middleware and episodes are learned by it, with RLEM.
- `"direct"`: the same memory, exemplar block and stand-in decision rule called in a plain
  loop, without LangGraph. It is the reference for the harness overhead and the fast path of
  parameter studies.

A learner is a `Player`: `choose(...)` picks a command, `learn(episode)` updates it.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from langchain_rememberer.adapters.trajectory import FINAL_ANSWER, canonical_action
from langchain_rememberer.bench.policies import choose_action, command_of, hints_from
from langchain_rememberer.bench.textworld import StepResult, TextWorldEnv, tool_content
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode, Step

__all__ = [
    "EpisodeResult",
    "MemoryPlayer",
    "Player",
    "RandomPlayer",
    "TimedEnv",
    "act_action",
    "play",
]


def act_action(command: str) -> str:
    """The canonical action of `act(command=...)`, as the middleware renders tool calls."""
    return canonical_action([{"name": "act", "args": {"command": command}}])


@dataclass(frozen=True)
class EpisodeResult:
    """Outcome of one episode."""

    seed: int
    """The env seed (the map)."""
    success: bool
    """The task was completed."""
    score: float
    """Final normalised score."""
    steps: int
    """Env steps taken."""
    seconds: float
    """Wall time of the whole episode, learning included."""
    env_seconds: float
    """Time spent inside the env (reset and steps)."""
    learn_seconds: float = 0.0
    """Time spent learning after the episode (direct harness only)."""
    task: str = ""
    """The env's task description."""


class Player(Protocol):
    """A decision rule plus what it learns from."""

    name: str
    tried: Collection[str]
    """Commands already taken from the current observation (set by `play`)."""

    def choose(
        self,
        task: str,
        observation: str,
        valid: Sequence[str],
        recent: Sequence[str],
        rng: random.Random,
        *,
        epsilon: float,
    ) -> str:
        """Pick a command; `recent` are the canonical actions taken so far."""
        ...

    def learn(self, episode: Episode) -> None:
        """Update from one finished episode (canonical actions, rendered observations)."""
        ...


class RandomPlayer:
    """No memory: a uniformly random valid command."""

    name = "no_memory"
    tried: Collection[str] = ()

    def choose(  # noqa: D102
        self,
        task: str,  # noqa: ARG002
        observation: str,  # noqa: ARG002
        valid: Sequence[str],
        recent: Sequence[str],  # noqa: ARG002
        rng: random.Random,
        *,
        epsilon: float,
    ) -> str:
        return choose_action([], valid, rng, epsilon=epsilon)

    def learn(self, episode: Episode) -> None:  # noqa: ARG002
        """Learn nothing."""
        return


class MemoryPlayer:
    """The stand-in policy reading exemplars from a `RemembererMemory`, without LangGraph."""

    def __init__(self, name: str, memory: RemembererMemory, **choice: Any) -> None:
        self.name = name
        self.memory = memory
        self.choice = choice
        self.tried: Collection[str] = ()

    def choose(  # noqa: D102
        self,
        task: str,
        observation: str,
        valid: Sequence[str],
        recent: Sequence[str],
        rng: random.Random,
        *,
        epsilon: float,
    ) -> str:
        states = self.memory.retrieve(task, observation, recent_actions=recent)
        hints = hints_from(self.memory.render_shown(states)[1])
        return choose_action(hints, valid, rng, epsilon=epsilon, tried=self.tried, **self.choice)

    def learn(self, episode: Episode) -> None:  # noqa: D102
        self.memory.learn(episode)


class TimedEnv:
    """Accumulates the time spent inside the env."""

    def __init__(self, env: TextWorldEnv) -> None:
        self.env = env
        self.seconds = 0.0

    def reset(self, seed: int, fold: str) -> StepResult:
        """`TextWorldEnv.reset`, timed."""
        start = time.perf_counter()
        try:
            return self.env.reset(seed=seed, fold=fold)
        finally:
            self.seconds += time.perf_counter() - start

    def step(self, command: str) -> StepResult:
        """`TextWorldEnv.step`, timed."""
        start = time.perf_counter()
        try:
            return self.env.step(command)
        finally:
            self.seconds += time.perf_counter() - start


def _tried(steps: Sequence[Step], observation: str) -> set[str]:
    """The commands already taken from `observation` in this episode."""
    return {command_of(s.action) for s in steps if s.observation == observation}


def play(
    env: TextWorldEnv,
    player: Player,
    *,
    seed: int,
    fold: str,
    rng: random.Random,
    epsilon: float,
    learn: bool,
    initial: Literal["task", "env"] = "task",
    avoid_repeats: bool = True,
) -> EpisodeResult:
    """Play one episode in the direct harness and learn from it when `learn`.

    `initial` is the first observation stored and retrieved by: the task text, as the
    middleware does (DESIGN §2), or the env's first observation.
    """
    timed = TimedEnv(env)
    start = time.perf_counter()
    first = timed.reset(seed, fold)
    task, result = env.task, first
    steps: list[Step] = []
    observation = task if initial == "task" else first.text
    while not result.done:
        actions = [s.action for s in steps]
        player.tried = _tried(steps, observation) if avoid_repeats else set()
        command = player.choose(
            task, observation, result.valid_actions, actions, rng, epsilon=epsilon
        )
        result = timed.step(command)
        steps.append(
            Step(observation=observation, action=act_action(command), reward=result.reward)
        )
        observation = tool_content(result)
    steps.append(Step(observation=observation, action=FINAL_ANSWER))
    learn_start = time.perf_counter()
    if learn:
        player.learn(Episode(task=task, steps=steps, run_id=str(uuid.uuid4())))
    end = time.perf_counter()
    return EpisodeResult(
        seed=seed,
        success=result.success,
        score=result.score,
        steps=result.steps,
        seconds=end - start,
        env_seconds=timed.seconds,
        learn_seconds=end - learn_start,
        task=task,
    )
