"""The real-model probe's pure half: situations, block formats, prompts and the answer parser.

`probe.py` sends these to a local model; `tests/unit_tests/test_probe_cases.py` checks them
without one. A *situation* is one decision: a task, an observation that lists the valid
actions, and a past lesson about it (an encouraged and a discouraged action, both valid, the
right one not inferable from the observation). Its *control* shows instead the lesson of an
unrelated situation whose encouraged action is not valid here: copying it is blind copying.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from typing import Literal

from langchain_rememberer import ActionValue, RetrievalConfig, RetrievedState
from langchain_rememberer.exemplars import fit_exemplars, select_exemplars
from langchain_rememberer.prompts import EXEMPLAR_TEMPLATE, EXEMPLARS_PROMPT

Placement = Literal["system", "after", "restated"]
Outcome = Literal["encouraged", "discouraged", "copied", "other", "invalid"]

SYSTEM = (
    "You are an agent acting in an environment. Each turn shows the task, what you observe and "
    "the valid actions. Reply with exactly one valid action, on one line, as: Action: <action>"
)

AGENT_SYSTEM = f"""{SYSTEM}

You play text adventure games and operate office apps for the user. Each turn you receive:
- Task: what the user wants done. It stays the same for the whole episode.
- Observation: the result of your previous action: the room you are in and what you see, or
  what a tool returned (search results, tickets, free rooms, carriers).
- Valid actions: the only commands the environment accepts right now, separated by "|".

How to act:
1. Read the task and the observation; remember what you already tried in this episode.
2. Choose the single action most likely to make progress on the task. Prefer actions that
   reveal new information (opening, searching, moving to an unexplored place) over repeating
   one that changed nothing.
3. Copy the action exactly as it is written in the valid actions, with its arguments.
4. Answer with one line only, for example:
   Action: move north
   Action: read_doc(name="handbook-a.md")
Never invent an action that is not listed, never answer with more than one action, and never
add explanations: the environment reads only the line starting with "Action:"."""
"""An agent's instructions, as long as real ones (~300 tokens): the cache episode's system."""


@dataclass(frozen=True)
class Situation:
    """One single-step decision and the lesson memory holds about it."""

    family: Literal["game", "app"]
    task: str
    observation: str
    valid: tuple[str, ...]
    encouraged: str
    discouraged: str

    def user_text(self) -> str:
        """What the model is asked: the task, the observation and the valid actions."""
        return (
            f"Task: {self.task}\nObservation: {self.observation}\n"
            f"Valid actions: {' | '.join(self.valid)}"
        )

    def lesson(self, similarity: float) -> RetrievedState:
        """The stored state of this situation: encouraged won (1.0), discouraged lost (-1.0)."""
        return RetrievedState(
            id=hashlib.sha256(f"{self.task}\n{self.observation}".encode()).hexdigest()[:16],
            task=self.task,
            observation=f"{self.observation} Valid actions: {' | '.join(self.valid)}",
            similarity=similarity,
            actions=[
                ActionValue(action=self.encouraged, q=1.0, visits=2, last_reward=1.0),
                ActionValue(action=self.discouraged, q=-1.0, visits=1, last_reward=-1.0),
            ],
        )


@dataclass(frozen=True)
class BlockFormat:
    """A wording of the exemplar block: the whole-block prompt and one exemplar's template."""

    name: str
    prompt: str
    template: str


PREVIOUS_PROMPT = """<experience_memory>
Situations from past runs that resemble the current one. The number after each action is its \
learned value (expected total reward) in that situation. Prefer encouraged actions when they fit \
the current situation; avoid discouraged ones.
{exemplars}
</experience_memory>"""
"""The library's block header up to issue 21 (the `previous` format)."""

GUARDED_PROMPT = """<experience_memory>
Lessons from past runs, most similar last. An encouraged action worked there: take it only if \
it is one of the valid actions here and the situation matches. Never repeat a discouraged action.
{exemplars}
</experience_memory>"""

GUARDED_TEMPLATE = """<exemplar similarity="{similarity:.2f}">
<task>{task}</task>
<observation>{observation}</observation>
<encouraged>
{encouraged}
</encouraged>
<discouraged>
{discouraged}
</discouraged>
</exemplar>"""

REMINDER_PROMPT = f"""{GUARDED_PROMPT[: -len("</experience_memory>")]}\
Now answer for the current situation, with one of its valid actions.
</experience_memory>"""

