"""The probe on "pull" situations (`probe_pull_cases`): per model, placement and k, with intervals.

One command regenerates the numbers and the page (docs/probe-results.md):

```bash
python benchmarks/probe.py --cases pull --models 0.5b 1.5b --out docs/probe-results.json
```

Each model runs in its own process (one `xllamacpp` server at a time, `--threads` threads).
Per situation: the request with no block, then for each k and placement the block built by the
library at its defaults (the situation's own lesson, plus any other task's lesson that passes
the floors), the control with the floors on (a memory without this situation's runs: asked
only when it shows something), and the forced control (the same memory with the floors off:
two unrelated lessons always shown). `--report-only` rewrites the page from the JSON files.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from probe_cases import REMINDER_PROMPT
from probe_pull_cases import KINDS, PULL_SITUATIONS, PullSituation, app_memory, block_for

from langchain_rememberer import RetrievalConfig
from langchain_rememberer.bench.statistics import wilson_ci
from langchain_rememberer.exemplars import with_current_task

SYSTEM = (
    "You are an agent acting in an environment. Each turn shows the task, what you observe and "
    "the valid actions. Reply with exactly one valid action, on one line, as: Action: <action>"
)
"""The request's system prompt: the same as the first probe's (`probe_cases.SYSTEM`)."""

FORCED = RetrievalConfig(min_similarity=-1.0, min_task_similarity=None)
"""The forced control's retrieval: the floors off, so unrelated lessons are always shown."""

_ELEMENT = re.compile(
    r'<action value="(?P<v>-?\d+\.\d\d)" tried="(?P<n>\d+)">(?P<a>[^<>]*)</action>'
)
_ANSWER = re.compile(
    r'<action value="(?P<v>-?\d+\.\d\d)" tried="(?P<n>\d+)">(?P<a>[^<>]*)</action> '
    r'<best_answer return="(?P<r>-?\d+\.\d\d)">(?P<t>[^<>]*)</best_answer>'
)


def before_block(block: str) -> str:
    """The same block as the library rendered it before issue 27: the issue-21 wording and
    `action -> value (tried Nx)` lines (answers: `; best answer, return R: "..."`)."""
    if not block:
        return ""
    body = block[block.index("\n<exemplar") + 1 : block.rindex("</exemplar>") + len("</exemplar>")]
    body = _ANSWER.sub(
        lambda m: (
            f'{m["a"]} -> {m["v"]} (tried {m["n"]}x; best answer, return {m["r"]}: "{m["t"]}")'
        ),
        body,
    )
    body = _ELEMENT.sub(lambda m: f"{m['a']} -> {m['v']} (tried {m['n']}x)", body)
    return REMINDER_PROMPT.format(exemplars=body)


FORMATS = ("before", "now")
"""`before`: the block up to issue 27 (rebuilt from the library's, `before_block`); `now`:
the library's block as it renders."""

_SUFFIX = re.compile(r"->|\btried\b|\b\d\.\d\d\b|\bvalue\b|\bworked\b|\bfailed\b|\bruns?\b", re.I)
_PREFIX = re.compile(r"^\W*action\W*:", re.I | re.M)


def messages(
    situation: PullSituation, block: str, placement: str, after: str | None = None
) -> list[dict[str, str]]:
    """The request: the block on the system message, or as a message after the turn, as the
    middleware's `placement` puts it."""
    turn = {"role": "user", "content": situation.user_text()}
    if not block:
        return [{"role": "system", "content": SYSTEM}, turn]
    if placement == "system":
        return [{"role": "system", "content": f"{SYSTEM}\n\n{block}"}, turn]
    # After the turn, the middleware ends the block with the current task and the lesson of
    # this very task, if shown (`with_current_task`; `after`, built with the block).
    last = after if after is not None else with_current_task(block, situation.task)
    return [{"role": "system", "content": SYSTEM}, turn, {"role": "user", "content": last}]


def _norm(text: str) -> str:
    text = text.replace("`", "").replace("*", "").replace("'", '"').lower()
    return " ".join(text.split()).strip(" .;:")


