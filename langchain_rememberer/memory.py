"""`RemembererMemory`: the experience memory, stateful operations on top of the pure modules."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rememberer import _arguments as args
from langchain_rememberer import _maintenance as maintenance
from langchain_rememberer import _operations as ops
from langchain_rememberer import transfer
from langchain_rememberer._batching import in_thread
from langchain_rememberer._capacity import Capacity, evict
from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer._ledger import Ledger
from langchain_rememberer._migrate import MigrationReport
from langchain_rememberer._migrate import migrate as migrate_namespace
from langchain_rememberer._outcomes import measure_lift
from langchain_rememberer._spool import Spool
from langchain_rememberer._store import (
    ChromaStore,
    Namespace,
    NamespaceGoneError,
    http_client,
    local_client,
)
from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.config import (
    RetrievalConfig,
    RLEMConfig,
    SpoolConfig,
    TextLimits,
)
from langchain_rememberer.embeddings import WordLlamaEmbeddings
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.exemplars import (
    EXEMPLAR_TEMPLATE,
    EXEMPLARS_PROMPT,
    Exemplar,
    fit_exemplars,
    select_exemplars,
)
from langchain_rememberer.holdout import Arm, assign_arm, check_holdout
from langchain_rememberer.lift import LiftReport
from langchain_rememberer.types import (
    CompactReport,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    as_episode,
    check_name,
    finite_reward,
    run_id_arg,
)

__all__ = ["RemembererMemory", "default_observation_key"]

logger = logging.getLogger(__name__)


T = TypeVar("T")
M = TypeVar("M")
P = ParamSpec("P")


def _whole_number(value: Any, name: str, least: int, alternative: str = "") -> int:
    """`value` if it is a whole number of at least `least` (not a bool); else a clear error."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        more = "or more" if least == 0 else f"of at least {least}"
        msg = f"{name} must be a whole number {more}{alternative}, got {value!r}"
        raise InvalidInputError(msg)
    return value


def default_observation_key(observation: str, max_chars: int = 2000) -> str:
    """Collapse whitespace and cut to `max_chars`: the default `observation_key`."""
    return normalize_whitespace(observation)[:max_chars]


