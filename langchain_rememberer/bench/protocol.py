"""The benchmark protocol: train, evaluate held-out, evaluate recurring, for every method.

Protocol (as in the REMEMBERER paper): for each method, train on a few train-fold seeds for
several epochs (learning on, some exploration), and after every epoch evaluate on held-out
dev-fold seeds with the memory frozen (no learning, no exploration). After training, evaluate
greedily on the train seeds again ("recurring tasks"). Every method sees the same env seeds
and the same random numbers per (phase, epoch, seed), so differences are paired.

The methods and settings are in `bench.config`, the statistics in `bench.statistics`, the
tabular Q-learning reference in `bench.tabular`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from langchain_rememberer.bench.agent import AgentRunner
from langchain_rememberer.bench.config import METHODS, BenchConfig
from langchain_rememberer.bench.direct import (
    EpisodeResult,
    MemoryPlayer,
    Player,
    RandomPlayer,
    play,
)
from langchain_rememberer.bench.statistics import compare, summarize
from langchain_rememberer.bench.tabular import TabularQPlayer
from langchain_rememberer.bench.textworld import TextWorldEnv, observation_key, parse_env_spec
from langchain_rememberer.config import RetrievalConfig, RLEMConfig
from langchain_rememberer.memory import RemembererMemory

__all__ = ["run_bench", "run_method"]


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
        holdout=config.holdout,
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
