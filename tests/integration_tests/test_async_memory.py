"""The memory's async methods: native on a real `chroma run` server, a worker thread embedded.

Several runs at once on one event loop; on the server every call goes through Chroma's
`AsyncHttpClient` (the sync client is forbidden during those tests) and the results are exactly
those of the sync methods.
"""

from __future__ import annotations

import asyncio

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


def test_a_server_memory_has_an_async_client_an_embedded_one_not(server_memory, memory) -> None:
    assert server_memory.store.async_driver is not None
    assert memory.store.async_driver is None


def test_concurrent_alearn_on_one_loop_is_exact(sync_forbidden, in_flight, embeddings) -> None:
    async def main():
        return await asyncio.gather(*(sync_forbidden.alearn(_episode(n)) for n in range(RUNS)))

    reports = asyncio.run(main())
    assert [r.updates_written for r in reports] == [2] * RUNS
    assert in_flight[1] > 1  # the runs' calls really overlapped on the loop
    check = twin(sync_forbidden, embeddings)  # a sync reader of the same collections
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


def test_delayed_feedback_async_is_learned_exactly_once(sync_forbidden, embeddings) -> None:
    episode = _episode(0)

    async def main():
        await sync_forbidden.asave_pending(episode)
        return await asyncio.gather(
            *(sync_forbidden.alearn_pending("run-0", 2.0) for _ in range(4)),
            return_exceptions=True,
        )

    outcomes = asyncio.run(main())
    reports = [o for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, FeedbackError) for o in outcomes if o not in reports)
    assert sum(r.updates_written for r in reports) == 2  # once, whoever got there first
    check = twin(sync_forbidden, embeddings)
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


def test_bad_input_is_refused_before_any_call(sync_forbidden, in_flight) -> None:
    with pytest.raises(InvalidInputError, match="k must be"):
        asyncio.run(sync_forbidden.aretrieve(TASK, "kitchen", k=0))
    with pytest.raises(InvalidInputError):
        asyncio.run(sync_forbidden.alearn({"task": TASK, "steps": []}))
    assert in_flight[1] == 0


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


class _Counted:
    """A real async Chroma client or collection whose calls in flight are counted."""

    def __init__(self, inner, counts: list[int]) -> None:
        self._inner, self._counts = inner, counts

    def __getattr__(self, name):
        method = getattr(self._inner, name)

        async def counted(*args, **kwargs):
            self._counts[0] += 1
            self._counts[1] = max(self._counts)
            try:
                value = await method(*args, **kwargs)
            finally:
                self._counts[0] -= 1
            return _Counted(value, self._counts) if name == "get_collection" else value

        return counted


def test_calls_in_flight_are_bounded_per_loop(server_memory, monkeypatch) -> None:
    for n in range(3):
        server_memory.learn(_episode(n))
    driver = server_memory.store.async_driver
    driver.max_in_flight = 3
    driver.forget()  # handles are looked up again, through the counting client
    counts = [0, 0]
    ready = type(driver)._client_ready

    async def counting_client(self):
        return _Counted(await ready(self), counts)

    monkeypatch.setattr(type(driver), "_client_ready", counting_client)

    async def main():
        return await asyncio.gather(*(server_memory.aretrieve(TASK, "kitchen") for _ in range(32)))

    results = asyncio.run(main())
    assert all(r == results[0] for r in results)
    assert results[0][0].observation == "kitchen"
    assert counts[1] == 3  # at most 3 at once, and the 32 retrievals did overlap up to it
