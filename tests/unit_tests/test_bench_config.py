from __future__ import annotations

import pytest

from langchain_rememberer.bench.config import METHODS, BenchConfig


def test_default_config_runs_every_method() -> None:
    assert BenchConfig().methods == tuple(METHODS)
    assert "tabular_q" in METHODS


def test_bench_config_rejects_nan_rates() -> None:
    with pytest.raises(ValueError, match="gamma=nan"):
        BenchConfig(gamma=float("nan"))


def test_bench_config_names_every_bad_setting() -> None:
    with pytest.raises(ValueError, match=r"max_steps=0 .*; train_epsilon=1\.5") as caught:
        BenchConfig(max_steps=0, train_epsilon=1.5)
    assert "gamma" not in str(caught.value)
