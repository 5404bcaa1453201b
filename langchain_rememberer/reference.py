"""Safe import of the reference implementation's YAML memory pools (OpenDFM/Rememberer).

The pools map `!!python/tuple` keys `(observation, task, available_actions)` to an
`action_dict` whose keys are `!!python/tuple` `(action, reason)` and whose values carry
`qvalue`, `number` and `reward`. They are read with a safe loader that knows that one tag and
nothing else, so a pool cannot run code.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from langchain_rememberer.errors import ReferencePoolError
from langchain_rememberer.types import is_encodable, is_finite_number

__all__ = ["MAX_POOL_RECORDS", "MAX_POOL_VISITS", "PoolEntry", "load_pool"]

MAX_POOL_VISITS = 100_000
MAX_POOL_RECORDS = 2_000_000
"""The most log records (visits, summed over the pool) one import may create."""
"""Largest `number` (visit count N) accepted per (state, action) of a pool.

An action with N visits is imported as N log records, so the cap bounds an import's size; the
reference's training runs stay far below it. A larger pool entry is an error, not clamped.
"""


_MAX_ALIAS_NODES = 10_000
"""The most nodes one alias may stand for: the reference's aliased action tuples are tiny."""


class _PoolLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` plus `!!python/tuple`; every other python tag is rejected.

    An alias (`*name`) may stand for at most `_MAX_ALIAS_NODES` nodes: the reference writes
    aliases for repeated action tuples, but aliases of aliases (a "billion laughs") expand
    exponentially, even inside a mapping key, where PyYAML hashes every leaf.
    """

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        """Compose a node, refusing an alias that stands for too large a tree."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            node = self.anchors.get(event.anchor)
            if node is not None and _expanded(node, {}) > _MAX_ALIAS_NODES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"alias *{event.anchor} stands for more than {_MAX_ALIAS_NODES:,} nodes",
                    event.start_mark,
                )
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes `node` stands for once every alias in it is expanded (memoised)."""
    key = id(node)
    if key not in memo:
        memo[key] = 1  # a node inside itself (a recursive alias) counts once
        if isinstance(node, yaml.SequenceNode):
            memo[key] = 1 + sum(_expanded(child, memo) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            memo[key] = 1 + sum(_expanded(k, memo) + _expanded(v, memo) for k, v in node.value)
    return memo[key]


def _construct_tuple(loader: _PoolLoader, node: yaml.Node) -> tuple[Any, ...]:
    if not isinstance(node, yaml.SequenceNode):
        msg = f"!!python/tuple must tag a sequence (line {node.start_mark.line + 1})"
        raise ReferencePoolError(msg)
    return tuple(loader.construct_sequence(node, deep=True))


_PoolLoader.add_constructor("tag:yaml.org,2002:python/tuple", _construct_tuple)


@dataclass(frozen=True, kw_only=True)
class PoolEntry:
    """One (state, action) row of a reference pool."""

    task: str
    observation: str
    action: str
    q: float
    """The pool's `qvalue`."""
    visits: int
    """The pool's `number`."""
    reward: float
    """The pool's last immediate `reward`."""


def load_pool(path: str | Path) -> list[PoolEntry]:
    """Read a reference pool safely into flat (task, observation, action, Q, N, reward) rows.

    Raises:
        ReferencePoolError: the file is not valid YAML, uses another python tag, or does not
            have the reference layout.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_PoolLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as e:
        msg = (
            f"{path} uses a YAML tag that is not allowed ({e.problem}); only !!python/tuple keys "
            "of the reference pool format are accepted"
        )
        raise ReferencePoolError(msg) from e
    except (RecursionError, TypeError) as e:  # nested too deeply; an unhashable key
        msg = f"could not read reference pool {path}: {type(e).__name__}: {reprlib.repr(e)}"
        raise ReferencePoolError(msg) from e
    except (yaml.YAMLError, OSError, UnicodeDecodeError) as e:
        msg = f"could not read reference pool {path}: {e}"
        raise ReferencePoolError(msg) from e
    if not isinstance(data, dict):
        kind = type(data).__name__
        msg = f"{path} is not a reference pool: expected a mapping of states, got {kind}"
        raise ReferencePoolError(msg)
    entries, total = [], 0
    for key, record in data.items():
        observation, task = _state_key(path, key)
        actions = record.get("action_dict") if isinstance(record, dict) else None
        if not isinstance(actions, dict):
            msg = f"{path}: state {reprlib.repr(key)} has no action_dict mapping"
            raise ReferencePoolError(msg)
        for action_key, value in actions.items():
            entries.append(_entry(path, task, observation, action_key, value))
            total += entries[-1].visits
            if total > MAX_POOL_RECORDS:
                msg = f"{path}: the pool's visits add up to more than {MAX_POOL_RECORDS:,}"
                raise ReferencePoolError(msg)
    return entries


def _state_key(path: Path, key: object) -> tuple[str, str]:
    if not (isinstance(key, tuple) and len(key) >= 2 and all(isinstance(p, str) for p in key[:2])):
        msg = (
            f"{path}: a state key must be a tuple (observation, task, ...), got {reprlib.repr(key)}"
        )
        raise ReferencePoolError(msg)
    return key[0], key[1]


def _number(value: dict[str, Any], key: str, default: float | None = None) -> float:
    """A number of an action's record, named in the error when it is not one."""
    raw = value[key] if default is None else value.get(key, default)
    try:
        return float(raw)
    except (TypeError, ValueError, OverflowError) as e:
        msg = f"{key} {reprlib.repr(raw)} is not a number a float can hold ({e})"
        raise ValueError(msg) from e


def _entry(path: Path, task: str, observation: str, action_key: object, value: object) -> PoolEntry:
    action = action_key[0] if isinstance(action_key, tuple) and action_key else action_key
    try:
        if not isinstance(action, str) or not isinstance(value, dict):
            raise TypeError("bad action key or value")
        if not all(map(is_encodable, (task, observation, action))):
            raise ValueError("a lone surrogate in the state or action text")
        q, visits = _number(value, "qvalue"), value["number"]
        reward = _number(value, "reward", 0.0)
        if not (is_finite_number(q) and is_finite_number(reward)):
            raise ValueError("non-finite qvalue or reward")
        if isinstance(visits, bool) or not isinstance(visits, int):
            raise TypeError(f"number {visits!r} is not a whole number")
        if not 1 <= visits <= MAX_POOL_VISITS:
            raise ValueError(f"number {visits} is outside 1..{MAX_POOL_VISITS:,}")
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        msg = (
            f"{path}: action {reprlib.repr(action_key)} needs a string action, a finite qvalue "
            f"and a whole number between 1 and {MAX_POOL_VISITS:,}: {e}"
        )
        raise ReferencePoolError(msg) from e
    return PoolEntry(
        task=task, observation=observation, action=action, q=q, visits=visits, reward=reward
    )
