"""The probe's "pull" situations, answer judging and report (no model needed)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import probe_pull
from probe_pull_cases import KINDS, PULL_SITUATIONS


def test_situations_are_36_in_six_kinds_of_app_two_thirds_pulling() -> None:
    assert len(PULL_SITUATIONS) == 36
    assert {s.kind for s in PULL_SITUATIONS} == set(KINDS)
    assert all(sum(s.kind == k for s in PULL_SITUATIONS) == 6 for k in KINDS)
    assert sum(s.pull for s in PULL_SITUATIONS) == 24
    assert len({(s.task, s.observation) for s in PULL_SITUATIONS}) == 36
    for s in PULL_SITUATIONS:
        assert s.good in s.valid
        assert s.bad in s.valid
        assert s.good != s.bad
        assert len(set(s.valid)) == len(s.valid)


def test_the_runs_teach_good_twice_and_bad_once_with_distinct_ids() -> None:
    s = PULL_SITUATIONS[0]
    episodes = s.episodes()
    assert [(e.steps[0].action, e.steps[0].reward) for e in episodes] == [
        (s.good, 1.0),
        (s.good, 1.0),
        (s.bad, 0.0),
    ]
    ids = {e.run_id for x in PULL_SITUATIONS for e in x.episodes()}
    assert len(ids) == 3 * 36
    assert PULL_SITUATIONS[0].episodes()[0].run_id == episodes[0].run_id  # deterministic


def test_judge_reads_the_outcome_and_how_the_answer_was_written() -> None:
    s = PULL_SITUATIONS[6]  # helpdesk: open_ticket(5133) good, open_ticket(5120) bad
    assert probe_pull.judge("Action: open_ticket(5133)", s, set())["outcome"] == "good"
    bad = probe_pull.judge("open_ticket(5120)", s, set())
    assert bad["outcome"] == "bad"
    assert not bad["prefix"]
    copied = probe_pull.judge("Action: escalate()", s, {"escalate()"})
    assert copied["outcome"] == "copied"
    assert probe_pull.judge("Action: reboot()", s, set())["outcome"] == "invalid"
    # Another task's tool with this task's arguments is copied too.
    adapted = probe_pull.judge("Action: open_carrier_trace(5133)", s, {"open_carrier_trace(902)"})
    assert adapted["outcome"] == "copied"
    assert probe_pull.judge("Action: trace(5133)", s, {"open_carrier_trace(902)"})["outcome"] == (
        "invalid"
    )
    leaked = probe_pull.judge("Action: open_ticket(5133) -> 1.00 (tried 2x)", s, set())
    assert leaked["outcome"] == "good"
    assert leaked["suffix"]
    assert leaked["prefix"]
    several = probe_pull.judge("open_ticket(5133), then open_ticket(5141)", s, set())
    assert several["several"]
    assert not probe_pull.judge("Action: open_ticket(5133)", s, set())["suffix"]


def test_messages_place_the_block() -> None:
    s = PULL_SITUATIONS[0]
    assert len(probe_pull.messages(s, "", "system")) == 2
    system = probe_pull.messages(s, "BLOCK", "system")
    assert system[0]["content"].endswith("\n\nBLOCK")
    after = probe_pull.messages(s, "BLOCK", "after")
    # As the middleware sends it by default: the block, then the current task, read last.
    assert after[-1] == {"role": "user", "content": "BLOCK\nThe current task: Find the silver key."}
    assert after[1]["content"].startswith("Task: Find the silver key.")


def _row(situation: int, kind: str, outcome: str, tokens: int, placement: str = "system") -> dict:
    return {
        "situation": situation,
        "kind": kind,
        "k": 0 if kind == "none" else 2,
        "format": "none" if kind == "none" else "now",
        "placement": "none" if kind == "none" else placement,
        "outcome": outcome,
        "prompt_tokens": tokens,
        "seconds": 1.0,
        "prefix": True,
        "several": False,
        "suffix": outcome == "bad",
    }


def test_the_report_gives_rates_with_intervals_and_block_tokens() -> None:
    rows = [
        _row(0, "none", "bad", 100),
        _row(1, "none", "good", 100),
        _row(0, "lesson", "good", 300),
        _row(1, "lesson", "bad", 340),
        _row(0, "forced", "copied", 400),
        _row(1, "forced", "other", 400),
    ]
    lines = probe_pull.table({"0.5b": {"rows": rows}})
    (variant,) = [line for line in lines if "system, k=2" in line]
    cells = [c.strip() for c in variant.split("|")[1:-1]]
    assert cells[2] == "now"
    assert cells[3] == "1/2 = 0.50 [0.09, 0.91]"  # followed
    assert cells[4] == "1/2 = 0.50 [0.09, 0.91]"  # discouraged taken
    assert cells[5] == "1/1 = 1.00 [0.21, 1.00]"  # flipped: situation 0's baseline was bad
    assert cells[6] == "1/2 = 0.50 [0.09, 0.91]"  # copied, forced
    assert cells[7] == "-"  # no floors-on control asked
    assert cells[11] == "220"  # (200 + 240) / 2 block tokens
    # A situation not asked in every variant (a run cut short) is left out.
    cut = probe_pull.table({"0.5b": {"rows": [*rows, _row(2, "none", "good", 100)]}})
    assert cut == lines
    split = probe_pull.pull_split({"0.5b": {"rows": rows}})
    assert any("no block" in line for line in split)


def test_the_before_block_is_the_issue_21_rendering() -> None:
    now = (
        "<experience_memory>\nheader\n"
        '<exemplar similarity="0.90">\n<task>t</task>\n<observation>o</observation>\n'
        '<encouraged>\n<action value="1.00" tried="2">open_ticket(5133)</action>\n</encouraged>\n'
        '<discouraged>\n<action value="0.00" tried="1">final_answer</action> '
        '<best_answer return="-1.00">No idea.</best_answer>\n</discouraged>\n</exemplar>\n'
        "closing\n</experience_memory>"
    )
    before = probe_pull.before_block(now)
    assert before.startswith("<experience_memory>\nLessons from past runs, most similar last.")
    assert "<encouraged>\nopen_ticket(5133) -> 1.00 (tried 2x)\n</encouraged>" in before
    assert (
        '<discouraged>\nfinal_answer -> 0.00 (tried 1x; best answer, return -1.00: "No idea.")'
        "\n</discouraged>"
    ) in before
    assert before.endswith(
        "Now answer for the current situation, with one of its valid actions.\n</experience_memory>"
    )
    assert probe_pull.before_block("") == ""


def test_floors_on_copying_counts_every_default_block_showing_another_tasks_lesson() -> None:
    rows = [
        _row(0, "none", "bad", 100),
        _row(1, "none", "bad", 100),
        _row(0, "lesson", "good", 300),
        {**_row(1, "lesson", "copied", 300), "unrelated": ["open cabinet"]},
        _row(0, "forced", "other", 400),
        _row(1, "forced", "other", 400),
        _row(0, "control", "good", 400),
    ]
    (variant,) = [line for line in probe_pull.table({"0.5b": {"rows": rows}}) if "k=2" in line]
    cells = [c.strip() for c in variant.split("|")[1:-1]]
    assert cells[7] == "1/2 = 0.50 [0.09, 0.91]"  # the control and the lesson showing one


def test_after_the_turn_the_block_is_sent_as_the_middleware_builds_it() -> None:
    s = PULL_SITUATIONS[0]
    built = "BLOCK\nThe current task: Find the silver key.\nIn this situation ...: take go down."
    assert probe_pull.messages(s, "BLOCK", "after", built)[-1]["content"] == built
    assert probe_pull.messages(s, "BLOCK", "system", built)[0]["content"].endswith("\n\nBLOCK")


def test_the_page_names_the_command_that_made_its_rows() -> None:
    rows = [_row(0, "none", "bad", 100), _row(0, "lesson", "good", 300, placement="after")]
    page = probe_pull.write_page({"0.5b": {"rows": rows}})
    assert "--models 0.5b --placements after --out docs/probe-results.json" in page
    both = [*rows, _row(0, "lesson", "good", 300, placement="system")]
    assert "--models 0.5b --out docs/probe-results.json" in probe_pull.write_page(
        {"0.5b": {"rows": both}}
    )
