"""Namespace A never reads or changes namespace B, on every path (real persistent Chroma)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from langchain_rememberer import Episode, FeedbackError, RemembererMemory, Step
from langchain_rememberer.cli import app

A_TASK, B_TASK = "Book a meeting room.", "Book a meeting room for the board."


def _episode(task: str, run_id: str, room: str) -> Episode:
    return Episode(
        task=task,
        run_id=run_id,
        steps=[Step(observation=f"Rooms free: {room}", action=f"book({room})", reward=1.0)],
    )


def _snapshot(memory: RemembererMemory, namespace: str, tmp: Path) -> tuple:
    path = tmp / f"snapshot-{namespace}.jsonl"
    memory.export_jsonl(path, namespace=namespace)
    log = sorted(path.read_text(encoding="utf-8").splitlines()[1:])
    return log, memory.stats(namespace=namespace), memory.pending_runs(namespace=namespace)


@pytest.fixture
def tenants(tmp_path, embeddings) -> RemembererMemory:
    memory = RemembererMemory(path=tmp_path / "db", embeddings=embeddings, namespace="team-a")
    memory.learn(_episode(A_TASK, "a-1", "Oak"))
    memory.learn(_episode(B_TASK, "b-1", "Elm"), namespace="team-b")
    memory.save_pending(_episode(B_TASK, "b-pending", "Ash"), namespace="team-b")
    return memory


def _b_untouched_by(tenants: RemembererMemory, tmp_path: Path, operation) -> None:
    before = _snapshot(tenants, "team-b", tmp_path)
    operation()
    assert _snapshot(tenants, "team-b", tmp_path) == before


def test_retrieve_in_a_sees_only_a(tenants) -> None:
    states = tenants.retrieve(B_TASK, "Rooms free: Elm", k=10)  # B's exact situation
    assert {s.task for s in states} == {A_TASK}
    assert "Elm" not in tenants.format_exemplars(B_TASK, "Rooms free: Elm")


def test_learn_in_a_leaves_b(tenants, tmp_path) -> None:
    assert not tenants.is_learned("b-1")  # B's run is not A's
    _b_untouched_by(tenants, tmp_path, lambda: tenants.learn(_episode(B_TASK, "b-1", "Elm")))
    assert tenants.is_learned("b-1")  # the same run id in A is A's own run
    assert tenants.stats().updates == 2


def test_export_of_a_holds_only_a(tenants, tmp_path) -> None:
    tenants.export_jsonl(tmp_path / "a.jsonl")
    text = (tmp_path / "a.jsonl").read_text(encoding="utf-8")
    assert "a-1" in text
    assert "b-1" not in text
    assert "Elm" not in text


def test_import_into_a_leaves_b(tenants, tmp_path) -> None:
    tenants.export_jsonl(tmp_path / "b.jsonl", namespace="team-b")
    _b_untouched_by(tenants, tmp_path, lambda: tenants.import_jsonl(tmp_path / "b.jsonl"))
    assert tenants.is_learned("b-1")  # now copied into A, on purpose


def test_stats_count_one_namespace(tenants) -> None:
    a, b = tenants.stats(), tenants.stats(namespace="team-b")
    assert (a.namespace, a.states, a.updates, a.pending) == ("team-a", 1, 1, 0)
    assert (b.namespace, b.states, b.updates, b.pending) == ("team-b", 1, 1, 1)


def test_forget_and_clear_in_a_leave_b(tenants, tmp_path) -> None:
    _b_untouched_by(tenants, tmp_path, lambda: tenants.forget_run("b-1"))
    _b_untouched_by(tenants, tmp_path, lambda: tenants.forget_run("b-pending"))
    _b_untouched_by(tenants, tmp_path, tenants.rebuild)
    _b_untouched_by(tenants, tmp_path, tenants.clear)
    assert tenants.stats().updates == 0


def test_pending_runs_belong_to_their_namespace(tenants) -> None:
    assert tenants.pending_runs() == []
    with pytest.raises(FeedbackError, match="not pending"):
        tenants.learn_pending("b-pending", 1.0)  # B's pending run, from A
    assert tenants.pending_runs(namespace="team-b") == ["b-pending"]


def test_cli_reads_only_the_namespace_asked(tenants, tmp_path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "db")
    stats = runner.invoke(app, ["stats", "--path", db, "--namespace", "team-a", "--json"])
    assert stats.exit_code == 0, stats.output
    assert "team-a" in stats.output
    assert "team-b" not in stats.output
    shown = runner.invoke(
        app, ["search", B_TASK, "Elm", "--path", db, "--namespace", "team-a", "--states"]
    )
    assert shown.exit_code == 0, shown.output
    assert "Oak" in shown.output
    assert "Elm" not in shown.output
