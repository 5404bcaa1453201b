"""What a `demo` or `bench` run leaves behind: its `summary.md`, its command, what Ctrl-C kept.

Imported only with the benchmark commands (`cli.bench`).
"""

from __future__ import annotations

import os
import platform
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from langchain_rememberer import __version__
from langchain_rememberer.cli._connect import Store, namespaces_of
from langchain_rememberer.cli._console import console
from langchain_rememberer.errors import RemembererError

__all__ = ["demo_command", "interrupted", "summary_markdown"]


def interrupted(memory_path: Path | None, out: Path) -> typer.Exit:
    """Say what a run stopped by Ctrl-C left behind; the exit (code 130) to raise."""
    console.print(f"[yellow]interrupted:[/yellow] no results written to {out} (the run was cut)")
    if memory_path is None or not (memory_path / "chroma.sqlite3").is_file():
        return typer.Exit(130)  # the benchmark keeps its memories in memory: nothing was kept
    where = shlex.quote(str(memory_path))
    try:
        memory = Store(memory_path).open()
        counts = {name: memory.stats(namespace=name) for name in namespaces_of(memory)}
    except (typer.Exit, RemembererError):  # the error is printed; the exit stays 130
        unread = f"  the memory {memory_path} could not be read (`rememberer stats --path {where}`)"
        console.print(unread, markup=False, highlight=False, soft_wrap=True)
        return typer.Exit(130)
    for name, counted in counts.items():
        console.print(
            f"  kept: the memory {memory_path}, namespace {name}: {counted.states} states, "
            f"{counted.updates} updates (rememberer stats --path {where})",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    return typer.Exit(130)


def demo_command(  # noqa: PLR0917
    out: Path = Path("rememberer-demo"),
    epochs: int = 3,
    train_seeds: int = 10,
    test_seeds: int = 50,
    seed: int = 0,
    model: str | None = None,
    base_url: str | None = None,
) -> str:
    """The `rememberer demo` command line of these settings, every one spelled out.

    Without arguments: the demo's defaults, as `summary.md` of a default run shows them.
    """
    return " ".join([
        "rememberer demo", "--out", shlex.quote(str(out)), "--epochs", str(epochs),
        "--train-seeds", str(train_seeds), "--test-seeds", str(test_seeds), "--seed", str(seed),
        *(["--model", shlex.quote(model)] if model else []),
        *(["--base-url", shlex.quote(base_url)] if base_url else []),
    ])  # fmt: skip


def summary_markdown(
    result: dict[str, Any], *, command: str, seconds: float, when: datetime, policy: str
) -> str:
    """The run's summary as Markdown: its command, when, how long, and the success table.

    The demo writes it to `summary.md` beside `results.json`; docs/demo-and-benchmark.md
    shows one as it was written.
    """
    epochs = result["config"]["epochs"]
    header = ["method", *(f"held-out, epoch {e}" for e in range(1, epochs + 1)), "recurring"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    for name, data in result["methods"].items():
        cells = [_rate(e["eval"]) for e in data["epochs"]]
        lines.append("| " + " | ".join([name, *cells, _rate(data["recurring"])]) + " |")
    return "\n".join([
        f"Command: `{command}`",
        f"Run: {when:%Y-%m-%d %H:%M} UTC, {seconds:.0f} s on {os.cpu_count()} CPU(s), "
        f"langchain-rememberer {__version__}, Python {platform.python_version()}",
        f"Policy: {policy}",
        "",
        "Success rate [95% interval] over the games played:",
        "",
        *lines,
        "",
    ])  # fmt: skip


def _rate(summary: dict[str, Any]) -> str:
    low, high = summary["success_ci"]
    return f"{summary['success']:.2f} [{low:.2f}, {high:.2f}]"
