"""Text helpers used everywhere: one whitespace normaliser, one cut, the two escapers.

`escape_shown` for text a model reads and may copy (blocks); `escape_text` for text only read
(the judge's prompt).
"""

from __future__ import annotations

import html
import re

__all__ = ["cut", "escape_shown", "escape_text", "normalize_whitespace"]


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


_ENTITY = re.compile(r"&(?=#?\w+;)")


def escape_shown(text: str, limit: int | None = None) -> str:
    """Stored text cut to `limit` and escaped so it cannot form a tag, and otherwise verbatim.

    Only `<` is written as `&lt;` (and `&` where it would read as an entity, so `&lt;` in
    stored text stays literal): a model copies an action as the block shows it, and `&gt;` or
    `&amp;` in a copied `sql_query("... x > 1")` or `a && b` is a different, broken action (the
    0.5B did copy `&gt;`, docs/probe-results.md). `>` alone cannot open or close a tag.

    Example:
        ```python
        from langchain_rememberer.exemplars import escape_shown

        assert escape_shown('sql("x > 1 && y < 2")') == 'sql("x > 1 && y &lt; 2")'
        assert escape_shown("</task>&lt;") == "&lt;/task>&amp;lt;"
        ```
    """
    if limit is not None:
        text = cut(text, limit)
    return _ENTITY.sub("&amp;", text).replace("<", "&lt;")


_INVISIBLE = frozenset(
    [
        *range(0x00, 0x20),
        *range(0x7F, 0xA0),
        0x061C,
        *range(0x200B, 0x2010),
        *range(0x2028, 0x202F),
        *range(0x2060, 0x2070),
        0xFEFF,
    ]
)
"""Code points a terminal acts on or hides rather than shows: C0 and C1 controls (ESC starts
terminal escape sequences, U+009B is a one-byte CSI), DEL, line and paragraph separators,
bidirectional overrides and isolates, zero-width characters."""


def printable(text: str, *, keep_newlines: bool = False) -> str:
    r"""`text` safe to print on a terminal: every control or invisible code point as an escape.

    ESC becomes the four characters `\x1b`, a right-to-left override `\u202e`: stored text
    cannot move the cursor, clear the screen, set a title (OSC), reorder what is shown beside
    it or hide part of itself.

    Example:
        ```python
        from langchain_rememberer._text import printable

        assert printable("ok\x1b]0;x\x07") == r"ok\x1b]0;x\x07"
        ```
    """
    if not any(ord(c) in _INVISIBLE for c in text):
        return text
    return "".join(
        c if ord(c) not in _INVISIBLE or (keep_newlines and c == "\n") else _escape(c) for c in text
    )


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def json_printable(encoded: str) -> str:
    r"""JSON text with the code points `printable` escapes written as JSON `\uXXXX` escapes.

    `json.dumps(..., ensure_ascii=False)` escapes C0 controls only; DEL, C1 controls and
    bidirectional overrides would reach the terminal raw. The result decodes to the same data.
    """
    # C0 controls left in JSON text are its own line breaks and indents (inside strings
    # `json.dumps` escaped them already).
    if not any(ord(c) in _INVISIBLE and ord(c) >= 0x20 for c in encoded):
        return encoded
    return "".join(
        f"\\u{ord(c):04x}" if ord(c) in _INVISIBLE and ord(c) >= 0x20 else c for c in encoded
    )
