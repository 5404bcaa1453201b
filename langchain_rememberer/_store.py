"""Chroma storage: the only module that imports `chromadb` (DESIGN §6).

Per namespace there are three collections:

- `<name>.<namespace>.log` — the source of truth: one record per applied update, append-only,
  idempotent (`add` keeps the first record of an id). A constant 1-d vector, since Chroma needs one.
- `<name>.<namespace>.states` — the fast path: one record per state with its composite vector,
  its observation as document and its folded action table as JSON metadata.
- `<name>.<namespace>.pending` — episodes waiting for delayed feedback.

This module does I/O only; the records it reads and writes are in `_records.py`, folding and
targets in `rlem.py`, the orchestration in `memory.py`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import chromadb
import chromadb.errors
import httpx
from chromadb.api import ClientAPI
from chromadb.config import Settings

from langchain_rememberer._records import LogRecord, StateRecord, complete_runs, stable_id
from langchain_rememberer.errors import EmbeddingDimensionError, InvalidInputError, StorageError

__all__ = [
    "ChromaStore",
    "NamespaceGoneError",
    "check_name",
    "http_client",
    "local_client",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")
_CONSTANT_VECTOR = [1.0]
_PAGE = 2000
_IN_CHUNK = 500


class NamespaceGoneError(StorageError):
    """A collection this store had open was deleted meanwhile (e.g. `clear()` elsewhere)."""


def local_client(path: str | Path | None) -> ClientAPI:
    """An embedded client: persistent at `path`, or in memory when `path` is None.

    In-memory clients of one process share one Chroma instance, so each gets a database of its
    own: two `RemembererMemory(path=None)` never see each other's data.
    """
    if path is not None and (not isinstance(path, str | os.PathLike) or not str(path).strip()):
        msg = f"path must be a directory path (str or Path) or None, got {path!r}"
        raise InvalidInputError(msg)
    settings = Settings(anonymized_telemetry=False)
    with _storage_errors(f"open the Chroma database at {path}"):
        if path is None:
            database = f"rememberer-{uuid.uuid4().hex}"
            chromadb.AdminClient(settings).create_database(database)
            return chromadb.EphemeralClient(settings=settings, database=database)
        return chromadb.PersistentClient(path=str(path), settings=settings)


def http_client(host: str = "127.0.0.1", port: int = 8000) -> ClientAPI:
    """A client of a `chroma run` server, for many processes or machines sharing one memory."""
    with _storage_errors(f"connect to the Chroma server at {host}:{port}"):
        try:
            return chromadb.HttpClient(
                host=host, port=port, settings=Settings(anonymized_telemetry=False)
            )
        except ValueError as e:  # the client's own "Could not connect to a Chroma server"
            raise StorageError(
                f"could not connect to the Chroma server at {host}:{port}: {e}"
            ) from e


def check_name(value: str, *, what: str) -> str:
    """Reject names Chroma could not use inside a collection name."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        msg = (
            f"{what} {value!r} is not usable: use 1-128 characters of letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit, without two '.' in a row"
        )
        raise InvalidInputError(msg)
    return value


@dataclass
class _Namespace:
    states: Any
    log: Any
    pending: Any
    task_weight: float


