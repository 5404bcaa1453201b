from __future__ import annotations

import pytest

from langchain_rememberer.bench.config import BenchConfig
from langchain_rememberer.bench.direct import RandomPlayer
from langchain_rememberer.bench.protocol import episode_rng, make_player, pick_seeds
from langchain_rememberer.bench.tabular import TabularQPlayer


def test_seeds_are_reproducible_and_from_their_folds() -> None:
    config = BenchConfig(train_seeds=5, test_seeds=7, seed=3)
    train, test = pick_seeds(config)
    assert (train, test) == pick_seeds(config)
    assert len(set(train)) == 5
    assert len(set(test)) == 7
    assert all(0 <= s < 1000 for s in train)
    assert all(10000 <= s < 11000 for s in test)
    assert pick_seeds(BenchConfig(seed=4)) != pick_seeds(BenchConfig(seed=3))


def test_episode_random_numbers_are_shared_by_methods_and_differ_by_phase() -> None:
    config = BenchConfig(seed=3)
    draw = [episode_rng(config, "train", 1, 7).random() for _ in range(2)]
    assert draw[0] == draw[1]
    assert episode_rng(config, "eval", 1, 7).random() != draw[0]
    assert episode_rng(BenchConfig(seed=4), "train", 1, 7).random() != draw[0]


def test_make_player_without_memory_and_unknown_methods() -> None:
    config = BenchConfig(gamma=0.7, action_history=2)
    assert isinstance(make_player(config, "no_memory", None), RandomPlayer)
    tabular = make_player(config, "tabular_q", None)
    assert isinstance(tabular, TabularQPlayer)
    assert (tabular.gamma, tabular.history) == (0.7, 2)
    with pytest.raises(ValueError, match="unknown method 'bogus'"):
        make_player(config, "bogus", None)
