"""Namespace templates: `namespace="team-{user_id}"`, filled once per run from the run's config.

A template is checked when an adapter is built (`NamespaceTemplate.parse`): plain `{key}` fields
only, and literal text a namespace may hold. Per run it is filled from the run's sources in
order, the first that has a key winning (the middleware: its runtime context, then
`config["configurable"]`); the result must be a usable namespace as it is, never rewritten.
Two fillings never give one namespace (two tenants, one memory): a value may not hold the text
that follows its field in the template (in `"{org}-{user}"`, an org may not hold `-`), so the
namespace reads back one way only; the last field may hold anything.
`RunNamespaces` keeps the namespace each run was resolved to, so the run's feedback finds it.
"""

from __future__ import annotations

import itertools
import logging
import reprlib
import string
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from langchain_rememberer.errors import FeedbackError, InvalidInputError, RemembererError
from langchain_rememberer.types import check_name

__all__ = ["NamespaceTemplate", "RunNamespaces", "Source"]

logger = logging.getLogger(__name__)

Source = tuple[str, Any]
"""`(what it is called in messages, a mapping or an object with attributes)`."""

_SEEN = "config['configurable']"
_UNSEEN = f"{_SEEN} (none reached the callbacks: a run without child runs, e.g. one function)"

_KEEP = 1024
"""Runs whose namespace an adapter remembers for `record_feedback` (the latest)."""


def _fields(template: str) -> list[tuple[str, str]]:
    """`(key, the text after it)` of each `{key}` field in order; InvalidInputError otherwise."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as e:  # a single '{' or '}'
        msg = f"namespace template {template!r} cannot be read: {e}"
        raise InvalidInputError(msg) from None
    fields: list[tuple[str, str]] = []
    afters = [literal for literal, *_ in parts[1:]] + [""]  # the text after each part
    for (_, name, spec, conversion), after in zip(parts, afters, strict=False):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            msg = (
                f"namespace template {template!r}: the field {{{name}"
                f"{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}} is not "
                "a plain key; use {key} with a name, no attribute, index, !conversion or :spec"
            )
            raise InvalidInputError(msg)
        fields.append((name, after))
    return fields


def _separators(template: str, fields: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """`(key, separator)` of every field but the last: the text its value may not hold.

    With values that do not hold their separator (nor end with its start), the filled
    namespace splits back into its values one way only, so no two fillings give one namespace.
    Fields with no text between them could never be told apart: InvalidInputError.
    """
    for (key, separator), (following, _) in itertools.pairwise(fields):
        if not separator:
            msg = (
                f"namespace template {template!r}: {{{key}}}{{{following}}} have no text "
                f"between them, so different values would fill to one namespace; separate "
                f"them, e.g. {{{key}}}.{{{following}}}"
            )
            raise InvalidInputError(msg)
    return tuple(fields[:-1])


def _lookup(source: Any, key: str) -> Any:
    """`source[key]` for a mapping, else its attribute `key` (a dataclass, a pydantic model)."""
    if source is None:
        return None
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def _text(template: str, key: str, value: Any) -> str:
    """A field's value as text: a string, a whole number or a UUID; InvalidInputError else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, UUID)) and not isinstance(value, bool):
        return str(value)
    msg = (
        f"namespace template {template!r}: {key}={reprlib.repr(value)} is a "
        f"{type(value).__name__}; give a string (or a whole number or UUID)"
    )
    raise InvalidInputError(msg)


@dataclass(frozen=True)
class NamespaceTemplate:
    """A namespace with `{key}` fields (none: a plain namespace), checked once.

    Example:
        ```python
        from langchain_rememberer.adapters._namespaces import NamespaceTemplate

        template = NamespaceTemplate.parse("team-{team_id}")
        assert template.fields == ("team_id",)
        assert template.fill([("config", {"team_id": "red"})]) == "team-red"
        ```
    """

    template: str
    fields: tuple[str, ...]
    separators: tuple[tuple[str, str], ...] = ()
    """`(key, text)`: a value of `key` may not hold the `text` after it (see `fill`)."""

    @classmethod
    def parse(cls, template: object) -> NamespaceTemplate:
        """Check `template` (fields, and literal text that can ever be a namespace).

        Raises:
            InvalidInputError: not a string, a field that is not a plain `{key}`, or text no
                filling can make a usable namespace.
        """
        if not isinstance(template, str):
            msg = f"namespace must be a string, got {type(template).__name__}"
            raise InvalidInputError(msg)
        found = _fields(template)
        fields = tuple(dict.fromkeys(key for key, _ in found))
        separators = _separators(template, found)
        # "a" is allowed anywhere in a name: if it fails, every filling fails.
        try:
            check_name(
                template.format_map(dict.fromkeys(fields, "a")) if fields else template,
                what="namespace",
            )
        except InvalidInputError as e:
            if not fields:
                raise
            msg = f"namespace template {template!r} can never be a usable namespace: {e}"
            raise InvalidInputError(msg) from None
        return cls(template, fields, separators)

    def fill(self, sources: Sequence[Source]) -> str:
        """The namespace for one run: each field from the first source that has it.

        A key whose value is None counts as absent. A value may not hold the text that follows
        its field in the template (in `"{org}-{user}"`, an org may not hold `-`; a user may):
        else `org="acme-x", user="bob"` and `org="acme", user="x-bob"` would be one namespace,
        two tenants sharing one memory. Such a value is refused, never rewritten.

        Raises:
            InvalidInputError: a key is in no source (named, with the template), a value is
                not text, a value holds the text after its field, or the filled value is not a
                usable namespace.
        """
        values: dict[str, str] = {}
        for key in self.fields:
            found = (_lookup(source, key) for _, source in sources)
            value = next((v for v in found if v is not None), None)
            if value is None:
                names = [name for name, _ in sources] or ["any source"]
                where = f"in neither {' nor '.join(names)}" if names[1:] else f"not in {names[0]}"
                msg = f"namespace template {self.template!r} needs the key {key!r}, {where}"
                raise InvalidInputError(msg)
            values[key] = _text(self.template, key, value)
        for key, separator in self.separators:
            self._check_apart(key, values[key], separator)
        filled = self.template.format_map(values)
        try:
            return check_name(filled, what="namespace")
        except InvalidInputError as e:
            msg = (
                f"namespace template {self.template!r} filled with {reprlib.repr(values)} "
                f"is not usable (it is not rewritten): {e}"
            )
            raise InvalidInputError(msg) from None

    def _check_apart(self, key: str, value: str, separator: str) -> None:
        """Refuse a value after which the namespace would not split back at `separator`."""
        if (value + separator).find(separator) == len(value):
            return
        holds = "holds" if separator in value else "ends with the start of"
        msg = (
            f"namespace template {self.template!r}: {key}={reprlib.repr(value)} {holds} "
            f"{separator!r}, the text after {{{key}}}, so another {key} could fill to the same "
            f"namespace (two tenants, one memory); it is refused, not rewritten: separate the "
            f"fields with text no {key} holds, or put {{{key}}} last"
        )
        raise InvalidInputError(msg)


