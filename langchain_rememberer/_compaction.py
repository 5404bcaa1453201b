"""Compaction, the pure part: a state's old updates become one snapshot per action (DESIGN §6).

Every `learn` touching a state reads and re-folds that state's whole log; after thousands of
updates that read dominates. Compacting a state writes, per action, one *snapshot*: a log
record holding the action's folded stats (Q in `target`, the last reward in `reward`,
`visits`, the kept answer and its value) of every update of the state older than a *cutoff*
(the snapshot's `created_at`). The rules:

- A state's *live* snapshots are those with its latest cutoff. Its updates older than that
  cutoff are covered by them; the others are folded on top, in fold order (`fold_live`). As
  every covered update precedes every other one in fold order, the table is exactly the fold
  of the whole log, for either learning rate.
- The switch is one `add` of the state's snapshots. Afterwards the covered updates are
  *archived* — relabeled out of the state's reads (`ARCHIVED` prefix), still in the log under
  their run for `forget_run`, `is_learned`, re-learning and export — and older snapshots are
  deleted. A crash between those steps leaves a log that folds the same.
- The cutoff lies `older_than` seconds in the past (10 minutes by default) and at least
  `MARGIN` away from every update's time, so that no writer can still be appending an update
  older than it, even with clocks a little apart.

`compact`, `decompact` and `compact_if_due` are operations (generators of calls, `_chroma`);
the pure part (snapshots, cutoffs, the live fold) is `_snapshots`.

`forget_run` of a run with compacted updates first *decompacts* the states they belong to (their
archived updates go back under the state, its snapshots are deleted: the same table), then
removes the run as usual; a later compaction folds those states again. An import into a
compacted state decompacts it too, since imported updates may be older than its cutoff.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from langchain_rememberer._chroma import Steps
from langchain_rememberer._records import ARCHIVED, LogRecord
from langchain_rememberer._snapshots import StatePlan, live_cutoff, plan_state
from langchain_rememberer.types import CompactReport

if TYPE_CHECKING:
    from langchain_rememberer._protocol import Memory

__all__ = ["compact", "compact_if_due", "decompact"]

logger = logging.getLogger(__name__)

_STATES_PER_READ = 200


# -- operations -------------------------------------------------------------------------------


def compact(
    memory: Memory,
    ns: Any,
    *,
    older_than: float,
    min_updates: int = 1,
    state_ids: Sequence[str] | None = None,
) -> Steps[CompactReport]:
    """Compact the states (default: all) with at least `min_updates` updates to fold."""
    store = memory.store
    ids = list(state_ids) if state_ids is not None else (yield from store.state_ids(ns))
    wanted = time.time() - older_than
    report = CompactReport(states=0, updates_archived=0, snapshots=0)
    for start in range(0, len(ids), _STATES_PER_READ):
        log = yield from store.read_log(
            ns, state_ids=ids[start : start + _STATES_PER_READ], complete=False
        )
        whole = {r.id for r in (yield from store.complete(ns, log))}
        partial = frozenset(r.id for r in log if r.id not in whole)
        plans = [
            plan
            for records in _by_state(log).values()
            if (
                plan := plan_state(
                    records, wanted, memory.rlem, partial=partial, min_updates=min_updates
                )
            )
        ]
        report = report.plus((yield from _apply(memory, ns, plans)))
    return report


def _apply(memory: Memory, ns: Any, plans: Sequence[StatePlan]) -> Steps[CompactReport]:
    """Switch each planned state to its snapshots, then archive what they cover."""
    store = memory.store
    batch: list[LogRecord] = []
    for plan in plans:  # each state's snapshots in one `add`: the switch is atomic
        if batch and len(batch) + len(plan.snapshots) > store.batch_size:
            yield from store.append_log(ns, batch)
            batch = []
        batch += plan.snapshots
    if batch:
        yield from store.append_log(ns, batch)
    # A `forget_run` meanwhile may have deleted a covered update: undo those states' switch.
    present = yield from store.log_ids_present(ns, [r.id for p in plans for r in p.archive])
    done = [p for p in plans if all(r.id in present for r in p.archive)]
    undone = [p for p in plans if p not in done]
    if undone:
        yield from store.delete_log(ns, [r.id for p in undone for r in p.snapshots])
        yield from memory.folder.refold(ns, [p.state_id for p in undone])
    yield from store.relabel_log(ns, [r.archived() for p in done for r in p.archive])
    yield from store.delete_log(ns, [i for p in done for i in p.stale])
    return CompactReport(
        states=len(done),
        updates_archived=sum(len(p.archive) for p in done),
        snapshots=sum(len(p.snapshots) for p in done),
    )


def decompact(memory: Memory, ns: Any, state_ids: Sequence[str]) -> Steps[None]:
    """Undo the compaction of some states: their archived updates back, snapshots deleted.

    The archived updates are all older than the states' cutoff, so the table is the same
    before, during and after; deleting the snapshots is the switch.
    """
    store = memory.store
    archived = yield from store.read_log(
        ns, state_ids=[ARCHIVED + i for i in state_ids], complete=False
    )
    hot = yield from store.read_log(ns, state_ids=state_ids, complete=False)
    yield from store.relabel_log(ns, [r.restored() for r in archived])
    yield from store.delete_log(ns, [r.id for r in hot if r.is_snapshot])


def compact_if_due(memory: Memory, ns: Any, log: Sequence[LogRecord]) -> Steps[None]:
    """After a learn: compact the states of `log` whose updates since their cutoff are too many.

    `log` is those states' log as the learn left it; nothing is read unless a state is due.
    A failure is logged, never raised: the learn itself is done.
    """
    config = memory.compaction
    if config.after_updates is None:
        return
    wanted = time.time() - config.older_than
    due = [
        state_id
        for state_id, records in _by_state(log).items()
        if _since_cutoff(records) >= config.after_updates
        and plan_state(records, wanted, memory.rlem, min_updates=config.after_updates // 2)
    ]
    if not due:
        return
    try:
        done = yield from compact(
            memory,
            ns,
            older_than=config.older_than,
            min_updates=config.after_updates // 2,
            state_ids=due,
        )
        logger.info(
            "rememberer: compacted %d states (%d updates)", done.states, done.updates_archived
        )
    except Exception as e:
        logger.warning(
            "rememberer: could not compact %d states (learning is done): %s", len(due), e
        )


def _by_state(log: Iterable[LogRecord]) -> dict[str, list[LogRecord]]:
    grouped: dict[str, list[LogRecord]] = defaultdict(list)
    for record in log:
        if not record.is_archived:
            grouped[record.state_id].append(record)
    return grouped


def _since_cutoff(records: Sequence[LogRecord]) -> int:
    """Updates of one state folded on top of its snapshots (all of them if it has none)."""
    cutoff = live_cutoff(records)
    return sum(
        1 for r in records if not r.is_snapshot and (cutoff is None or r.created_at > cutoff)
    )
