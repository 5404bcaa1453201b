"""Many retrievals at once on one event loop: the native async path vs the same through threads.

    python benchmarks/async_retrieval.py --concurrent 64 --states 2000 --repeats 10

Starts its own `chroma run` on a free 127.0.0.1 port (in a temporary directory), fills one
memory with `--states` states, then times `--concurrent` retrievals started together
(`asyncio.gather`), the median wall time over `--repeats` rounds, of:

- `aretrieve` on Chroma's `AsyncHttpClient` (what `RemembererMiddleware`'s async hooks use);
- `asyncio.to_thread(retrieve)` on the sync client (what they did before: the default
  executor's few threads), and the same on a pool of `--concurrent` threads (one per call);
- the raw baseline, in the same run on the same vectors: `--concurrent` top-k
  `collection.query` calls on the async client, as many in flight as the memory allows
  (`MAX_IN_FLIGHT`), the floor any client pays.

Query embeddings are cached (computed before timing) so the figures are the storage path, which
is what the async client changes. Printed: each wall time, and the ratios threads / async and
async / raw.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from _common import CachedEmbeddings, chroma_server, synthetic_pairs

from langchain_rememberer import Episode, RemembererMemory, Step, WordLlamaEmbeddings
from langchain_rememberer._chroma import MAX_IN_FLIGHT

K = 2


def fill(memory: RemembererMemory, pairs: list[tuple[str, str]]) -> None:
    """One state per (task, observation) pair, in episodes of 50 steps (one learn each)."""
    for start in range(0, len(pairs), 50):
        chunk = pairs[start : start + 50]
        memory.learn(
            Episode(
                task=chunk[0][0],
                run_id=f"fill-{start}",
                steps=[Step(observation=o, action="look", reward=0.0) for _t, o in chunk],
            )
        )


def wall_ms(round_: Callable[[], Awaitable[Any]], repeats: int) -> float:
    """Median wall time of one round (all calls started together), after one warm-up round."""

    async def timed() -> list[float]:
        await round_()
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            await round_()
            times.append((time.perf_counter() - started) * 1000)
        return times

    return statistics.median(asyncio.run(timed()))


def run(host: str, port: int, concurrent: int, states: int, repeats: int) -> dict[str, float]:
    pairs = synthetic_pairs(states, seed=0)
    embeddings = CachedEmbeddings(WordLlamaEmbeddings())
    memory = RemembererMemory.from_server(
        host, port, collection_name="async-bench", embeddings=embeddings
    )
    fill(memory, pairs)
    queries = [pairs[(n * 37) % len(pairs)] for n in range(concurrent)]
    for task, observation in queries:  # cache the query embeddings: time the storage path
        memory.retrieve(task, observation, k=K)
    ns = memory.store.run(memory._open(None))
    vectors = memory.store.run(memory.encoder.query_vectors(ns.task_weight, queries, 0.5))

    def native() -> Awaitable[Any]:
        return asyncio.gather(*(memory.aretrieve(t, o, k=K) for t, o in queries))

    def threads() -> Awaitable[Any]:
        return asyncio.gather(*(asyncio.to_thread(memory.retrieve, t, o, k=K) for t, o in queries))

    pool = ThreadPoolExecutor(max_workers=concurrent)

    def one_thread_each() -> Awaitable[Any]:
        loop = asyncio.get_running_loop()
        return asyncio.gather(
            *(
                loop.run_in_executor(pool, lambda t=t, o=o: memory.retrieve(t, o, k=K))
                for t, o in queries
            )
        )

    async def raw() -> Any:
        client = await memory.store.async_driver._client_ready()  # the same async client
        collection = await client.get_collection(ns.states, embedding_function=None)
        gate = asyncio.Semaphore(MAX_IN_FLIGHT)

        async def query(vector: list[float]) -> Any:
            async with gate:
                return await collection.query(query_embeddings=[vector], n_results=K)

        return await asyncio.gather(*(query(v) for v in vectors))

    timings = {
        "async_ms": wall_ms(native, repeats),
        "threads_ms": wall_ms(threads, repeats),
        "pool_ms": wall_ms(one_thread_each, repeats),
        "raw_ms": wall_ms(raw, repeats),
    }
    pool.shutdown()
    memory.store.forget_open()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=64)
    parser.add_argument("--states", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    print(
        f"run: async retrieval concurrent={args.concurrent} states={args.states} "
        f"repeats={args.repeats} (chroma run server, WordLlama, query embeddings cached)"
    )
    with chroma_server() as (host, port):
        r = run(host, port, args.concurrent, args.states, args.repeats)
    print(
        f"{args.concurrent} retrievals at once: aretrieve {r['async_ms']:.1f} ms, "
        f"to_thread(retrieve) {r['threads_ms']:.1f} ms, {args.concurrent} threads "
        f"{r['pool_ms']:.1f} ms, raw async query {r['raw_ms']:.1f} ms"
    )
    print(
        f"ratio to_thread/async {r['threads_ms'] / r['async_ms']:.2f}x  "
        f"threads/async {r['pool_ms'] / r['async_ms']:.2f}x  "
        f"async/raw {r['async_ms'] / r['raw_ms']:.2f}x"
    )


if __name__ == "__main__":
    main()
