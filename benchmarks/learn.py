"""Learning throughput: episodes of 15 steps per second, and Chroma round trips per `learn`.

    python benchmarks/learn.py --episodes 200

Every Chroma call the memory makes on the namespace's collections is counted (a proxy around
the states and log collections' `get`, `add`, `upsert`, `update`, `query`, `delete`, ...).
Compared, in the same run, with the raw Chroma writes each learn needs: its write calls
(`add`, `upsert`, `update`, the same count, records and sizes) issued again on the same
collections right after it (`_common.replay_writes`), the floor any learner writing these
records pays; its reads are what the ratio is made of.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from typing import Any

from _common import count_calls, delete_replayed, replay_writes, synthetic_pairs

from langchain_rememberer import Episode, RemembererMemory, RLEMConfig, Step, WordLlamaEmbeddings


def episodes(count: int, steps: int, seed: int) -> list[Episode]:
    rng = random.Random(seed)
    pairs = synthetic_pairs(400, seed)
    result = []
    for e in range(count):
        task = pairs[rng.randrange(len(pairs))][0]
        result.append(
            Episode(
                task=task,
                run_id=f"bench-{seed}-{e}",
                steps=[
                    Step(
                        observation=rng.choice(pairs)[1],
                        action=rng.choice(["go east", "go west", "take coin", "open door"]),
                        reward=float(t == steps - 1 and rng.random() < 0.4),
                    )
                    for t in range(steps)
                ],
            )
        )
    return result


def run(
    rlem: RLEMConfig, count: int, steps: int, seed: int, *, stored: bool = False
) -> dict[str, Any]:
    """`stored`: the same episodes are learned once before (other run ids), untimed, so every
    state a target bootstraps from is already stored."""
    data = episodes(count, steps, seed)
    with tempfile.TemporaryDirectory() as path:
        memory = RemembererMemory(
            path=path, embeddings=WordLlamaEmbeddings(), collection_name="bench", rlem=rlem
        )
        if stored:
            for episode in data:
                memory.learn(episode.model_copy(update={"run_id": f"before-{episode.run_id}"}))
        writes: list[Any] = []
        counter = count_calls(memory, writes)
        learn_s = raw_s = 0.0
        for e, episode in enumerate(data):
            writes.clear()
            started = time.perf_counter()
            memory.learn(episode)
            learn_s += time.perf_counter() - started
            calls = dict(counter)
            started = time.perf_counter()
            added = replay_writes(list(writes), f"raw{e}:")
            raw_s += time.perf_counter() - started
            counter.clear()
            counter.update(calls)
            delete_replayed(added)
        made = dict(counter)
        assert memory.stats().updates == count * steps * (2 if stored else 1)
    return {
        "eps": count / learn_s,
        "raw_eps": count / raw_s,
        "round_trips": sum(made.values()) / count,
        "calls": {k: round(v / count, 2) for k, v in sorted(made.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"run: learn seed={args.seed} episodes={args.episodes} steps={args.steps} (embedded Chroma, WordLlama)"
    )
    for name, rlem, stored in [
        ("monte-carlo (default)", RLEMConfig(), False),
        ("n_step=2", RLEMConfig(n_step=2), False),
        ("n_step=2, states stored", RLEMConfig(n_step=2), True),
    ]:
        r = run(rlem, args.episodes, args.steps, args.seed, stored=stored)
        print(
            f"{name:<24} {r['eps']:7.1f} episodes/s  raw writes {r['raw_eps']:7.1f}/s "
            f"(learn/raw time {r['raw_eps'] / r['eps']:.1f}x)  round trips per learn "
            f"{r['round_trips']:.2f} {r['calls']}"
        )
    print(
        "round trips: Chroma calls on the namespace's collections per learn (reads by id, "
        "writes, and one query per n-step target bootstrapping from a state not stored yet)"
    )


if __name__ == "__main__":
    main()
