"""Issue 26 E, F: stored text reaches the terminal escaped, and odd arguments are clear errors.

Terminal escape sequences (OSC title, clear screen, C1 CSI), bidirectional overrides and
newlines stored in an action, task or observation are printed as visible escapes by `top`,
`show` and `search`; their JSON decodes back to the text as stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from langchain_rememberer import Episode, RemembererMemory, Step
from langchain_rememberer.cli import build_app
from langchain_rememberer.config import SpoolConfig

app = build_app(with_bench=False)
runner = CliRunner()

TASK = "Find the coin \x1b]0;pwned\x07 now."
HALL = "The hall.\x1b[2J\x1b[H Exits: east."
EVIL = "go east\x1b[1A\x9b31m\u202e 9.999 \n| 5"
RAW = ("\x1b", "\x9b", "\u202e", "\x07")


def _memory(path: Path, embeddings) -> RemembererMemory:
    return RemembererMemory(
        path=path, namespace="docs", embeddings=embeddings, spool=SpoolConfig(enabled=False)
    )


@pytest.fixture
def db(tmp_path, embeddings) -> Path:
    path = tmp_path / "db"
    _memory(path, embeddings).learn(
        Episode(
            task=TASK,
            run_id="run-\x1b[31mred",
            steps=[Step(observation=HALL, action=EVIL, reward=1.0)],
        )
    )
    return path


def _run(*args: str | Path, code: int = 0) -> str:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, (result.exit_code, result.output)
    return result.output


def test_top_show_search_print_no_raw_escape(db: Path) -> None:
    top = _run("top", "--path", db, "-n", "docs")
    state_id = json.loads(_run("top", "--path", db, "-n", "docs", "--json"))["best"][0]["state_id"]
    show = _run("show", state_id, "--path", db, "-n", "docs")
    search = _run("search", TASK, HALL, "--path", db, "-n", "docs")
    for out in (top, show, search):
        assert not any(c in out for c in RAW), out
    assert "\\x1b]0;pwned\\x07" in " ".join(show.split())
    assert "\\u202e" in " ".join(show.split())
    # The action's newline cannot start a line of its own (forging a row or a value).
    assert not any(line.lstrip().startswith("| 5") for line in show.splitlines())


def test_json_is_escaped_and_decodes_to_what_was_stored(db: Path) -> None:
    text = _run("top", "--path", db, "-n", "docs", "--json")
    assert not any(c in text for c in RAW)
    best = json.loads(text)["best"][0]
    assert best["task"] == TASK
    assert best["action"] == EVIL


def test_show_with_an_undecodable_argument_is_a_clear_error(db: Path) -> None:
    out = _run("show", "ab\udcffcd", "--path", db, "-n", "docs", code=2)
    assert "Traceback" not in out
    assert "error:" in out


def test_the_script_refuses_an_undecodable_argument_before_anything(tmp_path) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from langchain_rememberer.cli import main; "
        "sys.argv = ['rememberer', 'show', 'ab\\udcffcd', '--path', sys.argv[1]]; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "db")], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "is not valid text" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "db").exists()  # nothing was created