FORMATS = {
    "previous": BlockFormat("previous", PREVIOUS_PROMPT, EXEMPLAR_TEMPLATE),
    "guarded": BlockFormat("guarded", GUARDED_PROMPT, GUARDED_TEMPLATE),
    "reminder": BlockFormat("reminder", REMINDER_PROMPT, GUARDED_TEMPLATE),
    "library": BlockFormat("library", EXEMPLARS_PROMPT, EXEMPLAR_TEMPLATE),
}
"""The block formats tried. `library` is whatever `prompts.py` holds when the probe runs (the
`reminder` wording from issue 21 to issue 27, an app-neutral one since); `previous` is the
library's wording before issue 21. Action lines are rendered by the library in every format
(`<action value=.. tried=..>` elements since issue 27, `action -> value (tried Nx)` before)."""


def render_block(states: list[RetrievedState], block_format: BlockFormat) -> str:
    """The block for `states` (most similar first) as the library renders it, in a format."""
    config = RetrievalConfig()
    block, _ = fit_exemplars(
        select_exemplars(states, config),
        config,
        prompt=block_format.prompt,
        template=block_format.template,
    )
    return block


def messages_for(situation: Situation, block: str, placement: Placement) -> list[dict[str, str]]:
    """The chat request: the block appended to the system message, or after the conversation."""
    if not block:
        return [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": situation.user_text()},
        ]
    if placement == "system":
        return [
            {"role": "system", "content": f"{SYSTEM}\n\n{block}"},
            {"role": "user", "content": situation.user_text()},
        ]
    after = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": situation.user_text()},
    ]
    if placement == "restated":
        # The current turn repeated after the block: the last thing the model reads is its own
        # situation, not an exemplar's.
        return [*after, {"role": "user", "content": restated(block, situation)}]
    return [*after, {"role": "user", "content": block}]


def restated(block: str, situation: Situation) -> str:
    """The block followed by the current situation again, for the `restated` placement."""
    return f"{block}\n\nThe current situation, to act in:\n{situation.user_text()}"


_ACTION_PREFIX = re.compile(r"^\W*action\W*:\s*(?P<rest>.*)$", re.IGNORECASE)


def _norm(text: str) -> str:
    """Lower case, quotes and backticks unified, whitespace collapsed, end punctuation off."""
    text = text.replace("`", "").replace("*", "").replace("'", '"').lower()
    return " ".join(text.split()).strip(" .;:")


def parse_answer(text: str, candidates: tuple[str, ...] | list[str]) -> str | None:
    """The candidate action a model's text answer names, or None.

    An `Action: ...` line naming a candidate exactly wins; otherwise the candidate mentioned
    first in the whole answer (the longest of those starting at the same place).
    """
    by_norm = {_norm(c): c for c in candidates}
    for line in text.splitlines():
        match = _ACTION_PREFIX.match(line.strip())
        if match and _norm(match["rest"]) in by_norm:
            return by_norm[_norm(match["rest"])]
    flat = _norm(text)
    found = [(flat.find(n), -len(n), c) for n, c in by_norm.items() if n and n in flat]
    return min(found)[2] if found else None


def outcome(answer: str | None, situation: Situation, copied_action: str | None) -> Outcome:
    """What a parsed answer was, for a situation (and the unrelated action a control shows)."""
    if answer is None:
        return "invalid"
    if answer == situation.encouraged:
        return "encouraged"
    if answer == situation.discouraged:
        return "discouraged"
    if copied_action is not None and answer == copied_action:
        return "copied"
    return "other" if answer in situation.valid else "invalid"


# -- situations -----------------------------------------------------------------------------------

