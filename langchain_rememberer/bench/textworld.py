"""TextWorldExpress games as a gym-like environment and as one LangChain tool, `act(command)`.

`TextWorldEnv` owns one JVM (TextWorldExpress runs in Java through py4j), so keep one env per
worker, never share it between threads, and close it (`with TextWorldEnv(...) as env:`).
`make_act_tool(env)` exposes it to an agent: the tool's content is the new observation followed
by the valid actions, and its artifact carries the step reward, so `RemembererMiddleware`
learns from it.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from langchain_core.tools import BaseTool, StructuredTool

from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.errors import RemembererError

__all__ = [
    "EnvUnavailableError",
    "StepResult",
    "TextWorldEnv",
    "make_act_tool",
    "observation_key",
    "parse_env_spec",
    "parse_game_params",
    "render_observation",
    "tool_content",
]

logger = logging.getLogger(__name__)

GAMES = ("coin", "mapreader", "cookingworld", "twc", "arithmetic", "sorting", "simonsays")
"""TextWorldExpress games accepted in an env spec `twx:<game>`."""

JAVA_HINT = (
    "TextWorldExpress needs a Java runtime (11 or newer) on PATH. Install one, e.g. "
    "`sudo apt-get install default-jre-headless` (Debian/Ubuntu) or `brew install openjdk`, "
    "then retry."
)

_VALID_LINE = re.compile(r"^Valid actions: (.*)$", re.M)
_PARAM = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(-?\d+)\s*$")


class EnvUnavailableError(RemembererError, RuntimeError):
    """The environment cannot start: Java or textworld-express is missing, or a bad spec."""


def parse_env_spec(spec: str) -> str:
    """Return the game name of an env spec such as `twx:coin`."""
    kind, _, game = spec.partition(":")
    if kind != "twx" or game not in GAMES:
        msg = f"unknown env spec {spec!r}; use twx:<game> with <game> one of {', '.join(GAMES)}"
        raise EnvUnavailableError(msg)
    return game


def parse_game_params(params: str) -> str:
    """Validate `key=int` pairs separated by commas and return them normalised.

    TextWorldExpress silently ignores malformed strings (the next reset then fails), so they
    are rejected here with a readable message.
    """
    parts = [p for p in params.split(",") if p.strip()]
    normalised = []
    for part in parts:
        match = _PARAM.match(part)
        if match is None:
            msg = (
                f"bad game parameter {part.strip()!r} in {params!r}; write comma-separated "
                "key=integer pairs, e.g. 'numLocations=6,includeDoors=1'"
            )
            raise EnvUnavailableError(msg)
        normalised.append(f"{match[1]}={int(match[2])}")
    return ",".join(normalised)


def render_observation(text: str, valid_actions: list[str]) -> str:
    """The text an agent sees: the observation, then the valid actions (sorted, one line)."""
    body = normalize_whitespace(text)
    return f"{body}\nValid actions: {' | '.join(sorted(valid_actions))}"


@dataclass(frozen=True)
class StepResult:
    """What the env returns after a reset or a step."""

    observation: str
    """The game's text: the room, or the feedback followed by the room after a failed action."""
    valid_actions: list[str]
    """Commands accepted now, sorted."""
    reward: float = 0.0
    """The change of the normalised score caused by this step."""
    done: bool = False
    """The game ended (success, failure) or the step budget is used up."""
    score: float = 0.0
    """The normalised score so far, in [0, 1]."""
    success: bool = False
    """The task was completed."""
    steps: int = 0
    """Steps taken in this episode."""
    info: dict[str, Any] = field(default_factory=dict, repr=False)
    """The raw TextWorldExpress infos."""

    @property
    def text(self) -> str:
        """Observation and valid actions, as shown to the agent."""
        return render_observation(self.observation, self.valid_actions)

    def artifact(self) -> dict[str, Any]:
        """The tool artifact: `reward` is what the middleware sums into the step reward."""
        return {
            "reward": self.reward,
            "done": self.done,
            "score": self.score,
            "success": self.success,
            "steps": self.steps,
            "valid_actions": self.valid_actions,
        }