class RunNamespaces:
    """An adapter's namespace: a plain one, or a template resolved once per run, remembered.

    Example:
        ```python
        from langchain_rememberer.adapters._namespaces import RunNamespaces

        namespaces = RunNamespaces("user-{user_id}", default="default", owner="Demo")
        assert namespaces.resolve("run-1", [("config", {"user_id": "ann"})]) == "user-ann"
        assert namespaces.for_feedback("run-1") == "user-ann"
        assert namespaces.resolve("run-2", [("config", {})]) is None  # warned, skipped
        ```

    Args:
        namespace: The adapter's `namespace=` (None: the memory's, `default`).
        default: The memory's namespace.
        owner: The adapter's class name, for messages.

    Raises:
        InvalidInputError: a bad namespace or template (see `NamespaceTemplate.parse`).
    """

    def __init__(self, namespace: str | None, *, default: str, owner: str) -> None:
        self.owner = owner
        self.template = NamespaceTemplate.parse(default if namespace is None else namespace)
        self._runs: OrderedDict[str, str | None] = OrderedDict()
        self._seen: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def fields(self) -> tuple[str, ...]:
        """The template's keys (empty for a plain namespace)."""
        return self.template.fields

    def resolve(self, run_id: str, sources: Sequence[Source]) -> str | None:
        """The namespace of the run `run_id`, remembered; None when it cannot be filled.

        None is logged as a warning naming the key and the template; the adapter then uses
        no memory for that run. Call it once per run.
        """
        if not self.fields:
            return self.template.template
        namespace: str | None = None
        try:
            namespace = self.template.fill(sources)
        except Exception as e:
            logger.warning(
                "rememberer: %s: run %s uses no memory (no exemplars, nothing learned): %s",
                self.owner,
                run_id,
                e,
                exc_info=not isinstance(e, RemembererError),
            )
        self._keep(self._runs, run_id, namespace, replace=True)
        return namespace

    def for_feedback(self, run_id: str, namespace: str | None = None) -> str:
        """The namespace `record_feedback(run_id)` goes to: `namespace`, or the run's.

        Raises:
            InvalidInputError: a template's run that this adapter did not resolve (another
                process, or more than 1024 runs ago): pass `namespace=`.
            FeedbackError: the run's template could not be filled, so nothing was recorded.
        """
        if namespace is not None:
            return check_name(namespace, what="namespace")
        if not self.fields:
            return self.template.template
        with self._lock:
            known, found = run_id in self._runs, self._runs.get(run_id)
        if not known:
            msg = (
                f"{self.owner}: the namespace of run {run_id!r} is not known here (template "
                f"{self.template.template!r}; run in another process or long ago): pass "
                "namespace=, the filled namespace"
            )
            raise InvalidInputError(msg)
        if found is None:
            msg = (
                f"run {run_id!r} was not recorded: the namespace template "
                f"{self.template.template!r} could not be filled for it (warned then)"
            )
            raise FeedbackError(msg)
        return found

    # -- what a callback handler sees of a run's config ----------------------------------------

    def see(self, run_id: str, configurable: Mapping[str, Any] | None) -> None:
        """Keep the template's keys of a run's `configurable` (the first seen wins)."""
        if configurable is None or not self.fields:
            return
        values = {k: configurable[k] for k in self.fields if k in configurable}
        self._keep(self._seen, run_id, values, replace=False)

    def seen(self, run_id: str) -> dict[str, Any] | None:
        """Take what `see` kept of the run (None: no config of it was seen)."""
        with self._lock:
            return self._seen.pop(run_id, None)

    def resolve_seen(self, run_id: str, seen: dict[str, Any] | None) -> str | None:
        """`resolve` the run from what `seen` took of it (a callback handler's only source)."""
        return self.resolve(run_id, [(_SEEN if seen is not None else _UNSEEN, seen)])

    def _keep(
        self, table: OrderedDict[str, Any], run_id: str, value: Any, *, replace: bool
    ) -> None:
        with self._lock:
            if replace or run_id not in table:
                table[run_id] = value
            table.move_to_end(run_id)
            while len(table) > _KEEP:
                table.popitem(last=False)
