"""The read-only memory commands: `namespaces`, `stats`, `top`, `search`, `show`.

None of them creates anything (see `_connect`), and none imports benchmark code but the
TextWorld observation key, lazily, for a benchmark memory (`--observation-key` other than
`full`). The repair commands are in `cli.repair`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
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
from langchain_rememberer.cli._console import EXIT_CODES, Command, console, err_console, fail
from langchain_rememberer.cli._inspect import find_state, iter_states, state_updates
from langchain_rememberer.cli._render import (
    print_json,
    print_state,
    short,
    state_data,
    update_data,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from langchain_rememberer.memory import RemembererMemory
    from langchain_rememberer.types import RetrievedState

__all__ = ["inspect_memory", "namespaces", "register", "search", "show", "stats", "top"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys) for scripts.")]
LegacyPath = Annotated[
    Path | None,
    typer.Argument(metavar="PATH", help="Deprecated: use --path.", hidden=True),
]
"""The positional PATH of the first releases' `stats` and `inspect`: hidden, still read."""
KeyOpt = Annotated[
    str,
    typer.Option(
        help="The observation key the memory was built with: full (the library's default) or a "
        "benchmark key, actions or room+actions (needs the bench extra)."
    ),
]
KEYS = ("full", "actions", "room+actions")


def key_function(name: str) -> Callable[[str], str] | None:
    """The memory's observation key by name (None: the library's default).

    Raises:
        typer.Exit: (code 2) an unknown name, or a benchmark key without the bench extra.
    """
    if name not in KEYS:
        raise fail(f"--observation-key {name!r}: choose from {', '.join(KEYS)}")
    if name == "full":
        return None
    try:  # a benchmark memory keyed by a TextWorld canonicaliser: only then is the bench loaded
        from langchain_rememberer.bench.textworld import observation_key as twx  # noqa: PLC0415
    except ImportError as e:
        raise fail(f"--observation-key {name}: needs the bench extra ({e})") from e
    return twx(name)  # type: ignore[arg-type]


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


def stats(  # noqa: PLR0917
    legacy_path: LegacyPath = None,
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
    if legacy_path is not None:
        err_console.print(
            Text("note: `rememberer stats PATH` is deprecated; use `rememberer stats --path "
                 "PATH --json`")
        )  # fmt: skip
    store = Store.chosen(path, url, collection_name, legacy=legacy_path)
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
    if as_json or legacy_path is not None:
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


RecordedKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--observation-key",
        help="The observation key: full (the library's default) or a benchmark key, actions or "
        "room+actions (needs the bench extra). Default: the one the memory recorded.",
    ),
]


def _retrieval_settings(
    memory: RemembererMemory,
    name: str,
    *,
    key: str | None = None,
    action_history: int | None = None,
    k: int | None = None,
    min_similarity: float | None = None,
    min_task_similarity: float | None = None,
) -> dict[str, Any]:
    """Give `memory` the settings the agent's retrieval used; return them by name.

    Each is the flag's value when given, else what the namespace recorded when it was
    learned into (`RemembererMemory.recorded_settings`), else the library's default.

    Raises:
        typer.Exit: (code 2) an unknown observation key, or a benchmark key without the
            bench extra.
    """
    from langchain_rememberer.config import RetrievalConfig  # noqa: PLC0415

    with reported_errors():
        recorded = memory.recorded_settings(namespace=name)
    if key is None:
        key = str(recorded.get("observation_key", "full"))
        if key not in KEYS:
            note = f"note: {name} was built with the observation key {key!r}, which the CLI cannot"
            err_console.print(Text(f"{note} rebuild; searching with full (see --observation-key)"))
            key = "full"
    memory.observation_key = key_function(key) or memory.observation_key
    memory.action_history = int(
        recorded.get("action_history", 0) if action_history is None else action_history
    )
    floors: dict[str, Any] = {
        "min_similarity": (
            min_similarity if min_similarity is not None else recorded.get("min_similarity")
        ),
        "min_task_similarity": (
            min_task_similarity
            if min_task_similarity is not None
            else recorded.get("min_task_similarity", memory.retrieval.min_task_similarity)
        ),
    }
    if floors["min_similarity"] is None:
        del floors["min_similarity"]
    memory.retrieval = RetrievalConfig(**floors)
    return {
        "observation_key": key,
        "action_history": memory.action_history,
        "k": k if k is not None else recorded.get("k", memory.retrieval.k),
        "min_similarity": memory.retrieval.min_similarity,
        "min_task_similarity": memory.retrieval.min_task_similarity,
    }


def _retrieved_data(
    name: str, task: str, observation: str, states: list[RetrievedState]
) -> dict[str, Any]:
    """What `search --json` prints (with the block, or without it with `--states`)."""
    return {
        "namespace": name,
        "task": task,
        "observation": observation,
        "states": [state_data(s, similarity=True) for s in states],
    }


