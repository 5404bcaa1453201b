"""`rememberer search`: the exemplar block (or the states) an agent would get, as it got them.

The memory's retrieval settings are those the namespace recorded when it was learned into
(`RemembererMemory.recorded_settings`), a flag overriding each. Imports no benchmark code but
the TextWorld observation key, lazily, for a benchmark memory (`actions`, `room+actions`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from langchain_rememberer._text import printable
from langchain_rememberer.cli._connect import (
    CollectionOpt,
    NamespaceOpt,
    PathOpt,
    Store,
    UrlOpt,
    reported_errors,
    resolve_namespace,
)
from langchain_rememberer.cli._console import err_console, fail
from langchain_rememberer.cli._render import print_json, print_state, state_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from langchain_rememberer.memory import RemembererMemory
    from langchain_rememberer.types import RetrievedState

__all__ = ["KEYS", "JsonOpt", "KeyOpt", "key_function", "search"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable keys) for scripts.")]
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


TaskArg = Annotated[
    str, typer.Argument(metavar="TASK", help="The task, as the agent's run has it.")
]
ObservationArg = Annotated[
    str | None,
    typer.Argument(
        metavar="OBSERVATION",
        help="The observation now (default: the task, as at a run's first step).",
    ),
]
KOpt = Annotated[
    int | None,
    typer.Option("-k", "--k", help="States to retrieve. Default: as recorded, else 2."),
]
HistoryOpt = Annotated[
    int | None,
    typer.Option(
        min=0, help="The memory's action_history (0: none). Default: as recorded, else 0."
    ),
]
AfterOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="An action the run took so far, oldest first (repeat; read when the action_history "
        "is not 0)."
    ),
]
FloorOpt = Annotated[
    float | None,
    typer.Option(min=-1.0, max=1.0, help="The memory's floor. Default: as recorded, else 0.35."),
]
TaskFloorOpt = Annotated[
    float | None,
    typer.Option(
        min=-1.0, max=1.0, help="The memory's task floor. Default: as recorded, else 0.4."
    ),
]
StatesOpt = Annotated[
    bool,
    typer.Option(
        "--states", help="Show each retrieved state whole (id, task, observation, actions)."
    ),
]


def search(  # noqa: PLR0917
    task: TaskArg,
    observation: ObservationArg = None,
    path: PathOpt = None,
    url: UrlOpt = None,
    collection_name: CollectionOpt = "rememberer",
    namespace: NamespaceOpt = None,
    k: KOpt = None,
    observation_key: RecordedKeyOpt = None,
    action_history: HistoryOpt = None,
    after: AfterOpt = None,
    min_similarity: FloorOpt = None,
    min_task_similarity: TaskFloorOpt = None,
    whole: StatesOpt = False,
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
        _print_states(name, states)
    elif block:
        typer.echo(printable(block, keep_newlines=True))
    else:
        err_console.print(Text(f"nothing would be shown: no state of {name} is similar enough"))


def _print_states(name: str, states: list[RetrievedState]) -> None:
    """Each retrieved state whole, with its similarity (a note when there is none)."""
    if not states:
        err_console.print(Text(f"no state of {name} is similar enough"))
    for state in states:
        print_state(state, heading=f"similarity {state.similarity:.3f}, state")
