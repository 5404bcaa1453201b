"""Namespace templates: parsing, validation, filling, and what each run resolved to."""

from __future__ import annotations

import dataclasses
import itertools
import logging
import uuid

import pydantic
import pytest

from langchain_rememberer import FeedbackError, InvalidInputError
from langchain_rememberer.adapters import _namespaces
from langchain_rememberer.adapters._namespaces import NamespaceTemplate, RunNamespaces

CONF = "config['configurable']"
CTX = "the runtime context"


def test_fields_are_read_in_order_each_once() -> None:
    template = NamespaceTemplate.parse("{org}-team-{team_id}.{org}")
    assert template.fields == ("org", "team_id")
    assert NamespaceTemplate.parse("plain-name").fields == ()


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("team-{user.id}", "{user.id}"),
        ("team-{user[0]}", "{user[0]}"),
        ("team-{user_id!r}", "{user_id!r}"),
        ("team-{user_id:>8}", "{user_id:>8}"),
        ("team-{}", "{}"),
        ("team-{0}", "{0}"),
        ("team-{user id}", "{user id}"),
    ],
)
def test_fields_other_than_plain_keys_are_refused(template: str, shown: str) -> None:
    with pytest.raises(InvalidInputError, match="is not a plain key") as raised:
        NamespaceTemplate.parse(template)
    assert shown in str(raised.value)
    assert repr(template) in str(raised.value)


@pytest.mark.parametrize("template", ["team-{user_id", "team-}", "team-{user_id}}"])
def test_unbalanced_braces_are_refused(template: str) -> None:
    with pytest.raises(InvalidInputError, match="cannot be read"):
        NamespaceTemplate.parse(template)


@pytest.mark.parametrize(
    "template",
    [
        "team:{user_id}",
        "team/{user_id}",
        ".{user_id}",
        "{user_id}-",
        "a..{user_id}",
        "{{x}}-{user_id}",
    ],
)
def test_literal_text_no_namespace_may_hold_is_refused(template: str) -> None:
    with pytest.raises(InvalidInputError, match="can never be a usable namespace"):
        NamespaceTemplate.parse(template)


def test_a_template_that_can_never_fit_the_length_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="can never be a usable namespace"):
        NamespaceTemplate.parse("x" * 128 + "{user_id}")


@pytest.mark.parametrize("bad", ["team/a", "", "a..b", "{{x}}", None])
def test_a_bad_plain_namespace_is_refused(bad: str | None) -> None:
    with pytest.raises(InvalidInputError):
        NamespaceTemplate.parse(bad)


def test_fill_takes_each_key_from_the_first_source_that_has_it() -> None:
    template = NamespaceTemplate.parse("{org}-{user_id}")
    sources = [(CTX, {"user_id": "ctx"}), (CONF, {"user_id": "conf", "org": "acme"})]
    assert template.fill(sources) == "acme-ctx"


def test_none_counts_as_absent() -> None:
    template = NamespaceTemplate.parse("team-{user_id}")
    assert template.fill([(CTX, {"user_id": None}), (CONF, {"user_id": "conf"})]) == "team-conf"
    assert template.fill([(CTX, None), (CONF, {"user_id": "conf"})]) == "team-conf"


@dataclasses.dataclass
class DataContext:
    user_id: str | None = None


class ModelContext(pydantic.BaseModel):
    user_id: str


def test_objects_are_read_by_attribute() -> None:
    template = NamespaceTemplate.parse("team-{user_id}")
    assert template.fill([(CTX, DataContext("dc")), (CONF, {})]) == "team-dc"
    assert template.fill([(CTX, ModelContext(user_id="pm")), (CONF, {})]) == "team-pm"
    assert template.fill([(CTX, DataContext()), (CONF, {"user_id": "c"})]) == "team-c"


def test_whole_numbers_and_uuids_are_text() -> None:
    template = NamespaceTemplate.parse("u-{user_id}")
    assert template.fill([(CONF, {"user_id": 42})]) == "u-42"
    some = uuid.UUID(int=7)
    assert template.fill([(CONF, {"user_id": some})]) == f"u-{some}"


