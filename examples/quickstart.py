"""Quickstart: learn from two episodes, then see the exemplars a model would be shown.

Run: python examples/quickstart.py  (offline; stores the memory in ./.rememberer-quickstart)
"""

from langchain_rememberer import Episode, RemembererMemory, Step

memory = RemembererMemory(path=".rememberer-quickstart")
memory.clear()  # start fresh each time this example runs

task = "Find the coin and take it."
memory.learn(
    Episode(
        task=task,
        steps=[
            Step(observation="You are in the kitchen. Exits: east, west.", action="go east"),
            Step(observation="You are in the pantry. You see a coin.", action="take coin", reward=1.0),
        ],
    )
)
memory.learn(
    Episode(
        task=task,
        steps=[
            Step(observation="You are in the kitchen. Exits: east, west.", action="go west"),
            Step(observation="You are in the garden. Nothing here.", action="give up", reward=-1.0),
        ],
    )
)

# What a model would see before acting in a similar situation:
print(memory.format_exemplars("Find the coin.", "You are in the kitchen. Exits: east, west."))
print(memory.stats())
