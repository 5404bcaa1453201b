"""Group commit: concurrent calls of one kind on one collection share one Chroma call.

Every embedded write is a SQLite commit (tens of milliseconds), and a server serialises writes
too, so concurrent learns queue behind each other one call at a time. A `Combiner` lets them
share: a caller that finds no batch running runs every request waiting, in one call (flat
combining); callers arriving meanwhile wait for that batch, then one of them runs theirs. No
timer: nobody waits for company, only for the batch that was already running. Chroma's
embedded client holds the GIL for a whole call (measured on chromadb 1.5.9: a busy loop in
another thread barely runs during an `add`), so threads busy while a call ran reach `submit`
only after it: the leader first yields the GIL until a yield brings no new request
(`Combiner._gather`): 256 concurrent `alearn`s went from 15 to 21-29 learns/s.

Merging keeps each call's meaning (`_store.ChromaStore` gives the merge of each kind): an `add`
of ids already added in the same batch keeps the first (Chroma's add-if-absent, as if the
requests ran one after the other); reads by id read the union and hand each caller its own;
blind row writes keep the last write of an id (any order of concurrent requests is one they
could have run in). A failed batch fails every request in it: none of them was written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

__all__ = ["IO_THREADS", "Combiner", "in_thread"]

Q = TypeVar("Q")
R = TypeVar("R")
T = TypeVar("T")
M = TypeVar("M")
P = ParamSpec("P")


@dataclass
class _Request(Generic[Q, R]):
    payload: Q
    done: bool = False
    result: R | None = None
    error: BaseException | None = field(default=None, repr=False)


_MAX_YIELDS = 256


class Combiner(Generic[Q, R]):
    """Runs concurrent requests of one kind in batches (see the module docstring).

    Args:
        run: Runs a batch of request payloads, oldest first; returns one result per payload.

    Example:
        ```python
        from langchain_rememberer._batching import Combiner

        calls = []


        def run(batch):
            calls.append(list(batch))
            return [x * 2 for x in batch]


        combiner = Combiner(run)
        assert combiner.submit(21) == 42
        assert calls == [[21]]  # alone, a request is its own batch
        ```
    """

    def __init__(self, run: Callable[[Sequence[Q]], Sequence[R]]) -> None:
        self._run = run
        self._cond = threading.Condition()
        self._queue: list[_Request[Q, R]] = []
        self._busy = False
        self.batches = 0
        """Batches run so far (a request alone is a batch of one)."""

    def submit(self, payload: Q) -> R:
        """Run `payload` in the next batch; its result, or the batch's error raised."""
        request: _Request[Q, R] = _Request(payload)
        with self._cond:
            self._queue.append(request)
            self._cond.notify_all()  # (tests wait for a queue to fill; waiters re-check)
            while self._busy and not request.done:
                self._cond.wait()
            lead = not request.done
            if lead:
                self._busy = True
        if lead:
            self._gather()
            with self._cond:
                batch, self._queue = self._queue, []
            self._lead(batch)
        if request.error is not None:
            raise request.error
        return request.result  # type: ignore[return-value]

    def _gather(self) -> None:
        """Yield the GIL while requests keep arriving (each yield lets waiting threads run).

        Chroma's embedded client holds the GIL for a whole call, so threads that were busy
        while the last call ran can only reach `submit` now; the leader lets them, yielding
        until a yield brings nobody new (at most `_MAX_YIELDS` times, so a steady stream of
        callers cannot keep a batch waiting). No timer: it never waits once nobody is coming.
        """
        seen = -1
        for _ in range(_MAX_YIELDS):
            with self._cond:
                count = len(self._queue)
            if count == seen:
                return
            seen = count
            time.sleep(0)

    def _lead(self, batch: list[_Request[Q, R]]) -> None:
        """Run one batch for every request in it, then let the next leader go."""
        try:
            results = self._run([r.payload for r in batch])
            for r, result in zip(batch, results, strict=True):
                r.result = result
        except BaseException as e:  # every request of the batch fails with it
            for r in batch:
                r.error = e
        finally:
            with self._cond:
                for r in batch:
                    r.done = True
                self._busy = False
                self.batches += 1
                self._cond.notify_all()


IO_THREADS = 64
"""Threads the async twins run in: their own pool, so many concurrent calls share Chroma calls
(group commit, `_batching`) instead of queueing behind the event loop's default executor (a
few threads, shared with the app)."""

_pool: list[concurrent.futures.ThreadPoolExecutor] = []
_pool_lock = threading.Lock()


def _io_threads() -> concurrent.futures.ThreadPoolExecutor:
    with _pool_lock:
        if not _pool:
            _pool.append(
                concurrent.futures.ThreadPoolExecutor(IO_THREADS, thread_name_prefix="rememberer")
            )
        return _pool[0]


def in_thread(
    method: Callable[Concatenate[M, P], T],
) -> Callable[Concatenate[M, P], Coroutine[Any, Any, T]]:
    """The async twin of a method: the same call, awaited in a worker thread.

    `asyncio.to_thread` keeps the event loop free while the method does its blocking I/O; on a
    `chroma run` server, Chroma's native async client was measured no faster
    (`benchmarks/async_retrieval.py`), so each operation has one synchronous implementation.
    """

    @functools.wraps(method)
    async def twin(self: M, /, *args: P.args, **kwargs: P.kwargs) -> T:
        call = functools.partial(method, self, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(_io_threads(), call)

    twin.__name__ = twin.__qualname__ = f"a{method.__name__}"
    twin.__doc__ = (
        f"`{method.__name__}`, awaited: the same method in a worker thread "
        "(`asyncio.to_thread`), off the event loop."
    )
    return twin
