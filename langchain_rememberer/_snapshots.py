"""Compaction's pure part: snapshots, cutoffs and the live fold of a state (no I/O).

The rules are in `_compaction`'s docstring (and DESIGN §6); the operations are there too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from langchain_rememberer import rlem
from langchain_rememberer._records import LogRecord, stable_id
from langchain_rememberer.config import RLEMConfig

__all__ = [
    "MARGIN",
    "StatePlan",
    "choose_cutoff",
    "fold_live",
    "live_cutoff",
    "plan_state",
    "snapshot_records",
]

MARGIN = 0.01
"""Seconds between a cutoff and any update's time (Chroma may round a float's last bits)."""


def live_cutoff(records: Iterable[LogRecord]) -> float | None:
    """The latest cutoff among the snapshots in `records` (None: the state has none)."""
    return max((r.created_at for r in records if r.is_snapshot), default=None)


def fold_live(records: Sequence[LogRecord], config: RLEMConfig) -> dict[str, rlem.ActionStats]:
    """One state's action table from its records: live snapshots, then the updates after them.

    Example:
        ```python
        from langchain_rememberer._snapshots import fold_live, snapshot_records
        from langchain_rememberer._records import LogRecord
        from langchain_rememberer.config import RLEMConfig


        def update(target: float, at: float) -> LogRecord:
            return LogRecord(f"u{at}", "s", "t", "o", "a", target, 0.0, f"r{at}", 0, at)


        log = [update(1.0, 1.0), update(0.0, 2.0), update(0.5, 3.0)]
        whole = fold_live(log, RLEMConfig())
        snapshot = snapshot_records("s", "t", "o", fold_live(log[:2], RLEMConfig()), 2.5)
        assert fold_live([*snapshot, log[2]], RLEMConfig()) == whole  # Q = 0.5, N = 3
        assert whole["a"].visits == 3
        ```
    """
    cutoff = live_cutoff(records)
    initial = {r.action: _stats(r) for r in records if r.is_snapshot and r.created_at == cutoff}
    updates = sorted(
        (r for r in records if not r.is_snapshot and (cutoff is None or r.created_at > cutoff)),
        key=lambda r: r.order,
    )
    return rlem.fold_table(
        ((r.action, r.target, r.reward, r.answer) for r in updates),
        learning_rate=config.learning_rate,
        alpha=config.alpha,
        initial=initial,
    )


def snapshot_records(
    state_id: str,
    task: str,
    observation: str,
    table: Mapping[str, rlem.ActionStats],
    cutoff: float,
) -> list[LogRecord]:
    """One snapshot record per action of a folded table, at `cutoff` (ids stable per cutoff)."""
    return [
        LogRecord(
            id=stable_id("snapshot", state_id, action, repr(cutoff)),
            state_id=state_id,
            task=task,
            observation=observation,
            action=action,
            target=stats.q,
            reward=stats.last_reward,
            run_id="",
            step=0,
            created_at=cutoff,
            answer=stats.answer,
            visits=stats.visits,
            answer_value=stats.answer_value,
        )
        for action, stats in table.items()
    ]


def choose_cutoff(records: Iterable[LogRecord], wanted: float) -> float:
    """`wanted`, moved earlier until it is at least `MARGIN` away from every update's time."""
    cutoff = wanted
    for at in sorted((r.created_at for r in records if not r.is_snapshot), reverse=True):
        if at < cutoff - MARGIN:
            break
        cutoff = min(cutoff, at - MARGIN)
    return cutoff


@dataclass(frozen=True)
class StatePlan:
    """What compacting one state writes: its snapshots, the updates they archive, the stale."""

    state_id: str
    snapshots: list[LogRecord]
    archive: list[LogRecord]
    """The covered updates still under the state's id (to relabel after the switch)."""
    stale: list[str]
    """Ids of the state's older snapshots (deleted after the switch)."""


def plan_state(
    records: Sequence[LogRecord],
    wanted: float,
    config: RLEMConfig,
    *,
    partial: frozenset[str] = frozenset(),
    min_updates: int = 1,
) -> StatePlan | None:
    """How to compact one state's records (its log as read, partial runs included), or None.

    None when fewer than `min_updates` updates would be folded into a new snapshot, or when
    one of them belongs to a sealed run not wholly in the log yet (`partial`: their ids).
    """
    if not records:
        return None
    old = live_cutoff(records)
    cutoff = choose_cutoff(records, wanted)
    if old is not None and cutoff <= old:
        return None
    covered = [r for r in records if not r.is_snapshot and r.created_at < cutoff]
    fresh = [r for r in covered if old is None or r.created_at > old]
    if len(fresh) < max(min_updates, 1) or any(r.id in partial for r in covered):
        return None
    snapshots = [r for r in records if r.is_snapshot]
    first = records[0]
    table = fold_live([*snapshots, *covered], config)
    return StatePlan(
        state_id=first.state_id,
        snapshots=snapshot_records(first.state_id, first.task, first.observation, table, cutoff),
        archive=covered,
        stale=[r.id for r in snapshots],
    )


def _stats(record: LogRecord) -> rlem.ActionStats:
    return rlem.ActionStats(
        record.target, record.visits, record.reward, record.answer, record.answer_value
    )
