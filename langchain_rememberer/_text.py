"""Text helpers used everywhere: one whitespace normaliser, one escaper, one cut."""

from __future__ import annotations

import html

__all__ = ["cut", "escape_text", "normalize_whitespace"]


def normalize_whitespace(text: str) -> str:
    """Collapse runs of whitespace to single spaces and strip the ends."""
    return " ".join(text.split())


def cut(text: str, limit: int, *, marker: str = "...") -> str:
    """`text` cut to at most `limit` characters, ending in `marker` when it was cut."""
    if len(text) <= limit:
        return text
    return text[: max(limit - len(marker), 0)] + marker


def escape_text(text: str, limit: int | None = None) -> str:
    """Cut stored text to `limit` characters (if given) and escape it so it cannot form tags."""
    if limit is not None:
        text = cut(text, limit)
    return html.escape(text, quote=False)
