"""Shared fixtures: real Chroma (in-process), real offline embeddings."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from langchain_rememberer import RemembererMemory, RLEMConfig, WordLlamaEmbeddings


@pytest.fixture(autouse=True, scope="session")
def _spool_in_a_temporary_cache(tmp_path_factory) -> Iterator[None]:
    """Server memories spool under the user cache: keep the tests' spool out of the real one."""
    patch = pytest.MonkeyPatch()
    patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def embeddings() -> WordLlamaEmbeddings:
    return WordLlamaEmbeddings()


@pytest.fixture
def make_memory(embeddings: WordLlamaEmbeddings) -> Iterator:
    """Build in-memory memories on their own collections; every one is cleared afterwards.

    They keep every library default except γ, pinned to 1 (undiscounted) so the targets the
    tests compute stay readable sums; `tests/scenarios` use the untouched defaults.
    """
    made: list[tuple[RemembererMemory, set[str]]] = []

    def make(**kwargs) -> RemembererMemory:
        kwargs.setdefault("path", None)
        kwargs.setdefault("rlem", RLEMConfig(gamma=1.0))
        kwargs.setdefault("embeddings", embeddings)
        kwargs.setdefault("collection_name", f"t{uuid.uuid4().hex[:12]}")
        memory = RemembererMemory(**kwargs)
        made.append((memory, {memory.namespace}))
        return memory

    yield make
    for memory, _ in made:
        for collection in memory.store.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(memory.store.collection_name + "."):
                memory.store.client.delete_collection(name)


@pytest.fixture
def memory(make_memory) -> RemembererMemory:
    return make_memory()
