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
    "EXEMPLARS_PROMPT",
    "EXEMPLAR_TEMPLATE",
    "JUDGE_PROMPT",
    "JUDGE_RUBRIC",
    "JUDGE_SYSTEM",
]

EXEMPLARS_PROMPT = """<experience_memory>
Lessons from past runs, most similar last. An encouraged action worked there: take it only if \
it is one of the valid actions here and the situation matches. Never repeat a discouraged action.
{exemplars}
Now answer for the current situation, with one of its valid actions.
</experience_memory>"""
"""The whole block; `{exemplars}` receives the rendered exemplars, most similar last.

Chosen by the real-model probe (`benchmarks/probe.py`, docs/tuning.md): with it in the system
message Qwen2.5-Coder-0.5B followed the encouraged action in 45 of 48 decisions, picked the
discouraged one in 2 and never copied an unrelated exemplar's action; the previous wording
("Situations from past runs that resemble the current one...") did 39, 5 and 0."""

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
"""One exemplar; action lists are `action -> value` lines, or `(none)`."""

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
