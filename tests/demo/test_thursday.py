"""processor.demo thursday: the whole loop, on real scorers, real rules, the real promtool."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from processor.demo.__main__ import main
from processor.demo.corpus import CURRENT, RETIRED, TOPICS
from processor.demo.thursday import BUGGED, bugged_app, diurnal, fixed_app, when
from processor.model import EvalCase
from processor.scorers import build_scorers, run_scorers
from processor.scorers.config import ScorerSpec


def test_only_groundedness_tells_the_retired_policy_apart_in_every_language() -> None:
    """The premise of the demo, on the real scorers: relevance is blind to it, groundedness is not."""
    scorers = build_scorers(
        [ScorerSpec(name="relevance"), ScorerSpec(name="context_relevance"), ScorerSpec(name="groundedness")]
    )
    for topics in TOPICS.values():
        for topic in topics:
            context = (topic.context.format(**CURRENT),)
            for question, answer in zip(topic.questions, topic.answers, strict=True):
                good, bad = (
                    {
                        s.name: s.value
                        for s in run_scorers(scorers, EvalCase(question, answer.format(**f), context=context))
                    }
                    for f in (CURRENT, RETIRED)
                )
                assert good["relevance"] == bad["relevance"], question
                assert good["groundedness"] >= 0.85 > 0.45 >= bad["groundedness"], question


def test_the_apps_differ_only_in_the_bugged_locale() -> None:
    for locale, topics in TOPICS.items():
        question = topics[0].questions[0]
        assert (bugged_app(question) == fixed_app(question)) is (locale != BUGGED)
    assert when(7 * 86400 + 10 * 3600 + 35 * 60) == "day 8 (Thu) 10:35"
    assert diurnal(7 * 24 + 12) > 5 * diurnal(7 * 24 + 3)  # busy noon, quiet night


@pytest.mark.prometheus
@pytest.mark.timeout(600)
def test_thursday_pages_for_the_bugged_locale_only_and_the_gate_goes_red_then_green(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["thursday", "--out", str(tmp_path)])  # the default config: its scorers, its rules
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out
    fired = re.findall(r"^  (Eval\w+) (\w+)=(\S+) +scorer=(\S+) +fired (day \d .*?) \.\.", out, re.MULTILINE)
    assert fired, out
    pages = {(name, label, value) for name, label, value, _, _ in fired}
    assert pages == {("EvalGroundednessDropVsBaseline", "locale", BUGGED)}, out
    delay = int(re.search(rf"{BUGGED} paged (\d+) minutes after the bug started", out).group(1))
    assert 0 < delay <= 60
    # The golden candidates are the bugged locale's calls, each with the figure a person would write in.
    golden = [json.loads(line) for line in (tmp_path / "golden.jsonl").read_text().splitlines()]
    assert golden and all(row["metadata"]["locale"] == BUGGED and row["expected"] for row in golden)
    assert "gate FAILED" in (tmp_path / "gate-bugged_app.txt").read_text()
    assert "gate PASSED" in (tmp_path / "gate-fixed_app.txt").read_text()
    assert (tmp_path / "thursday.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.prometheus
@pytest.mark.timeout(600)
def test_every_call_scored_at_1000_an_hour_pages_for_a_two_percent_locale(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The cheap tier (every LLM call, sampling.rate 1) at a steady 1,000 calls an hour: es-ES with
    2 % of them brings about 20 scored cases an hour, enough for the drift rule's guard, and its
    bug pages within the hour; nothing else does."""
    config = tmp_path / "cheap-tier.yaml"
    config.write_text("sampling:\n  rate: 1.0\n")
    argv = ["thursday", "--config", str(config), "--peak-calls", "1000", "--flat", "--bugged-share", "0.02"]
    code = main([*argv, "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    calls = int(re.search(rf"{BUGGED} (\d+)$", out, re.MULTILINE).group(1))
    assert calls / (7 * 24 + 16) >= 19.5, out  # about 20 cheap-tier scores an hour
    fired = re.findall(r"^  (Eval\w+) (\w+)=(\S+) ", out, re.MULTILINE)
    assert set(fired) == {("EvalGroundednessDropVsBaseline", "locale", BUGGED)}, out
    delay = int(re.search(rf"{BUGGED} paged (\d+) minutes after the bug started", out).group(1))
    assert 0 < delay <= 60
