"""Learning throughput: episodes of 15 steps per second, and Chroma round trips per `learn`.

    python benchmarks/learn.py --episodes 200

Compared, in the same run, with a raw baseline that only appends the same records to a Chroma
collection (one `add` per episode): the floor any exact learner pays.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time

from _common import CountingCollection, synthetic_pairs

from langchain_rememberer import Episode, RemembererMemory, RLEMConfig, Step, WordLlamaEmbeddings


def episodes(count: int, steps: int, seed: int) -> list[Episode]:
    rng = random.Random(seed)
    pairs = synthetic_pairs(400, seed)
    result = []
    for e in range(count):
        task = pairs[rng.randrange(len(pairs))][0]
        result.append(
            Episode(
                task=task,
                run_id=f"bench-{seed}-{e}",
                steps=[
                    Step(
                        observation=rng.choice(pairs)[1],
                        action=rng.choice(["go east", "go west", "take coin", "open door"]),
                        reward=float(t == steps - 1 and rng.random() < 0.4),
                    )
                    for t in range(steps)
                ],
            )
        )
    return result


def run(
    rlem: RLEMConfig, count: int, steps: int, seed: int, *, stored: bool = False
) -> dict[str, float]:
    """`stored`: the same episodes are learned once before (other run ids), untimed, so every
    state a target bootstraps from is already stored."""
    data = episodes(count, steps, seed)
    with tempfile.TemporaryDirectory() as path:
        memory = RemembererMemory(
            path=path, embeddings=WordLlamaEmbeddings(), collection_name="bench", rlem=rlem
        )
        ns = memory.store.run(memory._open(None))
        if stored:
            for episode in data:
                memory.learn(episode.model_copy(update={"run_id": f"before-{episode.run_id}"}))
        counter: dict[str, int] = {}
        driver = memory.store.driver  # count each call the memory makes on either collection
        for name in (ns.states, ns.log):
            driver._handles[name] = CountingCollection(driver.handle(name), counter)
        started = time.perf_counter()
        for episode in data:
            memory.learn(episode)
        elapsed = time.perf_counter() - started
        calls = dict(counter)
        assert memory.stats().updates == count * steps * (2 if stored else 1)
        raw = memory.store.client.get_or_create_collection("raw-baseline", embedding_function=None)
        started = time.perf_counter()
        for e, episode in enumerate(data):
            raw.add(
                ids=[f"{e}-{t}" for t in range(steps)],
                embeddings=[[1.0]] * steps,
                metadatas=[{"state_id": "x", "action": s.action} for s in episode.steps],
                documents=[s.observation for s in episode.steps],
            )
        raw_elapsed = time.perf_counter() - started
    return {
        "eps": count / elapsed,
        "raw_eps": count / raw_elapsed,
        "round_trips": sum(calls.values()) / count,
        "calls": calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(
        f"run: learn seed={args.seed} episodes={args.episodes} steps={args.steps} (embedded Chroma, WordLlama)"
    )
    for name, rlem, stored in [
        ("monte-carlo (default)", RLEMConfig(), False),
        ("n_step=2", RLEMConfig(n_step=2), False),
        ("n_step=2, states stored", RLEMConfig(n_step=2), True),
    ]:
        r = run(rlem, args.episodes, args.steps, args.seed, stored=stored)
        print(
            f"{name:<24} {r['eps']:7.1f} episodes/s  raw append {r['raw_eps']:7.1f}/s "
            f"(ratio {r['raw_eps'] / r['eps']:.1f}x)  round trips per learn {r['round_trips']:.2f} {r['calls']}"
        )
    print(
        "target: round trips per learn <= 4 (Monte Carlo; n-step when every state it bootstraps "
        "from is stored, one query more for new ones)"
    )


if __name__ == "__main__":
    main()
