"""`rememberer demo` and `rememberer bench`: the TextWorldExpress benchmark (the `bench` extra).

Imported only when one of these commands runs (see `cli.build_app`): the benchmark stack
(TextWorldExpress, a JVM, the stand-in policy) is not loaded for the memory commands.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import shlex
import textwrap
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.bench.agent import ModelFailedError
from langchain_rememberer.bench.config import METHODS, BenchConfig
from langchain_rememberer.bench.protocol import run_bench
from langchain_rememberer.bench.textworld import EnvUnavailableError
from langchain_rememberer.cli._console import Command, console
from langchain_rememberer.cli._console import fail as _fail
from langchain_rememberer.cli._runs import demo_command, interrupted, summary_markdown

__all__ = ["bench", "demo", "register"]


def field_help(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass: the CLI help of its option."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, after in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = normalize_whitespace(after.value.value)
    return docs


HELP = field_help(BenchConfig)
D = BenchConfig()


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    )


def _total_episodes(config: BenchConfig) -> int:
    per_method = config.epochs * (config.train_seeds + config.test_seeds) + config.train_seeds
    return per_method * len(config.methods)


def _run(config: BenchConfig, model: Any, out: Path) -> dict[str, Any]:
    """Run the benchmark with a progress bar; Ctrl-C says what was kept (exit code 130)."""
    try:
        return _run_with_progress(config, model)
    except KeyboardInterrupt:
        memory = None if config.memory_path is None else Path(config.memory_path)
        raise interrupted(memory, out) from None


def _run_with_progress(config: BenchConfig, model: Any = None) -> dict[str, Any]:
    wins: dict[str, list[int]] = {}
    with _progress() as progress:
        bar = progress.add_task("episodes", total=_total_episodes(config), status="")

        def report(method: str, phase: str, result: Any) -> None:
            seen = wins.setdefault(f"{method} {phase}", [])
            seen.append(int(result.success))
            rate = sum(seen) / len(seen)
            status = f"{method}, {phase}: success {rate:.2f} ({len(seen)} games)"
            progress.update(bar, advance=1, status=status)

        try:
            return run_bench(config, report, model=model)
        except (EnvUnavailableError, ModelFailedError) as e:
            console.print(f"[red]error:[/red] {e}")
            raise typer.Exit(2) from e


def _writable_dir(path: Path, flag: str) -> Path:
    """Create the output directory now, so a bad path fails before a long run, not after."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".rememberer-write-check"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise _fail(f"{flag} {path}: cannot write there ({e.strerror or e})") from e
    return path


def _config(**settings: Any) -> BenchConfig:
    try:
        return BenchConfig(**settings)
    except ValueError as e:
        raise _fail(str(e)) from e


