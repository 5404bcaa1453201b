"""Wall time per env step: the env alone vs the memory (direct loop) vs create_agent + middleware.

Runs the same episodes (same seeds, same random numbers) through both harnesses of the
benchmark and prints ms per step and ratios against the env's own step time.

    python benchmarks/harness_overhead.py --episodes 20 --seed 0
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

from langchain_rememberer.bench.config import BenchConfig
from langchain_rememberer.bench.protocol import run_bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-seeds", type=int, default=10)
    parser.add_argument("--test-seeds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny budget, for tests")
    args = parser.parse_args()
    config = BenchConfig(
        epochs=1,
        train_seeds=2 if args.smoke else args.train_seeds,
        test_seeds=2 if args.smoke else args.test_seeds,
        seed=args.seed,
        methods=("no_memory", "rememberer"),
    )
    rows = {}
    for harness in ("direct", "agent"):
        result = run_bench(replace(config, harness=harness))
        for method, data in result["methods"].items():
            rows[f"{harness}/{method}"] = data["timing"]
    print(
        f"run: harness-overhead seed={args.seed} "
        f"train={config.train_seeds} test={config.test_seeds}"
    )
    print(f"{'harness/method':28} {'steps':>6} {'env ms':>8} {'total ms':>9} {'x env':>7}")
    for name, t in rows.items():
        ratio = t["total_ms_per_step"] / max(t["env_ms_per_step"], 1e-9)
        print(
            f"{name:28} {t['steps']:>6} {t['env_ms_per_step']:>8.2f} "
            f"{t['total_ms_per_step']:>9.2f} {ratio:>7.1f}"
        )
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
