"""Errors raised by langchain-rememberer.

Every error is a `RemembererError`, so callers can catch the whole family at once. Messages say
what was received and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "EmbeddingDimensionError",
    "FeedbackError",
    "InvalidInputError",
    "ReferencePoolError",
    "RemembererError",
    "ScoringError",
    "StorageError",
]


class RemembererError(Exception):
    """Base class of every error raised by langchain-rememberer."""


class InvalidInputError(RemembererError, ValueError):
    """An argument or an episode failed validation; nothing was written."""


class StorageError(RemembererError):
    """The Chroma storage could not be read or written."""


class EmbeddingDimensionError(StorageError):
    """A stored collection was built with embeddings of another dimension."""


class ReferencePoolError(RemembererError, ValueError):
    """A reference-implementation YAML pool could not be read safely."""


class FeedbackError(RemembererError):
    """Delayed feedback named a run that is unknown or already learned."""


class ScoringError(RemembererError):
    """A scorer could not score an episode; the episode is not learned."""
