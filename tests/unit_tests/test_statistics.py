from __future__ import annotations

import pytest

from langchain_rememberer.bench.direct import EpisodeResult
from langchain_rememberer.bench.statistics import (
    compare,
    mean_ci,
    paired_diff_ci,
    summarize,
    wilson_ci,
)


def test_wilson_ci_known_values() -> None:
    low, high = wilson_ci(5, 10)
    assert low == pytest.approx(0.2366, abs=1e-3)
    assert high == pytest.approx(0.7634, abs=1e-3)
    assert wilson_ci(0, 0) == (0.0, 1.0)
    assert wilson_ci(0, 20)[0] == 0.0


def test_mean_and_paired_intervals() -> None:
    mean, low, high = mean_ci([1.0, 0.0, 1.0, 0.0])
    assert mean == 0.5
    assert low < 0.5 < high
    assert mean_ci([0.3]) == (0.3, 0.3, 0.3)
    assert mean_ci([]) == (0.0, 0.0, 0.0)
    diff = paired_diff_ci([1, 1, 1, 0], [0, 1, 0, 0])
    assert diff[0] == 0.5


def test_paired_diff_needs_the_same_seeds() -> None:
    with pytest.raises(ValueError, match="shorter"):
        paired_diff_ci([1.0, 0.0], [1.0])


def test_summarize_and_compare() -> None:
    results = [EpisodeResult(seed=s, success=s % 2 == 0, score=float(s % 2 == 0), steps=3,
                             seconds=0.1, env_seconds=0.01) for s in range(4)]  # fmt: skip
    summary = summarize(results)
    assert summary["success"] == 0.5
    assert summary["per_seed_success"] == [1, 0, 1, 0]
    assert summary["mean_steps"] == 3
    assert summarize([])["success"] == 0.0
    methods = {
        "no_memory": {"epochs": [{"epoch": 1, "eval": {"per_seed_success": [0, 0, 1, 0]}}]},
        "rememberer": {"epochs": [{"epoch": 1, "eval": {"per_seed_success": [1, 0, 1, 1]}}]},
    }
    rows = compare(methods)["rememberer-vs-no_memory"]
    assert rows[0]["diff"] == 0.5
    assert compare(methods, baseline="tabular_q") == {}
