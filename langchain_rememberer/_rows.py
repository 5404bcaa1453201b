"""A state's row: its folded table and pending slots, what readers see of it, and ranking.

No I/O. A row (the states collection) caches a state: `base`, the fold of its slots from
`start` below `through`, every one of them decided; `pending`, its slots from `through` to
`known` (the row knows every slot from `start` below `known`; the positions below `start`
were evicted, `_evicted.py`). What any reader sees of a state is `Row.view`: the base, then
the valid pending slots and intents, in slot order, judged by a `Status` — what the log says
of some runs: a run is *learned* when its run and done records exist with one nonce (and, for
a tentative done, every slot it names holds that run and nonce); a slot counts when its run is
learned and its done record names it (DESIGN §6).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_rememberer._records import Done, RunRecord, Slot, slot_id, stable_id
from langchain_rememberer.errors import StorageError
from langchain_rememberer.rlem import ActionStats, fold_table
from langchain_rememberer.types import RetrievedState

__all__ = ["Row", "Status", "Verdict", "rank", "retrieved", "ties"]

_PACKED = "row"
"""The metadata key a row's fields are packed under (`Row.chroma`)."""
_INTENT = "i:"
"""The prefix of a row's intent keys (`intent_key`)."""


Verdict = Literal["valid", "invalid", "undecided", "marker"]


