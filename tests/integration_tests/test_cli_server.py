"""The memory commands on a real `chroma run` server (`--url`), and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from langchain_rememberer import RemembererMemory
from langchain_rememberer.config import SpoolConfig
from tests.integration_tests.test_cli_memory import (
    KITCHEN,
    TASK,
    data,
    learn_docs,
    make,
    namespaces,
    run,
)


def test_the_commands_on_a_chroma_run_server(chroma_server, embeddings, tmp_path) -> None:
    prefix = f"cli{uuid.uuid4().hex[:8]}"
    memory = RemembererMemory.from_server(
        chroma_server.host, chroma_server.port, namespace="docs", collection_name=prefix,
        embeddings=embeddings, spool=SpoolConfig(enabled=False),
    )  # fmt: skip
    learn_docs(memory)
    url = f"http://{chroma_server.host}:{chroma_server.port}"
    on = ("--url", url, "--collection-name", prefix)
    assert namespaces(*on) == ["docs"]
    stats = data("stats", *on)
    assert (stats["states"], stats["updates"], stats["pending"]) == (3, 4, 0)
    assert (stats["size_on_disk_bytes"], stats["path"], stats["url"]) == (None, None, url)
    assert "n/a (a server)" in run("stats", *on).stdout
    block = run("search", TASK, KITCHEN, *on).stdout
    assert block == memory.format_exemplars(TASK, KITCHEN) + "\n"
    kitchen = data("search", TASK, KITCHEN, *on, "-k", "1")["states"][0]["id"]
    assert data("show", kitchen, *on)["runs"] == ["run-1", "run-2"]
    unknown = run("top", *on, "--namespace", "nope", code=2).stderr
    assert "no namespace 'nope' at " + url in unknown
    dump = tmp_path / "docs.jsonl"
    run("export", dump, *on)
    assert "4 new updates" in run("import", dump, *on, "--namespace", "copy").stdout
    assert namespaces(*on) == ["copy", "docs"]
    assert "forgot run run-1" in run("forget", "--run", "run-1", *on, "-n", "copy").stdout
    assert data("stats", *on, "-n", "copy")["updates"] == 2
    run("clear", *on, "--namespace", "copy", stdin="n\n", code=3)
    run("clear", *on, "--namespace", "copy", "--yes")
    assert namespaces(*on) == ["docs"]
    assert memory.stats().updates == 4  # the other namespace is untouched


def _rememberer() -> Path:
    """The installed entry point (`[project.scripts]`), beside this interpreter."""
    script = Path(sys.executable).with_name("rememberer")
    assert script.is_file(), f"install the package (pip install -e '.[test]'): no {script}"
    return script


def _call(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, input=stdin, timeout=120,
        check=False,
    )  # fmt: skip


def test_the_installed_command_as_a_subprocess(tmp_path, embeddings) -> None:
    db = tmp_path / "db"
    learn_docs(make(db, embeddings))
    rememberer = _rememberer()
    stats = _call(rememberer, "stats", "--path", db, "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["states"] == 3
    missing = _call(rememberer, "top", "--path", tmp_path / "typo")
    assert (missing.returncode, missing.stdout) == (2, "")
    assert "no memory at" in missing.stderr
    assert not (tmp_path / "typo").exists()
    assert _call(rememberer, "stats", "--no-such-option").returncode == 2  # typer's usage error
    declined = _call(rememberer, "clear", "--path", db, "-n", "docs")  # no answer on stdin
    assert declined.returncode == 3
    as_module = _call(sys.executable, "-m", "langchain_rememberer.cli", "namespaces", "--path", db)
    assert (as_module.returncode, as_module.stdout) == (0, "docs\n")
