"""Is `memory.lift()` calibrated? Coverage and false alarms by simulation with a known effect.

For each setting (reward kind, runs, control share), over `--seeds` seeds: the share of 95%
intervals covering an injected effect (target 93-97%), the share calling a zero effect
significant (target <= 6%), and for the always-valid interval the share that ever excludes 0
at a zero effect when checked after every run (target <= 5%). Pure statistics, no Chroma.

    python benchmarks/lift_calibration.py --seeds 400
"""

from __future__ import annotations

import argparse

import numpy as np

from langchain_rememberer import _lift_stats as st
from langchain_rememberer.lift import MIN_PER_ARM

SETTINGS = [  # (reward, runs, control share)
    ("continuous", 400, 0.5),
    ("continuous", 400, 0.2),
    ("binary", 400, 0.5),
    ("binary", 1000, 0.1),
]


def draw(seed: int, effect: float, kind: str, n: int, share: float) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    control = rng.random(n) < share
    lift = np.where(control, 0.0, effect)
    if kind == "binary":
        return control, (rng.random(n) < 0.5 + lift).astype(float)
    return control, rng.gamma(2.0, 0.25, size=n) + lift  # skewed, as rewards often are


def interval(control: np.ndarray, rewards: np.ndarray, kind: str, seed: int) -> tuple[float, ...]:
    m, c = rewards[~control], rewards[control]
    if kind == "binary":
        return st.newcombe_difference(int(m.sum()), len(m), int(c.sum()), len(c), confidence=0.95)
    rng = np.random.default_rng(seed)
    return st.bca_difference(m, c, confidence=0.95, resamples=1000, rng=rng)


def ever_excludes_zero(control: np.ndarray, rewards: np.ndarray, share: float) -> bool:
    centres, halves = st.confidence_sequence(
        rewards, control, np.full(len(rewards), share), confidence=0.95
    )
    enough = (np.cumsum(control) >= MIN_PER_ARM) & (np.cumsum(~control) >= MIN_PER_ARM)
    return bool(np.any(enough & (np.abs(centres) > halves)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--effect", type=float, default=0.10)
    args = parser.parse_args()
    print(f"run: lift_calibration seeds={args.seeds} effect={args.effect:+.2f}")
    print("  reward      runs share  coverage  false alarms  sequential ever")
    for kind, n, share in SETTINGS:
        covered = alarms = ever = 0
        for seed in range(args.seeds):
            low, high = interval(*draw(seed, args.effect, kind, n, share), kind, seed)
            covered += low <= args.effect <= high
            null = draw(100_000 + seed, 0.0, kind, n, share)
            low, high = interval(*null, kind, seed)
            alarms += low > 0 or high < 0
            ever += ever_excludes_zero(*null, share)
        print(
            f"  {kind:<10} {n:>5} {share:>5.2f} {covered / args.seeds:>9.1%} "
            f"{alarms / args.seeds:>13.1%} {ever / args.seeds:>16.1%}"
        )
    print("target: coverage 93-97%, false alarms <= 6%, sequential ever <= 5%")


if __name__ == "__main__":
    main()
