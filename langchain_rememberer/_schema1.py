"""What 0.1 stored (storage schema 1), read raw for `_migrate`: its log's updates, its vectors.

A schema-1 log record is one learned update, its metadata the fields of a 0.1 export line
(state id, task, action, target, reward, run id, step, time, answer, fingerprint; `sealed`
runs carry their length); the observation key is its document. Compaction added *snapshots*
(metadata `visits` > 0, one per action of a state's folded table) and prefixed the covered
updates' state id with `archived:` (they stayed in the log). Its states collection held each
state's composite vector under id `stable_id(task, key)`, the id schema 2 uses too.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_rememberer import transfer
from langchain_rememberer._chroma import storage_errors
from langchain_rememberer._records import LogRecord, stable_id
from langchain_rememberer.errors import StorageError

__all__ = ["OLD_SCHEMA", "StoredVectors", "old_updates", "pages"]

OLD_SCHEMA = 1
_PAGE = 2000


def pages(collection: Any, include: Sequence[str]) -> list[tuple[str, Any, Any]]:
    """Every record of a collection, a page at a time."""
    rows: list[tuple[str, Any, Any]] = []
    while True:
        with storage_errors(f"read collection {collection.name!r}"):
            got = collection.get(limit=_PAGE, offset=len(rows), include=list(include))
        ids = got["ids"]
        metas = got.get("metadatas") or [None] * len(ids)
        docs = got.get("documents") or [None] * len(ids)
        rows += zip(ids, metas, docs, strict=True)
        if len(ids) < _PAGE:
            return rows


def old_updates(rows: Iterable[tuple[str, Any, Any]]) -> tuple[list[LogRecord], int, int]:
    """Schema 1's log records → (updates of complete runs in fold order, partial runs, snapshots).

    Raises:
        StorageError: a record is malformed (or is not a schema-1 record).
    """
    updates: list[LogRecord] = []
    lengths: dict[str, int] = {}
    snapshots = 0
    for record_id, meta, document in rows:
        if isinstance(meta, Mapping) and int(meta.get("visits") or 0) > 0:
            snapshots += 1
            continue
        try:
            line = {**meta, "id": record_id, "observation": document or ""}
            record = transfer._record(line)  # an old log record is an export line
        except (KeyError, TypeError, ValueError, OverflowError) as e:
            msg = (
                f"log record {record_id} is not a storage schema {OLD_SCHEMA} update "
                f"({type(e).__name__}: {e}); nothing was migrated"
            )
            raise StorageError(msg) from e
        state_id = record.state_id.removeprefix("archived:")
        updates.append(dataclasses.replace(record, state_id=state_id))
        if meta.get("sealed"):
            lengths[record.run_id] = int(meta.get("steps") or 0)
    present = Counter(u.run_id for u in updates)
    partial = {run for run, n in lengths.items() if present[run] < n}
    kept = [u for u in updates if u.run_id not in partial]
    kept.sort(key=lambda u: (u.created_at, u.run_id, u.step, u.id))
    return kept, len(partial), snapshots


class StoredVectors:
    """The encoder a migration learns with: each state's vector as 0.1 stored it.

    No embedding call, so the tables are found by the same vectors as before, whatever
    embeddings wrote them; a state without a stored vector is embedded by `fallback`.
    """

    def __init__(self, states: Any, fallback: Any) -> None:
        self.states = states
        self.fallback = fallback

    def state_vectors(self, weight: float, pairs: Sequence[tuple[str, str]]) -> list[list[float]]:
        ids = [stable_id(task, key) for task, key in pairs]
        with storage_errors("read the old states' vectors"):
            got = self.states.get(ids=ids, include=["embeddings"]) if ids else {"ids": []}
        found = dict(zip(got["ids"], got.get("embeddings", []), strict=False))
        missing = [pair for pair, i in zip(pairs, ids, strict=True) if i not in found]
        fresh = iter(self.fallback.state_vectors(weight, missing) if missing else [])
        return [[float(x) for x in found[i]] if i in found else next(fresh) for i in ids]
