"""An estimate, not a floor: what a two-write learn (DESIGN §6, not built) would cost against M2.

    PYTHONPATH=. python benchmarks/two_write_estimate.py --sizes 10000 --episodes 40

DESIGN §6 ("Why three writes, and what two would take") sketches a learn that writes its rows
first, each naming the run's planned slot under a metadata key of its own (an *intent*: Chroma's
`update` keeps the keys it is not given), then adds the run record, its claims and a tentative
done record in one `add`, and reads them back: 5 Chroma calls, 2 writes. This script times that
sequence by replaying, right after each real `learn`, the learn's own calls with its own
arguments: its rows read, its status read, its row `update` (each row with one more key: the
intent, holding the plan), one `add` of the run record, the claims and the done record (fresh
ids), and the claims read back; plus the learn's own Python time (the learn's time outside
Chroma calls). Then M2 (`_common.floor_learn`) on the same collections. Printed: p50 ms and the
estimate/M2 ratio beside learn/M2.

What it cannot see: the Python a real two-write learn would add or save, and the readers' new
work (an intent's slot and plan read in the status read they make anyway).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from _common import (
    FLOOR_TAGS,
    filled_memory,
    floor_learn,
    load_average,
    timed_namespace,
)

SEQUENCE = ["states.get", "log.get", "log.add", "log.get", "states.update", "log.add", "log.get"]
"""A learn's calls today (DESIGN §6): what the replay takes its arguments from."""


def replayed(ns: Any, calls: list[tuple[str, dict[str, Any]]], tag: str) -> float:
    """The five calls of a two-write learn, with the arguments of one learn's seven; ms."""
    rows_read, status_read, claims, back, rows, done = (kwargs for _name, kwargs in calls[:6])
    plan = json.dumps(done["metadatas"][0])
    intents = [{**meta, f"i:{tag}": plan} for meta in rows["metadatas"]]
    added = [tag + i for i in [*claims["ids"], *done["ids"]]]
    started = time.perf_counter()
    ns.states.get(ids=rows_read["ids"], include=rows_read.get("include", ["metadatas"]))
    ns.log.get(ids=status_read["ids"], include=status_read.get("include", ["metadatas"]))
    ns.states.update(ids=rows["ids"], metadatas=intents)
    ns.log.add(
        ids=added,
        embeddings=[*claims["embeddings"], *done["embeddings"]],
        metadatas=[*claims["metadatas"], *done["metadatas"]],
    )
    ns.log.get(ids=[tag + i for i in back["ids"]], include=back.get("include", ["metadatas"]))
    ms = (time.perf_counter() - started) * 1000
    ns.log.delete(ids=added)  # untimed: nothing of it is ever read
    ns.states.update(ids=rows["ids"], metadatas=[{f"i:{tag}": None} for _ in rows["ids"]])
    return ms


def estimate(size: int, count: int, steps: int, seed: int) -> dict[str, list[float]]:
    """learn, the two-write estimate and M2, per episode in ms, at `size` stored states."""
    with filled_memory(size, count, steps, seed, [FLOOR_TAGS["M2"]]) as (memory, ns, data):
        timed: list[tuple[str, float]] = []
        calls: list[tuple[str, dict[str, Any]]] = []
        memory.store._namespaces[ns.name] = timed_namespace(ns, {}, None, timed, calls)
        times: dict[str, list[float]] = {"learn": [], "estimate": [], "M2": []}
        for n, episode in enumerate(data):  # the first one is a warm-up
            timed.clear()
            calls.clear()
            started = time.perf_counter()
            memory.learn(episode)
            learn_ms = (time.perf_counter() - started) * 1000
            made = [name for name, _ in timed]
            assert made == SEQUENCE, made
            python_ms = learn_ms - sum(ms for _, ms in timed)
            two = replayed(ns, calls, f"e{n}:") + python_ms
            started = time.perf_counter()
            assert floor_learn(memory, ns, episode, FLOOR_TAGS["M2"], marker=True)
            m2_ms = (time.perf_counter() - started) * 1000
            if n:
                times["learn"].append(learn_ms)
                times["estimate"].append(two)
                times["M2"].append(m2_ms)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000])
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"run: two_write_estimate seed={args.seed} episodes={args.episodes} steps={args.steps} "
        f"load={load_average()} (embedded Chroma, WordLlama cached)",
        flush=True,
    )
    for size in args.sizes:
        t = estimate(size, args.episodes, args.steps, args.seed)
        p50 = {name: statistics.median(ms) for name, ms in t.items()}
        per = statistics.median(a / b for a, b in zip(t["estimate"], t["M2"], strict=True))
        print(
            f"at {size}: learn {p50['learn']:.1f} ms, two-write estimate {p50['estimate']:.1f} "
            f"ms, M2 {p50['M2']:.1f} ms; learn/M2 {p50['learn'] / p50['M2']:.2f}x, "
            f"estimate/M2 {p50['estimate'] / p50['M2']:.2f}x (per episode {per:.2f}x)",
            flush=True,
        )
    print("an estimate by replay of a design not built (DESIGN §6), not a floor")


if __name__ == "__main__":
    main()
