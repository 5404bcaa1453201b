"""The records the store keeps, and how retrieved states rank (no I/O).

A `LogRecord` is one applied update (the log is the source of truth); a `StateRecord` is a state
with its folded action table. Both convert to and from Chroma's metadata; `rank` orders query
candidates into the `RetrievedState`s the memory returns.

A run is all or nothing. A run appended in one Chroma call is atomic already; a longer one is
appended in several calls, so its records are *sealed*: each carries the run's length, and a
sealed run counts only once all of its records are in the log (`complete_runs`). A process
killed half-way leaves an invisible partial run, which learning the same run again completes.
Every record also carries the fingerprint of its episode: a run id names one episode.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_rememberer.errors import InvalidInputError, StorageError
from langchain_rememberer.rlem import ActionStats, cap_rewards
from langchain_rememberer.types import ActionValue, Episode, RetrievedState, is_finite_number

__all__ = [
    "LogRecord",
    "StateRecord",
    "cap_episode",
    "check_run_id",
    "check_targets",
    "complete_runs",
    "episode_fingerprint",
    "episode_records",
    "rank",
    "seal_runs",
    "stable_id",
    "ties",
]

logger = logging.getLogger(__name__)

ARCHIVED = "archived:"
"""Prefix of the `state_id` of a compacted update: no state's read finds it (`$in` ids)."""


def stable_id(*parts: str) -> str:
    """A 32-hex-digit id hashing `parts` unambiguously."""
    digest = hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()
    return digest[:32]


@dataclass(frozen=True)
class LogRecord:
    """One applied update: the truth that state tables are folded from."""

    id: str
    state_id: str
    task: str
    observation: str
    action: str
    target: float
    reward: float
    run_id: str
    step: int
    created_at: float
    answer: str = ""
    """The answer text of an answering step ("" otherwise)."""
    fingerprint: str = ""
    """`episode_fingerprint` of the run's episode ("" for records written before fingerprints)."""
    steps: int = 0
    """How many records the run has (0 when unknown: written before runs were sealed)."""
    sealed: bool = False
    """Appended in several calls: the run counts only once all `steps` records are present."""
    visits: int = 0
    """A snapshot's visit count (0: an update). See `snapshot_records`."""
    answer_value: float = 0.0
    """A snapshot's kept answer's value."""

    @property
    def is_snapshot(self) -> bool:
        """Whether this record is a compaction snapshot (one action's folded stats)."""
        return self.visits > 0

    @property
    def is_archived(self) -> bool:
        """Whether this update was compacted into a snapshot (kept for forget_run, export)."""
        return self.state_id.startswith(ARCHIVED)

    def archived(self) -> LogRecord:
        """This update as kept after compaction: out of its state's reads, still in the log."""
        return (
            self
            if self.is_archived
            else dataclasses.replace(self, state_id=ARCHIVED + self.state_id)
        )

    def restored(self) -> LogRecord:
        """This update back under its own state (the inverse of `archived`)."""
        return dataclasses.replace(self, state_id=self.state_id.removeprefix(ARCHIVED))

    @property
    def order(self) -> tuple[float, str, int, str]:
        """Fold order: by time, then run and step (a run's steps share one timestamp)."""
        return (self.created_at, self.run_id, self.step, self.id)

    def metadata(self) -> dict[str, str | int | float]:
        """The Chroma metadata of this record (the observation is the document)."""
        return {
            "state_id": self.state_id,
            "task": self.task,
            "action": self.action,
            "target": self.target,
            "reward": self.reward,
            "run_id": self.run_id,
            "step": self.step,
            "created_at": self.created_at,
            **({"answer": self.answer} if self.answer else {}),
            **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
            **({"steps": self.steps} if self.steps else {}),
            **({"sealed": True} if self.sealed else {}),
            **({"visits": self.visits, "exact": self._exact()} if self.visits else {}),
        }

    def _exact(self) -> str:
        """A snapshot's numbers as JSON: Chroma's float metadata may round their last bit."""
        return json.dumps([self.target, self.reward, self.answer_value])

    @classmethod
    def from_chroma(cls, record_id: str, metadata: Any, document: str | None) -> LogRecord:
        """Rebuild a record from what Chroma returned.

        Raises:
            StorageError: the stored record lacks a field or holds a non-finite number.
        """
        try:
            record = cls(
                id=record_id,
                state_id=str(metadata["state_id"]),
                task=str(metadata["task"]),
                observation=document or "",
                action=str(metadata["action"]),
                target=float(metadata["target"]),
                reward=float(metadata["reward"]),
                run_id=str(metadata["run_id"]),
                step=int(metadata["step"]),
                created_at=float(metadata["created_at"]),
                answer=str(metadata.get("answer") or ""),
                fingerprint=str(metadata.get("fingerprint") or ""),
                steps=int(metadata.get("steps") or 0),
                sealed=bool(metadata.get("sealed", False)),
                visits=int(metadata.get("visits") or 0),
            )
            if record.visits:
                target, reward, value = map(float, json.loads(str(metadata["exact"])))
                record = dataclasses.replace(
                    record, target=target, reward=reward, answer_value=value
                )
            numbers = (record.target, record.reward, record.created_at, record.answer_value)
            if not all(is_finite_number(x) for x in numbers):
                msg = "a non-finite number"
                raise ValueError(msg)
        except (KeyError, TypeError, ValueError) as e:
            run = metadata.get("run_id") if isinstance(metadata, dict) else None
            msg = (
                f"log record {record_id} (run {run!r}) is malformed ({type(e).__name__}: {e}); "
                f"remove that run with memory.forget_run({run!r}), then memory.rebuild()"
            )
            raise StorageError(msg) from e
        return record


