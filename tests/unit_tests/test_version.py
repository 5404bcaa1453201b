"""The release is written once (`__version__`), and the wheel, the docs and the changelog agree."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import pytest

import langchain_rememberer
from langchain_rememberer import __version__

ROOT = Path(__file__).resolve().parents[2]


def test_the_version_is_a_release_written_once() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__), __version__
    assert __version__ != "0.0.0"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    project = pyproject.split("[project]", 1)[1].split("\n[", 1)[0]
    assert not re.search(r"^version\s*=", project, re.MULTILINE)  # not a second copy
    assert re.search(r'^dynamic = \["version"\]', project, re.MULTILINE)
    hatch = pyproject.split("[tool.hatch.version]", 1)[1].split("\n[", 1)[0]
    assert 'path = "langchain_rememberer/__init__.py"' in hatch
    init = (ROOT / "langchain_rememberer" / "__init__.py").read_text(encoding="utf-8")
    assert re.findall(r'^__version__ = "(.+)"$', init, re.MULTILINE) == [__version__]


def test_the_docs_install_this_release() -> None:
    wheel = f"langchain_rememberer-{__version__}-py3-none-any.whl"
    for page in ("README.md", "docs/index.md"):
        text = (ROOT / page).read_text(encoding="utf-8")
        assert wheel in text, page
        named = set(re.findall(r"langchain_rememberer-([\d.]+)-py3", text))
        assert named == {__version__}, (page, named)  # no other release named
    changelog = (ROOT / "docs" / "changelog.md").read_text(encoding="utf-8")
    newest = re.findall(r"^## (.+)$", changelog, re.MULTILINE)[0]
    assert newest.startswith(__version__), newest


def test_the_installed_metadata_has_this_version() -> None:
    dist = importlib.metadata.distribution("langchain-rememberer")
    origin = json.loads(dist.read_text("direct_url.json") or "{}")  # how pip installed it
    here = Path(langchain_rememberer.__file__).resolve().parents[1].as_uri()
    if "dir_info" in origin and origin["url"] != here:  # `pip install -e` of another tree
        pytest.skip(f"the installed langchain-rememberer is another source tree ({origin['url']})")
    assert dist.version == __version__, "reinstall: pip install -e ."
