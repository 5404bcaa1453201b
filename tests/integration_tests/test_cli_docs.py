"""docs/inspect-and-repair.md runs: its python block, then every `rememberer` command it shows.

The commands run in-process (typer's runner) in a fresh directory, in page order. Each must
exit 0, or the code its `# exit N` comment gives; a ```text block right after a ```bash block
is the exact output of that block's last command. The demo's commands are a ```text block of
their own: they need the demo's memory.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

from typer.testing import CliRunner

from langchain_rememberer.cli import build_app
from langchain_rememberer.cli._console import EXIT_CODES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "inspect-and-repair.md"
POOL = Path(__file__).resolve().parents[1] / "fixtures" / "reference_pools" / "init_pool.q.yaml"
FENCE = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)
EXIT = re.compile(r"#\s*exit (\d+)\s*$")


def _blocks(text: str) -> list[tuple[str, str, bool]]:
    """(language, body, follows the previous block with nothing but blank lines between)."""
    found, end = [], None
    for match in FENCE.finditer(text):
        adjacent = end is not None and not text[end : match.start()].strip()
        found.append((match[1], match[2], adjacent))
        end = match.end()
    return found


def _commands(body: str) -> list[tuple[list[str], int]]:
    """The `rememberer` command lines of a bash block (continuations joined), with exit codes."""
    commands = []
    for line in body.replace("\\\n", " ").splitlines():
        if not line.strip():
            continue
        code = EXIT.search(line)
        words = shlex.split(line, comments=True)
        assert words[0] == "rememberer", line
        commands.append((words[1:], int(code[1]) if code else 0))
    return commands


def test_every_command_of_the_page_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(POOL, tmp_path / POOL.name)
    blocks = _blocks(PAGE.read_text(encoding="utf-8"))
    app, runner = build_app(with_bench=False), CliRunner()
    ran, compared, last = 0, 0, None
    for language, body, adjacent in blocks:
        if language == "python":
            exec(compile(body, PAGE.name, "exec"), {"__name__": "docs_cli"})
        elif language == "bash":
            for args, code in _commands(body):
                last = runner.invoke(app, args)
                assert last.exit_code == code, (args, last.output)
                ran += 1
        elif language == "text" and adjacent and last is not None:
            assert last.stdout.strip() == body.strip()
            compared += 1
        if language != "bash":
            last = None
    assert ran >= 20
    assert compared == 5  # namespaces, search, top --json, import again, namespaces after clear
    assert not (tmp_path / "no-such-directory").exists()
    assert (tmp_path / "docs.jsonl").is_file()


def test_the_page_gives_the_exit_code_table_of_the_help() -> None:
    text = PAGE.read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d) \| (.+) \|$", text, re.MULTILINE))
    assert sorted(table) == ["0", "1", "2", "3"]
    for code in table:
        assert f"{code} " in EXIT_CODES
    assert "storage error" in table["1"]
    assert "unknown path, namespace" in table["2"]
    assert "not confirmed" in table["3"]
