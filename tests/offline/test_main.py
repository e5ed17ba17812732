"""python -m processor.offline end to end, in a subprocess: exit codes, console, JUnit, report, sources."""

from __future__ import annotations

import json
import pathlib
import textwrap
import xml.etree.ElementTree as ET

import pytest

from tests.offline.conftest import completion, run_offline, write_jsonl

GOLDEN = [
    {"input": "What is the capital of France?", "expected": "Paris", "metadata": {"locale": "en-US"}},
    {
        "input": "Hauptstadt von Deutschland?",
        "expected": "Berlin",
        "id": "de-1",
        "metadata": {"locale": "de-DE"},
    },
    {"input": "Capital of Italy?", "expected": "Rome", "metadata": {"locale": "en-US", "tenant": "acme"}},
]
GOOD = {
    "What is the capital of France?": "The capital is Paris.",
    "Hauptstadt von Deutschland?": "Die Hauptstadt ist Berlin.",
    "Capital of Italy?": "Rome.",
}


@pytest.fixture
def golden(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_jsonl(tmp_path / "golden.jsonl", GOLDEN)


def outputs(tmp_path: pathlib.Path, answers: dict[str, str], name: str = "outputs.jsonl") -> pathlib.Path:
    return write_jsonl(tmp_path / name, [{"input": q, "output": a} for q, a in answers.items()])


def test_passing_golden_exits_0(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    done = run_offline(str(golden), "--outputs", str(outputs(tmp_path, GOOD)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" not in done.stdout
    assert "3 cases: 3/3 passed (100.0%)" in done.stdout
    assert "gate PASSED" in done.stdout


def test_regression_exits_1_with_the_exact_fail_line(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    long_input = "Explain, in detail, why the sky appears blue during the day but red at sunset please"
    write_jsonl(golden, [*GOLDEN, {"input": long_input, "expected": "Rayleigh", "id": "sky"}])
    answers = {**GOOD, "Hauptstadt von Deutschland?": "Die Hauptstadt ist München.", long_input: "Because."}
    done = run_offline(str(golden), "--outputs", str(outputs(tmp_path, answers)))
    assert done.returncode == 1, done.stdout + done.stderr
    fail_lines = [line for line in done.stdout.splitlines() if line.startswith("FAIL")]
    assert fail_lines == [
        "FAIL de-1 contains=0.00 < 1.00: Hauptstadt von Deutschland?",
        f"FAIL sky contains=0.00 < 1.00: {long_input[:60]}",
    ]
    assert "gate FAILED: 2 failed > --max-fail 0" in done.stdout
    # --max-fail lets exactly that many through
    assert (
        run_offline(str(golden), "--outputs", str(outputs(tmp_path, answers)), "--max-fail", "2").returncode
        == 0
    )


def test_bad_input_exits_2_naming_file_and_line(tmp_path: pathlib.Path) -> None:
    bad = tmp_path / "bad.jsonl"
    write_jsonl(
        bad,
        [
            {"input": "fine", "expected": "x"},
            '{"input": "broken", ',
            {"expected": "no input here"},
            "",
            {"input": "Q", "scorers": {"relevence": 0.5}},
            {
                "input": "Q2",
                "context": "one string is accepted",
                "scorers": {"regex": {"params": {"pattern": "("}}},
            },
        ],
    )
    done = run_offline(str(bad), "--outputs", str(outputs(tmp_path, {"fine": "x", "Q": "", "Q2": ""})))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{bad}:2: invalid JSON: " in done.stderr
    assert f"{bad}:3: missing `input`" in done.stderr
    assert done.stdout == ""


def test_unknown_scorer_in_a_case_exits_2_naming_the_line(tmp_path: pathlib.Path) -> None:
    bad = write_jsonl(
        tmp_path / "g.jsonl",
        [
            {"input": "ok", "expected": "ok"},
            {"input": "Q", "expected": "A", "scorers": {"relevence": 0.5}},
            {"input": "Q2", "expected": "A", "scorers": {"regex": {"params": {"pattern": "("}}}},
        ],
    )
    done = run_offline(str(bad), "--outputs", str(outputs(tmp_path, {"ok": "ok", "Q": "A", "Q2": "A"})))
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"{bad}:2: scorers.relevence.name: unknown scorer 'relevence' (did you mean 'relevance'?)"
        in done.stderr
    )
    assert f"{bad}:3: scorers.regex.params.pattern: invalid regular expression" in done.stderr


def test_unknown_scorer_flag_exits_2(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    done = run_offline(str(golden), "--outputs", str(outputs(tmp_path, GOOD)), "--scorer", "relevence:0.6")
    assert done.returncode == 2
    assert "--scorer relevence.name: unknown scorer 'relevence'" in done.stderr


def test_output_missing_for_a_case_exits_2_naming_it(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    partial = {k: v for k, v in GOOD.items() if not k.startswith("Hauptstadt")}
    out = outputs(tmp_path, partial)
    done = run_offline(str(golden), "--outputs", str(out))
    assert done.returncode == 2
    assert f"{golden}:2: no output in {out} for case 'de-1'" in done.stderr


def test_bad_outputs_file_exits_2_naming_its_line(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    out = write_jsonl(
        tmp_path / "out.jsonl", [{"input": "What is the capital of France?", "output": "Paris"}, "{"]
    )
    done = run_offline(str(golden), "--outputs", str(out))
    assert done.returncode == 2
    assert f"{out}:2: invalid JSON" in done.stderr


@pytest.mark.parametrize("content", ["", "\n\n   \n"])
def test_empty_golden_set_exits_2(tmp_path: pathlib.Path, content: str) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text(content)
    done = run_offline(str(empty), "--outputs", str(outputs(tmp_path, GOOD)))
    assert done.returncode == 2
    assert "the golden set is empty" in done.stderr


def test_glob_matching_nothing_exits_2(tmp_path: pathlib.Path) -> None:
    done = run_offline(str(tmp_path / "nope" / "*.jsonl"), "--outputs", str(outputs(tmp_path, GOOD)))
    assert done.returncode == 2
    assert "no file matches this pattern" in done.stderr


def test_nothing_scored_is_not_a_silent_pass(tmp_path: pathlib.Path) -> None:
    golden = write_jsonl(tmp_path / "g.jsonl", [{"input": "no expected here"}])
    done = run_offline(str(golden), "--outputs", str(outputs(tmp_path, {"no expected here": "whatever"})))
    assert done.returncode == 2
    assert "no case was scored" in done.stderr


def test_usage_errors_exit_2(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    assert run_offline(str(golden)).returncode == 2  # no output source
    both = run_offline(str(golden), "--outputs", "x", "--target", "m:f")
    assert both.returncode == 2 and "not allowed with" in both.stderr
    assert run_offline(str(golden), "--endpoint", "http://127.0.0.1:1/v1").returncode == 2  # no --model
    assert run_offline(str(golden), "--outputs", "x", "--scorer", "relevance:1.5").returncode == 2


def test_help_documents_exit_codes() -> None:
    done = run_offline("--help")
    assert done.returncode == 0
    for code in (
        "0  the gate passed",
        "1  the gate failed",
        "2  bad input or usage",
        "3  the gate could not",
    ):
        assert code in done.stdout


# --- errors: exit 3 -----------------------------------------------------------------------------------


def _judge_config(tmp_path: pathlib.Path, url: str) -> pathlib.Path:
    config = tmp_path / "evalstream.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            scorers:
              enabled:
                - name: judge
                  threshold: 0.5
                  params: {{base_url: "{url}", model: judge-model, max_retries: 0, timeout_s: 5}}
            """
        )
    )
    return config


def test_judge_outage_beyond_max_errors_exits_3(
    tmp_path: pathlib.Path, golden: pathlib.Path, chat_server
) -> None:
    server = chat_server(lambda body: (500, {"error": {"message": "overloaded"}}))
    config = _judge_config(tmp_path, server.url)
    out = str(outputs(tmp_path, GOOD))
    done = run_offline(str(golden), "--outputs", out, "--config", str(config), "--max-errors", "2")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ERROR de-1 judge: http_5xx (HTTP 500 after 1 attempts)" in done.stdout
    assert "3 cases erred > --max-errors 2: the gate cannot be decided" in done.stdout
    assert "FAIL" not in done.stdout  # an outage is not a regression
    assert len(server.requests) == 3 and server.requests[0][0] == "/v1/chat/completions"
    # within the limit, the errors are tolerated and the rest decides
    assert (
        run_offline(str(golden), "--outputs", out, "--config", str(config), "--max-errors", "3").returncode
        == 0
    )


def test_judge_scores_decide_the_gate(tmp_path: pathlib.Path, golden: pathlib.Path, chat_server) -> None:
    def reply(body: dict) -> tuple[int, dict]:
        prompt = body["messages"][-1]["content"]
        return completion('{"score": 2, "explanation": "off"}' if "Deutschland" in prompt else '{"score": 9}')

    server = chat_server(reply)
    done = run_offline(
        str(golden),
        "--outputs",
        str(outputs(tmp_path, GOOD)),
        "--config",
        str(_judge_config(tmp_path, server.url)),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL de-1 judge=0.20 < 0.50: Hauptstadt von Deutschland?" in done.stdout


def test_custom_scorer_that_raises_exits_3(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "myscorers.py").write_text("def boom(case):\n    raise RuntimeError('scorer down')\n")
    done = run_offline(
        str(golden),
        "--outputs",
        str(outputs(tmp_path, GOOD)),
        "--scorer",
        "boom=myscorers:boom",
        pythonpath=[tmp_path],
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ERROR de-1 boom: exception (RuntimeError: scorer down)" in done.stdout


def test_certain_regression_wins_over_errors(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "myscorers.py").write_text(
        "def flaky(case):\n"
        "    if 'France' in case.input:\n"
        "        raise RuntimeError('down')\n"
        "    return 1.0\n"
    )
    answers = {**GOOD, "Hauptstadt von Deutschland?": "München"}
    done = run_offline(
        str(golden),
        "--outputs",
        str(outputs(tmp_path, answers)),
        "--scorer",
        "flaky=myscorers:flaky",
        pythonpath=[tmp_path],
    )
    assert done.returncode == 1, done.stdout + done.stderr


# --- JUnit and JSON report ----------------------------------------------------------------------------


def test_junit_and_report(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "myscorers.py").write_text(
        "def picky(case):\n    if 'Italy' in case.input:\n        raise ValueError('no')\n    return 0.9\n"
    )
    answers = {**GOOD, "Hauptstadt von Deutschland?": "München"}
    junit, report, prom = tmp_path / "out" / "junit.xml", tmp_path / "report.json", tmp_path / "pass.prom"
    done = run_offline(
        str(golden),
        "--outputs",
        str(outputs(tmp_path, answers)),
        "--scorer",
        "picky=myscorers:picky:0.5",
        "--junit",
        str(junit),
        "--report",
        str(report),
        "--prom-file",
        str(prom),
        "--max-errors",
        "1",
        pythonpath=[tmp_path],
    )
    assert done.returncode == 1, done.stdout + done.stderr

    root = ET.parse(junit).getroot()
    cases = root.findall("./testsuite/testcase")
    assert len(cases) == 6  # 3 cases x (contains, picky)
    failures = [c for c in cases if c.find("failure") is not None]
    errors = [c for c in cases if c.find("error") is not None]
    assert [c.get("name") for c in failures] == ["de-1 [contains]"]
    assert [c.get("name") for c in errors] == [f"{golden}:3 [picky]"]
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert (element.get("tests"), element.get("failures"), element.get("errors")) == ("6", "1", "1")

    data = json.loads(report.read_text())
    assert data["gate"] == {"exit_code": 1, "reason": "1 failed > --max-fail 0"}
    assert (
        data["summary"]["failed"] == 1 and data["summary"]["errors"] == 1 and data["summary"]["passed"] == 1
    )
    by_id = {c["id"]: c for c in data["cases"]}
    de = by_id["de-1"]
    assert de["output"] == "München" and de["status"] == "fail" and de["labels"] == {"locale": "de-DE"}
    contains = next(s for s in de["scores"] if s["scorer"] == "contains")
    assert contains["score"] == 0.0 and contains["passed"] is False
    assert contains["explanation"] == "expected text not found in the answer"
    assert data["slices"]["locale"]["de-DE"]["failed"] == 1

    assert "evalstream_offline_pass_ratio 0.5" in prom.read_text()


# --- per-slice summary ----------------------------------------------------------------------------------


def test_burning_slice_is_shown_under_a_good_aggregate(tmp_path: pathlib.Path) -> None:
    rows, answers = [], {}
    for i in range(16):
        rows.append({"input": f"en question {i}", "expected": "yes", "metadata": {"locale": "en-US"}})
        answers[f"en question {i}"] = "yes"
    for i in range(4):
        rows.append(
            {"input": f"de Frage {i}", "expected": "ja", "metadata": {"locale": "de-DE", "tenant": "t1"}}
        )
        answers[f"de Frage {i}"] = "ja" if i == 0 else "nein"
    golden = write_jsonl(tmp_path / "g.jsonl", rows)
    done = run_offline(str(golden), "--outputs", str(outputs(tmp_path, answers)), "--min-pass-rate", "0.8")
    assert done.returncode == 0, done.stdout + done.stderr  # 17/20 = 85% passes the gate...
    lines = done.stdout.splitlines()
    assert "20 cases: 17/20 passed (85.0%), 3 failed" in lines
    # ...while one locale is on fire
    assert "  locale=de-DE: 1/4 passed (25.0%), 3 failed  <- below overall 85.0%" in lines
    assert "  locale=en-US: 16/16 passed (100.0%)" in lines
    assert "  tenant=t1: 1/4 passed (25.0%), 3 failed  <- below overall 85.0%" in lines
    assert "  tenant=unknown: 16/16 passed (100.0%)" in lines


# --- output sources -------------------------------------------------------------------------------------


def test_outputs_by_id_and_by_input(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    out = write_jsonl(
        tmp_path / "o.jsonl",
        [
            {"id": "de-1", "output": "Berlin"},
            {"input": "What is the capital of France?", "output": "Paris"},
            {"input": "Capital of Italy?", "output": "Rome"},
            {"input": "Hauptstadt von Deutschland?", "output": "wrong, but the id wins"},
        ],
    )
    done = run_offline(str(golden), "--outputs", str(out))
    assert done.returncode == 0, done.stdout + done.stderr


def test_target_function(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "app.py").write_text(
        textwrap.dedent(
            """\
            ANSWERS = {"France": "Paris", "Deutschland": "Berlin", "Italy": "Rome"}

            def answer(question: str) -> str:
                return next(v for k, v in ANSWERS.items() if k in question)

            def with_case(case) -> str:  # unannotated, named `case`: receives the EvalCase
                return f"it is {case.expected}"

            def broken(question: str) -> str:
                if "Italy" in question:
                    raise KeyError("Italy")
                return answer(question)
            """
        )
    )
    ok = run_offline(str(golden), "--target", "app:answer", pythonpath=[tmp_path])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run_offline(str(golden), "--target", "app:with_case", pythonpath=[tmp_path]).returncode == 0
    broken = run_offline(str(golden), "--target", "app:broken", pythonpath=[tmp_path])
    assert broken.returncode == 3, broken.stdout + broken.stderr
    assert f"ERROR {golden}:3 target: exception (KeyError: 'Italy')" in broken.stdout
    missing = run_offline(str(golden), "--target", "app:nope", pythonpath=[tmp_path])
    assert missing.returncode == 2 and "--target: module 'app' has no attribute 'nope'" in missing.stderr


def test_target_runs_concurrently_and_times_out(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "slow.py").write_text(
        textwrap.dedent(
            """\
            import threading, time
            from processor.model import EvalCase

            barrier = threading.Barrier(3, timeout=10)

            def together(case: EvalCase) -> str:  # passes only when all three calls run at once
                barrier.wait()
                return case.expected or ""

            def stuck(question: str) -> str:
                if "Italy" in question:
                    time.sleep(30)
                return "Paris Berlin"
            """
        )
    )
    together = run_offline(
        str(golden), "--target", "slow:together", "--concurrency", "3", pythonpath=[tmp_path]
    )
    assert together.returncode == 0, together.stdout + together.stderr
    serial = run_offline(
        str(golden),
        "--target",
        "slow:together",
        "--concurrency",
        "1",
        "--timeout",
        "1",
        pythonpath=[tmp_path],
    )
    assert serial.returncode == 3

    stuck = run_offline(str(golden), "--target", "slow:stuck", "--timeout", "1", pythonpath=[tmp_path])
    assert stuck.returncode == 3, stuck.stdout + stuck.stderr
    assert f"ERROR {golden}:3 target: timeout (no output within 1s)" in stuck.stdout


def test_endpoint(tmp_path: pathlib.Path, golden: pathlib.Path, chat_server) -> None:
    def reply(body: dict) -> tuple[int, dict]:
        question = body["messages"][-1]["content"]
        return completion(next(v for k, v in GOOD.items() if k == question))

    server = chat_server(reply)
    done = run_offline(
        str(golden),
        "--endpoint",
        server.url,
        "--model",
        "my-model",
        "--system",
        "Be brief.",
        "--api-key-env",
        "MY_KEY",
        env={"MY_KEY": "sekret"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(server.requests) == 3
    path, headers, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sekret"
    assert body["model"] == "my-model"
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["role"] == "user"


def test_endpoint_failure_is_an_error_not_a_regression(
    tmp_path: pathlib.Path, golden: pathlib.Path, chat_server
) -> None:
    server = chat_server(lambda body: (503, {"error": "down"}))
    done = run_offline(str(golden), "--endpoint", server.url, "--model", "m")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "target: http_503" in done.stdout
    assert "FAIL" not in done.stdout


def test_repeat_shows_the_spread(tmp_path: pathlib.Path, golden: pathlib.Path) -> None:
    (tmp_path / "wobbly.py").write_text(
        textwrap.dedent(
            """\
            import itertools, threading
            _values = itertools.cycle([0.2, 0.5, 0.5])
            _lock = threading.Lock()

            def wobbly(case) -> float:
                with _lock:
                    return next(_values)
            """
        )
    )
    done = run_offline(
        str(golden),
        "--outputs",
        str(outputs(tmp_path, GOOD)),
        "--scorer",
        "w=wobbly:wobbly:0.5",
        "--repeat",
        "3",
        "--concurrency",
        "1",
        pythonpath=[tmp_path],
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"FAIL {golden}:1 w=0.40 (0.20-0.50, sd 0.14, n=3) < 0.50: What is the capital of France?"
        in done.stdout
    )


# --- hostile input never gives a traceback or exit 1 (issue 9) ------------------------------------------

HOSTILE_SCORERS = """
import math
from processor.model import Outcome, Score

def high(case):
    return Score("wordy", Outcome.SCORED, "high")

def nan(case):
    return Score.scored("nan", math.nan)

def above(case):
    return Score.scored("above", 1.5)
"""


def _hostile_run(tmp_path: pathlib.Path, golden_bytes: bytes, *args: str):  # type: ignore[no-untyped-def]
    golden = tmp_path / "golden.jsonl"
    golden.write_bytes(golden_bytes)
    (tmp_path / "hostile_scorers.py").write_text(HOSTILE_SCORERS)
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(5)\n")
    (tmp_path / "echo_target.py").write_text("def answer(question):\n    return 'no idea'\n")
    report = tmp_path / "report.json"
    done = run_offline(
        str(golden), *args, "--report", str(report), pythonpath=[tmp_path], env={"PYTHONIOENCODING": "ascii"}
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done, golden, report


def _strict_json(path: pathlib.Path) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the report")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


FIRST = json.dumps({"input": "What is the refund window?", "expected": "30 days"}).encode() + b"\n"
OUTPUTS = {"What is the refund window?": "Refunds within 30 days."}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "golden.jsonl:2: invalid JSON: nested too deeply"),
        (b'{"input": "q", "metadata": {"n": ' + b"7" * 5000 + b"}}", "golden.jsonl:2: invalid JSON: Exceeds"),
        (b'{"input": "q", "metadata": {"x": NaN}}', "golden.jsonl:2: invalid JSON: NaN is not valid JSON"),
        (b'{"input": "caf\xe9?"}', "golden.jsonl:2: not valid UTF-8: byte 0xe9 at byte 15 of the line"),
    ],
    ids=["nested-100000", "5000-digit-integer", "nan-literal", "latin-1-byte"],
)
def test_bad_input_lines_exit_2_naming_file_and_line(
    tmp_path: pathlib.Path, line: bytes, message: str
) -> None:
    outs = outputs(tmp_path, OUTPUTS)
    done, _, report = _hostile_run(tmp_path, FIRST + line + b"\n", "--outputs", str(outs))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert not report.exists()


def test_a_line_separator_inside_a_json_string_is_one_line(tmp_path: pathlib.Path) -> None:
    line = json.dumps({"input": "Refund\u2028window?", "expected": "30"}, ensure_ascii=False).encode()
    outs = write_jsonl(tmp_path / "outs.jsonl", [{"input": "Refund\u2028window?", "output": "30 days"}])
    done, _, report = _hostile_run(tmp_path, line + b"\r\n", "--outputs", str(outs))
    assert done.returncode == 0, done.stderr
    assert _strict_json(report)["cases"][0]["input"] == "Refund\u2028window?"  # type: ignore[index]


def test_a_lone_surrogate_in_a_failing_case_prints_its_fail_line(tmp_path: pathlib.Path) -> None:
    line = b'{"input": "refund window? \\ud83d", "expected": "30 days", "id": "s1"}\n'
    outs = tmp_path / "outs.jsonl"
    outs.write_bytes(b'{"id": "s1", "output": "no idea \\udc80"}\n')
    done, _, report = _hostile_run(tmp_path, line, "--outputs", str(outs))
    assert done.returncode == 1, done.stderr  # a real regression: the answer misses "30 days"
    assert "FAIL s1 contains=0.00 < 1.00: refund window? ?" in done.stdout  # ascii console: replaced
    case = _strict_json(report)["cases"][0]  # type: ignore[index]
    assert case["input"] == "refund window? \ufffd" and case["output"] == "no idea \ufffd"


@pytest.mark.parametrize(
    ("function", "explanation"),
    [
        ("high", "score value is str, not a number"),
        ("nan", "score value nan is outside [0, 1]"),
        ("above", "score value 1.5 is outside [0, 1]"),
    ],
)
def test_a_scorer_returning_a_bad_value_exits_3_never_clamped(
    tmp_path: pathlib.Path, function: str, explanation: str
) -> None:
    outs = outputs(tmp_path, OUTPUTS)
    done, _, report = _hostile_run(
        tmp_path, FIRST, "--outputs", str(outs), "--scorer", f"{function}=hostile_scorers:{function}"
    )
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"golden.jsonl:1 {function}: bad_return ({explanation})" in done.stdout
    (score,) = [s for s in _strict_json(report)["cases"][0]["scores"] if s["scorer"] == function]  # type: ignore[index]
    assert score["outcome"] == "error" and score["score"] is None


def test_a_target_calling_sys_exit_at_import_exits_2_with_a_message(tmp_path: pathlib.Path) -> None:
    done, _, _ = _hostile_run(tmp_path, FIRST, "--target", "exits_at_import:answer")
    assert done.returncode == 2, done.stderr
    assert "--target: cannot import module 'exits_at_import': SystemExit: 5" in done.stderr


def test_a_report_that_cannot_be_written_exits_2_naming_the_flag(tmp_path: pathlib.Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    outs = outputs(tmp_path, OUTPUTS)
    golden = tmp_path / "golden.jsonl"
    golden.write_bytes(FIRST)
    done = run_offline(str(golden), "--outputs", str(outs), "--junit", str(blocker / "junit.xml"))
    assert done.returncode == 2, done.stderr
    assert f"--junit {blocker / 'junit.xml'}: cannot write:" in done.stderr
    assert "Traceback" not in done.stderr


def test_control_characters_in_a_case_leave_the_junit_file_valid_xml(tmp_path: pathlib.Path) -> None:
    line = json.dumps({"input": "bell\x07 and escape\x1b[31m?", "expected": "30 days", "id": "ctl"}).encode()
    outs = write_jsonl(tmp_path / "outs.jsonl", [{"id": "ctl", "output": "no\x00idea"}])
    junit = tmp_path / "junit.xml"
    done, _, report = _hostile_run(tmp_path, line + b"\n", "--outputs", str(outs), "--junit", str(junit))
    assert done.returncode == 1, done.stderr
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None and "bell\ufffd and escape\ufffd[31m?" in (failure.text or "")
    assert _strict_json(report)["cases"][0]["output"] == "no\x00idea"  # type: ignore[index]
