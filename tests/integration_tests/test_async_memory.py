"""The memory's async methods: the sync ones in a worker thread, on a server and embedded.

Several runs at once on one event loop, on a real `chroma run` server and on embedded Chroma;
the results are exactly those of the sync methods.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from langchain_rememberer import (
    Episode,
    FeedbackError,
    InvalidInputError,
    RemembererMemory,
    Step,
    StorageError,
)
from tests.helpers import TASK, q_table, twin
from tests.integration_tests.test_memory import _TableWriteFails

from .conftest import start_chroma_server, stop_chroma_server

RUNS = 12


def _episode(n: int) -> Episode:
    """Every run passes the shared kitchen, then a room of its own."""
    return Episode(
        task=TASK,
        run_id=f"run-{n}",
        steps=[
            Step(observation="kitchen", action="go east", reward=0.0),
            Step(observation=f"room {n}", action="take coin", reward=1.0),
        ],
    )


class StoreCalls:
    """Counts a memory's Chroma calls (real ones, wrapped): how many ran at once, and where.

    `most` is the most calls running at the same time; `on_loop` names the calls made on the
    main thread, the one `asyncio.run` runs its loop on: an async method must make none there.
    """

    NAMES = (
        "open", "get_rows", "query_rows", "write_rows", "row_pages", "add_log", "get_log",
        "delete_log", "counts", "put_pending", "get_pending", "delete_pending",
    )  # fmt: skip

    def __init__(self, memory: RemembererMemory, monkeypatch) -> None:
        self.now = self.most = 0
        self.on_loop: list[str] = []
        self._lock = threading.Lock()
        for name in self.NAMES:
            monkeypatch.setattr(memory.store, name, self._wrap(name, getattr(memory.store, name)))

    def _wrap(self, name, method):
        def counted(*args, **kwargs):
            with self._lock:
                self.now += 1
                self.most = max(self.most, self.now)
                if threading.current_thread() is threading.main_thread():
                    self.on_loop.append(name)
            try:
                return method(*args, **kwargs)
            finally:
                with self._lock:
                    self.now -= 1

        return counted


def test_concurrent_alearn_on_one_loop_is_exact(server_memory, embeddings, monkeypatch) -> None:
    calls = StoreCalls(server_memory, monkeypatch)

    async def main():
        return await asyncio.gather(*(server_memory.alearn(_episode(n)) for n in range(RUNS)))

    reports = asyncio.run(main())
    assert [r.updates_written for r in reports] == [2] * RUNS
    assert calls.most > 1  # the runs' calls really overlapped ...
    assert calls.on_loop == []  # ... in worker threads, never on the loop
    check = twin(server_memory, embeddings)  # a sync reader of the same collections
    assert q_table(check, TASK, "kitchen") == {"go east": (0.5, RUNS)}  # every visit counted
    assert check.stats().updates == 2 * RUNS


def test_aretrieve_and_aformat_exemplars_equal_the_sync_ones(server_memory) -> None:
    for n in range(3):
        server_memory.learn(_episode(n))

    async def main():
        return await asyncio.gather(
            server_memory.aretrieve(TASK, "kitchen", k=2),
            server_memory.aformat_exemplars(TASK, "room 1"),
            *(server_memory.aretrieve(TASK, f"room {n}", k=1) for n in range(3)),
        )

    states, block, *rooms = asyncio.run(main())
    assert states == server_memory.retrieve(TASK, "kitchen", k=2)
    assert block == server_memory.format_exemplars(TASK, "room 1")
    assert "take coin" in block
    assert [r[0].observation for r in rooms] == ["room 0", "room 1", "room 2"]


def test_delayed_feedback_async_is_learned_exactly_once(
    server_memory, embeddings, monkeypatch
) -> None:
    episode = _episode(0)
    calls = StoreCalls(server_memory, monkeypatch)

    async def main():
        await server_memory.asave_pending(episode)
        return await asyncio.gather(
            *(server_memory.alearn_pending("run-0", 2.0) for _ in range(4)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(main())
    assert calls.on_loop == []
    reports = [o for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, FeedbackError) for o in outcomes if o not in reports)
    assert sum(r.updates_written for r in reports) == 2  # once, whoever got there first
    check = twin(server_memory, embeddings)
    assert q_table(check, TASK, "room 0") == {"take coin": (3.0, 1)}  # reward 1 + feedback 2
    assert check.pending_runs() == []


def test_aforget_run_undoes_one_run(server_memory) -> None:
    server_memory.learn(_episode(0))
    server_memory.learn(_episode(1))
    assert asyncio.run(server_memory.aforget_run("run-1")) == 2
    assert q_table(server_memory, TASK, "kitchen") == {"go east": (0.5, 1)}
    assert not server_memory.is_learned("run-1")


def test_a_failed_async_write_leaves_no_half_episode(server_memory) -> None:
    server_memory.learn(_episode(0))
    store = server_memory.store
    server_memory.store = _TableWriteFails(store.client, store.collection_name)
    server_memory.store.armed = True
    with pytest.raises(StorageError, match="injected"):
        asyncio.run(server_memory.alearn(_episode(1)))  # appended, then rolled back, awaited
    assert not server_memory.is_learned("run-1")
    assert server_memory.stats().updates == 2
    assert q_table(server_memory, TASK, "kitchen") == {"go east": (0.5, 1)}
    assert asyncio.run(server_memory.alearn(_episode(1))).updates_written == 2  # a retry works


def test_bad_input_is_refused_before_any_call(server_memory, monkeypatch) -> None:
    calls = StoreCalls(server_memory, monkeypatch)
    with pytest.raises(InvalidInputError, match="k must be"):
        asyncio.run(server_memory.aretrieve(TASK, "kitchen", k=0))
    with pytest.raises(InvalidInputError):
        asyncio.run(server_memory.alearn({"task": TASK, "steps": []}))
    assert calls.most == 0
    asyncio.run(server_memory.aretrieve(TASK, "kitchen"))  # the counter does count calls
    assert calls.most >= 1


def test_an_unreachable_server_is_a_storage_error(chroma_server, embeddings) -> None:
    server = start_chroma_server(chroma_server.path.parent / "short-lived")
    memory = RemembererMemory(client=server.client(), embeddings=embeddings)
    memory.learn(_episode(0))
    stop_chroma_server(server)
    with pytest.raises(StorageError, match="could not"):
        asyncio.run(memory.alearn(_episode(1)))
    with pytest.raises(StorageError, match="could not"):
        asyncio.run(memory.aretrieve(TASK, "kitchen"))


def test_embedded_async_runs_in_threads_and_leaves_the_loop_free(memory) -> None:
    ticks = [0]

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            ticks[0] += 1
            await asyncio.sleep(0)

    async def main():
        stop = asyncio.Event()
        ticking = asyncio.create_task(ticker(stop))
        reports = await asyncio.gather(*(memory.alearn(_episode(n)) for n in range(RUNS)))
        stop.set()
        await ticking
        return reports

    reports = asyncio.run(main())
    assert [r.updates_written for r in reports] == [2] * RUNS
    assert ticks[0] > RUNS  # the loop ran other work while the memory's calls were in threads
    assert q_table(memory, TASK, "kitchen") == {"go east": (memory.rlem.gamma, RUNS)}
