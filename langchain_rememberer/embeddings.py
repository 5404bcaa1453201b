"""The offline default embedding: WordLlama, whose weights ship inside its wheel.

Any LangChain `Embeddings` works with `RemembererMemory`; this one needs no key, no network and
no GPU, and embeds thousands of short texts per second on one core.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from langchain_rememberer.similarity import normalize

__all__ = ["WordLlamaEmbeddings"]

_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def _root_logging_untouched() -> Iterator[None]:
    """Undo any change made to the root logger's level and handlers inside the block.

    Importing `wordllama` calls `logging.basicConfig(level=logging.INFO)`, which would make an
    application that never configured logging print every INFO record to stderr. A library must
    not configure logging, so the handlers it added are removed (and closed) and the level put
    back. Handlers the application had before are left exactly as they were.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        yield
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
            handler.close()
        for handler in [h for h in handlers if h not in root.handlers]:
            root.addHandler(handler)
        root.setLevel(level)


@functools.lru_cache(maxsize=4)
def _load_wordllama(config: str, dim: int) -> Any:
    with _root_logging_untouched():
        import wordllama  # noqa: PLC0415 - heavy import, deferred until first use
        from wordllama import WordLlama  # noqa: PLC0415

    # The plain `load()` tries to download the tokenizer; the wheel ships everything we need.
    return WordLlama.load(
        config=config,
        dim=dim,
        cache_dir=Path(wordllama.__file__).parent,
        disable_download=True,
    )


class WordLlamaEmbeddings(BaseModel, Embeddings):
    """Offline, CPU-only embeddings from WordLlama, L2-normalised.

    Setup:
        Installing the package (from a clone: `pip install -e .`) installs `wordllama`
        and its bundled weights.

    Example:
        ```python
        from langchain_rememberer import WordLlamaEmbeddings

        embeddings = WordLlamaEmbeddings()
        vector = embeddings.embed_query("Find the coin in the kitchen.")
        assert len(vector) == 256
        ```
    """

    model_config = ConfigDict(frozen=True)

    config: str = "l2_supercat"
    """The WordLlama model bundled in the wheel."""
    dim: int = Field(default=256, ge=64)
    """Matryoshka dimension to use (64, 128, 256, 512 or 1024)."""
    batch_size: int = Field(default=64, ge=1)
    """Texts embedded per batch."""

    _model: Any = PrivateAttr(default=None)

    def _wordllama(self) -> Any:
        if self._model is None:
            with _LOAD_LOCK:
                object.__setattr__(self, "_model", _load_wordllama(self.config, self.dim))
        return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; empty strings get a zero vector."""
        if not texts:
            return []
        vectors = self._wordllama().embed(
            list(texts), norm=False, return_np=True, batch_size=self.batch_size
        )
        result: list[list[float]] = normalize(vectors).tolist()
        return result

    def embed_query(self, text: str) -> list[float]:
        """Embed one text."""
        return self.embed_documents([text])[0]