class RemembererMemory:
    """A long-term experience memory that learns action values from rewards (REMEMBERER).

    Each stored state is a (task, observation) pair with a table of actions, each with a
    Q-value and a visit count. `learn` updates the tables from an episode with RLEM (n-step
    Q-learning); `retrieve` and `format_exemplars` return the most similar states, which are
    shown to the model as encouraged and discouraged actions.

    Setup:
        Install the package (from a clone: `pip install -e .`). Storage is Chroma: embedded at
        `path` by default, in memory with `path=None`, or any client (e.g.
        `chromadb.HttpClient`) via `client=`.

    Instantiate:
        ```python
        from langchain_rememberer import RemembererMemory

        memory = RemembererMemory(path=None)  # in memory; use a path to persist
        ```

    Learn:
        ```python
        from langchain_rememberer import Episode, Step

        report = memory.learn(
            Episode(
                task="Find the coin.",
                steps=[
                    Step(observation="A kitchen. Doors east and west.", action="go east"),
                    Step(observation="A pantry. There is a coin.", action="take coin", reward=1.0),
                ],
            )
        )
        assert report.targets == [0.5, 1.0]  # gamma = 0.5: the reward one step later halves
        ```

    Retrieve and inspect:
        ```python
        states = memory.retrieve("Find the coin.", "A kitchen. Doors east and west.", k=1)
        assert states[0].actions[0].action == "go east"
        print(memory.format_exemplars("Find the coin.", "A kitchen."))
        print(memory.stats())
        ```

    Async:
        `aretrieve`, `aformat_exemplars`, `alearn`, `alearn_pending`, `asave_pending` and
        `aforget_run` run the same operation in a worker thread of the memory's own pool
        (`_batching.in_thread`), off the event loop, so concurrent calls share Chroma calls (group
        commit). On a `chroma run` server, Chroma's native async client was measured no
        faster (`benchmarks/async_retrieval.py`), so there is one synchronous implementation.

        ```python
        import asyncio


        async def main():
            await memory.alearn(
                Episode(
                    task="Open the box.",
                    steps=[Step(observation="A box.", action="open it", reward=1.0)],
                )
            )
            return await memory.aretrieve("Open the box.", "A box.", k=1)


        assert asyncio.run(main())[0].actions[0].action == "open it"
        ```

    Use with an agent: see `RemembererMiddleware` and `RLEMCallbackHandler`.

    Args:
        path: Directory of the embedded Chroma database; None keeps everything in memory.
        client: A Chroma client to use instead (e.g. `chromadb.HttpClient` to a `chroma run`
            server, required when several processes share the memory).
        embeddings: Any LangChain `Embeddings`; default `WordLlamaEmbeddings` (offline).
        namespace: Default namespace; each namespace is separate storage.
        collection_name: Prefix of the Chroma collection names.
        rlem: Learning settings (an `RLEMConfig`, or a dict of its fields).
        retrieval: Retrieval and exemplar settings (a `RetrievalConfig`, or a dict).
        observation_key: Maps an observation to the text stored and compared; default collapses
            whitespace and cuts to 2000 characters. Pass a canonicaliser to merge equivalent
            observations (the paper's page-type matchers).
        prompt: The exemplar block prompt, with an `{exemplars}` slot.
        exemplar_template: The per-exemplar template (see `prompts.EXEMPLAR_TEMPLATE`).
        action_history: How many of the run's previous actions become part of a state's key.
            Texts that recur at different points of a run (state aliasing) are then told apart,
            as the paper's prompt does by carrying the last actions with the observation.
        text_limits: How much of a run's text the adapters record (`TextLimits`).
        spool: Where the adapters keep runs while the storage is unreachable (`SpoolConfig`;
            default: beside `path`, or in the user cache for a server); `memory.spool`.
        max_states: The most states a namespace keeps (None: no limit). Beyond it, the least
            visited states are evicted, the least recently updated first among equals, with
            every log record of theirs (see `evict`).
        holdout: The share of runs, in [0, 1), the adapters show no lessons (the control arm)
            while still learning them, so `lift()` can measure the memory (docs/lift.md).
    """

    def __init__(
        self,
        path: str | Path | None = ".rememberer",
        *,
        client: Any = None,
        embeddings: Embeddings | None = None,
        namespace: str = "default",
        collection_name: str = "rememberer",
        rlem: RLEMConfig | Mapping[str, Any] | None = None,
        retrieval: RetrievalConfig | Mapping[str, Any] | None = None,
        observation_key: Callable[[str], str] | None = None,
        prompt: str = EXEMPLARS_PROMPT,
        exemplar_template: str = EXEMPLAR_TEMPLATE,
        action_history: int = 0,
        text_limits: TextLimits | Mapping[str, Any] | None = None,
        spool: SpoolConfig | Mapping[str, Any] | None = None,
        max_states: int | None = None,
        holdout: float = 0.0,
    ) -> None:
        args.check_parts(embeddings, client, observation_key)
        retrieval = args.config_arg(retrieval, RetrievalConfig, "retrieval")
        args.check_templates(prompt, exemplar_template, retrieval)
        self.embeddings = embeddings or WordLlamaEmbeddings()
        self.ledger = Ledger(
            ChromaStore(client if client is not None else local_client(path), collection_name),
            StateEncoder(self.embeddings),
            args.config_arg(rlem, RLEMConfig, "rlem"),
        )
        """The log protocol: every write of `learn`, `forget_run` and maintenance."""
        self._retrieval = retrieval
        self.namespace = namespace
        if max_states is not None:
            _whole_number(max_states, "max_states", 1, ", or None")
        self.capacity = Capacity(max_states)
        """`max_states`, and the states this memory's learns added since it last counted."""
        self.text_limits = args.config_arg(text_limits, TextLimits, "text_limits")
        self.observation_key = observation_key or default_observation_key
        self.prompt = prompt
        self.exemplar_template = exemplar_template
        self.action_history = _whole_number(action_history, "action_history", 0)
        self.holdout = check_holdout(holdout)
        self._check_namespace(namespace)
        spool = args.config_arg(spool, SpoolConfig, "spool")
        self.spool = Spool.for_memory(self, spool, self.store.client, self.store.collection_name)

    # The store, encoder and learning settings live in the ledger; setting one sets it there.
    @property
    def store(self) -> ChromaStore:
        """The Chroma storage of this memory."""
        return self.ledger.store

    @store.setter
    def store(self, value: ChromaStore) -> None:
        self.ledger.store = value

    @property
    def encoder(self) -> StateEncoder:
        """Texts to composite vectors, with `embeddings`."""
        return self.ledger.encoder

    @property
    def rlem(self) -> RLEMConfig:
        """Learning settings; a new value applies to later learning and to `rebuild()`."""
        return self.ledger.rlem

    @rlem.setter
    def rlem(self, value: RLEMConfig) -> None:
        self.ledger.rlem = value

    @property
    def retrieval(self) -> RetrievalConfig:
        """Retrieval and exemplar settings."""
        return self._retrieval

    @retrieval.setter
    def retrieval(self, value: RetrievalConfig) -> None:
        self._retrieval = value

    @classmethod
    def from_server(
        cls, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any
    ) -> RemembererMemory:
        """A memory on a `chroma run` server, shared by many processes or machines.

        Start the server with `chroma run --path ./db --host 127.0.0.1 --port 8000`; keyword
        arguments are those of `RemembererMemory`. Telemetry is off.

        Raises:
            StorageError: no Chroma server answers at `host:port` (it is asked once, here, with
                no retry); the message names the address and the `chroma run` command that
                starts one. Start the server first, or retry (a process manager does).
        """
        return cls(client=http_client(host, port), **kwargs)

    # -- running operations ------------------------------------------------------------------

    def _run(self, operation: Callable[[], T]) -> T:
        """Run an operation; once more on fresh handles if a namespace was deleted meanwhile.

        Another process's `clear()` leaves the namespace simply empty, not broken.
        """
        try:
            return operation()
        except NamespaceGoneError:
            self.store.forget_open()
            return operation()

    # -- retrieval ---------------------------------------------------------------------------

    def retrieve(
        self,
        task: str,
        observation: str,
        *,
        k: int | None = None,
        namespace: str | None = None,
        task_weight: float | None = None,
        recent_actions: Sequence[str] = (),
    ) -> list[RetrievedState]:
        """The `k` stored states most similar to (task, observation), most similar first.

        One unfiltered ANN query on the namespace's own collection. Similarity is
        λ·cos(task) + (1−λ)·cos(observation) with λ = `task_weight` (default from the
        retrieval config), ties broken by total visits. `recent_actions` are the run's
        actions so far, oldest first; only read when the memory has `action_history`.
        """
        return self._run(
            lambda: ops.retrieve(self, task, observation, k, namespace, task_weight, recent_actions)
        )

    def state_key(self, observation: str, recent_actions: Sequence[str] = ()) -> str:
        """The text a state is stored and compared by.

        That is the observation key, preceded by the last `action_history` actions when set.
        """
        recent_actions = args.recent_actions_arg(recent_actions)
        key = args.observation_key_of(self.observation_key, observation)
        if self.action_history and recent_actions:
            recent = " | ".join(
                normalize_whitespace(a) for a in recent_actions[-self.action_history :]
            )
            key = f"[after: {recent}] {key}"
        return key

    def format_exemplars(
        self,
        task: str,
        observation: str,
        *,
        k: int | None = None,
        namespace: str | None = None,
        recent_actions: Sequence[str] = (),
    ) -> str:
        """Retrieve and render exemplars as one prompt block ("" when there is nothing)."""
        states = self.retrieve(
            task, observation, k=k, namespace=namespace, recent_actions=recent_actions
        )
        return self.render(states)

    def render(self, states: Sequence[RetrievedState]) -> str:
        """Render retrieved states (most similar first) with this memory's prompt and budget."""
        return self.render_shown(states)[0]

    def render_shown(self, states: Sequence[RetrievedState]) -> tuple[str, list[Exemplar]]:
        """`render`, also returning the exemplars the block shows, as data (`fit_exemplars`)."""
        return fit_exemplars(
            select_exemplars(states, self.retrieval),
            self.retrieval,
            prompt=self.prompt,
            template=self.exemplar_template,
        )

    # -- learning ----------------------------------------------------------------------------

    def learn(
        self, episode: Episode | Mapping[str, Any], *, namespace: str | None = None
    ) -> LearnReport:
        """Update Q-values from one episode with RLEM; learning a run twice is a no-op.

        Writes the run, claims a slot in each touched state's sequence, names them in the
        states' rows, then commits the run with one record and folds it into the rows (DESIGN
        §6), so concurrent writers stay exact without a lock. The episode counts whole or not
        at all, even if the process dies half-way: learning the same run again then completes
        it, exactly once.

        Raises:
            InvalidInputError: the run id was already learned with a different episode (a run
                id names one episode; give each run its own id).
        """
        episode = as_episode(episode)
        return self._run(lambda: ops.learn(self, episode, namespace))

    def forget_run(self, run_id: str, *, namespace: str | None = None) -> int:
        """Delete a run's updates and re-fold the states it touched; returns updates removed.

        A pending episode of that run (awaiting `learn_pending`) is deleted too. Running it
        again completes a `forget_run` a killed process left half-done (DESIGN §6).
        """
        run_id = run_id_arg(run_id)
        return self._run(lambda: ops.forget_run(self, run_id, namespace))

    def rebuild(self, *, namespace: str | None = None) -> int:
        """Re-fold every state's table from its slots (repair, or after changing the rule).

        Runs a killed process left half-written are finished first. Safe beside concurrent
        writers. Returns the number of states with updates.
        """
        return self._run(lambda: maintenance.rebuild(self, namespace))

    @property
    def max_states(self) -> int | None:
        """The most states a namespace keeps (None: no limit); see `evict`."""
        return self.capacity.max_states

    def evict(self, *, namespace: str | None = None) -> int:
        """Evict states down to `max_states` now; returns how many were evicted.

        The rule: the fewest visits go first, and among equals the state whose latest update
        is oldest. An evicted state's row (its vector and table) is deleted; its log records
        stay and count nothing (the log keeps every run record anyway). `learn` does this on
        its own: it counts the states it adds, asks Chroma for the count every 1% of
        `max_states` new states, and evicts down to 99% of `max_states` when the next 1%
        would pass it (no scan on every write). States holding
        part of a run longer than `store.batch_size` steps are kept.

        Raises:
            InvalidInputError: this memory has no `max_states`.
        """
        if self.max_states is None:
            msg = "evict needs a memory with max_states, e.g. RemembererMemory(max_states=10_000)"
            raise InvalidInputError(msg)
        keep = self.max_states
        return self._run(lambda: evict(self, self._open(namespace), keep))

    def evict_if_due(self, ns: Namespace, added: int) -> int:
        """After a learn that added `added` states: count, and evict when the cap is near."""
        return self.capacity.evict_if_due(self, ns, added)

    def compact(self, *, namespace: str | None = None) -> CompactReport:
        """Fold every pending update into its row; finish runs a killed process left half-written.

        Each `learn` leaves its own updates pending in their rows (a reader checks them with
        one read by id; the state's next `learn` folds them): after `compact()` retrieval reads
        nothing beyond its vector query. Never needed for correctness; Q and N of learned runs
        never change here (DESIGN §6). Safe beside concurrent writers.
        """
        return self._run(lambda: maintenance.settle_all(self, self._open(namespace)))

    # -- pending episodes (delayed feedback) --------------------------------------------------

    def save_pending(self, episode: Episode, *, namespace: str | None = None) -> None:
        """Persist an episode until `learn_pending` gives it its reward."""
        episode = as_episode(episode)
        self._run(lambda: ops.save_pending(self, episode, namespace))

    def pending_runs(self, *, namespace: str | None = None) -> list[str]:
        """Run ids waiting for feedback, oldest first."""
        return self._run(lambda: self.store.pending_run_ids(self._open(namespace)))

    def is_learned(self, run_id: str, *, namespace: str | None = None) -> bool:
        """Whether `run_id` is learned: its run is committed (DESIGN §6), as every reader sees."""
        run_id = run_id_arg(run_id)
        return self._run(lambda: ops.is_learned(self, run_id, namespace))

    def learn_pending(
        self, run_id: str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Give a pending run its final reward and learn it, exactly once.

        Raises:
            FeedbackError: the run is not pending (unknown, or already learned).
            InvalidInputError: the reward is not a finite number (checked before any I/O).
        """
        run_id, reward = run_id_arg(run_id), finite_reward(reward)
        return self._run(lambda: ops.learn_pending(self, run_id, reward, namespace))

    # -- maintenance ---------------------------------------------------------------------------

    def clear(self, *, namespace: str | None = None) -> None:
        """Delete everything of one namespace (default: this memory's); others are untouched."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        self.store.drop(name)

    def stats(self, *, namespace: str | None = None) -> MemoryStats:
        """Counts of states, updates and pending episodes of a namespace."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        return self._run(lambda: maintenance.stats(self, name))

    def export_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Write the namespace's update log (the truth) as JSON lines; returns records written."""
        path = args.check_path(path, "path")

        def export() -> int:
            ns = self._open(namespace)
            return transfer.write_export(
                path, transfer.export_records(self, ns), task_weight=ns.task_weight
            )

        return self._run(export)

    def import_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Load an `export_jsonl` file; returns how many of its records were new.

        Idempotent: records already in the log (same id) are kept as they are and not counted,
        so importing a file twice returns 0 the second time.
        """
        records = transfer.read_export(args.check_path(path, "path"))
        return self._run(lambda: transfer.import_records(self, self._open(namespace), records))

    def import_reference_pool(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Import a YAML memory pool of the reference implementation (OpenDFM/Rememberer).

        Each (state, action) with `qvalue` Q and `number` N becomes N log records of target Q,
        which fold to exactly (Q, N). Re-importing the same file is a no-op. Returns the
        number of states imported.
        """
        records = transfer.reference_pool_records(
            path, task_key=normalize_whitespace, observation_key=self.observation_key
        )
        self._run(lambda: transfer.import_records(self, self._open(namespace), records))
        return len({r.state_id for r in records})

    # -- the holdout experiment (docs/lift.md) -------------------------------------------------

    def arm_for(self, unit_key: str) -> Arm | None:
        """A run's arm by its unit key (`holdout.assign_arm`); None when `holdout` is 0."""
        arm = assign_arm(unit_key, self.holdout)  # checks the key even then
        return arm if self.holdout else None

    def lift(self, /, *, namespace: str | None = None, **options: Any) -> LiftReport:
        """Does the memory help? Its arms' learned runs compared (`lift.estimate_lift`).

        `options` go to `estimate_lift`: `min_effect`, `confidence`, `windows`, ...

        Raises:
            InvalidInputError: no runs recorded yet, none with an arm, or a bad option.
        """
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        return self._run(lambda: measure_lift(self, name, options))

    def migrate(
        self, namespace: str | None = None, *, dry_run: bool = False, drop_old: bool = False
    ) -> MigrationReport:
        """Upgrade a namespace written by 0.1 (storage schema 1) in place (docs/migrating.md).

        Every complete run is learned once with its stored targets, pending episodes carried
        over; the old collections are kept as `<name>.schema1` unless `drop_old`. Safe to run
        again (a killed migration is completed); a current namespace is "nothing to migrate".
        `dry_run` reports what would be done and writes nothing.
        """
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        return migrate_namespace(self, name, dry_run=dry_run, drop_old=drop_old)

    def build_settings(self) -> dict[str, str | int | float]:
        """This memory's retrieval settings as `learn` records them (see `recorded_settings`)."""
        return ops.build_settings(self, default_observation_key)

    def recorded_settings(self, *, namespace: str | None = None) -> dict[str, Any]:
        """The settings the namespace was last learned into with (the last writer's).

        Every `learn` records the memory's `observation_key` (its name: `full` for the default,
        the callable's `rememberer_name` attribute, else `custom:` and its qualified name),
        `action_history`, `k`, `min_similarity` and `min_task_similarity` in the namespace when
        they differ from what is there. `rememberer search` retrieves with them. Returns those
        keys and `task_weight`; one never recorded (not learned into since 0.2.0) is absent.

        Example:
            ```python
            from langchain_rememberer import Episode, RemembererMemory, Step

            memory = RemembererMemory(path=None, action_history=1)
            memory.learn(Episode(task="t", steps=[Step(observation="o", action="a")]))
            assert memory.recorded_settings()["action_history"] == 1
            ```
        """
        return self._run(lambda: ops.recorded_settings(self, self._open(namespace)))

    # -- async twins: each method awaited in a worker thread, written once ------------------

    aretrieve = in_thread(retrieve)
    aformat_exemplars = in_thread(format_exemplars)
    alearn = in_thread(learn)
    aforget_run = in_thread(forget_run)
    asave_pending = in_thread(save_pending)
    alearn_pending = in_thread(learn_pending)
    alift = in_thread(lift)

    # -- internals ---------------------------------------------------------------------------

    def _check_namespace(self, namespace: str) -> str:
        return check_name(namespace, what="namespace")

    def _open(self, namespace: str | None) -> Namespace:
        return ops.open_namespace(self, namespace)
