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
    """Wraps a Chroma collection and counts its round trips (every data method call)."""

    METHODS = frozenset({"get", "query", "add", "upsert", "update", "delete", "count", "peek"})

    def __init__(self, inner: Any, counter: dict[str, int]) -> None:
        self._inner, self._counter = inner, counter

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name in self.METHODS:
            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter[name] = self._counter.get(name, 0) + 1
                return attr(*args, **kwargs)
            return counted
        return attr


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
