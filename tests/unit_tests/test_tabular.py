from __future__ import annotations

import random

from langchain_rememberer.bench.direct import act_action
from langchain_rememberer.bench.tabular import TabularQPlayer
from langchain_rememberer.types import Episode, Step


def _episode(rewards: list[float], task: str = "find the coin") -> Episode:
    steps = [
        Step(observation=f"room {t}", action=act_action(f"move {t}"), reward=r)
        for t, r in enumerate(rewards)
    ]
    return Episode(task=task, steps=steps)


def test_tabular_q_propagates_a_success_backwards() -> None:
    player = TabularQPlayer(gamma=0.5, history=0)
    player.learn(_episode([0.0, 0.0, 1.0]))
    q = {obs: next(iter(t.values()))[0] for (_, obs), t in player.q.items()}
    assert q == {"#room 0": 0.25, "#room 1": 0.5, "#room 2": 1.0}
    rng = random.Random(0)
    assert player.choose("find the coin", "room 1", ["move 1", "look"], [], rng, epsilon=0) == (
        "move 1"
    )


def test_tabular_q_avoids_known_bad_actions_and_mean_rate() -> None:
    player = TabularQPlayer(gamma=1.0, history=0)
    player.learn(_episode([0.0]))  # move 0 from room 0 -> Q 0
    valid = ["move 0", "look"]
    picks = {
        player.choose("find the coin", "room 0", valid, [], random.Random(s), epsilon=0)
        for s in range(30)
    }
    assert picks == {"look"}
    player.learn(_episode([1.0]))
    assert player.q[("find the coin", "#room 0")][act_action("move 0")] == [0.5, 2.0]


def test_tabular_q_keys_states_by_the_previous_action() -> None:
    player = TabularQPlayer(gamma=0.5, history=1)
    player.learn(_episode([0.0, 1.0]))
    assert set(player.q) == {
        ("find the coin", "#room 0"),
        ("find the coin", f"{act_action('move 0')}#room 1"),
    }
