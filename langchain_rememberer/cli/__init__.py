"""The `rememberer` command: look inside and repair a memory; `demo`, `bench` (the benchmark).

Needs the `cli` extra (from a clone: `pip install -e ".[cli]"`; `.[bench]` for `demo`/`bench`).
The memory commands live in `cli.memory` (read-only) and `cli.repair` and import no benchmark code;
`build_app(with_bench=False)` is the app without `demo`/`bench`, which `main()` uses when a
memory command is invoked, so `rememberer stats` does not load TextWorldExpress or the
benchmark. `python -m langchain_rememberer.cli` is the same command.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from langchain_rememberer._text import printable
from langchain_rememberer.cli import lift, memory, repair
from langchain_rememberer.cli._console import EXIT_CODES, EXIT_USAGE, Group, fail
from langchain_rememberer.types import is_encodable

__all__ = ["MEMORY_COMMANDS", "build_app", "main"]

MEMORY_COMMANDS = (
    "namespaces", "stats", "top", "search", "show", "lift",
    "export", "import", "forget", "rebuild", "compact", "clear", "migrate",
)  # fmt: skip
"""Commands that need only the memory."""


def build_app(*, with_bench: bool = True) -> typer.Typer:
    """The typer app: the memory commands, and the benchmark commands unless `with_bench=False`."""
    app = typer.Typer(
        help="REMEMBERER experience memory: look inside and repair a memory; demo, benchmark.",
        epilog=EXIT_CODES,
        no_args_is_help=True,
        rich_markup_mode="markdown",
        cls=Group,
    )
    memory.register(app)
    repair.register(app)
    lift.register(app)
    if with_bench:
        # Loaded here, not at import: the benchmark is an optional extra with heavy imports.
        from langchain_rememberer.cli import bench  # noqa: PLC0415

        bench.register(app)
    return app


def __getattr__(name: str) -> Any:
    """`cli.app`: the full app (as before), built on first use."""
    if name == "app":
        return build_app()
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)


def _undecodable(argument: str) -> int:
    """Say which argument holds undecodable bytes; the usage exit code."""
    fail(f"the argument {printable(ascii(argument))} is not valid text (undecodable bytes)")
    return EXIT_USAGE


def main() -> None:
    """Entry point of the `rememberer` script."""
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    undecodable = [a for a in sys.argv[1:] if not is_encodable(a)]
    if undecodable:
        raise SystemExit(_undecodable(undecodable[0]))
    try:
        build_app(with_bench=command not in MEMORY_COMMANDS)()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
