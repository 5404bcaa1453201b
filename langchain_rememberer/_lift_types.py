"""Pure: the holdout experiment's result types (no I/O); `lift.py` re-exports them.

`estimate_lift` (`lift.py`) builds them; docs/lift.md reads them.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from langchain_rememberer.holdout import Arm

__all__ = [
    "CLUSTERED",
    "MIN_PER_ARM",
    "ONE_LOOK",
    "ArmStats",
    "BinaryLift",
    "Comparison",
    "Interval",
    "LiftReport",
    "Outcome",
    "Verdict",
]

MIN_PER_ARM = 10
"""Runs each arm needs before any difference is estimated."""

ONE_LOOK = (
    "The 95% interval assumes one look at a number of runs fixed in advance; if you check "
    "again and again and stop when it looks good, read the always-valid interval instead."
)

CLUSTERED = (
    "Runs share unit keys (rememberer_unit): the interval resamples whole units, since one "
    "unit's runs are alike. It assumes one look; no always-valid interval is computed for "
    "shared units."
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
    unit: str = ""
    """A hash of its unit key when one was given (`rememberer_unit`); "": the run is its own."""


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
    units: int | None = None
    """Distinct unit keys, when runs share them: the intervals then resample whole units."""
    note: str = ONE_LOOK

    def summary(self) -> str:
        """One plain line, e.g. "memory helped by +0.12 [+0.05, +0.19] over 412 runs"."""
        if self.difference is None or self.interval is None:
            more = f" (need about {self.runs_needed} more)" if self.runs_needed else ""
            return (
                f"not enough runs to tell yet{more}: {self.memory.runs} with memory, "
                f"{self.control.runs} without (each arm needs {MIN_PER_ARM} "
                f"{'units' if self.units is not None else 'runs'})"
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
