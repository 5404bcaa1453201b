"""Where `benchmarks/probe_setup.py` keeps the models: the user's cache, not a fixed folder."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import probe_setup


def test_the_default_cache_is_in_the_users_cache_directory(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv(probe_setup.CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(sys, "platform", "linux")
    assert probe_setup.default_cache() == tmp_path / "xdg" / "langchain-rememberer" / "models"
    monkeypatch.setenv(probe_setup.CACHE_VARIABLE, str(tmp_path / "mine"))
    assert probe_setup.default_cache() == tmp_path / "mine"


def test_print_cache_prints_the_flag_or_the_default(monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.setenv(probe_setup.CACHE_VARIABLE, str(tmp_path / "env"))
    assert probe_setup.main(["--print-cache"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "env")
    assert probe_setup.main(["--print-cache", "--cache", str(tmp_path / "flag")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "flag")
    # Without the wheels, nothing is assembled and the folder is not created.
    assert probe_setup.main(["--cache", str(tmp_path / "empty")]) == 0
    assert "skipped (download its wheels)" in capsys.readouterr().out
    assert not (tmp_path / "empty").exists()
