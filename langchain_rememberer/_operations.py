"""What each `RemembererMemory` method does, as operations a driver runs sync or async.

Every function here is an operation (a generator of Chroma and embedding calls, `_chroma`):
`memory.learn(...)` runs `learn(memory, ...)` with the sync client, `await memory.alearn(...)`
runs the very same generator natively async on a server. The documented public methods, their
arguments' checks and their docstrings are in `memory.py`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_rememberer import rlem
from langchain_rememberer._capacity import evict_if_due
from langchain_rememberer._chroma import NamespaceGoneError, Steps
from langchain_rememberer._compaction import compact_if_due, decompact
from langchain_rememberer._protocol import Memory
from langchain_rememberer._records import (
    ARCHIVED,
    LogRecord,
    cap_episode,
    check_run_id,
    check_targets,
    complete_runs,
    episode_fingerprint,
    episode_records,
    rank,
    seal_runs,
    stable_id,
    ties,
)
from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.errors import FeedbackError, InvalidInputError
from langchain_rememberer.types import (
    MAX_K,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    check_text_arg,
    finite_reward,
)

__all__ = [
    "Memory",
    "forget_run",
    "import_records",
    "is_learned",
    "learn",
    "learn_pending",
    "open_namespace",
    "rebuild",
    "retrieve",
    "save_pending",
    "stats",
]


_MAX_CANDIDATES = 128
"""The most candidates a retrieval widens to when the task floor dropped the nearest ones."""


def retrieve(  # noqa: PLR0917 (the public method's arguments, in order)
    memory: Memory,
    task: str,
    observation: str,
    k: int | None,
    namespace: str | None,
    task_weight: float | None,
    recent_actions: Sequence[str],
) -> Steps[list[RetrievedState]]:
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
    ns = yield from open_namespace(memory, namespace)
    key = memory.state_key(observation, recent_actions)
    pairs = [(normalize_whitespace(task), key)]
    vector = yield from memory.encoder.query_vectors(ns.task_weight, pairs, weight)
    floor = memory.retrieval.min_similarity
    # λ' = 0 asks to ignore the task: its floor too (the query's task half is zero).
    task_floor = memory.retrieval.min_task_similarity if weight > 0 else None
    # One more candidate than needed: if it ties with the k-th, widen to break ties by visits;
    # widen too while the task floor left fewer than k and the next could still pass the floor.
    n_results = k + 1
    while True:
        candidates = (yield from memory.store.query_states(ns, vector, n_results=n_results))[0]
        ranked = rank(candidates, k, floor, task_floor)
        if len(candidates) < n_results:
            return ranked
        tied = ties(candidates[k - 1], candidates[-1])
        starved = (
            len(ranked) < k
            and (candidates[-1].similarity or 0.0) >= floor
            and n_results < _MAX_CANDIDATES
        )
        if not (tied or starved):
            return ranked
        n_results = 2 * n_results if tied else min(4 * n_results, _MAX_CANDIDATES)


def learn(memory: Memory, episode: Episode, namespace: str | None) -> Steps[LearnReport]:
    print_ = episode_fingerprint(episode)  # of what was given, before any cap
    episode = cap_episode(episode, memory.rlem.max_run_reward)
    ns = yield from open_namespace(memory, namespace)
    task = normalize_whitespace(episode.task)
    actions = [step.action for step in episode.steps]
    keys = [memory.state_key(s.observation, actions[:t]) for t, s in enumerate(episode.steps)]
    ids = [stable_id(task, key) for key in keys]
    vectors = yield from memory.encoder.state_vectors(ns.task_weight, [(task, k) for k in keys])
    by_id = dict(zip(ids, vectors, strict=True))
    # The states' log, and this run's records anywhere (compacted ones too): one round trip.
    # It holds any earlier record of this run, to check the run id against; the values an
    # n-step target bootstraps from; and the refold's starting point.
    read = yield from memory.store.read_log(
        ns, state_ids=ids, run_id=episode.run_id, complete=False
    )
    check_run_id(episode.run_id, print_, [r for r in read if r.run_id == episode.run_id])
    targets = yield from _targets(memory, ns, episode, ids, by_id, read=read)
    now = time.time()
    sealed = len(episode.steps) > memory.store.batch_size
    records = episode_records(
        episode, task, keys, ids, targets, created_at=now, sealed=sealed, fingerprint=print_
    )
    log = yield from _append(
        memory, ns, run_id=episode.run_id, records=records, vectors=by_id, read=read
    )
    yield from compact_if_due(memory, ns, log)
    ours = {r.id for r in records}
    # Chroma may round a float's last bit: "written by this call" is "ours, at this time".
    fresh = [r for r in log if r.id in ours and abs(r.created_at - now) < 1e-4]
    fresh_ids = {r.id for r in fresh}
    others = {r.state_id for r in log if r.id not in fresh_ids}
    added = len({r.state_id for r in fresh} - others)
    name = memory.namespace if namespace is None else namespace
    yield from evict_if_due(memory, ns, name, added)
    return LearnReport(
        run_id=episode.run_id,
        states_added=added,
        updates_written=len(fresh),
        targets=targets,
        already_learned=not fresh,
    )


def _append(
    memory: Memory,
    ns: Any,
    *,
    run_id: str,
    records: Sequence[LogRecord],
    vectors: Mapping[str, Sequence[float]],
    read: Sequence[LogRecord],
) -> Steps[list[LogRecord]]:
    """Append an episode's records and refold its states; returns their log, whole or none.

    `read` is the log of these states and of this run, read before the append (`learn`).
    """
    store = memory.store
    before = [r for r in read if r.state_id in vectors]
    try:
        yield from store.append_log(ns, records)  # one add, unless the episode is very long
    except BaseException:
        if len(records) <= store.batch_size:
            raise  # one `add`, atomic: it failed whole, there is nothing to undo
        yield from memory.folder.roll_back(ns, run_id, records[0].created_at)
        raise
    try:
        known = {r.id for r in read}  # a compacted run's records stay as they are
        after = yield from store.complete(ns, [*before, *(r for r in records if r.id not in known)])
        return (yield from memory.folder.refold(ns, list(vectors), vectors, log=after))
    except NamespaceGoneError:
        raise  # nothing of ours is left to undo; `_run` retries on fresh collections
    except BaseException:
        # Any failure after the append (storage, a bug, an interrupt): undo the episode.
        yield from memory.folder.roll_back(ns, run_id, records[0].created_at)
        raise


def _targets(
    memory: Memory,
    ns: Any,
    episode: Episode,
    ids: Sequence[str],
    vectors: Mapping[str, Sequence[float]],
    *,
    read: Sequence[LogRecord],
) -> Steps[list[float]]:
    """The RLEM targets of the episode's steps (state `ids[t]`), bootstrapped from `read`."""
    n_step = memory.rlem.n_step
    values = []
    if n_step is not None:
        visible = yield from memory.store.complete(ns, list(read))  # no call without sealed runs
        values = yield from memory.folder.bootstrap_values(ns, ids, vectors, visible)
    targets = rlem.n_step_targets(
        [s.reward for s in episode.steps],
        values,
        gamma=memory.rlem.gamma,
        n_step=memory.rlem.n_step,
    )
    check_targets(episode, targets)
    return targets


