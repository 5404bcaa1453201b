"""Shared helpers of the benchmark scripts: timing, a call-counting proxy, synthetic texts."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOALS = [
    "Find the coin",
    "Cook a meal",
    "Read the map",
    "Open the blue box",
    "Water the plant",
    "Find the key",
]
ROOMS = [
    "kitchen",
    "pantry",
    "garden",
    "hallway",
    "bedroom",
    "cellar",
    "attic",
    "library",
    "garage",
    "study",
    "bathroom",
    "porch",
]
THINGS = [
    "a coin",
    "a knife",
    "a red apple",
    "a map",
    "a locked door",
    "a sofa",
    "a lamp",
    "nothing",
    "a plant",
    "a key",
    "a book",
    "a stove",
]


def synthetic_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (task, observation) pairs in the style of text games."""
    rng = random.Random(seed)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        task = f"{rng.choice(GOALS)} in the {rng.choice(ROOMS)}."
        obs = (
            f"You are in the {rng.choice(ROOMS)}. You see {rng.choice(THINGS)}, "
            f"{rng.choice(THINGS)} and {rng.choice(THINGS)}. Exits: {rng.choice(ROOMS)}, "
            f"{rng.choice(ROOMS)}. #{rng.randrange(10**6)}"
        )
        pairs.add((task, obs))
    return sorted(pairs)


