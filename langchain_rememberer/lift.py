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

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from langchain_rememberer import _lift_stats as st
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.holdout import Arm

__all__ = [
    "ONE_LOOK",
    "ArmStats",
    "BinaryLift",
    "Comparison",
    "Interval",
    "LiftReport",
    "Outcome",
    "estimate_lift",
]

MIN_PER_ARM = 10
"""Runs each arm needs before any difference is estimated."""

ONE_LOOK = (
    "The 95% interval assumes one look at a number of runs fixed in advance; if you check "
    "again and again and stop when it looks good, read the always-valid interval instead."
)

Verdict = Literal["helped", "hurt", "no difference detected", "not enough runs"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Outcome(_Frozen):
    """One learned run of the experiment: its arm, total reward, task and learn time."""

    run_id: str
    arm: Arm
    reward: float = Field(allow_inf_nan=False)
    task: str = ""
    created_at: float = 0.0
    """Wall time it was learned (seconds since the epoch): orders the windows, nothing else."""
    holdout: float = Field(default=0.1, gt=0.0, lt=1.0)
    """The control share its arm was drawn with."""


class Interval(_Frozen):
    """A two-sided interval of the lift."""

    low: float
    high: float

    def excludes_zero(self) -> bool:
        """Whether 0 is outside the interval."""
        return self.low > 0 or self.high < 0

    def text(self) -> str:
        """`[+0.05, +0.19]`."""
        return f"[{self.low:+.2f}, {self.high:+.2f}]"


class ArmStats(_Frozen):
    """Runs and rewards of one arm."""

    runs: int
    mean: float | None = None
    """Mean total reward per run (None without runs)."""
    sd: float | None = None
    """Standard deviation of the reward per run (None below two runs)."""
    successes: int | None = None
    """Runs with reward 1, when every reward of the experiment is 0 or 1."""


class BinaryLift(_Frozen):
    """Success rates, when every reward is 0 or 1."""

    memory_rate: float
    control_rate: float
    difference: float
    interval: Interval
    """Newcombe's hybrid score interval of the difference."""
    p_value: float
    """Two-sided pooled two-proportion z-test of equal rates."""


class Comparison(_Frozen):
    """The arms side by side within one task or one window of runs."""

    label: str
    memory: ArmStats
    control: ArmStats
    difference: float | None = None
    interval: Interval | None = None
    """A normal-approximation interval (Welch); None below two runs per arm. One look."""
    start: float | None = None
    end: float | None = None


class LiftReport(_Frozen):
    """The experiment's result; `summary()` says it in one line, `to_json()` as data.

    Example:
        ```python
        from langchain_rememberer.lift import Outcome, estimate_lift

        runs = [Outcome(run_id=str(i), arm="memory", reward=1.0) for i in range(3)]
        assert estimate_lift(runs).verdict == "not enough runs"
        ```
    """

    namespace: str = ""
    runs: int
    memory: ArmStats
    control: ArmStats
    difference: float | None = None
    """Mean reward with lessons minus without."""
    interval: Interval | None = None
    """The headline interval: Newcombe's for 0/1 rewards, else the BCa bootstrap. One look."""
    bootstrap: Interval | None = None
    """BCa bootstrap interval of the difference of means (numpy; fixed seed)."""
    binary: BinaryLift | None = None
    sequential: Interval | None = None
    """The always-valid interval: right even when checked after every run."""
    confidence: float = 0.95
    significant: bool = False
    """The headline interval excludes 0 (valid for one look)."""
    sequential_significant: bool = False
    """The always-valid interval excludes 0 (valid however often you look)."""
    verdict: Verdict = "not enough runs"
    runs_needed: int | None = None
    """About how many more runs would give 80% power, at `min_effect` or the observed effect."""
    min_effect: float | None = None
    by_task: list[Comparison] = Field(default_factory=list)
    over_time: list[Comparison] = Field(default_factory=list)
    unassigned: int = 0
    """Learned runs with no arm (before the holdout was on): not counted."""
    note: str = ONE_LOOK

    def summary(self) -> str:
        """One plain line, e.g. "memory helped by +0.12 [+0.05, +0.19] over 412 runs"."""
        if self.difference is None or self.interval is None:
            more = f" (need about {self.runs_needed} more)" if self.runs_needed else ""
            return (
                f"not enough runs to tell yet{more}: {self.memory.runs} with memory, "
                f"{self.control.runs} without (each arm needs {MIN_PER_ARM})"
            )
        measured = f"{self.difference:+.2f} {self.interval.text()} over {self.runs} runs"
        if self.verdict in {"helped", "hurt"}:
            return f"memory {self.verdict} by {measured}"
        if self.verdict == "no difference detected":
            return f"no difference of {self.min_effect:+.2f} or more detected: {measured}"
        more = f" (need about {self.runs_needed} more)" if self.runs_needed else ""
        if self.runs_needed is None:
            more = " (the difference is too small to plan for: pass min_effect)"
        return f"not enough runs to tell yet{more}: {measured}"

    def to_json(self) -> str:
        """The whole report as JSON, its `summary` line included."""
        return json.dumps({**self.model_dump(mode="json"), "summary": self.summary()}, indent=2)


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
    return _measured(report, runs, (m, c), share, rng, resamples)


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
