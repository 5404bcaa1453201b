"""Smoke tests: `rememberer demo` and `rememberer bench` on a tiny budget (real JVM, agent)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer.cli import app
from langchain_rememberer.cli import bench as bench_cli
from langchain_rememberer.cli._runs import demo_command

# `demo` and `bench` need the `bench` extra (part of `test`) and a Java runtime; without one the
# env raises EnvUnavailableError saying how to install it, and these tests fail rather than skip.

runner = CliRunner()
DEMO_PAGE = Path(__file__).resolve().parents[2] / "docs" / "demo-and-benchmark.md"


def _summary_in_the_docs() -> str:
    """The `summary.md` pasted in docs/demo-and-benchmark.md (the ```text block after the mark)."""
    text = DEMO_PAGE.read_text(encoding="utf-8")
    after = text.split("<!-- summary.md of `rememberer demo`", 1)[1]
    return after.split("```text\n", 1)[1].split("```", 1)[0]


def _shape(summary: str) -> list[str]:
    """A summary's lines with its numbers and dates blanked: what the writer decides."""
    return [re.sub(r"\d+", "N", line) for line in summary.splitlines()]


def test_demo_writes_results_summary_plot_and_memory(tmp_path: Path) -> None:
    path = tmp_path / "demo"
    args = ["demo", "--out", str(path), "--epochs", "1", "--train-seeds", "2", "--test-seeds", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"rememberer search --path {path / 'chroma'} " in result.output
    data = json.loads((path / "results.json").read_text())
    assert set(data["methods"]) == {"no_memory", "rememberer"}
    assert data["config"]["harness"] == "agent"
    assert (path / "learning_curve.png").stat().st_size > 1000
    summary = (path / "summary.md").read_text()
    command = f"rememberer demo --out {path} --epochs 1 --train-seeds 2 --test-seeds 2 --seed 0"
    assert f"Command: `{command}`" in summary
    assert "| method | held-out, epoch 1 | recurring |" in summary
    success = data["methods"]["rememberer"]["epochs"][0]["eval"]["success"]
    assert f"| rememberer | {success:.2f} [" in summary
    # The docs show a default run's summary.md as written: its command is the default one, and
    # every line has the shape this writer gives it (header: one column per epoch, 3 there).
    docs = _summary_in_the_docs()
    assert docs.splitlines()[0] == f"Command: `{demo_command()}`"
    one_epoch = [line for line in _shape(summary) if not line.startswith(("Command", "|"))]
    assert [line for line in _shape(docs) if not line.startswith(("Command", "|"))] == one_epoch
    rows = [
        line for line in _shape(docs) if line.startswith("| no_memory") or "| rememberer" in line
    ]
    assert rows == ["| no_memory" + " | N.N [N.N, N.N]" * 4 + " |",
                    "| rememberer" + " | N.N [N.N, N.N]" * 4 + " |"]  # fmt: skip
    assert (
        "| method | held-out, epoch 1 | held-out, epoch 2 | held-out, epoch 3 | recurring |" in docs
    )
    # The demo writes one namespace, "rememberer": the memory commands take it by default.
    only = runner.invoke(app, ["stats", "--path", str(path / "chroma"), "--json"])
    assert only.exit_code == 0, only.output
    assert json.loads(only.stdout)["namespace"] == "rememberer"
    assert json.loads(only.stdout)["states"] > 0
    assert json.loads(only.stdout)["updates"] > 0  # the middleware learned the train episodes
    hint = next(line for line in result.output.splitlines() if "rememberer search" in line)
    search = runner.invoke(app, [*shlex.split(hint)[1:], "--json"])  # the command printed
    assert search.exit_code == 0, search.output
    # The memory recorded the settings the demo's agent retrieved with: search uses them.
    used = json.loads(search.stdout)["settings"]
    config = data["config"]
    assert used == {
        "observation_key": config["observation_key"],
        "action_history": config["action_history"],
        "k": config["k"],
        "min_similarity": config["min_similarity"],
        "min_task_similarity": 0.4,
    }


def test_demo_stopped_by_ctrl_c_says_what_was_kept(tmp_path: Path, monkeypatch) -> None:
    def learn_one_then_stop(config, report, model=None):
        memory = RemembererMemory(path=config.memory_path, namespace="rememberer")
        memory.learn(Episode(task="t", steps=[Step(observation="o", action="a", reward=1.0)]))
        raise KeyboardInterrupt

    monkeypatch.setattr(bench_cli, "run_bench", learn_one_then_stop)
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 130, result.output
    text = " ".join(result.output.split())
    assert f"interrupted: no results written to {tmp_path / 'demo'}" in text
    assert "namespace rememberer: 1 states, 1 updates" in text
    assert not (tmp_path / "demo" / "results.json").exists()


def test_bench_compares_every_method_reproducibly(tmp_path: Path) -> None:
    args = [
        "bench", "--env", "twx:coin", "--game-params", "numLocations=4,includeDoors=0",
        "--max-steps", "8", "--epochs", "2", "--train-seeds", "2", "--test-seeds", "3",
        "--seed", "1",
    ]  # fmt: skip
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    data = json.loads((tmp_path / "a" / "results.json").read_text())
    assert set(data["methods"]) == {
        "no_memory", "rememberer", "library_defaults", "rememberer_n1",
        "rememberer_no_discouraged", "tabular_q",
    }  # fmt: skip
    for method in data["methods"].values():
        assert [e["epoch"] for e in method["epochs"]] == [1, 2]
        assert method["epochs"][0]["eval"]["n"] == 3
        assert 0.0 <= method["recurring"]["success"] <= 1.0
        assert method["timing"]["env_ms_per_step"] > 0
    assert len(data["comparisons"]["rememberer-vs-no_memory"]) == 2
    assert (tmp_path / "a" / "learning_curve.png").exists()
    only = ["--methods", "no_memory,tabular_q", "--out", str(tmp_path / "b")]
    again = runner.invoke(app, [*args, *only])
    assert again.exit_code == 0, again.output
    rerun = json.loads((tmp_path / "b" / "results.json").read_text())
    for name in ("no_memory", "tabular_q"):
        assert rerun["methods"][name]["epochs"] == data["methods"][name]["epochs"]


def test_bench_rejects_bad_game_params(tmp_path: Path) -> None:
    args = ["bench", "--game-params", "numLocations:6", "--out", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "key=integer" in result.output


def test_harness_overhead_benchmark_smoke() -> None:
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "harness_overhead.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke"], capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "agent/rememberer" in done.stdout


def test_bench_names_every_bad_choice(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "bench",
            "--methods",
            "foo,rememberer",
            "--observation-key",
            "bogus",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 2
    assert "--methods ['foo']" in result.output
    assert "--observation-key 'bogus'" in result.output
    assert not (tmp_path / "results.json").exists()


def test_stats_of_a_missing_memory_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    result = runner.invoke(app, ["stats", "--path", str(missing)])
    assert result.exit_code == 2
    assert "no memory at" in result.output
    assert not missing.exists()


def test_a_bad_output_path_fails_before_the_run(tmp_path: Path) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a directory")
    bench = runner.invoke(app, ["bench", "--methods", "no_memory", "--out", str(taken)])
    assert bench.exit_code == 2
    assert "--out" in bench.output
    assert "cannot write there" in bench.output
    assert "episodes" not in bench.output  # nothing ran
    demo = runner.invoke(app, ["demo", "--out", str(taken / "below")])
    assert demo.exit_code == 2
    assert "--out" in demo.output


def test_demo_path_of_0_1_is_a_usage_error(tmp_path: Path) -> None:
    # `demo --path DIR` is now `demo --out DIR`; `--path` is always a memory.
    demo = runner.invoke(app, ["demo", "--path", str(tmp_path / "o")])
    assert demo.exit_code == 2
    assert "No such option: --path" in demo.output
    assert not (tmp_path / "o").exists()


def test_bench_rejects_out_of_range_settings(tmp_path: Path) -> None:
    args = ["bench", "--train-seeds", "1001", "--max-steps", "0", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "train_seeds=1001" in result.output
    assert "max_steps=0" in result.output
    assert not (tmp_path / "o").exists()


def test_an_unknown_model_provider_is_a_clear_error(tmp_path: Path) -> None:
    args = ["bench", "--model", "nosuch:model", "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "cannot create the chat model 'nosuch:model'" in result.output


def test_search_with_a_bad_k_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "demo"
    args = ["demo", "--out", str(path), "--epochs", "1", "--train-seeds", "1", "--test-seeds", "1"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    search = runner.invoke(app, ["search", "t", "--path", str(path / "chroma"), "-k", "0"])
    assert search.exit_code == 2
    assert "k must be a whole number from 1" in search.stderr


def test_other_games_use_their_own_default_parameters(tmp_path: Path) -> None:
    args = [
        "bench", "--env", "twx:sorting", "--methods", "no_memory", "--epochs", "1",
        "--train-seeds", "1", "--test-seeds", "1", "--max-steps", "3", "--out", str(tmp_path),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["config"]["game_params"] == ""
    assert data["methods"]["no_memory"]["epochs"][0]["eval"]["n"] == 1


def test_demo_with_a_holdout_ends_with_the_lift_line(tmp_path: Path) -> None:
    path = tmp_path / "demo"
    args = ["demo", "--out", str(path), "--epochs", "2", "--train-seeds", "3", "--test-seeds", "0"]
    result = runner.invoke(app, [*args, "--holdout", "0.5"])
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if x.startswith("Lift over the training"))
    chroma = str(path / "chroma")
    lift = runner.invoke(app, ["lift", "--path", chroma, "--namespace", "rememberer", "--json"])
    assert lift.exit_code == 0, lift.output
    data = json.loads(lift.stdout)
    assert line == f"Lift over the training runs: {data['summary']}"
    assert data["runs"] == 6  # every training run of the memory agent, in one arm or the other
    assert data["control"]["runs"] > 0
    assert data["memory"]["runs"] > 0
    assert json.loads((path / "results.json").read_text())["config"]["holdout"] == 0.5
