from __future__ import annotations

import json

from processor.extract.otlp import json_or_value
from processor.sanitize import json_value, label_value, valid_text


def test_lone_surrogates_become_the_replacement_character_and_pairs_survive() -> None:
    raw = '{"q": "refund window? \\ud83d", "\\udc80key": ["gpt-4o\\udc80", 1], "ok": "\\ud83d\\ude00"}'
    value = json_value(json.loads(raw), raw)
    assert value == {"q": "refund window? \ufffd", "\ufffdkey": ["gpt-4o\ufffd", 1], "ok": "\U0001f600"}
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # encodable now
    assert valid_text("plain") == "plain" and valid_text("é\udc80") == "é\ufffd"


def test_json_attributes_are_repaired_where_the_extractor_reads_them() -> None:
    assert json_or_value('{"model": "gpt-4o\\udc80"}') == {"model": "gpt-4o\ufffd"}
    assert json_or_value("[" * 100_000) is None  # too deep: no value, no exception


def test_label_values_are_printable_and_length_limited() -> None:
    assert label_value("de-DE", 64) == "de-DE"
    assert label_value("a\nb\x1b[31m", 64) == "a b [31m"
    long = label_value("t" * 1000, 64)
    assert len(long) == 64 and long.endswith("…")
    assert label_value("x\ud83d", 64) == "x\ufffd"