def forget_run(memory: Memory, run_id: str, namespace: str | None) -> Steps[int]:
    ns = yield from open_namespace(memory, namespace)
    refs = yield from memory.store.run_log_refs(ns, run_id)
    touched = list(dict.fromkeys(i.removeprefix(ARCHIVED) for _, i in refs if i is not None))
    compacted = [i for _, i in refs if i is not None and i.startswith(ARCHIVED)]
    if compacted:  # its updates are folded into snapshots: unfold those states first
        yield from decompact(memory, ns, list(dict.fromkeys(touched)))
    yield from memory.store.delete_log(ns, [record_id for record_id, _ in refs])
    yield from memory.store.delete_pending(ns, str(run_id))
    yield from memory.folder.refold(ns, touched)
    return len(refs)


def rebuild(memory: Memory, namespace: str | None) -> Steps[int]:
    ns = yield from open_namespace(memory, namespace)
    listed = yield from memory.store.state_ids(ns)  # before the log: its states' updates are in it
    whole = yield from memory.store.all_log(ns)
    log = sorted((r for r in complete_runs(whole) if not r.is_archived), key=lambda r: r.order)
    state_ids = sorted(set(listed) | {r.state_id for r in log})
    final = yield from memory.folder.refold(ns, state_ids, log=log)
    return len({r.state_id for r in final})