@dataclass(frozen=True)
class StateRecord:
    """A stored state and its folded action table."""

    id: str
    task: str
    observation: str
    table: dict[str, ActionStats] = field(default_factory=dict)
    similarity: float | None = None
    last_update: float = 0.0
    """When its latest update was made (`created_at`); 0 when unknown. Eviction reads it."""
    task_similarity: float | None = None
    """cos(g, g') of its task and a query's (`similarity.task_similarities`); None: not known."""

    def metadata(self) -> dict[str, str | int | float]:
        """The Chroma metadata: task, the JSON action table, total visits, latest update."""
        table = {a: _table_row(s) for a, s in self.table.items()}
        return {
            "task": self.task,
            "table": json.dumps(table, ensure_ascii=False),
            "visits": sum(s.visits for s in self.table.values()),
            "last_update": self.last_update,
        }

    @classmethod
    def from_chroma(
        cls, record_id: str, metadata: Any, document: str | None, distance: float | None = None
    ) -> StateRecord:
        """Rebuild a state from what Chroma returned; the `ip` distance is 1 − similarity."""
        try:
            raw = json.loads(metadata["table"])
            table = {str(a): _stats_of(row) for a, row in raw.items()}
        except (KeyError, TypeError, ValueError) as e:
            msg = f"state {record_id} has a corrupt action table; run memory.rebuild() to repair it"
            raise StorageError(msg) from e
        similarity = None if distance is None else 1.0 - float(distance)
        return cls(record_id, str(metadata["task"]), document or "", table, similarity)

    @property
    def visits(self) -> int:
        """Total visits over the table's actions."""
        return sum(s.visits for s in self.table.values())

    def retrieved(self) -> RetrievedState:
        """This state as the memory returns it, actions by Q, highest first."""
        actions = [
            ActionValue(
                action=a,
                q=s.q,
                visits=s.visits,
                last_reward=s.last_reward,
                answer=s.answer or None,
                answer_value=s.answer_value if s.answer else None,
            )
            for a, s in sorted(self.table.items(), key=lambda item: -item[1].q)
        ]
        return RetrievedState(
            id=self.id,
            task=self.task,
            observation=self.observation,
            similarity=self.similarity or 0.0,
            actions=actions,
        )


def episode_fingerprint(episode: Episode) -> str:
    """A hash of what the episode says, independent of the memory's settings.

    It covers the task and each step's observation, action, reward and answer: the same run id
    must name the same episode.
    """
    content = [
        episode.task,
        [(s.observation, s.action, float(s.reward), s.answer or "") for s in episode.steps],
    ]
    return stable_id(json.dumps(content, ensure_ascii=False))


