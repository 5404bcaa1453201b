"""The code of the docs site's own pages runs: each page's python blocks, in order, as one script.

Offline: in-memory memories with the default WordLlama embeddings, scripted chat models. The
many-workers page runs against a real `chroma run` server (the `chroma_server` fixture); the
test replaces the page's port with the server's, and nothing else. `bash` blocks are not run.
"""

from __future__ import annotations

import re

import pytest

from tests.integration_tests import test_docs as docs_pages

NEW_PAGES = [
    "index.md",
    "concepts.md",
    "many-workers.md",
    "tuning.md",
    "migrating.md",
    "reference.md",
    "changelog.md",
]
OFFLINE_PAGES = {"index.md": 2, "concepts.md": 3, "tuning.md": 5, "migrating.md": 5}
"""Pages run without a server, and how many python blocks each has at least."""
FENCE = re.compile(r"^```(\S*)$", re.MULTILINE)
SERVER_LINE = 'HOST, PORT = "127.0.0.1", 8000'


def _run(page: str, blocks: list[str]) -> dict:
    namespace: dict = {"__name__": f"site_{page}"}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{page}[block {index}]", "exec"), namespace)
    return namespace


def test_every_python_block_of_the_new_pages_is_run() -> None:
    with_code = {page for page in NEW_PAGES if docs_pages._blocks(page)}
    assert with_code == {*OFFLINE_PAGES, "many-workers.md"}


@pytest.mark.parametrize("page", NEW_PAGES)
def test_blocks_are_python_bash_or_text(page: str) -> None:
    text = (docs_pages.DOCS / page).read_text(encoding="utf-8")
    openings = FENCE.findall(text)[::2]  # every other fence closes a block
    assert set(openings) <= {"python", "bash", "text"}, openings


@pytest.mark.parametrize("page", sorted(OFFLINE_PAGES))
def test_offline_page_code_runs_in_order(page: str, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a page writes lands here
    blocks = docs_pages._blocks(page)
    assert len(blocks) >= OFFLINE_PAGES[page]
    namespace = _run(page, blocks)
    assert namespace["memory"].stats().updates > 0  # every page builds and teaches a memory


def test_many_workers_page_runs_on_a_real_server(chroma_server, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = docs_pages._blocks("many-workers.md")
    assert len(blocks) >= 6
    assert sum(block.count(SERVER_LINE) for block in blocks) == 1
    server_line = f'HOST, PORT = "{chroma_server.host}", {chroma_server.port}'
    page = [b.replace(SERVER_LINE, server_line) for b in blocks]
    namespace = _run("many-workers.md", page)
    # The page's writes went to the fixture's server, not to a memory of the test's own.
    collections = {c.name for c in chroma_server.client().list_collections()}
    assert any(namespace["NAMESPACE"] in name for name in collections), collections
    assert namespace["worker_b"].stats().updates == 1 + 12 + 1
    # A reader runs the page again on the same server: it works again, in a namespace of its own.
    again = _run("many-workers.md", page)
    assert again["NAMESPACE"] != namespace["NAMESPACE"]
    assert again["worker_b"].stats().updates == 1 + 12 + 1
