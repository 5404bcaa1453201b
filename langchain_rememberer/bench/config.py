"""The benchmark's settings: the methods it compares and `BenchConfig`.

Methods: `no_memory` (uniformly random valid command), `rememberer` (the stand-in policy with
REMEMBERER exemplars), `library_defaults` (REMEMBERER with the library's defaults),
`rememberer_n1` (1-step bootstrapping instead of Monte Carlo), `rememberer_no_discouraged`
(exemplars without discouraged actions), `tabular_q` (an exact (task, state, action) table
learned with Q-learning from the same episodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_rememberer.bench.policies import ExemplarChoice
from langchain_rememberer.bench.textworld import ObservationKey

__all__ = ["METHODS", "BenchConfig", "Harness"]

METHODS = {
    "no_memory": "uniformly random valid command (the stand-in with an empty memory)",
    "rememberer": "stand-in policy + REMEMBERER memory (RLEM, exemplars), tuned settings",
    "library_defaults": "REMEMBERER with every setting at the library's defaults",
    "rememberer_n1": "ablation: 1-step bootstrapping instead of Monte Carlo (n_step=1)",
    "rememberer_no_discouraged": "ablation: exemplars show no discouraged actions",
    "tabular_q": "reference: exact (task, state, action) table, Q-learning, same episodes",
}

Harness = Literal["agent", "direct"]


@dataclass(frozen=True)
class BenchConfig:
    """Everything a benchmark run depends on; the same config and seed give the same run."""

    env: str = "twx:coin"
    """Environment spec, `twx:<game>`."""
    game_params: str = "numLocations=6,includeDoors=1"
    """TextWorldExpress generation parameters, `key=int` pairs."""
    max_steps: int = 30
    """Step budget per episode."""
    epochs: int = 3
    """Training epochs; each is one pass over the train seeds, then an evaluation."""
    train_seeds: int = 10
    """Number of train-fold games to learn from."""
    test_seeds: int = 50
    """Number of held-out dev-fold games to evaluate on."""
    seed: int = 0
    """Master seed: picks the games and drives every random choice."""
    train_epsilon: float = 0.2
    """Exploration during training: probability of ignoring the exemplars."""
    methods: tuple[str, ...] = tuple(METHODS)
    """Methods to compare (see `METHODS`)."""
    harness: Harness = "agent"
    """`agent`: create_agent + RemembererMiddleware (what users run); `direct`: no LangGraph."""
    action_history: int = 1
    """REMEMBERER: previous actions that are part of a state's key (against state aliasing)."""
    min_similarity: float = 0.9
    """REMEMBERER: exemplars less similar than this are not shown."""
    gamma: float = 0.5
    """Discount of REMEMBERER and of tabular Q-learning; < 1 prefers shorter paths."""
    k: int = 4
    """REMEMBERER: exemplars retrieved per step."""
    alpha: float | None = None
    """REMEMBERER: a constant learning rate α instead of the running mean (α = 1/N)."""
    exemplar_choice: ExemplarChoice = "best_value"
    """Stand-in: follow the most similar exemplar (`most_similar`), the highest valued
    encouraged action (`best_value`), or an exemplar of the same state first (`exact_then_best`)."""
    avoid_repeats: bool = True
    """Stand-in and tabular: never follow memory into a command already taken from the same
    observation in the episode (a model reading its history would not loop)."""
    trust_discouraged: float = -1.0
    """Stand-in: avoid discouraged actions only from exemplars at least this similar."""
    initial: Literal["task", "env"] = "task"
    """Direct harness only: o_0 is the task (as the middleware) or the env's first text."""
    observation_key: ObservationKey = "actions"
    """REMEMBERER: how observations are canonicalised before storing and matching
    (`full` text, `actions` = the valid actions only, `room+actions`)."""
    holdout: float = 0.0
    """REMEMBERER, agent harness: the share of training runs shown no lessons (the control arm
    of `memory.lift()`, docs/lift.md); they are still learned. 0: none."""
    memory_path: str | None = None
    """Where each method's memory is kept (a Chroma directory); None keeps it in RAM."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free-form notes stored with the results."""

    def __post_init__(self) -> None:
        """Reject settings no run can honour, naming each one.

        Raises:
            ValueError: a count or rate is out of range.
        """
        bounds = {
            "max_steps": (self.max_steps, 1, None),
            "epochs": (self.epochs, 0, None),
            "train_seeds": (self.train_seeds, 1, 1000),
            "test_seeds": (self.test_seeds, 0, 1000),
            "k": (self.k, 1, None),
            "action_history": (self.action_history, 0, None),
            "gamma": (self.gamma, 0.0, 1.0),
            "train_epsilon": (self.train_epsilon, 0.0, 1.0),
            "min_similarity": (self.min_similarity, -1.0, 1.0),
            "holdout": (self.holdout, 0.0, 0.99),
        }
        wrong = [
            f"{name}={value!r} (allowed: {low} to {'any' if high is None else high})"
            for name, (value, low, high) in bounds.items()
            if math.isnan(value) or value < low or (high is not None and value > high)
        ]
        if wrong:
            msg = "bad benchmark settings: " + "; ".join(wrong)
            raise ValueError(msg)
