"""The log protocol: claim a run's slots, name them in its rows, commit it (DESIGN §6).

`Ledger` does every write of the learn path and of maintenance; its reads are by id (and
one vector query in `_operations.retrieve`). The records and the pure rules are in
`_records.py`; DESIGN §6 states the invariants and argues them.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer._evicted import live, markers, pointer_id, restarted, restarts
from langchain_rememberer._records import (
    Done,
    RunRecord,
    Slot,
    Status,
    done_id,
    run_key,
    slot_id,
)
from langchain_rememberer._rows import Row
from langchain_rememberer._store import ChromaStore, Namespace
from langchain_rememberer.config import RLEMConfig
from langchain_rememberer.errors import StorageError

__all__ = ["HELP_AFTER", "Ledger"]

logger = logging.getLogger(__name__)

HELP_AFTER = 8
"""A prepared, uncommitted run whose slot has this many slots after it in a row is completed
by whoever settles that row (its writer may have died). A count of slots, never a time."""

_MAX_ROUNDS = 1000


def _slot_of(record_id: str, metadata: Any, document: str | None) -> Slot:
    """A slot as stored; one that cannot be read is read as a marker (counts nothing; warned)."""
    try:
        return Slot.from_chroma(record_id, metadata, document)
    except StorageError as e:
        state_id, _, index = record_id.removeprefix("slot:").rpartition(":")
        logger.warning("rememberer: %s; it counts nothing", e)
        run_id = str(metadata.get("run_id") or "") if isinstance(metadata, dict) else ""
        return Slot(state_id, int(index), run_id, forget=True)


def _runs_and_dones(got: Mapping[str, tuple[Any, str]]) -> Status:
    runs, dones = {}, {}
    for record_id, (meta, doc) in got.items():
        if record_id.startswith("run:"):
            run = RunRecord.from_chroma(record_id, meta, doc)
            runs[run.run_id] = run
        elif record_id.startswith("done:"):
            done = Done.from_chroma(record_id, meta, doc)
            dones[done.run_id] = done
    return Status(runs, dones)


class Ledger:
    """Writes runs into a namespace exactly once, and keeps its rows folded.

    Args:
        store: The Chroma storage.
        encoder: Embeds the states of a run it completes for another writer.
        rlem: The fold's learning rate.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory

        memory = RemembererMemory(path=None)
        assert memory.ledger.store is memory.store
        ```
    """

    def __init__(self, store: ChromaStore, encoder: StateEncoder, rlem: RLEMConfig) -> None:
        self.store = store
        self.encoder = encoder
        self.rlem = rlem
        self.helped = 0
        """Prepared runs of other writers this ledger completed (helping; DESIGN §6)."""

    # -- reads -------------------------------------------------------------------------------

    def status(self, ns: Namespace, run_ids: Iterable[str], new: Sequence[str] = ()) -> Status:
        """The run and done records of some runs, and where `new` states start (one read)."""
        runs = sorted(set(run_ids))
        if not runs and not new:
            return Status()
        ids = [run_key(r) for r in runs] + [done_id(r) for r in runs]
        got = self.store.get_log(ns, ids + [pointer_id(s) for s in new])
        return dataclasses.replace(_runs_and_dones(got), starts=restarts(got, new))

    def slots(self, ns: Namespace, state_id: str, indices: Iterable[int]) -> list[Slot]:
        """The slots of a state at some positions (absent ones are left out)."""
        got = self.store.get_log(ns, [slot_id(state_id, i) for i in indices])
        return [_slot_of(i, m, d) for i, (m, d) in got.items()]

    def view(self, ns: Namespace, rows: Sequence[Row]) -> list[dict[str, Any]]:
        """The tables readers see of some rows (a read only when one has pending slots)."""
        if not any(row.pending for row in rows):  # each table is its base: nothing to judge
            return [dict(row.base) for row in rows]
        status = self.status(ns, {r for row in rows for r in row.pending_runs()})
        return [row.view(status, self.rlem) for row in rows]

    # -- a run -------------------------------------------------------------------------------

    def complete(
        self,
        ns: Namespace,
        run: RunRecord,
        rows: Mapping[str, Row],
        vectors: Mapping[str, Sequence[float]],
        *,
        prepared: bool = True,
        starts: Mapping[str, int] | None = None,
    ) -> tuple[bool, dict[str, Row], Status, RunRecord, dict[str, list[Slot]]]:
        """Claim a slot per state for a run, name them in its rows, then commit it.

        `rows` are the run's rows as read (missing: new states, written with `vectors`, from
        `starts` if evicted before).
        `prepared=False`: the run record is not stored yet; it is added with the first claims,
        in one call. If another attempt's record is stored first, that run is committed (its
        targets; the slots claimed for ours are invalid at once, their nonce being another).
        Returns whether this call's done record is the one that counts (another writer's may
        have committed the run first), the run's rows as written, the status of their pending
        slots' runs after the commit, the run as stored, and the slots found at each row's
        `known` (claimed by writers this one's rows do not know of).
        """
        at = starts or {}
        current = {
            s: rows.get(s) or Row.fresh(s, run.task_of(s), run.key_of(s), at.get(s, 0))
            for s in run.state_ids()
        }
        mine, current, stored = self.claim(ns, _wanted(run), current, run=None if prepared else run)
        if stored is not None and stored.nonce != run.nonce:  # another attempt prepared it
            stored.check_same(run.fingerprint)
            run = stored
            mine, current, _ = self.claim(ns, _wanted(run), current)
        wanted = _wanted(run)
        new = {s: vectors[s] for s in wanted if s not in rows}
        now = time.time()  # when each state was last learned: eviction ranks by it
        current = {s: dataclasses.replace(row, last_update=now) for s, row in current.items()}
        self.store.write_rows(ns, list(current.values()), new)
        done = Done(run.run_id, run.nonce, tuple((s, mine[s]) for s in wanted), uuid.uuid4().hex)
        runs = {run.run_id} | {r for row in current.values() for r in row.pending_runs()}
        status, found, current = self._add_done(ns, done, runs, current)
        committed = status.dones.get(run.run_id)
        mine_counts = committed is not None and committed.by == done.by
        return mine_counts and status.learned(run.run_id), current, status, run, found

    def _add_done(
        self, ns: Namespace, done: Done, runs: set[str], rows: Mapping[str, Row]
    ) -> tuple[Status, dict[str, list[Slot]], dict[str, Row]]:
        """Add a done record; the status of `runs`, the slots at the rows' ends, the live rows.

        The read that tells whether the done record won also probes each row's end (the
        position at its `known`) and reads its incarnation's marker (a row written after an
        eviction is deleted: `_evicted.live`): one read for all.
        A done record of another nonce than the run record's is stale: its run was forgotten
        (run records are never rewritten, so that nonce's run record is gone for good) and a
        later attempt prepared the run anew. It is deleted only if it still holds that nonce
        (a conditional delete), then the add is tried again: a forget racing a learn of the
        same run can never leave a run that no attempt can commit.
        """
        meta, doc = done.chroma()
        ordered = sorted(runs)
        probes = {slot_id(s, row.known): s for s, row in rows.items()}
        ids = [run_key(r) for r in ordered] + [done_id(r) for r in ordered] + list(probes)
        ids += markers(rows)
        for _ in range(_MAX_ROUNDS):
            self.store.add_log(ns, [(done_id(done.run_id), meta, doc)])
            got = self.store.get_log(ns, ids)
            status = _runs_and_dones(got)
            run, stored = status.runs.get(done.run_id), status.dones.get(done.run_id)
            if run is None or stored is None or stored.nonce == run.nonce:
                kept = live(self.store, ns, rows, got)
                found = {s: [_slot_of(i, *got[i])] for i, s in probes.items() if i in got}
                return status, {s: f for s, f in found.items() if s in kept}, kept
            self.store.delete_log_if(ns, done_id(done.run_id), nonce=stored.nonce)
        msg = f"could not commit run {done.run_id!r}: too many concurrent forgets of it"
        raise StorageError(msg)

    def claim(
        self,
        ns: Namespace,
        wanted: Mapping[str, Slot],
        rows: Mapping[str, Row],
        *,
        run: RunRecord | None = None,
    ) -> tuple[dict[str, int], dict[str, Row], RunRecord | None]:
        """Claim one slot per state (`wanted[s]`, its index ignored) at the end of its sequence.

        A slot of the same nonce already pending in the row is reused. Every slot walked past
        joins the row's pending slots, so the row keeps knowing every slot below `known`. Each
        read-back reads the marker of the incarnation claimed in: found, the state's row
        starts again where the next one starts (`_evicted.py`), and so does the claim.
        `run`: a run record to add with the first claims (one call) and read back with them.
        Returns the claimed index per state, the rows knowing them, and the run record stored
        (None unless `run` was given). When another record was stored first, the claims stop
        there: they were made with a nonce that does not count.
        """
        rows = dict(rows)
        mine = {
            s: slot.index
            for s, row in rows.items()
            for slot in row.pending
            if s in wanted and slot.nonce == wanted[s].nonce
        }
        todo = {s: rows[s].known for s in wanted if s not in mine}
        extra = [] if run is None else [(run_key(run.run_id), *run.chroma())]
        stored: RunRecord | None = None
        for _ in range(_MAX_ROUNDS):
            if not todo and not extra:
                return mine, rows, stored
            tries = [dataclasses.replace(wanted[s], index=i) for s, i in todo.items()]
            self.store.add_log(ns, [*extra, *((t.id, *t.chroma()) for t in tries)])
            tried = {t.state_id: rows[t.state_id] for t in tries}
            ids = [r[0] for r in extra] + [t.id for t in tries] + markers(tried)
            got = self.store.get_log(ns, ids)
            if extra:
                stored = _runs_and_dones(got).runs.get(extra[0][1]["run_id"])
                if stored is None:
                    msg = f"run {extra[0][1]['run_id']!r} was deleted while it was being learned"
                    raise StorageError(msg)
                extra = []
            found: dict[str, list[Slot]] = {}
            rows.update(gone := restarted(got, tried))  # evicted: claim in the next incarnation
            todo.update({s: row.start for s, row in gone.items()})
            for t in tries:
                if t.state_id in gone or t.id not in got:  # moved on, or deleted: claim again
                    continue
                slot = _slot_of(t.id, *got[t.id])
                found[t.state_id] = [slot]
                if slot.nonce == t.nonce and slot.run_id == t.run_id:
                    mine[t.state_id] = t.index
                    del todo[t.state_id]
                else:
                    todo[t.state_id] = t.index + 1
            rows.update(self.knowing(ns, rows, found))
            if not todo or (stored is not None and run is not None and stored.nonce != run.nonce):
                return mine, rows, stored
        msg = "could not claim a slot: too many concurrent writers on one state"
        raise StorageError(msg)

    # -- rows --------------------------------------------------------------------------------

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
        slots = [_slot_of(i, m, d) for i, (m, d) in self.store.get_log(ns, ids).items()]
        status = self.status(ns, {s.run_id for s in slots if not s.forget})
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
        for _ in range(_MAX_ROUNDS):
            if status is None:
                status = self.status(ns, {r for row in rows.values() for r in row.pending_runs()})
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
                    found.setdefault(s, []).append(_slot_of(slot_id(s, i), *got[slot_id(s, i)]))
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
        return self.status(ns, {r for row in rows.values() for r in row.pending_runs()})

    def commit(
        self,
        ns: Namespace,
        run: RunRecord,
        rows: Mapping[str, Row] | None = None,
        vectors: Mapping[str, Sequence[float]] | None = None,
        before: Status | None = None,
        *,
        settle: bool = True,
        prepared: bool = True,
    ) -> tuple[bool, int, RunRecord]:
        """Complete a run (of this writer or any other); settle its rows if others wrote them.

        The one commit path of `learn`, `import` and repair (helping, `compact`, `rebuild`).
        `rows`: the run's rows as already read; `before`: the status of their pending slots'
        runs, read with them (their decided slots are folded in the write that names the
        run's); `vectors`: states already embedded (a state with a vector and no row was read
        and is new); the rest are read and embedded here. The rows are left with the run's
        slots pending (a reader's view reads the status of a pending run by id; the next write
        of a state folds what is decided): they are settled here only when the read after the
        commit found a slot they do not know of, or a stuck run to help. `settle=False`
        (helping, from inside another settle) leaves that to the caller. `prepared=False`: a
        new run, its record added with its first claims. Returns whether this call's done
        record is the one that counts, how many of the run's states are new, and the run as
        stored (another attempt's, if it prepared it first).
        """
        states = run.state_ids()
        got, embedded = dict(rows or {}), dict(vectors or {})
        if before is not None:
            got = {s: row.settle(before, self.rlem) for s, row in got.items()}
        unread = [s for s in states if s not in got and s not in embedded]
        if unread:
            got.update(self.store.get_rows(ns, unread))
        missing = [s for s in states if s not in got]
        todo = [s for s in missing if s not in embedded]
        pairs = [(run.task_of(s), run.key_of(s)) for s in todo]
        embedded.update(zip(todo, self.encoder.state_vectors(ns.task_weight, pairs), strict=True))
        committed, written, status, run, found = self.complete(
            ns, run, got, embedded, prepared=prepared, starts=before.starts if before else None
        )
        if settle and (found or any(w.stuck_runs(status, HELP_AFTER) for w in written.values())):
            self.settle(ns, self.knowing(ns, written, found), written=written)
        return committed, len(missing), run


def _wanted(run: RunRecord) -> dict[str, Slot]:
    """The slot a run claims in each of its states (its index still to be found)."""
    return {
        s: Slot(s, -1, run.run_id, run.slots(s), run.task_of(s), run.key_of(s), nonce=run.nonce)
        for s in run.state_ids()
    }
