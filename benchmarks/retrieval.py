"""Retrieval latency: `memory.retrieve(k=2)` against a raw Chroma top-k query, same collection.

    python benchmarks/retrieval.py --sizes 10000 100000 --queries 200

Prints p50 latencies and their ratio to the raw query measured in the same run. The memory is
filled in bulk through the store (filling is not what is measured).
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _common import CachedEmbeddings, p50_ms, synthetic_pairs

from langchain_rememberer import RemembererMemory, WordLlamaEmbeddings
from langchain_rememberer._records import stable_id
from langchain_rememberer._rows import Row
from langchain_rememberer.rlem import ActionStats


def fill(memory: RemembererMemory, n: int, seed: int) -> list[tuple[str, str]]:
    """`n` states written directly as rows (a two-action table each), not learned."""
    pairs = synthetic_pairs(n, seed)
    ns = memory._open(None)
    table = {"go east": ActionStats(1.0, 2, 0.0), "go west": ActionStats(-0.5, 1, 0.0)}
    for start in range(0, n, 5000):
        chunk = pairs[start : start + 5000]
        vectors = memory.encoder.state_vectors(ns.task_weight, chunk)
        rows = [Row(stable_id(t, o), t, o, table) for t, o in chunk]
        memory.store.write_rows(ns, rows, {r.id: v for r, v in zip(rows, vectors, strict=True)})
    return pairs


def run(size: int, queries: int, seed: int) -> dict[str, float]:
    embeddings = WordLlamaEmbeddings()
    cached = CachedEmbeddings(embeddings)
    with tempfile.TemporaryDirectory() as path:
        memory = RemembererMemory(path=path, embeddings=cached, collection_name="bench")
        started = time.perf_counter()
        fill(memory, size, seed)
        fill_s = time.perf_counter() - started
        probes = synthetic_pairs(queries, seed + 1)
        ns = memory._open(None)
        vectors = memory.encoder.query_vectors(ns.task_weight, probes, 0.5)  # warms the cache
        it_raw, it_mem, it_emb = iter(range(10**9)), iter(range(10**9)), iter(range(10**9))

        def raw() -> None:
            i = next(it_raw) % queries
            ns.states.query(query_embeddings=[vectors[i]], n_results=2)

        def ours_cached() -> None:
            task, obs = probes[next(it_mem) % queries]
            memory.retrieve(task, obs, k=2)

        live = RemembererMemory(path=path, embeddings=embeddings, collection_name="bench")

        def ours_embedding() -> None:
            task, obs = probes[next(it_emb) % queries]
            live.retrieve(task, obs, k=2)

        raw_ms = p50_ms(raw, queries)
        ours_ms = p50_ms(ours_cached, queries)
        embed_ms = p50_ms(ours_embedding, queries)
    return {
        "size": size,
        "fill_s": fill_s,
        "raw_ms": raw_ms,
        "retrieve_ms": ours_ms,
        "retrieve_with_embedding_ms": embed_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"run: retrieval seed={args.seed} queries={args.queries} (p50, WordLlama, embedded Chroma)"
    )
    print(
        f"{'states':>8} {'fill s':>7} {'raw ms':>7} {'retrieve ms':>11} {'ratio':>6} "
        f"{'+embed ms':>9} {'ratio':>6}"
    )
    for size in args.sizes:
        r = run(size, args.queries, args.seed)
        print(
            f"{size:>8} {r['fill_s']:>7.1f} {r['raw_ms']:>7.2f} {r['retrieve_ms']:>11.2f} "
            f"{r['retrieve_ms'] / r['raw_ms']:>5.2f}x {r['retrieve_with_embedding_ms']:>9.2f} "
            f"{r['retrieve_with_embedding_ms'] / r['raw_ms']:>5.2f}x"
        )
    print("target: retrieve (embedding excluded) <= 1.5x raw")


if __name__ == "__main__":
    main()
