"""Learning on the log: fold after append, verify after write (DESIGN §6).

`LogFolding` is the part of `RemembererMemory` that turns the append-only update log into
state tables. Every writer folds *after* its own append and re-reads *after* its own write, so
the last table written for a state reflects every update in its log, with any number of
concurrent writers and no lock.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_rememberer import rlem
from langchain_rememberer.errors import StorageError
from langchain_rememberer.store import LogRecord, StateRecord

if TYPE_CHECKING:
    from langchain_rememberer.config import RetrievalConfig, RLEMConfig
    from langchain_rememberer.encoding import StateEncoder
    from langchain_rememberer.store import ChromaStore

__all__ = ["LogFolding"]

logger = logging.getLogger(__name__)

_MAX_VERIFY_ROUNDS = 50


class LogFolding:
    """Folding of log records into state tables; mixed into `RemembererMemory`."""

    store: ChromaStore
    encoder: StateEncoder
    rlem: RLEMConfig
    retrieval: RetrievalConfig

    def _roll_back(self, ns: Any, run_id: str, created_at: float) -> None:
        """Undo this call's appended updates after a failed table write.

        The episode is then applied whole or not at all. If even that fails, the log stays
        ahead of the tables until the next write to those states or `rebuild()`.
        """
        try:
            appended = self.store.read_log(ns, run_id=run_id)
            mine = [r for r in appended if abs(r.created_at - created_at) < 1e-4]
            self.store.delete_log(ns, [r.id for r in mine])
            self._refold(ns, list(dict.fromkeys(r.state_id for r in mine)))
        except StorageError:
            logger.warning(
                "could not roll back run %s after a failed write; call memory.rebuild()", run_id
            )

    def _bootstrap_values(
        self, ns: Any, ids: Sequence[str], vectors: Mapping[str, Sequence[float]]
    ) -> list[float]:
        """V(o_t) before this episode: the stored max Q, else that of a similar enough state.

        One query serves both cases: a stored state is its own nearest neighbour (similarity 1).
        Should the index not return it first, it is fetched by id.
        """
        unique = list(dict.fromkeys(ids))
        query = [
            self.encoder.reweight(vectors[i], ns.task_weight, self.retrieval.task_weight)
            for i in unique
        ]
        nearest = {
            i: hits[0]
            for i, hits in zip(unique, self.store.query_states(ns, query, 1), strict=True)
            if hits
        }
        unsure = [
            i for i, hit in nearest.items() if hit.id != i and (hit.similarity or 0.0) > 0.999
        ]
        exact = self.store.get_states(ns, unsure) if unsure else {}
        value: dict[str, float] = {}
        for state_id, hit in nearest.items():
            state = exact.get(state_id, hit)
            if (
                state.id == state_id
                or (state.similarity or -1.0) >= self.rlem.bootstrap_min_similarity
            ):
                value[state_id] = max((s.q for s in state.table.values()), default=0.0)
        return [value.get(i, 0.0) for i in ids]

    def _refold(
        self,
        ns: Any,
        state_ids: Sequence[str],
        vectors: Mapping[str, Sequence[float]] | None = None,
    ) -> list[LogRecord]:
        """Fold the states' tables from the log, write them, and repeat until the log is stable."""
        log = self.store.read_log(ns, state_ids=state_ids)
        for _ in range(_MAX_VERIFY_ROUNDS):
            self._write_folded(ns, state_ids, log, vectors)
            again = self.store.read_log(ns, state_ids=state_ids)
            if {r.id for r in again} == {r.id for r in log}:
                return again
            log = again  # another writer appended or deleted meanwhile: fold again
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
    ) -> None:
        by_state: dict[str, list[LogRecord]] = defaultdict(list)
        for record in log:
            by_state[record.state_id].append(record)
        states = []
        for state_id, records in by_state.items():
            table = rlem.fold_table(
                ((r.action, r.target, r.reward) for r in records),
                learning_rate=self.rlem.learning_rate,
                alpha=self.rlem.alpha,
            )
            states.append(StateRecord(state_id, records[0].task, records[0].observation, table))
        known = dict(vectors or {})
        need = [s for s in states if s.id not in known]
        if need:
            fresh = self.encoder.state_vectors(
                ns.task_weight, [(s.task, s.observation) for s in need]
            )
            known.update(zip([s.id for s in need], fresh, strict=True))
        self.store.write_states(ns, states, [known[s.id] for s in states])
        self.store.delete_states(ns, [i for i in dict.fromkeys(state_ids) if i not in by_state])
