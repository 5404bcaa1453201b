"""RLEM, the update rule of REMEMBERER, as pure functions (no I/O).

Notation follows DESIGN §3: an episode has steps t = 0..T-1 with rewards r_{t+1}; its n-step
target is

    G_t = Σ_{i=0}^{m-1} γ^i · r_{t+1+i} + [t + n < T] · γ^n · V(o_{t+n}),   m = min(n, T - t)

and an action's (Q, N) folds a sequence of targets with N ← N + 1, Q ← Q + α (G − Q), where
α = 1/N ("mean") or a constant. A new action starts at Q = G, N = 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ActionStats",
    "apply_update",
    "cap_rewards",
    "fold_table",
    "fold_updates",
    "n_step_targets",
]


def cap_rewards(rewards: Sequence[float], cap: float | None) -> list[float]:
    """Scale a run's rewards so their total absolute value is at most `cap` (None: no cap).

    A trust control: one run (a bug, or an attacker) cannot outweigh many ordinary ones. Signs
    and proportions are kept.

    Example:
        ```python
        from langchain_rememberer.rlem import cap_rewards

        assert cap_rewards([3.0, -1.0], 2.0) == [1.5, -0.5]
        assert cap_rewards([0.5, 0.5], 2.0) == [0.5, 0.5]
        ```
    """
    total = sum(abs(r) for r in rewards)
    if cap is None or total <= cap:
        return list(rewards)
    return [r * cap / total for r in rewards]


LearningRate = Literal["mean", "constant"]


def n_step_targets(
    rewards: Sequence[float],
    bootstrap_values: Sequence[float],
    *,
    gamma: float,
    n_step: int | None,
) -> list[float]:
    """Compute the target G_t of every step of one episode.

    Args:
        rewards: `rewards[t]` is r_{t+1}, the reward right after step t's action.
        bootstrap_values: `bootstrap_values[t]` is V(o_t) read from memory as it was before the
            episode; only read for t ≥ n. Ignored in Monte Carlo mode (`n_step=None`).
        gamma: Discount factor γ.
        n_step: Horizon n, or None for Monte Carlo (n = ∞).

    Returns:
        One target per step, in step order.
    """
    horizon = len(rewards)
    if n_step is not None and len(bootstrap_values) != horizon:
        msg = f"need one bootstrap value per step ({horizon}), got {len(bootstrap_values)}"
        raise ValueError(msg)
    n = horizon if n_step is None else n_step
    if n >= horizon:  # Monte Carlo: G_t = r_t + γ G_{t+1}, backwards, O(T) for long episodes
        returns, g = [], 0.0
        for reward in reversed(rewards):
            g = reward + gamma * g
            returns.append(g)
        return returns[::-1]
    targets = []
    for t in range(horizon):
        m = min(n, horizon - t)
        g_t = sum(gamma**i * rewards[t + i] for i in range(m))
        if t + n < horizon:
            g_t += gamma**n * bootstrap_values[t + n]
        targets.append(g_t)
    return targets


@dataclass(frozen=True)
class ActionStats:
    """The folded value of one action: Q, its visit count N, and the last immediate reward.

    For an answering action, `answer` is the answer text of its best update so far (highest
    target; the later one on ties) and `answer_value` that update's target: the answers given in
    a state share one Q-value, and the best of them is what an exemplar shows.
    """

    q: float
    visits: int
    last_reward: float = 0.0
    answer: str = ""
    answer_value: float = 0.0


def apply_update(
    stats: ActionStats | None,
    target: float,
    reward: float = 0.0,
    *,
    learning_rate: LearningRate = "mean",
    alpha: float = 0.1,
    answer: str = "",
) -> ActionStats:
    """Apply one update with target G to an action's stats (None for a new action).

    `answer` is the answer text given with this update ("" when the action is not an answer);
    it replaces the kept answer when its target is at least the kept answer's value.
    """
    if stats is None:
        return ActionStats(target, 1, reward, answer, target if answer else 0.0)
    visits = stats.visits + 1
    step_size = 1.0 / visits if learning_rate == "mean" else alpha
    q = stats.q + step_size * (target - stats.q)
    kept, kept_value = stats.answer, stats.answer_value
    if answer and (not kept or target >= kept_value):
        kept, kept_value = answer, target
    return ActionStats(q, visits, reward, kept, kept_value)


def fold_updates(
    updates: Iterable[tuple[float, float]],
    *,
    learning_rate: LearningRate = "mean",
    alpha: float = 0.1,
    initial: ActionStats | None = None,
) -> ActionStats | None:
    """Fold (target, reward) updates, in order, into one action's stats."""
    stats = initial
    for target, reward in updates:
        stats = apply_update(stats, target, reward, learning_rate=learning_rate, alpha=alpha)
    return stats


def fold_table(
    updates: Iterable[tuple[str, float, float] | tuple[str, float, float, str]],
    *,
    learning_rate: LearningRate = "mean",
    alpha: float = 0.1,
    initial: Mapping[str, ActionStats] | None = None,
) -> dict[str, ActionStats]:
    """Fold ordered (action, target, reward[, answer]) updates into an action table."""
    table = dict(initial or {})
    for action, target, reward, *answer in updates:
        table[action] = apply_update(
            table.get(action),
            target,
            reward,
            learning_rate=learning_rate,
            alpha=alpha,
            answer=answer[0] if answer else "",
        )
    return table
