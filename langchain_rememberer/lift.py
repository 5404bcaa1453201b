"""Pure: does the memory make the agent better, and by how much? (no I/O; docs/lift.md).

`estimate_lift` compares the runs of the holdout experiment (`holdout.py`): the *memory* arm,
shown lessons, against the *control* arm, shown none, both learned. It reports each arm's
runs and mean reward, their difference with a 95% interval, success rates with Newcombe's
interval and a two-proportion test when every reward is 0 or 1, an always-valid interval
for checking after every run, the runs still needed, and the same comparison per task and
per window of runs over time. `RemembererMemory.lift()` reads the runs from the store.

Example:
    ```python
    from langchain_rememberer.lift import Outcome, estimate_lift

    outcomes = [
        Outcome(run_id=str(i), arm="control" if i % 5 == 0 else "memory", reward=float(i % 2))
        for i in range(200)
    ]
    report = estimate_lift(outcomes)
    print(report.summary())  # e.g. "not enough runs to tell yet (need about ... more) ..."
    assert report.memory.runs == 160 and report.control.runs == 40
    ```
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from langchain_rememberer import _lift_stats as st
from langchain_rememberer._lift_types import (
    CLUSTERED,
    MIN_PER_ARM,
    ONE_LOOK,
    ArmStats,
    BinaryLift,
    Comparison,
    Interval,
    LiftReport,
    Outcome,
    Verdict,
)
from langchain_rememberer.errors import InvalidInputError

__all__ = [
    "MIN_PER_ARM",
    "ONE_LOOK",
    "ArmStats",
    "BinaryLift",
    "Comparison",
    "Interval",
    "LiftReport",
    "Outcome",
    "estimate_lift",
]


def _arm(rewards: np.ndarray, binary: bool) -> ArmStats:
    n = len(rewards)
    return ArmStats(
        runs=n,
        mean=float(rewards.mean()) if n else None,
        sd=float(rewards.std(ddof=1)) if n > 1 else None,
        successes=int(rewards.sum()) if binary else None,
    )


def _compare(label: str, group: Sequence[Outcome], binary: bool, confidence: float) -> Comparison:
    m = np.array([o.reward for o in group if o.arm == "memory"])
    c = np.array([o.reward for o in group if o.arm == "control"])
    out = Comparison(label=label, memory=_arm(m, binary), control=_arm(c, binary))
    if len(m) and len(c):
        out = out.model_copy(update={"difference": float(m.mean() - c.mean())})
    if len(m) > 1 and len(c) > 1:
        low, high = st.welch_difference(m, c, confidence=confidence)
        out = out.model_copy(update={"interval": Interval(low=low, high=high)})
    return out


def _by_task(
    runs: Sequence[Outcome], binary: bool, confidence: float, most: int
) -> list[Comparison]:
    """One comparison per task, the tasks with most runs first; the rest in one line."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in runs:
        groups[o.task].append(o)
    ordered = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    out = [_compare(task or "(no task)", g, binary, confidence) for task, g in ordered[:most]]
    rest = [o for _task, g in ordered[most:] for o in g]
    if rest:
        out.append(_compare(f"({len(ordered) - most} other tasks)", rest, binary, confidence))
    return out


def _over_time(
    runs: Sequence[Outcome], binary: bool, confidence: float, windows: int
) -> list[Comparison]:
    """The runs in time order, cut into `windows` windows of about equal size."""
    out = []
    for part in np.array_split(np.arange(len(runs)), min(windows, len(runs))):
        group = [runs[i] for i in part]
        label = f"runs {part[0] + 1}-{part[-1] + 1}"
        found = _compare(label, group, binary, confidence)
        times = {"start": group[0].created_at, "end": group[-1].created_at}
        out.append(found.model_copy(update=times))
    return out


