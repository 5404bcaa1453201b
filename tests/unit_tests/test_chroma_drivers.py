"""The drivers (`_chroma`): one operation, run sync or awaited, errors thrown back into it."""

from __future__ import annotations

import asyncio

import pytest

from langchain_rememberer import StorageError
from langchain_rememberer._chroma import (
    CLIENT,
    AsyncDriver,
    Call,
    NamespaceGoneError,
    SyncDriver,
    local_client,
)


class Adder:
    """A plain target with a sync method and its async twin, as `Embeddings` have."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def add(self, a: int, b: int) -> int:
        self.seen.append(a + b)
        return a + b

    async def aadd(self, a: int, b: int) -> int:
        await asyncio.sleep(0)
        self.seen.append(-(a + b))  # tells the async twin's calls apart
        return a + b

    def fail(self) -> None:
        msg = "not a storage failure"
        raise ValueError(msg)

    async def afail(self) -> None:
        self.fail()


def _sum_twice(adder: Adder):
    first = yield Call(adder, "add", {"a": 1, "b": 2})
    second = yield Call(adder, "add", {"a": first, "b": 10})
    return second


def test_the_same_operation_runs_sync_and_async() -> None:
    adder = Adder()
    assert SyncDriver(client=None).run(_sum_twice(adder)) == 13
    assert asyncio.run(AsyncDriver(connect=_no_client).run(_sum_twice(adder))) == 13
    assert adder.seen == [3, 13, -3, -13]


async def _no_client():
    msg = "no Chroma call was expected"
    raise AssertionError(msg)


def _read_a_collection_then_undo(log: list[str]):
    try:
        yield Call("absent.collection", "get", {}, action="read the absent collection")
    except StorageError as e:
        log.append(type(e).__name__)
        yield Call(CLIENT, "list_collections", action="list collections")  # the undo's call
        raise


def test_a_chroma_failure_is_thrown_into_the_operation_as_a_storage_error() -> None:
    log: list[str] = []
    driver = SyncDriver(local_client(None))
    with pytest.raises(NamespaceGoneError, match="could not read the absent collection"):
        driver.run(_read_a_collection_then_undo(log))
    assert log == ["NamespaceGoneError"]  # the operation saw it and ran its undo call


def _fails(adder: Adder):
    yield Call(adder, "fail")


def test_other_targets_errors_pass_unchanged() -> None:
    with pytest.raises(ValueError, match="not a storage failure"):
        SyncDriver(client=None).run(_fails(Adder()))
    with pytest.raises(ValueError, match="not a storage failure"):
        asyncio.run(AsyncDriver(connect=_no_client).run(_fails(Adder())))


def test_an_http_client_has_an_async_twin_others_do_not() -> None:
    assert AsyncDriver.twin_of(local_client(None)) is None
    assert AsyncDriver.twin_of(object()) is None
