"""lift.py and _lift_stats.py: the estimate's calibration, by simulation with a known effect.

Every simulation is seeded: the same seeds give the same numbers on every machine.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from langchain_rememberer import InvalidInputError
from langchain_rememberer import _lift_stats as st
from langchain_rememberer.lift import MIN_PER_ARM, Outcome, estimate_lift

SEEDS = 400
EFFECT = 0.10


def arms(
    seed: int, effect: float, *, n: int = 400, share: float = 0.5, binary: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """`n` runs' (control?, reward); a `share` are control, the others' reward `effect` higher."""
    rng = np.random.default_rng(seed)
    control = rng.random(n) < share
    lift = np.where(control, 0.0, effect)
    if binary:
        return control, (rng.random(n) < 0.5 + lift).astype(float)
    return control, rng.normal(0.5, 0.3, size=n) + lift


def simulated(seed: int, effect: float, *, n: int = 400, binary: bool = False) -> list[Outcome]:
    """`arms` as the outcomes `memory.lift()` reads (half of them control)."""
    control, rewards = arms(seed, effect, n=n, binary=binary)
    return [
        Outcome(
            run_id=f"{i:05d}",
            arm="control" if c else "memory",
            reward=float(r),
            task=f"task {i % 3}",
            created_at=float(i),
            holdout=0.5,
        )
        for i, (c, r) in enumerate(zip(control, rewards, strict=True))
    ]


def headline(
    control: np.ndarray, rewards: np.ndarray, seed: int, binary: bool
) -> tuple[float, float]:
    """The interval `estimate_lift` reports (the next test checks it is the same)."""
    m, c = rewards[~control], rewards[control]
    if binary:
        return st.newcombe_difference(int(m.sum()), len(m), int(c.sum()), len(c), confidence=0.95)
    rng = np.random.default_rng(seed)
    return st.bca_difference(m, c, confidence=0.95, resamples=1000, rng=rng)


@pytest.mark.parametrize("binary", [False, True])
def test_the_report_shows_the_headline_interval_simulated_below(binary: bool) -> None:
    report = estimate_lift(simulated(3, EFFECT, binary=binary), resamples=1000, seed=3)
    low, high = headline(*arms(3, EFFECT, binary=binary), seed=3, binary=binary)
    assert report.interval is not None
    assert (report.interval.low, report.interval.high) == pytest.approx((low, high))


def calibration(binary: bool) -> tuple[float, float]:
    """(share of seeds covering the effect, share calling a zero effect significant)."""
    covered = false_alarms = 0
    for seed in range(SEEDS):
        low, high = headline(*arms(seed, EFFECT, binary=binary), seed=seed, binary=binary)
        covered += low <= EFFECT <= high
        low, high = headline(*arms(10_000 + seed, 0.0, binary=binary), seed=seed, binary=binary)
        false_alarms += low > 0 or high < 0
    return covered / SEEDS, false_alarms / SEEDS


def test_the_bootstrap_interval_covers_a_known_effect_and_rarely_cries_wolf() -> None:
    coverage, false_alarms = calibration(binary=False)
    assert 0.93 <= coverage <= 0.97, coverage
    assert false_alarms <= 0.06, false_alarms


def test_the_success_rate_interval_covers_a_known_effect_and_rarely_cries_wolf() -> None:
    coverage, false_alarms = calibration(binary=True)
    assert 0.93 <= coverage <= 0.97, coverage
    assert false_alarms <= 0.06, false_alarms


def test_the_sequential_interval_stays_valid_when_checked_after_every_run() -> None:
    """With no effect, the always-valid interval excludes 0 at *any* of 2,000 looks rarely."""
    n, share, ever = 2000, 0.2, 0
    detected = 0
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        control = rng.random(n) < share
        rewards = rng.normal(0.5, 0.3, size=n)
        centres, halves = st.confidence_sequence(
            rewards, control, np.full(n, share), confidence=0.95
        )
        enough = (np.cumsum(control) >= MIN_PER_ARM) & (np.cumsum(~control) >= MIN_PER_ARM)
        ever += bool(np.any(enough & (np.abs(centres) > halves)))
        lifted = rewards + np.where(control, 0.0, 0.15)
        centres, halves = st.confidence_sequence(
            lifted, control, np.full(n, share), confidence=0.95
        )
        detected += centres[-1] - halves[-1] > 0
    assert ever / SEEDS <= 0.05, ever / SEEDS
    assert detected / SEEDS >= 0.8  # and it still finds a real effect


def test_checking_the_fixed_interval_after_every_run_would_cry_wolf() -> None:
    """Why the one-look note is there: peeking at the fixed-sample interval inflates errors."""
    n, share, ever = 600, 0.5, 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        control = rng.random(n) < share
        rewards = rng.normal(0.5, 0.3, size=n)
        for t in range(40, n + 1, 20):
            m, c = rewards[:t][~control[:t]], rewards[:t][control[:t]]
            low, high = st.welch_difference(m, c, confidence=0.95)
            if low > 0 or high < 0:
                ever += 1
                break
    assert ever / 100 > 0.1


def test_the_summary_says_helped_with_the_interval() -> None:
    runs = simulated(1, 0.3, n=600)
    report = estimate_lift(runs)
    assert report.verdict == "helped"
    assert report.significant
    assert report.summary().startswith(f"memory helped by {report.difference:+.2f} [")
    assert report.summary().endswith("over 600 runs")
    assert report.runs == 600
    assert report.memory.runs + report.control.runs == 600


def test_a_memory_that_hurts_is_reported_as_hurting() -> None:
    report = estimate_lift(simulated(2, -0.3, n=600))
    assert report.verdict == "hurt"
    assert report.summary().startswith("memory hurt by -0.")


def test_too_few_runs_say_how_many_more_are_needed() -> None:
    report = estimate_lift(simulated(3, 0.1, n=12))
    assert report.verdict == "not enough runs"
    assert report.difference is None
    assert report.runs_needed is not None
    assert report.runs_needed > 0
    assert report.summary().startswith(
        f"not enough runs to tell yet (need about {report.runs_needed} more)"
    )


def test_runs_needed_follows_the_power_formula() -> None:
    report = estimate_lift(simulated(4, 0.0, n=200), min_effect=0.1)
    assert not report.significant
    total = st.runs_for_power(report.memory.sd, report.control.sd, 0.5, 0.1, confidence=0.95)
    assert report.runs_needed == max(0, int(np.ceil(total - 200)))
    # 1.96 + 0.84 = 2.80; (2.80^2)(0.3^2/0.5 + 0.3^2/0.5)/0.1^2 = 282 runs in all
    assert 250 < total < 320


def test_enough_runs_without_a_difference_say_so_with_a_minimum_effect() -> None:
    report = estimate_lift(simulated(5, 0.0, n=3000), min_effect=0.1)
    assert report.verdict == "no difference detected"
    assert report.summary().startswith("no difference of +0.10 or more detected")


def test_binary_rewards_get_rates_newcombe_and_a_test() -> None:
    report = estimate_lift(simulated(6, 0.2, n=400, binary=True))
    assert report.binary is not None
    assert report.binary.interval == report.interval
    assert report.binary.p_value < 0.05
    assert report.memory.successes is not None


def test_newcombe_matches_a_published_example() -> None:
    """Newcombe (1998), Table II example (a): 56/70 vs 48/80 -> 0.2000 [0.0524, 0.3339]."""
    low, high = st.newcombe_difference(56, 70, 48, 80, confidence=0.95)
    assert (round(low, 4), round(high, 4)) == (0.0524, 0.3339)


def test_the_same_runs_give_the_same_interval() -> None:
    runs = simulated(7, 0.1)
    assert estimate_lift(runs) == estimate_lift(list(reversed(runs)))


def test_strata_and_windows_partition_the_runs() -> None:
    report = estimate_lift(simulated(8, 0.1, n=400), windows=4)
    assert [c.label for c in report.by_task] == ["task 0", "task 1", "task 2"]
    assert sum(c.memory.runs + c.control.runs for c in report.by_task) == 400
    assert [c.label for c in report.over_time] == [
        "runs 1-100",
        "runs 101-200",
        "runs 201-300",
        "runs 301-400",
    ]
    assert sum(c.memory.runs + c.control.runs for c in report.over_time) == 400
    assert report.over_time[0].start == 0.0
    assert report.over_time[-1].end == 399.0


def test_the_json_export_holds_everything_and_the_summary() -> None:
    report = estimate_lift(simulated(9, 0.1))
    data = json.loads(report.to_json())
    assert data["summary"] == report.summary()
    assert data["memory"]["runs"] == report.memory.runs
    assert data["sequential"]["low"] == report.sequential.low
    assert "one look" in data["note"]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("confidence", 1.0),
        ("confidence", "0.95"),
        ("min_effect", -0.1),
        ("min_effect", float("nan")),
        ("resamples", 10),
        ("windows", 0),
    ],
)
def test_bad_options_are_clear_errors(option: str, value: object) -> None:
    with pytest.raises(InvalidInputError, match=option):
        estimate_lift(simulated(0, 0.1, n=50), **{option: value})


def test_a_difference_of_exactly_zero_asks_for_a_minimum_effect() -> None:
    runs = [
        Outcome(run_id=f"{arm}-{i}", arm=arm, reward=float(i % 2), holdout=0.5)
        for arm in ("memory", "control")
        for i in range(20)
    ]
    report = estimate_lift(runs)
    assert report.difference == 0.0
    assert report.runs_needed is None
    assert "pass min_effect" in report.summary()
    assert estimate_lift(runs, min_effect=0.3).runs_needed is not None


def clustered(seed: int, effect: float, units: int = 120) -> list[Outcome]:
    """Units (users) with 1-8 runs each; a unit's runs share its own level (correlated)."""
    rng = np.random.default_rng(seed)
    runs = []
    for u in range(units):
        control = rng.random() < 0.5
        level = rng.normal(0.0, 0.3) + (0.0 if control else effect)
        for r in range(int(rng.integers(1, 9))):
            runs.append(
                Outcome.model_construct(
                    run_id=f"{u}-{r}",
                    arm="control" if control else "memory",
                    reward=float(0.5 + level + rng.normal(0.0, 0.2)),
                    task="",
                    created_at=float(len(runs)),
                    holdout=0.5,
                    unit=f"user-{u}",
                )
            )
    return runs


def test_runs_sharing_a_unit_get_an_interval_over_units() -> None:
    """One user's runs are alike: an interval over runs is too narrow, over units it covers."""
    covered = naive = 0
    seeds = SEEDS
    for seed in range(seeds):
        runs = clustered(seed, EFFECT)
        report = estimate_lift(runs, resamples=500, seed=seed, windows=1)
        assert report.units == 120
        assert report.sequential is None
        covered += report.interval.low <= EFFECT <= report.interval.high
        alone = [o.model_copy(update={"unit": ""}) for o in runs]  # as if each run were a unit
        m = np.array([o.reward for o in alone if o.arm == "memory"])
        c = np.array([o.reward for o in alone if o.arm == "control"])
        low, high = st.welch_difference(m, c, confidence=0.95)
        naive += low <= EFFECT <= high
    assert covered / seeds >= 0.92, covered / seeds
    assert naive / seeds < 0.85, naive / seeds  # why: runs are not independent
