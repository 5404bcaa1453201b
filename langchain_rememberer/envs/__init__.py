"""Environments wrapped as LangChain tools, for the demo and the benchmark.

`TextWorldEnv` runs a TextWorldExpress game (needs Java and `pip install
'langchain-rememberer[bench]'`); `make_act_tool` turns it into the one tool `act(command)`.
"""

from __future__ import annotations

from langchain_rememberer.envs.textworld import (
    EnvUnavailableError,
    StepResult,
    TextWorldEnv,
    make_act_tool,
    observation_key,
    parse_env_spec,
    parse_game_params,
    render_observation,
    tool_content,
)

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
