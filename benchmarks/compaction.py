"""A hot state: `learn` touching a state that got 2,000 updates in the last minute vs fresh states.

    python benchmarks/compaction.py --updates 2000 --episodes 20

One embedded memory (WordLlama, a temporary directory). A *hot* state gets `--updates` updates
just before timing: as many one-step episodes on it, learned one after another (each claims the
next slot of its sequence; there is no compaction to wait for: a row keeps its folded table).
Then `--episodes` episodes of 15 steps touching the hot state once (its first step) and 14
fresh states, and as many of 15 fresh states, are timed in alternating blocks of `--block`
episodes (the order of the two kinds swapped every block; after one warm-up episode of each).

The raw Chroma baseline is timed in the same run on the same collections: right after each
learn, its write calls (`add`, `upsert`, `update`: the same count, records and sizes) are
issued again (`_common.replay_writes`). Printed: p50 `learn` latency of both kinds, their ratio
(target: touching the hot state within 1.5x of fresh states), and each kind's learn / raw
writes ratio; then what the hot state holds (its slots, its row's pending slots, and Q and N).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

from _common import count_calls, delete_replayed, replay_writes

from langchain_rememberer import Episode, RemembererMemory, Step, WordLlamaEmbeddings
from langchain_rememberer._records import stable_id

TASK = "Find the coin."
HOT = "You are in the kitchen. A stove, a table, a door to the east."
STEPS = 15


def _episode(run_id: str, observations: list[str]) -> Episode:
    return Episode(
        task=TASK,
        run_id=run_id,
        steps=[
            Step(
                observation=o,
                action="go east" if t % 2 else "take coin",
                reward=float(t == len(observations) - 1),
            )
            for t, o in enumerate(observations)
        ],
    )


def run(updates: int, episodes: int, block: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as path:
        memory = RemembererMemory(
            path=path, embeddings=WordLlamaEmbeddings(), collection_name="bench"
        )
        started = time.perf_counter()
        for n in range(updates):
            memory.learn(_episode(f"fill-{n}", [HOT]))
        fill_s = time.perf_counter() - started
        writes: list[Any] = []
        counter = count_calls(memory, writes)
        fresh = 0

        def rooms(n: int) -> list[str]:
            nonlocal fresh
            fresh += n
            return [f"Room {fresh - i}: shelves and a lamp." for i in range(n)]

        times: dict[str, list[float]] = {"hot": [], "fresh": [], "hot raw": [], "fresh raw": []}
        calls: dict[str, list[int]] = {"hot": [], "fresh": []}

        def timed(kind: str, n: int, *, keep: bool = True) -> None:
            observations = [HOT, *rooms(STEPS - 1)] if kind == "hot" else rooms(STEPS)
            episode = _episode(f"{kind}-{n}", observations)
            writes.clear()
            counter.clear()
            started = time.perf_counter()
            report = memory.learn(episode)
            learn_ms = (time.perf_counter() - started) * 1000
            assert report.updates_written == STEPS, report
            made = sum(counter.values())
            started = time.perf_counter()
            added = replay_writes(list(writes), f"raw-{kind}-{n}:")
            raw_ms = (time.perf_counter() - started) * 1000
            delete_replayed(added)
            if keep:
                times[kind].append(learn_ms)
                times[f"{kind} raw"].append(raw_ms)
                calls[kind].append(made)

        since_fill = time.perf_counter() - started - fill_s
        for kind in ("hot", "fresh"):  # warm-up
            timed(kind, -1, keep=False)
        for b in range(0, episodes, block):
            kinds = ("hot", "fresh") if (b // block) % 2 == 0 else ("fresh", "hot")
            for kind in kinds:
                for n in range(b, min(b + block, episodes)):
                    timed(kind, n)
        hot_id = stable_id(TASK, memory.state_key(HOT))
        ns = memory._open(None)
        row = memory.store.get_rows(ns, [hot_id])[hot_id]
        (table,) = memory.ledger.view(ns, [row])
    return {
        "fill_s": fill_s,
        "since_fill_s": since_fill,
        **{k: statistics.median(v) for k, v in times.items()},
        "calls": {k: statistics.median(v) for k, v in calls.items()},
        "slots": row.known,
        "pending": len(row.pending),
        "intents": len(row.live_intents()),
        "table": {a: (round(s.q, 3), s.visits) for a, s in sorted(table.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000, help="updates of the hot state")
    parser.add_argument("--episodes", type=int, default=20, help="timed episodes of each kind")
    parser.add_argument("--block", type=int, default=5, help="episodes per alternating block")
    args = parser.parse_args()
    print(
        f"run: hot state updates={args.updates} episodes={args.episodes} block={args.block} "
        f"steps={STEPS} (embedded Chroma, WordLlama, learn p50)"
    )
    r = run(args.updates, args.episodes, args.block)
    print(
        f"hot state: {args.updates} one-step learns in {r['fill_s']:.1f} s, timing began "
        f"{r['since_fill_s']:.1f} s after the last"
    )
    print(
        f"learn touching the hot state {r['hot']:.1f} ms, fresh states {r['fresh']:.1f} ms "
        f"(ratio {r['hot'] / r['fresh']:.2f}x); Chroma calls per learn {r['calls']['hot']:.0f} "
        f"/ {r['calls']['fresh']:.0f}"
    )
    print(
        f"raw writes of the same learns: hot {r['hot raw']:.1f} ms, fresh {r['fresh raw']:.1f} ms "
        f"(learn/raw {r['hot'] / r['hot raw']:.2f}x hot, {r['fresh'] / r['fresh raw']:.2f}x fresh)"
    )
    print(
        f"the hot state: {r['slots']} slots known, {r['pending']} pending and {r['intents']} "
        f"named by an intent in its row, table {r['table']}"
    )
    print("target: learn touching a state with 2,000 updates in the last minute <= 1.5x fresh")


if __name__ == "__main__":
    main()
