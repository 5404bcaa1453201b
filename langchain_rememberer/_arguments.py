"""The memory's arguments, checked where they enter: a clear `InvalidInputError`, never later.

`RemembererMemory.__init__` and its methods call these, so a wrong argument fails at
construction (or at the call), not deep inside a retrieval or a render.
"""

from __future__ import annotations

import reprlib
import string
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from langchain_rememberer.config import RetrievalConfig
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.exemplars import fit_exemplars, select_exemplars
from langchain_rememberer.types import ActionValue, RetrievedState, is_encodable

__all__ = [
    "check_client",
    "check_embeddings",
    "check_parts",
    "check_path",
    "check_templates",
    "config_arg",
    "observation_key_of",
    "recent_actions_arg",
]

M = TypeVar("M", bound=BaseModel)

_CLIENT_METHODS = ("get_or_create_collection", "list_collections", "delete_collection")


def config_arg(value: M | Mapping[str, Any] | None, model: type[M], name: str) -> M:
    """A settings model, or a mapping of its fields (unknown keys refused by name)."""
    if value is None:
        return model()
    if isinstance(value, model):
        return value
    if isinstance(value, Mapping):
        return model(**dict(value))  # our models raise InvalidInputError naming the field
    msg = f"{name} must be a {model.__name__} (or a dict of its fields), got {_kind(value)}"
    raise InvalidInputError(msg)


def check_parts(embeddings: object, client: object, observation_key: object) -> None:
    """The memory's parts, when given: embeddings, a Chroma client, an observation key."""
    if embeddings is not None:
        check_embeddings(embeddings)
    if client is not None:
        check_client(client)
    if observation_key is not None and not callable(observation_key):
        msg = f"observation_key must be a function of the observation, got {_kind(observation_key)}"
        raise InvalidInputError(msg)


def check_embeddings(value: object) -> None:
    """A LangChain `Embeddings` (or anything with its two methods)."""
    if isinstance(value, Embeddings):
        return
    if callable(getattr(value, "embed_documents", None)) and callable(
        getattr(value, "embed_query", None)
    ):
        return
    msg = (
        "embeddings must be a LangChain Embeddings (with embed_documents and embed_query), "
        f"got {_kind(value)}"
    )
    raise InvalidInputError(msg)


def check_client(value: object) -> None:
    """A Chroma client (`chromadb.EphemeralClient`, `PersistentClient`, `HttpClient`)."""
    missing = [m for m in _CLIENT_METHODS if not callable(getattr(value, m, None))]
    if missing:
        msg = (
            "client must be a Chroma client (chromadb.PersistentClient, HttpClient, ...), got "
            f"{_kind(value)} without {', '.join(missing)}"
        )
        raise InvalidInputError(msg)


def check_path(value: object, what: str) -> Path:
    """A file path given as text or a `Path`."""
    if isinstance(value, Path):
        return value
    if isinstance(value, str) and value.strip() and is_encodable(value):
        return Path(value)
    msg = f"{what} must be a file path (a str or pathlib.Path), got {_kind(value)}"
    raise InvalidInputError(msg)


def check_templates(prompt: object, template: object, retrieval: RetrievalConfig) -> None:
    """Render a sample block now, so a wrong template fails at construction, not mid-run."""
    for name, value in (("prompt", prompt), ("exemplar_template", template)):
        if not isinstance(value, str):
            msg = f"{name} must be a str template, got {_kind(value)}"
            raise InvalidInputError(msg)
    assert isinstance(prompt, str)
    assert isinstance(template, str)
    try:
        fields = {f for _t, f, _s, _c in string.Formatter().parse(prompt) if f is not None}
    except ValueError as e:
        msg = f"prompt is not a valid template ({e}); write literal braces as {{{{ and }}}}"
        raise InvalidInputError(msg) from e
    if "exemplars" not in fields:
        msg = "prompt must have an {exemplars} field: the block's exemplars go there"
        raise InvalidInputError(msg)
    sample = RetrievedState(
        id="s",
        task="a task",
        observation="an observation",
        similarity=1.0,
        actions=[
            ActionValue(action="a", q=1.0, visits=1),
            ActionValue(action="b", q=-1.0, visits=1),
        ],
    )
    try:
        fit_exemplars(
            select_exemplars([sample], retrieval), retrieval, prompt=prompt, template=template
        )
    except (KeyError, IndexError, ValueError, AttributeError, TypeError) as e:
        msg = (
            f"prompt or exemplar_template cannot be rendered ({type(e).__name__}: {e}); "
            "use only the fields of prompts.EXEMPLARS_PROMPT and prompts.EXEMPLAR_TEMPLATE, "
            "and write literal braces as {{ and }}"
        )
        raise InvalidInputError(msg) from e


def recent_actions_arg(value: object) -> Sequence[str]:
    """The run's actions so far: a sequence of strings (a lone string is refused)."""
    if isinstance(value, str):
        msg = (
            f"recent_actions must be a list of actions, got the string {reprlib.repr(value)} "
            "(write [action] for one action)"
        )
        raise InvalidInputError(msg)
    if not isinstance(value, Sequence):
        msg = f"recent_actions must be a list of strings, got {_kind(value)}"
        raise InvalidInputError(msg)
    bad = [a for a in value if not isinstance(a, str)]
    if bad:
        msg = f"recent_actions must hold strings only, got {_kind(bad[0])}"
        raise InvalidInputError(msg)
    return value


def observation_key_of(key: Callable[[str], str], observation: str) -> str:
    """The observation key's text; a key that raises or returns no string is a clear error."""
    try:
        text = key(observation)
    except Exception as e:
        msg = f"observation_key raised {type(e).__name__}: {e}"
        raise InvalidInputError(msg) from e
    if not isinstance(text, str):
        msg = f"observation_key must return a str, returned {_kind(text)}"
        raise InvalidInputError(msg)
    return text


def _kind(value: object) -> str:
    return f"{type(value).__name__} {reprlib.repr(value)}"
