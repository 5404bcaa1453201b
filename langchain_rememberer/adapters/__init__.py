"""LangChain adapters: a run of an agent, graph or chain becomes an `Episode` the memory learns.

`RemembererMiddleware` (for `create_agent`) and `RLEMCallbackHandler` (for graphs, LCEL chains
and `AgentExecutor`) share one run → episode mapping (`trajectory`), one run registry and the
same scorers. The library core never imports this package.
"""

from langchain_rememberer.adapters.async_callbacks import AsyncRLEMCallbackHandler
from langchain_rememberer.adapters.callbacks import RLEMCallbackHandler
from langchain_rememberer.adapters.feedback import LangSmithFeedbackScorer
from langchain_rememberer.adapters.middleware import RemembererMiddleware
from langchain_rememberer.adapters.prompting import exemplars_prompt, exemplars_runnable
from langchain_rememberer.adapters.scoring import (
    FeedbackScorer,
    JudgeVerdict,
    LLMJudgeScorer,
    Scorer,
    ToolRewardScorer,
)
from langchain_rememberer.adapters.trajectory import episode_from_messages

__all__ = [
    "AsyncRLEMCallbackHandler",
    "FeedbackScorer",
    "JudgeVerdict",
    "LLMJudgeScorer",
    "LangSmithFeedbackScorer",
    "RLEMCallbackHandler",
    "RemembererMiddleware",
    "Scorer",
    "ToolRewardScorer",
    "episode_from_messages",
    "exemplars_prompt",
    "exemplars_runnable",
]
