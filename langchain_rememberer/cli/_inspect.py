"""Every lower-level store access of the CLI, in one place: what the memory's API lacks.

The memory's public methods cover stats, retrieval, export, import and repair; the CLI also
lists namespaces, reads a state by id and its log records, and pages through every state. Those
reads go through `memory.store` here and nowhere else, so a change of the store's interface is
ported in this one module.

The store's operations are generators of calls run by `store.run` (see `_chroma.py`); `_do`
also accepts a plain result, as the store's methods returned before, so this module reads the
same through either interface. Nothing here creates anything: a namespace is opened only after
`store.exists` said it is there (`open` would create it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from langchain_rememberer._chroma import storage_errors
from langchain_rememberer._records import ARCHIVED
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

_CHUNK = 1000
"""States read per call when paging through a namespace."""


def _do(memory: RemembererMemory, operation: Any) -> Any:
    """Perform a store operation (a generator of calls) with the memory's sync client."""
    return memory.store.run(operation)


def collection_names(memory: RemembererMemory) -> list[str]:
    """The names of every collection of the memory's database (all prefixes), sorted.

    Raises:
        StorageError: the database or server could not be read.
    """
    with storage_errors("list collections"):
        found = memory.store.client.list_collections()
    return sorted(c if isinstance(c, str) else str(c.name) for c in found)


def namespace_exists(memory: RemembererMemory, namespace: str) -> bool:
    """Whether the namespace has a collection (under the memory's `collection_name`)."""
    return bool(_do(memory, memory.store.exists(namespace)))


def _open_existing(memory: RemembererMemory, namespace: str) -> Any:
    """The namespace's handle, opened only if it exists (opening creates a missing one).

    Raises:
        InvalidInputError: the namespace does not exist.
        EmbeddingDimensionError: it was written with embeddings of another size.
    """
    if not namespace_exists(memory, namespace):
        msg = f"no namespace {namespace!r}"
        raise InvalidInputError(msg)
    return _do(memory, memory._open(namespace))


def iter_states(memory: RemembererMemory, namespace: str) -> Iterator[RetrievedState]:
    """Every state of the namespace with its action table (similarity 0), a page at a time."""
    ns = _open_existing(memory, namespace)
    ids = _do(memory, memory.store.state_ids(ns))
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        states = _do(memory, memory.store.get_states(ns, chunk))
        for state_id in chunk:
            if state_id in states:  # deleted meanwhile otherwise
                yield states[state_id].retrieved()


def find_state(
    memory: RemembererMemory, namespace: str, state_id: str
) -> tuple[RetrievedState | None, list[str]]:
    """The state of id `state_id`, or of the one id starting with it.

    Returns:
        The state (None when no id, or several, match) and the ids that start with `state_id`.
    """
    ns = _open_existing(memory, namespace)
    exact = _do(memory, memory.store.get_states(ns, [state_id]))
    if state_id in exact:
        return exact[state_id].retrieved(), [state_id]
    ids = _do(memory, memory.store.state_ids(ns))
    matches = sorted(i for i in ids if i.startswith(state_id)) if state_id else []
    if len(matches) != 1:
        return None, matches
    found = _do(memory, memory.store.get_states(ns, matches))
    return (found[matches[0]].retrieved() if matches[0] in found else None), matches


def state_updates(memory: RemembererMemory, namespace: str, state_id: str) -> list[LogRecord]:
    """The updates folded into one state's table (complete runs only), in fold order.

    Compacted updates too (they are out of the state's reads, not out of the log); snapshots
    are not updates.
    """
    ns = _open_existing(memory, namespace)
    ids = [state_id, ARCHIVED + state_id]
    found = _do(memory, memory.store.read_log(ns, state_ids=ids))
    return [r.restored() for r in found if not r.is_snapshot]
