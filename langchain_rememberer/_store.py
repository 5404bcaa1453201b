"""The storage layout on Chroma: what is read and written, by id or by the vector query (DESIGN §6).

Per namespace there are three collections:

- `<name>.<namespace>.states` — one row per state (`_records.Row`): its composite vector, its
  observation key as document, its folded table and pending slots as metadata. Read by id and
  by the vector query.
- `<name>.<namespace>.log` — run, slot and done records (`_records`), by id only on the learn
  and retrieve paths; a constant 1-d vector, since Chroma needs one. `add` keeps the first record
  of an id: that is the one primitive every writer agrees on.
- `<name>.<namespace>.pending` — episodes waiting for delayed feedback.

Every method is a plain synchronous Chroma call (or a few), inside `storage_errors`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from langchain_rememberer._batching import Combiner
from langchain_rememberer._chroma import (
    NamespaceGoneError,
    http_client,
    local_client,
    storage_errors,
)
from langchain_rememberer._records import stable_id
from langchain_rememberer._rows import Row
from langchain_rememberer.errors import EmbeddingDimensionError, InvalidInputError
from langchain_rememberer.types import check_name

__all__ = [
    "ChromaStore",
    "NamespaceGoneError",
    "check_name",
    "http_client",
    "local_client",
]

SCHEMA_VERSION = 2
_CONSTANT_VECTOR = [1.0]
_BODY = "body"
"""The metadata key a log record's body was kept under in 0.2 (read still)."""
_PACKED = "rec"
"""The metadata key a log record is kept under: its other metadata as JSON, a newline, its
body. Chroma indexes documents for full-text search (an `add` of 256 records of 3,000
characters: 3.0 ms a record as documents, 0.7 as metadata) and writes every metadata key as a
row of its own, indexed (16 records of 4 keys: 27 ms an `add`, of 2 keys 19 ms; chromadb
1.5.9, embedded): log records are read by id, so a record is one key beside the keys a `where`
names (`_WHERE_KEYS`), and no document."""
_WHERE_KEYS = ("kind", "nonce", "by")
"""The metadata keys a log `where` filters on (`log_of_kind`, `delete_log_if`): kept as keys."""


def _merged(rows: Iterable[Row]) -> dict[str, tuple[dict[str, Any], str]]:
    """Rows' Chroma metadata and documents, for one call.

    Of two writes of one row, the later's keys win and the earlier's other keys stay, as two
    calls would leave them (a row's intents are keys of their own).
    """
    merged: dict[str, tuple[dict[str, Any], str]] = {}
    for row in rows:
        meta, document = row.chroma()
        earlier = merged[row.id][0] if row.id in merged else {}
        merged[row.id] = ({**earlier, **meta}, document)
    return merged


def _packed(metadata: Mapping[str, Any], body: str) -> dict[str, Any]:
    """A log record's Chroma metadata: its `where` keys, and the rest packed with its body."""
    rest = {k: v for k, v in metadata.items() if k not in _WHERE_KEYS}
    packed = json.dumps(rest, ensure_ascii=False, separators=(",", ":")) + "\n" + body
    return {**{k: metadata[k] for k in _WHERE_KEYS if k in metadata}, _PACKED: packed}


def _unpacked(metadata: Any, document: str | None) -> tuple[Any, str]:
    """(metadata, body) of a log record as stored.

    Earlier layouts read too: each key apart with the body under `_BODY`, and before that the
    body as a document.
    """
    if isinstance(metadata, dict) and _PACKED in metadata:
        meta = dict(metadata)
        head, _, body = str(meta.pop(_PACKED) or "").partition("\n")
        try:
            rest = json.loads(head)
        except ValueError:
            rest = None
        if isinstance(rest, dict):  # else the caller finds its keys missing: malformed
            meta.update(rest)
        return meta, body
    if isinstance(metadata, dict) and _BODY in metadata:
        meta = dict(metadata)
        return meta, str(meta.pop(_BODY) or "")
    return metadata, document or ""


_PAGE = 2000
KINDS = ("states", "log", "pending")

Record = tuple[str, Mapping[str, Any], str]
"""A log record as written: (id, metadata, document)."""


