"""A state with 10,000 updates: `learn` latency touching it, before and after `compact()`.

    python benchmarks/compaction.py --updates 10000 --episodes 20

One embedded memory (WordLlama, a temporary directory, automatic compaction off). A *hot* state
gets `--updates` updates (episodes of 2,000 steps on one observation); then `--episodes`
episodes of 15 steps are learned, each touching the hot state once and 14 fresh states, and
as many touching 15 fresh states only. Printed: the p50 `learn` latency of both, before and
after `memory.compact(older_than=0)`, as ratios to the fresh episodes' (target: within 2x
after compaction), and the raw baseline in the same run: one Chroma `add` of 15 records.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from langchain_rememberer import (
    CompactionConfig,
    Episode,
    RemembererMemory,
    Step,
    WordLlamaEmbeddings,
)

TASK = "Find the coin."
HOT = "You are in the kitchen. A stove, a table, a door to the east."
CHUNK = 2000  # steps per filling episode: one `add` each (the store's batch size)


def _episode(run_id: str, observations: list[str]) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[
            Step(observation=o, action="go east" if t % 2 else "take coin", reward=float(t == 14))
            for t, o in enumerate(observations)
        ],
    )


def _p50_ms(learn: Callable[[int], object], count: int) -> float:
    times = []
    for n in range(count):
        started = time.perf_counter()
        learn(n)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def run(updates: int, episodes: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as path:
        memory = RemembererMemory(
            path=path,
            embeddings=WordLlamaEmbeddings(),
            collection_name="bench",
            compaction=CompactionConfig(after_updates=None),
        )
        for start in range(0, updates, CHUNK):
            memory.learn(_episode(f"fill-{start}", [HOT] * min(CHUNK, updates - start)))
        fresh = 0

        def rooms(n: int) -> list[str]:
            nonlocal fresh
            fresh += n
            return [f"Room {fresh - i}: shelves and a lamp." for i in range(n)]

        def hot(phase: str) -> Callable[[int], object]:
            return lambda n: memory.learn(_episode(f"{phase}-hot-{n}", [HOT, *rooms(14)]))

        def cold(phase: str) -> Callable[[int], object]:
            return lambda n: memory.learn(_episode(f"{phase}-cold-{n}", rooms(15)))

        memory.learn(_episode("warm-up", rooms(15)))
        result = {
            "hot_before": _p50_ms(hot("before"), episodes),
            "cold_before": _p50_ms(cold("before"), episodes),
        }
        started = time.perf_counter()
        report = memory.compact(older_than=0)
        result["compact_s"] = time.perf_counter() - started
        result["archived"] = report.updates_archived
        result["hot_after"] = _p50_ms(hot("after"), episodes)
        result["cold_after"] = _p50_ms(cold("after"), episodes)
        raw = memory.store.client.get_or_create_collection("raw-baseline", embedding_function=None)

        def add(n: int) -> None:
            raw.add(
                ids=[f"{n}-{t}" for t in range(15)],
                embeddings=[[1.0]] * 15,
                metadatas=[{"state_id": "x", "step": t} for t in range(15)],
                documents=rooms(15),
            )

        result["raw"] = _p50_ms(add, episodes)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    print(
        f"run: compaction updates={args.updates} episodes={args.episodes} "
        "(embedded Chroma, WordLlama, learn p50)"
    )
    r = run(args.updates, args.episodes)
    print(
        f"before compact: touching the hot state {r['hot_before']:.1f} ms, fresh states "
        f"{r['cold_before']:.1f} ms (ratio {r['hot_before'] / r['cold_before']:.2f}x)"
    )
    print(
        f"compact: {r['archived']:.0f} updates in {r['compact_s']:.2f} s; after: touching the "
        f"hot state {r['hot_after']:.1f} ms, fresh states {r['cold_after']:.1f} ms "
        f"(ratio {r['hot_after'] / r['cold_after']:.2f}x)"
    )
    print(
        f"raw add of 15 records {r['raw']:.1f} ms (learn, fresh states, after: "
        f"{r['cold_after'] / r['raw']:.1f}x)"
    )
    print("target: touching a state with 10k updates within 2x of fresh states, after compaction")


if __name__ == "__main__":
    main()
