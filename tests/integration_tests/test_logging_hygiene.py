"""The library never configures logging: importing it and embedding with WordLlama (whose import
calls `logging.basicConfig(level=logging.INFO)`) leaves the root logger exactly as it was."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import langchain_rememberer

PACKAGE = Path(langchain_rememberer.__file__).parent

_STATE = """
import json, logging, sys
root = logging.getLogger()
def state():
    return {"level": root.level, "handlers": [repr(h) for h in root.handlers],
            "ids": [id(h) for h in root.handlers]}
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    source = textwrap.dedent(_STATE) + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", source], capture_output=True, text=True, timeout=120, check=True
    )


def test_import_and_embed_leave_an_unconfigured_root_logger_alone() -> None:
    out = _run("""
        before = state()
        import langchain_rememberer
        from langchain_rememberer import WordLlamaEmbeddings
        vector = WordLlamaEmbeddings().embed_query("Find the coin in the kitchen.")
        print(json.dumps({"before": before, "after": state(), "dim": len(vector),
                          "wordllama_imported": "wordllama" in sys.modules}))
    """)
    result = json.loads(out.stdout)
    assert result["wordllama_imported"]  # the import that calls basicConfig really happened
    assert result["dim"] == 256
    assert result["before"] == {"level": 30, "handlers": [], "ids": []}
    assert result["after"] == result["before"]


def test_an_application_s_own_logging_configuration_is_kept() -> None:
    out = _run("""
        logging.basicConfig(level=logging.DEBUG, format="APP %(message)s")
        before = state()
        from langchain_rememberer import WordLlamaEmbeddings
        WordLlamaEmbeddings().embed_query("hello")
        print(json.dumps({"before": before, "after": state()}))
    """)
    result = json.loads(out.stdout)
    assert result["before"]["level"] == 10
    assert len(result["before"]["handlers"]) == 1
    assert result["after"] == result["before"]


def test_info_records_of_other_libraries_are_not_printed_after_import() -> None:
    out = _run("""
        from langchain_rememberer import WordLlamaEmbeddings
        WordLlamaEmbeddings().embed_query("hello")
        logging.getLogger("httpx").info("INFO-MARKER from httpx")
        logging.getLogger("langchain_rememberer").info("INFO-MARKER from us")
        logging.getLogger("httpx").warning("WARNING-MARKER")
    """)
    assert "INFO-MARKER" not in out.stderr
    # Python's last-resort handler still prints warnings: the capture itself works.
    assert "WARNING-MARKER" in out.stderr


def _basic_config_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (
            (isinstance(node.func, ast.Attribute) and node.func.attr == "basicConfig")
            or (isinstance(node.func, ast.Name) and node.func.id == "basicConfig")
        )
    ]


def test_the_library_never_calls_basic_config() -> None:
    """Only the CLI, run as a program, may configure logging (for itself)."""
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 20
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sources
        if path.parent.name != "cli" and (lines := _basic_config_calls(path))
    }
    assert found == {}


def test_the_checker_sees_a_basic_config_call(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import logging\n\nlogging.basicConfig(level=logging.INFO)\n")
    assert _basic_config_calls(sample) == [3]
