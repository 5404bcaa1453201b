"""`rememberer stats` and `rememberer inspect`: look inside a memory. No benchmark code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from langchain_rememberer.cli._console import console
from langchain_rememberer.cli._console import fail as _fail
from langchain_rememberer.errors import RemembererError

__all__ = ["inspect_memory", "register", "stats"]


def _existing(path: Path) -> Path:
    """A memory directory that exists; inspecting must not create an empty one by mistake."""
    if not (path / "chroma.sqlite3").is_file():
        console.print(f"[red]error:[/red] no memory at {path} (expected a Chroma directory)")
        raise typer.Exit(2)
    return path


def stats(
    path: Annotated[Path, typer.Argument(help="A memory directory (Chroma).")],
    namespace: Annotated[str, typer.Option(help="Namespace to count.")] = "default",
) -> None:
    """Count the states, updates and pending episodes of a memory namespace."""
    from langchain_rememberer.memory import RemembererMemory  # noqa: PLC0415

    try:
        memory = RemembererMemory(path=_existing(path), namespace=namespace)
        console.print_json(json.dumps(memory.stats().model_dump()))
    except RemembererError as e:
        raise _fail(str(e)) from e


def inspect_memory(  # noqa: PLR0917
    path: Annotated[Path, typer.Argument(help="A memory directory (Chroma).")],
    task: Annotated[str, typer.Option(help="The task to look up.")],
    observation: Annotated[str, typer.Option(help="The observation to look up.")] = "",
    namespace: Annotated[str, typer.Option(help="Namespace to search.")] = "default",
    k: Annotated[int, typer.Option("-k", help="How many states to show.")] = 3,
    observation_key: Annotated[
        str,
        typer.Option(
            help="Key the memory was built with: full (the library's default) or a benchmark "
            "key (actions, room+actions; needs the bench extra)."
        ),
    ] = "full",
) -> None:
    """Show the stored states most similar to (task, observation) with their action tables."""
    from langchain_rememberer.memory import RemembererMemory  # noqa: PLC0415

    key = None  # the library's default key
    if observation_key != "full":
        # A benchmark memory keyed by a TextWorld canonicaliser: only then is the bench loaded.
        from langchain_rememberer.bench.textworld import observation_key as twx  # noqa: PLC0415

        key = twx(observation_key)  # type: ignore[arg-type]
    try:
        memory = RemembererMemory(path=_existing(path), namespace=namespace, observation_key=key)
        states = memory.retrieve(task, observation or task, k=k)
    except RemembererError as e:
        raise _fail(str(e)) from e
    if not states:
        console.print("No stored state in this namespace.")
    for state in states:
        table = Table(title=f"similarity {state.similarity:.3f}: {state.observation[:100]}")
        for column in ("action", "Q", "visits"):
            table.add_column(column)
        for action in state.actions:
            table.add_row(action.action, f"{action.q:.3f}", str(action.visits))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add `stats` and `inspect` to `app`."""
    app.command()(stats)
    app.command(name="inspect")(inspect_memory)
