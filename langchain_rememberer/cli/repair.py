"""The memory commands that write: `export`, `import`, `forget`, `rebuild`, `compact`, `migrate`.

Each works through the memory's public methods. `export` writes a file and leaves the memory as
it is; `forget`, `rebuild`, `clear` and `migrate` need an existing store and namespace; `import`
may create both (it is how a backup is restored into a new store).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.text import Text

from langchain_rememberer.cli._connect import (
    CollectionOpt,
    NamespaceOpt,
    PathOpt,
    Store,
    UrlOpt,
    namespaces_of,
    reported_errors,
    resolve_namespace,
)
from langchain_rememberer.cli._console import (
    EXIT_CODES,
    EXIT_DECLINED,
    Command,
    console,
    err_console,
    fail,
)
from langchain_rememberer.cli._render import print_json
from langchain_rememberer.cli.search import JsonOpt, KeyOpt, key_function

__all__ = [
    "clear",
    "compact",
    "export",
    "forget",
    "import_file",
    "migrate",
    "rebuild",
    "register",
]


def _say(message: str) -> None:
    console.print(Text(message), soft_wrap=True)


def export(
    file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The JSON-lines file to write (replaced).")
    ],
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
) -> None:
    """Write a namespace's update log (the source of truth) as JSON lines, for `import`."""
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors(on_os_error=lambda e: f"cannot write {file}: {e.strerror or e}"):
        written = memory.export_jsonl(file, namespace=name)
    _say(f"{written} updates of namespace {name} written to {file}")


def _file_kind(file: Path, given: str) -> Literal["jsonl", "reference"]:
    if given not in ("auto", "jsonl", "reference"):
        raise fail(f"--format {given!r}: choose from auto, jsonl, reference")
    if given != "auto":
        return given  # type: ignore[return-value]
    return "reference" if file.suffix.lower() in (".yaml", ".yml") else "jsonl"


def _check_file(file: Path, kind: str) -> None:
    """Read the file once before a new store is created for it: a bad file creates nothing."""
    from langchain_rememberer import reference, transfer  # noqa: PLC0415

    with reported_errors(on_os_error=lambda e: f"cannot read {file}: {e.strerror or e}"):
        if kind == "reference":
            reference.load_pool(file)
        else:
            transfer.read_export(file)


def import_file(  # noqa: PLR0917
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE", help="An `export` file (JSON lines) or a reference YAML pool."
        ),
    ],
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    file_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="auto (.yaml/.yml: a reference pool; else JSON lines), "
            "jsonl, or reference (OpenDFM/Rememberer's YAML pools).",
        ),
    ] = "auto",
    observation_key: KeyOpt = "full",
) -> None:
    """Load an `export` file or a reference pool; records already there are skipped.

    Creates the store and the namespace when they do not exist; without --namespace, the
    store's only namespace ("default" in a store without any).
    """
    if not file.is_file():
        raise fail(f"no file {file}")
    kind = _file_kind(file, file_format)
    store = Store.chosen(path, url, collection_name)
    if store.path is not None and not (store.path / "chroma.sqlite3").is_file():
        _check_file(file, kind)
    memory = store.open(create=True, observation_key=key_function(observation_key))
    name = resolve_namespace(memory, store, namespace, create=True)
    with reported_errors(on_os_error=lambda e: f"cannot read {file}: {e.strerror or e}"):
        if kind == "reference":
            states = memory.import_reference_pool(file, namespace=name)
            _say(f"{states} states of the reference pool {file} imported into namespace {name}")
        else:
            new = memory.import_jsonl(file, namespace=name)
            _say(f"{new} new updates of {file} imported into namespace {name}")


def forget(
    run: Annotated[str, typer.Option("--run", help="The run id whose updates to remove.")],
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
) -> None:
    """Remove one run's updates (and its pending episode), re-folding the states it touched.

    An unknown run id (no update and no pending episode in the namespace) is an error (2).
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        pending = run in memory.pending_runs(namespace=name)
        removed = memory.forget_run(run, namespace=name)
    if not removed and not pending:
        raise fail(f"no update or pending episode of run {run!r} in namespace {name!r}")
    also = " and its pending episode" if pending else ""
    _say(f"forgot run {run}: {removed} updates{also} removed from namespace {name}")


def rebuild(
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
) -> None:
    """Re-fold every state table of a namespace from its update log (repair)."""
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        states = memory.rebuild(namespace=name)
    _say(f"rebuilt namespace {name}: {states} states with updates")


def compact(
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
) -> None:
    """Fold pending updates into their rows; finish runs a killed process left half-written."""
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        done = memory.compact(namespace=name)
    _say(
        f"compacted namespace {name}: {done.states} states settled, "
        f"{done.updates_archived} pending slots folded"
    )


def clear(
    namespace: Annotated[
        str, typer.Option("--namespace", "-n", help="The namespace to delete (required).")
    ],
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Delete without asking.")] = False,
) -> None:
    """Delete one namespace (states, update log, pending episodes); asks first unless --yes.

    Other namespaces are untouched. Not confirmed (an answer other than yes, or no answer at
    all): nothing is deleted, exit code 3.
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    if not yes:
        question = (
            f"Delete namespace {name!r} at {store.where}: its states, update log and pending "
            "episodes?"
        )
        try:
            confirmed = typer.confirm(question, default=False)
        except typer.Abort:  # no answer (end of input)
            confirmed = False
        if not confirmed:
            err_console.print(Text("not confirmed: nothing deleted"))
            raise typer.Exit(EXIT_DECLINED)
    with reported_errors():
        memory.clear(namespace=name)
    _say(f"deleted namespace {name} at {store.where}")


def migrate(  # noqa: PLR0917
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    every: Annotated[bool, typer.Option("--all", help="Every namespace of the store.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done; write nothing.")
    ] = False,
    drop_old: Annotated[
        bool,
        typer.Option(
            "--drop-old", help="Delete the old collections (else kept as <name>.schema1)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Upgrade namespaces written by 0.1 (storage schema 1) in place; try --dry-run first.

    Each complete run is learned once with its stored targets and pending episodes are carried
    over. Running it again is safe: a killed migration is completed, a current namespace has
    nothing to migrate (docs/migrating.md).
    """
    if every and namespace is not None:
        raise fail("give --namespace or --all, not both")
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    if every:
        with reported_errors():
            names = namespaces_of(memory)
        if not names:
            raise fail(f"no namespace at {store.where} (collection_name {collection_name!r})")
    else:
        names = [resolve_namespace(memory, store, namespace)]
    reports = []
    with reported_errors():
        for name in names:
            reports.append(memory.migrate(name, dry_run=dry_run, drop_old=drop_old))
            if not as_json:
                _say(reports[-1].summary())
    if as_json:
        print_json({"dry_run": dry_run, "namespaces": [asdict(r) for r in reports]})


def register(app: typer.Typer) -> None:
    """Add the memory commands that write to `app`, with the exit code table in their help."""
    for command, name in (
        (export, "export"), (import_file, "import"), (forget, "forget"), (rebuild, "rebuild"),
        (compact, "compact"), (clear, "clear"), (migrate, "migrate"),
    ):  # fmt: skip
        app.command(name=name, epilog=EXIT_CODES, cls=Command)(command)
