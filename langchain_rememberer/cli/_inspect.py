"""Every lower-level store access of the CLI, in one place: what the memory's API lacks.

The memory's public methods cover stats, retrieval, export, import and repair; the CLI also
lists namespaces, reads a state by id and its updates, and pages through every state. Those
reads go through `memory.store` and `memory.ledger` here and nowhere else, so a change of the
store's interface is ported in this one module. Nothing here creates anything: a namespace is
opened only after `store.exists` said it is there (`open` would create it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_rememberer._rows import retrieved
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.types import RetrievedState

if TYPE_CHECKING:
    from langchain_rememberer._records import LogRecord
    from langchain_rememberer.memory import RemembererMemory

__all__ = [
    "KINDS",
    "collection_names",
    "find_state",
    "iter_states",
    "namespace_exists",
    "state_updates",
]

KINDS = ("states", "log", "pending")
"""The collections of a namespace: `<collection_name>.<namespace>.<kind>` (`_store.py`)."""


def collection_names(memory: RemembererMemory) -> list[str]:
    """The names of every collection of the memory's database (all prefixes), sorted.

    Raises:
        StorageError: the database or server could not be read.
    """
    return memory.store.collection_names()


def namespace_exists(memory: RemembererMemory, namespace: str) -> bool:
    """Whether the namespace has a collection (under the memory's `collection_name`)."""
    return memory.store.exists(namespace)


def _open_existing(memory: RemembererMemory, namespace: str) -> Any:
    """The namespace's handle, opened only if it exists (opening creates a missing one).

    Raises:
        InvalidInputError: the namespace does not exist.
        EmbeddingDimensionError: it was written with embeddings of another size.
    """
    if not namespace_exists(memory, namespace):
        msg = f"no namespace {namespace!r}"
        raise InvalidInputError(msg)
    return memory._open(namespace)


def iter_states(memory: RemembererMemory, namespace: str) -> Iterator[RetrievedState]:
    """Every state of the namespace with its action table (similarity 0), a page at a time."""
    ns = _open_existing(memory, namespace)
    for page in memory.store.row_pages(ns):
        for row, table in zip(page, memory.ledger.view(ns, page), strict=True):
            if table:
                yield retrieved(row, table)


def find_state(
    memory: RemembererMemory, namespace: str, state_id: str
) -> tuple[RetrievedState | None, list[str]]:
    """The state of id `state_id`, or of the one id starting with it.

    Returns:
        The state (None when no id, or several, match) and the ids that start with `state_id`.
    """
    ns = _open_existing(memory, namespace)
    rows = memory.store.get_rows(ns, [state_id])
    if state_id not in rows:
        ids = [row.id for page in memory.store.row_pages(ns) for row in page]
        matches = sorted(i for i in ids if i.startswith(state_id)) if state_id else []
        if len(matches) != 1:
            return None, matches
        rows = memory.store.get_rows(ns, matches)
        state_id = matches[0]
        if state_id not in rows:
            return None, matches
    row = rows[state_id]
    (table,) = memory.ledger.view(ns, [row])
    return (retrieved(row, table) if table else None), [state_id]


def state_updates(memory: RemembererMemory, namespace: str, state_id: str) -> list[LogRecord]:
    """The updates folded into one state's table (learned runs only), in fold order."""
    ns = _open_existing(memory, namespace)
    rows = memory.store.get_rows(ns, [state_id])
    if state_id not in rows:
        return []
    slots, status = memory.ledger.counted(ns, rows[state_id])
    return [record for slot in slots for record in slot.log_records(status.runs[slot.run_id])]
