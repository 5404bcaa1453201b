"""Every prompt the library sends or shows, as overridable module constants.

Each constant is the default of a parameter: `RemembererMemory(prompt=..., exemplar_template=...)`
for the exemplar block, `LLMJudgeScorer(rubric=..., prompt=..., system=...)` for the judge.
Slots are `str.format` fields; the text put in them is escaped by the caller.

Example:
    ```python
    from langchain_rememberer import prompts

    assert "{exemplars}" in prompts.EXEMPLARS_PROMPT
    assert "{rubric}" in prompts.JUDGE_PROMPT
    ```
"""

from __future__ import annotations

__all__ = [
    "ADVICE",
    "ADVICE_AVOID",
    "ADVICE_TAKE",
    "CURRENT_TASK",
    "EXEMPLARS_PROMPT",
    "EXEMPLAR_TEMPLATE",
    "JUDGE_PROMPT",
    "JUDGE_RUBRIC",
    "JUDGE_SYSTEM",
]

EXEMPLARS_PROMPT = """<experience_memory>
Lessons from earlier runs, most similar last. A lesson counts only for its own task: ignore \
lessons about other tasks. Where its task and situation match, take its encouraged action if \
available, even if another looks better; never take a discouraged action.
{exemplars}
</experience_memory>"""
"""The whole block; `{exemplars}` receives the rendered exemplars, most similar last.

Its words fit any app: it says "action" and "available", not a game's "valid actions". Pass
your app's own wording as `RemembererMemory(prompt=...)` (docs/helpdesk-lessons.md). Measured
by the probe (`benchmarks/probe.py`, docs/probe-results.md) on 36 app situations, 24 with an
observation pointing at the action that failed: read after the conversation and followed by
the current task and the advice (the middleware's default), Qwen2.5-Coder-0.5B followed the
lesson in 33 and took the discouraged action in 3; the 1.5B in 36 and 0."""

CURRENT_TASK = "The current task: {task}"
"""The line the middleware adds after the block when the block comes after the conversation
(`placement="after"`, the default): the current task, read last. Without it the 0.5B took an
unrelated lesson's action in 21 of 36 blocks showing only other tasks' lessons; with it, in 2
of 36 (docs/probe-results.md). `{task}` receives the run's task, on one line, cut and escaped."""

ADVICE = "In this situation of the current task: {advice}"
"""The line after `CURRENT_TASK` when a shown lesson is about the current task itself (the same
task text, similarity at least `RetrievalConfig.advice_similarity`): its encouraged action
(`ADVICE_TAKE`) and its discouraged ones (`ADVICE_AVOID`), said once more where a small model
reads last. Without it the 0.5B took the lesson's discouraged action in 7 of 36 situations,
with it in 3 (the 1.5B: 1, then 0; docs/probe-results.md)."""

ADVICE_TAKE = "take {action}."
"""`ADVICE`'s part for the encouraged action (escaped, on one line)."""

ADVICE_AVOID = "Do not take {actions}."
"""`ADVICE`'s part for the discouraged actions, joined by " or "."""

EXEMPLAR_TEMPLATE = """<exemplar similarity="{similarity:.2f}">
<task>{task}</task>
<observation>{observation}</observation>
<encouraged>
{encouraged}
</encouraged>
<discouraged>
{discouraged}
</discouraged>
</exemplar>"""
"""One exemplar; action lists are `<action value="Q" tried="N">action</action>` lines (answers
add a `<best_answer>` element), or `(none)`."""

JUDGE_SYSTEM = "You are a strict evaluator."
"""The judge's system message."""

JUDGE_RUBRIC = """Score 1.0 when the agent fully accomplished the task with correct results, \
0.0 when it failed or gave a wrong answer, and a value in between for partial success. A run \
that ended with an error is a failure."""
"""The default rubric of `LLMJudgeScorer`; pass `rubric=` to override it."""

JUDGE_PROMPT = """You judge how well an AI agent accomplished a task.
<rubric>
{rubric}
</rubric>
<task>
{task}
</task>
<trajectory>
{trajectory}
</trajectory>
<run_status>{status}</run_status>
Give a score in [0, 1] and a one-sentence reason."""
"""The judge's prompt, with `{rubric}`, `{task}`, `{trajectory}` and `{status}` slots."""
