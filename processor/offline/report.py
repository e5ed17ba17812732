"""Render a run: console (failures, errors, summary with per-slice pass rates), JSON, JUnit XML, .prom.

Console lines, stable for people and for grep:

    FAIL <id> <scorer>=<score> < <threshold>: <input, first 60 chars>
    ERROR <id> <scorer or target>: <reason> (<detail>)

A repeated scorer shows its spread after the mean: `judge=0.55 (0.40-0.70, sd 0.12, n=3) < 0.60`.
The summary prints the pass rate overall and for every value of every slice label, and marks a slice
whose rate is below the overall rate: that is where a good aggregate hides a burning slice.
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any, TextIO

from prometheus_client import CollectorRegistry, write_to_textfile

from processor.files import write_atomic
from processor.metrics.instruments import OfflineMetrics
from processor.model import Outcome
from processor.offline.runner import CaseResult, ScoreResult, Summary, Tally
from processor.sanitize import valid_text

INPUT_CHARS = 60

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _one_line(text: str) -> str:
    return "".join(" " if ch in "\r\n\t\v\f" else ch for ch in text)


def _score_text(result: ScoreResult) -> str:
    value = result.score.value
    text = f"{result.name}={value:.2f}" if value is not None else f"{result.name}=n/a"
    spread = result.spread
    if spread is not None:
        low, high, stdev = spread
        text += f" ({low:.2f}-{high:.2f}, sd {stdev:.2f}, n={len(result.values)})"
    return text


def fail_line(result: CaseResult) -> str:
    scores = ", ".join(f"{_score_text(s)} < {s.threshold:.2f}" for s in result.failed)
    return f"FAIL {result.golden.id} {scores}: {_one_line(result.golden.case.input[:INPUT_CHARS])}"


def error_lines(result: CaseResult) -> list[str]:
    if result.error:
        detail = f" ({_one_line(result.error_detail)})" if result.error_detail else ""
        return [f"ERROR {result.golden.id} target: {result.error}{detail}"]
    lines = []
    for score in result.errored:
        explanation = _one_line(score.score.explanation)
        detail = f" ({explanation})" if explanation else ""
        lines.append(f"ERROR {result.golden.id} {score.name}: {score.score.reason or 'error'}{detail}")
    return lines


def _rate(tally: Tally) -> str:
    rate = tally.pass_rate
    return "n/a" if rate is None else f"{rate * 100:.1f}%"


def _tally_text(tally: Tally) -> str:
    text = f"{tally.passed}/{tally.scored} passed ({_rate(tally)})"
    extra = [
        f"{n} {what}"
        for n, what in ((tally.failed, "failed"), (tally.errors, "errors"), (tally.skipped, "skipped"))
        if n
    ]
    return f"{text}, {', '.join(extra)}" if extra else text


def write_console(
    results: Sequence[CaseResult], summary: Summary, verdict: tuple[int, str], out: TextIO
) -> None:
    for result in results:
        if result.status == "fail":
            print(fail_line(result), file=out)
    errors = [line for r in results for line in error_lines(r)]
    if errors:
        print(f"\n{len(errors)} errors (not regressions):", file=out)
        for line in errors:
            print(f"  {line}", file=out)
    overall = summary.overall
    print(f"\n{overall.total} cases: {_tally_text(overall)}", file=out)
    if summary.slices:
        print("by slice:", file=out)
        for name, values in summary.slices.items():
            for value, tally in sorted(values.items()):
                below = (
                    tally.pass_rate is not None
                    and overall.pass_rate is not None
                    and tally.pass_rate < overall.pass_rate
                )
                mark = f"  <- below overall {_rate(overall)}" if below else ""
                print(f"  {name}={value}: {_tally_text(tally)}{mark}", file=out)
    code, reason = verdict
    state = {0: "PASSED", 1: "FAILED", 3: "UNDECIDED"}.get(code, "NOT RUN")
    print(f"gate {state}: {reason}", file=out)


def _score_dict(result: ScoreResult) -> dict[str, Any]:
    score = result.score
    data: dict[str, Any] = {
        "scorer": score.name,
        "outcome": score.outcome.value,
        "score": score.value,
        "threshold": result.threshold,
        "passed": result.passed,
        "reason": score.reason,
        "explanation": score.explanation,
        "tokens": score.tokens,
    }
    spread = result.spread
    if spread is not None:
        data["repeats"] = {
            "values": list(result.values),
            "min": spread[0],
            "max": spread[1],
            "stdev": spread[2],
        }
    return data


def _tally_dict(tally: Tally) -> dict[str, Any]:
    return {
        "cases": tally.total,
        "passed": tally.passed,
        "failed": tally.failed,
        "errors": tally.errors,
        "skipped": tally.skipped,
        "pass_rate": tally.pass_rate,
    }


def report_dict(results: Sequence[CaseResult], summary: Summary, verdict: tuple[int, str]) -> dict[str, Any]:
    return {
        "gate": {"exit_code": verdict[0], "reason": verdict[1]},
        "summary": _tally_dict(summary.overall),
        "slices": {
            name: {value: _tally_dict(t) for value, t in sorted(values.items())}
            for name, values in summary.slices.items()
        },
        "cases": [
            {
                "id": r.golden.id,
                "source": r.golden.source,
                "status": r.status,
                "input": r.golden.case.input,
                "expected": r.golden.case.expected,
                "output": r.output,
                "labels": dict(r.golden.case.labels),
                "metadata": dict(r.golden.metadata),
                "error": ({"reason": r.error, "detail": r.error_detail} if r.error else None),
                "scores": [_score_dict(s) for s in r.scores],
            }
            for r in results
        ],
    }


def _finite(value: Any) -> Any:
    """`value` with NaN and infinities as null, everywhere: the report must stay valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_json(path: str, results: Sequence[CaseResult], summary: Summary, verdict: tuple[int, str]) -> None:
    """The report as strict JSON (no NaN, no lone surrogate), written atomically."""
    report = _finite(report_dict(results, summary, verdict))
    # valid_text: text a custom scorer or target made up may hold a lone surrogate.
    text = json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)
    write_atomic(path, valid_text(text) + "\n")


