"""What each `RemembererMemory` method does on the store, as plain synchronous functions.

The documented public methods, their arguments' checks and docstrings are in `memory.py`; the
log protocol they use is `_ledger.Ledger` (DESIGN §6).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from langchain_rememberer import rlem
from langchain_rememberer._records import (
    PlannedStep,
    RunRecord,
    Slot,
    Update,
    done_id,
    new_run,
    run_key,
    stable_id,
)
from langchain_rememberer._rows import Row, rank, ties
from langchain_rememberer._store import Namespace
from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.errors import FeedbackError, InvalidInputError, StorageError
from langchain_rememberer.types import (
    MAX_K,
    Episode,
    LearnReport,
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

    observation_key: Callable[[str], str]
    action_history: int

    def build_settings(self) -> dict[str, str | int | float]: ...


__all__ = [
    "build_settings",
    "forget_run",
    "is_learned",
    "learn",
    "learn_pending",
    "open_namespace",
    "recorded_settings",
    "retrieve",
    "save_pending",
]


logger = logging.getLogger(__name__)

_MAX_CANDIDATES = 128
"""The most candidates a retrieval widens to when the task floor dropped the nearest ones."""


def open_namespace(memory: RemembererMemory, namespace: str | None) -> Namespace:
    """Open a namespace (the memory's default when None)."""
    name = memory.namespace if namespace is None else namespace
    dim = memory.encoder.dimension()
    return memory.store.open(name, dim=2 * dim, task_weight=memory.retrieval.task_weight)


def build_settings(
    memory: RemembererMemory, default_key: Callable[[str], str]
) -> dict[str, str | int | float]:
    """The memory's retrieval settings as a namespace records them (`rememberer_*` keys).

    The observation key by name: `full` for `default_key`, the callable's `rememberer_name`
    attribute (the benchmark's TextWorld keys), else `custom:` and its qualified name.
    """
    key = memory.observation_key
    name = getattr(key, "rememberer_name", None)
    if key is default_key:
        name = "full"
    elif not (isinstance(name, str) and name):
        name = f"custom:{getattr(key, '__qualname__', type(key).__name__)}"
    floor = memory.retrieval.min_task_similarity
    return {
        "rememberer_observation_key": name,
        "rememberer_action_history": memory.action_history,
        "rememberer_k": memory.retrieval.k,
        "rememberer_min_similarity": memory.retrieval.min_similarity,
        "rememberer_min_task_similarity": "none" if floor is None else floor,
    }


def recorded_settings(memory: RemembererMemory, ns: Namespace) -> dict[str, Any]:
    """What `build_settings` recorded in the namespace, and its task weight; no prefix."""
    meta = ns.states.metadata or {}
    found: dict[str, Any] = {}
    for key in (*memory.build_settings(), "rememberer_task_weight"):
        if key in meta:
            found[key.removeprefix("rememberer_")] = None if meta[key] == "none" else meta[key]
    return found


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
    key = memory.state_key(observation, recent_actions)
    vector = memory.encoder.query_vector(ns.task_weight, task, key, weight)
    floor = memory.retrieval.min_similarity
    # λ' = 0 asks to ignore the task: its floor too (the query's task half is zero).
    task_floor = memory.retrieval.min_task_similarity if weight > 0 else None
    # One more candidate than needed: if it ties with the k-th, widen to break ties by visits;
    # widen too while the task floor left fewer than k and the next could still pass the floor.
    n_results = k + 1
    while True:
        rows = memory.store.query_rows(ns, vector, n_results)
        cosines = memory.encoder.task_cosines(task, [row.task for row in rows])
        tables = memory.ledger.view(ns, rows)
        ranked = rank(list(zip(rows, tables, cosines, strict=True)), k, floor, task_floor)
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
    outcome = outcome_of(episode)  # the total reward as given, too
    episode = cap_episode(episode, memory.rlem.max_run_reward)
    ns = open_namespace(memory, namespace)
    memory.store.record_settings(ns, memory.build_settings())  # for the CLI (a no-op mostly)
    task = normalize_whitespace(episode.task)
    actions = [step.action for step in episode.steps]
    keys = [memory.state_key(s.observation, actions[:t]) for t, s in enumerate(episode.steps)]
    ids = [stable_id(task, key) for key in keys]
    ledger = memory.ledger
    rows = memory.store.get_rows(ns, ids)
    # One read: the run's status, the rows' pending slots' and intents' (our write folds what
    # is decided), each row's next position, and where a new state starts (`_evicted.py`).
    new = {i: key for i, key in zip(ids, keys, strict=True) if i not in rows}
    earlier = ledger.row_status(ns, rows.values(), list(new), runs=[episode.run_id], ends=True)
    stored = earlier.runs.get(episode.run_id)
    if stored is not None:
        stored.check_same(fingerprint)
        if earlier.learned(episode.run_id):
            return _report(stored, written=0, added=0)
    # Only new states are embedded: an episode of stored states makes no embedding call.
    vectors = memory.encoder.state_vectors(ns.task_weight, [(task, k) for k in new.values()])
    by_id = dict(zip(new, vectors, strict=True))
    prepared = stored is not None
    if stored is None:
        targets = _targets(memory, ns, episode, ids, rows, by_id)
        steps = [
            PlannedStep(i, key, Update(t, s.action, g, s.reward, s.answer or ""))
            for t, (i, key, s, g) in enumerate(zip(ids, keys, episode.steps, targets, strict=True))
        ]
        stored = replace(new_run(episode.run_id, fingerprint, task, steps), outcome=outcome)
    # A stored run keyed by other settings has states of its own: `commit` reads and embeds them.
    known = {s: rows[s] for s in stored.state_ids() if s in rows}
    committed, added, stored = ledger.commit(ns, stored, known, by_id, earlier, prepared=prepared)
    if not committed:  # another call learned this run first (a retry, a duplicate, a helper)
        if not ledger.status(ns, [episode.run_id]).learned(episode.run_id):
            msg = (
                f"run {episode.run_id!r} was forgotten while it was being learned: nothing of "
                "it counts; learn it again to keep it"
            )
            raise StorageError(msg)
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


def cap_episode(episode: Episode, cap: float | None) -> Episode:
    """The episode with its rewards scaled down to a total |reward| of `cap` (`rlem.cap_rewards`).

    Logged when it caps; the episode itself when it is within the cap (or `cap` is None).
    """
    rewards = [s.reward for s in episode.steps]
    capped = rlem.cap_rewards(rewards, cap)
    if capped == rewards:
        return episode
    logger.info(
        "rememberer: run %s: total |reward| %.3g scaled down to max_run_reward %.3g",
        episode.run_id,
        sum(abs(r) for r in rewards),
        cap,
    )
    pairs = zip(episode.steps, capped, strict=True)
    return episode.model_copy(
        update={"steps": [s.model_copy(update={"reward": r}) for s, r in pairs]}
    )


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
    n = memory.rlem.n_step
    values = [] if n is None else _bootstrap_values(memory, ns, ids, rows, vectors)
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
    if lacking := [rows[i] for i in unseen if i not in vectors]:  # stored, an empty table
        made = memory.encoder.state_vectors(ns.task_weight, [(r.task, r.key) for r in lacking])
        vectors = {**vectors, **{r.id: v for r, v in zip(lacking, made, strict=True)}}
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
    """Forget a run; returns the updates it had learned. Running it again completes it.

    Its run record first (none of its slots counts from then on), a marker slot on each of its
    states (whose writers then refold), its done record last (DESIGN §6).
    """
    ledger, store, ns = memory.ledger, memory.store, open_namespace(memory, namespace)
    status = ledger.status(ns, [run_id], check=False)
    run, done = status.runs.get(run_id), status.dones.get(run_id)
    states = [s for s, _ in done.slots] if done else run.state_ids() if run else []
    rows = store.get_rows(ns, states) if states else {}
    if rows or status.to_check():  # a tentative done's slots, and the rows' intents'
        status = ledger.row_status(ns, rows.values(), runs=[run_id], slots=status.to_check())
        rows = {s: row.absorbed(status) for s, row in rows.items()}  # claim past intents
    learned = len(run.steps) if run is not None and status.learned(run_id) else 0
    store.delete_log(ns, [run_key(run_id)] if run is not None else [])  # none: no call
    if rows:
        nonce = uuid.uuid4().hex
        marks = {s: Slot(s, -1, run_id, forget=True, nonce=nonce) for s in rows}
        _mine, refolded, _ = ledger.claim(ns, marks, rows)  # each met its marker: refolded
        ledger.settle(ns, refolded, written={})
    if done is not None:
        store.delete_log(ns, [done_id(run_id)])
    store.delete_pending(ns, run_id)
    return learned


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


def episode_fingerprint(episode: Episode) -> str:
    """The hash of a task and its steps' observations, actions, rewards and answers."""
    content = [
        episode.task,
        [(s.observation, s.action, float(s.reward), s.answer or "") for s in episode.steps],
    ]
    return stable_id(json.dumps(content, ensure_ascii=False))


def check_targets(episode: Episode, targets: Sequence[float]) -> None:
    """Reject an episode whose targets overflow: Chroma would silently drop them."""
    bad = [t for t, g in enumerate(targets) if not is_finite_number(g)]
    if bad:
        msg = (
            f"run {episode.run_id!r}: the target of step {bad[0]} is {targets[bad[0]]!r} (each "
            "reward is finite, but their discounted sum overflows); scale the rewards down. "
            "Nothing was written"
        )
        raise InvalidInputError(msg)
