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

from probe_pull_cases import KINDS, PULL_SITUATIONS, PullSituation, app_memory, block_for

from langchain_rememberer import RetrievalConfig
from langchain_rememberer.bench.statistics import wilson_ci

SYSTEM = (
    "You are an agent acting in an environment. Each turn shows the task, what you observe and "
    "the valid actions. Reply with exactly one valid action, on one line, as: Action: <action>"
)
"""The request's system prompt: the same as the first probe's (`probe_cases.SYSTEM`)."""

FORCED = RetrievalConfig(min_similarity=-1.0, min_task_similarity=None)
"""The forced control's retrieval: the floors off, so unrelated lessons are always shown."""

_SUFFIX = re.compile(r"->|\btried\b|\b\d\.\d\d\b|\bvalue\b|\bworked\b|\bfailed\b|\bruns?\b", re.I)
_PREFIX = re.compile(r"^\W*action\W*:", re.I | re.M)


def messages(situation: PullSituation, block: str, placement: str) -> list[dict[str, str]]:
    """The request: the block on the system message, or as a message after the turn."""
    turn = {"role": "user", "content": situation.user_text()}
    if not block:
        return [{"role": "system", "content": SYSTEM}, turn]
    if placement == "system":
        return [{"role": "system", "content": f"{SYSTEM}\n\n{block}"}, turn]
    return [{"role": "system", "content": SYSTEM}, turn, {"role": "user", "content": block}]


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
        kind = "invalid"
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


def build_requests(ks: list[int]) -> list[dict[str, Any]]:
    """Every block of the run, built before the model starts (the library's own retrieval)."""
    requests: list[dict[str, Any]] = []
    for kind in KINDS:
        memory = app_memory(kind)
        mine = [s for s in PULL_SITUATIONS if s.kind == kind]
        for situation in mine:
            i = PULL_SITUATIONS.index(situation)
            requests.append({"situation": i, "kind": "none", "k": 0, "block": "", "unrelated": []})
            floors_on = app_memory(kind, without=situation)
            forced = app_memory(kind, without=situation, retrieval=FORCED)
            for k in ks:
                for name, mem in (("lesson", memory), ("control", floors_on), ("forced", forced)):
                    block, shown = block_for(mem, situation, k=k)
                    if name == "control" and not block:
                        continue
                    others = [e for e in shown if e.state.task != situation.task]
                    unrelated = {a.action for e in others for a in e.encouraged}
                    requests.append(
                        {
                            "situation": i,
                            "kind": name,
                            "k": k,
                            "block": block,
                            "unrelated": sorted(unrelated - {situation.good}),
                            "own_shown": any(e.state.task == situation.task for e in shown),
                        }
                    )
    return requests


def run_model(model: Path, ks: list[int], placements: list[str], threads: int, port: int) -> dict:
    """All decisions of one model (in this process)."""
    from probe import Client, start_server  # noqa: PLC0415

    requests = build_requests(ks)
    server = start_server(model, port=port, threads=threads, n_ctx=8192)
    client = Client(f"http://127.0.0.1:{port}")
    rows = []
    for n, request in enumerate(requests):
        situation = PULL_SITUATIONS[request["situation"]]
        for placement in placements if request["block"] else ["none"]:
            started = time.perf_counter()
            text, usage = client.chat(messages(situation, request["block"], placement))
            seconds = time.perf_counter() - started
            rows.append(
                {
                    **{k: v for k, v in request.items() if k != "block"},
                    "placement": placement,
                    "text": text,
                    "prompt_tokens": usage.get("prompt_tokens"),
                    "seconds": seconds,
                    **judge(text, situation, set(request["unrelated"])),
                }
            )
        if n % 10 == 9:
            print(f"  {n + 1}/{len(requests)} requests", file=sys.stderr, flush=True)
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


