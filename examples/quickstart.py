"""Quickstart: learn from two episodes, then see the exemplars a model would be shown.

Run: python examples/quickstart.py [PATH]
Offline. The memory is stored in PATH (an embedded Chroma directory), by default in a temporary
directory that is removed at the end.
"""

import sys
import tempfile

from langchain_rememberer import Episode, RemembererMemory, Step

TASK = "Find the coin and take it."
KITCHEN = "You are in the kitchen. Exits: east, west."


def main(path: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        memory = RemembererMemory(path=path or scratch)
        memory.clear()  # start fresh each time this example runs

        pantry = "You are in the pantry. You see a coin."
        memory.learn(
            Episode(
                task=TASK,
                steps=[
                    Step(observation=KITCHEN, action="go east"),
                    Step(observation=pantry, action="take coin", reward=1.0),
                ],
            )
        )
        garden = "You are in the garden. Nothing here."
        memory.learn(
            Episode(
                task=TASK,
                steps=[
                    Step(observation=KITCHEN, action="go west"),
                    Step(observation=garden, action="give up", reward=-1.0),
                ],
            )
        )

        # What a model would see before acting in a similar situation:
        print(memory.format_exemplars("Find the coin.", KITCHEN))
        print(memory.stats())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
