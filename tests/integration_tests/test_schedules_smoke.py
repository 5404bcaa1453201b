"""The schedule simulation's real-thread counterpart, short: real Chroma, real threads.

Four threads learn overlapping lists of the same runs (every run id learned by several of them
at once, all on one shared state) while a fifth forgets a run none of them learns; then every
reader must agree with a pure replay of the log, as in `tests/unit_tests/test_schedules.py`,
and each run must count exactly once.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

from langchain_rememberer import RLEMConfig
from tests.sim_store import HashEmbeddings
from tests.unit_tests.test_schedules import UNIVERSE, assert_agree, episode


def test_threads_learning_the_same_runs_count_each_once_and_readers_agree(make_memory) -> None:
    memory = make_memory(embeddings=HashEmbeddings(), rlem=RLEMConfig(gamma=1.0))
    memory.learn(episode(4))
    learned = [e for run_id, e in UNIVERSE.items() if run_id != "run-4"]
    errors: list[BaseException] = []

    def learner(seed: int) -> None:
        try:
            for ep in random.Random(seed).sample(learned, len(learned)):
                memory.learn(ep)
        except BaseException as e:
            errors.append(e)

    def forgetter() -> None:
        try:
            assert memory.forget_run("run-4") == 2
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=learner, args=(seed,)) for seed in range(4)]
    threads.append(threading.Thread(target=forgetter))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert_agree(memory, "after the threads", evicted=False)
    assert {r for r in UNIVERSE if memory.is_learned(r)} == {e.run_id for e in learned}
    ns = memory._open(None)
    rows = [row for page in memory.store.row_pages(ns) for row in page]
    seen = Counter(
        {
            (row.key, a): s.visits
            for row, t in zip(rows, memory.ledger.view(ns, rows), strict=True)
            for a, s in t.items()
        }
    )
    assert seen == Counter((s.observation, s.action) for e in learned for s in e.steps)
