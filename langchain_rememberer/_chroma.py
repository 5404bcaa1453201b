"""Chroma clients, and the drivers that run the store's calls on them: sync, or native async.

The store's operations (`_store.py`) and everything built on them (`_folding.py`, the memory)
are generators of `Call`s: they say which Chroma (or embedding) call they need next and get its
result back, without doing any I/O themselves. A driver performs the calls:

- `SyncDriver` on a sync client (embedded, in memory, or `HttpClient`), on the calling thread;
- `AsyncDriver` on Chroma's `AsyncHttpClient`, awaiting every call on the event loop. Chroma
  has no async *embedded* client, so a memory on a local path runs its async methods through
  `SyncDriver` in a worker thread instead (`RemembererMemory.aretrieve` and the others).

One logic, two ways to run it: an async `learn` is the same generator as a sync `learn`.
This is the only module that imports `chromadb`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
import weakref
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

import chromadb
import chromadb.errors
import httpx
from chromadb.api import AsyncClientAPI, ClientAPI
from chromadb.config import Settings

from langchain_rememberer.errors import InvalidInputError, StorageError

__all__ = [
    "CLIENT",
    "AsyncDriver",
    "Call",
    "NamespaceGoneError",
    "Stepper",
    "Steps",
    "SyncDriver",
    "http_client",
    "local_client",
    "storage_errors",
]

T = TypeVar("T")

MAX_IN_FLIGHT = 8
"""Chroma calls an `AsyncDriver` awaits at once per event loop (see `AsyncDriver`)."""

CLIENT = "<client>"
"""`Call.target` for a call on the Chroma client itself (open, list or delete collections)."""


@dataclass(frozen=True)
class Call:
    """One call an operation needs: `target.method(**kwargs)`, run by a driver.

    Args:
        target: A collection name (the driver looks up its handle), `CLIENT`, or any other
            object (e.g. the `Embeddings`), whose async twin is the method named `a<method>`.
        method: The method to call.
        kwargs: Its keyword arguments.
        action: What is attempted, for the `StorageError` if it fails ("read states").
        opens: For client calls returning a collection: keep its handle under this name.

    Example:
        ```python
        from langchain_rememberer._chroma import CLIENT, Call

        call = Call(CLIENT, "list_collections", {}, action="list collections")
        assert call.opens is None
        ```
    """

    target: Any
    method: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    action: str = ""
    opens: str | None = None


Steps: TypeAlias = Generator[Call, Any, T]
"""An operation: yields the calls it needs, receives their results, returns its value."""


class NamespaceGoneError(StorageError):
    """A collection this store had open was deleted meanwhile (e.g. `clear()` elsewhere)."""


_STORAGE_FAILURES = (chromadb.errors.ChromaError, httpx.HTTPError, OSError)
"""What Chroma and the network raise: Chroma's own errors, HTTP transport errors, and OS errors
(connections refused or reset, disks full or read-only). Anything else is a bug and propagates."""


def _as_storage_error(action: str, error: BaseException) -> BaseException:
    """The `StorageError` a Chroma or network failure becomes; anything else is returned as is.

    Failures are told apart by type, never by message text.
    """
    if isinstance(error, chromadb.errors.NotFoundError):
        gone = NamespaceGoneError(
            f"could not {action}: a collection was deleted meanwhile ({error})"
        )
        gone.__cause__ = error
        return gone
    if isinstance(error, _STORAGE_FAILURES):
        failed = StorageError(f"could not {action}: {type(error).__name__}: {error}")
        failed.__cause__ = error
        return failed
    return error


@contextlib.contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn Chroma and network failures inside the block into `StorageError`s naming `action`."""
    try:
        yield
    except BaseException as e:
        converted = _as_storage_error(action, e)
        if converted is e:
            raise
        raise converted from e


class Stepper:
    """Drives one generator: sends each yielded step's result in (or throws its error).

    The drivers here step operations (their steps are `Call`s); the adapters step their
    run-end logic with it too (`adapters._learning`, whose steps are effects).
    """

    def __init__(self, steps: Generator[Any, Any, Any]) -> None:
        self.steps = steps
        self.value: Any = None
        self.error: BaseException | None = None
        self.result: Any = None

    def next_call(self) -> Any:
        """The next step the generator yields; None once it returned (its value: `result`)."""
        try:
            if self.error is not None:
                call = self.steps.throw(self.error)
            else:
                call = self.steps.send(self.value)
        except StopIteration as done:
            self.result = done.value
            return None
        self.value, self.error = None, None
        return call

    def failed(self, call: Call, error: BaseException) -> None:
        """The call raised: the operation gets the error next (and may undo what it did).

        Chroma's and the network's failures become `StorageError`s; other targets' errors
        (the embeddings') pass unchanged.
        """
        self.error = (
            _as_storage_error(call.action, error) if isinstance(call.target, str) else error
        )


class SyncDriver:
    """Runs operations on a sync Chroma client, on the calling thread.

    Example:
        ```python
        from langchain_rememberer._chroma import CLIENT, Call, SyncDriver, local_client


        def count_collections():
            found = yield Call(CLIENT, "list_collections", action="list collections")
            return len(found)


        assert SyncDriver(local_client(None)).run(count_collections()) == 0
        ```
    """

    def __init__(self, client: ClientAPI) -> None:
        self.client = client
        self._handles: dict[str, Any] = {}

    def forget(self) -> None:
        """Drop every cached collection handle; the next call looks it up again."""
        self._handles.clear()

    def run(self, steps: Steps[T]) -> T:
        """Perform the calls of `steps` until it returns; its errors propagate."""
        stepper = Stepper(steps)
        while (call := stepper.next_call()) is not None:
            try:
                stepper.value = self._perform(call)
            except BaseException as e:
                stepper.failed(call, e)
        return stepper.result  # type: ignore[no-any-return]

    def _perform(self, call: Call) -> Any:
        if not isinstance(call.target, str):  # e.g. the embeddings
            return getattr(call.target, call.method)(**call.kwargs)
        if call.target == CLIENT:
            value = getattr(self.client, call.method)(**call.kwargs)
            if call.opens is not None:
                self._handles[call.opens] = value
            return value
        return getattr(self.handle(call.target), call.method)(**call.kwargs)

    def handle(self, name: str) -> Any:
        """The client's handle of collection `name` (looked up once, then cached)."""
        handle = self._handles.get(name)
        if handle is None:
            handle = self.client.get_collection(name, embedding_function=None)
            self._handles[name] = handle
        return handle


