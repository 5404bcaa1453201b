"""The read-only memory commands: `namespaces`, `stats`, `top`, `search`, `show`.

None of them creates anything (see `_connect`), and none imports benchmark code but the
TextWorld observation key, lazily, for a benchmark memory (`--observation-key` other than
`full`). The repair commands are in `cli.repair`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from langchain_rememberer._text import printable
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
from langchain_rememberer.cli._console import EXIT_CODES, Command, console, err_console, fail
from langchain_rememberer.cli._inspect import find_state, iter_states, state_updates
from langchain_rememberer.cli._render import (
    print_json,
    print_state,
    short,
    state_data,
    update_data,
)
from langchain_rememberer.cli.search import JsonOpt, search

if TYPE_CHECKING:
    from langchain_rememberer.memory import RemembererMemory
    from langchain_rememberer.types import RetrievedState

__all__ = ["namespaces", "register", "show", "stats", "top"]


def namespaces(
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    as_json: JsonOpt = False,
) -> None:
    """List the namespaces of a memory (JSON: collection_name, namespaces)."""
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    with reported_errors():
        names = namespaces_of(memory)
    if as_json:
        print_json({"collection_name": collection_name, "namespaces": names})
        return
    if not names:
        err_console.print(Text(f"no namespace at {store.where} (collection {collection_name!r})"))
    for name in names:
        console.print(Text(name))


def stats(
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Count a namespace's states, actions, updates, pending episodes; the size on disk.

    JSON keys: namespace, states, actions, updates, pending, task_weight, size_on_disk_bytes
    (the whole database directory; null for a server), path, url.
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        counted = memory.stats(namespace=name)
        actions = sum(len(s.actions) for s in iter_states(memory, name))
    data: dict[str, Any] = {
        "namespace": name,
        "states": counted.states,
        "actions": actions,
        "updates": counted.updates,
        "pending": counted.pending,
        "task_weight": counted.task_weight,
        "size_on_disk_bytes": store.size_on_disk(),
        "path": None if store.path is None else str(store.path),
        "url": None if store.path is not None else store.where,
    }
    if as_json:
        print_json(data)
        return
    table = Table(
        title=f"namespace {name} at {store.where}", title_justify="left", show_header=False
    )
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in ("states", "actions", "updates", "pending", "task_weight"):
        table.add_row(key.replace("_", " "), str(data[key]))
    size = data["size_on_disk_bytes"]
    table.add_row(
        "size on disk",
        "n/a (a server)" if size is None else f"{size / 2**20:.1f} MiB (the whole database)",
    )
    console.print(table)


def top(  # noqa: PLR0917
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    count: Annotated[int, typer.Option("--count", min=1, help="Rows of each table.")] = 10,
    min_visits: Annotated[int, typer.Option(min=1, help="Leave out rarer actions.")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """The best and worst actions of a namespace (by Q), with their visits and states.

    JSON keys: namespace, best, worst; each row: state_id, task, observation, action, q,
    visits, last_reward.
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        rows: list[dict[str, Any]] = [
            {"state_id": s.id, "task": s.task, "observation": s.observation, "action": a.action,
             "q": a.q, "visits": a.visits, "last_reward": a.last_reward}
            for s in iter_states(memory, name)
            for a in s.actions
            if a.visits >= min_visits
        ]  # fmt: skip
    best = sorted(rows, key=lambda r: (-r["q"], -r["visits"], r["state_id"], r["action"]))[:count]
    worst = sorted(rows, key=lambda r: (r["q"], -r["visits"], r["state_id"], r["action"]))[:count]
    if as_json:
        print_json({"namespace": name, "best": best, "worst": worst})
        return
    for title, chosen in ((f"best actions in {name}", best), (f"worst actions in {name}", worst)):
        table = Table(title=title, title_justify="left")
        for column in ("Q", "visits", "action", "task", "observation", "state"):
            table.add_column(column, justify="right" if column in ("Q", "visits") else "left")
        for r in chosen:
            table.add_row(
                f"{r['q']:.3f}", str(r["visits"]), Text(short(r["action"], 40)),
                Text(short(r["task"], 40)), Text(short(r["observation"], 50)),
                r["state_id"][:12],
            )  # fmt: skip
        console.print(table)


def _one_state(memory: RemembererMemory, name: str, state_id: str) -> RetrievedState:
    """The state of that id, or of the one id starting with it.

    Raises:
        typer.Exit: (code 2) no state has that id (or start), or several start with it.
    """
    if not state_id.strip():
        raise fail("give a state id (or the start of one)")
    state, matches = find_state(memory, name, state_id)
    if state is not None:
        return state
    if matches:
        listed = ", ".join(m[:16] for m in matches[:5]) + (", ..." if len(matches) > 5 else "")
        msg = f"{len(matches)} states of {name} start with {state_id!r} ({listed}); give more"
        raise fail(f"{msg} of the id")
    raise fail(f"no state {state_id!r} in namespace {name!r} (`top` and `search --json` show ids)")


def show(  # noqa: PLR0917
    state_id: Annotated[
        str, typer.Argument(metavar="STATE_ID", help="A state id, or the start of one.")
    ],
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one state whole: task, observation, action table and the updates that made it.

    JSON keys: namespace, id, task, observation, actions (action, q, visits, last_reward,
    answer, answer_value), visits, updates (run_id, step, action, target, reward, answer,
    created_at), runs (their run ids, first seen first).
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    with reported_errors():
        state = _one_state(memory, name, state_id)
        updates = state_updates(memory, name, state.id)
    runs = list(dict.fromkeys(r.run_id for r in updates))
    if as_json:
        extra = {"updates": [update_data(r) for r in updates], "runs": runs}
        print_json({"namespace": name, **state_data(state), **extra})
        return
    print_state(state, heading=f"namespace {name}, state", updates=updates)
    console.print(Text(printable(f"{len(runs)} run(s): {', '.join(runs)}")))


def register(app: typer.Typer) -> None:
    """Add the read-only memory commands to `app`, with the exit code table in their help."""
    for command, name in (
        (namespaces, "namespaces"), (stats, "stats"), (top, "top"), (search, "search"),
        (show, "show"),
    ):  # fmt: skip
        app.command(name=name, epilog=EXIT_CODES, cls=Command)(command)