@pytest.mark.parametrize("value", [True, 1.5, ["a"], {"a": 1}, b"a"])
def test_other_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError, match="give a string") as raised:
        NamespaceTemplate.parse("u-{user_id}").fill([(CONF, {"user_id": value})])
    assert "user_id=" in str(raised.value)


def test_a_missing_key_names_the_key_the_template_and_the_sources() -> None:
    template = NamespaceTemplate.parse("team-{team_id}")
    with pytest.raises(InvalidInputError) as raised:
        template.fill([(CTX, {"user_id": "x"}), (CONF, {})])
    assert str(raised.value) == (
        "namespace template 'team-{team_id}' needs the key 'team_id', "
        "in neither the runtime context nor config['configurable']"
    )
    with pytest.raises(InvalidInputError) as raised:
        template.fill([(CONF, {})])
    assert str(raised.value).endswith("needs the key 'team_id', not in config['configurable']")


@pytest.mark.parametrize("value", ["a/b", "a b", "a..b", "x" * 200, "-a", "ü"])
def test_a_filled_value_that_is_not_a_namespace_is_an_error_not_a_rewrite(value: str) -> None:
    with pytest.raises(InvalidInputError, match="is not usable") as raised:
        NamespaceTemplate.parse("{user_id}").fill([(CONF, {"user_id": value})])
    assert "not rewritten" in str(raised.value)


def test_a_value_holding_the_text_after_its_field_is_refused() -> None:
    template = NamespaceTemplate.parse("{org}-{user_id}")
    assert template.fill([(CONF, {"org": "acme", "user_id": "x-bob"})]) == "acme-x-bob"
    with pytest.raises(InvalidInputError) as raised:
        template.fill([(CONF, {"org": "acme-x", "user_id": "bob"})])  # also "acme-x-bob"
    assert str(raised.value) == (
        "namespace template '{org}-{user_id}': org='acme-x' holds '-', the text after {org}, "
        "so another org could fill to the same namespace (two tenants, one memory); it is "
        "refused, not rewritten: separate the fields with text no org holds, or put {org} last"
    )
    uuid_last = NamespaceTemplate.parse("{org}.{user_id}")
    some = uuid.UUID(int=7)
    assert uuid_last.fill([(CONF, {"org": "acme-x", "user_id": some})]) == f"acme-x.{some}"


def test_a_value_ending_with_the_start_of_its_separator_is_refused() -> None:
    template = NamespaceTemplate.parse("{a}-x-{b}")
    with pytest.raises(InvalidInputError, match="a='q-x' ends with the start of '-x-'"):
        template.fill([(CONF, {"a": "q-x", "b": "y"})])  # "q-x-x-y", also a="q", b="x-y"
    assert template.fill([(CONF, {"a": "q", "b": "x-y"})]) == "q-x-x-y"


def test_fields_with_no_text_between_them_are_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"\{org\}\{user_id\} have no text between"):
        NamespaceTemplate.parse("team-{org}{user_id}")


@pytest.mark.parametrize(
    ("template", "alphabet", "longest"),
    [
        ("{a}-{b}", "a-x", 3),
        ("{a}-x-{b}", "ax-", 3),
        ("{a}.{b}-{a}", "ab-", 3),
        ("t-{a}--{b}_{c}", "a-_", 2),
    ],
)
def test_no_two_fillings_give_one_namespace(template: str, alphabet: str, longest: int) -> None:
    parsed = NamespaceTemplate.parse(template)
    values = [
        "".join(chars)
        for n in range(1, longest + 1)
        for chars in itertools.product(alphabet, repeat=n)
    ]
    seen: dict[str, tuple[str, ...]] = {}
    for filling in itertools.product(values, repeat=len(parsed.fields)):
        try:
            namespace = parsed.fill([(CONF, dict(zip(parsed.fields, filling, strict=True)))])
        except InvalidInputError:
            continue
        assert seen.setdefault(namespace, filling) == filling, namespace
    assert len(seen) > len(values)  # most fillings are kept


