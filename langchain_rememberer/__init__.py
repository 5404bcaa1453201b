"""langchain-rememberer: long-term experience memory for LangChain agents (REMEMBERER / RLEM).

The package splits into *functional transformations* (pure: `rlem`, `similarity`, `exemplars`)
and *stateful operations* (`RemembererMemory` on Chroma, and the LangChain adapters).
"""

from langchain_rememberer.config import RetrievalConfig, RLEMConfig
from langchain_rememberer.embeddings import WordLlamaEmbeddings
from langchain_rememberer.errors import (
    EmbeddingDimensionError,
    FeedbackError,
    InvalidInputError,
    ReferencePoolError,
    RemembererError,
    StorageError,
)
from langchain_rememberer.exemplars import parse_action_values
from langchain_rememberer.memory import RemembererMemory
from langchain_rememberer.types import (
    ActionValue,
    Episode,
    LearnReport,
    MemoryStats,
    RetrievedState,
    Step,
)

__all__ = [
    "ActionValue",
    "EmbeddingDimensionError",
    "Episode",
    "FeedbackError",
    "InvalidInputError",
    "LearnReport",
    "MemoryStats",
    "RLEMConfig",
    "ReferencePoolError",
    "RemembererError",
    "RemembererMemory",
    "RetrievalConfig",
    "RetrievedState",
    "Step",
    "StorageError",
    "WordLlamaEmbeddings",
    "parse_action_values",
]
