"""Exemplars: which stored actions to show, how to render them, and a text-mode parser.

Functional helpers only; `RemembererMemory.format_exemplars` wires them to retrieval. Prompts
live in `prompts` (re-exported here); pass your own to `render_exemplars` to override them.
Stored text (tasks, observations, actions) came from users and tools, so it is escaped: it cannot
close or forge the surrounding tags or add action lines.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from langchain_rememberer._text import escape_shown, normalize_whitespace
from langchain_rememberer.config import RetrievalConfig
from langchain_rememberer.prompts import (
    ADVICE,
    ADVICE_AVOID,
    ADVICE_TAKE,
    CURRENT_TASK,
    EXEMPLAR_TEMPLATE,
    EXEMPLARS_PROMPT,
)
from langchain_rememberer.types import ActionValue, RetrievedState

__all__ = [
    "ADVICE",
    "CURRENT_TASK",
    "EXEMPLARS_PROMPT",
    "EXEMPLAR_TEMPLATE",
    "Exemplar",
    "ParsedActions",
    "action_line",
    "escape_shown",
    "fit_exemplars",
    "parse_action_values",
    "render_exemplars",
    "select_exemplars",
    "with_current_task",
]


_ACTION_LINE = re.compile(
    r"^\s*(?:[-*•]\s+|\d+[.)]\s+)?(?P<action>.+?)\s*->\s*"
    r"(?P<value>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(?:\(.*\))?\s*[.,;]?\s*$"
)


class Exemplar(BaseModel):
    """A retrieved state with the actions chosen to show."""

    model_config = ConfigDict(frozen=True)

    state: RetrievedState
    encouraged: list[ActionValue]
    discouraged: list[ActionValue]


def select_exemplars(
    states: Sequence[RetrievedState], config: RetrievalConfig | None = None
) -> list[Exemplar]:
    """Choose which actions of each state to show as encouraged and discouraged.

    Only actions tried at least `config.min_visits` times count. Among them, let best be the
    highest Q in the state:
    - *encouraged*: Q > `discourage_threshold` and within `discourage_margin` of best, highest
      first;
    - *discouraged*: Q < `discourage_threshold` (it lost); or its latest immediate reward was
      negative (the tool reported a failure or a penalty, even if the run recovered later); or
      Q more than `discourage_margin` below a best that is itself above the threshold (a better
      alternative is known there); lowest first.
    An answering action (one with a kept `answer`) is judged by the return of its best answer
    instead of its Q: the answers given in a state share one Q, and an answer judged right is a
    lesson even when other answers there were wrong.
    A neutral action (Q at the threshold with nothing better known, e.g. answering after a run
    whose reward came earlier) is shown as neither. States with nothing to show are skipped;
    the order of `states` is kept.

    Example:
        ```python
        from langchain_rememberer import ActionValue, RetrievedState
        from langchain_rememberer.exemplars import select_exemplars

        state = RetrievedState(
            id="s",
            task="t",
            observation="o",
            similarity=1.0,
            actions=[
                ActionValue(action="direct", q=1.0, visits=2),
                ActionValue(action="detour", q=0.5, visits=1),
                ActionValue(action="final_answer", q=0.0, visits=3),
            ],
        )
        (shown,) = select_exemplars([state])
        assert [a.action for a in shown.encouraged] == ["direct"]
        assert [a.action for a in shown.discouraged] == ["final_answer", "detour"]
        ```
    """
    config = config or RetrievalConfig()
    exemplars = []
    for state in states:
        known = [a for a in state.actions if a.visits >= config.min_visits]
        if not known:
            continue
        best = max(_value(a) for a in known)
        high = [
            a
            for a in known
            if _value(a) > config.discourage_threshold and not _lost(a, best, config)
        ]
        low = [a for a in known if _lost(a, best, config)]
        encouraged = sorted(high, key=lambda a: (-_value(a), -a.visits))[: config.max_encouraged]
        discouraged = sorted(low, key=lambda a: (_value(a), -a.visits))[: config.max_discouraged]
        if encouraged or discouraged:
            exemplars.append(Exemplar(state=state, encouraged=encouraged, discouraged=discouraged))
    return exemplars


def _value(action: ActionValue) -> float:
    """What an action is judged by: its Q, or for an answer the return of its best answer."""
    return action.answer_value if action.answer_value is not None else action.q


def _lost(action: ActionValue, best: float, config: RetrievalConfig) -> bool:
    """Discouraged: it lost, it was penalised, or a clearly better alternative is known."""
    threshold, value = config.discourage_threshold, _value(action)
    penalised = action.answer is None and action.last_reward < 0
    return (
        value < threshold
        or penalised
        or (best > threshold and value < best - config.discourage_margin)
    )


def action_line(action: ActionValue, limit: int) -> str:
    """One rendered action: an `<action>` element whose attributes hold the value and visits.

    The action text stands alone between its tags, with nothing after it on the line but the
    closing tag (and, for an answer, the best answer in an element of its own): a model that
    copies the action copies no value with it. An `action -> value` suffix was copied into
    answers by small models (the probe, docs/probe-results.md).

    Example:
        ```python
        from langchain_rememberer import ActionValue
        from langchain_rememberer.exemplars import action_line

        line = action_line(ActionValue(action="take coin", q=1.0, visits=3), 600)
        assert line == '<action value="1.00" tried="3">take coin</action>'
        ```
    """
    text = _shown_text(action.action, limit)
    line = f'<action value="{action.q:.2f}" tried="{action.visits}">{text}</action>'
    if action.answer is None:
        return line
    answer = _shown_text(action.answer, limit)
    return f'{line} <best_answer return="{action.answer_value or 0.0:.2f}">{answer}</best_answer>'


def _shown_text(text: str, limit: int) -> str:
    """Stored text as a block shows it: one line (whatever `observation_key` kept), cut, escaped.

    A newline kept in stored text would let it start a line of its own in the prompt.
    """
    return escape_shown(normalize_whitespace(text), limit)


def _action_lines(actions: Sequence[ActionValue], limit: int) -> str:
    if not actions:
        return "(none)"
    # One action per line: newlines inside an action would let it forge further lines.
    return "\n".join(action_line(a, limit) for a in actions)


def render_exemplars(
    exemplars: Sequence[Exemplar],
    config: RetrievalConfig | None = None,
    *,
    prompt: str = EXEMPLARS_PROMPT,
    template: str = EXEMPLAR_TEMPLATE,
) -> str:
    """Render exemplars (given most similar first) into one block, most similar last.

    The least similar exemplars are dropped until the block fits `config.max_chars`; when
    nothing fits (or there is nothing to show) the result is the empty string.
    """
    return fit_exemplars(exemplars, config, prompt=prompt, template=template)[0]


def fit_exemplars(
    exemplars: Sequence[Exemplar],
    config: RetrievalConfig | None = None,
    *,
    prompt: str = EXEMPLARS_PROMPT,
    template: str = EXEMPLAR_TEMPLATE,
) -> tuple[str, list[Exemplar]]:
    """`render_exemplars`, also returning the exemplars the block shows (most similar first).

    The structured twin of the block is what code reads instead of parsing the text back (the
    middleware puts it on the system message, see `RemembererMiddleware`).

    Example:
        ```python
        from langchain_rememberer import ActionValue, RetrievedState
        from langchain_rememberer.exemplars import fit_exemplars, select_exemplars

        state = RetrievedState(
            id="s",
            task="t",
            observation="o",
            similarity=0.9,
            actions=[ActionValue(action="take coin", q=1.0, visits=1)],
        )
        block, shown = fit_exemplars(select_exemplars([state]))
        assert '<action value="1.00" tried="1">take coin</action>' in block
        assert shown[0].encouraged[0].action == "take coin"
        ```
    """
    config = config or RetrievalConfig()
    rendered = [
        template.format(
            similarity=e.state.similarity,
            task=_shown_text(e.state.task, config.max_text_chars),
            observation=_shown_text(e.state.observation, config.max_text_chars),
            encouraged=_action_lines(e.encouraged, config.max_text_chars),
            discouraged=_action_lines(e.discouraged, config.max_text_chars),
        )
        for e in exemplars
    ]
    while rendered:
        block = prompt.format(exemplars="\n".join(reversed(rendered)))
        if len(block) <= config.max_chars:
            return block, list(exemplars[: len(rendered)])
        rendered.pop()  # the least similar one
    return "", []


def with_current_task(
    block: str,
    task: str,
    config: RetrievalConfig | None = None,
    *,
    shown: Sequence[Exemplar] = (),
    line: str = CURRENT_TASK,
    advice: str = ADVICE,
) -> str:
    r"""The block followed by the current task on a line of its own (`prompts.CURRENT_TASK`).

    What the middleware sends after the conversation (`placement="after"`): a model reading the
    block last takes the last lesson it read unless the current task comes after it. The task
    is shown as stored text is (one line, cut to `max_text_chars`, escaped). When one of the
    `shown` exemplars is a lesson of this very task (the same task text) at least
    `config.advice_similarity` similar, a last line repeats it as advice (`prompts.ADVICE`):
    a small model follows a lesson far more often when it is said after the current task. An
    empty block stays empty.

    Example:
        ```python
        from langchain_rememberer.exemplars import with_current_task

        assert with_current_task("<experience_memory>...</experience_memory>", "Find <b>") == (
            "<experience_memory>...</experience_memory>\nThe current task: Find &lt;b>"
        )
        assert with_current_task("", "Find the key.") == ""
        ```
        With the exemplars the block shows (`RemembererMemory.render_shown`):
        ```python
        from langchain_rememberer import Episode, RemembererMemory, Step
        from langchain_rememberer.exemplars import with_current_task

        memory = RemembererMemory(path=None)
        for run, action, reward in (("r1", "go east", 0.0), ("r2", "go down", 1.0)):
            step = Step(observation="a hall", action=action, reward=reward)
            memory.learn(Episode(task="Find the key.", run_id=run, steps=[step]))
        block, shown = memory.render_shown(memory.retrieve("Find the key.", "a hall"))
        assert with_current_task(block, "Find the key.", shown=shown).endswith(
            "The current task: Find the key.\n"
            "In this situation of the current task: take go down. Do not take go east."
        )
        ```
    """
    if not block:
        return ""
    config = config or RetrievalConfig()
    text = f"{block}\n{line.format(task=_shown_text(task, config.max_text_chars))}"
    said = _advice(shown, task, config, advice)
    return f"{text}\n{said}" if said else text


def _advice(shown: Sequence[Exemplar], task: str, config: RetrievalConfig, line: str) -> str:
    """`line` (`prompts.ADVICE`) for the first shown lesson of this very task, or ""."""
    if config.advice_similarity is None:
        return ""
    task = normalize_whitespace(task)
    limit = config.max_text_chars
    for e in shown:
        if e.state.similarity < config.advice_similarity or e.state.task != task:
            continue
        # An answer is judged by its text, which the block shows: "take final_answer" would
        # say nothing of it, and "do not" would forbid answering at all.
        take = [a.action for a in e.encouraged if a.answer is None][:1]
        avoid = [a.action for a in e.discouraged if a.answer is None]
        parts = [ADVICE_TAKE.format(action=_shown_text(a, limit)) for a in take]
        if avoid:
            shown_avoid = " or ".join(_shown_text(a, limit) for a in avoid)
            parts.append(ADVICE_AVOID.format(actions=shown_avoid))
        return line.format(advice=" ".join(parts)) if parts else ""
    return ""


class ParsedActions(BaseModel):
    """Result of `parse_action_values`: what was read, and what could not be."""

    model_config = ConfigDict(frozen=True)

    values: list[tuple[str, float]]
    """(action, value) pairs in the order they appeared."""
    unparsed: list[str]
    """Lines that contained `->` but not a readable `action -> number`."""

    @property
    def best(self) -> str | None:
        """The action with the highest value, or None when nothing was parsed."""
        return max(self.values, key=lambda av: av[1])[0] if self.values else None

    def explain(self) -> str:
        """A sentence for logs or for the model about what was not understood."""
        if not self.unparsed and self.values:
            return f"parsed {len(self.values)} action value(s)"
        shown = "; ".join(repr(line) for line in self.unparsed[:3]) or "no line at all"
        return (
            f"could not read {len(self.unparsed)} line(s) as 'action -> value': {shown}. "
            "Write one action per line followed by ' -> ' and a number, e.g. 'take coin -> 1.0'."
        )


def parse_action_values(text: str) -> ParsedActions:
    r"""Parse the paper's text format, one `action -> value` per line, tolerating other text.

    Example:
        ```python
        from langchain_rememberer.exemplars import parse_action_values

        parsed = parse_action_values("Thoughts...\n- open door -> 0.5\ntake coin -> 1")
        assert parsed.best == "take coin"
        ```
    """
    values: list[tuple[str, float]] = []
    unparsed: list[str] = []
    for line in text.splitlines():
        if "->" not in line:
            continue
        match = _ACTION_LINE.match(line)
        if match is None:
            unparsed.append(line.strip())
            continue
        action = html.unescape(match["action"]).strip()
        values.append((action, float(match["value"])))
    return ParsedActions(values=values, unparsed=unparsed)
