"""Contract scorers: contains, exact, regex, json_valid, json_schema."""

from __future__ import annotations

import json

import pytest

from processor.errors import ConfigError
from processor.model import EvalCase, Outcome
from processor.scorers import build_scorer
from processor.scorers.config import ScorerSpec

SCHEMA = {
    "type": "object",
    "required": ["intent", "confidence"],
    "properties": {
        "intent": {"type": "string", "enum": ["refund", "shipping", "other"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "additionalProperties": False,
}


def run(name, output, expected=None, **params):
    scorer = build_scorer(ScorerSpec(name=name, params=params))
    return scorer(EvalCase(input="q", output=output, expected=expected))


# contains ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "value"),
    [
        ("Annual plans can be refunded within 30 days of purchase.", "30 days", 1.0),
        ("Annual plans can be refunded within 30 DAYS.", "30 days", 1.0),  # the seed's .lower()
        ("Annual plans can be refunded within 14 days.", "30 days", 0.0),
        ("Das Rückgaberecht gilt 14 TAGE.", "14 tage", 1.0),
        ("", "30 days", 0.0),
    ],
)
def test_contains_is_the_seed_check(output, expected, value):
    score = run("contains", output, expected)
    assert score.value == value
    assert score.passed is (value == 1.0)


def test_contains_case_sensitive_option():
    assert run("contains", "30 DAYS", "30 days", case_sensitive=True).value == 0.0


@pytest.mark.parametrize("name", ["contains", "exact"])
def test_no_expected_is_skipped(name):
    score = run(name, "anything", None)
    assert score.outcome is Outcome.SKIPPED
    assert score.reason == "no_expected"


# exact ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "expected", "params", "value"),
    [
        ("refund", "refund", {}, 1.0),
        ("  refund\n", "refund", {}, 1.0),
        ("  refund\n", "refund", {"strip": False}, 0.0),
        ("Refund", "refund", {}, 0.0),
        ("Refund", "refund", {"casefold": True}, 1.0),
        ("STRASSE", "straße", {"casefold": True}, 1.0),
        ("refunds", "refund", {"casefold": True}, 0.0),
    ],
)
def test_exact(output, expected, params, value):
    assert run("exact", output, expected, **params).value == value


# regex ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "params", "value"),
    [
        ("Ticket REF-12345 created.", {"pattern": r"REF-\d{5}"}, 1.0),
        ("Ticket ref-12345 created.", {"pattern": r"REF-\d{5}"}, 0.0),
        ("Ticket ref-12345 created.", {"pattern": r"REF-\d{5}", "ignore_case": True}, 1.0),
        ("Ticket REF-12345 created.", {"pattern": r"REF-\d{5}", "fullmatch": True}, 0.0),
        ("REF-12345", {"pattern": r"REF-\d{5}", "fullmatch": True}, 1.0),
    ],
)
def test_regex(output, params, value):
    assert run("regex", output, **params).value == value


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"pattern": "(unclosed"},
            "scorers.enabled[0].params.pattern: invalid regular expression '(unclosed'",
        ),
        ({}, "scorers.enabled[0].params.pattern: is required"),
        # a number is read as its text, as everywhere in the config (one decoder)
        ({"pattern": [5]}, "scorers.enabled[0].params.pattern: expected a string, got [5]"),
    ],
)
def test_regex_bad_pattern_is_a_config_error(params, message):
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="regex", params=params))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


# json_valid ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "params", "value"),
    [
        ('{"intent": "refund"}', {}, 1.0),
        ("[1, 2, 3]", {}, 1.0),
        ('{"intent": "refund",}', {}, 0.0),
        ("Sure! Here it is: {}", {}, 0.0),
        ('```json\n{"intent": "refund"}\n```', {}, 0.0),
        ('```json\n{"intent": "refund"}\n```', {"strip_code_fence": True}, 1.0),
        ("", {}, 0.0),
    ],
)
def test_json_valid(output, params, value):
    assert run("json_valid", output, **params).value == value


# json_schema ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "value"),
    [
        ('{"intent": "refund", "confidence": 0.9}', 1.0),
        ('{"intent": "refund"}', 0.0),
        ('{"intent": "billing", "confidence": 0.9}', 0.0),
        ('{"intent": "refund", "confidence": 1.5}', 0.0),
        ("not json", 0.0),
    ],
)
def test_json_schema_inline(output, value):
    assert run("json_schema", output, schema=SCHEMA).value == value


def test_json_schema_from_file(tmp_path):
    file = tmp_path / "intent.schema.json"
    file.write_text(json.dumps(SCHEMA), encoding="utf-8")
    assert run("json_schema", '{"intent": "other", "confidence": 0}', schema_file=str(file)).value == 1.0
    assert run("json_schema", '{"intent": "other"}', schema_file=str(file)).value == 0.0


def test_json_schema_explanation_names_path_not_the_value():
    score = run("json_schema", '{"intent": "secret-customer-text", "confidence": 0.5}', schema=SCHEMA)
    assert score.value == 0.0
    assert "$.intent" in score.explanation
    assert "secret-customer-text" not in score.explanation


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "scorers.enabled[0].params.schema: set exactly one of schema"),
        (
            {"schema": SCHEMA, "schema_file": "x.json"},
            "scorers.enabled[0].params.schema: set exactly one of schema",
        ),
        ({"schema": {"type": "no-such-type"}}, "scorers.enabled[0].params.schema: not a valid JSON Schema"),
        ({"schema": "object"}, "scorers.enabled[0].params.schema: expected a mapping"),
        ({"schema_file": "/nonexistent/schema.json"}, "scorers.enabled[0].params.schema_file: cannot read"),
    ],
)
def test_json_schema_bad_config(params, message):
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="json_schema", params=params))
    assert any(p.startswith(message) for p in err.value.problems), err.value.problems


def test_json_schema_file_with_invalid_json(tmp_path):
    file = tmp_path / "broken.json"
    file.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        build_scorer(ScorerSpec(name="json_schema", params={"schema_file": str(file)}))
    assert err.value.problems[0].startswith("scorers.enabled[0].params.schema_file: ")
    assert "is not valid JSON" in err.value.problems[0]


@pytest.mark.parametrize("name", ["contains", "exact", "regex", "json_valid", "json_schema"])
def test_contract_default_threshold_is_one(name):
    params = {"regex": {"pattern": "x"}, "json_schema": {"schema": SCHEMA}}.get(name, {})
    assert build_scorer(ScorerSpec(name=name, params=params)).threshold == 1.0