def episode_records(
    episode: Episode,
    task: str,
    keys: Sequence[str],
    state_ids: Sequence[str],
    targets: Sequence[float],
    *,
    created_at: float,
    sealed: bool = False,
    fingerprint: str | None = None,
) -> list[LogRecord]:
    """The log records of a learned episode: one per step, ids stable per (run, step).

    `sealed` when they will be appended in several calls (see the module docstring);
    `fingerprint` defaults to the episode's own (pass the original's if rewards were capped).
    """
    fingerprint = fingerprint or episode_fingerprint(episode)
    return [
        LogRecord(
            id=stable_id("update", episode.run_id, str(t)),
            state_id=state_ids[t],
            task=task,
            observation=keys[t],
            action=step.action,
            target=targets[t],
            reward=step.reward,
            run_id=episode.run_id,
            step=t,
            created_at=created_at,
            answer=step.answer or "",
            fingerprint=fingerprint,
            steps=len(episode.steps),
            sealed=sealed,
        )
        for t, step in enumerate(episode.steps)
    ]


def seal_runs(records: Sequence[LogRecord]) -> list[LogRecord]:
    """The records sealed, each run's length being its record count here (for an import).

    Records already sealed keep their own length.
    """
    counts = Counter(r.run_id for r in records)
    return [
        r if r.sealed else dataclasses.replace(r, sealed=True, steps=r.steps or counts[r.run_id])
        for r in records
    ]


def complete_runs(
    records: Iterable[LogRecord], present: Mapping[str, int] | None = None
) -> list[LogRecord]:
    """The records of complete runs: sealed runs with fewer records present are left out.

    `present` counts each sealed run's records in the whole log; by default `records` are the
    whole log (an export, a rebuild) and are counted themselves.
    """
    records = list(records)
    if present is None:
        present = Counter(r.run_id for r in records if r.sealed)
    return [r for r in records if not r.sealed or present.get(r.run_id, 0) >= r.steps]


def ties(a: StateRecord, b: StateRecord) -> bool:
    """Whether two candidates are equally similar (to 6 decimals)."""
    return round(a.similarity or 0.0, 6) == round(b.similarity or 0.0, 6)


def rank(
    candidates: Sequence[StateRecord],
    k: int,
    min_similarity: float,
    min_task_similarity: float | None = None,
) -> list[RetrievedState]:
    """The `k` best candidates with a table and at least `min_similarity`, most similar first.

    A known `task_similarity` below `min_task_similarity` drops one too; ties go by visits.
    """
    task_floor = -2.0 if min_task_similarity is None else min_task_similarity
    kept = [c for c in candidates if c.table and (c.similarity or 0.0) >= min_similarity]
    kept = [c for c in kept if c.task_similarity is None or c.task_similarity >= task_floor]
    kept.sort(key=lambda c: (-round(c.similarity or 0.0, 6), -c.visits))
    return [c.retrieved() for c in kept[:k]]


def _table_row(stats: ActionStats) -> list[Any]:
    """A table entry as stored: [q, n, last reward], plus [answer, its value] for answers."""
    row: list[Any] = [stats.q, stats.visits, stats.last_reward]
    return [*row, stats.answer, stats.answer_value] if stats.answer else row


def _stats_of(row: Any) -> ActionStats:
    """Inverse of `_table_row`; tables written before answers were kept have 3 fields."""
    q, n, r, *rest = row
    if rest:
        answer, value = rest
        return ActionStats(float(q), int(n), float(r), str(answer), float(value))
    return ActionStats(float(q), int(n), float(r))


def cap_episode(episode: Episode, cap: float | None) -> Episode:
    """The episode with its rewards scaled down to a total |reward| of `cap` (`rlem.cap_rewards`).

    Logged when it caps; the episode itself when it is within the cap (or `cap` is None).
    """
    rewards = [s.reward for s in episode.steps]
    capped = cap_rewards(rewards, cap)
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


def check_run_id(run_id: str, fingerprint: str, earlier: Sequence[LogRecord]) -> None:
    """Reject a run id already learned with another episode (before anything is written).

    `earlier` are the run's records already in the log; those written before fingerprints
    existed are taken on trust.
    """
    if any(r.fingerprint and r.fingerprint != fingerprint for r in earlier):
        msg = (
            f"run {run_id!r} was already learned with a different episode; a run id "
            "names one episode: give each run its own id (or forget_run() the old one first). "
            "Nothing was written"
        )
        raise InvalidInputError(msg)


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