class ChromaStore:
    """Reads and writes the collections of each namespace on one Chroma client.

    Args:
        client: Any Chroma client (embedded, ephemeral, HTTP).
        collection_name: Prefix of every collection name.
        batch_size: Most records written per Chroma call; a run with more log records than this
            is appended in several calls, and sealed (see `_records`).
    """

    def __init__(
        self, client: ClientAPI, collection_name: str = "rememberer", *, batch_size: int = _PAGE
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a whole number of at least 1, got {batch_size!r}"
            raise InvalidInputError(msg)
        self.client = client
        self.collection_name = check_name(collection_name, what="collection_name")
        self.batch_size = batch_size
        self._namespaces: dict[str, _Namespace] = {}

    def _names(self, namespace: str) -> dict[str, str]:
        check_name(namespace, what="namespace")
        base = f"{self.collection_name}.{namespace}"
        return {kind: f"{base}.{kind}" for kind in ("states", "log", "pending")}

    def open(self, namespace: str, *, dim: int, task_weight: float) -> _Namespace:
        """Open (creating if needed) a namespace's collections, checking the stored dimension.

        `dim` is the size of a state vector: twice the size of one text embedding.
        """
        cached = self._namespaces.get(namespace)
        if cached is not None:
            return cached
        names = self._names(namespace)
        with _storage_errors(f"open namespace {namespace!r}"):
            states = self.client.get_or_create_collection(
                names["states"],
                embedding_function=None,
                metadata={
                    "hnsw:space": "ip",
                    "rememberer_schema": SCHEMA_VERSION,
                    "rememberer_dim": dim,
                    "rememberer_task_weight": task_weight,
                },
            )
            log = self.client.get_or_create_collection(names["log"], embedding_function=None)
            pending = self.client.get_or_create_collection(
                names["pending"], embedding_function=None
            )
        meta = states.metadata or {}
        stored_dim = meta.get("rememberer_dim")
        if stored_dim is not None and int(stored_dim) != dim:
            # A state vector holds two embeddings (task, observation): report embedding sizes.
            msg = (
                f"namespace {namespace!r} of collection {names['states']!r} was written with "
                f"{int(stored_dim) // 2}-d embeddings, but the current embeddings give "
                f"{dim // 2}-d; use the same embeddings as when it was written, or another "
                "namespace or collection_name"
            )
            raise EmbeddingDimensionError(msg)
        stored_weight = float(meta.get("rememberer_task_weight", task_weight))
        opened = _Namespace(states, log, pending, stored_weight)
        self._namespaces[namespace] = opened
        return opened

    def forget_open(self) -> None:
        """Drop every cached collection handle; the next `open` looks them up again."""
        self._namespaces.clear()

    def exists(self, namespace: str) -> bool:
        """Whether the namespace has any collection in the database."""
        wanted = self._names(namespace)["states"]
        with _storage_errors("list collections"):
            return any(_collection_name(c) == wanted for c in self.client.list_collections())

    def drop(self, namespace: str) -> None:
        """Delete every collection of one namespace; other namespaces are untouched.

        Raises:
            StorageError: the store could not be reached (absent collections are fine).
        """
        self._namespaces.pop(namespace, None)
        for name in self._names(namespace).values():
            never_created = contextlib.suppress(chromadb.errors.NotFoundError)
            with _storage_errors(f"delete collection {name!r}"), never_created:
                self.client.delete_collection(name)

    # -- states ------------------------------------------------------------------------------

    def get_states(self, ns: _Namespace, ids: Sequence[str]) -> dict[str, StateRecord]:
        """Fetch states by id; missing ids are absent from the result."""
        if not ids:
            return {}
        with _storage_errors("read states"):
            got = ns.states.get(ids=list(dict.fromkeys(ids)), include=["metadatas", "documents"])
        return {
            i: StateRecord.from_chroma(i, m, d)
            for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
        }

    def query_states(
        self, ns: _Namespace, vectors: Sequence[Sequence[float]], n_results: int
    ) -> list[list[StateRecord]]:
        """One ANN query per vector (in one round trip), nearest first, with similarities."""
        with _storage_errors("query states"):
            got = ns.states.query(
                query_embeddings=[list(map(float, v)) for v in vectors],
                n_results=n_results,
                include=["metadatas", "documents", "distances"],
            )
        return [
            [
                StateRecord.from_chroma(i, m, d, dist)
                for i, m, d, dist in zip(ids, metas, docs, dists, strict=True)
            ]
            for ids, metas, docs, dists in zip(
                got["ids"], got["metadatas"], got["documents"], got["distances"], strict=True
            )
        ]

    def write_states(
        self, ns: _Namespace, states: Sequence[StateRecord], vectors: Sequence[Sequence[float]]
    ) -> None:
        """Upsert states with their composite vectors."""
        size = self.batch_size
        for start in range(0, len(states), size):
            chunk = states[start : start + size]
            with _storage_errors("write states"):
                ns.states.upsert(
                    ids=[s.id for s in chunk],
                    embeddings=[list(map(float, v)) for v in vectors[start : start + size]],
                    metadatas=[s.metadata() for s in chunk],
                    documents=[s.observation for s in chunk],
                )

    def delete_states(self, ns: _Namespace, ids: Sequence[str]) -> None:
        """Delete states by id."""
        if ids:
            with _storage_errors("delete states"):
                ns.states.delete(ids=list(ids))

    def state_ids(self, ns: _Namespace) -> list[str]:
        """Every state id of the namespace."""
        return [i for i, _m, _d in self._pages(ns.states, include=[])]

    # -- log ---------------------------------------------------------------------------------

    def append_log(self, ns: _Namespace, records: Sequence[LogRecord]) -> None:
        """Append updates; ids already in the log keep their first record (idempotency).

        One Chroma call per `batch_size` records: records of a run longer than that must be
        sealed, so that readers see the run only once all of it is in.
        """
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            with _storage_errors("append to the update log"):
                ns.log.add(
                    ids=[r.id for r in chunk],
                    embeddings=[_CONSTANT_VECTOR] * len(chunk),
                    metadatas=[r.metadata() for r in chunk],
                    documents=[r.observation for r in chunk],
                )

    def read_log(
        self,
        ns: _Namespace,
        *,
        state_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        complete: bool = True,
    ) -> list[LogRecord]:
        """Log records of some states or of one run, in fold order.

        With `complete` (the default) the records of partial sealed runs are left out. Large
        state sets are read in chunks of `_IN_CHUNK` ids per `$in` filter.
        """
        if state_ids is not None:
            unique = list(dict.fromkeys(state_ids))
            wheres: list[dict[str, Any]] = [
                {"state_id": {"$in": unique[i : i + _IN_CHUNK]}}
                for i in range(0, len(unique), _IN_CHUNK)
            ]
        elif run_id is not None:
            wheres = [{"run_id": run_id}]
        else:
            msg = "read_log needs state_ids or run_id"
            raise ValueError(msg)
        records = []
        for where in wheres:
            with _storage_errors("read the update log"):
                got = ns.log.get(where=where, include=["metadatas", "documents"])
            records += [
                LogRecord.from_chroma(i, m, d)
                for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
            ]
        if complete:
            records = self.complete(ns, records)
        return sorted(records, key=lambda r: r.order)

    def complete(self, ns: _Namespace, records: list[LogRecord]) -> list[LogRecord]:
        """Leave out records of sealed runs not yet wholly in the log (one count per such run)."""
        sealed = {r.run_id for r in records if r.sealed}
        if not sealed:
            return records
        present = {run: len(self.run_log_refs(ns, run)) for run in sealed}
        return complete_runs(records, present)

    def run_log_refs(self, ns: _Namespace, run_id: str) -> list[tuple[str, str | None]]:
        """(record id, state id) of every log record of a run, even of malformed records."""
        with _storage_errors("read the update log"):
            got = ns.log.get(where={"run_id": run_id}, include=["metadatas"])
        return [
            (i, str(m["state_id"]) if isinstance(m, dict) and "state_id" in m else None)
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
        ]

    def log_ids_present(self, ns: _Namespace, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are already in the log."""
        unique = list(dict.fromkeys(ids))
        present: set[str] = set()
        for start in range(0, len(unique), _PAGE):
            with _storage_errors("read the update log"):
                got = ns.log.get(ids=unique[start : start + _PAGE], include=[])
            present.update(got["ids"])
        return present

    def iter_log(self, ns: _Namespace) -> Iterator[LogRecord]:
        """Every log record of the namespace, page by page (unordered)."""
        for i, m, d in self._pages(ns.log, include=["metadatas", "documents"]):
            yield LogRecord.from_chroma(i, m, d)

    def delete_log(self, ns: _Namespace, ids: Sequence[str]) -> None:
        """Delete log records by id."""
        if ids:
            with _storage_errors("delete from the update log"):
                ns.log.delete(ids=list(ids))

    # -- pending episodes --------------------------------------------------------------------

    def put_pending(self, ns: _Namespace, run_id: str, payload: str, created_at: float) -> None:
        """Persist an episode waiting for feedback."""
        with _storage_errors("save a pending episode"):
            ns.pending.upsert(
                ids=[stable_id("pending", run_id)],
                embeddings=[_CONSTANT_VECTOR],
                metadatas=[{"run_id": run_id, "created_at": created_at}],
                documents=[payload],
            )

    def get_pending(self, ns: _Namespace, run_id: str) -> str | None:
        """The saved payload of a pending run, or None."""
        with _storage_errors("read a pending episode"):
            got = ns.pending.get(ids=[stable_id("pending", run_id)], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    def delete_pending(self, ns: _Namespace, run_id: str) -> None:
        """Forget a pending run."""
        with _storage_errors("delete a pending episode"):
            ns.pending.delete(ids=[stable_id("pending", run_id)])

    def pending_run_ids(self, ns: _Namespace) -> list[str]:
        """Run ids of every pending episode, oldest first."""
        rows = [(m["created_at"], m["run_id"]) for _i, m, _d in self._pages(ns.pending)]
        return [run_id for _created, run_id in sorted(rows)]

    # -- helpers -----------------------------------------------------------------------------

    def counts(self, ns: _Namespace) -> tuple[int, int, int]:
        """Numbers of states, log records and pending episodes."""
        with _storage_errors("count records"):
            return ns.states.count(), ns.log.count(), ns.pending.count()

    def _pages(
        self, collection: Any, include: Sequence[str] = ("metadatas",)
    ) -> Iterator[tuple[str, Any, Any]]:
        offset = 0
        while True:
            with _storage_errors(f"read collection {collection.name}"):
                got = collection.get(limit=_PAGE, offset=offset, include=list(include))
            ids = got["ids"]
            metas = got.get("metadatas") or [None] * len(ids)
            docs = got.get("documents") or [None] * len(ids)
            yield from zip(ids, metas, docs, strict=True)
            if len(ids) < _PAGE:
                return
            offset += len(ids)


def _collection_name(collection: Any) -> str:
    return collection if isinstance(collection, str) else str(collection.name)


_STORAGE_FAILURES = (chromadb.errors.ChromaError, httpx.HTTPError, OSError)
"""What Chroma and the network raise: Chroma's own errors, HTTP transport errors, and OS errors
(connections refused or reset, disks full or read-only). Anything else is a bug and propagates."""


@contextlib.contextmanager
def _storage_errors(action: str) -> Iterator[None]:
    """Turn Chroma and network failures into `StorageError`s naming what was attempted.

    Failures are told apart by type, never by message text. A vector of the wrong size cannot
    reach Chroma: `open` compares the namespace's stored dimension first.
    """
    try:
        yield
    except chromadb.errors.NotFoundError as e:
        msg = f"could not {action}: a collection was deleted meanwhile ({e})"
        raise NamespaceGoneError(msg) from e
    except _STORAGE_FAILURES as e:
        msg = f"could not {action}: {type(e).__name__}: {e}"
        raise StorageError(msg) from e
