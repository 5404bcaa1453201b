"""The storage layout on Chroma: what is read and written, as operations a driver runs (DESIGN §6).

Per namespace there are three collections:

- `<name>.<namespace>.log` — the source of truth: one record per applied update, append-only,
  idempotent (`add` keeps the first record of an id). A constant 1-d vector, since Chroma needs one.
- `<name>.<namespace>.states` — the fast path: one record per state with its composite vector,
  its observation as document and its folded action table as JSON metadata.
- `<name>.<namespace>.pending` — episodes waiting for delayed feedback.

Every method that touches Chroma is an operation: a generator of `Call`s that `store.run` (sync)
or `await store.arun` (native async on a server) performs, see `_chroma.py`. The records are in
`_records.py`, folding and targets in `rlem.py`, the orchestration in `memory.py`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from langchain_rememberer._chroma import (
    CLIENT,
    AsyncDriver,
    Call,
    NamespaceGoneError,
    Steps,
    SyncDriver,
    http_client,
    local_client,
)
from langchain_rememberer._records import LogRecord, StateRecord, complete_runs, stable_id
from langchain_rememberer.errors import EmbeddingDimensionError, InvalidInputError
from langchain_rememberer.similarity import task_similarities

__all__ = [
    "ChromaStore",
    "NamespaceGoneError",
    "check_name",
    "http_client",
    "local_client",
]

T = TypeVar("T")

SCHEMA_VERSION = 1
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9])?$")
_CONSTANT_VECTOR = [1.0]
_PAGE = 2000
_IN_CHUNK = 500


def check_name(value: str, *, what: str) -> str:
    """Reject names Chroma could not use inside a collection name."""
    if not isinstance(value, str) or not _NAME.fullmatch(value) or ".." in value:
        msg = (
            f"{what} {value!r} is not usable: use 1-128 characters of letters, digits, '.', '_' "
            "or '-', starting and ending with a letter or digit, without two '.' in a row"
        )
        raise InvalidInputError(msg)
    return value


@dataclass(frozen=True)
class _Namespace:
    """An opened namespace: its collections' names and the task weight its vectors carry."""

    states: str
    log: str
    pending: str
    task_weight: float


