"""Learning on the log: fold after append, verify after write (DESIGN §6).

`Folder` is the part of `RemembererMemory` (which holds one) that turns the append-only
update log into state tables; its methods are operations (generators of calls, `_chroma`).
Every writer folds *after* its own append and re-reads *after* its own write, so the last
table written for a state reflects every update in its log, with any number of concurrent
writers and no lock.
"""

from __future__ import annotations

import logging
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_rememberer._chroma import Steps
from langchain_rememberer._records import LogRecord, StateRecord
from langchain_rememberer._snapshots import fold_live
from langchain_rememberer.errors import StorageError

if TYPE_CHECKING:
    from langchain_rememberer._encoding import StateEncoder
    from langchain_rememberer._store import ChromaStore
    from langchain_rememberer.config import RetrievalConfig, RLEMConfig

__all__ = ["Folder"]

logger = logging.getLogger(__name__)

_MAX_VERIFY_ROUNDS = 50


class Folder:
    """Folds log records into state tables, on one store with one encoder and configuration.

    Example:
        ```python
        from langchain_rememberer import RemembererMemory

        memory = RemembererMemory(path=None)
        assert memory.folder.store is memory.store
        ns = memory.store.run(memory.store.open("default", dim=512, task_weight=0.5))
        assert memory.store.run(memory.folder.refold(ns, [])) == []  # nothing to fold
        ```
    """

    def __init__(
        self,
        store: ChromaStore,
        encoder: StateEncoder,
        rlem: RLEMConfig,
        retrieval: RetrievalConfig,
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.rlem = rlem
        self.retrieval = retrieval

    def roll_back(self, ns: Any, run_id: str, created_at: float) -> Steps[None]:
        """Undo this call's appended updates after a failure following the append.

        The episode is then applied whole or not at all. If even that fails (the storage is
        gone), what was appended stays: a sealed run's part is invisible until the run is learned
        again, a whole run waits to be folded by the next write to its states or `rebuild()`.
        The original error is the one raised either way.
        """
        try:
            appended = yield from self.store.read_log(ns, run_id=run_id, complete=False)
            mine = [r for r in appended if abs(r.created_at - created_at) < 1e-4]
            yield from self.store.delete_log(ns, [r.id for r in mine])
            yield from self.refold(ns, list(dict.fromkeys(r.state_id for r in mine)))
        except Exception:
            logger.warning(
                "rememberer: run %s: could not undo its appended updates either (%s); learning "
                "the run again completes it, forget_run(%r) removes it",
                run_id,
                sys.exc_info()[1],
                run_id,
            )

    def bootstrap_values(
        self,
        ns: Any,
        ids: Sequence[str],
        vectors: Mapping[str, Sequence[float]],
        log: Sequence[LogRecord],
    ) -> Steps[list[float]]:
        """V(o_t) before this episode, for the states an n-step target reads (t ≥ n).

        A stored state's V is the max Q of its table folded from `log` (the touched states' log
        as `learn` read it, so no call); only states not stored fall back to the nearest stored
        state, when at least `bootstrap_min_similarity` similar (one query; DESIGN §3, §6).
        Entries for t < n are 0 and never read.
        """
        n = self.rlem.n_step or len(ids)
        needed = list(dict.fromkeys(ids[n:]))
        if not needed:
            return [0.0] * len(ids)
        by_state: dict[str, list[LogRecord]] = defaultdict(list)
        for record in log:
            if not record.is_archived:
                by_state[record.state_id].append(record)
        value = {
            i: max((s.q for s in fold_live(by_state[i], self.rlem).values()), default=0.0)
            for i in needed
            if by_state.get(i)
        }
        unseen = [i for i in needed if i not in value]
        if unseen:
            query = [
                self.encoder.reweight(vectors[i], ns.task_weight, self.retrieval.task_weight)
                for i in unseen
            ]
            nearest = yield from self.store.query_states(ns, query, 1)
            for state_id, hits in zip(unseen, nearest, strict=True):
                if hits and (hits[0].similarity or -1.0) >= self.rlem.bootstrap_min_similarity:
                    value[state_id] = _max_q(hits[0])
        return [value.get(i, 0.0) if t >= n else 0.0 for t, i in enumerate(ids)]

    def refold(
        self,
        ns: Any,
        state_ids: Sequence[str],
        vectors: Mapping[str, Sequence[float]] | None = None,
        *,
        log: Sequence[LogRecord] | None = None,
    ) -> Steps[list[LogRecord]]:
        """Fold the states' tables from the log, write them, and repeat until the log is stable.

        `log` is these states' log when the caller has just read it; it is read otherwise.
        """
        if log is not None:
            current = list(log)
        else:
            current = yield from self.store.read_log(ns, state_ids=state_ids)
        for _ in range(_MAX_VERIFY_ROUNDS):
            yield from self._write_folded(ns, state_ids, current, vectors)
            again = yield from self.store.read_log(ns, state_ids=state_ids)
            if {r.id for r in again} == {r.id for r in current}:
                return again
            current = again  # another writer appended or deleted meanwhile: fold again
        msg = (
            "the update log kept changing while folding; call memory.rebuild() once writers settle"
        )
        raise StorageError(msg)

    def _write_folded(
        self,
        ns: Any,
        state_ids: Sequence[str],
        log: Sequence[LogRecord],
        vectors: Mapping[str, Sequence[float]] | None,
    ) -> Steps[None]:
        by_state: dict[str, list[LogRecord]] = defaultdict(list)
        for record in log:
            if not record.is_archived:  # folded into a snapshot of its state
                by_state[record.state_id].append(record)
        states = []
        for state_id, records in by_state.items():
            table = fold_live(records, self.rlem)  # snapshots, then the updates after them
            latest = max(r.created_at for r in records)
            first = records[0]
            states.append(
                StateRecord(state_id, first.task, first.observation, table, last_update=latest)
            )
        known = dict(vectors or {})
        need = [s for s in states if s.id not in known]
        if need:
            fresh = yield from self.encoder.state_vectors(
                ns.task_weight, [(s.task, s.observation) for s in need]
            )
            known.update(zip([s.id for s in need], fresh, strict=True))
        yield from self.store.write_states(ns, states, [known[s.id] for s in states])
        empty = [i for i in dict.fromkeys(state_ids) if i not in by_state]
        if empty:
            # Delete a state only if a fresh read shows its log is still empty: another writer
            # may have learned it since `log` was read (the verify read then re-folds it).
            refilled = {r.state_id for r in (yield from self.store.read_log(ns, state_ids=empty))}
            yield from self.store.delete_states(ns, [i for i in empty if i not in refilled])


def _max_q(state: StateRecord) -> float:
    """V(o) = max_a Q(g, o, a), 0 for an empty table."""
    return max((s.q for s in state.table.values()), default=0.0)