def p50_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `fn` in milliseconds (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class CountingCollection:
    """Wraps a Chroma collection and counts its round trips (every data method call).

    With `writes` given, each write call (`add`, `upsert`, `update`) is also kept there as
    (collection, method, kwargs), so that `replay_writes` can issue the same writes again.
    With `timed` given, each call is kept there as ("<label>.<method>", milliseconds); with
    `calls`, as ("<label>.<method>", its keyword arguments).
    """

    METHODS = frozenset({"get", "query", "add", "upsert", "update", "delete", "count", "peek"})
    WRITES = frozenset({"add", "upsert", "update"})

    def __init__(
        self,
        inner: Any,
        counter: dict[str, int],
        writes: list[Any] | None = None,
        *,
        timed: list[tuple[str, float]] | None = None,
        label: str = "",
        calls: list[tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        self._inner, self._counter, self._writes = inner, counter, writes
        self._timed, self._label, self._calls = timed, label, calls

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in self.METHODS:

            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter[name] = self._counter.get(name, 0) + 1
                if self._writes is not None and name in self.WRITES:
                    self._writes.append((self._inner, name, dict(kwargs)))
                if self._calls is not None:
                    self._calls.append((f"{self._label}.{name}", dict(kwargs)))
                if self._timed is None:
                    return attr(*args, **kwargs)
                started = time.perf_counter()
                result = attr(*args, **kwargs)
                ms = (time.perf_counter() - started) * 1000
                self._timed.append((f"{self._label}.{name}", ms))
                return result

            return counted
        return attr


def count_calls(
    memory: Any, writes: list[Any] | None = None, timed: list[tuple[str, float]] | None = None
) -> dict[str, int]:
    """Count every Chroma call `memory` makes on its default namespace's states and log.

    The namespace's cached handle is replaced by one whose `states` and `log` collections are
    `CountingCollection`s (of one shared counter, returned); `writes` collects the write calls,
    `timed` each call's name and milliseconds.
    """
    ns = memory._open(None)
    counter: dict[str, int] = {}
    memory.store._namespaces[ns.name] = timed_namespace(ns, counter, writes, timed)
    return counter


def timed_namespace(
    ns: Any,
    counter: dict[str, int],
    writes: list[Any] | None = None,
    timed: list[tuple[str, float]] | None = None,
    calls: list[tuple[str, dict[str, Any]]] | None = None,
) -> Any:
    """A namespace handle whose `states` and `log` count (and time, and record) their calls."""
    import dataclasses  # noqa: PLC0415

    return dataclasses.replace(
        ns,
        **{
            label: CountingCollection(
                getattr(ns, label), counter, writes, timed=timed, label=label, calls=calls
            )
            for label in ("states", "log")
        },
    )


def replay_writes(writes: list[Any], tag: str) -> list[tuple[Any, list[str]]]:
    """Issue recorded write calls again, in order, on the same collections: the raw writes.

    `add` and `upsert` get fresh ids (`tag` + the id: the same records, sizes and count, new
    to the collection as they were to the learn); `update` rewrites the same ids with the same
    metadata (in order, so each row ends as the learn left it). Returns the (collection, ids)
    added, for `delete_replayed`.
    """
    added = []
    for collection, method, kwargs in writes:
        if method == "update":
            collection.update(**kwargs)
            continue
        ids = [f"{tag}{i}" for i in kwargs["ids"]]
        getattr(collection, method)(**{**kwargs, "ids": ids})
        added.append((collection, ids))
    return added


def delete_replayed(added: list[tuple[Any, list[str]]]) -> None:
    """Delete what `replay_writes` added (untimed), so no extra state is ever retrieved."""
    for collection, ids in added:
        collection.delete(ids=ids)


class CachedEmbeddings:
    """Embeddings with a dict cache: lets a benchmark time retrieval without embedding."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.cache = inner, {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, self.inner.embed_documents(missing), strict=True))
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


# -- a real `chroma run` server --------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def chroma_server(timeout: float = 60.0) -> Iterator[tuple[str, int]]:
    """Run `chroma run` on a free 127.0.0.1 port in a temporary directory; yields (host, port)."""
    import chromadb  # noqa: PLC0415
    from chromadb.config import Settings  # noqa: PLC0415

    beside = Path(sys.executable).with_name("chroma")
    executable = str(beside) if beside.exists() else shutil.which("chroma")
    if not executable:
        raise SystemExit("the `chroma` command (installed with chromadb) was not found")
    with tempfile.TemporaryDirectory(prefix="rememberer-bench-") as tmp:
        port = _free_port()
        with (Path(tmp) / "chroma.log").open("wb") as log:
            process = subprocess.Popen(
                [
                    executable,
                    "run",
                    "--path",
                    str(Path(tmp) / "db"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
            )
            try:
                client = None
                deadline = time.monotonic() + timeout
                while True:
                    if process.poll() is not None:
                        raise SystemExit(f"chroma run exited with {process.returncode}")
                    try:
                        client = client or chromadb.HttpClient(
                            host="127.0.0.1",
                            port=port,
                            settings=Settings(anonymized_telemetry=False),
                        )
                        client.heartbeat()
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise SystemExit(
                                f"chroma run did not answer within {timeout}s"
                            ) from None
                        time.sleep(0.1)  # polling a condition with a deadline
                yield "127.0.0.1", port
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=15)


# -- honest floors: a minimal hand-written learn on the memory's own collections ---------------

FLOOR_TAGS = {"M1": "m1:", "M2": "m2:"}


def floor_rows(memory: Any, episode: Any) -> tuple[str, list[str], list[str]]:
    """An episode's normalised task, its states' observation keys and their row ids."""
    from langchain_rememberer._records import stable_id  # noqa: PLC0415
    from langchain_rememberer._text import normalize_whitespace  # noqa: PLC0415

    task = normalize_whitespace(episode.task)
    keys = [memory.state_key(step.observation) for step in episode.steps]
    return task, keys, [stable_id(task, key) for key in keys]


def seed_floor_rows(memory: Any, ns: Any, episodes: Any, tag: str) -> None:
    """Write the floor's own rows (ids `tag` + the memory's row id) of the episodes' states,
    untimed, so that a floor learn updates rows that exist, as `learn` does on stored states."""
    seen: dict[str, tuple[str, str]] = {}
    for episode in episodes:
        task, keys, ids = floor_rows(memory, episode)
        for key, row_id in zip(keys, ids, strict=True):
            seen.setdefault(tag + row_id, (task, key))
    ids = list(seen)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        pairs = [seen[i] for i in chunk]
        ns.states.upsert(
            ids=chunk,
            embeddings=memory.encoder.state_vectors(ns.task_weight, pairs),
            metadatas=[{"task": t, "table": json.dumps({"look": [0.0, 1]})} for t, _ in pairs],
            documents=[k for _, k in pairs],
        )


@contextmanager
def filled_memory(
    size: int, count: int, steps: int, seed: int, tags: Iterable[str]
) -> Iterator[tuple[Any, Any, list[Any]]]:
    """A memory of `size` stored states, `count` + 1 episodes of them, and floor rows per tag.

    The states' rows are written directly (`scale.fill`), every text's embedding is computed
    once and looked up, and the floors' rows are seeded under each of `tags`
    (`seed_floor_rows`). Yields (memory, its plain namespace handle, episodes); the first
    episode is a warm-up.
    """
    import scale  # noqa: PLC0415  (numpy, LangGraph: only for the benchmarks that fill)

    from langchain_rememberer import RemembererMemory, WordLlamaEmbeddings  # noqa: PLC0415

    pairs = synthetic_pairs(size, seed)
    embedded = scale.MatrixEmbeddings(WordLlamaEmbeddings(), [t for pair in pairs for t in pair])
    with tempfile.TemporaryDirectory(prefix="rememberer-filled-") as path:
        memory = RemembererMemory(path=path, embeddings=embedded, collection_name="bench")
        ns = memory._open(None)  # the plain collections, before any wrapper
        scale.fill(memory, scale.state_matrix(embedded, pairs, ns.task_weight), pairs)
        data = scale.learn_episodes(pairs, count + 1, seed + 2, steps)
        for tag in tags:
            seed_floor_rows(memory, ns, data, tag)
        yield memory, ns, data


def floor_learn(memory: Any, ns: Any, episode: Any, tag: str, *, marker: bool) -> bool:
    """A minimal learn, by hand with plain Chroma calls, on the memory's own collections.

    M1 (`marker=False`): one `get` by id of the episode's rows (ids `tag` + the memory's row
    id: a separate id space, so the memory never reads them), Monte Carlo returns and
    incremental means computed in Python, and one write of the rows: an `update` of their
    metadata when they were found, as `learn` updates stored rows (an `upsert` re-sending the
    vectors of 15 stored rows took ~200 ms against ~25-40 ms for the `update`, measured on
    chromadb 1.5.9 embedded: a floor doing that would hide ~170 ms of the learn); the rows not
    found are upserted with their state vectors (a second write only for an episode mixing
    both; none in the benchmarks, whose floor rows are seeded): 1 write.

    M2 (`marker=True`): first one `add` of a run marker (`tag` + run:<h(run id)>) to the log
    collection with a fresh nonce, and its `get` by id: Chroma's `add` keeps the first
    record of an id, so only the writer whose nonce is read back applies the run; a retried or
    duplicated run writes nothing more. 2 writes. (Exactly once against retries and
    duplicates, not against a crash between the two writes, which loses the run; the memory's
    learn is exactly once against both.) Returns whether the run was applied.
    """
    from langchain_rememberer._records import stable_id  # noqa: PLC0415

    if marker:
        marker_id = tag + "run:" + stable_id("run", episode.run_id)
        nonce = os.urandom(8).hex()
        ns.log.add(ids=[marker_id], embeddings=[[1.0]], metadatas=[{"nonce": nonce}])
        got = ns.log.get(ids=[marker_id], include=["metadatas"])
        if got["metadatas"][0]["nonce"] != nonce:
            return False
    task, keys, ids = floor_rows(memory, episode)
    ids = [tag + i for i in ids]
    got = ns.states.get(ids=list(dict.fromkeys(ids)), include=["metadatas"])
    got_ids = set(got["ids"])
    tables = {i: json.loads(m["table"]) for i, m in zip(got["ids"], got["metadatas"], strict=True)}
    gamma, ret = memory.rlem.gamma, 0.0
    returns = []
    for step in reversed(episode.steps):
        ret = step.reward + gamma * ret
        returns.append(ret)
    returns.reverse()
    order: dict[str, str] = {}
    for row_id, key, step, target in zip(ids, keys, episode.steps, returns, strict=True):
        table = tables.setdefault(row_id, {})
        q, n = table.get(step.action, [0.0, 0])
        table[step.action] = [q + (target - q) / (n + 1), n + 1]
        order[row_id] = key
    found = [i for i in order if i in got_ids]
    new = [i for i in order if i not in got_ids]
    if found:  # the rows read: rewritten in place, as `learn` does (their vectors are stored)
        ns.states.update(
            ids=found,
            metadatas=[{"task": task, "table": json.dumps(tables[i])} for i in found],
        )
    if new:  # states not stored yet: with their vectors (none in the benchmarks: seeded)
        vectors = memory.encoder.state_vectors(ns.task_weight, [(task, order[i]) for i in new])
        ns.states.upsert(
            ids=new,
            embeddings=vectors,
            metadatas=[{"task": task, "table": json.dumps(tables[i])} for i in new],
            documents=[order[i] for i in new],
        )
    return True


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as printed by the benchmarks."""
    return "/".join(f"{x:.1f}" for x in os.getloadavg())
