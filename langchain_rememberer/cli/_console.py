"""What every command shares: the typer/rich import guard, the console, the error exit."""

from __future__ import annotations

import sys

try:
    import typer
    from rich.console import Console
except ImportError as e:  # pragma: no cover - exercised without the extra
    msg = "the rememberer CLI needs its extra: pip install 'langchain-rememberer[cli]'"
    raise ImportError(msg) from e

__all__ = ["console", "fail"]

console = Console(width=None if sys.stdout.isatty() else 140)


def fail(message: str) -> typer.Exit:
    """Print `message` as an error; the exit (code 2) to raise."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)
