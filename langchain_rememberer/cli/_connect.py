"""Which memory a command works on: `--path` or `--url`, the namespace, errors as exit codes.

A read-only command never creates anything: an embedded store is opened only when its
directory holds a Chroma database (`chroma.sqlite3`), a namespace only once it is known to
exist, and the memory has no spool (the CLI never learns runs, so it needs none).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from langchain_rememberer.cli._console import EXIT_STORAGE, EXIT_USAGE, fail
from langchain_rememberer.cli._inspect import KINDS, collection_names
from langchain_rememberer.errors import (
    EmbeddingDimensionError,
    FeedbackError,
    InvalidInputError,
    ReferencePoolError,
    RemembererError,
    StorageError,
)

if TYPE_CHECKING:
    from langchain_rememberer.memory import RemembererMemory

__all__ = [
    "DEFAULT_PATH",
    "CollectionOpt",
    "NamespaceOpt",
    "PathOpt",
    "Store",
    "UrlOpt",
    "namespaces_of",
    "reported_errors",
    "resolve_namespace",
]

DEFAULT_PATH = Path(".rememberer")
"""The store used without `--path` or `--url`: the library's default `path`."""

PathOpt = Annotated[
    Path | None,
    typer.Option(
        "--path", help=f"An embedded memory: its Chroma directory (default: {DEFAULT_PATH})."
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="A memory on a `chroma run` server: http://HOST:PORT."),
]
CollectionOpt = Annotated[
    str, typer.Option("--collection-name", help="The memory's collection_name (its prefix).")
]
NamespaceOpt = Annotated[
    str | None,
    typer.Option(
        "--namespace", "-n", help="The namespace; default: the only one there is (else an error)."
    ),
]


@dataclass(frozen=True)
class Store:
    """Where the memory is: an embedded directory, or a server's host and port."""

    path: Path | None
    host: str | None = None
    port: int | None = None
    collection_name: str = "rememberer"

    @classmethod
    def chosen(cls, path: Path | None, url: str | None, collection_name: str) -> Store:
        """The store of `--path`/`--url`.

        Raises:
            typer.Exit: (code 2) both, or an URL that is not http://HOST[:PORT].
        """
        if url is None:
            return cls(path or DEFAULT_PATH, collection_name=collection_name)
        if path is not None:
            raise fail("give --path or --url, not both")
        parts = urlsplit(url if "://" in url else f"http://{url}")
        try:
            port = parts.port or 8000
        except ValueError as e:
            raise fail(f"--url {url!r}: {e}") from e
        if parts.scheme != "http" or not parts.hostname or parts.path not in ("", "/"):
            raise fail(f"--url {url!r}: expected http://HOST:PORT (a `chroma run` server)")
        return cls(None, parts.hostname, port, collection_name)

    @property
    def where(self) -> str:
        """The store, as the messages name it."""
        return str(self.path) if self.path is not None else f"http://{self.host}:{self.port}"

    def open(self, *, create: bool = False, **settings: Any) -> RemembererMemory:
        """The memory (settings: `RemembererMemory`'s), with no spool.

        Raises:
            typer.Exit: (code 2) an embedded store that does not exist, unless `create`;
                (code 1) the storage could not be opened or reached.
        """
        from langchain_rememberer.config import SpoolConfig  # noqa: PLC0415
        from langchain_rememberer.memory import RemembererMemory  # noqa: PLC0415

        settings |= {"collection_name": self.collection_name, "spool": SpoolConfig(enabled=False)}
        with reported_errors():
            if self.path is None:
                return RemembererMemory.from_server(str(self.host), int(self.port or 0), **settings)
            if not create and not (self.path / "chroma.sqlite3").is_file():
                hint = "" if self.path.exists() else " (it does not exist)"
                msg = f"no memory at {self.path}{hint}: expected a Chroma directory holding "
                raise fail(f"{msg}chroma.sqlite3; pass --path DIR or --url http://HOST:PORT")
            return RemembererMemory(path=self.path, **settings)

    def size_on_disk(self) -> int | None:
        """Bytes of every file under an embedded store's directory; None for a server."""
        if self.path is None:
            return None
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(OSError):  # removed meanwhile
                    total += (Path(root) / name).stat().st_size
        return total


def namespaces_of(memory: RemembererMemory) -> list[str]:
    """The namespaces under the memory's `collection_name`, sorted."""
    prefix = memory.store.collection_name + "."
    found = set()
    for name in collection_names(memory):
        if name.startswith(prefix):
            namespace, _, kind = name[len(prefix) :].rpartition(".")
            if namespace and kind in KINDS:
                found.add(namespace)
    return sorted(found)


def resolve_namespace(
    memory: RemembererMemory, store: Store, given: str | None, *, create: bool = False
) -> str:
    """The namespace to work on: `given` if it exists, else the store's only one.

    With `create`, an unknown `given` is fine (it will be created), and a store without any
    namespace gives "default".

    Raises:
        typer.Exit: (code 2) `given` is unknown, or none given and not exactly one exists.
    """
    with reported_errors():
        known = namespaces_of(memory)
    if given is not None and (given in known or create):
        return given
    if given is None and len(known) == 1:
        return known[0]
    if given is None and not known and create:
        return "default"
    where = f"{store.where} (collection_name {store.collection_name!r})"
    with reported_errors():
        listed = f"its namespaces: {', '.join(known)}" if known else f"it has none{_others(memory)}"
    if given is not None:
        raise fail(f"no namespace {given!r} at {where}; {listed}")
    if not known:
        raise fail(f"no namespace at {where}; {listed}")
    raise fail(f"{where} has {len(known)} namespaces ({', '.join(known)}); choose one with "
               "--namespace")  # fmt: skip


def _others(memory: RemembererMemory) -> str:
    """A hint naming the other collections there, e.g. under another `collection_name`."""
    names = collection_names(memory)
    if not names:
        return ""
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    return f"; collections there: {shown} (another --collection-name?)"


@contextlib.contextmanager
def reported_errors(
    on_os_error: Callable[[OSError], str] | None = None,
) -> Iterator[None]:
    """The memory's errors become an error message and an exit code (1 or 2).

    `on_os_error`, when given, turns an `OSError` (a file the command reads or writes) into a
    message, exit 2.
    """
    try:
        yield
    except EmbeddingDimensionError as e:
        note = " (the CLI reads with the default WordLlama embeddings)"
        raise fail(f"{e}{note}", EXIT_STORAGE) from e
    except StorageError as e:
        raise fail(str(e), EXIT_STORAGE) from e
    except (InvalidInputError, ReferencePoolError, FeedbackError) as e:
        raise fail(str(e), EXIT_USAGE) from e
    except RemembererError as e:
        raise fail(str(e), EXIT_STORAGE) from e
    except UnicodeError as e:  # an argument with undecodable bytes (lone surrogates)
        msg = f"an argument is not valid text: it holds undecodable bytes ({e})"
        raise fail(msg, EXIT_USAGE) from e
    except OSError as e:
        if on_os_error is None:
            raise
        raise fail(on_os_error(e), EXIT_USAGE) from e
