"""What each `RemembererMemory` method does on the store, as plain synchronous functions.

The documented public methods, their arguments' checks and docstrings are in `memory.py`; the
log protocol they use is `_ledger.Ledger` (DESIGN §6).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from langchain_rememberer import rlem
from langchain_rememberer._ledger import new_run
from langchain_rememberer._records import (
    PlannedStep,
    RunRecord,
    Update,
    cap_episode,
    check_targets,
    episode_fingerprint,
    stable_id,
)
from langchain_rememberer._rows import Row, rank, ties
from langchain_rememberer._store import Namespace
from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.errors import FeedbackError, InvalidInputError
from langchain_rememberer.types import (
    MAX_K,
    CompactReport,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    check_text_arg,
    finite_reward,
    is_finite_number,
)

if TYPE_CHECKING:
    from langchain_rememberer._encoding import StateEncoder
    from langchain_rememberer._ledger import Ledger
    from langchain_rememberer._store import ChromaStore
    from langchain_rememberer.config import RetrievalConfig, RLEMConfig


class RemembererMemory(Protocol):
    """What these functions read of a `RemembererMemory` (no import: the memory imports this)."""

    namespace: str
    ledger: Ledger

    @property
    def store(self) -> ChromaStore: ...

    @property
    def encoder(self) -> StateEncoder: ...

    @property
    def rlem(self) -> RLEMConfig: ...

    @property
    def retrieval(self) -> RetrievalConfig: ...

    def state_key(self, observation: str, recent_actions: Sequence[str] = ()) -> str: ...

    def evict_if_due(self, ns: Namespace, added: int) -> int: ...


__all__ = [
    "forget_run",
    "is_learned",
    "learn",
    "learn_pending",
    "open_namespace",
    "rebuild",
    "retrieve",
    "save_pending",
    "settle_all",
    "stats",
]


_MAX_CANDIDATES = 128
"""The most candidates a retrieval widens to when the task floor dropped the nearest ones."""


def open_namespace(memory: RemembererMemory, namespace: str | None) -> Namespace:
    """Open a namespace (the memory's default when None)."""
    name = memory.namespace if namespace is None else namespace
    dim = memory.encoder.dimension()
    return memory.store.open(name, dim=2 * dim, task_weight=memory.retrieval.task_weight)


def retrieve(  # noqa: PLR0917 (the public method's arguments, in order)
    memory: RemembererMemory,
    task: str,
    observation: str,
    k: int | None,
    namespace: str | None,
    task_weight: float | None,
    recent_actions: Sequence[str],
) -> list[RetrievedState]:
    check_text_arg(task, "task")
    check_text_arg(observation, "observation", allow_empty=True)
    k = memory.retrieval.k if k is None else k
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        msg = f"k must be a whole number from 1 to {MAX_K:,}, got {k!r}"
        raise InvalidInputError(msg)
    weight = memory.retrieval.task_weight if task_weight is None else task_weight
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
        msg = f"task_weight must be a number from 0 to 1, got {weight!r}"
        raise InvalidInputError(msg)
    ns = open_namespace(memory, namespace)
    task = normalize_whitespace(task)
    pairs = [(task, memory.state_key(observation, recent_actions))]
    (vector,) = memory.encoder.query_vectors(ns.task_weight, pairs, weight)
    floor = memory.retrieval.min_similarity
    # λ' = 0 asks to ignore the task: its floor too (the query's task half is zero).
    task_floor = memory.retrieval.min_task_similarity if weight > 0 else None
    # One more candidate than needed: if it ties with the k-th, widen to break ties by visits;
    # widen too while the task floor left fewer than k and the next could still pass the floor.
    n_results = k + 1
    while True:
        rows = memory.store.query_rows(ns, vector, n_results)
        cosines = memory.encoder.task_cosines(task, [row.task for row in rows])
        rows = [replace(r, task_similarity=c) for r, c in zip(rows, cosines, strict=True)]
        tables = memory.ledger.view(ns, rows)
        ranked = rank(list(zip(rows, tables, strict=True)), k, floor, task_floor)
        if len(rows) < n_results:
            return ranked
        tied = ties(rows[k - 1], rows[-1])
        starved = (
            len(ranked) < k
            and (rows[-1].similarity or 0.0) >= floor
            and n_results < _MAX_CANDIDATES
        )
        if not (tied or starved):
            return ranked
        n_results = 2 * n_results if tied else min(4 * n_results, _MAX_CANDIDATES)


def learn(memory: RemembererMemory, episode: Episode, namespace: str | None) -> LearnReport:
    fingerprint = episode_fingerprint(episode)  # of what was given, before any cap
    outcome = outcome_of(episode)
    episode = cap_episode(episode, memory.rlem.max_run_reward)
    ns = open_namespace(memory, namespace)
    task = normalize_whitespace(episode.task)
    actions = [step.action for step in episode.steps]
    keys = [memory.state_key(s.observation, actions[:t]) for t, s in enumerate(episode.steps)]
    ids = [stable_id(task, key) for key in keys]
    ledger = memory.ledger
    rows = memory.store.get_rows(ns, ids)
    earlier = ledger.status(ns, [episode.run_id])
    stored = earlier.runs.get(episode.run_id)
    if stored is not None:
        _check_same(episode.run_id, fingerprint, stored)
        if earlier.learned(episode.run_id):
            return _report(stored, written=0, added=0)
    vectors = memory.encoder.state_vectors(ns.task_weight, [(task, k) for k in keys])
    by_id = dict(zip(ids, vectors, strict=True))
    if stored is None:
        targets = _targets(memory, ns, episode, ids, rows, by_id)
        steps = [
            PlannedStep(i, key, Update(t, s.action, g, s.reward, s.answer or ""))
            for t, (i, key, s, g) in enumerate(zip(ids, keys, episode.steps, targets, strict=True))
        ]
        run = replace(new_run(episode.run_id, fingerprint, task, steps), outcome=outcome)
        stored = ledger.prepare(ns, run)
        _check_same(episode.run_id, fingerprint, stored)
    other = [s for s in stored.state_ids() if s not in by_id]  # keyed by other settings
    if other:
        rows.update(memory.store.get_rows(ns, other))
    pairs = [(stored.task_of(s), stored.key_of(s)) for s in other]
    by_id.update(zip(other, memory.encoder.state_vectors(ns.task_weight, pairs), strict=True))
    committed, written, status = ledger.complete(ns, stored, rows, by_id)
    ledger.settle(ns, written, status=status)
    added = len([s for s in stored.state_ids() if s not in rows])
    if not committed:  # another call learned this run first (a retry, a duplicate, a helper)
        return _report(stored, written=0, added=0)
    memory.evict_if_due(ns, added)
    return _report(stored, written=len(stored.steps), added=added)


def outcome_of(episode: Episode) -> dict[str, str | float]:
    """What `lift()` reads of a run, kept in its run record (before any reward cap)."""
    outcome: dict[str, str | float] = {"created_at": time.time()}
    if is_finite_number(episode.total_reward):  # a sum of finite rewards can overflow
        outcome["reward"] = episode.total_reward
    if episode.arm is not None and episode.holdout is not None:
        outcome |= {"arm": episode.arm, "holdout": episode.holdout}
        outcome |= {"unit": episode.unit} if episode.unit else {}
    return outcome


def _check_same(run_id: str, fingerprint: str, stored: RunRecord) -> None:
    if stored.fingerprint != fingerprint:
        msg = (
            f"run {run_id!r} was already learned with a different episode; a run id "
            "names one episode: give each run its own id (or forget_run() the old one first). "
            "Nothing was written"
        )
        raise InvalidInputError(msg)


def _report(run: RunRecord, *, written: int, added: int) -> LearnReport:
    return LearnReport(
        run_id=run.run_id,
        states_added=added,
        updates_written=written,
        targets=[s.update.target for s in run.steps],
        already_learned=written == 0,
    )


def _targets(  # noqa: PLR0917 (what a target needs, in order)
    memory: RemembererMemory,
    ns: Namespace,
    episode: Episode,
    ids: Sequence[str],
    rows: dict[str, Row],
    vectors: Mapping[str, Sequence[float]],
) -> list[float]:
    """The RLEM targets of the episode's steps (state `ids[t]`), bootstrapped from the rows."""
    values: list[float] = []
    n = memory.rlem.n_step
    if n is not None:
        values = _bootstrap_values(memory, ns, ids, rows, vectors)
    targets = rlem.n_step_targets(
        [s.reward for s in episode.steps], values, gamma=memory.rlem.gamma, n_step=n
    )
    check_targets(episode, targets)
    return targets


def _bootstrap_values(
    memory: RemembererMemory,
    ns: Namespace,
    ids: Sequence[str],
    rows: dict[str, Row],
    vectors: Mapping[str, Sequence[float]],
) -> list[float]:
    """V(o_t) before this episode, for t ≥ n (DESIGN §3).

    The max Q of the state's table, or of the nearest stored state at least
    `bootstrap_min_similarity` similar (one query each), else 0.
    """
    n = memory.rlem.n_step or len(ids)
    needed = list(dict.fromkeys(ids[n:]))
    stored = [rows[i] for i in needed if i in rows]
    value = {
        row.id: max((s.q for s in table.values()), default=0.0)
        for row, table in zip(stored, memory.ledger.view(ns, stored), strict=True)
        if table
    }
    unseen = [i for i in needed if i not in value]
    weight = memory.retrieval.task_weight
    queries = [memory.encoder.reweight(vectors[i], ns.task_weight, weight) for i in unseen]
    floor = memory.rlem.bootstrap_min_similarity
    hits = [
        (i, row)
        for i, row in zip(unseen, memory.store.nearest_rows(ns, queries), strict=True)
        if row is not None and (row.similarity or -1.0) >= floor
    ]
    tables = memory.ledger.view(ns, [row for _i, row in hits])
    for (i, _row), table in zip(hits, tables, strict=True):
        value[i] = max((s.q for s in table.values()), default=0.0)
    return [value.get(i, 0.0) if t >= n else 0.0 for t, i in enumerate(ids)]


def forget_run(memory: RemembererMemory, run_id: str, namespace: str | None) -> int:
    ns = open_namespace(memory, namespace)
    forgotten = memory.ledger.forget(ns, run_id)
    memory.store.delete_pending(ns, run_id)
    return forgotten


def is_learned(memory: RemembererMemory, run_id: str, namespace: str | None) -> bool:
    ns = open_namespace(memory, namespace)
    return memory.ledger.status(ns, [run_id]).learned(run_id)


def save_pending(memory: RemembererMemory, episode: Episode, namespace: str | None) -> None:
    ns = open_namespace(memory, namespace)
    memory.store.put_pending(ns, episode.run_id, episode.model_dump_json(), time.time())


def learn_pending(
    memory: RemembererMemory, run_id: str, reward: float, namespace: str | None
) -> LearnReport:
    ns = open_namespace(memory, namespace)
    payload = memory.store.get_pending(ns, run_id)
    if payload is None:
        learned = is_learned(memory, run_id, namespace)
        state = "was already learned" if learned else "is not pending (unknown run id)"
        msg = f"feedback for run {run_id!r} rejected: the run {state}"
        raise FeedbackError(msg)
    episode = Episode.model_validate_json(payload).with_final_reward(finite_reward(reward))
    report = learn(memory, episode, namespace)
    memory.store.delete_pending(ns, run_id)
    return report


def _views(memory: RemembererMemory, ns: Namespace) -> list[tuple[Row, dict[str, Any]]]:
    """Every row with the table readers see (a scan: statistics and maintenance only)."""
    out: list[tuple[Row, dict[str, Any]]] = []
    for page in memory.store.row_pages(ns):
        out += zip(page, memory.ledger.view(ns, page), strict=True)
    return out


def stats(memory: RemembererMemory, name: str) -> MemoryStats:
    if not memory.store.exists(name):
        return MemoryStats(namespace=name, states=0, updates=0, pending=0, task_weight=None)
    ns = open_namespace(memory, name)
    views = [table for _row, table in _views(memory, ns) if table]
    _rows, _log, pending = memory.store.counts(ns)
    return MemoryStats(
        namespace=name,
        states=len(views),
        updates=sum(s.visits for table in views for s in table.values()),
        pending=pending,
        task_weight=ns.task_weight,
    )


def rebuild(memory: RemembererMemory, namespace: str | None) -> int:
    """Refold every row from its slots; complete every prepared run first."""
    ns = open_namespace(memory, namespace)
    settle_all(memory, ns)
    states = 0
    for page in memory.store.row_pages(ns):
        refolded = {row.id: memory.ledger.refold(ns, row) for row in page}
        memory.store.write_rows(ns, list(refolded.values()))
        settled = memory.ledger.settle(ns, refolded)
        states += sum(1 for t in memory.ledger.view(ns, list(settled.values())) if t)
    return states


def settle_all(memory: RemembererMemory, ns: Namespace) -> CompactReport:
    """Complete every prepared run with a pending slot, and settle every row that has one."""
    ledger = memory.ledger
    touched = folded = 0
    for page in memory.store.row_pages(ns):
        waiting = {row.id: row for row in page if row.pending}
        if not waiting:
            continue
        status = ledger.status(ns, {r for row in waiting.values() for r in row.pending_runs()})
        for run_id in sorted(status.runs):
            if not status.learned(run_id):
                ledger.finish(ns, status.runs[run_id])
        fresh = memory.store.get_rows(ns, list(waiting))
        settled = ledger.settle(ns, fresh)
        touched += len(settled)
        folded += sum(
            len(waiting[s].pending) - len(row.pending) for s, row in settled.items() if s in waiting
        )
    return CompactReport(states=touched, updates_archived=max(folded, 0), snapshots=0)
