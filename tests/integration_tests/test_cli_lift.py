"""`rememberer lift` on a real embedded memory, in-process (typer's runner)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer.cli import MEMORY_COMMANDS, build_app
from langchain_rememberer.config import SpoolConfig

app = build_app(with_bench=False)
runner = CliRunner()


def experiment(path: Path, embeddings, runs: int = 80) -> RemembererMemory:
    """Runs whose reward is 1 more often with the memory; one task holds rich markup."""
    memory = RemembererMemory(
        path=path, embeddings=embeddings, holdout=0.3, spool=SpoolConfig(enabled=False)
    )
    for i in range(runs):
        arm = memory.arm_for(f"run-{i}")
        won = (i * 7) % 10 < (7 if arm == "memory" else 3)
        memory.learn(
            Episode(
                task=f"[red]ticket {i % 2}[/red]",
                steps=[Step(observation="inbox", action="route", reward=float(won))],
                run_id=f"run-{i}",
                arm=arm,
                holdout=0.3,
            )
        )
    return memory


def test_lift_prints_the_line_the_tables_and_json(tmp_path, embeddings) -> None:
    memory = experiment(tmp_path / "db", embeddings)
    report = memory.lift()
    result = runner.invoke(app, ["lift", "--path", str(tmp_path / "db")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == report.summary()
    assert report.summary().startswith("memory helped by +0.")
    assert "[red]ticket 0[/red]" in result.output  # stored text is never read as markup
    assert "always-valid" in result.output
    assert "one look" in result.output
    as_json = runner.invoke(app, ["lift", "--path", str(tmp_path / "db"), "--json"])
    data = json.loads(as_json.stdout)
    assert data["summary"] == report.summary()
    assert data["memory"]["runs"] + data["control"]["runs"] == 80
    assert [w["label"] for w in data["over_time"]] == [
        "runs 1-20",
        "runs 21-40",
        "runs 41-60",
        "runs 61-80",
    ]
    assert "lift" in MEMORY_COMMANDS  # needs no benchmark code
    help_text = " ".join(runner.invoke(app, ["lift", "--help"]).stdout.split())
    assert "Exit codes: 0 done; 1 storage error" in help_text


def test_lift_without_runs_is_a_usage_error(tmp_path, embeddings) -> None:
    RemembererMemory(path=tmp_path / "db", embeddings=embeddings).learn(
        Episode(task="t", steps=[Step(observation="o", action="a")])
    )
    result = runner.invoke(app, ["lift", "--path", str(tmp_path / "db")])
    assert result.exit_code == 2
    assert "carry no arm" in result.output