@dataclass(frozen=True)
class Status:
    """What the log says of some runs: their run and done records (absent: not there)."""

    runs: Mapping[str, RunRecord] = field(default_factory=dict)
    dones: Mapping[str, Done] = field(default_factory=dict)
    starts: Mapping[str, int] = field(default_factory=dict)
    """Where a new row of a state starts, when it was evicted before (`_evicted.restarts`)."""
    held: Mapping[str, tuple[str, str] | None] = field(default_factory=dict)
    """Who holds the slots tentative done records name: slot id -> (run id, nonce), None for
    an absent slot (`to_check` lists those still to read)."""

    def joined(self, later: Status) -> Status:
        """This status with a later read's runs, done records and slots (those win)."""
        return Status(
            {**self.runs, **later.runs},
            {**self.dones, **later.dones},
            self.starts,
            {**self.held, **later.held},
        )

    def to_check(self) -> list[str]:
        """Slots to read before `learned` can judge: those of tentative dones not read yet."""
        return [
            i
            for run_id, done in sorted(self.dones.items())
            if done.tentative and self._nonce_matches(run_id)
            for i in done.named()
            if i not in self.held
        ]

    def _nonce_matches(self, run_id: str) -> bool:
        run, done = self.runs.get(run_id), self.dones.get(run_id)
        return run is not None and done is not None and done.nonce == run.nonce

    def learned(self, run_id: str) -> bool:
        """A run is learned exactly when its run and done records exist with one nonce.

        A tentative done also needs every slot it names held by that run and nonce.
        """
        if not self._nonce_matches(run_id):
            return False
        done = self.dones[run_id]
        held = (run_id, done.nonce)
        return not done.tentative or all(self.held.get(i) == held for i in done.named())

    def void(self, run_id: str) -> bool:
        """Whether its done record is tentative, of its nonce, naming another's slot: void."""
        if not self._nonce_matches(run_id) or not self.dones[run_id].tentative:
            return False
        held = (run_id, self.dones[run_id].nonce)
        named = self.dones[run_id].named()
        return all(i in self.held for i in named) and any(self.held[i] != held for i in named)

    def verdict(self, slot: Slot) -> Verdict:
        """Whether a slot counts.

        Valid; invalid (for good); undecided (its run is prepared, not yet committed); or a
        marker (counts nothing, decided).
        """
        if slot.forget:
            return "marker"
        run = self.runs.get(slot.run_id)
        if run is None or (slot.nonce and slot.nonce != run.nonce):
            return "invalid"  # never prepared, forgotten, or claimed for a forgotten record
        if not self.learned(slot.run_id):
            return "undecided"
        listed = (slot.state_id, slot.index) in set(self.dones[slot.run_id].slots)
        return "valid" if listed else "invalid"


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
    intents: tuple[Slot, ...] = ()
    """Slots runs said they would claim, each under a metadata key of its run (`intent_key`),
    as read: one counts while it is at or past `known`, its slot holds its run and nonce, and
    its run is learned (DESIGN §6, "Two writes"). Writers never rewrite another's; a row
    written knowing past one deletes it."""
    intent: Slot | None = None
    """The intent this writer adds (a new run's learn, before its one `add`)."""

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
        """Run ids of its pending slots and live intents (what `view` and `settle` judge)."""
        return {s.run_id for s in (*self.pending, *self.live_intents()) if not s.forget}

    def live_intents(self) -> list[Slot]:
        """Its intents at or past `known`, by position (the others are known or dropped)."""
        every = [*self.intents, *([self.intent] if self.intent else [])]
        unique = {i.run_id: i for i in every if i.index >= self.known}
        return sorted(unique.values(), key=lambda i: (i.index, i.run_id))

    def intent_slots(self) -> list[str]:
        """The slot ids its live intents need read: each one's plan (its own slot among them)."""
        return [slot_id(s, i) for intent in self.live_intents() for s, i in intent.plan]

    def absorbed(self, status: Status) -> Row:
        """This row knowing the slots its intents hold, in a run from `known`.

        An intent whose slot holds its run and nonce (`status.held`) is that slot, so the
        row knows it (as pending); the rest stay intents (a writer's probe finds the slots).
        """
        row = self
        for intent in self.live_intents():
            if intent.index != row.known or status.held.get(intent.id) != _holds(intent):
                continue
            row = row.with_slots([intent])
        return row

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
        """The table every reader sees: the base, then the valid pending slots and intents.

        In slot order; an intent counts only if its slot holds it (`status.held`).
        """
        valid = [s for s in self.pending if status.verdict(s) == "valid"]
        valid += [
            i
            for i in self.live_intents()
            if status.held.get(i.id) == _holds(i) and status.verdict(i) == "valid"
        ]
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
        Intents are keys of their own (`intent_key`): this writer's is written, one it read
        and now knows past (below `known`) is deleted (None), the others are left as stored
        (Chroma's `update` keeps the keys it is not given).
        """
        table = {a: _table_row(s) for a, s in self.base.items()}
        pending = [s.entry() for s in self.pending]
        packed = [self.task, table, self.through, self.known, self.last_update, pending]
        meta: dict[str, Any] = {"start": self.start}
        meta[_PACKED] = json.dumps(packed, ensure_ascii=False)
        for intent in self.intents:
            if intent.index < self.known:
                meta[intent_key(intent.run_id)] = None
        if self.intent is not None and self.intent.index >= self.known:
            entry = [self.intent.entry(), [list(p) for p in self.intent.plan]]
            meta[intent_key(self.intent.run_id)] = json.dumps(entry, ensure_ascii=False)
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
            intents = tuple(
                _intent_of(record_id, str(task), document or "", value)
                for k, value in metadata.items()
                if k.startswith(_INTENT) and value is not None
            )
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
                intents=intents,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            msg = f"state {record_id} has a corrupt row; run memory.rebuild() to repair it"
            raise StorageError(msg) from e


def intent_key(run_id: str) -> str:
    """The row metadata key of a run's intent."""
    return _INTENT + stable_id("run", run_id)


def _intent_of(state_id: str, task: str, key: str, value: Any) -> Slot:
    entry, plan = json.loads(value)
    slot = Slot.of_entry(state_id, entry)
    steps = tuple((str(s), int(i)) for s, i in plan)
    return dataclasses.replace(slot, task=task, key=key, plan=steps)


def _holds(slot: Slot) -> tuple[str, str]:
    return (slot.run_id, slot.nonce)


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
