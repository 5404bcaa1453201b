"""Scale: retrieve and learn at 10k-1M states, against raw Chroma, numpy and InMemoryStore.

    python benchmarks/scale.py --sizes 10000 100000     # --sizes 1000000 is a separate run
    python benchmarks/scale.py --sizes 1000000 --keep DIR   # fill once, keep it
    python benchmarks/scale.py --sizes 1000000 --reopen DIR # time retrieve and raw again on it

For each size, in one process and on the same vectors (every text is embedded once, in batches,
by WordLlama; the vectors are kept in a float32 matrix and looked up afterwards):

- fill: one row per (task, observation) pair written directly with the store
  (`store.write_rows`, a one-action table each, the composite vector of its WordLlama
  embeddings), not learned: a row is all `retrieve` and `learn` read of a state, so the fill
  takes minutes, not hours. Progress goes to stderr;
- `memory.retrieve(task, observation, k=2)`, with the query embedding cached (excluded) and
  computed by WordLlama (included);
- raw: Chroma's top-2 query on the memory's own states collection with the same query vectors.
  These three are timed in alternating blocks after a warm-up (`timed_blocks`): timed one after
  another, whichever went first looked up to ~1.7x slower at 1M states;
- numpy: an exact scan of all N state vectors (matrix @ query, argpartition top-2), the cost of
  the reference implementation's O(N) lookup;
- InMemoryStore: LangGraph's `InMemoryStore` semantic search (`store.search(..., limit=2)`),
  what a LangMem user has; its embed function looks the same vectors up, as float32 rows (lists
  of Python floats would be slower to search and take ~16 GB at 1M). Its search is O(N) in
  Python, so it runs over fewer queries at large sizes (the count is printed);
- learn: 15-step episodes on stored states (WordLlama embedding included, as in
  benchmarks/learn.py), each followed by the raw Chroma writes it needs: its write calls
  (`add` of its log records, `update`/`upsert` of its rows; the same count, records and sizes)
  issued again on the same collections (`_common.replay_writes`), so both see the same
  collections and the same load. Printed: learn p50 and raw writes p50 (ms) and learn ep/s;
  the ratio is the median of each episode's learn / its raw writes;
- the Chroma directory's size on disk and the process's peak RSS so far.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from _common import count_calls, delete_replayed, replay_writes, synthetic_pairs
from langgraph.store.base import PutOp
from langgraph.store.memory import InMemoryStore

from langchain_rememberer import Episode, RemembererMemory, Step, WordLlamaEmbeddings
from langchain_rememberer._records import stable_id
from langchain_rememberer._rows import Row
from langchain_rememberer.rlem import ActionStats
from langchain_rememberer.similarity import composite_vectors

ACTIONS = ["go east", "go west", "take coin", "open door"]
EMBED_BATCH = 20_000
FILL_BATCH = 10_000
WARM_UP = 20


class MatrixEmbeddings:
    """Embeddings of known texts kept in one float32 matrix (a dict of lists is ~8 GB at 1M).

    Every text given at construction is embedded once, in batches; a text not known then is
    embedded by `inner` on demand.
    """

    def __init__(self, inner: Any, texts: Sequence[str]) -> None:
        self.inner = inner
        unique = list(dict.fromkeys(texts))
        self.row = {text: i for i, text in enumerate(unique)}
        self.matrix = np.vstack(
            [
                np.asarray(inner.embed_documents(unique[i : i + EMBED_BATCH]), dtype=np.float32)
                for i in range(0, len(unique), EMBED_BATCH)
            ]
        )

    def rows(self, texts: Sequence[str]) -> np.ndarray:
        return self.matrix[[self.row[t] for t in texts]]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if all(t in self.row for t in texts):
            return self.rows(texts).tolist()
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def timed_ms(fn: Callable[[int], Any], count: int, *, warm_up: bool = True) -> list[float]:
    """Wall times in ms of `fn(0)` ... `fn(count - 1)`, after one warm-up call."""
    if warm_up:
        fn(0)
    times = []
    for i in range(count):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return times


def timed_blocks(
    fns: dict[str, Callable[[int], Any]], count: int, rounds: int = 4
) -> dict[str, list[float]]:
    """Wall times in ms of each of `fns` over `count` calls per round, in alternating blocks.

    Each function is warmed up first; then every round runs one block of `count` calls per
    function, in the given order on even rounds and reversed on odd ones, so that neither
    going first (a cold index) nor drifting load favours one of them. Timing them one after
    another once made the first one measured ~1.7x the last at 1M states, on the same queries.
    """
    for fn in fns.values():
        for i in range(WARM_UP):
            fn(i)
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name] += timed_ms(fns[name], count, warm_up=False)
    return times


def p50_p95(times: list[float]) -> tuple[float, float]:
    return statistics.median(times), float(np.percentile(times, 95))


def by_task(pairs: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    observations: dict[str, list[str]] = defaultdict(list)
    for task, observation in pairs:
        observations[task].append(observation)
    return observations


def progress(message: str) -> None:
    print(
        f"[{time.strftime('%H:%M:%S')} rss {peak_rss_mb():.0f} MB] {message}",
        file=sys.stderr,
        flush=True,
    )


def fill(memory: RemembererMemory, matrix: np.ndarray, pairs: Sequence[tuple[str, str]]) -> None:
    """One row per pair, written directly (see the docstring); `matrix` holds their vectors."""
    rng = random.Random(0)
    ns = memory._open(None)
    report, started = max(len(pairs) // 10, 1), time.perf_counter()
    for start in range(0, len(pairs), FILL_BATCH):
        chunk = pairs[start : start + FILL_BATCH]
        rows = [
            Row(
                stable_id(t, o),
                t,
                o,
                {rng.choice(ACTIONS): ActionStats(float(rng.random() < 0.1), 1, 0.0)},
                last_update=time.time(),
            )
            for t, o in chunk
        ]
        vectors = matrix[start : start + len(chunk)].tolist()
        memory.store.write_rows(ns, rows, {r.id: v for r, v in zip(rows, vectors, strict=True)})
        done = start + len(chunk)
        if done // report > start // report:
            progress(f"filled {done} of {len(pairs)} in {time.perf_counter() - started:.0f} s")


def learn_episodes(
    pairs: Sequence[tuple[str, str]], count: int, seed: int, steps: int = 15
) -> list[Episode]:
    """Episodes of `steps` steps whose (task, observation) are all stored states."""
    rng = random.Random(seed)
    observations = by_task(pairs)
    tasks = sorted(t for t, obs in observations.items() if len(obs) >= steps)
    episodes = []
    for e in range(count):
        task = rng.choice(tasks)
        episodes.append(
            Episode(
                task=task,
                run_id=f"scale-{seed}-{e}",
                steps=[
                    Step(observation=o, action=rng.choice(ACTIONS), reward=float(t == steps - 1))
                    for t, o in enumerate(rng.sample(observations[task], steps))
                ],
            )
        )
    return episodes


def state_matrix(
    embedded: MatrixEmbeddings, pairs: Sequence[tuple[str, str]], weight: float
) -> np.ndarray:
    """The composite state vectors of `pairs` (what the memory stores), as float32 rows."""
    chunks = []
    for start in range(0, len(pairs), EMBED_BATCH):
        chunk = pairs[start : start + EMBED_BATCH]
        tasks, observations = (embedded.rows([p[i] for p in chunk]) for i in (0, 1))
        chunks.append(composite_vectors(tasks, observations, weight).astype(np.float32))
    return np.vstack(chunks)


def numpy_top_k(matrix: np.ndarray, query: np.ndarray, k: int = 2) -> np.ndarray:
    scores = matrix @ query
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


def filled_store(matrix: np.ndarray, queries: np.ndarray) -> tuple[InMemoryStore, float]:
    """An `InMemoryStore` holding one item per state; its embed function looks vectors up."""
    vectors = {f"s{i}": row for i, row in enumerate(matrix)}
    vectors.update({f"q{i}": row for i, row in enumerate(queries)})
    store = InMemoryStore(
        index={
            "dims": matrix.shape[1],
            "embed": lambda texts: [vectors[t] for t in texts],
            "fields": ["text"],
        }
    )
    started = time.perf_counter()
    for start in range(0, len(matrix), 10_000):
        keys = range(start, min(start + 10_000, len(matrix)))
        store.batch([PutOp(("states",), f"s{i}", {"text": f"s{i}"}) for i in keys])
    return store, time.perf_counter() - started


def disk_mb(path: str) -> float:
    used = sum(p.stat().st_blocks * 512 for p in Path(path).rglob("*") if p.is_file())
    return used / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def store_queries(queries: int, size: int) -> int:
    """InMemoryStore's search scans every item in Python: fewer queries at large sizes."""
    return max(10, min(queries, queries * 20_000 // size))


def exact_baselines(
    embedded: MatrixEmbeddings,
    pairs: Sequence[tuple[str, str]],
    stored_weight: float,
    query_matrix: np.ndarray,
    store_count: int,
) -> dict[str, Any]:
    """The numpy scan and InMemoryStore timings; their N-row data is freed on return."""
    queries = len(query_matrix)
    matrix = state_matrix(embedded, pairs, stored_weight)
    exact = [numpy_top_k(matrix, q) for q in query_matrix]
    numpy_ms = timed_ms(lambda i: numpy_top_k(matrix, query_matrix[i % queries]), queries)
    store, store_fill_s = filled_store(matrix, query_matrix)
    store_ms = timed_ms(
        lambda i: store.search(("states",), query=f"q{i % queries}", limit=2), store_count
    )
    return {"numpy": numpy_ms, "store": store_ms, "store_fill_s": store_fill_s, "exact": exact}


def retrieval_timings(
    path: str, embedded: Any, wordllama: Any, probes: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """retrieve (query embedding cached and computed) and raw Chroma on the memory at `path`.

    The three are timed in alternating blocks (`timed_blocks`) over the same probes; the
    query vectors are returned too (key "query_vectors").
    """
    queries = len(probes)
    memory = RemembererMemory(path=path, embeddings=embedded, collection_name="bench")
    live = RemembererMemory(path=path, embeddings=wordllama, collection_name="bench")
    ns = memory._open(None)
    weight = memory.retrieval.task_weight
    query_list = memory.encoder.query_vectors(ns.task_weight, probes, weight)
    states = ns.states

    def retrieve(on: RemembererMemory) -> Callable[[int], Any]:
        return lambda i: on.retrieve(*probes[i % queries], k=2)

    def raw(i: int) -> Any:
        return states.query(query_embeddings=[query_list[i % queries]], n_results=2)

    fns = {"retrieve": retrieve(memory), "embed": retrieve(live), "raw": raw}
    return {**timed_blocks(fns, queries), "query_vectors": query_list}


def learn_and_raw(
    memory: RemembererMemory, episodes: Sequence[Episode]
) -> tuple[list[float], list[float], dict[str, float]]:
    """Each episode's learn, then its raw writes (the learn's write calls again), in ms.

    The first episode is a warm-up. Also returns the Chroma calls per learn, by method.
    """
    writes: list[Any] = []
    counter = count_calls(memory, writes)
    learn_ms: list[float] = []
    raw_ms: list[float] = []
    total: dict[str, int] = {}
    for n, episode in enumerate(episodes):
        writes.clear()
        counter.clear()
        started = time.perf_counter()
        report = memory.learn(episode)
        learned = (time.perf_counter() - started) * 1000
        assert report.updates_written == len(episode.steps), report
        calls = dict(counter)
        started = time.perf_counter()
        added = replay_writes(list(writes), f"raw{n}:")
        raw = (time.perf_counter() - started) * 1000
        delete_replayed(added)
        if n == 0:
            continue
        learn_ms.append(learned)
        raw_ms.append(raw)
        for name, k in calls.items():
            total[name] = total.get(name, 0) + k
    return learn_ms, raw_ms, {k: v / len(learn_ms) for k, v in sorted(total.items())}


def reopened(path: str, size: int, queries: int, seed: int) -> str:
    """retrieve and raw Chroma on a memory filled by an earlier run (`--keep`), as one line."""
    probes = synthetic_pairs(queries, seed + 1)
    wordllama = WordLlamaEmbeddings()
    embedded = MatrixEmbeddings(wordllama, [text for pair in probes for text in pair])
    memory = RemembererMemory(path=path, embeddings=embedded, collection_name="bench")
    count = memory.store.row_count(memory._open(None))
    if count != size:
        msg = f"{path} holds {count} states, not --sizes {size}"
        raise SystemExit(msg)
    timings = retrieval_timings(path, embedded, wordllama, probes)
    (retrieve, _), (embed, _), (raw, _) = (
        p50_p95(timings[n]) for n in ("retrieve", "embed", "raw")
    )
    return (
        f"reopened {path} ({size} states): p50 retrieve {retrieve:.2f} ms, +embed {embed:.2f} ms, "
        f"raw {raw:.2f} ms; retrieve/raw {retrieve / raw:.2f}x, +embed/raw {embed / raw:.2f}x; "
        f"disk {disk_mb(path):.0f} MB, peak RSS {peak_rss_mb():.0f} MB"
    )


def run(size: int, queries: int, learn_count: int, seed: int, keep: str | None) -> dict[str, Any]:
    pairs = synthetic_pairs(size, seed)
    probes = synthetic_pairs(queries, seed + 1)
    wordllama = WordLlamaEmbeddings()
    started = time.perf_counter()
    embedded = MatrixEmbeddings(wordllama, [text for pair in [*pairs, *probes] for text in pair])
    result: dict[str, Any] = {"size": size, "embed_s": time.perf_counter() - started}
    progress(f"{size}: embedded in {result['embed_s']:.1f} s; filling")
    where = tempfile.TemporaryDirectory(prefix="rememberer-scale-") if keep is None else None
    with where or contextlib.nullcontext(keep) as path:
        if keep is not None:
            Path(path).mkdir(parents=True, exist_ok=True)
            if any(Path(path).iterdir()):
                msg = f"--keep {path}: not empty"
                raise SystemExit(msg)
        memory = RemembererMemory(path=path, embeddings=embedded, collection_name="bench")
        ns = memory._open(None)
        started = time.perf_counter()
        fill(memory, state_matrix(embedded, pairs, ns.task_weight), pairs)
        result["fill_s"] = time.perf_counter() - started
        assert memory.store.row_count(ns) == size
        timings = retrieval_timings(path, embedded, wordllama, probes)
        query_list = timings.pop("query_vectors")
        progress(
            f"{size}: retrieve p50 {statistics.median(timings['retrieve']):.2f} ms, raw "
            f"{statistics.median(timings['raw']):.2f} ms; numpy and InMemoryStore next"
        )
        result["store_queries"] = store_queries(queries, size)
        exact = exact_baselines(
            embedded,
            pairs,
            ns.task_weight,
            np.asarray(query_list, dtype=np.float32),
            result["store_queries"],
        )
        timings.update(numpy=exact["numpy"], store=exact["store"])
        result["store_fill_s"] = exact["store_fill_s"]
        # How often Chroma's approximate top-2 is the exact top-2 (same vectors, same ids).
        states = ns.states
        same = [
            states.query(query_embeddings=[query_list[i]], n_results=2)["ids"][0]
            == [stable_id(*pairs[j]) for j in top]
            for i, top in enumerate(exact["exact"])
        ]
        result["recall"] = 100 * sum(same) / queries
        progress(f"{size}: numpy and InMemoryStore done; learn next")
        episodes = learn_episodes(pairs, learn_count + 1, seed + 2)
        live = RemembererMemory(path=path, embeddings=wordllama, collection_name="bench")
        learn_ms, raw_ms, calls = learn_and_raw(live, episodes)
        result["learn_eps"] = 1000 * len(learn_ms) / sum(learn_ms)
        result["learn_vs_raw"] = statistics.median(
            a / b for a, b in zip(learn_ms, raw_ms, strict=True)
        )
        result["learn_calls"] = calls
        timings.update(learn=learn_ms, writes=raw_ms)
        result["disk_mb"] = disk_mb(path)
    result.update({name: p50_p95(times) for name, times in timings.items()})
    result["rss_mb"] = peak_rss_mb()
    return result


COLUMNS = (
    f"{'states':>8} {'embed s':>7} {'fill s':>7} {'retrieve p50/p95':>17} {'+embed p50/p95':>15} "
    f"{'raw p50/p95':>13} {'numpy p50/p95':>15} {'InMemoryStore p50/p95':>22} "
    f"{'learn p50/p95':>15} {'writes p50/p95':>15} {'learn ep/s':>10} {'disk MB':>8} "
    f"{'peak RSS MB':>11}"
)


def row(r: dict[str, Any]) -> str:
    def pair(name: str, width: int) -> str:
        p50, p95 = r[name]
        return f"{p50:.2f}/{p95:.2f}".rjust(width)

    return (
        f"{r['size']:>8} {r['embed_s']:>7.1f} {r['fill_s']:>7.1f} {pair('retrieve', 17)} "
        f"{pair('embed', 15)} {pair('raw', 13)} {pair('numpy', 15)} {pair('store', 22)} "
        f"{pair('learn', 15)} {pair('writes', 15)} "
        f"{r['learn_eps']:>10.1f} {r['disk_mb']:>8.0f} {r['rss_mb']:>11.0f}"
    )


def ratios(r: dict[str, Any]) -> str:
    raw = r["raw"][0]
    return (
        f"ratio p50 at {r['size']}: retrieve/raw {r['retrieve'][0] / raw:.2f}x  "
        f"+embed/raw {r['embed'][0] / raw:.2f}x  numpy/raw {r['numpy'][0] / raw:.2f}x  "
        f"InMemoryStore/raw {r['store'][0] / raw:.2f}x "
        f"(InMemoryStore over {r['store_queries']} queries, filled in {r['store_fill_s']:.1f} s; "
        f"Chroma top-2 = exact top-2 for {r['recall']:.0f}% of queries)\n"
        f"learn at {r['size']}: learn/raw writes {r['learn_vs_raw']:.2f}x (median per episode), "
        f"p50 {r['learn'][0] / r['writes'][0]:.2f}x; Chroma calls per learn "
        + ", ".join(f"{k} {v:.1f}" for k, v in r["learn_calls"].items())
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--learn-episodes", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--keep", metavar="DIR", help="fill the memory in DIR (new or empty) and keep it there"
    )
    parser.add_argument(
        "--reopen",
        metavar="DIR",
        help="only time retrieve and raw Chroma on the memory a --keep run left in DIR",
    )
    args = parser.parse_args()
    if (args.keep or args.reopen) and len(args.sizes) != 1:
        parser.error("--keep and --reopen take one size")
    if args.reopen:
        print(reopened(args.reopen, args.sizes[0], args.queries, args.seed))
        return
    print(
        f"run: scale seed={args.seed} queries={args.queries} learn_episodes={args.learn_episodes} "
        f"cores={os.cpu_count()} (ms, WordLlama, embedded Chroma; query embedding cached "
        "except +embed)",
        flush=True,
    )
    print(COLUMNS, flush=True)
    results = []
    for size in args.sizes:
        results.append(run(size, args.queries, args.learn_episodes, args.seed, args.keep))
        print(row(results[-1]), flush=True)
    for r in results:
        print(ratios(r))
    print(
        "target: retrieve p50 <= 1.3x raw at 100k and 1M (embedding excluded); <= 10 ms p50 at 1M; "
        "learn of a 15-step episode <= 3x its raw Chroma writes at 10k, 100k and 1M"
    )


if __name__ == "__main__":
    main()