def _check(confidence: float, min_effect: float | None, resamples: int, windows: int) -> None:
    problems = []
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, int | float)
        or not 0.5 <= confidence < 1
    ):
        problems.append(f"confidence must be a number from 0.5 to below 1, got {confidence!r}")
    if min_effect is not None and (
        isinstance(min_effect, bool)
        or not isinstance(min_effect, int | float)
        or not math.isfinite(min_effect)
        or min_effect <= 0
    ):
        problems.append(f"min_effect must be a positive number or None, got {min_effect!r}")
    for name, value, least in (("resamples", resamples, 100), ("windows", windows, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            problems.append(f"{name} must be a whole number of at least {least}, got {value!r}")
    if problems:
        raise InvalidInputError("; ".join(problems))


def _to_reach_minimum(memory: int, control: int, share: float) -> int:
    """About how many more runs until each arm has `MIN_PER_ARM`."""
    more = max((MIN_PER_ARM - control) / share, (MIN_PER_ARM - memory) / (1 - share), 0)
    return math.ceil(more)


def _binary(m: np.ndarray, c: np.ndarray, confidence: float) -> BinaryLift:
    x1, x2 = int(m.sum()), int(c.sum())
    low, high = st.newcombe_difference(x1, len(m), x2, len(c), confidence=confidence)
    return BinaryLift(
        memory_rate=x1 / len(m),
        control_rate=x2 / len(c),
        difference=x1 / len(m) - x2 / len(c),
        interval=Interval(low=low, high=high),
        p_value=st.two_proportion_p_value(x1, len(m), x2, len(c)),
    )


def _runs_needed(
    report: LiftReport, share: float, effect: float, *, confidence: float
) -> int | None:
    """More runs for 80% power at `effect`; None when it cannot be planned (or is absurd)."""
    sd_m, sd_c = report.memory.sd or 0.0, report.control.sd or 0.0
    total = st.runs_for_power(sd_m, sd_c, share, effect, confidence=confidence)
    if total is None or total > 100 * max(report.runs, 1_000):
        return None
    return max(0, math.ceil(total - report.runs))


def estimate_lift(
    outcomes: Sequence[Outcome],
    *,
    namespace: str = "",
    confidence: float = 0.95,
    min_effect: float | None = None,
    resamples: int = 2000,
    seed: int = 0,
    windows: int = 4,
    max_tasks: int = 20,
    unassigned: int = 0,
) -> LiftReport:
    """Compare the memory arm with the control arm.

    Args:
        outcomes: The experiment's learned runs (any order; sorted by time, then run id).
        namespace: Named in the report.
        confidence: Of every interval (0.95).
        min_effect: The smallest lift worth knowing about: plans `runs_needed` and allows the
            verdict "no difference detected"; None plans at the observed difference.
        resamples: Bootstrap resamples (fixed `seed`: the same runs give the same interval).
        seed: The bootstrap's seed.
        windows: How many windows of runs `over_time` cuts the runs into.
        max_tasks: Tasks listed in `by_task` (the rest are pooled).
        unassigned: Learned runs without an arm, reported as not counted.

    Raises:
        InvalidInputError: a bad knob.
    """
    _check(confidence, min_effect, resamples, windows)
    runs = sorted(outcomes, key=lambda o: (o.created_at, o.run_id))
    rewards = np.array([o.reward for o in runs], dtype=float)
    control = np.array([o.arm == "control" for o in runs], dtype=bool)
    binary = bool(runs) and bool(np.all((rewards == 0) | (rewards == 1)))
    m, c = rewards[~control], rewards[control]
    share = float(np.mean([o.holdout for o in runs])) if runs else 0.1
    report = LiftReport(
        namespace=namespace,
        runs=len(runs),
        memory=_arm(m, binary),
        control=_arm(c, binary),
        confidence=confidence,
        min_effect=min_effect,
        unassigned=unassigned,
        by_task=_by_task(runs, binary, confidence, max_tasks),
        over_time=_over_time(runs, binary, confidence, windows) if runs else [],
    )
    if len(m) < MIN_PER_ARM or len(c) < MIN_PER_ARM:
        return report.model_copy(update={"runs_needed": _to_reach_minimum(len(m), len(c), share)})
    rng = np.random.default_rng(seed)
    if any(o.unit for o in runs) and len({o.unit or o.run_id for o in runs}) < len(runs):
        return _clustered(report, runs, rng, resamples)
    return _measured(report, runs, (m, c), share, rng, resamples)


def _clusters(runs: Sequence[Outcome], arm: str) -> tuple[np.ndarray, np.ndarray]:
    """(reward sums, run counts) per unit of one arm."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for o in runs:
        if o.arm == arm:
            sums[o.unit or o.run_id] += o.reward
            counts[o.unit or o.run_id] += 1
    return np.array(list(sums.values())), np.array([float(counts[k]) for k in sums])


def _clustered(
    report: LiftReport, runs: Sequence[Outcome], rng: np.random.Generator, resamples: int
) -> LiftReport:
    """The estimate when runs share unit keys: a bootstrap of units, no sequential interval."""
    a, b = _clusters(runs, "memory"), _clusters(runs, "control")
    units = len(a[0]) + len(b[0])
    report = report.model_copy(update={"units": units, "note": CLUSTERED})
    if min(len(a[0]), len(b[0])) < MIN_PER_ARM:
        return report
    confidence = report.confidence
    low, high = st.cluster_bca_difference(a, b, confidence=confidence, resamples=resamples, rng=rng)
    interval = Interval(low=low, high=high)
    difference = float(a[0].sum() / a[1].sum() - b[0].sum() / b[1].sum())
    significant = interval.excludes_zero()
    verdict: Verdict = (
        ("helped" if difference > 0 else "hurt") if significant else "not enough runs"
    )
    return report.model_copy(
        update={
            "difference": difference,
            "interval": interval,
            "bootstrap": interval,
            "significant": significant,
            "verdict": verdict,
        }
    )


def _measured(  # noqa: PLR0917 (what the estimate needs, in order)
    report: LiftReport,
    runs: Sequence[Outcome],
    arms: tuple[np.ndarray, np.ndarray],
    share: float,
    rng: np.random.Generator,
    resamples: int,
) -> LiftReport:
    """The report with the difference, its intervals, the verdict and the runs needed."""
    m, c = arms
    confidence, min_effect = report.confidence, report.min_effect
    rewards = np.array([o.reward for o in runs], dtype=float)
    control = np.array([o.arm == "control" for o in runs], dtype=bool)
    holdouts = np.array([o.holdout for o in runs])
    centres, halves = st.confidence_sequence(rewards, control, holdouts, confidence=confidence)
    low, high = st.bca_difference(m, c, confidence=confidence, resamples=resamples, rng=rng)
    found = _binary(m, c, confidence) if report.memory.successes is not None else None
    bootstrap = Interval(low=low, high=high)
    headline = found.interval if found is not None else bootstrap
    difference = float(m.mean() - c.mean())
    significant = headline.excludes_zero()
    sequential = Interval(low=centres[-1] - halves[-1], high=centres[-1] + halves[-1])
    needed = _runs_needed(report, share, min_effect or difference, confidence=confidence)
    verdict: Verdict = "not enough runs"
    if significant:
        verdict = "helped" if difference > 0 else "hurt"
    elif min_effect is not None and needed == 0:
        verdict = "no difference detected"
    return report.model_copy(
        update={
            "difference": difference,
            "interval": headline,
            "bootstrap": bootstrap,
            "binary": found,
            "sequential": sequential,
            "significant": significant,
            "sequential_significant": sequential.excludes_zero(),
            "verdict": verdict,
            "runs_needed": None if significant else needed,
        }
    )
