"""The memory commands load no benchmark code (a subprocess, so sys.modules starts clean)."""

from __future__ import annotations

import json
import subprocess
import sys

from langchain_rememberer import Episode, RemembererMemory, Step

PROBE = """
import json, sys
from langchain_rememberer.cli import main
sys.argv = ["rememberer", "stats", "--path", sys.argv[1], "--namespace", "default", "--json"]
try:
    main()
except SystemExit:
    pass
loaded = [m for m in sys.modules if m.startswith(("langchain_rememberer.bench", "textworld_express",
                                                  "langchain_rememberer.cli.bench"))]
print("LOADED=" + json.dumps(loaded))
"""


def test_stats_loads_no_benchmark_module(tmp_path, embeddings) -> None:
    memory = RemembererMemory(path=tmp_path / "m", embeddings=embeddings)
    memory.learn(Episode(task="t", steps=[Step(observation="o", action="a", reward=1.0)]))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "m")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert '"states": 1' in done.stdout, done.stdout + done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("LOADED="))
    assert json.loads(line.removeprefix("LOADED=")) == []
