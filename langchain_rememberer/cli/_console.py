"""What every command shares: the typer/rich import guard, the consoles, exit codes, errors."""

from __future__ import annotations

import sys
from typing import Any

try:
    import typer
    from rich.console import Console
    from rich.text import Text
    from typer.core import TyperCommand, TyperGroup
except ImportError as e:  # pragma: no cover - exercised without the extra
    msg = (
        "the rememberer CLI needs its extra: from a clone of the repository, "
        "pip install -e '.[cli]'"
    )
    raise ImportError(msg) from e

from langchain_rememberer._text import printable

__all__ = [
    "EXIT_CODES",
    "EXIT_DECLINED",
    "EXIT_OK",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "Command",
    "Group",
    "console",
    "err_console",
    "fail",
]

console = Console(width=None if sys.stdout.isatty() else 140)
"""Standard output: results (tables, JSON, the exemplar block)."""
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 140)
"""Standard error: errors and notes, so that a command's standard output stays its result."""

EXIT_OK = 0
"""The command did what it was asked."""
EXIT_STORAGE = 1
"""The memory could not be read or written: the storage is unreachable or failed, or the
namespace was written with embeddings of another size than the CLI's."""
EXIT_USAGE = 2
"""Bad usage or input: typer's own usage errors, an unknown path, namespace, state or run, an
invalid value, a file that is not an export or a reference pool. Nothing was changed."""
EXIT_DECLINED = 3
"""`clear` was not confirmed (answered no, or no answer): nothing was deleted."""

EXIT_CODES = (
    "Exit codes: 0 done; 1 storage error (unreachable, failed, or other embeddings); "
    "2 bad usage or input (unknown path, namespace, state or run; nothing changed); "
    "3 not confirmed (clear; nothing deleted)."
)
"""The exit code table, as the commands' help shows it (docs/inspect-and-repair.md)."""


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    """Print `message` as an error on standard error; the exit (default code 2) to raise.

    The message is printed as plain text: paths, names and stored text are never read as
    rich markup.
    """
    err_console.print(Text.assemble(("error:", "red"), " ", printable(message)), soft_wrap=True)
    return typer.Exit(code)


def _no_flag_types(params: list[Any]) -> list[Any]:
    """`params`, each flag showing no type in the help (typer shows `<bool>`)."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # shown instead of the type: nothing
    return params


class Command(TyperCommand):
    """A command whose help shows no typer placeholders: `TASK`, not `{TASK}`; no `<bool>`.

    typer writes a required argument as `{NAME}` in the usage line and a flag's type as
    `<bool>`; plain `NAME` and nothing read better, as click has them.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters, `--help` included; flags without a type."""
        return _no_flag_types(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        """The usage line's pieces: a required argument as `NAME` (not `{NAME}`), none hidden."""
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if not getattr(param, "hidden", False):
                pieces.extend(param.get_usage_pieces(ctx))
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


class Group(TyperGroup):
    """The `rememberer` group: its own options' flags without `<bool>`, as `Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        """The parameters, `--help` included; flags without a type."""
        return _no_flag_types(super().get_params(ctx))