_GOALS = [
    "Find the key and unlock the chest.",
    "Find the coin and put it in the box.",
    "Cook a meal with the red apple.",
    "Water the plant in the garden.",
    "Read the old map.",
    "Bring the lamp to the study.",
]
_ROOMS = ["kitchen", "hallway", "cellar", "attic", "library", "garage", "pantry", "porch"]
_GAME_ACTIONS = [
    "move north",
    "move south",
    "move east",
    "move west",
    "open drawer",
    "open cupboard",
    "open trapdoor",
    "look under the rug",
    "search the shelf",
    "climb the ladder",
]
_APPS = [
    (
        "search_docs",
        [
            "How many vacation days do I get?",
            "Can I carry over unused leave?",
            "What is the parental leave policy?",
            "How do I claim travel expenses?",
            "What is the dress code?",
            "How do I request a new laptop?",
        ],
        "Candidates: {items}",
        'read_doc(name="{item}")',
        ["handbook-a.md", "handbook-b.md", "handbook-c.md", "policies-2023.md", "faq-hr.md"],
    ),
    (
        "search_tickets",
        [
            "My VPN drops every hour.",
            "Outlook will not sync my calendar.",
            "I cannot print from my laptop.",
            "Payroll shows the wrong bank account.",
            "My badge does not open the garage.",
            "The wiki says access denied.",
        ],
        "Found 3 tickets: {items}",
        "open_ticket(id={item})",
        ["4411", "4417", "4502", "4630", "4788"],
    ),
    (
        "find_rooms",
        [
            "Book a room for 6 people tomorrow at 10am.",
            "I need a quiet room for a call at 3pm.",
            "Book a room with a projector for Friday.",
            "Reserve a room for the team lunch.",
            "Book a room for an interview on Monday.",
            "Find a room for 12 people next week.",
        ],
        "Free rooms: {items}",
        'book_room(room="{item}")',
        ["Atlas", "Borealis", "Cedar", "Delta", "Elm"],
    ),
    (
        "list_carriers",
        [
            "Where is my order 42?",
            "Track the parcel for order 77.",
            "Has order 19 shipped yet?",
            "When will order 305 arrive?",
            "Where is the package for order 8?",
            "Is order 1200 delayed?",
        ],
        "Carriers used for this order: {items}",
        'track(carrier="{item}")',
        ["dhl", "ups", "fedex", "gls", "dpd"],
    ),
]


def _game(rng: random.Random, index: int) -> Situation:
    goal = _GOALS[index % len(_GOALS)]
    room = _ROOMS[(index * 3 + index // len(_GOALS)) % len(_ROOMS)]
    valid = tuple(rng.sample(_GAME_ACTIONS, 4))
    encouraged, discouraged = rng.sample(valid, 2)
    observation = f"You are in the {room}. It is dark and quiet; nothing here stands out."
    return Situation("game", goal, observation, valid, encouraged, discouraged)


def _app(rng: random.Random, index: int) -> Situation:
    tool, questions, listing, action, items = _APPS[index % len(_APPS)]
    question = questions[(index // len(_APPS)) % len(questions)]
    picked = rng.sample(items, 3)
    valid = tuple(action.format(item=item) for item in picked)
    encouraged, discouraged = rng.sample(valid, 2)
    observation = f"{tool}: {listing.format(items=', '.join(picked))}"
    return Situation("app", question, observation, valid, encouraged, discouraged)


def situations(per_family: int = 24, seed: int = 0) -> list[Situation]:
    """`per_family` text-game and `per_family` app situations, distinct, in a fixed order."""
    rng = random.Random(seed)
    games = [_game(rng, i) for i in range(per_family)]
    apps = [_app(rng, i) for i in range(per_family)]
    return [s for pair in zip(games, apps, strict=True) for s in pair]


def control_lesson(situation: Situation, pool: list[Situation]) -> Situation:
    """An unrelated situation of the pool (another task) whose encouraged action is invalid here.

    Taken from the other family when one fits, like a leak from another app or game.
    """
    others = [
        s
        for s in pool
        if s.task != situation.task
        and s.encouraged not in situation.valid
        and s.discouraged not in situation.valid
    ]
    other_family = [s for s in others if s.family != situation.family]
    return (other_family or others)[pool.index(situation) % len(other_family or others)]


_SCENERY = (
    "In one part of the room you see a wooden table, that has nothing on it. There is also a "
    "shoe cabinet, that is closed. You also see a coat rack with an old coat on it. Through an "
    "open doorway to the north you see a corridor; to the east, a closed wooden door."
)


def episode(steps: int = 10) -> list[tuple[Situation, str]]:
    """A scripted text-game episode: each step's situation and the action the agent takes.

    Observations are about as long as TextWorldExpress's room descriptions (~80 tokens).
    """
    rooms = _ROOMS + _ROOMS
    out = []
    for t in range(steps):
        valid = ("move north", "move east", "open shoe cabinet", "look under the rug")
        situation = Situation(
            "game",
            "Find the key and unlock the chest.",
            f"You are in the {rooms[t]} (step {t}). {_SCENERY}",
            valid,
            valid[t % 2],
            valid[2 + t % 2],
        )
        out.append((situation, situation.encouraged))
    return out
