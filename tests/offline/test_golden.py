"""processor.offline.golden: golden JSONL -> GoldenCase, every problem named by FILE:LINE."""

from __future__ import annotations

import pathlib

import pytest

from processor.offline.golden import InputError, ScorerOverride, expand_paths, load
from tests.offline.conftest import write_jsonl


def problems_of(path: pathlib.Path, **kwargs: object) -> list[str]:
    with pytest.raises(InputError) as caught:
        load([str(path)], **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def test_case_fields_and_defaults(tmp_path: pathlib.Path) -> None:
    golden = write_jsonl(
        tmp_path / "g.jsonl",
        [
            "",
            {
                "input": "Q?",
                "expected": "A",
                "context": ["doc one", "doc two"],
                "metadata": {"locale": "de-DE", "model": "m1", "prompt_version": 3, "ticket": "SUP-1"},
            },
            {"input": "Q2", "id": "named"},
        ],
    )
    first, second = load([str(golden)])
    assert first.id == f"{golden}:2" and first.source == f"{golden}:2"
    assert first.case.input == "Q?" and first.case.expected == "A" and first.case.output == ""
    assert first.case.context == ("doc one", "doc two")
    assert dict(first.case.labels) == {"locale": "de-DE", "model": "m1", "prompt_version": "3"}
    assert first.metadata["ticket"] == "SUP-1"
    assert second.id == "named" and second.case.expected is None and second.source == f"{golden}:3"


def test_configured_slice_label(tmp_path: pathlib.Path) -> None:
    golden = write_jsonl(tmp_path / "g.jsonl", [{"input": "Q", "metadata": {"region": "eu", "locale": "fr"}}])
    [case] = load([str(golden)], slice_labels=("region",))
    assert dict(case.case.labels) == {"region": "eu"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
        ("[1, 2]", "expected a JSON object, got list"),
        ('{"expected": "x"}', "missing `input`"),
        ('{"input": 42}', "`input` must be a string, got a number"),
        ('{"input": "   "}', "`input` is empty"),
        ('{"input": "q", "expected": ["a"]}', "`expected` must be a string, got a list"),
        ('{"input": "q", "id": ""}', "`id` must be a non-empty string, got ''"),
        ('{"input": "q", "context": [1]}', "`context` must be a list of strings"),
        ('{"input": "q", "metadata": "de"}', "`metadata` must be an object, got a string"),
        (
            '{"input": "q", "metadata": {"locale": ["de"]}}',
            "metadata.locale is a slice label and must be a string",
        ),
        (
            '{"input": "q", "scorers": ["relevance"]}',
            "`scorers` must be an object of scorer name to threshold",
        ),
        (
            '{"input": "q", "scorers": {"relevance": 1.5}}',
            "scorers.relevance: threshold must be between 0 and 1",
        ),
        (
            '{"input": "q", "scorers": {"relevance": "high"}}',
            "scorers.relevance: must be a threshold between 0",
        ),
        ('{"input": "q", "scorers": {"regex": {"pattern": "x"}}}', "scorers.regex: unknown key 'pattern'"),
    ],
)
def test_each_problem_names_file_and_line(tmp_path: pathlib.Path, line: str, message: str) -> None:
    golden = write_jsonl(tmp_path / "g.jsonl", [{"input": "fine"}, line])
    [problem] = problems_of(golden)
    assert problem.startswith(f"{golden}:2: ")
    assert message in problem


def test_every_problem_is_reported_at_once(tmp_path: pathlib.Path) -> None:
    golden = write_jsonl(
        tmp_path / "g.jsonl", ["{", {"input": "a", "id": "x"}, {"input": "b", "id": "x"}, "{}"]
    )
    assert problems_of(golden) == [
        f"{golden}:1: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        f"{golden}:3: duplicate id 'x' (first at {golden}:2)",
        f"{golden}:4: missing `input`",
    ]


def test_empty_set_is_an_error(tmp_path: pathlib.Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    assert problems_of(empty) == [f"{empty}: no cases: the golden set is empty"]


def test_overrides(tmp_path: pathlib.Path) -> None:
    golden = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {
                "input": "q",
                "scorers": {
                    "relevance": 0.7,
                    "contains": None,
                    "json_valid": True,
                    "regex": {"threshold": 1, "params": {"pattern": "^ok"}},
                },
            }
        ],
    )
    [case] = load([str(golden)])
    assert case.overrides == (
        ScorerOverride("relevance", threshold=0.7),
        ScorerOverride("contains", remove=True),
        ScorerOverride("json_valid"),
        ScorerOverride("regex", threshold=1.0, params={"pattern": "^ok"}),
    )


def test_harvested_candidates_load_once_expected_is_filled_in(tmp_path: pathlib.Path) -> None:
    candidate = {
        "input": "Wie kündige ich?",
        "output": "Keine Ahnung.",
        "context": ["AGB §4"],
        "metadata": {"locale": "de-DE", "tenant": "acme"},
        "provenance": {"trace_id": "ab" * 16, "span_id": "cd" * 8, "scorer": "relevance", "score": 0.1},
        "expected": "Einstellungen",
    }
    [case] = load([str(write_jsonl(tmp_path / "h.jsonl", [candidate]))])
    assert case.case.expected == "Einstellungen" and case.case.output == ""
    assert dict(case.case.labels) == {"locale": "de-DE", "tenant": "acme"}


def test_globs(tmp_path: pathlib.Path) -> None:
    (tmp_path / "sub").mkdir()
    a = write_jsonl(tmp_path / "a.jsonl", [{"input": "a"}])
    b = write_jsonl(tmp_path / "sub" / "b.jsonl", [{"input": "b"}])
    assert expand_paths([str(tmp_path / "**" / "*.jsonl"), str(a)]) == [a, b]
    with pytest.raises(InputError, match="no such file"):
        expand_paths([str(tmp_path / "missing.jsonl")])
