"""langchain-rememberer: long-term experience memory for LangChain agents (REMEMBERER / RLEM).

The package splits into *functional transformations* (pure: `rlem`, `similarity`, `exemplars`)
and *stateful operations* (`RemembererMemory` on Chroma, and the LangChain adapters).
"""

from langchain_rememberer._migrate import MigrationReport
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
from langchain_rememberer.config import (
    RetrievalConfig,
    RLEMConfig,
    SpoolConfig,
    TextLimits,
)
from langchain_rememberer.embeddings import WordLlamaEmbeddings
from langchain_rememberer.errors import (
    EmbeddingDimensionError,
    FeedbackError,
    InvalidInputError,
    ReferencePoolError,
    RemembererError,
    ScoringError,
    StorageError,
)
from langchain_rememberer.exemplars import parse_action_values
from langchain_rememberer.lift import LiftReport
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import (
    ActionValue,
    CompactReport,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    Step,
)

__version__ = "0.2.0"
"""The release: the one place it is written (the wheel's version is read from here)."""

__all__ = [
    "ActionValue",
    "AsyncRLEMCallbackHandler",
    "CompactReport",
    "EmbeddingDimensionError",
    "Episode",
    "FeedbackError",
    "FeedbackScorer",
    "InvalidInputError",
    "JudgeVerdict",
    "LLMJudgeScorer",
    "LangSmithFeedbackScorer",
    "LearnReport",
    "LiftReport",
    "MemoryStats",
    "MigrationReport",
    "RLEMCallbackHandler",
    "RLEMConfig",
    "ReferencePoolError",
    "RemembererError",
    "RemembererMemory",
    "RemembererMiddleware",
    "RetrievalConfig",
    "RetrievedState",
    "Scorer",
    "ScoringError",
    "SpoolConfig",
    "Step",
    "StorageError",
    "TextLimits",
    "ToolRewardScorer",
    "WordLlamaEmbeddings",
    "episode_from_messages",
    "exemplars_prompt",
    "exemplars_runnable",
    "parse_action_values",
]
