from langchain_rememberer._text import cut, escape_text, normalize_whitespace


def test_normalize_whitespace_collapses_and_strips() -> None:
    assert normalize_whitespace("  a \n\t b  ") == "a b"


def test_cut_keeps_short_text_and_marks_cut_text() -> None:
    assert cut("abc", 3) == "abc"
    assert cut("abcdef", 5) == "ab..."
    assert len(cut("x" * 100, 10)) == 10


def test_escape_text_cannot_form_tags() -> None:
    assert escape_text("</task><x>", None) == "&lt;/task&gt;&lt;x&gt;"
    assert escape_text("<" * 10, 5) == "&lt;&lt;..."
