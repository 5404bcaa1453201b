"""Eviction: a state evicted and learned again never reuses a position (DESIGN §6, "Evict").

A state's positions are numbered in *incarnations*: the first from 0; evicting the one that
starts at `start` ends it at `next` (the evicted row's `known`), and the state learned again
numbers its slots from `next`, never from 0 again. So a learn racing an eviction can never walk
past a slot the eviction deletes and keep it: it finds out in a read it makes anyway. Two log
records, read by id only:

- the *marker* `evicted:<state>:<start>`, added (add-if-absent: concurrent evictions of one
  incarnation agree on its `next`, read back) before the row is deleted, and never deleted:
  every position below `next` is dead, whatever it holds (a writer that still knew the old row
  may claim a position there once its slot is gone: it counts nothing);
- the *pointer* `restart:<state>`, upserted after the marker: the latest `next` an eviction
  wrote. Only a hint: a learner finding no row claims from it, and every claim's read-back
  reads the marker of the incarnation it claims in; found, the claim moves on to its `next`.

Every writer of a row reads its incarnation's marker in the read that follows the write (the
done record's read-back, or the probe past `known`): found, the row is deleted if it still
holds that incarnation (a conditional delete). A row written after an eviction deleted the
row is therefore gone by the time its writer returns, and a row written before is deleted by
the eviction itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_rememberer._rows import Row

if TYPE_CHECKING:
    from langchain_rememberer._store import ChromaStore, Namespace

__all__ = [
    "evict_states",
    "live",
    "marker_id",
    "markers",
    "moved",
    "pointer_id",
    "restarted",
    "restarts",
]


def marker_id(state_id: str, start: int) -> str:
    """The id of the marker of a state's incarnation starting at `start`."""
    return f"evicted:{state_id}:{start}"


def pointer_id(state_id: str) -> str:
    """The id of a state's pointer: where its last eviction said it starts again."""
    return f"restart:{state_id}"


def markers(rows: Mapping[str, Row]) -> list[str]:
    """The marker ids of the rows' incarnations (to read with a read that follows a write)."""
    return [marker_id(s, row.start) for s, row in rows.items()]


def moved(got: Mapping[str, tuple[Any, str]], rows: Mapping[str, Row]) -> dict[str, int]:
    """The rows whose incarnation `got` holds a marker of, each with where the next starts."""
    found = {s: got.get(marker_id(s, row.start)) for s, row in rows.items()}
    return {s: int(m[0]["next"]) for s, m in found.items() if m is not None}


def restarted(got: Mapping[str, tuple[Any, str]], rows: Mapping[str, Row]) -> dict[str, Row]:
    """New rows of the states whose incarnation `got` holds a marker of, starting at its next."""
    return {s: Row.fresh(s, rows[s].task, rows[s].key, n) for s, n in moved(got, rows).items()}


def restarts(got: Mapping[str, tuple[Any, str]], states: Sequence[str]) -> dict[str, int]:
    """Where a new row of each state starts, by the pointers in `got` (absent: from 0)."""
    return {s: int(got[pointer_id(s)][0]["next"]) for s in states if pointer_id(s) in got}


def live(
    store: ChromaStore, ns: Namespace, rows: Mapping[str, Row], got: Mapping[str, tuple[Any, str]]
) -> dict[str, Row]:
    """The rows whose incarnation was not evicted; the others' rows are deleted if still theirs.

    `got`: a read of the rows' markers made after the rows were written.
    """
    gone = moved(got, rows)
    for s in sorted(gone):
        store.delete_row_if(ns, s, start=rows[s].start)
    return {s: row for s, row in rows.items() if s not in gone}


def evict_states(store: ChromaStore, ns: Namespace, rows: Sequence[Row]) -> None:
    """Evict states: a marker each, then their pointers and their rows.

    Their slots stay (they count nothing below the marker's `next`): a tentative done record
    counts only while every slot it names is there to read (DESIGN §6, "Commit").

    `rows` as read, settled (no pending slot): each incarnation ends at its row's `known`
    (past its `start`: a row a learn wrote before its first slot, naming its intent, ends
    after that position, so no incarnation is empty), unless another eviction's marker was
    added first (then at that one's `next`). Slots claimed at or past the end meanwhile are
    the next incarnation's: a state learned again counts them.
    """
    if not rows:
        return
    ids = [marker_id(row.id, row.start) for row in rows]
    meta = [
        {"kind": "evicted", "state_id": row.id, "start": row.start, "next": _end(row)}
        for row in rows
    ]
    store.add_log(ns, [(i, m, "") for i, m in zip(ids, meta, strict=True)])
    ends = moved(store.get_log(ns, ids), {row.id: row for row in rows})
    ends = {row.id: ends.get(row.id, _end(row)) for row in rows}
    store.put_log(
        ns,
        [
            (pointer_id(s), {"kind": "restart", "state_id": s, "next": n}, "")
            for s, n in ends.items()
        ],
    )
    store.delete_rows(ns, [row.id for row in rows])


def _end(row: Row) -> int:
    """Where an evicted row's incarnation ends: its `known`, and never at its `start`."""
    return max(row.known, row.start + 1)
