"""The log protocol: claim a run's slots, name them in its rows, commit it (DESIGN §6).

`Ledger` does every write of the learn path and of maintenance; its reads are by id (and
one vector query in `_operations.retrieve`). The records and the pure rules are in
`_records.py`; DESIGN §6 states the invariants and argues them.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_rememberer._evicted import live, markers, moved, restarted
from langchain_rememberer._records import (
    Done,
    RunRecord,
    Slot,
    done_id,
    run_key,
    slot_id,
)
from langchain_rememberer._rows import Row, Status
from langchain_rememberer._settling import (
    HELP_AFTER,
    MAX_ROUNDS,
    Settler,
    checked,
    holder,
    runs_and_dones,
    slot_of,
)
from langchain_rememberer._store import Namespace
from langchain_rememberer.errors import StorageError

__all__ = ["HELP_AFTER", "Ledger", "checked"]


Completed = tuple[bool, dict[str, Row], Status, RunRecord, dict[str, list[Slot]]]
"""What `Ledger.complete` returns (see there)."""


class Ledger(Settler):
    """Writes runs into a namespace exactly once, and keeps its rows folded.

    Made as a `Settler` (its reads and row upkeep), with the same arguments.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory

        memory = RemembererMemory(path=None)
        assert memory.ledger.store is memory.store
        ```
    """

    # -- a run -------------------------------------------------------------------------------

    def complete(
        self,
        ns: Namespace,
        run: RunRecord,
        rows: Mapping[str, Row],
        vectors: Mapping[str, Sequence[float]],
        *,
        prepared: bool = True,
        before: Status | None = None,
    ) -> Completed:
        """Claim a slot per state for a run, name them in its rows, then commit it.

        `rows` are the run's rows as read (missing: new states, written with `vectors`, from
        `before.starts` if evicted before); `before`: the status read with them.
        `prepared=False`: the run record is not stored yet. A run that fits one `add` goes
        the short way first (`_first_add`: rows naming its intent, then one `add` of the run
        record, its claims and a tentative done record); else, or when that add did not
        commit it, the long way: claims (the run record added with the first), rows, done.
        If another attempt's record is stored first, that run is committed (its targets; the
        slots claimed for ours are invalid at once, their nonce being another).
        Returns whether this call's done record is the one that counts (another writer's may
        have committed the run first), the run's rows as written, the status of their pending
        slots' runs after the commit, the run as stored, and the slots found at each row's
        `known` (claimed by writers this one's rows do not know of).
        """
        at = before.starts if before else {}
        current = {
            s: rows.get(s) or Row.fresh(s, run.task_of(s), run.key_of(s), at.get(s, 0))
            for s in run.state_ids()
        }
        now = time.time()  # when each state was last learned: eviction ranks by it
        if not prepared and _short(current, before, self.store.batch_size):
            result, current, stored = self._first_add(ns, run, current, rows, vectors, before, now)
            if result is not None:
                return result
            prepared, run = True, _as_stored(run, stored)
        mine, current, claimed = self.claim(
            ns, _wanted(run), current, run=None if prepared else run
        )
        if (adopted := _as_stored(run, claimed)) is not run:
            run = adopted
            mine, current, _ = self.claim(ns, _wanted(run), current)
        wanted = _wanted(run)
        new = {s: vectors[s] for s in wanted if s not in rows}
        current = {s: dataclasses.replace(row, last_update=now) for s, row in current.items()}
        self.store.write_rows(ns, list(current.values()), new)
        done = Done(run.run_id, run.nonce, tuple((s, mine[s]) for s in wanted), uuid.uuid4().hex)
        runs = {run.run_id} | {r for row in current.values() for r in row.pending_runs()}
        status, found, current = self._add_done(ns, done, runs, current)
        committed = status.dones.get(run.run_id)
        mine_counts = committed is not None and committed.by == done.by
        return mine_counts and status.learned(run.run_id), current, status, run, found

    def _first_add(  # noqa: PLR0917 (what `complete` hands on, in order)
        self,
        ns: Namespace,
        run: RunRecord,
        rows: Mapping[str, Row],
        read: Mapping[str, Row],
        vectors: Mapping[str, Sequence[float]],
        before: Status | None,
        now: float,
    ) -> tuple[Completed | None, dict[str, Row], RunRecord]:
        """A new run's short way: two writes (DESIGN §6, "Two writes").

        Each row is written naming the run's *intent* (the slot it will claim, at the row's
        `known`, with the run's plan), then one `add` holds the run record, every claim and a
        tentative done record naming them, and one read reads them back with the position
        after each claim and each row's eviction marker. Every claim won: committed (what
        `complete` returns). Else the rows as written (the long way goes on from them, with
        the run as stored); a tentative done of ours that cannot count is deleted. Returns
        what `complete` returns when committed (else None), the rows, the run as stored.
        """
        plan = tuple((s, row.known) for s, row in rows.items())
        intents = {
            s: dataclasses.replace(slot, index=rows[s].known, plan=plan)
            for s, slot in _wanted(run).items()
        }
        named = {
            s: dataclasses.replace(row, intent=intents[s], last_update=now)
            for s, row in rows.items()
        }
        self.store.write_rows(
            ns, list(named.values()), {s: vectors[s] for s in rows if s not in read}
        )
        done = Done(run.run_id, run.nonce, plan, uuid.uuid4().hex, tentative=True)
        claims = [(i.id, *dataclasses.replace(i, plan=()).chroma()) for i in intents.values()]
        head = [(run_key(run.run_id), *run.chroma()), (done_id(run.run_id), *done.chroma())]
        self.store.add_log(ns, [head[0], *claims, head[1]])
        after = {slot_id(s, i + 1): s for s, i in plan}
        got = self.store.get_log(
            ns, [head[0][0], head[1][0], *(i.id for i in intents.values()), *after, *markers(named)]
        )
        status = dataclasses.replace(
            runs_and_dones(got), held={i.id: holder(i.id, got.get(i.id)) for i in intents.values()}
        )
        stored, ours = status.runs.get(run.run_id), status.dones.get(run.run_id)
        if stored is None:
            msg = f"run {run.run_id!r} was deleted while it was being learned"
            raise StorageError(msg)
        landed = ours is not None and ours.by == done.by
        dead = {s for s, n in moved(got, named).items() if intents[s].index < n}
        if landed and stored.nonce == run.nonce and status.learned(run.run_id) and not dead:
            kept = live(self.store, ns, named, got)
            knowing = {s: row.with_slots([intents[s]]) for s, row in kept.items()}
            found = {s: [slot_of(i, *got[i])] for i, s in after.items() if i in got and s in kept}
            return (True, knowing, (before or Status()).joined(status), run, found), knowing, stored
        if landed:  # void (a claim lost), or a claim in an ended incarnation: withdrawn
            self.store.delete_log_if(ns, done_id(run.run_id), nonce=done.nonce, by=done.by)
        claimed = {s: [slot_of(i.id, *got[i.id])] for s, i in intents.items() if i.id in got}
        return None, self.knowing(ns, named, claimed), stored  # the long way starts past them

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
        for _ in range(MAX_ROUNDS):
            self.store.add_log(ns, [(done_id(done.run_id), meta, doc)])
            got = self.store.get_log(ns, [*ids, *done.named()])
            status = self.checked(ns, runs_and_dones(got), got)
            run, stored = status.runs.get(done.run_id), status.dones.get(done.run_id)
            if status.void(done.run_id) and stored is not None:  # a tentative done that lost
                self.store.delete_log_if(ns, done_id(done.run_id), nonce=stored.nonce, by=stored.by)
                continue
            if run is None or stored is None or stored.nonce == run.nonce:
                kept = live(self.store, ns, rows, got)
                found = {s: [slot_of(i, *got[i])] for i, s in probes.items() if i in got}
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

        A slot of the same nonce already pending in the row is reused (and one found at the
        position tried: a first `add` of the run won it). Every slot walked past joins the
        row's pending slots, so the row keeps knowing every slot below `known`. Each
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
        for _ in range(MAX_ROUNDS):
            if not todo and not extra:
                return mine, rows, stored
            tries = [dataclasses.replace(wanted[s], index=i) for s, i in todo.items()]
            self.store.add_log(ns, [*extra, *((t.id, *t.chroma()) for t in tries)])
            tried = {t.state_id: rows[t.state_id] for t in tries}
            ids = [r[0] for r in extra] + [t.id for t in tries]
            got = self.store.get_log(ns, ids + markers(tried))
            if extra:
                stored = runs_and_dones(got).runs.get(extra[0][1]["run_id"])
                if stored is None:
                    msg = f"run {extra[0][1]['run_id']!r} was deleted while it was being learned"
                    raise StorageError(msg)
                extra = []
            rows.update(gone := restarted(got, tried))  # evicted: claim in the next incarnation
            todo.update({s: row.start for s, row in gone.items()})
            found = _judged(tries, got, gone, mine, todo)
            rows.update(self.knowing(ns, rows, found))
            if not todo or (stored is not None and run is not None and stored.nonce != run.nonce):
                return mine, rows, stored
        msg = "could not claim a slot: too many concurrent writers on one state"
        raise StorageError(msg)

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
            got = {s: row.absorbed(before).settle(before, self.rlem) for s, row in got.items()}
        unread = [s for s in states if s not in got and s not in embedded]
        if unread:
            got.update(self.store.get_rows(ns, unread))
        missing = [s for s in states if s not in got]
        todo = [s for s in missing if s not in embedded]
        pairs = [(run.task_of(s), run.key_of(s)) for s in todo]
        embedded.update(zip(todo, self.encoder.state_vectors(ns.task_weight, pairs), strict=True))
        committed, written, status, run, found = self.complete(
            ns, run, got, embedded, prepared=prepared, before=before
        )
        if settle and (found or any(w.stuck_runs(status, HELP_AFTER) for w in written.values())):
            self.settle(ns, self.knowing(ns, written, found), written=written)
        return committed, len(missing), run


def _judged(
    tries: Sequence[Slot],
    got: Mapping[str, tuple[Any, str]],
    gone: Mapping[str, Row],
    mine: dict[str, int],
    todo: dict[str, int],
) -> dict[str, list[Slot]]:
    """One round of claims read back: each won goes to `mine`, each lost moves on in `todo`.

    Returns the slot found at each position tried (not for a state that moved on to its next
    incarnation, nor for a position found empty: both are claimed again).
    """
    found: dict[str, list[Slot]] = {}
    for t in tries:
        if t.state_id in gone or t.id not in got:  # moved on, or deleted: claim again
            continue
        slot = slot_of(t.id, *got[t.id])
        found[t.state_id] = [slot]
        if slot.nonce == t.nonce and slot.run_id == t.run_id:
            mine[t.state_id] = t.index
            del todo[t.state_id]
        else:
            todo[t.state_id] = t.index + 1
    return found


def _short(rows: Mapping[str, Row], before: Status | None, batch_size: int) -> bool:
    """Whether a new run may go the short way.

    It fits one `add`, and no position it would claim was seen taken (`before.held`, read
    with the rows: then the long way walks on).
    """
    held = before.held if before else {}
    return len(rows) + 2 <= batch_size and not any(
        held.get(slot_id(s, row.known)) for s, row in rows.items()
    )


def _as_stored(run: RunRecord, stored: RunRecord | None) -> RunRecord:
    """The run to commit: another attempt's record when one was stored first, else `run`.

    The stored record must be of this episode (`RunRecord.check_same`).
    """
    if stored is None or stored.nonce == run.nonce:
        return run
    stored.check_same(run.fingerprint)
    return stored


def _wanted(run: RunRecord) -> dict[str, Slot]:
    """The slot a run claims in each of its states (its index still to be found)."""
    return {
        s: Slot(s, -1, run.run_id, run.slots(s), run.task_of(s), run.key_of(s), nonce=run.nonce)
        for s in run.state_ids()
    }
