"""Reading what the log says and keeping rows folded with it (DESIGN §6).

`Settler` holds the reads every writer and reader shares — the status of some runs (judging a
tentative done record by the slots it names), the tables readers see — and the row upkeep:
knowing slots found past a row's `known`, refolding after a forget's marker, settling decided
slots into the base, probing past `known`, helping a stuck run. `_ledger.Ledger` adds the
writes of a run on top.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer._evicted import live, markers, pointer_id, restarts
from langchain_rememberer._records import Done, RunRecord, Slot, done_id, run_key, slot_id
from langchain_rememberer._rows import Row, Status
from langchain_rememberer._store import ChromaStore, Namespace
from langchain_rememberer.config import RLEMConfig
from langchain_rememberer.errors import StorageError

__all__ = ["HELP_AFTER", "MAX_ROUNDS", "Settler", "checked", "holder", "runs_and_dones", "slot_of"]

logger = logging.getLogger(__name__)

HELP_AFTER = 8
"""A prepared, uncommitted run whose slot has this many slots after it in a row is completed
by whoever settles that row (its writer may have died). A count of slots, never a time."""

MAX_ROUNDS = 1000
"""Rounds a claim or a settle may take before it gives up (a livelock guard)."""


def slot_of(record_id: str, metadata: Any, document: str | None) -> Slot:
    """A slot as stored; one that cannot be read is read as a marker (counts nothing; warned)."""
    try:
        return Slot.from_chroma(record_id, metadata, document)
    except StorageError as e:
        state_id, _, index = record_id.removeprefix("slot:").rpartition(":")
        logger.warning("rememberer: %s; it counts nothing", e)
        run_id = str(metadata.get("run_id") or "") if isinstance(metadata, dict) else ""
        return Slot(state_id, int(index), run_id, forget=True)


def holder(record_id: str, record: tuple[Any, str] | None) -> tuple[str, str] | None:
    """(run id, nonce) of the slot record `record` (None: absent)."""
    if record is None:
        return None
    slot = slot_of(record_id, *record)
    return (slot.run_id, slot.nonce)


def checked(
    store: ChromaStore, ns: Namespace, status: Status, got: Mapping[str, Any] | None = None
) -> Status:
    """`status` knowing who holds the slots its tentative done records name.

    Read in `got` (a read already made) or, when some are not, in one read by id: only a
    status with a tentative done of its run's nonce needs it (DESIGN §6, "Commit").
    """
    need = status.to_check()
    if not need:
        return status
    have = dict(got or {})
    missing = [i for i in need if i not in have]
    if missing:
        have.update(store.get_log(ns, missing))
    held = {i: holder(i, have.get(i)) for i in need}
    return dataclasses.replace(status, held={**status.held, **held})


def runs_and_dones(got: Mapping[str, tuple[Any, str]]) -> Status:
    runs, dones = {}, {}
    for record_id, (meta, doc) in got.items():
        if record_id.startswith("run:"):
            run = RunRecord.from_chroma(record_id, meta, doc)
            runs[run.run_id] = run
        elif record_id.startswith("done:"):
            done = Done.from_chroma(record_id, meta, doc)
            dones[done.run_id] = done
    return Status(runs, dones)


class Settler:
    """The shared reads of a namespace's log, and the upkeep of its rows (see the module).

    Args:
        store: The Chroma storage.
        encoder: Embeds the states of a run it completes for another writer.
        rlem: The fold's learning rate.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory

        memory = RemembererMemory(path=None)
        assert memory.ledger.view(memory._open(None), []) == []
        ```
    """

    def __init__(self, store: ChromaStore, encoder: StateEncoder, rlem: RLEMConfig) -> None:
        self.store = store
        self.encoder = encoder
        self.rlem = rlem
        self.helped = 0
        """Prepared runs of other writers this ledger completed (helping; DESIGN §6)."""

    def status(
        self,
        ns: Namespace,
        run_ids: Iterable[str],
        new: Sequence[str] = (),
        *,
        check: bool = True,
        slots: Sequence[str] = (),
    ) -> Status:
        """The run and done records of some runs, and where `new` states start (one read).

        `slots`: slot ids read in the same call, for who holds them (an intent's plan,
        `Row.intent_slots`). A tentative done record of its run's nonce naming slots not read
        is judged by a second read of them (`check=False`: left to the caller, `checked`).
        """
        runs = sorted(set(run_ids))
        if not runs and not new and not slots:
            return Status()
        ids = [run_key(r) for r in runs] + [done_id(r) for r in runs]
        held_ids = list(dict.fromkeys(slots))
        got = self.store.get_log(ns, ids + [pointer_id(s) for s in new] + held_ids)
        status = dataclasses.replace(
            runs_and_dones(got),
            starts=restarts(got, new),
            held={i: holder(i, got.get(i)) for i in held_ids},
        )
        return self.checked(ns, status) if check else status

    def row_status(
        self,
        ns: Namespace,
        rows: Iterable[Row],
        new: Sequence[str] = (),
        *,
        runs: Iterable[str] = (),
        ends: bool = False,
        slots: Sequence[str] = (),
    ) -> Status:
        """The status of some rows' pending slots and intents, and of `runs` (one read, mostly).

        `ends`: who holds the position at each row's `known` too (a learn's short way is
        taken only where nobody does, but an intent's run); `slots`: more slot ids to read.
        """
        rows = list(rows)
        every = set(runs) | {r for row in rows for r in row.pending_runs()}
        held = [*slots, *(i for row in rows for i in row.intent_slots())]
        held += [slot_id(row.id, row.known) for row in rows] if ends else []
        return self.status(ns, every, new, slots=held)

    def checked(
        self, ns: Namespace, status: Status, got: Mapping[str, Any] | None = None
    ) -> Status:
        """`status` knowing who holds the slots its tentative done records name (`checked`)."""
        return checked(self.store, ns, status, got)

    def slots(self, ns: Namespace, state_id: str, indices: Iterable[int]) -> list[Slot]:
        """The slots of a state at some positions (absent ones are left out)."""
        got = self.store.get_log(ns, [slot_id(state_id, i) for i in indices])
        return [slot_of(i, m, d) for i, (m, d) in got.items()]

    def view(self, ns: Namespace, rows: Sequence[Row]) -> list[dict[str, Any]]:
        """The tables readers see of some rows (a read only when one has pending slots)."""
        if not any(row.pending or row.live_intents() for row in rows):  # each is its base
            return [dict(row.base) for row in rows]
        status = self.row_status(ns, rows)
        return [row.view(status, self.rlem) for row in rows]

    def counted(self, ns: Namespace, row: Row) -> tuple[list[Slot], Status]:
        """The valid slots a row's table folds, in order, read from the log; and their status.

        Its slots from `start` below `known`, and those its intents name past it (DESIGN §6):
        what `view` folds, but from the slot records (the CLI's `show`, the load tests).
        """
        intents = {(i.index, i.run_id, i.nonce) for i in row.live_intents()}
        positions = {*range(row.start, row.known), *(index for index, _r, _n in intents)}
        slots = sorted(self.slots(ns, row.id, positions), key=lambda s: s.index)
        slots = [s for s in slots if s.index < row.known or (s.index, s.run_id, s.nonce) in intents]
        status = self.row_status(ns, [row], runs={s.run_id for s in slots if not s.forget})
        return [s for s in slots if status.verdict(s) == "valid"], status

    def knowing(
        self, ns: Namespace, rows: Mapping[str, Row], found: Mapping[str, Sequence[Slot]]
    ) -> dict[str, Row]:
        """Rows knowing the slots `found` too; those that met a marker refolded, in one batch."""
        knowing = {s: row.with_slots(found.get(s, ())) for s, row in rows.items()}
        marked = [knowing[s] for s, slots in found.items() if any(x.forget for x in slots)]
        return knowing | self.refold(ns, marked)

    def refold(self, ns: Namespace, rows: Sequence[Row]) -> dict[str, Row]:
        """Rows rebuilt from every slot of theirs below `known` (a run in a base was forgotten).

        Two reads for any number of rows: their slots, then the status of the slots' runs.
        """
        if not rows:
            return {}
        ids = [slot_id(row.id, i) for row in rows for i in range(row.start, row.known)]
        got = self.store.get_log(ns, ids)
        slots = [slot_of(i, m, d) for i, (m, d) in got.items()]
        status = self.status(ns, {s.run_id for s in slots if not s.forget}, check=False)
        status = self.checked(ns, status, got)  # a tentative done naming only these: no read
        by_state: dict[str, list[Slot]] = {row.id: [] for row in rows}
        for slot in slots:
            by_state[slot.state_id].append(slot)
        return {row.id: row.refolded(by_state[row.id], status, self.rlem) for row in rows}

    def settle(
        self,
        ns: Namespace,
        rows: Mapping[str, Row],
        *,
        written: Mapping[str, Row] | None = None,
        status: Status | None = None,
    ) -> dict[str, Row]:
        """Fold the decided pending slots of rows into their bases, until no slot is unknown.

        Writes a row when it changed (`written`: as stored now; default `rows`), then reads the
        position after each row's `known`: a slot there was claimed by a writer that may have
        written an older row after ours, so the loop goes on with it. The last writer of a row
        finds nothing and leaves the fold of every slot. `status`: of the rows' pending runs,
        read after they were written (`complete`), saves the first round's read.
        """
        rows, written = dict(rows), dict(rows if written is None else written)
        for _ in range(MAX_ROUNDS):
            if status is None:
                status = self.row_status(ns, rows.values())
            rows = {s: row.absorbed(status) for s, row in rows.items()}
            status = self._help(ns, rows, status)
            settled = {s: row.settle(status, self.rlem) for s, row in rows.items()}
            changed = [row for s, row in settled.items() if row != written.get(s)]
            self.store.write_rows(ns, changed)
            written.update({row.id: row for row in changed})
            settled, found = self.probe(ns, settled)
            if not found:
                return settled
            rows = self.knowing(ns, settled, found)
            status = None
        msg = "could not settle states: too many concurrent writers"
        raise StorageError(msg)

    def probe(
        self, ns: Namespace, rows: Mapping[str, Row]
    ) -> tuple[dict[str, Row], dict[str, list[Slot]]]:
        """The rows still live, and the slots at and after each one's `known`.

        None, unless another writer claimed one. The first read reads the rows' markers too:
        a row of an evicted incarnation is deleted if it still holds it (`_evicted.live`).
        """
        found: dict[str, list[Slot]] = {}
        ends = {s: row.known for s, row in rows.items()}
        check = markers(rows)
        while ends:
            got = self.store.get_log(ns, [slot_id(s, i) for s, i in ends.items()] + check)
            if check:
                rows, check = live(self.store, ns, rows, got), []
                ends = {s: i for s, i in ends.items() if s in rows}
            nxt = {}
            for s, i in ends.items():
                if slot_id(s, i) in got:
                    found.setdefault(s, []).append(slot_of(slot_id(s, i), *got[slot_id(s, i)]))
                    nxt[s] = i + 1
            ends = nxt
        return dict(rows), found

    def _help(self, ns: Namespace, rows: Mapping[str, Row], status: Status) -> Status:
        """Complete the prepared runs stuck in these rows (`HELP_AFTER`); the new status."""
        stuck = {r for row in rows.values() for r in row.stuck_runs(status, HELP_AFTER)}
        if not stuck:
            return status
        for run_id in sorted(stuck):
            self.commit(ns, status.runs[run_id], settle=False)
            self.helped += 1
        return self.row_status(ns, rows.values())

    def commit(
        self, ns: Namespace, run: RunRecord, *args: Any, **kwargs: Any
    ) -> tuple[bool, int, RunRecord]:
        """Complete a run (`_ledger.Ledger.commit`): helping needs it."""
        raise NotImplementedError