def junit_tree(results: Sequence[CaseResult]) -> ET.ElementTree:
    """One <testcase> per case and scorer; a low score is a <failure>, an erring scorer or target an <error>.

    A case whose output could not be produced gets one erring testcase per scorer it would have run,
    so counts stay comparable between runs. `classname` is the golden file.
    """
    root = ET.Element("testsuites", name="evalstream offline")
    suite = ET.SubElement(root, "testsuite", name="evalstream.offline")
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for result in results:
        classname = result.golden.source.rsplit(":", 1)[0]
        if result.error:
            for name in result.planned:
                case = ET.SubElement(
                    suite, "testcase", classname=classname, name=f"{result.golden.id} [{name}]"
                )
                ET.SubElement(
                    case, "error", type=f"target.{result.error}", message=f"target: {result.error}"
                ).text = result.error_detail
                counts["tests"] += 1
                counts["errors"] += 1
            continue
        for score in result.scores:
            case = ET.SubElement(
                suite, "testcase", classname=classname, name=f"{result.golden.id} [{score.name}]"
            )
            counts["tests"] += 1
            if score.score.outcome is Outcome.ERROR:
                ET.SubElement(
                    case,
                    "error",
                    type=f"scorer.{score.score.reason or 'error'}",
                    message=f"{score.name}: {score.score.reason or 'error'}",
                ).text = score.score.explanation
                counts["errors"] += 1
            elif score.score.outcome is Outcome.SKIPPED:
                ET.SubElement(case, "skipped", message=score.score.reason)
                counts["skipped"] += 1
            elif score.passed is False:
                ET.SubElement(
                    case,
                    "failure",
                    type="regression",
                    message=f"{_score_text(score)} < {score.threshold:.2f}",
                ).text = (
                    f"input: {result.golden.case.input}\noutput: {result.output}\n{score.score.explanation}"
                )
                counts["failures"] += 1
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, str(value))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(path: str, results: Sequence[CaseResult]) -> None:
    root = junit_tree(results).getroot()
    assert root is not None  # junit_tree always builds a <testsuites> root
    text = ET.tostring(root, encoding="unicode", xml_declaration=True)
    # XML 1.0 has no escape for most control characters; ElementTree writes them raw (invalid XML).
    write_atomic(path, _NOT_XML.sub("\ufffd", valid_text(text)) + "\n")


def write_prom(path: str, summary: Summary) -> None:
    """A node_exporter textfile: the pass ratio and case counts, from a registry of its own."""
    registry = CollectorRegistry()
    metrics = OfflineMetrics(registry)
    overall = summary.overall
    metrics.pass_ratio.set(overall.pass_rate if overall.pass_rate is not None else float("nan"))
    for status, count in (
        ("passed", overall.passed),
        ("failed", overall.failed),
        ("error", overall.errors),
        ("skipped", overall.skipped),
    ):
        metrics.cases.labels(status).set(count)
    write_to_textfile(path, registry)