def save_pending(memory: Memory, episode: Episode, namespace: str | None) -> Steps[None]:
    ns = yield from open_namespace(memory, namespace)
    payload = episode.model_dump_json()
    yield from memory.store.put_pending(ns, episode.run_id, payload, time.time())


def is_learned(memory: Memory, run_id: str, namespace: str | None) -> Steps[bool]:
    ns = yield from open_namespace(memory, namespace)
    return bool((yield from memory.store.read_log(ns, run_id=run_id)))


def learn_pending(
    memory: Memory, run_id: str, reward: float, namespace: str | None
) -> Steps[LearnReport]:
    ns = yield from open_namespace(memory, namespace)
    payload = yield from memory.store.get_pending(ns, run_id)
    if payload is None:
        learned = yield from is_learned(memory, str(run_id), namespace)
        state = "was already learned" if learned else "is not pending (unknown run id)"
        msg = f"feedback for run {run_id!r} rejected: the run {state}"
        raise FeedbackError(msg)
    episode = Episode.model_validate_json(payload).with_final_reward(finite_reward(reward))
    report = yield from learn(memory, episode, namespace)
    yield from memory.store.delete_pending(ns, str(run_id))
    return report


def stats(memory: Memory, name: str) -> Steps[MemoryStats]:
    if not (yield from memory.store.exists(name)):
        return MemoryStats(namespace=name, states=0, updates=0, pending=0, task_weight=None)
    ns = yield from open_namespace(memory, name)
    states, updates, pending = yield from memory.store.counts(ns)
    return MemoryStats(
        namespace=name,
        states=states,
        updates=updates,
        pending=pending,
        task_weight=ns.task_weight,
    )


def import_records(
    memory: Memory, records: Sequence[LogRecord], namespace: str | None
) -> Steps[int]:
    """Append records and re-fold their states; returns how many ids were not yet logged."""
    ns = yield from open_namespace(memory, namespace)
    if len(records) > memory.store.batch_size:
        records = seal_runs(records)  # several calls: each run is seen once wholly in
    present = yield from memory.store.log_ids_present(ns, [r.id for r in records])
    touched = list(dict.fromkeys(r.state_id for r in records))
    hot = yield from memory.store.read_log(ns, state_ids=touched, complete=False)
    compacted = list(dict.fromkeys(r.state_id for r in hot if r.is_snapshot))
    if compacted:  # imported updates may be older than the cutoff: unfold those states
        yield from decompact(memory, ns, compacted)
    yield from memory.store.append_log(ns, records)
    yield from memory.folder.refold(ns, list(dict.fromkeys(r.state_id for r in records)))
    return len({r.id for r in records} - present)


def open_namespace(memory: Memory, namespace: str | None) -> Steps[Any]:
    name = memory.namespace if namespace is None else namespace
    dim = yield from memory.encoder.dimension()
    return (
        yield from memory.store.open(name, dim=2 * dim, task_weight=memory.retrieval.task_weight)
    )
