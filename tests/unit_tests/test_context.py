"""What a middleware hook learns about its run: config, task override, shared run id."""

from __future__ import annotations

from types import SimpleNamespace
from uuid import uuid4

from langchain_core.runnables import RunnableLambda

from langchain_rememberer.adapters._context import (
    annotate_agent_run,
    current_trace_run,
    run_config,
    shared_run_id,
    task_override,
)
from langchain_rememberer.adapters._runs import RunRegistry
from langchain_rememberer.adapters.recorder import TrajectoryRecorder


def test_outside_a_run_everything_is_neutral() -> None:
    assert run_config() == {}
    assert current_trace_run() is None
    assert shared_run_id({}) is None
    annotate_agent_run({}, "r", ["s"])  # nothing to annotate, and no error


def test_inside_a_runnable_the_config_is_its_own() -> None:
    seen = RunnableLambda(lambda _: run_config()).invoke(
        "x", config={"metadata": {"rememberer_task": "Named task"}}
    )
    assert task_override(seen) == "Named task"


def test_task_override_needs_text() -> None:
    assert task_override({"metadata": {"rememberer_task": "  "}}) is None
    assert task_override({"metadata": {"rememberer_task": 3}}) is None
    assert task_override({}) is None


def test_every_handler_in_the_run_claims_the_agent() -> None:
    registries = [RunRegistry(), RunRegistry()]
    root, node = uuid4(), uuid4()
    for runs in registries:
        runs.open(root, TrajectoryRecorder(task="t"))
        runs.attach(node, root)
    callbacks = SimpleNamespace(
        parent_run_id=node,
        handlers=[SimpleNamespace(runs=r) for r in registries] + [SimpleNamespace()],
    )
    assert shared_run_id({"callbacks": callbacks}) == str(root)
    for runs in registries:
        closed = runs.close(root)
        assert closed is not None
        assert closed.root_agent