def mentioned(text: str, candidates: list[str]) -> list[str]:
    """The candidates an answer names, in the order they first appear (longest at a place)."""
    flat = _norm(text)
    found = []
    for c in dict.fromkeys(candidates):
        n = _norm(c)
        if n and n in flat:
            found.append((flat.find(n), -len(n), c))
    out: list[str] = []
    taken: list[tuple[int, int]] = []
    for start, neg, c in sorted(found):
        if any(s <= start < e for s, e in taken):
            continue
        taken.append((start, start - neg))
        out.append(c)
    return out


def parse(text: str, candidates: list[str]) -> str | None:
    """An `Action:` line naming a candidate wins; else the first candidate named at all."""
    by_norm = {_norm(c): c for c in candidates}
    for line in text.splitlines():
        match = re.match(r"^\W*action\W*:\s*(?P<rest>.*)$", line.strip(), re.I)
        if match and _norm(match["rest"]) in by_norm:
            return by_norm[_norm(match["rest"])]
    named = mentioned(text, candidates)
    return named[0] if named else None


def judge(text: str, situation: PullSituation, unrelated: set[str]) -> dict[str, Any]:
    """What an answer was: outcome, and how it was written (prefix, several, value suffix)."""
    candidates = [*situation.valid, *sorted(unrelated)]
    answer = parse(text, candidates)
    if answer is None:
        # Another task's tool, given this task's arguments (`open_carrier_trace(4471)` from a
        # lesson about order 902): copied too.
        tools = {_norm(u).split("(")[0] for u in unrelated if "(" in u}
        adapted = any(re.search(rf"(?<![\w.]){re.escape(t)}\(", _norm(text)) for t in tools)
        kind = "copied" if adapted else "invalid"
    elif answer == situation.good:
        kind = "good"
    elif answer == situation.bad:
        kind = "bad"
    elif answer in unrelated:
        kind = "copied"
    else:
        kind = "other" if answer in situation.valid else "invalid"
    return {
        "answer": answer,
        "outcome": kind,
        "prefix": bool(_PREFIX.search(text)),
        "several": len(mentioned(text, candidates)) > 1,
        "suffix": bool(_SUFFIX.search(text)),
    }


def order() -> list[int]:
    """Situations round-robin over the kinds of app, so any first part of a run is balanced."""
    by_kind = [[i for i, s in enumerate(PULL_SITUATIONS) if s.kind == k] for k in KINDS]
    return [i for group in zip(*by_kind, strict=True) for i in group]


def build_requests(ks: list[int], formats: list[str]) -> list[dict[str, Any]]:
    """Every block of the run, built before the model starts (the library's own retrieval).

    Per situation: no block; then for each k the lesson in each format, the forced control and
    the floors-on control (when it shows anything) in the last format.
    """
    memories = {kind: app_memory(kind) for kind in KINDS}
    requests: list[dict[str, Any]] = []
    for i in order():
        situation = PULL_SITUATIONS[i]
        requests.append(
            {"situation": i, "kind": "none", "k": 0, "format": "none", "block": "", "unrelated": []}
        )
        floors_on = app_memory(situation.kind, without=situation)
        forced = app_memory(situation.kind, without=situation, retrieval=FORCED)
        for k in ks:
            for name, memory in (
                ("lesson", memories[situation.kind]),
                ("forced", forced),
                ("control", floors_on),
            ):
                block, shown = block_for(memory, situation, k=k)
                if name == "control" and not block:
                    continue
                others = [e for e in shown if e.state.task != situation.task]
                unrelated = {a.action for e in others for a in e.encouraged}
                # Controls in the library's block only: the earlier block's copying was
                # measured by the first probe (docs/tuning.md), and calls are few on 2 cores.
                for fmt in formats if name == "lesson" else formats[-1:]:
                    requests.append(
                        {
                            "situation": i,
                            "kind": name,
                            "k": k,
                            "format": fmt,
                            "block": before_block(block) if fmt == "before" else block,
                            "after": with_current_task(block, situation.task, shown=shown),
                            "unrelated": sorted(unrelated - {situation.good}),
                            "own_shown": any(e.state.task == situation.task for e in shown),
                        }
                    )
    return requests


