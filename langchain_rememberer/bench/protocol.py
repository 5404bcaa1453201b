"""The benchmark protocol, the tabular Q-learning reference, and the statistics.

Protocol (as in the REMEMBERER paper): for each method, train on a few train-fold seeds for
several epochs (learning on, some exploration), and after every epoch evaluate on held-out
dev-fold seeds with the memory frozen (no learning, no exploration). After training, evaluate
greedily on the train seeds again ("recurring tasks"). Every method sees the same env seeds
and the same random numbers per (phase, epoch, seed), so differences are paired.

Methods: `no_memory` (uniformly random valid command), `rememberer` (the stand-in policy with
REMEMBERER exemplars), `rememberer_n1` (1-step bootstrapping instead of Monte Carlo),
`rememberer_no_discouraged` (exemplars without discouraged actions), `tabular_q` (an exact
(task, state, action) table learned with Q-learning from the same episodes).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel

from langchain_rememberer.bench.agent import AgentRunner
from langchain_rememberer.bench.direct import (
    EpisodeResult,
    MemoryPlayer,
    Player,
    RandomPlayer,
    play,
)
from langchain_rememberer.bench.policies import ExemplarChoice, command_of
from langchain_rememberer.bench.textworld import (
    ObservationKey,
    TextWorldEnv,
    observation_key,
    parse_env_spec,
)
from langchain_rememberer.config import RetrievalConfig, RLEMConfig
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode

__all__ = [
    "METHODS",
    "BenchConfig",
    "TabularQPlayer",
    "mean_ci",
    "paired_diff_ci",
    "run_bench",
    "wilson_ci",
]

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
        }
        wrong = [
            f"{name}={value!r} (allowed: {low} to {'any' if high is None else high})"
            for name, (value, low, high) in bounds.items()
            if math.isnan(value) or value < low or (high is not None and value > high)
        ]
        if wrong:
            msg = "bad benchmark settings: " + "; ".join(wrong)
            raise ValueError(msg)


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
        return task, f"{prefix}#{' '.join(observation.split())}"

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


def make_memory(config: BenchConfig, method: str, embeddings: Any) -> RemembererMemory:
    """The memory of a REMEMBERER method, with the ablation applied.

    `library_defaults` takes no setting from `config`: `RemembererMemory()` as a user gets it.
    """
    path = None if config.memory_path is None else Path(config.memory_path)
    if method == "library_defaults":
        memory = RemembererMemory(path=path, embeddings=embeddings, namespace="library-defaults")
        memory.clear()
        return memory
    rlem = RLEMConfig(
        gamma=config.gamma,
        n_step=1 if method == "rememberer_n1" else None,
        learning_rate="mean" if config.alpha is None else "constant",
        alpha=config.alpha or 0.1,
    )
    retrieval = RetrievalConfig(
        k=config.k,
        min_similarity=config.min_similarity,
        max_discouraged=0 if method == "rememberer_no_discouraged" else 2,
    )
    memory = RemembererMemory(
        path=path,
        embeddings=embeddings,
        namespace=method.replace("_", "-"),
        rlem=rlem,
        retrieval=retrieval,
        action_history=config.action_history,
        observation_key=observation_key(config.observation_key),
    )
    memory.clear()
    return memory


def agent_runner(
    config: BenchConfig, method: str, embeddings: Any, model: BaseChatModel | None = None
) -> AgentRunner:
    """The create_agent runner of a benchmark method (`no_memory` or a REMEMBERER variant)."""
    memory = None if method == "no_memory" else make_memory(config, method, embeddings)
    return AgentRunner(
        memory,
        model=model,
        max_steps=config.max_steps,
        exemplar_choice=config.exemplar_choice,
        avoid_repeats=config.avoid_repeats,
        trust_discouraged=config.trust_discouraged,
    )


def make_player(config: BenchConfig, method: str, embeddings: Any) -> Player:
    """The learner of a method for the direct harness."""
    if method == "no_memory":
        return RandomPlayer()
    if method == "tabular_q":
        return TabularQPlayer(gamma=config.gamma, history=config.action_history)
    if method in METHODS:
        return MemoryPlayer(
            method,
            make_memory(config, method, embeddings),
            exemplar_choice=config.exemplar_choice,
            trust_discouraged=config.trust_discouraged,
        )
    msg = f"unknown method {method!r}; choose from {', '.join(METHODS)}"
    raise ValueError(msg)


# -- statistics -------------------------------------------------------------------------------


def wilson_ci(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval over seeds."""
    if not values:
        return (0.0, 0.0, 0.0)
    mean = statistics.fmean(values)
    half = z * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return (mean, mean - half, mean + half)


