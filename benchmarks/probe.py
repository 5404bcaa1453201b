"""Real-model probe: do small local models follow the exemplar block, and what does it cost?

Starts `xllamacpp`'s OpenAI-compatible server on 127.0.0.1 with a GGUF model assembled once by
`probe_setup.py` (nothing is downloaded here), then asks it single decisions (`probe_cases`):
each situation with no block, and with its lesson or an unrelated lesson in every block format
and placement. Prints, with 95% Wilson intervals: encouraged followed, discouraged picked, the
unrelated exemplar's (invalid) action copied, and the no-block baseline; then cached / prompt
tokens over a 10-step episode for each placement.

```bash
pip install xllamacpp    # the `probe` extra; not needed by the library or CI
python benchmarks/probe.py --model /work/models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
# the "pull" situations (probe_pull_cases.py), both models, the page docs/probe-results.md:
python benchmarks/probe.py --cases pull --models 0.5b 1.5b --out docs/probe-results.json
```
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from probe_cases import (
    AGENT_SYSTEM,
    FORMATS,
    SYSTEM,
    Placement,
    Situation,
    control_lesson,
    episode,
    messages_for,
    outcome,
    parse_answer,
    render_block,
    restated,
    situations,
)

from langchain_rememberer.bench.statistics import wilson_ci

PLACEMENTS: tuple[Placement, ...] = ("system", "after", "restated")


def start_server(model: Path, *, port: int, threads: int, n_ctx: int) -> Any:
    """`xllamacpp.Server` on 127.0.0.1 (in this process); keep a reference while it is used."""
    try:
        import xllamacpp  # noqa: PLC0415 (optional: the probe's extra)
    except ImportError:
        sys.exit("the probe needs xllamacpp: pip install 'langchain-rememberer[probe]'")
    if not model.is_file():
        sys.exit(f"no model at {model}: run benchmarks/probe_setup.py first (docs/tuning.md)")
    params = xllamacpp.CommonParams()
    params.model.path = str(model)
    params.n_ctx = n_ctx
    params.use_jinja = True
    params.port = port
    params.hostnames = ["127.0.0.1"]
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    return xllamacpp.Server(params)


class Client:
    """Chat completions at temperature 0; keeps each answer's usage."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=900.0)

    def chat(self, messages: list[dict[str, str]], max_tokens: int = 32) -> tuple[str, dict]:
        body = {"messages": messages, "temperature": 0, "seed": 0, "max_tokens": max_tokens}
        got = self.http.post("/v1/chat/completions", json=body)
        got.raise_for_status()
        data = got.json()
        return data["choices"][0]["message"].get("content") or "", data.get("usage", {})


def ask(
    client: Client, situation: Situation, block: str, placement: Placement, copied: Situation | None
) -> dict[str, Any]:
    """One decision: the answer, what it parsed to and its outcome."""
    candidates = list(situation.valid)
    if copied is not None:
        candidates += [copied.encouraged, copied.discouraged]
    text, usage = client.chat(messages_for(situation, block, placement))
    answer = parse_answer(text, candidates)
    kind = outcome(answer, situation, copied.encouraged if copied else None)
    return {
        "text": text,
        "answer": answer,
        "outcome": kind,
        "prompt_tokens": usage.get("prompt_tokens"),
    }


def run_decisions(
    client: Client,
    pool: list[Situation],
    variants: list[tuple[str, Placement]],
    progress: Path | None = None,
) -> list[dict]:
    """Every situation: no block, then each (format, placement) with its lesson and a control.

    The rows so far are written to `progress` (JSON) after each situation.
    """
    rows = []
    for i, situation in enumerate(pool):
        other = control_lesson(situation, pool)
        rows.append(
            {
                "situation": i,
                "variant": "none",
                "kind": "lesson",
                **ask(client, situation, "", "system", None),
            }
        )
        for name, placement in variants:
            lesson = render_block([situation.lesson(0.95)], FORMATS[name])
            control = render_block([other.lesson(0.40)], FORMATS[name])
            variant = f"{name}/{placement}"
            rows.append(
                {
                    "situation": i,
                    "variant": variant,
                    "kind": "lesson",
                    **ask(client, situation, lesson, placement, None),
                }
            )
            rows.append(
                {
                    "situation": i,
                    "variant": variant,
                    "kind": "control",
                    **ask(client, situation, control, placement, other),
                }
            )
        print(f"  situation {i + 1}/{len(pool)} done", file=sys.stderr, flush=True)
        if progress is not None:
            progress.write_text(json.dumps(rows), encoding="utf-8")
    return rows


def rate(rows: list[dict], kind: str, what: str) -> str:
    """`k/n = p [lo, hi]` of an outcome among rows of one kind."""
    chosen = [r for r in rows if r["kind"] == kind]
    k, n = sum(r["outcome"] == what for r in chosen), len(chosen)
    if n == 0:
        return "-"
    lo, hi = wilson_ci(k, n)
    return f"{k}/{n} = {k / n:.2f} [{lo:.2f}, {hi:.2f}]"


