"""Chroma clients, and Chroma's failures as `StorageError`s: the only module importing `chromadb`.

The store (`_store.py`) calls Chroma directly, synchronously, each call inside
`storage_errors(...)`. The async twins of the memory's methods run the same sync code in a worker
thread: measured on a `chroma run` server, Chroma's native async client was no faster
(DESIGN §6, `benchmarks/async_retrieval.py`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import chromadb
import chromadb.errors
import httpx
from chromadb.api import ClientAPI
from chromadb.config import Settings

from langchain_rememberer.errors import InvalidInputError, StorageError

__all__ = [
    "NamespaceGoneError",
    "http_client",
    "local_client",
    "storage_errors",
]


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
                f"could not connect to the Chroma server at {host}:{port}: {e} Start one with "
                f"`chroma run --path ./db --host {host} --port {port}`, or check the host and "
                "port; nothing was retried"
            ) from e