def run_model(
    model: Path,
    ks: list[int],
    placements: list[str],
    formats: list[str],
    threads: int,
    port: int,
    out: Path,
) -> dict:
    """All decisions of one model (in this process); the rows so far are kept in `out`."""
    from probe import Client, start_server  # noqa: PLC0415

    requests = build_requests(ks, formats)
    server = start_server(model, port=port, threads=threads, n_ctx=8192)
    client = Client(f"http://127.0.0.1:{port}")
    rows = []
    for n, request in enumerate(requests):
        situation = PULL_SITUATIONS[request["situation"]]
        wanted = placements if request["block"] else ["none"]
        if request["format"] == "before":  # the earlier block: in the first placement only
            wanted = placements[:1]
        for placement in wanted:
            started = time.perf_counter()
            after = None if request["format"] == "before" else request.get("after")
            text, usage = client.chat(messages(situation, request["block"], placement, after))
            seconds = time.perf_counter() - started
            rows.append(
                {
                    **{k: v for k, v in request.items() if k not in ("block", "after")},
                    "placement": placement,
                    "text": text,
                    "prompt_tokens": usage.get("prompt_tokens"),
                    "seconds": seconds,
                    **judge(text, situation, set(request["unrelated"])),
                }
            )
        if n % 5 == 4:
            print(f"  {n + 1}/{len(requests)} requests", file=sys.stderr, flush=True)
            partial = {"model": model.name, "rows": rows, "blocks": requests, "partial": True}
            out.write_text(json.dumps(partial, indent=1), encoding="utf-8")
    del server
    return {"model": model.name, "rows": rows, "blocks": requests}


# -- report -----------------------------------------------------------------------------------


def rate(k: int, n: int) -> str:
    if n == 0:
        return "-"
    lo, hi = wilson_ci(k, n)
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


def _count(rows: list[dict], what: str) -> tuple[int, int]:
    return sum(r["outcome"] == what for r in rows), len(rows)


def complete(rows: list[dict]) -> list[dict]:
    """The rows of the situations asked in every variant (a run cut short ends mid-situation)."""

    def asked(kind: str, situation: int | None = None) -> set[tuple[str, str, int]]:
        return {
            (r["format"], r["placement"], r["k"])
            for r in rows
            if r["kind"] == kind and situation in (None, r["situation"])
        }

    done = {
        i
        for i in {r["situation"] for r in rows}
        if any(r["situation"] == i and r["kind"] == "none" for r in rows)
        and asked("lesson") <= asked("lesson", i)
        and asked("forced") <= asked("forced", i)
    }
    return [r for r in rows if r["situation"] in done]


def _variants(rows: list[dict]) -> list[tuple[str, str, int]]:
    found = {(r["format"], r["placement"], r["k"]) for r in rows if r["kind"] != "none"}
    where = {"after": 0, "system": 1}
    return sorted(
        found, key=lambda v: (where.get(v[1], 3), v[1], v[2] != 2, v[2], v[0] != "before")
    )