class ChromaStore:
    """Reads and writes the collections of each namespace on one Chroma client.

    Args:
        client: Any Chroma client (embedded, ephemeral, HTTP). An `HttpClient` also gets an
            async twin (`AsyncHttpClient` to the same server) for `arun`.
        collection_name: Prefix of every collection name.
        batch_size: Most records written per Chroma call; a run with more log records than this
            is appended in several calls, and sealed (see `_records`).

    Example:
        ```python
        from langchain_rememberer._store import ChromaStore, local_client

        store = ChromaStore(local_client(None), "example")
        ns = store.run(store.open("default", dim=4, task_weight=0.5))
        assert store.run(store.counts(ns)) == (0, 0, 0)
        ```
    """

    def __init__(
        self, client: Any, collection_name: str = "rememberer", *, batch_size: int = _PAGE
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a whole number of at least 1, got {batch_size!r}"
            raise InvalidInputError(msg)
        self.client = client
        self.collection_name = check_name(collection_name, what="collection_name")
        self.batch_size = batch_size
        self.driver = SyncDriver(client)
        self.async_driver = AsyncDriver.twin_of(client)
        self._namespaces: dict[str, _Namespace] = {}

    def run(self, steps: Steps[T]) -> T:
        """Perform an operation with the sync client."""
        return self.driver.run(steps)

    async def arun(self, steps: Steps[T]) -> T:
        """Perform an operation with the async client (only when `async_driver` is set)."""
        if self.async_driver is None:
            msg = "this store's client has no async twin: run its operations with `run`"
            raise TypeError(msg)
        return await self.async_driver.run(steps)

    def _names(self, namespace: str) -> dict[str, str]:
        check_name(namespace, what="namespace")
        base = f"{self.collection_name}.{namespace}"
        return {kind: f"{base}.{kind}" for kind in ("states", "log", "pending")}

    def open(self, namespace: str, *, dim: int, task_weight: float) -> Steps[_Namespace]:
        """Open (creating if needed) a namespace's collections, checking the stored dimension.

        `dim` is the size of a state vector: twice the size of one text embedding.
        """
        cached = self._namespaces.get(namespace)
        if cached is not None:
            return cached
        names = self._names(namespace)
        states = yield Call(
            CLIENT,
            "get_or_create_collection",
            {
                "name": names["states"],
                "embedding_function": None,
                "metadata": {
                    "hnsw:space": "ip",
                    "rememberer_schema": SCHEMA_VERSION,
                    "rememberer_dim": dim,
                    "rememberer_task_weight": task_weight,
                },
            },
            action=f"open namespace {namespace!r}",
            opens=names["states"],
        )
        for kind in ("log", "pending"):
            yield Call(
                CLIENT,
                "get_or_create_collection",
                {"name": names[kind], "embedding_function": None},
                action=f"open namespace {namespace!r}",
                opens=names[kind],
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
        opened = _Namespace(names["states"], names["log"], names["pending"], stored_weight)
        self._namespaces[namespace] = opened
        return opened

    def forget_open(self) -> None:
        """Drop every cached namespace and handle; the next `open` looks them up again."""
        self._namespaces.clear()
        self.driver.forget()
        if self.async_driver is not None:
            self.async_driver.forget()

    def exists(self, namespace: str) -> Steps[bool]:
        """Whether the namespace has any collection in the database."""
        wanted = self._names(namespace)["states"]
        found = yield Call(CLIENT, "list_collections", action="list collections")
        return any(_collection_name(c) == wanted for c in found)

    def drop(self, namespace: str) -> Steps[None]:
        """Delete every collection of one namespace; other namespaces are untouched.

        Raises:
            StorageError: the store could not be reached (absent collections are fine).
        """
        self._namespaces.pop(namespace, None)
        for name in self._names(namespace).values():
            with contextlib.suppress(NamespaceGoneError):  # never created
                yield Call(
                    CLIENT,
                    "delete_collection",
                    {"name": name},
                    action=f"delete collection {name!r}",
                )
        self.forget_open()  # other namespaces reopen cheaply; no handle of these stays

    # -- states ------------------------------------------------------------------------------

    def get_states(self, ns: _Namespace, ids: Sequence[str]) -> Steps[dict[str, StateRecord]]:
        """Fetch states by id; missing ids are absent from the result."""
        if not ids:
            return {}
        got = yield Call(
            ns.states,
            "get",
            {"ids": list(dict.fromkeys(ids)), "include": ["metadatas", "documents"]},
            action="read states",
        )
        return {
            i: StateRecord.from_chroma(i, m, d)
            for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
        }

    def query_states(
        self, ns: _Namespace, vectors: Sequence[Sequence[float]], n_results: int
    ) -> Steps[list[list[StateRecord]]]:
        """One ANN query per vector (in one round trip), nearest first, with similarities.

        Each candidate's `task_similarity` is its task's cosine with the query's, read from the
        stored vectors (`similarity.task_similarities`).
        """
        got = yield Call(
            ns.states,
            "query",
            {
                "query_embeddings": [list(map(float, v)) for v in vectors],
                "n_results": n_results,
                "include": ["metadatas", "documents", "distances", "embeddings"],
            },
            action="query states",
        )
        rows = zip(
            vectors,
            *(got[key] for key in ("ids", "metadatas", "documents", "distances", "embeddings")),
            strict=True,
        )
        return [
            [
                dataclasses.replace(StateRecord.from_chroma(*record), task_similarity=task)
                for *record, task in zip(
                    ids, metas, docs, dists, task_similarities(vector, stored), strict=True
                )
            ]
            for vector, ids, metas, docs, dists, stored in rows
        ]

    def write_states(
        self, ns: _Namespace, states: Sequence[StateRecord], vectors: Sequence[Sequence[float]]
    ) -> Steps[None]:
        """Upsert states with their composite vectors."""
        size = self.batch_size
        for start in range(0, len(states), size):
            chunk = states[start : start + size]
            yield Call(
                ns.states,
                "upsert",
                {
                    "ids": [s.id for s in chunk],
                    "embeddings": [list(map(float, v)) for v in vectors[start : start + size]],
                    "metadatas": [s.metadata() for s in chunk],
                    "documents": [s.observation for s in chunk],
                },
                action="write states",
            )

    def delete_states(self, ns: _Namespace, ids: Sequence[str]) -> Steps[None]:
        """Delete states by id (`batch_size` per call: Chroma caps a call's size)."""
        for start in range(0, len(ids), self.batch_size):
            chunk = list(ids[start : start + self.batch_size])
            yield Call(ns.states, "delete", {"ids": chunk}, action="delete states")

    def state_ids(self, ns: _Namespace) -> Steps[list[str]]:
        """Every state id of the namespace."""
        rows = yield from self._pages(ns.states, include=[])
        return [i for i, _m, _d in rows]

    def state_count(self, ns: _Namespace) -> Steps[int]:
        """How many states the namespace has (one call, no scan)."""
        count: int = yield Call(ns.states, "count", action="count states")
        return count

    def state_ranks(self, ns: _Namespace) -> Steps[list[tuple[str, int, float]]]:
        """(id, total visits, latest update's time) of every state: what eviction ranks by."""
        rows = yield from self._pages(ns.states)
        return [
            (i, int(m.get("visits") or 0), float(m.get("last_update") or 0.0)) for i, m, _d in rows
        ]

    # -- log ---------------------------------------------------------------------------------

    def append_log(self, ns: _Namespace, records: Sequence[LogRecord]) -> Steps[None]:
        """Append updates; ids already in the log keep their first record (idempotency).

        One Chroma call per `batch_size` records: records of a run longer than that must be
        sealed, so that readers see the run only once all of it is in.
        """
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            yield Call(
                ns.log,
                "add",
                {
                    "ids": [r.id for r in chunk],
                    "embeddings": [_CONSTANT_VECTOR] * len(chunk),
                    "metadatas": [r.metadata() for r in chunk],
                    "documents": [r.observation for r in chunk],
                },
                action="append to the update log",
            )

    def read_log(
        self,
        ns: _Namespace,
        *,
        state_ids: Sequence[str] | None = None,
        run_id: str | None = None,
        complete: bool = True,
    ) -> Steps[list[LogRecord]]:
        """Log records of some states or of one run (both: either), in fold order.

        With `complete` (the default) the records of partial sealed runs are left out. Large
        state sets are read in chunks of `_IN_CHUNK` ids per `$in` filter. A state's read finds
        its snapshots and the updates not compacted (`_compaction`); a run's, all its updates.
        """
        if state_ids is not None:
            unique = list(dict.fromkeys(state_ids))
            wheres: list[dict[str, Any]] = [
                {"state_id": {"$in": unique[i : i + _IN_CHUNK]}}
                for i in range(0, len(unique), _IN_CHUNK)
            ]
            if run_id is not None:  # in the same round trip (the first chunk's)
                wheres[0] = {"$or": [wheres[0], {"run_id": run_id}]}
        elif run_id is not None:
            wheres = [{"run_id": run_id}]
        else:
            msg = "read_log needs state_ids or run_id"
            raise ValueError(msg)
        records = []
        for where in wheres:
            got = yield Call(
                ns.log,
                "get",
                {"where": where, "include": ["metadatas", "documents"]},
                action="read the update log",
            )
            records += [
                LogRecord.from_chroma(i, m, d)
                for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
            ]
        if complete:
            records = yield from self.complete(ns, records)
        return sorted(records, key=lambda r: r.order)

    def complete(self, ns: _Namespace, records: list[LogRecord]) -> Steps[list[LogRecord]]:
        """Leave out records of sealed runs not yet wholly in the log (one count per such run)."""
        sealed = {r.run_id for r in records if r.sealed}
        present = {}
        for run in sealed:
            present[run] = len((yield from self.run_log_refs(ns, run)))
        return complete_runs(records, present) if sealed else records

    def run_log_refs(self, ns: _Namespace, run_id: str) -> Steps[list[tuple[str, str | None]]]:
        """(record id, state id) of every log record of a run, even of malformed records."""
        got = yield Call(
            ns.log,
            "get",
            {"where": {"run_id": run_id}, "include": ["metadatas"]},
            action="read the update log",
        )
        return [
            (i, str(m["state_id"]) if isinstance(m, dict) and "state_id" in m else None)
            for i, m in zip(got["ids"], got["metadatas"], strict=True)
        ]

    def log_ids_present(self, ns: _Namespace, ids: Sequence[str]) -> Steps[set[str]]:
        """Which of `ids` are already in the log."""
        unique = list(dict.fromkeys(ids))
        present: set[str] = set()
        for start in range(0, len(unique), _PAGE):
            got = yield Call(
                ns.log,
                "get",
                {"ids": unique[start : start + _PAGE], "include": []},
                action="read the update log",
            )
            present.update(got["ids"])
        return present

    def all_log(self, ns: _Namespace) -> Steps[list[LogRecord]]:
        """Every log record of the namespace, read page by page (unordered)."""
        rows = yield from self._pages(ns.log, include=["metadatas", "documents"])
        return [LogRecord.from_chroma(i, m, d) for i, m, d in rows]

    def relabel_log(self, ns: _Namespace, records: Sequence[LogRecord]) -> Steps[None]:
        """Rewrite the metadata of records already in the log (compaction's archiving)."""
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            yield Call(
                ns.log,
                "update",
                {"ids": [r.id for r in chunk], "metadatas": [r.metadata() for r in chunk]},
                action="archive compacted updates",
            )

    def delete_log(self, ns: _Namespace, ids: Sequence[str]) -> Steps[None]:
        """Delete log records by id (`batch_size` per call)."""
        for start in range(0, len(ids), self.batch_size):
            chunk = list(ids[start : start + self.batch_size])
            yield Call(ns.log, "delete", {"ids": chunk}, action="delete from the update log")

    # -- pending episodes --------------------------------------------------------------------

    def put_pending(
        self, ns: _Namespace, run_id: str, payload: str, created_at: float
    ) -> Steps[None]:
        """Persist an episode waiting for feedback."""
        yield Call(
            ns.pending,
            "upsert",
            {
                "ids": [stable_id("pending", run_id)],
                "embeddings": [_CONSTANT_VECTOR],
                "metadatas": [{"run_id": run_id, "created_at": created_at}],
                "documents": [payload],
            },
            action="save a pending episode",
        )

    def get_pending(self, ns: _Namespace, run_id: str) -> Steps[str | None]:
        """The saved payload of a pending run, or None."""
        got = yield Call(
            ns.pending,
            "get",
            {"ids": [stable_id("pending", run_id)], "include": ["documents"]},
            action="read a pending episode",
        )
        return got["documents"][0] if got["ids"] else None

    def delete_pending(self, ns: _Namespace, run_id: str) -> Steps[None]:
        """Forget a pending run."""
        yield Call(
            ns.pending,
            "delete",
            {"ids": [stable_id("pending", run_id)]},
            action="delete a pending episode",
        )

    def pending_run_ids(self, ns: _Namespace) -> Steps[list[str]]:
        """Run ids of every pending episode, oldest first."""
        rows = yield from self._pages(ns.pending)
        created = sorted((m["created_at"], m["run_id"]) for _i, m, _d in rows)
        return [run_id for _at, run_id in created]

    # -- helpers -----------------------------------------------------------------------------

    def counts(self, ns: _Namespace) -> Steps[tuple[int, int, int]]:
        """Numbers of states, updates (log records but snapshots) and pending episodes."""
        counted = []
        for name in (ns.states, ns.log, ns.pending):
            counted.append((yield Call(name, "count", action="count records")))
        snapshots = yield Call(
            ns.log,
            "get",
            {"where": {"visits": {"$gt": 0}}, "include": []},
            action="count snapshots",
        )
        return counted[0], counted[1] - len(snapshots["ids"]), counted[2]

    def _pages(
        self, collection: str, include: Sequence[str] = ("metadatas",)
    ) -> Steps[list[tuple[str, Any, Any]]]:
        rows: list[tuple[str, Any, Any]] = []
        while True:
            got = yield Call(
                collection,
                "get",
                {"limit": _PAGE, "offset": len(rows), "include": list(include)},
                action=f"read collection {collection}",
            )
            ids = got["ids"]
            metas = got.get("metadatas") or [None] * len(ids)
            docs = got.get("documents") or [None] * len(ids)
            rows += zip(ids, metas, docs, strict=True)
            if len(ids) < _PAGE:
                return rows


def _collection_name(collection: Any) -> str:
    return collection if isinstance(collection, str) else str(collection.name)
