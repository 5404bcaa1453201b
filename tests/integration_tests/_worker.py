"""Subprocess worker for the multi-process tests: learn episodes or dump tables as JSON."""

from __future__ import annotations

import json
import sys

import chromadb
from chromadb.config import Settings

from langchain_rememberer import Episode, RemembererMemory, Step

ROOMS = ["kitchen with a stove", "pantry with shelves", "hallway with a rug", "garden with roses"]
ACTIONS = ["go north", "go south"]


def memory_for(target: str, collection: str) -> RemembererMemory:
    if target.startswith("http:"):
        _, host, port = target.split(":")
        client = chromadb.HttpClient(
            host=host, port=int(port), settings=Settings(anonymized_telemetry=False)
        )
        return RemembererMemory(client=client, collection_name=collection)
    return RemembererMemory(path=target, collection_name=collection)


def learn(memory: RemembererMemory, worker: int, episodes: int, steps: int) -> None:
    for e in range(episodes):
        memory.learn(
            Episode(
                task="Find the coin.",
                run_id=f"worker{worker}-episode{e}",
                steps=[
                    Step(
                        observation=ROOMS[(worker + e + t) % len(ROOMS)],
                        action=ACTIONS[(e + t) % len(ACTIONS)],
                        reward=float((worker + e + t) % 3 == 0),
                    )
                    for t in range(steps)
                ],
            )
        )


def dump(memory: RemembererMemory) -> None:
    states = memory.retrieve("Find the coin.", ROOMS[0], k=50)
    tables = {s.observation: {a.action: [a.q, a.visits] for a in s.actions} for s in states}
    print(json.dumps(tables, sort_keys=True))


if __name__ == "__main__":
    command, target, collection = sys.argv[1:4]
    memory = memory_for(target, collection)
    if command == "learn":
        learn(memory, int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
    else:
        dump(memory)