@dataclass(frozen=True)
class Namespace:
    """An opened namespace: its collections and the task weight its vectors carry."""

    name: str
    states: Any
    log: Any
    pending: Any
    task_weight: float
    combiners: dict[str, Combiner[Any, Any]] = field(
        default_factory=dict, compare=False, init=False, repr=False
    )
    """Group commit (`_batching`): one combiner per kind of call, made on first use."""


class ChromaStore:
    """Reads and writes the collections of each namespace on one Chroma client.

    Args:
        client: Any Chroma client (embedded, ephemeral, HTTP).
        collection_name: Prefix of every collection name.
        batch_size: Most records written or read per Chroma call.

    Example:
        ```python
        from langchain_rememberer._store import ChromaStore, local_client

        store = ChromaStore(local_client(None), "example")
        ns = store.open("default", dim=4, task_weight=0.5)
        assert store.counts(ns) == (0, 0, 0)
        ```
    """

    def __init__(
        self, client: Any, collection_name: str = "rememberer", *, batch_size: int = _PAGE
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            msg = f"batch_size must be a whole number of at least 1, got {batch_size!r}"
            raise InvalidInputError(msg)
        self.client = client
        self.collection_name = check_name(collection_name, what="collection_name", dots=False)
        self.batch_size = batch_size
        self._namespaces: dict[str, Namespace] = {}
        self._lock = threading.Lock()

    def _combined(self, ns: Namespace, kind: str, run: Any, payload: Any) -> Any:
        """`payload` run in the namespace's next batch of `kind` calls (group commit)."""
        combiner = ns.combiners.get(kind)
        if combiner is None:
            with self._lock:
                combiner = ns.combiners.setdefault(kind, Combiner(lambda batch: run(ns, batch)))
        return combiner.submit(payload)

    def names(self, namespace: str) -> dict[str, str]:
        """The collection names of a namespace, by kind."""
        check_name(namespace, what="namespace")
        base = f"{self.collection_name}.{namespace}"
        return {kind: f"{base}.{kind}" for kind in KINDS}

    def open(self, namespace: str, *, dim: int, task_weight: float) -> Namespace:
        """Open (creating if needed) a namespace's collections, checking the stored dimension.

        `dim` is the size of a state vector: twice the size of one text embedding.
        """
        cached = self._namespaces.get(namespace)
        if cached is not None:
            return cached
        names = self.names(namespace)
        with storage_errors(f"open namespace {namespace!r}"):
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
            msg = (
                f"namespace {namespace!r} of collection {names['states']!r} was written with "
                f"{int(stored_dim) // 2}-d embeddings, but the current embeddings give "
                f"{dim // 2}-d; use the same embeddings as when it was written, or another "
                "namespace or collection_name"
            )
            raise EmbeddingDimensionError(msg)
        schema = int(meta.get("rememberer_schema", SCHEMA_VERSION))
        if schema != SCHEMA_VERSION:
            msg = (
                f"namespace {namespace!r} was written by an older version of langchain-rememberer "
                f"(storage schema {schema}); upgrade it once with this version: `rememberer "
                f"migrate --namespace {namespace}` (or `memory.migrate({namespace!r})`)"
            )
            raise InvalidInputError(msg)
        weight = float(meta.get("rememberer_task_weight", task_weight))
        opened = Namespace(namespace, states, log, pending, weight)
        self._namespaces[namespace] = opened
        return opened

    def record_settings(self, ns: Namespace, settings: Mapping[str, str | int | float]) -> None:
        """Keep `settings` (`rememberer_*` keys) in the states collection's metadata.

        Written only when they differ from what is recorded (so once per namespace and memory).
        The other metadata is kept; the distance space stays, as it is the collection's
        configuration, which `modify` leaves alone (Chroma refuses `hnsw:` keys there).
        """
        meta = dict(ns.states.metadata or {})
        if all(meta.get(key) == value for key, value in settings.items()):
            return
        kept = {k: v for k, v in meta.items() if not k.startswith("hnsw:")}
        with storage_errors(f"record the settings of namespace {ns.name!r}"):
            ns.states.modify(metadata=kept | dict(settings))

    def forget_open(self) -> None:
        """Drop every cached namespace handle; the next `open` looks them up again."""
        self._namespaces.clear()

    def collection_names(self) -> list[str]:
        """The names of every collection of the database (all prefixes), sorted."""
        with storage_errors("list collections"):
            found = self.client.list_collections()
        return sorted(c if isinstance(c, str) else str(c.name) for c in found)

    def exists(self, namespace: str) -> bool:
        """Whether the namespace has any collection in the database."""
        wanted = self.names(namespace)["states"]
        with storage_errors("list collections"):
            found = self.client.list_collections()
        return any((c if isinstance(c, str) else c.name) == wanted for c in found)

    def drop(self, namespace: str) -> None:
        """Delete every collection of one namespace; other namespaces are untouched."""
        self._namespaces.pop(namespace, None)
        for name in self.names(namespace).values():
            with contextlib.suppress(NamespaceGoneError), storage_errors(f"delete {name!r}"):
                self.client.delete_collection(name)
        self.forget_open()

    # -- rows --------------------------------------------------------------------------------

    def get_rows(self, ns: Namespace, ids: Sequence[str]) -> dict[str, Row]:
        """Rows by id; missing ids are absent from the result (concurrent reads share a call)."""
        if not ids:
            return {}
        return dict(self._combined(ns, "get_rows", self._get_rows_batch, list(ids)))

    def _get_rows_batch(self, ns: Namespace, batch: Sequence[list[str]]) -> list[dict[str, Row]]:
        found = self._get_rows_now(ns, [i for ids in batch for i in ids])
        return [{i: found[i] for i in ids if i in found} for ids in batch]

    def _get_rows_now(self, ns: Namespace, ids: Sequence[str]) -> dict[str, Row]:
        rows: dict[str, Row] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), self.batch_size):
            with storage_errors("read states"):
                got = ns.states.get(
                    ids=unique[start : start + self.batch_size],
                    include=["metadatas", "documents"],
                )
            for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                rows[i] = Row.from_chroma(i, m, d)
        return rows

    def query_rows(self, ns: Namespace, vector: npt.ArrayLike, n_results: int) -> list[Row]:
        """The nearest rows to one vector, nearest first, with their similarity."""
        with storage_errors("query states"):
            got = ns.states.query(
                query_embeddings=[np.asarray(vector, dtype=np.float32)],  # what Chroma makes of it
                n_results=n_results,
                include=["metadatas", "documents", "distances"],
            )
        return [
            Row.from_chroma(i, m, d, dist)
            for i, m, d, dist in zip(
                got["ids"][0],
                got["metadatas"][0],
                got["documents"][0],
                got["distances"][0],
                strict=True,
            )
        ]

    def nearest_rows(self, ns: Namespace, vectors: Sequence[Sequence[float]]) -> list[Row | None]:
        """The nearest row to each vector (one query call), None where there is none."""
        if not vectors:
            return []
        with storage_errors("query states"):
            got = ns.states.query(
                query_embeddings=[list(map(float, v)) for v in vectors],
                n_results=1,
                include=["metadatas", "documents", "distances"],
            )
        return [
            Row.from_chroma(i[0], m[0], d[0], dist[0]) if i else None
            for i, m, d, dist in zip(
                got["ids"], got["metadatas"], got["documents"], got["distances"], strict=True
            )
        ]

    def write_rows(
        self,
        ns: Namespace,
        rows: Sequence[Row],
        vectors: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Write rows: upserted with their vector when given, else updated in place.

        Concurrent writes share a call; of two writes of one row in a batch, the later stays.
        """
        vectors = vectors or {}
        with_vector = [(r, vectors[r.id]) for r in rows if r.id in vectors]
        in_place = [r for r in rows if r.id not in vectors]
        if with_vector:
            self._combined(ns, "upsert_rows", self._upsert_batch, with_vector)
        if in_place:
            self._combined(ns, "update_rows", self._update_batch, in_place)

    def _upsert_batch(
        self, ns: Namespace, batch: Sequence[list[tuple[Row, Sequence[float]]]]
    ) -> list[None]:
        vectors = {row.id: vector for pairs in batch for row, vector in pairs}
        self._write_rows_now(ns, _merged(r for pairs in batch for r, _v in pairs), vectors)
        return [None] * len(batch)

    def _update_batch(self, ns: Namespace, batch: Sequence[list[Row]]) -> list[None]:
        self._write_rows_now(ns, _merged(row for rows in batch for row in rows), {})
        return [None] * len(batch)

    def _write_rows_now(
        self,
        ns: Namespace,
        rows: Mapping[str, tuple[dict[str, Any], str]],
        vectors: Mapping[str, Sequence[float]],
    ) -> None:
        with_vector = [i for i in rows if i in vectors]
        in_place = [i for i in rows if i not in vectors]
        for start in range(0, len(with_vector), self.batch_size):
            chunk = with_vector[start : start + self.batch_size]
            with storage_errors("write states"):
                ns.states.upsert(
                    ids=chunk,
                    embeddings=[list(map(float, vectors[i])) for i in chunk],
                    metadatas=[rows[i][0] for i in chunk],  # type: ignore[misc]
                    documents=[rows[i][1] for i in chunk],
                )
        for start in range(0, len(in_place), self.batch_size):
            chunk = in_place[start : start + self.batch_size]
            with storage_errors("write states"):
                ns.states.update(ids=chunk, metadatas=[rows[i][0] for i in chunk])  # type: ignore[misc]

    def delete_rows(self, ns: Namespace, ids: Sequence[str]) -> None:
        """Delete rows by id."""
        for start in range(0, len(ids), self.batch_size):
            with storage_errors("delete states"):
                ns.states.delete(ids=list(ids[start : start + self.batch_size]))

    def delete_row_if(self, ns: Namespace, row_id: str, *, start: int) -> None:
        """Delete a row only if it still starts at `start` (one conditional delete)."""
        with storage_errors("delete states"):
            ns.states.delete(ids=[row_id], where={"start": start})

    def row_pages(self, ns: Namespace, *, size: int = _PAGE) -> Iterator[list[Row]]:
        """Every row, `size` at a time (maintenance and statistics, not learn or retrieve)."""
        offset = 0
        while True:
            with storage_errors("read states"):
                got = ns.states.get(limit=size, offset=offset, include=["metadatas", "documents"])
            ids = got["ids"]
            yield [
                Row.from_chroma(i, m, d)
                for i, m, d in zip(ids, got["metadatas"], got["documents"], strict=True)
            ]
            if len(ids) < size:
                return
            offset += len(ids)

    def row_count(self, ns: Namespace) -> int:
        """How many rows the namespace has (one call, no scan)."""
        with storage_errors("count states"):
            return int(ns.states.count())

    # -- log ---------------------------------------------------------------------------------

    def add_log(self, ns: Namespace, records: Sequence[Record]) -> None:
        """Add log records; an id already there keeps its first record.

        Concurrent adds share a call; of two adds of one id in a batch, the first stays.
        """
        if records:
            self._combined(ns, "add_log", self._add_batch, list(records))

    def _add_batch(self, ns: Namespace, batch: Sequence[list[Record]]) -> list[None]:
        first: dict[str, Record] = {}
        for records in batch:
            for record in records:
                first.setdefault(record[0], record)
        self._add_log_now(ns, list(first.values()))
        return [None] * len(batch)

    def _add_log_now(self, ns: Namespace, records: Sequence[Record]) -> None:
        self._write_log(ns.log.add, records, "append to the log")

    def put_log(self, ns: Namespace, records: Sequence[Record]) -> None:
        """Write log records, replacing any of the same id (eviction pointers only)."""
        self._write_log(ns.log.upsert, records, "write to the log")

    def _write_log(self, write: Any, records: Sequence[Record], what: str) -> None:
        """`add` or `upsert` log records in chunks: bodies kept as metadata, no vectors."""
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            with storage_errors(what):
                write(
                    ids=[i for i, _m, _d in chunk],
                    embeddings=[_CONSTANT_VECTOR] * len(chunk),
                    metadatas=[_packed(m, d) for _i, m, d in chunk],
                )

    def get_log(self, ns: Namespace, ids: Sequence[str]) -> dict[str, tuple[Any, str]]:
        """Log records by id: {id: (metadata, document)}; missing ids are absent.

        Concurrent reads share a call.
        """
        if not ids:
            return {}
        return dict(self._combined(ns, "get_log", self._get_log_batch, list(ids)))

    def _get_log_batch(
        self, ns: Namespace, batch: Sequence[list[str]]
    ) -> list[dict[str, tuple[Any, str]]]:
        found = self._get_log_now(ns, [i for ids in batch for i in ids])
        return [{i: found[i] for i in ids if i in found} for ids in batch]

    def _get_log_now(self, ns: Namespace, ids: Sequence[str]) -> dict[str, tuple[Any, str]]:
        found: dict[str, tuple[Any, str]] = {}
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), self.batch_size):
            with storage_errors("read the log"):
                got = ns.log.get(
                    ids=unique[start : start + self.batch_size],
                    include=["metadatas", "documents"],
                )
            for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True):
                found[i] = _unpacked(m, d)
        return found

    def delete_log(self, ns: Namespace, ids: Sequence[str]) -> None:
        """Delete log records by id."""
        for start in range(0, len(ids), self.batch_size):
            with storage_errors("delete from the log"):
                ns.log.delete(ids=list(ids[start : start + self.batch_size]))

    def delete_log_if(
        self, ns: Namespace, record_id: str, *, nonce: str, by: str | None = None
    ) -> None:
        """Delete a log record only if it still holds `nonce` (and `by`): a conditional delete."""
        where: dict[str, Any] = {"nonce": nonce}
        if by is not None:
            where = {"$and": [where, {"by": by}]}
        with storage_errors("delete from the log"):
            ns.log.delete(ids=[record_id], where=where)

    def log_of_kind(self, ns: Namespace, kind: str) -> list[tuple[str, Any, str]]:
        """Every log record of one kind ("run", "done"), paged: export and statistics only."""
        rows: list[tuple[str, Any, str]] = []
        while True:
            with storage_errors("read the log"):
                got = ns.log.get(
                    where={"kind": kind},
                    limit=_PAGE,
                    offset=len(rows),
                    include=["metadatas", "documents"],
                )
            rows += [
                (i, *_unpacked(m, d))
                for i, m, d in zip(got["ids"], got["metadatas"], got["documents"], strict=True)
            ]
            if len(got["ids"]) < _PAGE:
                return rows

    # -- pending episodes --------------------------------------------------------------------

    def put_pending(self, ns: Namespace, run_id: str, payload: str, created_at: float) -> None:
        """Persist an episode waiting for feedback."""
        with storage_errors("save a pending episode"):
            ns.pending.upsert(
                ids=[stable_id("pending", run_id)],
                embeddings=[_CONSTANT_VECTOR],
                metadatas=[{"run_id": run_id, "created_at": created_at}],
                documents=[payload],
            )

    def get_pending(self, ns: Namespace, run_id: str) -> str | None:
        """The saved payload of a pending run, or None."""
        with storage_errors("read a pending episode"):
            got = ns.pending.get(ids=[stable_id("pending", run_id)], include=["documents"])
        return got["documents"][0] if got["ids"] else None

    def delete_pending(self, ns: Namespace, run_id: str) -> None:
        """Forget a pending run."""
        with storage_errors("delete a pending episode"):
            ns.pending.delete(ids=[stable_id("pending", run_id)])

    def pending_run_ids(self, ns: Namespace) -> list[str]:
        """Run ids of every pending episode, oldest first (by when each was saved)."""
        with storage_errors("read pending episodes"):
            got = ns.pending.get(include=["metadatas"])
        created = sorted((m["created_at"], m["run_id"]) for m in got["metadatas"])
        return [run_id for _at, run_id in created]

    def counts(self, ns: Namespace) -> tuple[int, int, int]:
        """Numbers of rows, log records and pending episodes (one count each)."""
        with storage_errors("count records"):
            return (int(ns.states.count()), int(ns.log.count()), int(ns.pending.count()))
