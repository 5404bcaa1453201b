"""Many retrievals and learns at once on a server: the async twins vs sync threads vs raw async.

    python benchmarks/async_retrieval.py --concurrent 256 --states 2000 --repeats 6 \
        --workers 32 --ops retrieve learn

Starts its own `chroma run` on a free 127.0.0.1 port (in a temporary directory), fills one
memory with `--states` states, then for each op in `--ops` times rounds of `--concurrent` calls
started together, in these modes:

- `async`: `await memory.aretrieve(...)` / `await memory.alearn(...)`, all gathered on one
  event loop. The core is synchronous and each async twin runs it in `asyncio.to_thread` (the
  loop's default executor: min(32, cores + 4) threads): this is what an async app gets.
- `threads`: plain sync code, no event loop: a `ThreadPoolExecutor` of `--workers` threads
  calling `memory.retrieve` / `memory.learn`.
- `raw` (retrieve only): the floor any client pays, `--concurrent` top-k `collection.query`
  calls of the same query vectors on Chroma's own `AsyncHttpClient`, at most `RAW_IN_FLIGHT`
  in flight (learn has no such single-call floor: it is several reads and writes).

Until issue 20 the async twins on a server ran on Chroma's `AsyncHttpClient` (native async
I/O); this script then also had `native` and `to_thread` modes, and measured native async at
0.78-0.96x of to_thread and threads at 256 concurrent calls (docs/demo-and-benchmark.md): it
never won by the 1.5x that would have justified a second implementation, so the core became
synchronous code.

Retrievals query stored states. Each learn is a small episode of its own (`--steps` steps,
a run id never used before): its first step revisits a stored state (a different one for each
call of a round), the others are new states. Embeddings are cached (computed before timing,
served without a thread to the async twins too) so the figures are the storage path.

One op's latency is from the round's start (all calls submitted at once) to that call's end;
throughput is the round's calls over its wall time. After one warm-up round per mode, each of
`--repeats` repetitions runs one round of each mode, the modes' order rotated every repetition
(and the ops' order alternated), since the machine may be busy. Printed: per op and mode, the
median throughput (ops/s) and p50 and p95 latency over the repetitions with [min-max]; then, per op,
the ratios of async against threads and raw (each repetition's own ratio, median [min-max]),
throughput as async/other and p95 as other/async, so >1 means async is better either way.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import chromadb
from _common import CachedEmbeddings, chroma_server, synthetic_pairs
from chromadb.config import Settings

from langchain_rememberer import Episode, RemembererMemory, Step, WordLlamaEmbeddings
from langchain_rememberer._text import normalize_whitespace

K = 2
RAW_IN_FLIGHT = 8  # what the native async memory allowed in flight per loop (issue 11)
MODES = ("async", "threads")


def fill(memory: RemembererMemory, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One state per observation, in episodes of 50 steps (one learn each, one task).

    Returns the (task, observation) pairs as stored: each under its episode's task.
    """
    stored = []
    for start in range(0, len(pairs), 50):
        chunk = pairs[start : start + 50]
        task = chunk[0][0]
        memory.learn(
            Episode(
                task=task,
                run_id=f"fill-{start}",
                steps=[Step(observation=o, action="look", reward=0.0) for _t, o in chunk],
            )
        )
        stored += [(task, o) for _t, o in chunk]
    return stored