def search(  # noqa: PLR0917
    task: Annotated[
        str, typer.Argument(metavar="TASK", help="The task, as the agent's run has it.")
    ],
    observation: Annotated[
        str | None,
        typer.Argument(
            metavar="OBSERVATION",
            help="The observation now (default: the task, as at a run's first step).",
        ),
    ] = None,
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    k: Annotated[
        int | None,
        typer.Option("-k", "--k", help="States to retrieve. Default: as recorded, else 2."),
    ] = None,
    observation_key: RecordedKeyOpt = None,
    action_history: Annotated[
        int | None,
        typer.Option(
            min=0, help="The memory's action_history (0: none). Default: as recorded, else 0."
        ),
    ] = None,
    after: Annotated[
        list[str] | None,
        typer.Option(
            help="An action the run took so far, oldest first (repeat; read when the "
            "action_history is not 0)."
        ),
    ] = None,
    min_similarity: Annotated[
        float | None,
        typer.Option(
            min=-1.0, max=1.0, help="The memory's floor. Default: as recorded, else 0.35."
        ),
    ] = None,
    min_task_similarity: Annotated[
        float | None,
        typer.Option(
            min=-1.0, max=1.0, help="The memory's task floor. Default: as recorded, else 0.4."
        ),
    ] = None,
    whole: Annotated[
        bool,
        typer.Option(
            "--states", help="Show each retrieved state whole (id, task, observation, actions)."
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print exactly the exemplar block an agent would be shown for (task, observation).

    The memory's settings (observation key, action history, k, floors) are those the
    namespace recorded when it was learned into, unless a flag gives another. The block goes
    to standard output unchanged (nothing when no state is similar enough: a note on standard
    error); `--states` prints each retrieved state whole instead. JSON keys: namespace, task,
    observation, states (what `memory.retrieve` returns: id, task, observation, similarity,
    actions, visits), settings (those used), block (not with `--states`).
    """
    store = Store.chosen(path, url, collection_name)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    settings = _retrieval_settings(
        memory, name, key=observation_key, action_history=action_history, k=k,
        min_similarity=min_similarity, min_task_similarity=min_task_similarity,
    )  # fmt: skip
    if after and not memory.action_history:
        raise fail(
            f"--after is read only when the action_history is not 0 ({name} recorded 0; "
            "give --action-history N)"
        )
    seen = task if observation is None else observation
    with reported_errors():
        states = memory.retrieve(
            task, seen, k=settings["k"], namespace=name, recent_actions=after or ()
        )
        block = memory.render(states)
    data = _retrieved_data(name, task, seen, states) | {"settings": settings}
    if as_json:
        print_json(data if whole else data | {"block": block})
    elif whole:
        if not states:
            err_console.print(Text(f"no state of {name} is similar enough"))
        for state in states:
            print_state(state, heading=f"similarity {state.similarity:.3f}, state")
    elif block:
        typer.echo(block)
    else:
        err_console.print(Text(f"nothing would be shown: no state of {name} is similar enough"))


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
    console.print(Text(f"{len(runs)} run(s): {', '.join(runs)}"))


def inspect_memory(  # noqa: PLR0917
    task: Annotated[str, typer.Option(help="The task to look up.")],
    legacy_path: LegacyPath = None,
    observation: Annotated[str, typer.Option(help="The observation (default: the task).")] = "",
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many states to show.")] = 3,
    observation_key: RecordedKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deprecated: `rememberer search TASK [OBSERVATION] --states` does the same."""
    err_console.print(
        Text("note: `rememberer inspect` is deprecated; use `rememberer search TASK "
             "[OBSERVATION] --states` (--path, not a positional PATH)")
    )  # fmt: skip
    store = Store.chosen(path, url, collection_name, legacy=legacy_path)
    memory = store.open()
    name = resolve_namespace(memory, store, namespace)
    _retrieval_settings(memory, name, key=observation_key)
    seen = observation or task
    with reported_errors():
        states = memory.retrieve(task, seen, k=k, namespace=name)
    if as_json:
        print_json(_retrieved_data(name, task, seen, states))
        return
    if not states:
        err_console.print(Text(f"no state of {name} is similar enough"))
    for state in states:
        print_state(state, heading=f"similarity {state.similarity:.3f}, state")


def register(app: typer.Typer) -> None:
    """Add the read-only memory commands to `app`, with the exit code table in their help."""
    for command, name in (
        (namespaces, "namespaces"), (stats, "stats"), (top, "top"), (search, "search"),
        (show, "show"),
    ):  # fmt: skip
        app.command(name=name, epilog=EXIT_CODES, cls=Command)(command)
    # The older name of `search --states`: kept working, out of the help.
    app.command(name="inspect", epilog=EXIT_CODES, cls=Command, hidden=True)(inspect_memory)