def _table(result: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("method", no_wrap=True)
    epochs = result["config"]["epochs"]
    for epoch in range(1, epochs + 1):
        table.add_column(f"held-out, epoch {epoch}", justify="right", no_wrap=True)
    table.add_column("recurring", justify="right", no_wrap=True)
    table.add_column("ms/step (env)", justify="right", no_wrap=True)
    for name, data in result["methods"].items():
        cells = []
        for e in data["epochs"]:
            low, high = e["eval"]["success_ci"]
            cells.append(f"{e['eval']['success']:.2f} [{low:.2f}, {high:.2f}]")
        rec = data["recurring"]
        timing = data["timing"]
        table.add_row(
            name,
            *cells,
            f"{rec['success']:.2f} [{rec['success_ci'][0]:.2f}, {rec['success_ci'][1]:.2f}]",
            f"{timing['total_ms_per_step']:.1f} ({timing['env_ms_per_step']:.2f})",
        )
    return table


def _save(result: dict[str, Any], out: Path) -> tuple[Path, Path | None]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    path.write_text(json.dumps(result, indent=2))
    try:
        from langchain_rememberer.bench.plotting import plot_learning_curves  # noqa: PLC0415

        png: Path | None = plot_learning_curves(result, out / "learning_curve.png")
    except ImportError as e:
        console.print(f"[yellow]no plot:[/yellow] {e}")
        png = None
    return path, png


def _model(model: str | None, base_url: str | None, api_key: str | None) -> Any:
    if not model and not base_url:
        return None
    from langchain_rememberer.bench.policies import load_chat_model  # noqa: PLC0415

    try:
        return load_chat_model(model, base_url=base_url, api_key=api_key)
    except Exception as e:  # a missing provider package, an unknown provider, bad settings
        raise _fail(f"cannot create the chat model {model or base_url!r}: {e}") from e


ModelOpt = Annotated[
    str | None,
    typer.Option(help="A chat model as provider:name (init_chat_model); default: the offline "
                 "stand-in policy, not an LLM."),
]  # fmt: skip
BaseUrlOpt = Annotated[
    str | None, typer.Option(help="An OpenAI-compatible endpoint (ChatOpenAI base_url).")
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(help="Key for --base-url (default: $OPENAI_API_KEY, else none, as local "
                 "servers need none)."),
]  # fmt: skip


DEMO_GAME = (
    "twx:mapreader",
    "numLocations=4,maxDistanceApart=1,maxDistractorItemsPerLocation=0,includeDoors=0,"
    "limitInventorySize=0",
)
"""The demo's game: fetch a coin from a nearby room and put it in the box (30 steps)."""


def _print_inspect_hint(path: Path, task: str | None) -> None:
    """The commands that look inside the demo's memory (it recorded the settings it used)."""
    where = shlex.quote(str(path / "chroma"))
    console.print(
        "Look at what was learned (docs/inspect-and-repair.md):\n"
        f"  rememberer stats --path {where}\n"
        f"  rememberer top --path {where}\n"
        f"  rememberer search --path {where} {shlex.quote(task or 'Your task is ...')} 'Valid "
        "actions: inventory | look around | move east | read map | take coin | task'",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )


def demo(  # noqa: PLR0917
    out: Annotated[
        Path, typer.Option(help="The output folder: results, summary, plot and the memory.")
    ] = Path("rememberer-demo"),
    epochs: Annotated[int, typer.Option(help=HELP["epochs"])] = 3,
    train_seeds: Annotated[int, typer.Option(help=HELP["train_seeds"])] = 10,
    test_seeds: Annotated[int, typer.Option(help=HELP["test_seeds"])] = 50,
    seed: Annotated[int, typer.Option(help=HELP["seed"])] = 0,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
    holdout: Annotated[float, typer.Option(help=HELP["holdout"])] = 0.0,
) -> None:
    """Watch an agent learn a text game, with and without REMEMBERER (offline).

    Writes results.json, summary.md and learning_curve.png to --out, and keeps the memory in
    its chroma folder. Ctrl-C stops the run; what was saved is printed (exit code 130). With
    `--holdout`, that share of the memory agent's training runs is shown no lessons, and the
    demo ends with the memory's own lift line (`rememberer lift`, docs/lift.md).
    """
    config = _config(**asdict(D) | {
        "env": DEMO_GAME[0], "game_params": DEMO_GAME[1], "epochs": epochs,
        "train_seeds": train_seeds, "test_seeds": test_seeds, "seed": seed,
        "methods": ("no_memory", "rememberer"), "memory_path": str(out / "chroma"),
        "holdout": holdout,
    })  # fmt: skip
    chat_model = _model(model, base_url, api_key)
    _writable_dir(out, "--out")
    policy = model or base_url or "offline stand-in, not an LLM"
    console.print(
        f"An agent (create_agent + RemembererMiddleware) learns {train_seeds} TextWorldExpress "
        f"mapreader games for {epochs} epochs; after each epoch it plays {test_seeds} games it "
        f"has never seen, memory frozen. Policy: {policy}."
    )
    when = datetime.now(timezone.utc)
    start = time.perf_counter()
    result = _run(config, chat_model, out)
    seconds = time.perf_counter() - start
    console.print(_table(result, "Success rate [95% CI]"))
    json_path, png = _save(result, out)
    command = demo_command(out, epochs, train_seeds, test_seeds, seed, model, base_url)
    summary = out / "summary.md"
    summary.write_text(summary_markdown(result, command=command, seconds=seconds, when=when,
                                        policy=policy))  # fmt: skip
    console.print(f"Done in {seconds:.0f} s. Results: {json_path}; summary: {summary}")
    if png:
        console.print(f"Learning curve: {png}")
    _print_inspect_hint(out, result["methods"]["rememberer"].get("example_task"))
    if holdout:
        _print_lift(out / "chroma")


def _print_lift(chroma: Path) -> None:
    """The memory agent's lift over its training runs, measured by its own holdout."""
    from langchain_rememberer import InvalidInputError, RemembererMemory  # noqa: PLC0415

    try:
        report = RemembererMemory(path=chroma, namespace="rememberer").lift()
    except InvalidInputError as e:
        console.print(Text(f"Lift: {e}"))
        return
    console.print(Text(f"Lift over the training runs: {report.summary()}"))
    console.print(f"  rememberer lift --path {chroma} --namespace rememberer  (the whole report)")


def _chosen_methods(
    methods: str, harness: str, observation_key: str, exemplar_choice: str
) -> tuple[str, ...]:
    """The methods of `--methods`, after checking every flag that takes one of a few values.

    Raises:
        typer.Exit: (code 2) a value is not one of its choices, or `--methods` is empty.
    """
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    choices = {
        "--methods": ([m for m in chosen if m not in METHODS] or None, list(METHODS)),
        "--harness": (harness, ["agent", "direct"]),
        "--observation-key": (observation_key, ["full", "actions", "room+actions"]),
        "--exemplar-choice": (exemplar_choice, ["most_similar", "best_value", "exact_then_best"]),
    }
    wrong = [
        f"{flag} {value!r} (choose from {', '.join(allowed)})"
        for flag, (value, allowed) in choices.items()
        if value is not None and (isinstance(value, list) or value not in allowed)
    ]
    if wrong or not chosen:
        problems = "; ".join(wrong) or "--methods is empty"
        console.print(f"[red]error:[/red] {problems}")
        raise typer.Exit(2)
    return chosen


def _report(result: dict[str, Any], title: str, out: Path) -> None:
    """Print the results table and the paired comparisons, then save the results under `out`."""
    console.print(_table(result, title))
    for name, rows in result["comparisons"].items():
        diffs = ", ".join(f"{r['diff']:+.2f} [{r['ci'][0]:+.2f}, {r['ci'][1]:+.2f}]" for r in rows)
        console.print(f"{name} (held-out, paired, per epoch): {diffs}")
    json_path, png = _save(result, out)
    console.print(f"Results: {json_path}" + (f"; plot: {png}" if png else ""))


def bench(  # noqa: PLR0917
    env: Annotated[str, typer.Option(help=HELP["env"])] = D.env,
    game_params: Annotated[
        str | None,
        typer.Option(
            help=f"{HELP['game_params']} Default: {D.game_params!r} for coin, the "
            "game's own defaults for other games."
        ),
    ] = None,
    max_steps: Annotated[int, typer.Option(help=HELP["max_steps"])] = D.max_steps,
    epochs: Annotated[int, typer.Option(help=HELP["epochs"])] = D.epochs,
    train_seeds: Annotated[int, typer.Option(help=HELP["train_seeds"])] = D.train_seeds,
    test_seeds: Annotated[int, typer.Option(help=HELP["test_seeds"])] = D.test_seeds,
    seed: Annotated[int, typer.Option(help=HELP["seed"])] = D.seed,
    methods: Annotated[
        str, typer.Option(help=f"Comma-separated, from: {', '.join(METHODS)}.")
    ] = ",".join(D.methods),
    harness: Annotated[str, typer.Option(help=HELP["harness"])] = D.harness,
    action_history: Annotated[int, typer.Option(help=HELP["action_history"])] = D.action_history,
    min_similarity: Annotated[float, typer.Option(help=HELP["min_similarity"])] = D.min_similarity,
    gamma: Annotated[float, typer.Option(help=HELP["gamma"])] = D.gamma,
    train_epsilon: Annotated[float, typer.Option(help=HELP["train_epsilon"])] = D.train_epsilon,
    k: Annotated[int, typer.Option(help=HELP["k"])] = D.k,
    observation_key: Annotated[str, typer.Option(help=HELP["observation_key"])] = D.observation_key,
    exemplar_choice: Annotated[str, typer.Option(help=HELP["exemplar_choice"])] = D.exemplar_choice,
    out: Annotated[Path, typer.Option(help="Output directory (results.json, PNG).")] = Path(
        "runs/bench"
    ),
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Compare no memory, REMEMBERER, its ablations and tabular Q-learning (JSON + PNG)."""
    chosen = _chosen_methods(methods, harness, observation_key, exemplar_choice)
    if game_params is None:
        game_params = D.game_params if env == D.env else ""
    config = _config(
        env=env, game_params=game_params, max_steps=max_steps, epochs=epochs,
        train_seeds=train_seeds, test_seeds=test_seeds, seed=seed, methods=chosen,
        harness=harness,  # type: ignore[arg-type]
        action_history=action_history, min_similarity=min_similarity, gamma=gamma,
        train_epsilon=train_epsilon, k=k,
        observation_key=observation_key,  # type: ignore[arg-type]
        exemplar_choice=exemplar_choice,  # type: ignore[arg-type]
    )  # fmt: skip
    chat_model = _model(model, base_url, api_key)
    _writable_dir(out, "--out")
    result = _run(config, chat_model, out)
    _report(result, f"{env} {game_params}: success rate, 95% CI", out)


def register(app: typer.Typer) -> None:
    """Add `demo` and `bench` to `app`."""
    app.command(cls=Command)(demo)
    app.command(cls=Command)(bench)