class TextWorldEnv:
    """One TextWorldExpress game in its own JVM, with an exact step cap.

    Example:
        ```python
        from langchain_rememberer.bench.textworld import TextWorldEnv

        with TextWorldEnv("coin", "numLocations=6,includeDoors=1", max_steps=30) as env:
            first = env.reset(seed=3, fold="train")
            result = env.step(first.valid_actions[0])
        ```

    Args:
        game: A TextWorldExpress game name, e.g. "coin" or "mapreader".
        game_params: Comma-separated `key=int` generation parameters.
        max_steps: Episode budget: `done` becomes True after exactly this many steps.
    """

    def __init__(self, game: str, game_params: str = "", *, max_steps: int = 30) -> None:
        if shutil.which("java") is None:
            raise EnvUnavailableError(JAVA_HINT)
        try:
            from textworld_express import TextWorldExpressEnv  # noqa: PLC0415
        except ImportError as e:
            msg = "textworld-express is not installed; pip install 'langchain-rememberer[bench]'"
            raise EnvUnavailableError(msg) from e
        if game not in GAMES:
            msg = f"unknown TextWorldExpress game {game!r}; choose one of {', '.join(GAMES)}"
            raise EnvUnavailableError(msg)
        self.game = game
        self.game_params = parse_game_params(game_params)
        self.max_steps = max_steps
        logging.getLogger("py4j").setLevel(logging.WARNING)
        try:
            self._env: Any = TextWorldExpressEnv(envStepLimit=max_steps + 10)
        except Exception as e:
            raise EnvUnavailableError(f"could not start TextWorldExpress: {e}. {JAVA_HINT}") from e
        try:
            self._env.load(game, self.game_params)
        except ValueError as e:
            self.close()
            msg = f"TextWorldExpress rejected game params {game_params!r}: {e}"
            raise EnvUnavailableError(msg) from e
        self.task = ""
        self._steps = 0
        self._last: StepResult | None = None

    def __enter__(self) -> TextWorldEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self, *, seed: int, fold: str = "train") -> StepResult:
        """Start the game of `seed` (the seed alone decides the map) and return o_0."""
        obs, infos = self._env.reset(seed=seed, gameFold=fold, generateGoldPath=False)
        if obs.startswith("ERROR"):
            msg = f"TextWorldExpress could not start {self.game}({self.game_params}): {obs}"
            raise EnvUnavailableError(msg)
        self.task = normalize_whitespace(str(infos["taskDescription"]))
        self._steps = 0
        self._last = StepResult(obs, sorted(infos["validActions"]), info=infos)
        return self._last

    def step(self, command: str) -> StepResult:
        """Run one command; an unknown command costs a step and changes nothing."""
        if self._last is None:
            msg = "call reset() before step()"
            raise EnvUnavailableError(msg)
        if self._last.done:
            return StepResult(
                "The episode is over.", [], done=True, score=self._last.score,
                success=self._last.success, steps=self._steps, info=self._last.info,
            )  # fmt: skip
        obs, reward, done, infos = self._env.step(normalize_whitespace(command))
        self._steps += 1
        text = normalize_whitespace(obs)
        look = normalize_whitespace(str(infos.get("look", "")))
        if look and look not in text:
            text = f"{text} {look}"  # feedback such as "That is already closed." + the room
        if infos.get("taskfailure"):
            text = f"{text} The task can no longer be completed."
        success = bool(infos.get("tasksuccess"))
        done = bool(done or success or infos.get("taskfailure") or self._steps >= self.max_steps)
        self._last = StepResult(
            text,
            sorted(infos["validActions"]),
            reward=float(reward),
            done=done,
            score=float(infos["score"]),
            success=success,
            steps=self._steps,
            info=infos,
        )
        return self._last

    @property
    def last(self) -> StepResult | None:
        """The latest reset or step result."""
        return self._last

    def close(self) -> None:
        """Stop the JVM and wait for it; calling it twice is harmless."""
        env = getattr(self, "_env", None)
        if env is None:
            return
        self._env = None
        try:
            env.close()
            env._gateway.java_process.wait(timeout=10)
        except Exception:
            logger.debug("TextWorldExpress JVM did not close cleanly", exc_info=True)
        env.close = lambda: None  # its __del__ would shut the closed gateway down again


ObservationKey = Literal["full", "actions", "room+actions"]
_ROOM = re.compile(r"You are in the ([^.]+)\.")


def observation_key(mode: ObservationKey = "room+actions") -> Callable[[str], str]:
    """A canonicaliser of TextWorld observations for `RemembererMemory(observation_key=...)`.

    The paper matched WebShop pages by type rather than by text; this is the same idea for
    text games. `full` keeps the whole text; `actions` keeps only the sorted valid actions
    (which exits, doors and objects are at hand, whatever the room); `room+actions` adds the
    room's name. States from different maps then match on what can be done there.
    """

    def key(observation: str) -> str:
        text = normalize_whitespace(observation)
        valid = _VALID_LINE.search(observation)
        if mode == "full" or valid is None:
            return text
        room = _ROOM.findall(text) if mode == "room+actions" else []
        where = f"In the {room[-1]}. " if room else ""
        return f"{where}Valid actions: {valid[1].strip()}"

    return key


def tool_content(result: StepResult) -> str:
    """The tool's content for a step: observation, valid actions, and the end when done."""
    if not result.done:
        return result.text
    state = "succeeded" if result.success else "ended"
    return f"{result.text}\nThe episode {state} (score {result.score:.2f})."


class Steppable(Protocol):
    """Anything that runs a command like `TextWorldEnv.step`."""

    def step(self, command: str) -> StepResult:
        """Run one command."""
        ...


def make_act_tool(env: Steppable, *, name: str = "act") -> BaseTool:
    """The env as one LangChain tool `act(command)`.

    Content: the new observation and the valid actions. Artifact: `{"reward", "done",
    "score", "success", ...}` (`response_format="content_and_artifact"`).
    """

    def act(command: str) -> tuple[str, dict[str, Any]]:
        result = env.step(command)
        return tool_content(result), result.artifact()

    return StructuredTool.from_function(
        act,
        name=name,
        description=(
            "Run one text command in the game, exactly as written in 'Valid actions', "
            "e.g. act(command='move east'). Returns what you see next."
        ),
        response_format="content_and_artifact",
    )
