"""A state's row: its folded table and pending slots, what readers see of it, and ranking.

No I/O. A row (the states collection) caches a state: `base`, the fold of its slots from
`start` below `through`, every one of them decided; `pending`, its slots from `through` to
`known` (the row knows every slot from `start` below `known`; the positions below `start`
were evicted, `_evicted.py`). What any reader sees of a state is `Row.view`: the base, then
the valid pending slots, in slot order (DESIGN §6).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_rememberer._records import Slot, Status
from langchain_rememberer.errors import StorageError
from langchain_rememberer.rlem import ActionStats, fold_table
from langchain_rememberer.types import RetrievedState

__all__ = ["Row", "rank", "retrieved", "ties"]

_PACKED = "row"
"""The metadata key a row's fields are packed under (`Row.chroma`)."""


@dataclass(frozen=True)
class Row:
    """A state as the states collection keeps it (see the module docstring)."""

    id: str
    task: str
    key: str
    base: Mapping[str, ActionStats] = field(default_factory=dict)
    through: int = 0
    known: int = 0
    pending: tuple[Slot, ...] = ()
    last_update: float = 0.0
    similarity: float | None = None
    start: int = 0
    """Its first position: the state was evicted before (`_evicted.py`); 0 for a row of old."""

    @classmethod
    def fresh(cls, state_id: str, task: str, key: str, start: int = 0) -> Row:
        """A state's new row, numbering its slots from `start`."""
        return cls(state_id, task, key, through=start, known=start, start=start)

    def __post_init__(self) -> None:
        """The row invariants (DESIGN §6), checked on every row made or read.

        The base folds the slots below `through`; `pending` holds slots from `through` to
        `known`, in increasing order, each once. A stored row breaking them is corrupt.
        """
        if not 0 <= self.start <= self.through <= self.known:
            msg = (
                f"row {self.id}: through {self.through} is not within "
                f"{self.start}..known {self.known}"
            )
            raise ValueError(msg)
        if not self.pending:  # most rows: nothing more to check
            return
        indices = [s.index for s in self.pending]
        if indices != sorted(set(indices)) or any(
            not self.through <= i < self.known for i in indices
        ):
            msg = (
                f"row {self.id}: pending slots {indices} are not increasing within "
                f"{self.through}..{self.known}"
            )
            raise ValueError(msg)

    def pending_runs(self) -> set[str]:
        """Run ids of its pending slots (what `view` and `settle` need the status of)."""
        return {s.run_id for s in self.pending if not s.forget}

    def stuck_runs(self, status: Status, after: int) -> set[str]:
        """Runs of its undecided slots with `after` slots or more after them (to help)."""
        return {
            slot.run_id
            for n, slot in enumerate(self.pending[: max(len(self.pending) - after, 0)])
            if status.verdict(slot) == "undecided"
        }

    def with_slots(self, slots: Iterable[Slot]) -> Row:
        """This row knowing more slots (each at or after `known`, in any order)."""
        have = {s.index for s in self.pending}
        extra = [s for s in slots if s.index >= self.through and s.index not in have]
        if not extra:
            return self
        pending = tuple(sorted([*self.pending, *extra], key=lambda s: s.index))
        return dataclasses.replace(
            self, pending=pending, known=max(self.known, pending[-1].index + 1)
        )

    def view(self, status: Status, rlem: Any) -> dict[str, ActionStats]:
        """The table every reader sees: the base, then the valid pending slots in order."""
        valid = [s for s in self.pending if status.verdict(s) == "valid"]
        return _fold(self.base, valid, rlem)

    def settle(self, status: Status, rlem: Any) -> Row:
        """Fold the decided prefix of `pending` into the base (valid ones) or drop it."""
        base, through, rest = self.base, self.through, list(self.pending)
        while rest and rest[0].index == through:
            verdict = status.verdict(rest[0])
            if verdict == "undecided":
                break
            if verdict == "valid":
                base = _fold(base, [rest[0]], rlem)
            through += 1
            rest.pop(0)
        return dataclasses.replace(self, base=base, through=through, pending=tuple(rest))

    def refolded(self, slots: Sequence[Slot], status: Status, rlem: Any) -> Row:
        """This row rebuilt from all of its slots (`slots`, from `start`), then settled."""
        at = self.start
        fresh = dataclasses.replace(self, base={}, through=at, known=at, pending=())
        return fresh.with_slots(slots).settle(status, rlem)

    def chroma(self) -> tuple[dict[str, Any], str]:
        """Its Chroma metadata and document (the observation key).

        The metadata is two keys: `start` (a conditional delete's `where` names it) and the rest
        packed as one JSON list (`_PACKED`): Chroma writes each key as an indexed row of its own,
        so an update of 15 rows of two keys costs less than of eight (DESIGN §6).
        """
        table = {a: _table_row(s) for a, s in self.base.items()}
        pending = [s.entry() for s in self.pending]
        packed = [self.task, table, self.through, self.known, self.last_update, pending]
        meta = {"start": self.start, _PACKED: json.dumps(packed, ensure_ascii=False)}
        return meta, self.key

    @classmethod
    def from_chroma(
        cls, record_id: str, metadata: Any, document: str | None, distance: float | None = None
    ) -> Row:
        """Rebuild a row from what Chroma returned; the `ip` distance is 1 − similarity.

        Reads the packed layout and the one before 0.3 (a key per field, tables and pending
        slots as JSON strings), which an update in place leaves beside the packed key.
        """
        try:
            if _PACKED in metadata:
                task, raw, through, known, last_update, entries = json.loads(metadata[_PACKED])
            else:
                task, raw = metadata["task"], json.loads(metadata["table"])
                through, known = metadata.get("through"), metadata.get("known")
                last_update = metadata.get("last_update")
                entries = json.loads(metadata.get("pending") or "[]")
            base = {str(a): _stats_of(row) for a, row in raw.items()}
            pending = tuple(Slot.of_entry(record_id, e) for e in entries) if entries else ()
            return cls(
                record_id,
                str(task),
                document or "",
                base,
                int(through or 0),
                int(known or 0),
                pending,
                float(last_update or 0.0),
                None if distance is None else 1.0 - float(distance),
                start=int(metadata.get("start") or 0),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            msg = f"state {record_id} has a corrupt row; run memory.rebuild() to repair it"
            raise StorageError(msg) from e


def _fold(
    base: Mapping[str, ActionStats], slots: Iterable[Slot], rlem: Any
) -> dict[str, ActionStats]:
    updates = [(u.action, u.target, u.reward, u.answer) for s in slots for u in s.updates]
    if not updates:
        return dict(base)
    return fold_table(updates, learning_rate=rlem.learning_rate, alpha=rlem.alpha, initial=base)


def retrieved(row: Row, table: Mapping[str, ActionStats]) -> RetrievedState:
    """A row with its viewed table as the memory returns it, actions by Q, highest first.

    The actions are given as dicts: one validation builds the state and its `ActionValue`s.
    """
    actions = [
        {
            "action": a,
            "q": s.q,
            "visits": s.visits,
            "last_reward": s.last_reward,
            "answer": s.answer or None,
            "answer_value": s.answer_value if s.answer else None,
        }
        for a, s in sorted(table.items(), key=lambda item: -item[1].q)
    ]
    fields: dict[str, Any] = {
        "id": row.id,
        "task": row.task,
        "observation": row.key,
        "similarity": row.similarity or 0.0,
        "actions": actions,
    }
    return RetrievedState(**fields)


def ties(a: Row, b: Row) -> bool:
    """Whether two candidates are equally similar (to 6 decimals)."""
    return round(a.similarity or 0.0, 6) == round(b.similarity or 0.0, 6)


def rank(
    candidates: Sequence[tuple[Row, Mapping[str, ActionStats], float | None]],
    k: int,
    min_similarity: float,
    min_task_similarity: float | None = None,
) -> list[RetrievedState]:
    """The `k` best (row, viewed table, task similarity) candidates, most similar first.

    A candidate needs a table and at least `min_similarity` (and `min_task_similarity` when
    set, unless its task similarity is None); ties are broken by total visits.
    """
    kept = [
        (row, table)
        for row, table, task_similarity in candidates
        if table
        and (row.similarity or 0.0) >= min_similarity
        and (
            min_task_similarity is None
            or task_similarity is None
            or task_similarity >= min_task_similarity
        )
    ]
    kept.sort(
        key=lambda c: (-round(c[0].similarity or 0.0, 6), -sum(s.visits for s in c[1].values()))
    )
    return [retrieved(row, table) for row, table in kept[:k]]


def _table_row(stats: ActionStats) -> list[Any]:
    """A table entry as stored: [q, n, last reward], plus [answer, its value] for answers."""
    row: list[Any] = [stats.q, stats.visits, stats.last_reward]
    return [*row, stats.answer, stats.answer_value] if stats.answer else row


def _stats_of(row: Any) -> ActionStats:
    """Inverse of `_table_row`."""
    q, n, r, *rest = row
    if rest:
        answer, value = rest
        return ActionStats(float(q), int(n), float(r), str(answer), float(value))
    return ActionStats(float(q), int(n), float(r))