def table(results: dict[str, dict]) -> list[str]:
    """Markdown rows: per model, placement, k and block (plus the no-block baseline)."""
    lines = [
        "| model | placement, k | block | lesson followed | discouraged taken | "
        "flipped (no-block answer not the lesson) | unrelated copied, forced | "
        "unrelated copied, floors on | value suffix in answer | no `Action:` | "
        "several actions | block tokens | s per call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        rows = complete(result["rows"])
        base = {r["situation"]: r for r in rows if r["kind"] == "none"}
        none = list(base.values())
        lines.append(
            f"| {name} | - | no block | {rate(*_count(none, 'good'))} | "
            f"{rate(*_count(none, 'bad'))} | - | - | - | "
            f"{rate(sum(r['suffix'] for r in none), len(none))} | "
            f"{rate(sum(not r['prefix'] for r in none), len(none))} | "
            f"{rate(sum(r['several'] for r in none), len(none))} | 0 | "
            f"{sum(r['seconds'] for r in none) / max(len(none), 1):.1f} |"
        )
        for fmt, placement, k in _variants(rows):
            mine = [
                r
                for r in rows
                if r["format"] == fmt and r["placement"] == placement and r["k"] == k
            ]
            lesson = [r for r in mine if r["kind"] == "lesson"]
            against = [r for r in lesson if base[r["situation"]]["outcome"] != "good"]
            forced = [r for r in mine if r["kind"] == "forced"]
            # Every block at the defaults (floors on) that showed another task's lesson.
            floors = [
                r
                for r in mine
                if r["kind"] == "control" or (r["kind"] == "lesson" and r.get("unrelated"))
            ]
            tokens = [
                r["prompt_tokens"] - base[r["situation"]]["prompt_tokens"]
                for r in lesson
                if r["prompt_tokens"] is not None
            ]
            lines.append(
                f"| {name} | {placement}, k={k} | {fmt} | {rate(*_count(lesson, 'good'))} | "
                f"{rate(*_count(lesson, 'bad'))} | {rate(*_count(against, 'good'))} | "
                f"{rate(*_count(forced, 'copied'))} | {rate(*_count(floors, 'copied'))} | "
                f"{rate(sum(r['suffix'] for r in mine), len(mine))} | "
                f"{rate(sum(not r['prefix'] for r in mine), len(mine))} | "
                f"{rate(sum(r['several'] for r in mine), len(mine))} | "
                f"{sum(tokens) / max(len(tokens), 1):.0f} | "
                f"{sum(r['seconds'] for r in lesson) / max(len(lesson), 1):.1f} |"
            )
    return lines


def pull_split(results: dict[str, dict]) -> list[str]:
    """Followed and discouraged taken on pulling vs neutral situations, per model and variant."""
    lines = [
        "| model | placement, k | block | followed, pulling | discouraged, pulling | "
        "followed, neutral | discouraged, neutral |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        rows = [r for r in complete(result["rows"]) if r["kind"] in ("lesson", "none")]
        groups = [("-", "no block", [r for r in rows if r["kind"] == "none"])]
        groups += [
            (
                f"{placement}, k={k}",
                fmt,
                [
                    r
                    for r in rows
                    if r["kind"] == "lesson"
                    and (r["format"], r["placement"], r["k"]) == (fmt, placement, k)
                ],
            )
            for fmt, placement, k in _variants(rows)
        ]
        for where, fmt, mine in groups:
            pull = [r for r in mine if PULL_SITUATIONS[r["situation"]].pull]
            neutral = [r for r in mine if not PULL_SITUATIONS[r["situation"]].pull]
            lines.append(
                f"| {name} | {where} | {fmt} | {rate(*_count(pull, 'good'))} | "
                f"{rate(*_count(pull, 'bad'))} | {rate(*_count(neutral, 'good'))} | "
                f"{rate(*_count(neutral, 'bad'))} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["0.5b", "1.5b"])
    parser.add_argument("--cache", type=Path, default=Path("/work/models"))
    parser.add_argument("--ks", nargs="+", type=int, default=[2])
    parser.add_argument("--placements", nargs="+", default=["after", "system"])
    parser.add_argument("--formats", nargs="+", default=["now"], choices=FORMATS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--out", type=Path, default=Path("docs/probe-results.json"))
    parser.add_argument("--page", type=Path, default=Path("docs/probe-results.md"))
    parser.add_argument("--one-model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if args.one_model:
        result = run_model(
            args.one_model,
            args.ks,
            args.placements,
            args.formats,
            args.threads,
            args.port,
            args.out,
        )
        args.out.write_text(json.dumps(result, indent=1), encoding="utf-8")
        return 0
    if not args.report_only:
        from probe_setup import MODELS  # noqa: PLC0415

        results = json.loads(args.out.read_text()) if args.out.exists() else {}
        for name in args.models:
            part = args.out.with_suffix(f".{name}.json")
            command = [
                sys.executable,
                __file__,
                "--one-model",
                str(args.cache / MODELS[name].filename),
                "--out",
                str(part),
                "--threads",
                str(args.threads),
                "--port",
                str(args.port),
                "--ks",
                *map(str, args.ks),
                "--placements",
                *args.placements,
                "--formats",
                *args.formats,
            ]
            print(f"run: {name}", flush=True)
            subprocess.run(command, check=True)
            results[name] = json.loads(part.read_text())
            part.unlink()
            args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for name in args.models:  # a run cut short: its rows so far, over an earlier run's
        part = args.out.with_suffix(f".{name}.json")
        if part.exists():
            results[name] = json.loads(part.read_text())
    page = write_page(results)
    args.page.write_text(page, encoding="utf-8")
    print(page)
    return 0


def _placements_flag(results: dict[str, dict]) -> str:
    """` --placements ...` when the rows are not of the default placements (after, system)."""
    found = {r["placement"] for res in results.values() for r in res["rows"]} - {"none"}
    return "" if found == {"after", "system"} else f" --placements {' '.join(sorted(found))}"


def write_page(results: dict[str, dict]) -> str:
    """docs/probe-results.md, from the runs' JSON."""
    pulling = sum(s.pull for s in PULL_SITUATIONS)
    asked = {
        name: len({r["situation"] for r in complete(result["rows"])})
        for name, result in results.items()
    }
    parts = [
        "# Probe results: lessons against the observation's pull",
        "",
        "<!-- Generated by `python benchmarks/probe.py --cases pull --models "
        f"{' '.join(results)}{_placements_flag(results)} --out docs/probe-results.json`; "
        "do not edit by hand. -->",
        "",
        f"{len(PULL_SITUATIONS)} single decisions in {len(KINDS)} kinds of app "
        f"({', '.join(KINDS)}; `benchmarks/probe_pull_cases.py`), {pulling} of them with an "
        "observation that points at the action earlier runs found wrong. Blocks are built by "
        "the library at its defaults (k=2, task floor on) from a memory that learned, per "
        "situation, two runs of the right action (scored 1.0) and one of the wrong one (0.0). "
        "Qwen2.5-Coder-Instruct Q4_K_M at temperature 0, asked in the probe's request format. "
        "Situations asked: "
        + ", ".join(f"{name} {n}/{len(PULL_SITUATIONS)}" for name, n in asked.items())
        + " (round-robin over the kinds of app; a run cut short keeps the situations asked in "
        "every variant). "
        + (
            "*before*: the block up to issue 27 (the issue-21 wording, `action -> 1.00 (tried "
            "2x)` lines); "
            if any(r["format"] == "before" for res in results.values() for r in res["rows"])
            else ""
        )
        + "*now*: the library's block. *Placement*: where the block is in the request, as "
        "`RemembererMiddleware(placement=...)` puts it: `after` (the default) a message "
        "after the turn, ending with the current task (`prompts.CURRENT_TASK`) and, when "
        "the block shows a lesson of this very task, that lesson once more (`prompts.ADVICE`), "
        "`system` "
        "appended to the system message. "
        "Rates with 95% Wilson intervals. *Flipped*: followed, among the situations whose "
        "no-block answer was not the lesson. *Forced*: a memory without the situation's runs "
        "and with the floors off, so the block shows two other tasks' lessons; *floors on*: "
        "every block at the defaults that shows another task's lesson: that memory's (asked "
        "only when it shows anything) and the lesson blocks that also show one. "
        "*Value suffix*: the answer contains `->`, a "
        "`0.00`-style number, `tried`, `value`, `worked`, `failed` or `run(s)`. *Block "
        "tokens*: prompt tokens over the no-block request's, on average (lesson blocks).",
        "",
        *table(results),
        "",
        "Pulling (the observation points at the wrong action) against neutral situations:",
        "",
        *pull_split(results),
        "",
    ]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
