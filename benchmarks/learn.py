"""Learning throughput: episodes of 15 steps per second, and Chroma round trips per `learn`.

    python benchmarks/learn.py --episodes 200
    python benchmarks/learn.py --sizes 10000 100000 --episodes 50   # against honest floors

Every Chroma call the memory makes on the namespace's collections is counted (a proxy around
the states and log collections' `get`, `add`, `upsert`, `update`, `query`, `delete`, ...).
Compared, in the same run, with the raw Chroma writes each learn needs: its write calls
(`add`, `upsert`, `update`, the same count, records and sizes) issued again on the same
collections right after it (`_common.replay_writes`), the floor any learner writing these
records pays; its reads are what the ratio is made of. That ratio cannot see a write too
many: every extra write the learn makes is replayed too.

With `--sizes`, per size a memory is pre-filled with that many states (rows written directly,
as `scale.py` does: `scale.fill`), and 15-step episodes of stored states are learned, each
beside, in an order rotated every episode, the honest floors on the same collections
(`_common.floor_learn`, ids of their own so the memory never reads them):

- M1: a minimal hand-written learn: one `get` by id of the episode's rows, Q-values computed
  in Python, one `update` of them in place (1 write; states not stored would be upserted with
  their vectors);
- M2: M1 plus one `add` of a run marker to the log, read back by id, for exactly once
  against retries and duplicates (2 writes);
- and the old floor, the learn's own write calls replayed right after it (labelled as what
  it is: it cannot see extra writes).

Every text's embedding is computed once beforehand and looked up (for the memory and the
floors alike), so the timings are the storage path. Printed: p50 ms of each, learn/M1,
learn/M2 and learn/replay (p50 over p50, and the median of per-episode ratios).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import statistics
import tempfile
import time
from typing import Any

from _common import (
    FLOOR_TAGS,
    count_calls,
    delete_replayed,
    filled_memory,
    floor_learn,
    load_average,
    replay_writes,
    synthetic_pairs,
    timed_namespace,
)

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


def floors(size: int, count: int, steps: int, seed: int) -> dict[str, Any]:
    """learn, M1, M2 and the replayed writes, per episode in ms, at `size` stored states."""
    with filled_memory(size, count, steps, seed, FLOOR_TAGS.values()) as (memory, ns, data):
        writes: list[Any] = []
        timed: dict[str, list[tuple[str, float]]] = {"learn": [], "M2": []}
        counter = count_calls(memory, writes, timed["learn"])
        m2_ns = timed_namespace(ns, {}, None, timed["M2"])
        times: dict[str, list[float]] = {"learn": [], "replay": [], "M1": [], "M2": []}
        calls: dict[str, list[list[tuple[str, float]]]] = {"learn": [], "M2": []}
        total: dict[str, int] = {}

        def learned(n: int, episode: Episode) -> dict[str, float]:
            writes.clear()
            counter.clear()
            timed["learn"].clear()
            started = time.perf_counter()
            report = memory.learn(episode)
            learn_ms = (time.perf_counter() - started) * 1000
            assert report.updates_written == steps, report
            if n:  # the first episode is a warm-up
                calls["learn"].append(list(timed["learn"]))
                for name, k in counter.items():
                    total[name] = total.get(name, 0) + k
            started = time.perf_counter()
            added = replay_writes(list(writes), f"raw{n}:")
            replay_ms = (time.perf_counter() - started) * 1000
            delete_replayed(added)
            return {"learn": learn_ms, "replay": replay_ms}

        def floor(name: str) -> Any:
            def one(n: int, episode: Episode) -> dict[str, float]:
                timed["M2"].clear()
                on = m2_ns if name == "M2" else ns
                started = time.perf_counter()
                assert floor_learn(memory, on, episode, FLOOR_TAGS[name], marker=name == "M2")
                ms = (time.perf_counter() - started) * 1000
                if n and name == "M2":
                    calls["M2"].append(list(timed["M2"]))
                return {name: ms}

            return one

        units = [learned, floor("M1"), floor("M2")]
        for n, episode in enumerate(data):  # the first one is a warm-up
            got: dict[str, float] = {}
            for unit in units[n % 3 :] + units[: n % 3]:
                got.update(unit(n, episode))
            if n:
                for name, ms in got.items():
                    times[name].append(ms)
    return {
        "size": size,
        "times": times,
        "calls": {k: v / count for k, v in sorted(total.items())},
        "each": calls,
    }


def call_medians(sequences: list[list[tuple[str, float]]]) -> tuple[list[tuple[str, float]], int]:
    """The median ms of each call, in order, over the episodes making the commonest sequence.

    Returns the calls and how many episodes made that sequence (a learn that met another
    writer's slot makes more calls; the benchmark has no other writer).
    """
    shapes = collections.Counter(tuple(name for name, _ in seq) for seq in sequences)
    shape, seen = shapes.most_common(1)[0]
    same = [seq for seq in sequences if tuple(name for name, _ in seq) == shape]
    return [
        (name, statistics.median(seq[i][1] for seq in same)) for i, name in enumerate(shape)
    ], seen


def floor_lines(r: dict[str, Any]) -> list[str]:
    t = r["times"]
    p50 = {name: statistics.median(ms) for name, ms in t.items()}

    def ratio(other: str) -> str:
        per_episode = statistics.median(a / b for a, b in zip(t["learn"], t[other], strict=True))
        return f"{p50['learn'] / p50[other]:.2f}x (per episode {per_episode:.2f}x)"

    return [
        f"{r['size']:>8} {p50['learn']:>9.1f} {p50['M1']:>8.1f} {p50['M2']:>8.1f} "
        f"{p50['replay']:>10.1f}",
        f"ratio at {r['size']}: learn/M1 {ratio('M1')}  learn/M2 {ratio('M2')}",
        f"old ratio at {r['size']}: learn/replay {ratio('replay')} vs its own writes replayed "
        "(cannot see extra writes); Chroma calls per learn "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["calls"].items()),
        f"writes alone at {r['size']}: replay/M2 {p50['replay'] / p50['M2']:.2f}x (the learn's "
        "write calls, no read, no Python, against M2's whole learn: what the learn/M2 ratio "
        "can reach with these writes)",
        *(call_line(r, name, p50[name]) for name in ("learn", "M2")),
    ]


def call_line(r: dict[str, Any], name: str, p50: float) -> str:
    """Where one learner's time goes: each Chroma call's median ms, in order."""
    each, seen = call_medians(r["each"][name])
    listed = ", ".join(f"{call} {ms:.2f}" for call, ms in each)
    chroma = sum(ms for _, ms in each)
    return (
        f"calls of {name} at {r['size']} (p50 ms, in order; {seen} of {len(r['each'][name])} "
        f"episodes): {listed}; Chroma {chroma:.1f} of {p50:.1f}"
    )


def main_floors(args: argparse.Namespace) -> None:
    print(
        f"run: learn floors seed={args.seed} episodes={args.episodes} steps={args.steps} "
        f"cores={os.cpu_count()} load={load_average()} (embedded Chroma, WordLlama cached)",
        flush=True,
    )
    print(
        f"{'states':>8} {'learn ms':>9} {'M1 ms':>8} {'M2 ms':>8} {'replay ms':>10}  (p50)",
        flush=True,
    )
    for size in args.sizes:
        for line in floor_lines(floors(size, args.episodes, args.steps, args.seed)):
            print(line, flush=True)
    print(
        "M1: get the episode's rows by id + update them in place (1 write); "
        "M2: M1 + add a run marker, read back by id (2 writes); "
        "replay: the learn's own write calls again"
    )
    print(f"load after: {load_average()}")
    print("target: learn <= 1.5x M2 at 100k")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        help="pre-fill this many states and time learn against M1, M2 and its replayed writes",
    )
    args = parser.parse_args()
    if args.sizes:
        main_floors(args)
        return
    print(
        f"run: learn seed={args.seed} episodes={args.episodes} steps={args.steps} "
        "(embedded Chroma, WordLlama)"
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
