"""Concurrent learn / compact / forget / rebuild on a real `chroma run` server, checked against
an independent fold: each state's N is the number of its updates in the runs that end up
learned, and its Q (α = 1/N) their targets' mean.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import pytest

from langchain_rememberer import Episode, InvalidInputError, RemembererMemory, Step
from tests.helpers import TASK, q_table, twin

ROOMS = ["kitchen", "pantry", "hallway"]


def _episode(n: int) -> Episode:
    """Every run walks the same three rooms; every third one fails."""
    won = n % 3 != 0
    return Episode(
        task=TASK,
        run_id=f"run-{n}",
        steps=[
            Step(observation=ROOMS[0], action="go east" if n % 2 else "go west"),
            Step(observation=ROOMS[1], action="open door"),
            Step(observation=ROOMS[2], action="take coin", reward=1.0 if won else -1.0),
        ],
    )


def _expected(runs: list[int]) -> dict[str, dict[str, tuple[float, int]]]:
    """The independent fold: γ = 1, so every target of a run is its final reward."""
    targets: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for n in runs:
        episode = _episode(n)
        reward = episode.steps[-1].reward
        for step in episode.steps:
            targets[step.observation][step.action].append(reward)
    return {
        room: {a: (sum(g) / len(g), len(g)) for a, g in actions.items()}
        for room, actions in targets.items()
    }


def test_learners_compaction_and_forgetting_on_a_server_stay_exact(
    chroma_server, embeddings
) -> None:
    memory = RemembererMemory(
        client=chroma_server.client(), embeddings=embeddings, collection_name="races"
    )
    memory.rlem = memory.rlem.model_copy(update={"gamma": 1.0})
    writers, episodes = 4, 10
    done, errors, rounds = threading.Event(), [], [0]

    def write(w: int) -> None:
        mine = twin(memory, embeddings)
        try:
            for e in range(episodes):
                mine.learn(_episode(w * 100 + e))
                if w == 0 and e >= 2:  # this writer forgets its own older runs as it goes
                    mine.forget_run(f"run-{e - 2}")
        except BaseException as error:
            errors.append(error)

    def maintain() -> None:
        mine = twin(memory, embeddings)
        try:
            while not done.is_set():
                mine.compact()
                if rounds[0] % 3 == 0:
                    mine.rebuild()
                rounds[0] += 1
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    maintainer = threading.Thread(target=maintain)
    maintainer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    maintainer.join()
    assert errors == []
    assert rounds[0] > 0
    learned = [n for n in range(400) if memory.is_learned(f"run-{n}")]
    kept = [w * 100 + e for w in range(writers) for e in range(episodes) if w or e >= episodes - 2]
    assert learned == sorted(kept)
    expected = _expected(learned)
    for room in ROOMS:
        table = q_table(memory, TASK, room)
        assert {a: (pytest.approx(q), n) for a, (q, n) in table.items()} == expected[room]
    assert memory.stats().updates == 3 * len(learned)