class Round:
    """One round's per-call end times: latency from the round's start, throughput over it."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.ended: list[float] = []

    def timed(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        def call() -> Any:
            value = fn()
            self.ended.append(time.perf_counter())
            return value

        return call

    async def atimed(self, make: Callable[[], Any]) -> Any:
        value = await make()
        self.ended.append(time.perf_counter())
        return value

    def figures(self) -> tuple[float, float, float]:
        """(ops/s, p50 latency in ms, p95 latency in ms)."""
        latencies = sorted((end - self.started) * 1000 for end in self.ended)

        def pct(q: float) -> float:
            return latencies[round(q * (len(latencies) - 1))]

        return len(latencies) / (max(self.ended) - self.started), pct(0.5), pct(0.95)


class Bench:
    def __init__(self, host: str, port: int, args: argparse.Namespace) -> None:
        self.host, self.port, self.args = host, port, args
        self.embeddings = CachedEmbeddings(WordLlamaEmbeddings())
        self.memory = RemembererMemory.from_server(
            host, port, collection_name="async-bench", embeddings=self.embeddings
        )
        self.pairs = fill(self.memory, synthetic_pairs(args.states, seed=0))
        n = args.concurrent
        self.queries = [self.pairs[(i * 37) % len(self.pairs)] for i in range(n)]
        for task, observation in self.queries:  # cache the query embeddings
            self.memory.retrieve(task, observation, k=K)
        self.rounds = 0  # learn rounds so far: each one's episodes are new runs
        self.loop = asyncio.new_event_loop()  # one loop: its clients and threads stay warm
        self.pool = ThreadPoolExecutor(max_workers=args.workers)
        self.raw_collection: Any = None
        self.raw_vectors: list[list[float]] = []

    def close(self) -> None:
        self.pool.shutdown()
        self.loop.close()

    # -- the calls of one round --------------------------------------------------------------

    def episodes(self) -> list[Episode]:
        """`--concurrent` new small episodes, embedded beforehand (the cache)."""
        n, steps, r = self.args.concurrent, self.args.steps, self.rounds
        self.rounds += 1
        fresh = synthetic_pairs(n * (steps - 1), seed=1000 + r)
        out = []
        for i in range(n):
            task, revisited = self.pairs[(r * n + i) % len(self.pairs)]
            observations = [revisited] + [
                o for _t, o in fresh[i * (steps - 1) : (i + 1) * (steps - 1)]
            ]
            out.append(
                Episode(
                    task=task,
                    run_id=f"bench-{r}-{i}",
                    steps=[
                        Step(
                            observation=o, action=f"act {t}", reward=1.0 if t == steps - 1 else 0.0
                        )
                        for t, o in enumerate(observations)
                    ],
                )
            )
        texts = [normalize_whitespace(e.task) for e in out]
        texts += [self.memory.state_key(s.observation) for e in out for s in e.steps]
        self.embeddings.embed_documents(texts)
        return out

    def calls(self, op: str) -> list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]]:
        """(sync method, args, kwargs) of each call; the async twin is `a` + its name."""
        if op == "retrieve":
            return [(self.memory.retrieve, q, {"k": K}) for q in self.queries]
        return [(self.memory.learn, (e,), {}) for e in self.episodes()]

    # -- modes -------------------------------------------------------------------------------

    def round(self, op: str, mode: str) -> tuple[float, float, float]:
        if mode == "raw":
            return self.loop.run_until_complete(self.raw())
        calls = self.calls(op)
        if mode == "threads":  # plain sync code: no event loop involved
            timing = Round()
            futures = [
                self.pool.submit(timing.timed(lambda f=f, a=a, kw=kw: f(*a, **kw)))
                for f, a, kw in calls
            ]
            check(calls, [future.result() for future in futures])
            return timing.figures()
        return self.loop.run_until_complete(self.on_loop(calls, mode))

    async def on_loop(self, calls: Sequence[Any], mode: str) -> tuple[float, float, float]:
        assert mode == "async", mode

        def start(f: Any, a: Any, kw: Any) -> Any:
            return getattr(self.memory, "a" + f.__name__)(*a, **kw)

        timing = Round()
        check(calls, await asyncio.gather(*(timing.atimed(lambda c=c: start(*c)) for c in calls)))
        return timing.figures()

    async def raw(self) -> tuple[float, float, float]:
        if self.raw_collection is None:  # a client of its own, on this loop; the same vectors
            memory = self.memory
            ns = memory._open(None)
            self.raw_vectors = memory.encoder.query_vectors(ns.task_weight, self.queries, 0.5)
            client = await chromadb.AsyncHttpClient(
                host=self.host, port=self.port, settings=Settings(anonymized_telemetry=False)
            )
            self.raw_collection = await client.get_collection(
                ns.states.name, embedding_function=None
            )
        gate = asyncio.Semaphore(RAW_IN_FLIGHT)

        async def query(vector: list[float]) -> Any:
            async with gate:
                return await self.raw_collection.query(query_embeddings=[vector], n_results=K)

        timing = Round()
        await asyncio.gather(*(timing.atimed(lambda v=v: query(v)) for v in self.raw_vectors))
        return timing.figures()


def check(calls: Sequence[Any], values: Sequence[Any]) -> None:
    """Each call did its own work: every learn wrote its episode, every retrieve found states."""
    for (method, args, _kw), value in zip(calls, values, strict=True):
        if method.__name__ == "learn":
            ok = not value.already_learned and value.run_id == args[0].run_id
        else:
            ok = len(value) == K
        if not ok:
            raise SystemExit(f"{method.__name__}{args!r} returned {value!r}")


def spread(values: list[float], digits: int = 1, unit: str = "") -> str:
    """Median [min-max]."""
    return (
        f"{statistics.median(values):.{digits}f}{unit} "
        f"[{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )


def run(host: str, port: int, args: argparse.Namespace) -> dict[str, dict[str, list[Any]]]:
    """Per op and mode, each repetition's (ops/s, p95 ms)."""
    bench = Bench(host, port, args)
    modes = {op: [*MODES, *(["raw"] if op == "retrieve" else [])] for op in args.ops}
    results: dict[str, dict[str, list[Any]]] = {op: {m: [] for m in modes[op]} for op in args.ops}
    try:
        for op in args.ops:  # warm-up: threads, connections, handles
            for mode in modes[op]:
                bench.round(op, mode)
        for rep in range(args.repeats):
            ops = args.ops if rep % 2 == 0 else list(reversed(args.ops))
            for op in ops:
                order = modes[op][rep % len(modes[op]) :] + modes[op][: rep % len(modes[op])]
                for mode in order:
                    results[op][mode].append(bench.round(op, mode))
    finally:
        bench.close()
    return results


