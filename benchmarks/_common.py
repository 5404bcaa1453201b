"""Shared helpers of the benchmark scripts: timing, a call-counting proxy, synthetic texts."""

from __future__ import annotations

import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

GOALS = ["Find the coin", "Cook a meal", "Read the map", "Open the blue box", "Water the plant", "Find the key"]
ROOMS = ["kitchen", "pantry", "garden", "hallway", "bedroom", "cellar", "attic", "library", "garage", "study", "bathroom", "porch"]
THINGS = ["a coin", "a knife", "a red apple", "a map", "a locked door", "a sofa", "a lamp", "nothing", "a plant", "a key", "a book", "a stove"]


def synthetic_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` distinct (task, observation) pairs in the style of text games."""
    rng = random.Random(seed)
    pairs: set[tuple[str, str]] = set()
    while len(pairs) < n:
        task = f"{rng.choice(GOALS)} in the {rng.choice(ROOMS)}."
        obs = (
            f"You are in the {rng.choice(ROOMS)}. You see {rng.choice(THINGS)}, {rng.choice(THINGS)} "
            f"and {rng.choice(THINGS)}. Exits: {rng.choice(ROOMS)}, {rng.choice(ROOMS)}. #{rng.randrange(10**6)}"
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
    """

    METHODS = frozenset({"get", "query", "add", "upsert", "update", "delete", "count", "peek"})
    WRITES = frozenset({"add", "upsert", "update"})

    def __init__(
        self, inner: Any, counter: dict[str, int], writes: list[Any] | None = None
    ) -> None:
        self._inner, self._counter, self._writes = inner, counter, writes

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in self.METHODS:
            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter[name] = self._counter.get(name, 0) + 1
                if self._writes is not None and name in self.WRITES:
                    self._writes.append((self._inner, name, dict(kwargs)))
                return attr(*args, **kwargs)
            return counted
        return attr


def count_calls(memory: Any, writes: list[Any] | None = None) -> dict[str, int]:
    """Count every Chroma call `memory` makes on its default namespace's states and log.

    The namespace's cached handle is replaced by one whose `states` and `log` collections are
    `CountingCollection`s (of one shared counter, returned); `writes` collects the write calls.
    """
    import dataclasses  # noqa: PLC0415

    ns = memory._open(None)
    counter: dict[str, int] = {}
    memory.store._namespaces[ns.name] = dataclasses.replace(
        ns,
        states=CountingCollection(ns.states, counter, writes),
        log=CountingCollection(ns.log, counter, writes),
    )
    return counter


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
