"""The spool: finished episodes the storage could not take, kept on local disk until it can.

One JSON file per episode, named `<time_ns>-<pid>-<random>.json` so names sort oldest first,
written to a temporary name and `os.replace`d (never seen half-written). A replay claims a file
by renaming it to `<name>.claimed.<host>.<pid>` (atomic: one process wins), learns it, and only
then deletes it; on a storage error it renames it back and stops. A process that dies between
learning and deleting leaves a claim that is taken back later (its process is gone, or after
`SpoolConfig.claim_timeout`) and learned again, which is a no-op: the memory learns a run id
with the same episode once (DESIGN §6). The settings are `config.SpoolConfig`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from langchain_rememberer.config import SpoolConfig
from langchain_rememberer.errors import EmbeddingDimensionError, InvalidInputError, StorageError
from langchain_rememberer.types import Episode, LearnReport

__all__ = ["ReplayReport", "Spool", "SpoolKind", "default_spool_directory", "is_storage_down"]

logger = logging.getLogger(__name__)

SpoolKind = Literal["learn", "pending"]
"""What the episode was on its way to: `memory.learn`, or `memory.save_pending`."""

_FORMAT = "langchain-rememberer-spool"
_QUEUED = re.compile(r"^\d{20}-\d+-[0-9a-f]{8}\.json$")
_CLAIMED = re.compile(r"^(\d{20}-\d+-[0-9a-f]{8}\.json)\.claimed\.([A-Za-z0-9_-]+)\.(\d+)$")
_TEMP = re.compile(r"^\..*\.tmp$")
_HOST = re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname())[:40] or "host"

_locks: dict[str, threading.Lock] = {}
_locks_lock = threading.Lock()


class _Memory(Protocol):
    """What the spool needs of a `RemembererMemory` (no import: the memory imports this)."""

    namespace: str

    def learn(self, episode: Episode, *, namespace: str | None = None) -> LearnReport: ...

    def save_pending(self, episode: Episode, *, namespace: str | None = None) -> None: ...


def is_storage_down(error: BaseException) -> bool:
    """Whether `error` means "storage unreachable, try again later" (worth spooling).

    A `StorageError`, but not an `EmbeddingDimensionError`: that one never heals by waiting.
    """
    return isinstance(error, StorageError) and not isinstance(error, EmbeddingDimensionError)


@dataclass(frozen=True)
class ReplayReport:
    """What one `Spool.replay` did (`memory.spool.replay().learned`, ...).

    Attributes:
        learned: Episodes learned now.
        saved_pending: Episodes saved as pending now (to wait for feedback in the memory).
        already_learned: Episodes the memory had learned already (a replay after a crash).
        dropped: Episodes the memory rejected (not a storage error), or unreadable files.
        waiting: Episodes still in the spool afterwards.
        storage_down: The replay stopped at a storage error; the rest waits for the next one.
    """

    learned: int = 0
    saved_pending: int = 0
    already_learned: int = 0
    dropped: int = 0
    waiting: int = 0
    storage_down: bool = False


def _user_cache_dir() -> Path:
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def default_spool_directory(client: Any, collection_name: str) -> Path | None:
    """The spool of a memory on `client` (see `SpoolConfig.directory`); None: no spool.

    Beside an embedded database, `<path>-spool/<collection_name>`; for a `chroma run` server,
    `<user cache>/langchain-rememberer/spool/<host>-<port>/<collection_name>`; an in-memory
    client gets none (nothing it holds outlives the process anyway).
    """
    try:
        settings = client.get_settings()
    except Exception:  # not a Chroma client we know how to read
        return None
    host = getattr(settings, "chroma_server_host", None)
    if host and "fastapi" in str(getattr(settings, "chroma_api_impl", "")).lower():
        port = getattr(settings, "chroma_server_http_port", None)
        server = re.sub(r"[^A-Za-z0-9._-]", "_", f"{host}-{port}")
        return _user_cache_dir() / "langchain-rememberer" / "spool" / server / collection_name
    if getattr(settings, "is_persistent", False) and getattr(settings, "persist_directory", None):
        database = Path(settings.persist_directory).expanduser().absolute()
        return database.with_name(database.name + "-spool") / collection_name
    return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # claimed, or dropped, meanwhile
        return None


def _directory_lock(directory: Path) -> threading.Lock:
    with _locks_lock:
        return _locks.setdefault(str(directory), threading.Lock())


def _pid_alive(pid: int) -> bool:
    if sys.platform != "win32":  # there os.kill(pid, 0) would send CTRL_C_EVENT
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:  # e.g. PermissionError: it exists, as another user's process
            pass
    return True


class Spool:
    """A memory's spool directory: episodes kept while the storage was unreachable.

    `memory.spool`, built from the memory's `spool=` (`SpoolConfig`). The adapters keep an
    episode here when learning fails with a `StorageError` and replay the spool before every
    run they learn; `replay()` learns what waits without another run (e.g. at start-up).

    Example:
        ```python
        import tempfile

        from langchain_rememberer import Episode, RemembererMemory, Step
        from langchain_rememberer.config import SpoolConfig

        memory = RemembererMemory(path=None, spool=SpoolConfig(directory=tempfile.mkdtemp()))
        episode = Episode(task="t", run_id="r1", steps=[Step(observation="o", action="a")])
        assert memory.spool.keep("learn", episode)  # what an adapter does on a StorageError
        assert len(memory.spool) == 1
        assert memory.spool.replay().learned == 1  # storage is up: learned, file removed
        assert len(memory.spool) == 0 and memory.is_learned("r1")
        ```

    Attributes:
        config: The settings.
        directory: The spool directory (created when first needed); None when disabled.
        kept: Episodes this object put in the spool (this process).
        replayed: Episodes this object took out of the spool into the memory (this process).
        dropped: Episodes this object dropped: over the bounds, or rejected on replay.
    """

    def __init__(self, memory: _Memory, config: SpoolConfig, directory: Path | None) -> None:
        self._memory = memory
        self.config = config
        self.directory = directory if config.enabled else None
        if self.directory is not None:
            self.directory = self.directory.expanduser().resolve()
            if self.directory.exists() and not self.directory.is_dir():
                msg = f"spool directory {self.directory} exists and is not a directory"
                raise InvalidInputError(msg)
        self.kept = 0
        self.replayed = 0
        self.dropped = 0

    @classmethod
    def for_memory(cls, memory: _Memory, config: Any, client: Any, collection_name: str) -> Spool:
        """The spool of a memory on `client`: `config.directory`, else the default one."""
        if config is None:
            config = SpoolConfig()
        if not isinstance(config, SpoolConfig):
            msg = f"spool must be a SpoolConfig or None, got {type(config).__name__} {config!r}"
            raise InvalidInputError(msg)
        directory = config.directory or default_spool_directory(client, collection_name)
        return cls(memory, config, directory)

    @property
    def enabled(self) -> bool:
        """Whether episodes are kept at all (enabled, with a directory)."""
        return self.directory is not None

    def __len__(self) -> int:
        """Episodes waiting (claimed ones included)."""
        return len(self._queued()) + len(self._queued(_CLAIMED))

    def __repr__(self) -> str:
        return f"Spool(directory={self.directory!s}, waiting={len(self)})"

    def run_ids(self) -> list[str]:
        """The run ids waiting, oldest first (unreadable files are skipped)."""
        entries = [self._read(path, quiet=True) for path in self._queued()]
        return [entry[2].run_id for entry in entries if entry is not None]

    # -- keeping -------------------------------------------------------------------------------

    def keep(self, kind: SpoolKind, episode: Episode, namespace: str | None = None) -> bool:
        """Write the episode to the spool; True if kept (False: disabled, or failed). No raise.

        On replay, `kind` `"learn"` learns it (its final reward given), `"pending"` saves it
        as pending. Beyond the bounds the oldest episodes are dropped, each with a warning.
        """
        if self.directory is None:
            return False
        namespace = self._memory.namespace if namespace is None else namespace
        episode_data = json.loads(episode.model_dump_json())
        entry = {"format": _FORMAT, "version": 1, "kind": kind, "namespace": namespace}
        entry |= {"spooled_at": time.time(), "episode": episode_data}
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        temp = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with temp.open("w", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False))
                out.flush()
                os.fsync(out.fileno())
            temp.replace(self.directory / name)
        except OSError as e:
            temp.unlink(missing_ok=True)
            logger.warning("rememberer: run %s lost, spool not written: %s", episode.run_id, e)
            return False
        self.kept += 1
        try:
            return name not in self._enforce_bounds()
        except OSError as e:
            logger.warning("rememberer: the spool at %s was not bounded: %s", self.directory, e)
            return True

    def _enforce_bounds(self) -> set[str]:
        """Drop the oldest queued episodes beyond the bounds; returns the names dropped."""
        sizes = [(path, size) for path in self._queued() if (size := _size(path)) is not None]
        count, total = len(sizes), sum(size for _, size in sizes)
        dropped: set[str] = set()
        for path, size in sizes:
            if count <= self.config.max_episodes and total <= self.config.max_bytes:
                break
            count, total = count - 1, total - size
            entry = self._read(path, quiet=True)
            with contextlib.suppress(FileNotFoundError):  # else a replay claimed it meanwhile
                path.unlink()
                dropped.add(path.name)
                self.dropped += 1
                logger.warning(
                    "rememberer: the spool at %s is full (max_episodes=%d, max_bytes=%d): "
                    "dropped its oldest episode, run %s, which will not be learned",
                    self.directory,
                    self.config.max_episodes,
                    self.config.max_bytes,
                    entry[2].run_id if entry else "(unreadable)",
                )
        return dropped

    # -- replaying -----------------------------------------------------------------------------

    def replay(self) -> ReplayReport:
        """Learn what waits, oldest first, until done or storage fails again. Never raises.

        Each file is deleted only after the memory took it; on a storage error it stays and
        the replay stops (`storage_down`). What the memory rejects otherwise (e.g. the run id
        was learned with another episode) is dropped with a warning.
        """
        if self.directory is None or not self.directory.is_dir():
            return ReplayReport()
        counts = {"learned": 0, "saved_pending": 0, "already_learned": 0, "dropped": 0}
        down = False
        try:
            with _directory_lock(self.directory):
                down = self._replay_all(counts)
        except OSError as e:  # the spool directory itself failed (permissions, a lost mount)
            logger.warning("rememberer: the spool at %s could not be read: %s", self.directory, e)
            down = True
        self.dropped += counts["dropped"]
        taken = counts["learned"] + counts["saved_pending"] + counts["already_learned"]
        self.replayed += taken
        if taken:
            logger.info("rememberer: %d spooled episodes are in the memory now: %s", taken, counts)
        return ReplayReport(**counts, waiting=len(self), storage_down=down)

    def _replay_all(self, counts: dict[str, int]) -> bool:
        """Replay every queued file, oldest first, counting outcomes; True if storage failed."""
        self._take_back_abandoned()
        for path in self._queued():
            claimed = self._claim(path)
            if claimed is None:
                continue  # another process claimed it
            outcome = self._apply(claimed)
            if outcome == "down":
                self._release(claimed, path)
                return True
            if outcome != "gone":  # "gone": taken back as abandoned meanwhile
                claimed.unlink(missing_ok=True)
                counts[outcome] += 1
        return False

    def _apply(self, claimed: Path) -> str:
        """Give one claimed episode to the memory; the outcome's name, or "down"."""
        entry = self._read(claimed)
        if entry is None:
            return "dropped" if claimed.exists() else "gone"
        kind, namespace, episode = entry
        try:
            if kind == "pending":
                self._memory.save_pending(episode, namespace=namespace)
                return "saved_pending"
            report = self._memory.learn(episode, namespace=namespace)
        except Exception as e:
            if is_storage_down(e):
                logger.debug("rememberer: spool replay stopped, storage unreachable: %s", e)
                return "down"
            logger.warning(
                "rememberer: run %s dropped from the spool at %s, the memory rejected it: %s",
                episode.run_id,
                self.directory,
                e,
                exc_info=not isinstance(e, InvalidInputError),
            )
            return "dropped"
        return "already_learned" if report.already_learned else "learned"

    def _read(self, path: Path, *, quiet: bool = False) -> tuple[SpoolKind, str, Episode] | None:
        """A spool file's (kind, namespace, episode); None (warned unless quiet) if unreadable."""
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            kind, namespace = entry["kind"], entry["namespace"]
            if entry["format"] != _FORMAT or kind not in ("learn", "pending") or not namespace:
                raise ValueError(f"not a spool entry: {str(entry)[:200]}")
            return kind, str(namespace), Episode.model_validate(entry["episode"])
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as e:
            if not quiet:
                logger.warning("rememberer: dropped the unreadable spool file %s: %s", path.name, e)
            return None

    # -- files ---------------------------------------------------------------------------------

    def _names(self) -> list[os.DirEntry[str]]:
        if self.directory is None:
            return []
        try:
            with os.scandir(self.directory) as entries:
                return list(entries)
        except OSError:
            return []

    def _queued(self, pattern: re.Pattern[str] = _QUEUED) -> list[Path]:
        return sorted(Path(e.path) for e in self._names() if pattern.match(e.name))

    def _claim(self, path: Path) -> Path | None:
        """Rename `path` to this process's claim on it; None if someone else was first."""
        claimed = path.with_name(f"{path.name}.claimed.{_HOST}.{os.getpid()}")
        try:
            path.replace(claimed)  # fails if another process renamed it first
            os.utime(claimed)  # the claim's age counts from now
        except FileNotFoundError:
            return None
        return claimed

    def _release(self, claimed: Path, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):  # taken back meanwhile as abandoned
            claimed.replace(path)

    def _take_back_abandoned(self) -> None:
        """Return claims of dead processes (or older than the timeout) to the queue.

        Runs under the directory's lock, so a claim of this process here was interrupted.
        """
        for entry in self._names():
            match, path = _CLAIMED.match(entry.name), Path(entry.path)
            with contextlib.suppress(FileNotFoundError):
                old = time.time() - path.stat().st_mtime > self.config.claim_timeout
                if match is None and old and _TEMP.match(entry.name):
                    path.unlink()  # a writer died before its os.replace
                if match is None:
                    continue
                name, host, pid = match.group(1), match.group(2), int(match.group(3))
                if old or (host == _HOST and (pid == os.getpid() or not _pid_alive(pid))):
                    logger.info("rememberer: spool: took back %s, its replay never ended", name)
                    self._release(path, path.with_name(name))
