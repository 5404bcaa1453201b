"""The benchmark's statistics: 95% intervals, per-phase summaries, paired comparisons."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any

from langchain_rememberer.bench.direct import EpisodeResult

__all__ = ["compare", "mean_ci", "paired_diff_ci", "summarize", "wilson_ci"]


def wilson_ci(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], z: float = 1.96) -> tuple[float, float, float]:
    """Mean and normal-approximation 95% interval over seeds."""
    if not values:
        return (0.0, 0.0, 0.0)
    mean = statistics.fmean(values)
    half = z * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return (mean, mean - half, mean + half)


def paired_diff_ci(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """Mean of a - b over the same seeds, with a 95% interval."""
    return mean_ci([x - y for x, y in zip(a, b, strict=True)])


def summarize(results: Sequence[EpisodeResult]) -> dict[str, Any]:
    """Success rate and mean score with 95% intervals."""
    wins = sum(r.success for r in results)
    score = mean_ci([r.score for r in results])
    return {
        "n": len(results),
        "success": wins / len(results) if results else 0.0,
        "success_ci": list(wilson_ci(wins, len(results))),
        "score": score[0],
        "score_ci": [score[1], score[2]],
        "mean_steps": statistics.fmean(r.steps for r in results) if results else 0.0,
        "per_seed_success": [int(r.success) for r in results],
        "per_seed_score": [r.score for r in results],
    }


def compare(methods: dict[str, Any], baseline: str = "no_memory") -> dict[str, Any]:
    """Paired differences in eval success against `baseline`, per epoch (95% intervals)."""
    if baseline not in methods:
        return {}
    out: dict[str, Any] = {}
    base = methods[baseline]["epochs"]
    for name, data in methods.items():
        if name == baseline:
            continue
        rows = []
        for mine, theirs in zip(data["epochs"], base, strict=True):
            diff = paired_diff_ci(
                mine["eval"]["per_seed_success"], theirs["eval"]["per_seed_success"]
            )
            rows.append({"epoch": mine["epoch"], "diff": diff[0], "ci": [diff[1], diff[2]]})
        out[f"{name}-vs-{baseline}"] = rows
    return out