def report(args: argparse.Namespace, results: dict[str, dict[str, list[Any]]]) -> None:
    default_threads = min(32, (os.cpu_count() or 1) + 4)
    label = {
        "async": f"async twin ({default_threads} thr)",
        "threads": f"threads ({args.workers} thr)",
        "raw": f"raw async query ({RAW_IN_FLIGHT})",
    }
    print(
        f"{'op':<9} {'mode':<22} {'ops/s [min-max]':>24} {'p50 ms [min-max]':>24} "
        f"{'p95 ms [min-max]':>24}"
    )
    for op, by_mode in results.items():
        for mode, reps in by_mode.items():
            rates, p50s, p95s = ([r[i] for r in reps] for i in range(3))
            print(
                f"{op:<9} {label[mode]:<22} {spread(rates):>24} {spread(p50s):>24} "
                f"{spread(p95s):>24}"
            )
    for op, by_mode in results.items():
        mine = by_mode["async"]
        parts = []
        for other in [m for m in by_mode if m != "async"]:
            rate = [n[0] / o[0] for n, o in zip(mine, by_mode[other], strict=True)]
            p95 = [o[2] / n[2] for n, o in zip(mine, by_mode[other], strict=True)]
            parts.append(f"vs {other} ops/s {spread(rate, 2, 'x')} p95 {spread(p95, 2, 'x')}")
        print(f"ratio {op} async (>1 = async better): " + "; ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=256, help="calls started at once")
    parser.add_argument("--states", type=int, default=2000, help="states stored before timing")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of each mode")
    parser.add_argument("--workers", type=int, default=32, help="threads of the `threads` mode")
    parser.add_argument("--steps", type=int, default=3, help="steps of each learned episode")
    parser.add_argument(
        "--ops", nargs="+", choices=["retrieve", "learn"], default=["retrieve", "learn"]
    )
    args = parser.parse_args()
    if args.steps < 1 or args.concurrent < 1 or args.repeats < 1 or args.states < 1:
        parser.error("--concurrent, --states, --repeats and --steps must be at least 1")
    args.ops = list(dict.fromkeys(args.ops))
    print(
        f"run: async io concurrent={args.concurrent} states={args.states} "
        f"repeats={args.repeats} workers={args.workers} steps={args.steps} "
        f"ops={','.join(args.ops)} cores={os.cpu_count()} "
        "(chroma run server, WordLlama, embeddings cached)"
    )
    with chroma_server() as (host, port):
        results = run(host, port, args)
    report(args, results)


if __name__ == "__main__":
    main()