# -- RunNamespaces -----------------------------------------------------------------------------


def test_a_plain_namespace_is_every_runs() -> None:
    plain = RunNamespaces("team-a", default="default", owner="T")
    assert plain.fields == ()
    assert plain.resolve("r1", []) == "team-a"
    assert plain.for_feedback("never-seen") == "team-a"
    assert RunNamespaces(None, default="default", owner="T").resolve("r1", []) == "default"


def test_each_run_is_remembered_for_its_feedback() -> None:
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    assert namespaces.resolve("r1", [(CONF, {"user_id": "alice"})]) == "team-alice"
    assert namespaces.resolve("r2", [(CONF, {"user_id": "bob"})]) == "team-bob"
    assert namespaces.for_feedback("r1") == "team-alice"
    assert namespaces.for_feedback("r2") == "team-bob"
    assert namespaces.for_feedback("r1", "team-x") == "team-x"  # an explicit one wins


def test_feedback_of_an_unknown_run_asks_for_the_namespace() -> None:
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    with pytest.raises(InvalidInputError, match="pass namespace="):
        namespaces.for_feedback("unknown")
    with pytest.raises(InvalidInputError, match="is not usable"):
        namespaces.for_feedback("unknown", "a/b")


def test_an_unfilled_run_is_warned_skipped_and_its_feedback_refused(caplog) -> None:
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="Owner")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert namespaces.resolve("r1", [(CONF, {})]) is None
    (record,) = caplog.records
    assert "Owner: run r1 uses no memory" in record.getMessage()
    assert "'user_id'" in record.getMessage()
    assert "'team-{user_id}'" in record.getMessage()
    assert not record.exc_info  # an expected error: no traceback
    with pytest.raises(FeedbackError, match="was not recorded"):
        namespaces.for_feedback("r1")


def test_a_source_that_raises_is_warned_with_its_traceback(caplog) -> None:
    class Broken:
        @property
        def user_id(self) -> str:
            raise RuntimeError("boom")

    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert namespaces.resolve("r1", [(CTX, Broken())]) is None
    (record,) = caplog.records
    assert "boom" in record.getMessage()
    assert record.exc_info


def test_what_a_handler_sees_first_of_a_run_wins_and_is_taken_once() -> None:
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    namespaces.see("root", None)  # a config that was not the run's
    namespaces.see("root", {"user_id": "alice", "thread_id": "t", "api_key": "secret"})
    namespaces.see("root", {"user_id": "mallory"})
    taken = namespaces.seen("root")
    assert taken == {"user_id": "alice"}  # only the template's keys are kept
    assert namespaces.seen("root") is None
    assert namespaces.resolve_seen("root", taken) == "team-alice"


def test_a_run_whose_config_was_never_seen_says_so(caplog) -> None:
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    with caplog.at_level(logging.WARNING, logger="langchain_rememberer"):
        assert namespaces.resolve_seen("root", None) is None
        assert namespaces.resolve_seen("other", {}) is None
    unseen, seen = (r.getMessage() for r in caplog.records)
    assert "none reached the callbacks" in unseen
    assert "none reached the callbacks" not in seen
    assert seen.endswith("not in config['configurable']")


def test_what_is_remembered_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(_namespaces, "_KEEP", 3)
    namespaces = RunNamespaces("team-{user_id}", default="default", owner="T")
    for n in range(5):
        namespaces.resolve(f"r{n}", [(CONF, {"user_id": f"u{n}"})])
        namespaces.see(f"root{n}", {"user_id": f"u{n}"})
    with pytest.raises(InvalidInputError, match="not known here"):
        namespaces.for_feedback("r1")
    assert namespaces.for_feedback("r4") == "team-u4"
    assert namespaces.seen("root1") is None
    assert namespaces.seen("root4") == {"user_id": "u4"}
