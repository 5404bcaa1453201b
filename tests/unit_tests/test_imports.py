import langchain_rememberer

EXPECTED_ALL = [
    "CompactReport",
    "AsyncRLEMCallbackHandler",
    "ActionValue",
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
    "Step",
    "StorageError",
    "SpoolConfig",
    "TextLimits",
    "ToolRewardScorer",
    "WordLlamaEmbeddings",
    "episode_from_messages",
    "exemplars_prompt",
    "exemplars_runnable",
    "parse_action_values",
]


def test_all_is_pinned() -> None:
    assert sorted(langchain_rememberer.__all__) == sorted(EXPECTED_ALL)


def test_every_export_exists() -> None:
    for name in langchain_rememberer.__all__:
        assert getattr(langchain_rememberer, name) is not None
