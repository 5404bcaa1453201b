"""The direct harness's memory player follows the same rules as the agent harness."""

from __future__ import annotations

import random

from langchain_rememberer import Episode, Step
from langchain_rememberer.bench.direct import MemoryPlayer, act_action

TASK = "Find the coin."
ROOM = "You are in the hall.\nValid actions: move east | move west"


def test_memory_player_does_not_follow_memory_into_a_tried_command(memory) -> None:
    memory.learn(
        Episode(
            task=TASK, steps=[Step(observation=ROOM, action=act_action("move east"), reward=1.0)]
        )
    )
    player = MemoryPlayer("rememberer", memory, exemplar_choice="best_value")
    valid = ["move east", "move west"]
    player.tried = set()
    assert player.choose(TASK, ROOM, valid, [], random.Random(0), epsilon=0.0) == "move east"
    player.tried = {"move east"}
    picks = {
        player.choose(TASK, ROOM, valid, [], random.Random(seed), epsilon=0.0) for seed in range(20)
    }
    assert picks == {"move east", "move west"}  # exploration, no longer led by memory
