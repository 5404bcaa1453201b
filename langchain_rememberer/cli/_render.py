"""Rich tables and JSON data of what the memory commands show; stored text is never markup."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table
from rich.text import Text

from langchain_rememberer._text import json_printable, printable
from langchain_rememberer.cli._console import console

if TYPE_CHECKING:
    from langchain_rememberer._records import LogRecord
    from langchain_rememberer.types import ActionValue, RetrievedState

__all__ = [
    "action_rows",
    "print_json",
    "print_state",
    "short",
    "state_data",
    "update_data",
]


def print_json(data: Any) -> None:
    """Print `data` as indented JSON, unwrapped and uncoloured (for scripts)."""
    typer.echo(json_printable(json.dumps(data, indent=2, ensure_ascii=False)))


def short(text: str, limit: int) -> str:
    """`text` on one line, printable (`_text.printable`), cut to `limit` characters."""
    line = printable(" ".join(text.split()))
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _when(timestamp: float) -> str:
    if timestamp <= 0:  # learned before runs recorded their time
        return "unknown"
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def state_data(state: RetrievedState, *, similarity: bool = False) -> dict[str, Any]:
    """A state as JSON data: id, task, observation, actions (highest Q first)."""
    data = state.model_dump(exclude=None if similarity else {"similarity"})
    data["visits"] = state.visits
    return data


def update_data(record: LogRecord) -> dict[str, Any]:
    """One log record (an update of a state) as JSON data."""
    return {
        "run_id": record.run_id,
        "step": record.step,
        "action": record.action,
        "target": record.target,
        "reward": record.reward,
        "answer": record.answer or None,
        "created_at": record.created_at,
    }


def action_rows(actions: Sequence[ActionValue]) -> Table:
    """A state's action table: action, Q, visits, last reward, best answer."""
    table = Table(title="actions", title_justify="left")
    table.add_column("action")
    for column in ("Q", "visits", "last reward"):
        table.add_column(column, justify="right", no_wrap=True)
    answers = any(a.answer for a in actions)
    if answers:
        table.add_column("best answer (its return)")
    for a in actions:
        row: list[Text | str] = [
            Text(printable(a.action)), f"{a.q:.3f}", str(a.visits), f"{a.last_reward:g}"
        ]  # fmt: skip
        if answers:
            value = "" if a.answer_value is None else f" ({a.answer_value:.3f})"
            row.append(Text(printable(f"{a.answer}{value}") if a.answer else ""))
        table.add_row(*row)
    return table


def _updates_table(updates: Sequence[LogRecord]) -> Table:
    table = Table(title="updates (the runs that produced it), in fold order", title_justify="left")
    table.add_column("run")
    for column in ("step", "action", "target", "reward", "at (UTC)"):
        table.add_column(column, justify="left" if column == "action" else "right")
    for r in updates:
        table.add_row(
            Text(printable(r.run_id)), str(r.step), Text(printable(r.action)), f"{r.target:.3f}",
            f"{r.reward:g}",
            _when(r.created_at),
        )  # fmt: skip
    return table


def print_state(
    state: RetrievedState,
    *,
    heading: str = "",
    updates: Sequence[LogRecord] | None = None,
) -> None:
    """Print a state whole: its id, task, observation, action table (and its updates)."""
    console.print(Text.assemble((heading or "state", "bold"), " ", (printable(state.id), "cyan")))
    console.print(Text.assemble(("task: ", "bold"), printable(state.task)))
    console.print(Text.assemble(("observation: ", "bold"), printable(state.observation)))
    console.print(action_rows(state.actions))
    if updates is not None:
        console.print(_updates_table(updates))
