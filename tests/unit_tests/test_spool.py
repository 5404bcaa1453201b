"""The spool on real Chroma (embedded): settings, bounds, replay order and what it drops."""

from __future__ import annotations

import json
import logging

import pytest

from langchain_rememberer import Episode, InvalidInputError, RemembererMemory, Step
from langchain_rememberer.adapters._learning import finish_episode
from langchain_rememberer.config import SpoolConfig


def _episode(run_id: str, reward: float = 0.0) -> Episode:
    return Episode(
        task="t", run_id=run_id, steps=[Step(observation="o", action="a", reward=reward)]
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_episodes": 0}, "max_episodes: Input should be greater than or equal to 1"),
        ({"max_bytes": 10}, "max_bytes: Input should be greater than or equal to 1024"),
        ({"claim_timeout": 0}, "claim_timeout: Input should be greater than 0"),
        ({"directory": "  "}, "directory: Value error, directory must be a directory path"),
        ({"directory": 3}, "directory: Value error, directory must be a directory path"),
        ({"max_episode": 5}, "max_episode: Extra inputs are not permitted"),
    ],
)
def test_bad_spool_settings_are_a_clear_error(settings, message) -> None:
    with pytest.raises(InvalidInputError, match=rf"Invalid SpoolConfig: {message}"):
        SpoolConfig(**settings)


def test_a_spool_that_is_not_a_config_or_a_directory_is_rejected(make_memory, tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="spool must be a SpoolConfig \(or a dict of its fields\), got str"):
        make_memory(spool=str(tmp_path))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(InvalidInputError, match=r"spool directory .*file exists and is not a dir"):
        make_memory(spool=SpoolConfig(directory=a_file))


def test_default_directories(make_memory, tmp_path, embeddings) -> None:
    assert make_memory().spool.directory is None  # in memory: nothing outlives the process
    assert not make_memory().spool.enabled
    persistent = RemembererMemory(path=tmp_path / "db", embeddings=embeddings, collection_name="c")
    assert persistent.spool.directory == (tmp_path / "db-spool" / "c").resolve()
    off = SpoolConfig(enabled=False, directory=tmp_path / "s")
    disabled = RemembererMemory(path=tmp_path / "db", embeddings=embeddings, spool=off)
    assert disabled.spool.directory is None
    assert disabled.spool.keep("learn", _episode("r")) is False
    assert not (tmp_path / "s").exists()


def test_the_byte_bound_drops_the_oldest_with_a_warning(make_memory, tmp_path, caplog) -> None:
    memory = make_memory(spool=SpoolConfig(directory=tmp_path, max_bytes=1024))
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        for i in range(6):  # each file is about 400 bytes: two fit in 1024
            assert memory.spool.keep("learn", _episode(f"run-{i}"))
    sizes = [p.stat().st_size for p in tmp_path.iterdir()]
    print(
        f"\nbyte bound 1024: kept={memory.spool.kept} waiting={len(memory.spool)} "
        f"bytes={sum(sizes)} dropped={memory.spool.dropped}"
    )
    assert sum(sizes) <= 1024
    waiting = memory.spool.run_ids()
    assert waiting == [f"run-{i}" for i in range(6 - len(waiting), 6)]  # the newest
    assert memory.spool.dropped == 6 - len(waiting) > 0
    dropped = [r.getMessage() for r in caplog.records if "is full" in r.getMessage()]
    assert [m.split("run ")[1].split(",")[0] for m in dropped] == [
        f"run-{i}" for i in range(memory.spool.dropped)
    ]


def test_finish_episode_replays_older_episodes_first(make_memory, tmp_path) -> None:
    memory = make_memory(spool=SpoolConfig(directory=tmp_path))
    assert memory.spool.keep("learn", _episode("older", reward=1.0))
    assert memory.spool.keep("pending", _episode("waits"))
    report = finish_episode(memory, _episode("now"), lambda e: 2.0)
    assert report is not None
    assert report.targets == [2.0]
    assert memory.is_learned("older")
    assert memory.pending_runs() == ["waits"]
    assert len(memory.spool) == 0
    assert memory.spool.replayed == 2


def test_what_the_memory_rejects_is_dropped_not_retried(make_memory, tmp_path, caplog) -> None:
    memory = make_memory(spool=SpoolConfig(directory=tmp_path))
    memory.learn(_episode("taken", reward=1.0))
    assert memory.spool.keep("learn", _episode("taken", reward=-1.0))  # another episode, same id
    (tmp_path / f"{'0' * 20}-1-abcdef01.json").write_text("{not json")  # oldest, unreadable
    assert memory.spool.keep("learn", _episode("fine"))
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        report = memory.spool.replay()
    assert (report.learned, report.dropped, report.waiting) == (1, 2, 0)
    assert "dropped the unreadable spool file" in caplog.text
    assert "run taken dropped from the spool" in caplog.text
    assert memory.is_learned("fine")
    assert list(tmp_path.iterdir()) == []


def test_a_spooled_file_is_complete_json_naming_its_kind_and_namespace(
    make_memory, tmp_path
) -> None:
    memory = make_memory(spool=SpoolConfig(directory=tmp_path), namespace="ns1")
    assert memory.spool.keep("pending", _episode("r"))
    (path,) = tmp_path.iterdir()
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert (entry["kind"], entry["namespace"], entry["episode"]["run_id"]) == (
        "pending",
        "ns1",
        "r",
    )
    assert Episode.model_validate(entry["episode"]) == _episode("r")
