"""`RemembererMemory`: the experience memory, stateful operations on top of the pure modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rememberer import _operations as ops
from langchain_rememberer import transfer
from langchain_rememberer._capacity import Capacity, evict
from langchain_rememberer._chroma import Steps
from langchain_rememberer._compaction import compact
from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer._folding import Folder
from langchain_rememberer._records import (
    complete_runs,
)
from langchain_rememberer._spool import Spool
from langchain_rememberer._store import (
    ChromaStore,
    NamespaceGoneError,
    check_name,
    http_client,
    local_client,
)
from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.config import (
    CompactionConfig,
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
from langchain_rememberer.types import (
    CompactReport,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    as_episode,
    finite_reward,
    is_finite_number,
    run_id_arg,
)

__all__ = ["RemembererMemory", "default_observation_key"]

logger = logging.getLogger(__name__)


T = TypeVar("T")


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
        `aforget_run` are the same operations awaited. On a `chroma run` server (`from_server`,
        or `client=chromadb.HttpClient(...)`) they are native async: every call goes through
        Chroma's `AsyncHttpClient` on the event loop, and the embeddings' `aembed_documents`.
        Chroma has no async embedded client, so on a local path (or `path=None`) they run the
        sync operation in a worker thread (`asyncio.to_thread`), off the event loop.

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
        rlem: Learning settings.
        retrieval: Retrieval and exemplar settings.
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
        compaction: When a state's old updates are folded into snapshots after a `learn`
            (`CompactionConfig`; default: at 1,000 updates, those older than 10 minutes).
        max_states: The most states a namespace keeps (None: no limit). Beyond it, the least
            visited states are evicted, the least recently updated first among equals, with
            every log record of theirs (see `evict`).
    """

    def __init__(
        self,
        path: str | Path | None = ".rememberer",
        *,
        client: Any = None,
        embeddings: Embeddings | None = None,
        namespace: str = "default",
        collection_name: str = "rememberer",
        rlem: RLEMConfig | None = None,
        retrieval: RetrievalConfig | None = None,
        observation_key: Callable[[str], str] | None = None,
        prompt: str = EXEMPLARS_PROMPT,
        exemplar_template: str = EXEMPLAR_TEMPLATE,
        action_history: int = 0,
        text_limits: TextLimits | None = None,
        spool: SpoolConfig | None = None,
        compaction: CompactionConfig | None = None,
        max_states: int | None = None,
    ) -> None:
        self.embeddings = embeddings or WordLlamaEmbeddings()
        self.folder = Folder(
            ChromaStore(client if client is not None else local_client(path), collection_name),
            StateEncoder(self.embeddings),
            rlem or RLEMConfig(),
            retrieval or RetrievalConfig(),
        )
        self.namespace = namespace
        self.compaction = compaction or CompactionConfig()
        """When states are compacted after a `learn` (see `compact`)."""
        if max_states is not None and (
            isinstance(max_states, bool) or not isinstance(max_states, int) or max_states < 1
        ):
            msg = f"max_states must be a whole number of at least 1, or None, got {max_states!r}"
            raise InvalidInputError(msg)
        self.capacity = Capacity(max_states)
        """`max_states`, and the states this memory's learns added since it last counted."""
        self.text_limits = text_limits or TextLimits()
        self.observation_key = observation_key or default_observation_key
        self.prompt = prompt
        self.exemplar_template = exemplar_template
        if (
            isinstance(action_history, bool)
            or not isinstance(action_history, int)
            or action_history < 0
        ):
            msg = f"action_history must be a whole number of 0 or more, got {action_history!r}"
            raise InvalidInputError(msg)
        self.action_history = action_history
        self._check_namespace(namespace)
        self.spool = Spool.for_memory(self, spool, self.store.client, self.store.collection_name)

    # The store, encoder and settings live in the folder; setting one here sets it there too.
    @property
    def store(self) -> ChromaStore:
        """The Chroma storage of this memory."""
        return self.folder.store

    @store.setter
    def store(self, value: ChromaStore) -> None:
        self.folder.store = value

    @property
    def encoder(self) -> StateEncoder:
        """Texts to composite vectors, with `embeddings`."""
        return self.folder.encoder

    @property
    def rlem(self) -> RLEMConfig:
        """Learning settings; a new value applies to later learning and to `rebuild()`."""
        return self.folder.rlem

    @rlem.setter
    def rlem(self, value: RLEMConfig) -> None:
        self.folder.rlem = value

    @property
    def retrieval(self) -> RetrievalConfig:
        """Retrieval and exemplar settings."""
        return self.folder.retrieval

    @retrieval.setter
    def retrieval(self, value: RetrievalConfig) -> None:
        self.folder.retrieval = value

    @classmethod
    def from_server(
        cls, host: str = "127.0.0.1", port: int = 8000, **kwargs: Any
    ) -> RemembererMemory:
        """A memory on a `chroma run` server, shared by many processes or machines.

        Start the server with `chroma run --path ./db --host 127.0.0.1 --port 8000`; keyword
        arguments are those of `RemembererMemory`. Telemetry is off.
        """
        return cls(client=http_client(host, port), **kwargs)

    # -- running operations ------------------------------------------------------------------

    def _run(self, make: Callable[[], Steps[T]]) -> T:
        """Run the operation `make()` with the sync client.

        When a namespace was deleted meanwhile (another process's `clear()`), it runs once more
        on fresh collection handles: the namespace is then simply empty, not broken.
        """
        try:
            return self.store.run(make())
        except NamespaceGoneError:
            self.store.forget_open()
            return self.store.run(make())

    async def _arun(self, make: Callable[[], Steps[T]]) -> T:
        """Run the operation `make()` natively async on a server; in a worker thread otherwise.

        Chroma has no async embedded client: a memory on a local path (or in memory) runs the
        same operation through the sync client in `asyncio.to_thread`, off the event loop.
        """
        if self.store.async_driver is None:
            return await asyncio.to_thread(self._run, make)
        try:
            return await self.store.arun(make())
        except NamespaceGoneError:
            self.store.forget_open()
            return await self.store.arun(make())

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

    async def aretrieve(
        self,
        task: str,
        observation: str,
        *,
        k: int | None = None,
        namespace: str | None = None,
        task_weight: float | None = None,
        recent_actions: Sequence[str] = (),
    ) -> list[RetrievedState]:
        """`retrieve`, awaited: native async on a server memory, a worker thread otherwise."""
        return await self._arun(
            lambda: ops.retrieve(self, task, observation, k, namespace, task_weight, recent_actions)
        )

    def state_key(self, observation: str, recent_actions: Sequence[str] = ()) -> str:
        """The text a state is stored and compared by.

        That is the observation key, preceded by the last `action_history` actions when set.
        """
        key = self.observation_key(observation)
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

    async def aformat_exemplars(
        self,
        task: str,
        observation: str,
        *,
        k: int | None = None,
        namespace: str | None = None,
        recent_actions: Sequence[str] = (),
    ) -> str:
        """`format_exemplars`, awaited (see `aretrieve`)."""
        states = await self.aretrieve(
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

        Appends one log record per step, then re-folds the touched states' tables from the
        log and verifies after writing, so concurrent writers stay exact. The episode is
        applied whole or not at all, even if the process dies half-way: learning the same run
        again then completes it, exactly once.

        Raises:
            InvalidInputError: the run id was already learned with a different episode (a run
                id names one episode; give each run its own id).
        """
        episode = as_episode(episode)
        return self._run(lambda: ops.learn(self, episode, namespace))

    async def alearn(
        self, episode: Episode | Mapping[str, Any], *, namespace: str | None = None
    ) -> LearnReport:
        """`learn`, awaited: native async on a server memory, a worker thread otherwise."""
        episode = as_episode(episode)
        return await self._arun(lambda: ops.learn(self, episode, namespace))

    def forget_run(self, run_id: str, *, namespace: str | None = None) -> int:
        """Delete a run's updates and re-fold the states it touched; returns updates removed.

        A pending episode of that run (awaiting `learn_pending`) is deleted too. Malformed log
        records of the run are removed as well, so this also repairs a damaged log.
        """
        run_id = run_id_arg(run_id)
        return self._run(lambda: ops.forget_run(self, run_id, namespace))

    async def aforget_run(self, run_id: str, *, namespace: str | None = None) -> int:
        """`forget_run`, awaited (see `alearn`)."""
        run_id = run_id_arg(run_id)
        return await self._arun(lambda: ops.forget_run(self, run_id, namespace))

    def rebuild(self, *, namespace: str | None = None) -> int:
        """Re-fold every state table from the log (repair, or after changing the rule).

        Safe beside concurrent writers: states are listed before the log is read, tables are
        verified against a fresh read of the log, and a state is deleted only when a fresh read
        shows its log empty. Returns the number of states with updates.
        """
        return self._run(lambda: ops.rebuild(self, namespace))

    @property
    def max_states(self) -> int | None:
        """The most states a namespace keeps (None: no limit); see `evict`."""
        return self.capacity.max_states

    def evict(self, *, namespace: str | None = None) -> int:
        """Evict states down to `max_states` now; returns how many were evicted.

        The rule: the fewest visits go first, and among equals the state whose latest update
        is oldest. An evicted state leaves nothing behind: its table and every log record of
        it are deleted. `learn` does this on its own: it counts the states it adds, asks
        Chroma for the count every 1% of `max_states` new states, and evicts down to 99% of
        `max_states` when the next 1% would pass it (no scan on every write). States holding
        part of a run longer than `store.batch_size` steps are kept.

        Raises:
            InvalidInputError: this memory has no `max_states`.
        """
        if self.max_states is None:
            msg = "evict needs a memory with max_states, e.g. RemembererMemory(max_states=10_000)"
            raise InvalidInputError(msg)
        keep = self.max_states

        def steps() -> Steps[int]:
            ns = yield from self._open(namespace)
            return (yield from evict(self, ns, keep))

        return self._run(steps)

    def compact(
        self,
        *,
        namespace: str | None = None,
        older_than: float | None = None,
        min_updates: int = 1,
    ) -> CompactReport:
        """Fold each state's old updates into one snapshot record per action (DESIGN §6).

        A `learn` touching a compacted state reads its snapshots and the updates after them,
        not its whole log. Q-values and visit counts stay exactly the same; the updates stay in
        the log (out of their state's reads), so `forget_run`, `is_learned`, re-learning a run
        and `export_jsonl` work as before. Safe beside concurrent writers. Runs on its own
        after a `learn` too (`compaction`).

        Args:
            namespace: The namespace (default: this memory's).
            older_than: Only updates older than this many seconds are folded (default:
                `compaction.older_than`, 10 minutes); 0 when no one else is writing.
            min_updates: Leave a state alone with fewer updates than this to fold.

        Raises:
            InvalidInputError: `older_than` below 0 or `min_updates` below 1.
        """
        age = self.compaction.older_than if older_than is None else older_than
        if isinstance(age, bool) or not is_finite_number(age) or age < 0:
            msg = f"older_than must be a number of seconds of at least 0, got {age!r}"
            raise InvalidInputError(msg)
        if isinstance(min_updates, bool) or not isinstance(min_updates, int) or min_updates < 1:
            msg = f"min_updates must be a whole number of at least 1, got {min_updates!r}"
            raise InvalidInputError(msg)

        def steps() -> Steps[CompactReport]:
            ns = yield from self._open(namespace)
            return (yield from compact(self, ns, older_than=float(age), min_updates=min_updates))

        return self._run(steps)

    # -- pending episodes (delayed feedback) --------------------------------------------------

    def save_pending(self, episode: Episode, *, namespace: str | None = None) -> None:
        """Persist an episode until `learn_pending` gives it its reward."""
        episode = as_episode(episode)
        self._run(lambda: ops.save_pending(self, episode, namespace))

    async def asave_pending(self, episode: Episode, *, namespace: str | None = None) -> None:
        """`save_pending`, awaited (see `alearn`)."""
        episode = as_episode(episode)
        await self._arun(lambda: ops.save_pending(self, episode, namespace))

    def pending_runs(self, *, namespace: str | None = None) -> list[str]:
        """Run ids waiting for feedback, oldest first."""

        def steps() -> Steps[list[str]]:
            ns = yield from self._open(namespace)
            return (yield from self.store.pending_run_ids(ns))

        return self._run(steps)

    def is_learned(self, run_id: str, *, namespace: str | None = None) -> bool:
        """Whether any update of `run_id` is in the namespace's log."""
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

    async def alearn_pending(
        self, run_id: str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """`learn_pending`, awaited (see `alearn`)."""
        run_id, reward = run_id_arg(run_id), finite_reward(reward)
        return await self._arun(lambda: ops.learn_pending(self, run_id, reward, namespace))

    # -- maintenance ---------------------------------------------------------------------------

    def clear(self, *, namespace: str | None = None) -> None:
        """Delete everything of one namespace (default: this memory's); others are untouched."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        self.store.run(self.store.drop(name))

    def stats(self, *, namespace: str | None = None) -> MemoryStats:
        """Counts of states, updates and pending episodes of a namespace."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        return self._run(lambda: ops.stats(self, name))

    def export_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Write the namespace's update log (the truth) as JSON lines; returns records written."""

        def steps() -> Steps[int]:
            ns = yield from self._open(namespace)
            whole = complete_runs((yield from self.store.all_log(ns)))  # a partial run is left out
            log = [r.restored() for r in whole if not r.is_snapshot]  # every update, as learned
            return transfer.write_export(path, log, task_weight=ns.task_weight)

        return self._run(steps)

    def import_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Load an `export_jsonl` file; returns how many of its records were new.

        Idempotent: records already in the log (same id) are kept as they are and not counted,
        so importing a file twice returns 0 the second time.
        """
        records = transfer.read_export(path)
        return self._run(lambda: ops.import_records(self, records, namespace))

    def import_reference_pool(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Import a YAML memory pool of the reference implementation (OpenDFM/Rememberer).

        Each (state, action) with `qvalue` Q and `number` N becomes N log records of target Q,
        which fold to exactly (Q, N). Re-importing the same file is a no-op. Returns the
        number of states imported.
        """
        records = transfer.reference_pool_records(
            path, task_key=normalize_whitespace, observation_key=self.observation_key
        )
        self._run(lambda: ops.import_records(self, records, namespace))
        return len({r.state_id for r in records})

    # -- internals ---------------------------------------------------------------------------

    def _check_namespace(self, namespace: str) -> str:
        return check_name(namespace, what="namespace")

    def _open(self, namespace: str | None) -> Steps[Any]:
        return ops.open_namespace(self, namespace)
