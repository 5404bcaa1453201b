"""The docs site builds with `mkdocs build --strict` (as CI does), offline, and has its pages."""

from __future__ import annotations

import html
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import langchain_rememberer
from langchain_rememberer import RemembererMemory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def _text(page: Path) -> str:
    """The page's HTML with tags removed and entities decoded, whitespace collapsed."""
    raw = page.read_text(encoding="utf-8")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())


def test_quickstart_is_the_home_page(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert re.search(r'<h1 id="quickstart">\s*Quickstart', home)
    assert 'pip install -e ".[bench]"' in _text(site / "index.html")  # from the repository


def test_the_tutorial_is_a_page_with_its_heading(site: Path) -> None:
    source = (ROOT / "docs" / "add-memory-to-an-existing-agent.md").read_text(encoding="utf-8")
    title = next(line[2:].strip() for line in source.splitlines() if line.startswith("# "))
    page = site / "add-memory-to-an-existing-agent" / "index.html"
    assert page.is_file()
    assert re.search(rf"<h1[^>]*>\s*{re.escape(html.escape(title, quote=False))}", page.read_text())


def test_the_api_reference_renders_the_docstrings(site: Path) -> None:
    page = site / "reference" / "index.html"
    raw = page.read_text(encoding="utf-8")
    assert 'id="langchain_rememberer.RemembererMemory"' in raw
    first_sentence = inspect.getdoc(RemembererMemory).splitlines()[0]
    assert first_sentence.startswith("A long-term experience memory")
    assert first_sentence in _text(page)
    missing = [
        n for n in langchain_rememberer.__all__ if f'id="langchain_rememberer.{n}"' not in raw
    ]
    assert missing == [], f"add `::: langchain_rememberer.NAME` to docs/reference.md: {missing}"


def test_the_api_reference_leads_with_what_users_call(site: Path) -> None:
    raw = (site / "reference" / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'id="langchain_rememberer\.([\w.]+)"', raw)
    members = [i.split(".", 1)[1] for i in ids if i.startswith("RemembererMemory.")]
    internals = ["store", "encoder", "ledger", "capacity", "evict_if_due"]
    assert members[:3] == ["from_server", "retrieve", "aretrieve"]
    assert members[-len(internals) :] == internals  # last, under Internals
    assert raw.index('id="internals"') < raw.index(
        'id="langchain_rememberer.RemembererMemory.ledger"'
    )
    # The page lists the members by hand: every public one of the class must be on it.
    public = {n for n in dir(RemembererMemory) if not n.startswith("_")}
    assert public - set(members) == set(), "add it to RemembererMemory's members in reference.md"


def test_code_stays_inside_the_text_column(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert 'href="stylesheets/extra.css"' in home
    css = (site / "stylesheets" / "extra.css").read_text(encoding="utf-8")
    assert ".md-typeset pre > code {\n  overflow-x: auto;" in css
    assert "overflow-wrap: anywhere" in css


def test_every_page_of_the_nav_is_built(site: Path) -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = re.findall(r":\s*([\w-]+)\.md\s*$", config, flags=re.MULTILINE)
    assert len(pages) >= 14
    for page in pages:
        built = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.is_file(), page


def test_the_site_loads_nothing_from_the_network(site: Path) -> None:
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "fonts.googleapis.com" not in home
    assert "fonts.gstatic.com" not in home