def paired_diff_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Mean of a - b over the same seeds, with a 95% interval."""
    return mean_ci([x - y for x, y in zip(a, b, strict=True)])


def summarize(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """Success rate and mean score with 95% intervals."""
    wins = sum(r.success for r in results)
    score = mean_ci([r.score for r in results])
    return {
        "n": len(results),
        "success": wins / len(results) if results else 0.0,
        "success_ci": list(wilson_ci(wins, len(results))),
        "score": score[0],
        "score_ci": [score[1], score[2]],
        "mean_steps": statistics.fmean(r.steps for r in results) if results else 0.0,
        "per_seed_success": [int(r.success) for r in results],
        "per_seed_score": [r.score for r in results],
    }


# -- protocol ---------------------------------------------------------------------------------


def pick_seeds(config: BenchConfig) -> tuple[list[int], list[int]]:
    """Train-fold (0-999) and dev-fold (10000-10999) seeds, drawn from the master seed."""
    rng = random.Random(config.seed)  # noqa: S311
    return sorted(rng.sample(range(1000), config.train_seeds)), sorted(
        rng.sample(range(10000, 11000), config.test_seeds)
    )


def episode_rng(config: BenchConfig, phase: str, epoch: int, seed: int) -> random.Random:
    """The random numbers of one episode: the same for every method (paired comparison)."""
    return random.Random(f"{config.seed}/{phase}/{epoch}/{seed}")  # noqa: S311


Runner = Callable[..., EpisodeResult]
Progress = Callable[[str, str, EpisodeResult], None]


def run_method(
    config: BenchConfig, method: str, env: TextWorldEnv, runner: Runner, progress: Progress
) -> dict[str, Any]:
    """Train and evaluate one method; returns its per-epoch summaries."""
    train, test = pick_seeds(config)
    epochs = []
    timing: list[EpisodeResult] = []
    for epoch in range(1, config.epochs + 1):
        order = list(train)
        random.Random(f"{config.seed}/order/{epoch}").shuffle(order)  # noqa: S311
        trained = []
        for seed in order:
            rng = episode_rng(config, "train", epoch, seed)
            result = runner(env, seed=seed, fold="train", rng=rng, epsilon=config.train_epsilon,
                            learn=True)  # fmt: skip
            trained.append(result)
            progress(method, f"epoch {epoch} train", result)
        evaluated = []
        for seed in test:
            rng = episode_rng(config, "eval", epoch, seed)
            result = runner(env, seed=seed, fold="dev", rng=rng, epsilon=0.0, learn=False)
            evaluated.append(result)
            progress(method, f"epoch {epoch} eval", result)
        epochs.append({"epoch": epoch, "train": summarize(trained), "eval": summarize(evaluated)})
        timing += trained + evaluated
    recurring = []
    for seed in train:
        rng = episode_rng(config, "recurring", 0, seed)
        result = runner(env, seed=seed, fold="train", rng=rng, epsilon=0.0, learn=False)
        recurring.append(result)
        progress(method, "recurring", result)
    timing += recurring
    steps = sum(r.steps for r in timing) or 1
    return {
        "epochs": epochs,
        "recurring": summarize(recurring),
        "example_task": recurring[0].task if recurring else "",
        "timing": {
            "steps": steps,
            "env_ms_per_step": 1000 * sum(r.env_seconds for r in timing) / steps,
            "total_ms_per_step": 1000 * sum(r.seconds for r in timing) / steps,
            "episodes": len(timing),
        },
    }


def run_bench(
    config: BenchConfig, progress: Progress | None = None, *, model: Any = None
) -> dict[str, Any]:
    """Run every method of `config` and return the results as a JSON-ready dict.

    `model` replaces the offline stand-in policy in the agent harness (a chat model).
    """
    from langchain_rememberer.embeddings import WordLlamaEmbeddings  # noqa: PLC0415

    game = parse_env_spec(config.env)
    embeddings = WordLlamaEmbeddings()
    report = progress or (lambda *_: None)
    methods: dict[str, Any] = {}
    with TextWorldEnv(game, config.game_params, max_steps=config.max_steps) as env:
        for method in config.methods:
            if config.harness == "agent" and method not in {"tabular_q"}:
                runner: Runner = agent_runner(config, method, embeddings, model)
            else:
                player = make_player(config, method, embeddings)
                runner = _direct(player, config)
            methods[method] = run_method(config, method, env, runner, report)
    train, test = pick_seeds(config)
    return {
        "config": asdict(config),
        "train_seeds": train,
        "test_seeds": test,
        "methods": methods,
        "comparisons": compare(methods),
    }


def _direct(player: Player, config: BenchConfig) -> Runner:
    def runner(env: TextWorldEnv, **kwargs: Any) -> EpisodeResult:
        return play(
            env, player, initial=config.initial, avoid_repeats=config.avoid_repeats, **kwargs
        )

    return runner


def compare(methods: dict[str, Any], baseline: str = "no_memory") -> dict[str, Any]:
    """Paired differences in eval success against `baseline`, per epoch (95% intervals)."""
    if baseline not in methods:
        return {}
    out: dict[str, Any] = {}
    base = methods[baseline]["epochs"]
    for name, data in methods.items():
        if name == baseline:
            continue
        rows = []
        for mine, theirs in zip(data["epochs"], base, strict=True):
            diff = paired_diff_ci(
                mine["eval"]["per_seed_success"], theirs["eval"]["per_seed_success"]
            )
            rows.append({"epoch": mine["epoch"], "diff": diff[0], "ci": [diff[1], diff[2]]})
        out[f"{name}-vs-{baseline}"] = rows
    return out
