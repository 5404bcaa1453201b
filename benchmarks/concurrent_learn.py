"""Many learns at once: N concurrent `alearn` against N concurrent minimal learns (M1).

    python benchmarks/concurrent_learn.py --concurrent 256 --states 10000
    python benchmarks/concurrent_learn.py --concurrent 256 --states 10000 --server

One memory, embedded (a `PersistentClient` in a temporary directory) or, with `--server`, on a
`chroma run` server this script starts on a free 127.0.0.1 port, is pre-filled with `--states`
states (rows written directly, as `scale.py` does). Then each repetition times two rounds on
the same collections, in an order alternated every repetition:

- alearn: `--concurrent` distinct `--steps`-step episodes of stored states (new run ids),
  `asyncio.gather` of `memory.alearn(...)` on one event loop;
- M1: the same episodes learned by the minimal hand-written learn of `learn.py --sizes`
  (`_common.floor_learn`: one `get` by id of the episode's rows, one `update`; rows of their
  own ids, so the memory never reads them), each in a thread of a pool as large as the one
  the memory's async twins run in (`_batching.IO_THREADS`): the same concurrency.

Every text's embedding is computed once beforehand and looked up (for both), so the figures are
the storage path. Printed: learns/s of each round (the round's episodes over its wall time),
per repetition and the median, and the ratio alearn/M1 (median of the per-repetition ratios),
with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import scale
from _common import (
    FLOOR_TAGS,
    chroma_server,
    floor_learn,
    load_average,
    seed_floor_rows,
    synthetic_pairs,
)

from langchain_rememberer import Episode, RemembererMemory, WordLlamaEmbeddings
from langchain_rememberer._batching import IO_THREADS

TAG = FLOOR_TAGS["M1"]


@contextmanager
def opened(embeddings: Any, *, server: bool) -> Iterator[RemembererMemory]:
    if server:
        with chroma_server() as (host, port):
            yield RemembererMemory.from_server(
                host, port, collection_name="bench", embeddings=embeddings
            )
        return
    with tempfile.TemporaryDirectory(prefix="rememberer-concurrent-") as path:
        yield RemembererMemory(path=path, embeddings=embeddings, collection_name="bench")


async def alearn_round(memory: RemembererMemory, episodes: list[Episode]) -> float:
    started = time.perf_counter()
    reports = await asyncio.gather(*(memory.alearn(e) for e in episodes))
    elapsed = time.perf_counter() - started
    for episode, report in zip(episodes, reports, strict=True):
        if report.already_learned or report.updates_written != len(episode.steps):
            raise SystemExit(f"alearn of {episode.run_id} reported {report!r}")
    return len(episodes) / elapsed


async def m1_round(memory: RemembererMemory, ns: Any, episodes: list[Episode]) -> float:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(IO_THREADS) as pool:
        started = time.perf_counter()
        done = await asyncio.gather(
            *(
                loop.run_in_executor(pool, partial(floor_learn, memory, ns, e, TAG, marker=False))
                for e in episodes
            )
        )
        elapsed = time.perf_counter() - started
    assert all(done)
    return len(episodes) / elapsed


def run(args: argparse.Namespace) -> dict[str, list[float]]:
    pairs = synthetic_pairs(args.states, args.seed)
    embedded = scale.MatrixEmbeddings(WordLlamaEmbeddings(), [t for pair in pairs for t in pair])
    scale.FILL_BATCH = 1000  # a server takes smaller requests
    rates: dict[str, list[float]] = {"alearn": [], "M1": []}
    with opened(embedded, server=args.server) as memory:
        ns = memory._open(None)
        scale.fill(memory, scale.state_matrix(embedded, pairs, ns.task_weight), pairs)
        rounds = [
            scale.learn_episodes(pairs, n, args.seed + 10 + r, args.steps)
            for r, n in enumerate([min(8, args.concurrent)] + [args.concurrent] * args.repeats)
        ]
        seed_floor_rows(memory, ns, [e for episodes in rounds for e in episodes], TAG)
        loop = asyncio.new_event_loop()
        try:
            for r, episodes in enumerate(rounds):  # the first, small round is a warm-up
                modes = ["alearn", "M1"] if r % 2 == 0 else ["M1", "alearn"]
                for mode in modes:
                    if mode == "alearn":
                        rate = loop.run_until_complete(alearn_round(memory, episodes))
                    else:
                        rate = loop.run_until_complete(m1_round(memory, ns, episodes))
                    if r:
                        rates[mode].append(rate)
                        scale.progress(f"repetition {r}: {mode} {rate:.2f} learns/s")
        finally:
            loop.close()
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=256, help="learns started at once")
    parser.add_argument("--states", type=int, default=10_000, help="states stored before timing")
    parser.add_argument("--steps", type=int, default=15, help="steps of each episode")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of each mode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server", action="store_true", help="on a `chroma run` server")
    args = parser.parse_args()
    if min(args.concurrent, args.states, args.steps, args.repeats) < 1:
        parser.error("--concurrent, --states, --steps and --repeats must be at least 1")
    where = "chroma run server" if args.server else "embedded Chroma"
    threads = IO_THREADS
    print(
        f"run: concurrent learn concurrent={args.concurrent} states={args.states} "
        f"steps={args.steps} repeats={args.repeats} cores={os.cpu_count()} "
        f"load={load_average()} ({where}, {threads} executor threads, WordLlama cached)",
        flush=True,
    )
    rates = run(args)
    for mode, values in rates.items():
        per = ", ".join(f"{v:.2f}" for v in values)
        print(f"{mode:<7} {statistics.median(values):8.2f} learns/s (each repetition: {per})")
    ratios = [a / m for a, m in zip(rates["alearn"], rates["M1"], strict=True)]
    print(
        f"ratio alearn/M1 at {args.concurrent} concurrent ({where}): "
        f"{statistics.median(ratios):.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]"
    )
    print(f"load after: {load_average()}")
    print("target: 256 concurrent alearn on an embedded store >= 0.45x M1 at the same concurrency")


if __name__ == "__main__":
    main()
