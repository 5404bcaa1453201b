"""`rememberer lift`: does the memory help? The holdout experiment's estimate (docs/lift.md).

Read-only: it creates nothing. Task names are printed as plain `Text` (never rich markup), cut
to one line.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from langchain_rememberer.cli._connect import (
    CollectionOpt,
    NamespaceOpt,
    PathOpt,
    Store,
    UrlOpt,
    reported_errors,
    resolve_namespace,
)
from langchain_rememberer.cli._console import EXIT_CODES, console
from langchain_rememberer.cli._render import print_json, short

if TYPE_CHECKING:
    from langchain_rememberer.lift import Comparison, LiftReport

__all__ = ["lift", "register"]


def _label(text: str, limit: int = 50) -> str:
    """One line, its middle cut when long: tasks often differ only at their end."""
    line = short(text, 10_000)
    if len(line) <= limit:
        return line
    half = (limit - 1) // 2
    return line[:half] + "…" + line[-(limit - 1 - half) :]


def _mean(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(title: str, rows: list[Comparison], *, times: bool = False) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("", "runs with", "runs without", "mean with", "mean without", "lift", "95%"):
        table.add_column(column, justify="left" if not column else "right")
    for row in rows:
        label = _label(row.label)
        if times and row.start:
            start = datetime.fromtimestamp(row.start, tz=timezone.utc)
            label += f" (from {start:%Y-%m-%d %H:%M} UTC)"
        table.add_row(
            Text(label),
            str(row.memory.runs),
            str(row.control.runs),
            _mean(row.memory.mean),
            _mean(row.control.mean),
            "-" if row.difference is None else f"{row.difference:+.3f}",
            "-" if row.interval is None else row.interval.text(),
        )
    return table


def print_report(report: LiftReport) -> None:
    """The report for a person: the line, the arms, the intervals, per task, over time."""
    console.print(Text(report.summary(), style="bold"))
    lines = [
        f"with memory: {report.memory.runs} runs, mean reward {_mean(report.memory.mean)}",
        f"without (control): {report.control.runs} runs, mean reward {_mean(report.control.mean)}",
    ]
    if report.binary is not None:
        b = report.binary
        lines.append(
            f"success rate {b.memory_rate:.1%} vs {b.control_rate:.1%}: {b.difference:+.3f} "
            f"{b.interval.text()} (Newcombe), two-proportion test p = {b.p_value:.3g}"
        )
    if report.bootstrap is not None:
        lines.append(f"difference of means, BCa bootstrap 95%: {report.bootstrap.text()}")
    if report.sequential is not None:
        verdict = "excludes 0" if report.sequential_significant else "includes 0"
        lines.append(f"always-valid 95% (check any time): {report.sequential.text()}, {verdict}")
    if report.unassigned:
        lines.append(
            f"{report.unassigned} learned runs carry no arm (before the holdout): left out"
        )
    lines.append(report.note)
    for line in lines:
        console.print(Text(line))
    if report.by_task:
        console.print(_table("by task", report.by_task))
    if report.over_time:
        console.print(_table("over time (windows of runs)", report.over_time, times=True))


def lift(  # noqa: PLR0917 (each a documented option)
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    min_effect: Annotated[
        float | None,
        typer.Option(help="The smallest lift worth knowing about (plans the runs needed)."),
    ] = None,
    windows: Annotated[int, typer.Option(min=1, help="Windows of runs over time.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Does the memory help? Runs, mean reward per arm, the lift with its 95% interval.

    Needs runs learned with a holdout (`RemembererMemory(..., holdout=0.1)`). JSON: every
    field of `LiftReport` and its `summary` line.
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        report = memory.lift(namespace=name, min_effect=min_effect, windows=windows)
    if as_json:
        print_json(json.loads(report.to_json()))
        return
    print_report(report)


def register(app: typer.Typer) -> None:
    """Add `lift` to `app`."""
    app.command(name="lift", epilog=EXIT_CODES)(lift)
