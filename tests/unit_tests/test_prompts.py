import string

from langchain_rememberer import prompts


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_prompt_slots_are_the_documented_ones() -> None:
    assert _fields(prompts.EXEMPLARS_PROMPT) == {"exemplars"}
    assert _fields(prompts.EXEMPLAR_TEMPLATE) == {
        "similarity",
        "task",
        "observation",
        "encouraged",
        "discouraged",
    }
    assert _fields(prompts.JUDGE_PROMPT) == {"rubric", "task", "trajectory", "status"}
    assert _fields(prompts.JUDGE_SYSTEM) == set()