def report(rows: list[dict]) -> list[str]:
    """The table: per variant, follow / discouraged / copied / invalid, with 95% intervals."""
    lines = [
        "| block/placement | encouraged followed | discouraged picked | "
        "unrelated action copied | other invalid (control) |",
        "|---|---|---|---|---|",
    ]
    for variant in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == variant]
        lines.append(
            f"| {variant} | {rate(mine, 'lesson', 'encouraged')} | "
            f"{rate(mine, 'lesson', 'discouraged')} | {rate(mine, 'control', 'copied')} | "
            f"{rate(mine, 'control', 'invalid')} |"
        )
    return lines


def flush(client: Client) -> None:
    """A request sharing no prefix with the episode, so its first step starts uncached."""
    client.chat([{"role": "system", "content": "Count."}, {"role": "user", "content": "1 2 3"}], 4)


def run_episode(
    client: Client, placement: Placement, format_name: str, system: str = SYSTEM
) -> dict[str, Any]:
    """A 10-step episode, the block (2 lessons, new each step) placed as given: token cache."""
    steps = episode(10)
    flush(client)
    history: list[dict[str, str]] = []
    per_step = []
    for t, (situation, action) in enumerate(steps):
        other = steps[(t + 5) % len(steps)][0]
        block = render_block([situation.lesson(0.93), other.lesson(0.81)], FORMATS[format_name])
        turn = {"role": "user", "content": situation.user_text()}
        if placement == "system":
            messages = [{"role": "system", "content": f"{system}\n\n{block}"}, *history, turn]
        else:
            last = restated(block, situation) if placement == "restated" else block
            messages = [
                {"role": "system", "content": system},
                *history,
                turn,
                {"role": "user", "content": last},
            ]
        started = time.perf_counter()
        _, usage = client.chat(messages, max_tokens=8)
        seconds = time.perf_counter() - started
        details = usage.get("prompt_tokens_details") or {}
        per_step.append(
            {
                "prompt": usage.get("prompt_tokens", 0),
                "cached": details.get("cached_tokens", 0),
                "seconds": seconds,
            }
        )
        history += [turn, {"role": "assistant", "content": f"Action: {action}"}]
    prompt = sum(s["prompt"] for s in per_step)
    cached = sum(s["cached"] for s in per_step)
    return {
        "placement": placement,
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "ratio": cached / prompt if prompt else 0.0,
        "seconds_per_step": sum(s["seconds"] for s in per_step) / len(per_step),
        "last_step_seconds": per_step[-1]["seconds"],
        "steps": per_step,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["--cases", "pull"]:
        import probe_pull  # noqa: PLC0415 (the pull situations: docs/probe-results.md)

        return probe_pull.main(argv[2:])
    if argv[:2] == ["--cases", "original"]:
        argv = argv[2:]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--per-family", type=int, default=24)
    parser.add_argument(
        "--formats", nargs="+", default=["previous", "guarded", "reminder"], choices=list(FORMATS)
    )
    parser.add_argument("--placements", nargs="+", default=list(PLACEMENTS), choices=PLACEMENTS)
    parser.add_argument("--variants", nargs="*", help="format/placement pairs (default: all)")
    parser.add_argument(
        "--episode-placements", nargs="+", default=list(PLACEMENTS), choices=PLACEMENTS
    )
    parser.add_argument("--episode-format", default="reminder", choices=list(FORMATS))
    parser.add_argument(
        "--episode-system",
        choices=["short", "agent"],
        nargs="+",
        default=["short", "agent"],
        help="the cache episode's system prompt: the decisions' one line, or ~300 tokens",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18089)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-decisions", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("probe-results.json"))
    args = parser.parse_args(argv)
    server = start_server(args.model, port=args.port, threads=args.threads, n_ctx=8192)
    client = Client(f"http://127.0.0.1:{args.port}")
    pool = situations(args.per_family, args.seed)
    print(
        f"run: probe model={args.model.name} situations={len(pool)} seed={args.seed} "
        f"threads={args.threads} formats={','.join(args.formats)}"
    )
    started = time.perf_counter()
    variants = [(f, p) for f in args.formats for p in args.placements]
    if args.variants:
        variants = [tuple(v.split("/", 1)) for v in args.variants]  # type: ignore[misc]
        bad = [v for v in variants if v[0] not in FORMATS or v[-1] not in PLACEMENTS]
        if bad:
            parser.error(f"--variants: not format/placement: {bad}")
    progress = args.out.with_suffix(".partial.json")
    rows = [] if args.skip_decisions else run_decisions(client, pool, variants, progress)
    for line in report(rows) if rows else []:
        print(line)
    systems = {"short": SYSTEM, "agent": AGENT_SYSTEM}
    episodes = [
        {"system": name, **run_episode(client, p, args.episode_format, systems[name])}
        for name in args.episode_system
        for p in args.episode_placements
    ]
    for e in episodes:
        print(
            f"episode ({args.episode_format}/{e['placement']}, {e['system']} system prompt): "
            "cached/prompt = "
            f"{e['cached_tokens']}/{e['prompt_tokens']} = {e['ratio']:.2f}, "
            f"{e['seconds_per_step']:.2f} s per step, {e['last_step_seconds']:.2f} s at step 10"
        )
    print(
        f"outcomes: {dict(Counter((r['variant'], r['kind'], r['outcome']) for r in rows))}",
        file=sys.stderr,
    )
    print(f"took {time.perf_counter() - started:.0f} s")
    args.out.write_text(
        json.dumps({"model": args.model.name, "rows": rows, "episodes": episodes}, indent=1),
        encoding="utf-8",
    )
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
