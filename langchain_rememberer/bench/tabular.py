"""The tabular Q-learning reference of the benchmark (method `tabular_q`)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Collection, Sequence

from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.bench.policies import command_of
from langchain_rememberer.types import Episode

__all__ = ["TabularQPlayer"]


class TabularQPlayer:
    """Tabular Q-learning on exact (task, state key, action) entries, replayed backwards.

    The state key is the observation text preceded by the last `history` actions, as in the
    memory. After each episode, every step is updated from the last to the first with
    `Q <- Q + (1/N) * (r + gamma * max_a' Q(s', a') - Q)`, so one success propagates back along
    the whole path. It acts like the stand-in: the best known action when its Q is positive,
    else a random valid action, avoiding actions whose Q is known to be <= 0.
    """

    name = "tabular_q"

    def __init__(self, *, gamma: float = 0.9, history: int = 1) -> None:
        self.gamma = gamma
        self.history = history
        self.q: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
        self.tried: Collection[str] = ()

    def _key(self, task: str, observation: str, recent: Sequence[str]) -> tuple[str, str]:
        prefix = " | ".join(recent[-self.history :]) if self.history else ""
        return task, f"{prefix}#{normalize_whitespace(observation)}"

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
        table = self.q.get(self._key(task, observation, recent), {})
        values = {command_of(a): qn[0] for a, qn in table.items()}
        if rng.random() >= epsilon:
            good = [
                (values[a], a) for a in valid if values.get(a, 0.0) > 0.0 and a not in self.tried
            ]
            if good:
                return max(good)[1]
        pool = [a for a in valid if values.get(a, 1.0) > 0.0] or list(valid)
        return rng.choice(pool)

    def learn(self, episode: Episode) -> None:  # noqa: D102
        steps = episode.steps
        actions = [s.action for s in steps]
        keys = [self._key(episode.task, s.observation, actions[:t]) for t, s in enumerate(steps)]
        for t in range(len(steps) - 1, -1, -1):
            nxt = self.q.get(keys[t + 1], {}) if t + 1 < len(steps) else {}
            bootstrap = max((qn[0] for qn in nxt.values()), default=0.0)
            target = steps[t].reward + self.gamma * bootstrap
            entry = self.q[keys[t]].setdefault(steps[t].action, [0.0, 0.0])
            entry[1] += 1
            entry[0] += (target - entry[0]) / entry[1]
