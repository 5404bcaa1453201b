"""Pure statistics of the holdout experiment (no I/O): intervals, tests, power (DESIGN §6).

numpy and the standard library's `statistics.NormalDist` only (no scipy): a BCa bootstrap of a
difference of means, Newcombe's interval and the two-proportion z-test for success rates, an
asymptotic confidence sequence valid under continuous monitoring, and a power calculation.
`lift.py` builds the report from these.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "CS_HORIZON",
    "bca_difference",
    "cluster_bca_difference",
    "confidence_sequence",
    "newcombe_difference",
    "runs_for_power",
    "two_proportion_p_value",
    "welch_difference",
]

Floats = npt.NDArray[np.float64]
_NORMAL = NormalDist()

CS_HORIZON = 1000
"""The run count the confidence sequence is tightest at (its mixture's ρ is fixed by it in
advance, as validity requires; it stays valid at every other count, a little wider)."""


def _boot_means(x: Floats, resamples: int, rng: np.random.Generator) -> Floats:
    """`resamples` bootstrap means of `x` (a binomial draw when `x` is 0/1: the same law)."""
    n = len(x)
    if np.all((x == 0) | (x == 1)):
        return rng.binomial(n, float(x.mean()), size=resamples) / n
    # Resample deviations widened by sqrt(n/(n-1)): the bootstrap variance is then unbiased.
    x = x.mean() + (x - x.mean()) * math.sqrt(n / (n - 1))
    out = np.empty(resamples)
    chunk = max(1, 2_000_000 // n)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        out[start:stop] = x[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return out


def _acceleration(a: Floats, b: Floats) -> float:
    """BCa's acceleration from the jackknife of mean(a) − mean(b), over both samples."""
    num = den = 0.0
    for sign, x in ((1.0, a), (-1.0, b)):  # θ falls as mean(b) rises: b's terms change sign
        leave_one_out = (x.sum() - x) / (len(x) - 1)
        u = sign * (leave_one_out.mean() - leave_one_out)
        num += float(np.sum(u**3))
        den += float(np.sum(u**2))
    return num / (6.0 * den**1.5) if den > 0 else 0.0


def bca_difference(
    a: Floats, b: Floats, *, confidence: float, resamples: int, rng: np.random.Generator
) -> tuple[float, float]:
    """BCa bootstrap interval of mean(a) − mean(b), the samples resampled independently.

    Efron's bias-corrected and accelerated percentile interval: bias from the share of
    resamples below the estimate, acceleration from the jackknife. Needs 2+ values per sample.
    """
    estimate = float(a.mean() - b.mean())
    boot = _boot_means(a, resamples, rng) - _boot_means(b, resamples, rng)
    if np.ptp(boot) == 0:
        return estimate, estimate
    below = (np.sum(boot < estimate) + 0.5 * np.sum(boot == estimate)) / resamples
    z0 = _NORMAL.inv_cdf(min(max(float(below), 0.5 / resamples), 1 - 0.5 / resamples))
    return _bca_levels(boot, z0, _acceleration(a, b), confidence)


def cluster_bca_difference(
    a: tuple[Floats, Floats],
    b: tuple[Floats, Floats],
    *,
    confidence: float,
    resamples: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """`bca_difference` resampling whole units: each arm is (reward sums, run counts) per unit.

    The runs of one unit (a user, a ticket) are correlated; resampling units, not runs, keeps
    that, so the interval is not too narrow. Mean = Σ sums / Σ counts over the units drawn;
    the acceleration from the leave-one-unit-out jackknife. Needs 2+ units per arm.
    """
    estimate = float(a[0].sum() / a[1].sum() - b[0].sum() / b[1].sum())
    boot = _boot_ratios(*a, resamples, rng) - _boot_ratios(*b, resamples, rng)
    if np.ptp(boot) == 0:
        return estimate, estimate
    below = (np.sum(boot < estimate) + 0.5 * np.sum(boot == estimate)) / resamples
    z0 = _NORMAL.inv_cdf(min(max(float(below), 0.5 / resamples), 1 - 0.5 / resamples))
    num = den = 0.0
    for sign, (sums, counts) in ((1.0, a), (-1.0, b)):
        leave_one_out = (sums.sum() - sums) / (counts.sum() - counts)
        u = sign * (leave_one_out.mean() - leave_one_out)
        num, den = num + float(np.sum(u**3)), den + float(np.sum(u**2))
    accel = num / (6.0 * den**1.5) if den > 0 else 0.0
    return _bca_levels(boot, z0, accel, confidence)


def _boot_ratios(sums: Floats, counts: Floats, resamples: int, rng: np.random.Generator) -> Floats:
    """`resamples` bootstrap means of runs drawn a unit at a time."""
    units = len(sums)
    out = np.empty(resamples)
    chunk = max(1, 2_000_000 // units)
    for start in range(0, resamples, chunk):
        stop = min(start + chunk, resamples)
        drawn = rng.integers(0, units, size=(stop - start, units))
        out[start:stop] = sums[drawn].sum(axis=1) / counts[drawn].sum(axis=1)
    # Widened by sqrt(J/(J-1)) around the estimate, as for runs: an unbiased spread.
    estimate = float(sums.sum() / counts.sum())
    widened: Floats = estimate + (out - estimate) * math.sqrt(units / (units - 1))
    return widened


def _bca_levels(boot: Floats, z0: float, accel: float, confidence: float) -> tuple[float, float]:
    """The BCa interval's ends: the bootstrap quantiles at the bias- and skew-adjusted levels."""
    tail = (1 - confidence) / 2
    levels = []
    for z in (_NORMAL.inv_cdf(tail), _NORMAL.inv_cdf(1 - tail)):
        levels.append(_NORMAL.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z))))
    low, high = np.quantile(boot, levels)
    return float(low), float(high)