def table(results: dict[str, dict], label: str) -> list[str]:
    """Markdown rows: per model, placement and k (plus the no-block baseline)."""
    lines = [
        f"| {label}: model | placement, k | lesson followed | discouraged taken | "
        "flipped (baseline not the lesson) | unrelated copied, forced | unrelated copied, "
        "floors on | value suffix in answer | no `Action:` | several actions | "
        "block tokens | s per call |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        rows = result["rows"]
        base = {r["situation"]: r for r in rows if r["kind"] == "none"}
        lines.append(
            f"| {name} | no block | {rate(*_count(list(base.values()), 'good'))} | "
            f"{rate(*_count(list(base.values()), 'bad'))} | - | - | - | "
            f"{rate(sum(r['suffix'] for r in base.values()), len(base))} | "
            f"{rate(sum(not r['prefix'] for r in base.values()), len(base))} | "
            f"{rate(sum(r['several'] for r in base.values()), len(base))} | 0 | "
            f"{sum(r['seconds'] for r in base.values()) / max(len(base), 1):.1f} |"
        )
        variants = dict.fromkeys((r["placement"], r["k"]) for r in rows if r["kind"] != "none")
        for placement, k in variants:
            mine = [r for r in rows if r["placement"] == placement and r["k"] == k]
            lesson = [r for r in mine if r["kind"] == "lesson"]
            against = [r for r in lesson if base[r["situation"]]["outcome"] != "good"]
            forced = [r for r in mine if r["kind"] == "forced"]
            floors = [r for r in mine if r["kind"] == "control"]
            with_block = [r for r in mine if r["kind"] != "none"]
            tokens = [
                r["prompt_tokens"] - base[r["situation"]]["prompt_tokens"]
                for r in lesson
                if r["prompt_tokens"] is not None
            ]
            lines.append(
                f"| {name} | {placement}, k={k} | {rate(*_count(lesson, 'good'))} | "
                f"{rate(*_count(lesson, 'bad'))} | {rate(*_count(against, 'good'))} | "
                f"{rate(*_count(forced, 'copied'))} | {rate(*_count(floors, 'copied'))} | "
                f"{rate(sum(r['suffix'] for r in with_block), len(with_block))} | "
                f"{rate(sum(not r['prefix'] for r in with_block), len(with_block))} | "
                f"{rate(sum(r['several'] for r in with_block), len(with_block))} | "
                f"{sum(tokens) / max(len(tokens), 1):.0f} | "
                f"{sum(r['seconds'] for r in lesson) / max(len(lesson), 1):.1f} |"
            )
    return lines


def pull_split(results: dict[str, dict]) -> list[str]:
    """Followed on pulling vs neutral situations, per model and variant."""
    lines = [
        "| model | placement, k | followed, pulling | followed, neutral |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        rows = [r for r in result["rows"] if r["kind"] in ("lesson", "none")]
        for placement, k in dict.fromkeys((r["placement"], r["k"]) for r in rows):
            mine = [r for r in rows if r["placement"] == placement and r["k"] == k]
            pull = [r for r in mine if PULL_SITUATIONS[r["situation"]].pull]
            neutral = [r for r in mine if not PULL_SITUATIONS[r["situation"]].pull]
            where = "no block" if placement == "none" else f"{placement}, k={k}"
            lines.append(
                f"| {name} | {where} | {rate(*_count(pull, 'good'))} | "
                f"{rate(*_count(neutral, 'good'))} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    import argparse  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["0.5b", "1.5b"])
    parser.add_argument("--cache", type=Path, default=Path("/work/models"))
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--placements", nargs="+", default=["system", "after"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--out", type=Path, default=Path("docs/probe-results.json"))
    parser.add_argument("--page", type=Path, default=Path("docs/probe-results.md"))
    parser.add_argument("--before", type=Path, help="an earlier run's JSON, reported beside")
    parser.add_argument("--one-model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args(argv)
    if args.one_model:
        result = run_model(args.one_model, args.ks, args.placements, args.threads, args.port)
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
            ]
            print(f"run: {name}", flush=True)
            subprocess.run(command, check=True)
            results[name] = json.loads(part.read_text())
            part.unlink()
            args.out.write_text(json.dumps(results, indent=1), encoding="utf-8")
    results = json.loads(args.out.read_text())
    before = json.loads(args.before.read_text()) if args.before else None
    page = write_page(results, before)
    args.page.write_text(page, encoding="utf-8")
    print(page)
    return 0


def write_page(results: dict[str, dict], before: dict[str, dict] | None) -> str:
    """docs/probe-results.md, from the runs' JSON."""
    pulling = sum(s.pull for s in PULL_SITUATIONS)
    parts = [
        "# Probe results: lessons against the observation's pull",
        "",
        "<!-- Generated by `python benchmarks/probe.py --cases pull --models 0.5b 1.5b "
        "--out docs/probe-results.json --before docs/probe-results-before.json`; "
        "do not edit by hand. -->",
        "",
        f"{len(PULL_SITUATIONS)} single decisions in {len(KINDS)} kinds of app "
        f"({', '.join(KINDS)}; `benchmarks/probe_pull_cases.py`), {pulling} of them with an "
        "observation that points at the action earlier runs found wrong. Blocks are built by "
        "the library at its defaults (the memory learned two good runs and one failed run per "
        "situation; task floor on), Qwen2.5-Coder-Instruct Q4_K_M at temperature 0. Rates with "
        "95% Wilson intervals. *Flipped*: followed, among the situations whose no-block answer "
        "was not the lesson. *Forced*: a memory without the situation's runs and with the floors "
        "off, so two unrelated lessons are shown; *floors on*: the same memory at its defaults "
        "(asked only when it shows something). *Value suffix*: the answer contains `->`, a "
        "`0.00`-style number, `tried`, `value`, `worked`, `failed` or `run(s)`. *Block tokens*: "
        "prompt tokens over the no-block request's, on average.",
        "",
    ]
    if before:
        parts += ["## Before (the block up to issue 27)", "", *table(before, "before"), ""]
        parts += [*pull_split(before), ""]
    parts += ["## Now (the library's block)", "", *table(results, "now"), ""]
    parts += [*pull_split(results), ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
