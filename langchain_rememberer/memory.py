"""`RemembererMemory`: the experience memory, stateful operations on top of the pure modules."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from langchain_core.embeddings import Embeddings

from langchain_rememberer import rlem, transfer
from langchain_rememberer._encoding import StateEncoder
from langchain_rememberer._folding import Folder
from langchain_rememberer._records import (
    LogRecord,
    cap_episode,
    check_run_id,
    check_targets,
    complete_runs,
    episode_fingerprint,
    episode_records,
    rank,
    seal_runs,
    stable_id,
    ties,
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
from langchain_rememberer.config import RetrievalConfig, RLEMConfig, SpoolConfig, TextLimits
from langchain_rememberer.embeddings import WordLlamaEmbeddings
from langchain_rememberer.errors import FeedbackError, InvalidInputError
from langchain_rememberer.exemplars import (
    EXEMPLAR_TEMPLATE,
    EXEMPLARS_PROMPT,
    Exemplar,
    fit_exemplars,
    select_exemplars,
)
from langchain_rememberer.types import (
    MAX_K,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    as_episode,
    check_text_arg,
    finite_reward,
    run_id_arg,
)

__all__ = ["RemembererMemory", "default_observation_key"]

logger = logging.getLogger(__name__)


P = ParamSpec("P")
R = TypeVar("R")


def _reopens(
    method: Callable[Concatenate[RemembererMemory, P], R],
) -> Callable[Concatenate[RemembererMemory, P], R]:
    """Retry once with fresh collection handles when a namespace was deleted meanwhile.

    After another process's `clear()`, the namespace is then simply empty, not broken.
    """

    def wrapper(self: RemembererMemory, /, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except NamespaceGoneError:
            with self._lock:
                self.store.forget_open()
            return method(self, *args, **kwargs)

    functools.update_wrapper(wrapper, method)
    return wrapper


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
        `pip install langchain-rememberer`. Storage is Chroma: embedded at `path` by default,
        in memory with `path=None`, or any client (e.g. `chromadb.HttpClient`) via `client=`.

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
    ) -> None:
        self.embeddings = embeddings or WordLlamaEmbeddings()
        self.folder = Folder(
            ChromaStore(client if client is not None else local_client(path), collection_name),
            StateEncoder(self.embeddings),
            rlem or RLEMConfig(),
            retrieval or RetrievalConfig(),
        )
        self.namespace = namespace
        self.text_limits = text_limits or TextLimits()
        self.observation_key = observation_key or default_observation_key
        self.prompt = prompt
        self.exemplar_template = exemplar_template
        if action_history < 0:
            msg = f"action_history must be 0 or more, got {action_history}"
            raise InvalidInputError(msg)
        self.action_history = action_history
        self._lock = threading.Lock()
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

    # -- retrieval ---------------------------------------------------------------------------

    @_reopens
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
        check_text_arg(task, "task")
        check_text_arg(observation, "observation", allow_empty=True)
        k = self.retrieval.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
            msg = f"k must be a whole number from 1 to {MAX_K:,}, got {k!r}"
            raise InvalidInputError(msg)
        weight = self.retrieval.task_weight if task_weight is None else task_weight
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not 0.0 <= weight <= 1.0
        ):
            msg = f"task_weight must be a number from 0 to 1, got {weight!r}"
            raise InvalidInputError(msg)
        ns = self._open(namespace)
        key = self.state_key(observation, recent_actions)
        pairs = [(normalize_whitespace(task), key)]
        vector = self.encoder.query_vectors(ns.task_weight, pairs, weight)
        # One more candidate than needed: if it ties with the k-th, widen to break ties by visits.
        n_results = k + 1
        while True:
            candidates = self.store.query_states(ns, vector, n_results=n_results)[0]
            if len(candidates) < n_results or not ties(candidates[k - 1], candidates[-1]):
                break
            n_results *= 2
        return rank(candidates, k, self.retrieval.min_similarity)

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

    @_reopens
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
        print_ = episode_fingerprint(episode)  # of what was given, before any cap
        episode = cap_episode(episode, self.rlem.max_run_reward)
        ns = self._open(namespace)
        task = normalize_whitespace(episode.task)
        actions = [step.action for step in episode.steps]
        keys = [self.state_key(s.observation, actions[:t]) for t, s in enumerate(episode.steps)]
        ids = [stable_id(task, key) for key in keys]
        vectors = self.encoder.state_vectors(ns.task_weight, [(task, k) for k in keys])
        by_id = dict(zip(ids, vectors, strict=True))
        targets = self._targets(ns, episode, ids, by_id)
        now = time.time()
        sealed = len(episode.steps) > self.store.batch_size
        records = episode_records(
            episode, task, keys, ids, targets, created_at=now, sealed=sealed, fingerprint=print_
        )
        log = self._append(ns, episode.run_id, print_, records, by_id)
        ours = {r.id for r in records}
        # Chroma may round a float's last bit: "written by this call" is "ours, at this time".
        fresh = [r for r in log if r.id in ours and abs(r.created_at - now) < 1e-4]
        others = {r.state_id for r in log if r not in fresh}
        return LearnReport(
            run_id=episode.run_id,
            states_added=len({r.state_id for r in fresh} - others),
            updates_written=len(fresh),
            targets=targets,
            already_learned=not fresh,
        )

    def _append(
        self,
        ns: Any,
        run_id: str,
        fingerprint: str,
        records: Sequence[LogRecord],
        vectors: Mapping[str, Sequence[float]],
    ) -> list[LogRecord]:
        """Append an episode's records and refold its states; returns their log, whole or none.

        The log of these states is read before the append: it holds any earlier record of this
        run, to check the run id against, and it is the refold's starting point.
        """
        before = self.store.read_log(ns, state_ids=list(vectors), complete=False)
        check_run_id(run_id, fingerprint, [r for r in before if r.run_id == run_id])
        try:
            self.store.append_log(ns, records)  # one add, unless the episode is very long
        except BaseException:
            if len(records) <= self.store.batch_size:
                raise  # one `add`, atomic: it failed whole, there is nothing to undo
            self.folder.roll_back(ns, run_id, records[0].created_at)
            raise
        try:
            known = {r.id for r in before}
            after = self.store.complete(ns, [*before, *(r for r in records if r.id not in known)])
            return self.folder.refold(ns, list(vectors), vectors, log=after)
        except NamespaceGoneError:
            raise  # nothing of ours is left to undo; `_reopens` retries on fresh collections
        except BaseException:
            # Any failure after the append (storage, a bug, an interrupt): undo the episode.
            self.folder.roll_back(ns, run_id, records[0].created_at)
            raise

    def _targets(
        self,
        ns: Any,
        episode: Episode,
        ids: Sequence[str],
        vectors: Mapping[str, Sequence[float]],
    ) -> list[float]:
        """The RLEM targets of the episode's steps (state `ids[t]`), bootstrapped from storage."""
        n_step = self.rlem.n_step
        values = self.folder.bootstrap_values(ns, ids, vectors) if n_step is not None else []
        targets = rlem.n_step_targets(
            [s.reward for s in episode.steps],
            values,
            gamma=self.rlem.gamma,
            n_step=self.rlem.n_step,
        )
        check_targets(episode, targets)
        return targets

    @_reopens
    def forget_run(self, run_id: str, *, namespace: str | None = None) -> int:
        """Delete a run's updates and re-fold the states it touched; returns updates removed.

        A pending episode of that run (awaiting `learn_pending`) is deleted too. Malformed log
        records of the run are removed as well, so this also repairs a damaged log.
        """
        ns = self._open(namespace)
        run_id = run_id_arg(run_id)
        refs = self.store.run_log_refs(ns, run_id)
        self.store.delete_log(ns, [record_id for record_id, _ in refs])
        self.store.delete_pending(ns, str(run_id))
        touched = [state_id for _, state_id in refs if state_id is not None]
        self.folder.refold(ns, list(dict.fromkeys(touched)))
        return len(refs)

    @_reopens
    def rebuild(self, *, namespace: str | None = None) -> int:
        """Re-fold every state table from the log (repair, or after changing the rule).

        Safe beside concurrent writers: states are listed before the log is read, tables are
        verified against a fresh read of the log, and a state is deleted only when a fresh read
        shows its log empty. Returns the number of states with updates.
        """
        ns = self._open(namespace)
        listed = self.store.state_ids(ns)  # before the log: a listed state's updates are in it
        log = sorted(complete_runs(self.store.iter_log(ns)), key=lambda r: r.order)
        state_ids = sorted(set(listed) | {r.state_id for r in log})
        final = self.folder.refold(ns, state_ids, log=log)
        return len({r.state_id for r in final})

    # -- pending episodes (delayed feedback) --------------------------------------------------

    @_reopens
    def save_pending(self, episode: Episode, *, namespace: str | None = None) -> None:
        """Persist an episode until `learn_pending` gives it its reward."""
        episode = as_episode(episode)
        ns = self._open(namespace)
        self.store.put_pending(ns, episode.run_id, episode.model_dump_json(), time.time())

    @_reopens
    def pending_runs(self, *, namespace: str | None = None) -> list[str]:
        """Run ids waiting for feedback, oldest first."""
        return self.store.pending_run_ids(self._open(namespace))

    @_reopens
    def is_learned(self, run_id: str, *, namespace: str | None = None) -> bool:
        """Whether any update of `run_id` is in the namespace's log."""
        run_id = run_id_arg(run_id)
        return bool(self.store.read_log(self._open(namespace), run_id=run_id))

    @_reopens
    def learn_pending(
        self, run_id: str, reward: float, *, namespace: str | None = None
    ) -> LearnReport:
        """Give a pending run its final reward and learn it, exactly once.

        Raises:
            FeedbackError: the run is not pending (unknown, or already learned).
        """
        ns = self._open(namespace)
        run_id = run_id_arg(run_id)
        payload = self.store.get_pending(ns, run_id)
        if payload is None:
            learned = self.is_learned(str(run_id), namespace=namespace)
            state = "was already learned" if learned else "is not pending (unknown run id)"
            msg = f"feedback for run {run_id!r} rejected: the run {state}"
            raise FeedbackError(msg)
        episode = Episode.model_validate_json(payload).with_final_reward(finite_reward(reward))
        report = self.learn(episode, namespace=namespace)
        self.store.delete_pending(ns, str(run_id))
        return report

    # -- maintenance ---------------------------------------------------------------------------

    def clear(self, *, namespace: str | None = None) -> None:
        """Delete everything of one namespace (default: this memory's); others are untouched."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        with self._lock:
            self.store.drop(name)

    @_reopens
    def stats(self, *, namespace: str | None = None) -> MemoryStats:
        """Counts of states, updates and pending episodes of a namespace."""
        name = self._check_namespace(self.namespace if namespace is None else namespace)
        if not self.store.exists(name):
            return MemoryStats(namespace=name, states=0, updates=0, pending=0, task_weight=None)
        ns = self._open(name)
        states, updates, pending = self.store.counts(ns)
        return MemoryStats(
            namespace=name,
            states=states,
            updates=updates,
            pending=pending,
            task_weight=ns.task_weight,
        )

    @_reopens
    def export_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Write the namespace's update log (the truth) as JSON lines; returns records written."""
        ns = self._open(namespace)
        log = complete_runs(self.store.iter_log(ns))  # a partial run is not exported
        return transfer.write_export(path, log, task_weight=ns.task_weight)

    @_reopens
    def import_jsonl(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Load an `export_jsonl` file; returns how many of its records were new.

        Idempotent: records already in the log (same id) are kept as they are and not counted,
        so importing a file twice returns 0 the second time.
        """
        return self._import_records(transfer.read_export(path), namespace)

    @_reopens
    def import_reference_pool(self, path: str | Path, *, namespace: str | None = None) -> int:
        """Import a YAML memory pool of the reference implementation (OpenDFM/Rememberer).

        Each (state, action) with `qvalue` Q and `number` N becomes N log records of target Q,
        which fold to exactly (Q, N). Re-importing the same file is a no-op. Returns the
        number of states imported.
        """
        records = transfer.reference_pool_records(
            path, task_key=normalize_whitespace, observation_key=self.observation_key
        )
        self._import_records(records, namespace)
        return len({r.state_id for r in records})

    def _import_records(self, records: Sequence[LogRecord], namespace: str | None) -> int:
        """Append records and re-fold their states; returns how many ids were not yet logged."""
        ns = self._open(namespace)
        if len(records) > self.store.batch_size:
            records = seal_runs(records)  # several calls: each run is seen once wholly in
        present = self.store.log_ids_present(ns, [r.id for r in records])
        self.store.append_log(ns, records)
        self.folder.refold(ns, list(dict.fromkeys(r.state_id for r in records)))
        return len({r.id for r in records} - present)

    # -- internals ---------------------------------------------------------------------------

    def _check_namespace(self, namespace: str) -> str:
        return check_name(namespace, what="namespace")

    def _open(self, namespace: str | None) -> Any:
        with self._lock:
            return self.store.open(
                self.namespace if namespace is None else namespace,
                dim=2 * self.encoder.dim,
                task_weight=self.retrieval.task_weight,
            )
