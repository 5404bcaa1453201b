"""What an adapter can learn about the run it is in: config, task, trace, shared id.

Private helpers of `RemembererMiddleware` (`see_configurable`: of the handler); each returns a
neutral value (`{}`, None) rather than raise: the memory must never break the host agent's run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.tracers.langchain import LangChainTracer
from langgraph.config import get_config
from langsmith.run_helpers import get_current_run_tree

from langchain_rememberer._records import stable_id
from langchain_rememberer.adapters._namespaces import RunNamespaces
from langchain_rememberer.adapters._runs import Kind, Node, RunRegistry
from langchain_rememberer.errors import InvalidInputError
from langchain_rememberer.holdout import ARMS, UNIT_KEY, Arm
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import Episode

__all__ = [
    "annotate_agent_run",
    "child_configurable",
    "current_trace_run",
    "in_control_arm",
    "run_arm",
    "run_config",
    "see_configurable",
    "shared_run_id",
    "task_override",
    "unit_hash",
    "with_arm",
]

logger = logging.getLogger(__name__)


def run_config() -> dict[str, Any]:
    """The config of the graph run this hook runs in ({} outside of one)."""
    try:
        return dict(get_config())
    except RuntimeError:  # "called outside of a runnable context"; anything else is a bug
        return {}


def task_override(config: dict[str, Any]) -> str | None:
    """The task named in the run's metadata (`rememberer_task`), if any."""
    task = (config.get("metadata") or {}).get("rememberer_task")
    return task if isinstance(task, str) and task.strip() else None


def shared_run_id(config: dict[str, Any]) -> str | None:
    """The run id an `RLEMCallbackHandler` of the same run gives this agent (see `claim`).

    Called from the middleware's run-start node: the node's run is the callbacks' parent.
    """
    callbacks = config.get("callbacks")
    claimed = None
    for handler in getattr(callbacks, "handlers", None) or []:
        runs = getattr(handler, "runs", None)
        if isinstance(runs, RunRegistry):
            found = runs.claim(getattr(callbacks, "parent_run_id", None))  # every handler's
            claimed = claimed or found
    return claimed


def child_configurable(runs: RunRegistry, root: UUID) -> Mapping[str, Any] | None:
    """The root run's `configurable`, as a callback event inside it sees it (else None).

    Callbacks are given no config, and LangChain copies no `configurable` value into their
    metadata; inside a run, the config its children start with is in LangChain's context
    variable. It is this root's when its callbacks' parent is one of the root's runs, not an
    outer run the root was started inside. A root's own start sees none.
    """
    config = var_child_runnable_config.get()
    if not config:
        return None
    parent = getattr(config.get("callbacks"), "parent_run_id", None)
    node = runs.node(parent) if isinstance(parent, UUID) else None
    if node is None or node.root != root:
        return None
    configurable = config.get("configurable")
    return configurable if isinstance(configurable, Mapping) else {}


def see_configurable(namespaces: RunNamespaces, runs: RunRegistry, node: Node | None) -> None:
    """Keep the root run's `configurable` for the handler's namespace template, once seen.

    Called by the handler on each child run's start (`node`: its node, None if unknown).
    """
    if node is not None and node.kind is not Kind.HIDDEN and namespaces.fields:
        namespaces.see(str(node.root), child_configurable(runs, node.root))


def current_trace_run() -> Any:
    """The LangSmith run tree of the current call, or None when tracing is off."""
    try:
        return get_current_run_tree()
    except Exception:
        return None


def annotate_agent_run(config: dict[str, Any], run_id: str, ids: list[str], arm: str = "") -> None:
    """Put the run id, exemplar ids and arm on the agent's run in a LangSmith trace."""
    try:
        callbacks = config.get("callbacks")
        node = str(getattr(callbacks, "parent_run_id", None))
        for handler in getattr(callbacks, "handlers", None) or []:
            if isinstance(handler, LangChainTracer) and node in handler.run_map:
                # This hook runs as a node of the agent graph: the node's parent is the agent.
                parent = handler.run_map[node].parent_run_id
                agent = handler.run_map.get(str(parent)) or handler.run_map[node]
                agent.add_metadata(
                    {"rememberer_run_id": run_id, "rememberer_exemplar_ids": ids}
                    | ({"rememberer_arm": arm} if arm else {})
                )
                agent.add_tags(["rememberer", *([f"rememberer:{arm}"] if arm else [])])
                return
    except Exception:
        logger.debug("rememberer: could not annotate the agent run", exc_info=True)


# -- the holdout experiment (docs/lift.md) ---------------------------------------------------


def run_arm(memory: RemembererMemory, config: Mapping[str, Any], run_id: str) -> Arm | None:
    """The run's arm: by `config["metadata"]["rememberer_unit"]`, else by the run id.

    None when the memory has no holdout, or (warned) when the unit key is not a non-empty
    string: that run is left out of the experiment (it is shown lessons and not counted), so
    a bad key never breaks the run nor mixes a unit's runs across arms.
    """
    if not memory.holdout:
        return None
    unit = (config.get("metadata") or {}).get(UNIT_KEY, run_id)
    try:
        return memory.arm_for(unit)
    except InvalidInputError as e:
        logger.warning("rememberer: run %s is left out of the holdout experiment: %s", run_id, e)
        return None


def unit_hash(config: Mapping[str, Any]) -> str:
    """A hash of the run's own unit key (`rememberer_unit`); "" when none (or not a string)."""
    unit = (config.get("metadata") or {}).get(UNIT_KEY)
    return stable_id("unit", unit)[:16] if isinstance(unit, str) and unit.strip() else ""


def with_arm(episode: Episode, arm: object, holdout: float, unit: str = "") -> Episode:
    """The episode with its arm recorded (as it is when `arm` is none, or there is no holdout)."""
    if arm not in ARMS or not holdout:
        return episode
    found = {"arm": arm, "holdout": holdout, "unit": unit or None}
    return Episode(**{**episode.model_dump(), **found})


def in_control_arm(memory: RemembererMemory) -> bool:
    """Whether the run a prompt helper runs in is a control run (shown no lessons).

    Its unit key is the run config's `rememberer_unit`, else the root run id an
    `RLEMCallbackHandler` of the run knows (the id it learns the run under); without either,
    the helper cannot tell and shows lessons.
    """
    if not memory.holdout:
        return False
    config = var_child_runnable_config.get() or {}
    unit = (config.get("metadata") or {}).get(UNIT_KEY)
    if unit is None:
        callbacks = config.get("callbacks")
        parent = getattr(callbacks, "parent_run_id", None)
        for handler in getattr(callbacks, "handlers", None) or []:
            runs = getattr(handler, "runs", None)
            node = runs.node(parent) if isinstance(runs, RunRegistry) and parent else None
            if node is not None:
                unit = str(node.root)
                break
    try:
        return unit is not None and memory.arm_for(unit) == "control"
    except InvalidInputError:
        return False  # shown lessons, left out of the experiment (the handler warns)