class AsyncDriver:
    """Runs operations on Chroma's `AsyncHttpClient`, awaiting each call on the event loop.

    Args:
        connect: Makes the async client (awaited once, on first use).
        max_in_flight: Chroma calls awaited at once per event loop; the others wait their turn.
            Unbounded, 64 retrievals at once open 64 connections and took 5x as long as
            through 6 threads (`benchmarks/async_retrieval.py`); 8 beat the threads.

    Example:
        ```python
        import asyncio

        from langchain_rememberer._chroma import AsyncDriver


        def nothing_to_do():
            return "done"
            yield  # a generator without calls


        driver = AsyncDriver(connect=lambda: asyncio.sleep(0))
        assert asyncio.run(driver.run(nothing_to_do())) == "done"
        ```
    """

    def __init__(
        self, connect: Callable[[], Awaitable[Any]], *, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self._connect = connect
        self._client: Any = None
        self._handles: dict[str, Any] = {}
        self.max_in_flight = max_in_flight
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]
        self._gates = weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        """This event loop's bound on the calls in flight (a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.max_in_flight)
        return gate

    def forget(self) -> None:
        """Drop every cached collection handle; the next call looks it up again."""
        self._handles.clear()

    async def run(self, steps: Steps[T]) -> T:
        """Perform the calls of `steps` until it returns; its errors propagate."""
        stepper = Stepper(steps)
        while (call := stepper.next_call()) is not None:
            try:
                stepper.value = await self._perform(call)
            except BaseException as e:
                stepper.failed(call, e)
        return stepper.result  # type: ignore[no-any-return]

    async def _perform(self, call: Call) -> Any:
        if not isinstance(call.target, str):  # e.g. the embeddings: their async twin if any
            twin = getattr(call.target, f"a{call.method}", None)
            if twin is None:  # not a LangChain `Embeddings` (no async twin): off the loop
                return await asyncio.to_thread(getattr(call.target, call.method), **call.kwargs)
            return await twin(**call.kwargs)
        async with self._gate():
            client = await self._client_ready()
            if call.target == CLIENT:
                value = await getattr(client, call.method)(**call.kwargs)
                if call.opens is not None:
                    self._handles[call.opens] = value
                return value
            handle = self._handles.get(call.target)
            if handle is None:
                handle = await client.get_collection(call.target, embedding_function=None)
                self._handles[call.target] = handle
            return await getattr(handle, call.method)(**call.kwargs)

    async def _client_ready(self) -> Any:
        if self._client is None:
            self._client = await self._connect()
        return self._client

    @classmethod
    def twin_of(cls, client: Any) -> AsyncDriver | None:
        """An async driver on the same server as the sync `HttpClient` `client`; else None.

        Host, port, SSL, headers, tenant and database are those of `client`.
        """
        try:
            settings = client.get_settings()
            is_http = settings.chroma_api_impl == "chromadb.api.fastapi.FastAPI"
        except Exception:  # not a Chroma client we know how to read
            return None
        if not is_http:
            return None

        async def connect() -> AsyncClientAPI:
            with storage_errors(f"connect to the Chroma server at {settings.chroma_server_host}"):
                return await chromadb.AsyncHttpClient(
                    host=str(settings.chroma_server_host),
                    port=int(settings.chroma_server_http_port or 8000),
                    ssl=bool(settings.chroma_server_ssl_enabled),
                    headers=settings.chroma_server_headers,
                    settings=Settings(anonymized_telemetry=False),
                    tenant=client.tenant,
                    database=client.database,
                )

        return cls(connect)


# -- clients -----------------------------------------------------------------------------------


def local_client(path: str | Path | None) -> ClientAPI:
    """An embedded client: persistent at `path`, or in memory when `path` is None.

    In-memory clients of one process share one Chroma instance, so each gets a database of its
    own: two `RemembererMemory(path=None)` never see each other's data.
    """
    if path is not None and (not isinstance(path, str | os.PathLike) or not str(path).strip()):
        msg = f"path must be a directory path (str or Path) or None, got {path!r}"
        raise InvalidInputError(msg)
    settings = Settings(anonymized_telemetry=False)
    with storage_errors(f"open the Chroma database at {path}"):
        if path is None:
            database = f"rememberer-{uuid.uuid4().hex}"
            chromadb.AdminClient(settings).create_database(database)
            return chromadb.EphemeralClient(settings=settings, database=database)
        return chromadb.PersistentClient(path=str(path), settings=settings)


def http_client(host: str = "127.0.0.1", port: int = 8000) -> ClientAPI:
    """A client of a `chroma run` server, for many processes or machines sharing one memory."""
    with storage_errors(f"connect to the Chroma server at {host}:{port}"):
        try:
            return chromadb.HttpClient(
                host=host, port=port, settings=Settings(anonymized_telemetry=False)
            )
        except ValueError as e:  # the client's own "Could not connect to a Chroma server"
            raise StorageError(
                f"could not connect to the Chroma server at {host}:{port}: {e}"
            ) from e
