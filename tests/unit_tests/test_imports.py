import langchain_rememberer

EXPECTED_ALL = [
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


def test_all_is_pinned() -> None:
    assert sorted(langchain_rememberer.__all__) == sorted(EXPECTED_ALL)


def test_every_export_exists() -> None:
    for name in langchain_rememberer.__all__:
        assert getattr(langchain_rememberer, name) is not None