def _wilson(successes: int, n: int, z: float) -> tuple[float, float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, *, confidence: float
) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) of p1 − p2, from two Wilson intervals."""
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = _wilson(x1, n1, z)
    l2, u2 = _wilson(x2, n2, z)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def two_proportion_p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of p1 = p2."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (x1 / n1 - x2 / n2) / se
    return 2 * (1 - _NORMAL.cdf(abs(z)))


def welch_difference(a: Floats, b: Floats, *, confidence: float) -> tuple[float, float]:
    """Normal-approximation interval of mean(a) − mean(b) with Welch's standard error."""
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    d = float(a.mean() - b.mean())
    se = math.sqrt(float(a.var(ddof=1)) / len(a) + float(b.var(ddof=1)) / len(b))
    return d - z * se, d + z * se


def confidence_sequence(
    rewards: Floats, control: npt.NDArray[np.bool_], holdout: Floats, *, confidence: float
) -> tuple[Floats, Floats]:
    """An always-valid interval of E[reward | memory] − E[reward | control] after each run.

    Runs in time order; `control[i]` its arm, `holdout[i]` the control share h_i it was
    drawn with. Each run gives the inverse-propensity contrast φ_i = (y_i − c_i)(m_i/(1−h_i)
    − k_i/h_i) (m_i, k_i: 1 in the memory, control arm), centred on c_i, the mean reward of
    the runs before it (known in advance, so E φ_i is the lift whatever c_i is). Their
    running mean gets the two-sided normal-mixture boundary of the asymptotic confidence
    sequence (Waudby-Smith et al., "Time-uniform central limit theory and asymptotic
    confidence sequences", 2024; Howard et al. 2021): with probability about `confidence`
    the lift is inside every interval at once, so it may be checked after every run.

    Returns:
        (centres, half-widths), one per run (the half-width is inf before two runs).
    """
    n = len(rewards)
    seen = np.concatenate([[0.0], np.cumsum(rewards)[:-1]])
    centring = np.where(np.arange(n) > 0, seen / np.maximum(np.arange(n), 1), 0.0)
    weight = np.where(control, -1.0 / holdout, 1.0 / (1.0 - holdout))
    phi = (rewards - centring) * weight
    t = np.arange(1, n + 1, dtype=float)
    mean = np.cumsum(phi) / t
    variance = np.maximum(np.cumsum(phi**2) / t - mean**2, 0.0) * t / np.maximum(t - 1, 1)
    alpha = 1 - confidence
    rho2 = (-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / CS_HORIZON
    spread = t * variance * rho2 + 1
    half = np.sqrt(2 * spread / (t**2 * rho2) * np.log(np.sqrt(spread) / alpha))
    return mean, np.where(t >= 2, half, np.inf)


def runs_for_power(
    sd_memory: float, sd_control: float, holdout: float, effect: float, *, confidence: float
) -> float | None:
    """Runs in all for 80% power to detect `effect` with a two-sided test at `confidence`.

    n = (z_{1−α/2} + z_{0.8})² (σ_m²/(1−h) + σ_c²/h) / effect²; None when `effect` is 0 or
    nothing varies.
    """
    variance = sd_memory**2 / (1 - holdout) + sd_control**2 / holdout
    if effect == 0 or variance == 0:
        return None
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2) + _NORMAL.inv_cdf(0.8)
    return z * z * variance / effect**2
