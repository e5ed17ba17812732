"""Generate evalstream's Prometheus rules: deploy/prometheus/rules.yaml and the identical PrometheusRule.

Edit the thresholds below, then run `python deploy/prometheus/generate_rules.py`; `--check` exits 1
when the committed files differ from what this script writes (tests/deploy/test_prometheus_rules.py
runs it). Both outputs come from the same `groups()` so they cannot drift apart.

Why the rules look the way they do:
- Score histograms are exposed by every worker pod, so every mean is sum(rate(_sum)) / sum(rate(_count))
  across pods, per slice: never avg() of per-pod means, which weights a pod serving 3 cases like one
  serving 3,000.
- The 1-hour per-slice rates are recorded every minute (cheap: one series per slice value); the
  7-day baseline is the volume-weighted mean of those recordings over the 7 days before the last hour,
  so the bad hour itself never drags its own baseline down.
- An alert needs enough cases in the hour (a 3-case slice is noise) and enough cases in the baseline (a
  slice born an hour ago has no "used to be fine"). Prometheus 2.42 (Debian's) evaluates every
  function used here.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

import yaml

HERE = pathlib.Path(__file__).resolve().parent
RULES_FILE = HERE / "rules.yaml"
PROMETHEUS_RULE_FILE = HERE.parent / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"

# --- tunables --------------------------------------------------------------------------------------
SCORERS = ["relevance"]  # one set of drift rules per score histogram app_eval_<scorer>
SLICES = ["locale", "tenant", "model", "prompt_version"]  # each aggregated together with `service`
FLOOR = 0.6  # page when the 1h mean is below this ...
BASELINE = 0.75  # ... and the 7-day mean was above this (it used to be fine)
MAX_DROP = 0.2  # ticket when the 1h mean is this far (in score points) below the 7-day mean
MIN_CASES_1H = 20  # scored cases a slice needs in the last hour before any drift rule looks at it
MIN_BASELINE_CASES = 200  # scored cases a slice needs in the 7 days before the last hour
DRIFT_FOR = "15m"  # how long the condition must hold before the floor alert fires
DROP_FOR = "30m"
ERROR_RATIO = 0.05  # scorer errors / (scored + errors) over 10 minutes
LAG_RECORDS = 10000  # consumer lag summed over a topic's partitions
STOPPED_WINDOW = "15m"  # no scored case in this long ...
STOPPED_HISTORY = "6h"  # ... while there were some in the 6 hours before
EVAL_INTERVAL_S = 60  # the recording group's interval; baseline case counts depend on it
# ----------------------------------------------------------------------------------------------------

RUNBOOK = "README.md, section Deploy: what the alerts mean"


def _by(slice_label: str) -> str:
    return f"service, {slice_label}"


def _recording_rules(scorer: str, slice_label: str) -> list[dict[str, Any]]:
    m = f"app_eval_{scorer}"
    level = f"slice_{slice_label}"
    by = _by(slice_label)
    return [
        {"record": f"{level}:{m}_sum:rate1h", "expr": f"sum by ({by}) (rate({m}_sum[1h]))"},
        {"record": f"{level}:{m}_count:rate1h", "expr": f"sum by ({by}) (rate({m}_count[1h]))"},
        {
            "record": f"{level}:{m}:mean1h",
            "expr": f"{level}:{m}_sum:rate1h / ({level}:{m}_count:rate1h > 0)",
        },
        {"record": f"{level}:{m}_count:cases1h", "expr": f"{level}:{m}_count:rate1h * 3600"},
        {
            # Volume-weighted: the ratio of the sums, not the mean of the hourly means.
            "record": f"{level}:{m}:mean7d",
            "expr": (
                f"sum_over_time({level}:{m}_sum:rate1h[7d] offset 1h)\n"
                f"/\n(sum_over_time({level}:{m}_count:rate1h[7d] offset 1h) > 0)"
            ),
        },
        {
            # Each case adds 1/3600 to the hourly rate for one hour of evaluations, so summing every
            # evaluation (one per EVAL_INTERVAL_S) and multiplying by the interval counts the cases.
            "record": f"{level}:{m}_count:cases7d",
            "expr": f"sum_over_time({level}:{m}_count:rate1h[7d] offset 1h) * {EVAL_INTERVAL_S}",
        },
    ]


def _guards(level: str, m: str, by: str) -> str:
    return (
        f"and on ({by}) {level}:{m}_count:cases1h >= {MIN_CASES_1H}\n"
        f"and on ({by}) {level}:{m}_count:cases7d >= {MIN_BASELINE_CASES}"
    )


def _drift_alerts(scorer: str, slice_label: str) -> list[dict[str, Any]]:
    m = f"app_eval_{scorer}"
    level = f"slice_{slice_label}"
    by = _by(slice_label)
    name = scorer.title().replace("_", "")
    who = f"{{{{ $labels.service }}}} {slice_label}={{{{ $labels.{slice_label} }}}}"
    return [
        {
            "alert": f"Eval{name}BelowFloor",
            "expr": (
                f"{level}:{m}:mean1h < {FLOOR}\n"
                f"and on ({by}) {level}:{m}:mean7d > {BASELINE}\n" + _guards(level, m, by)
            ),
            "for": DRIFT_FOR,
            "labels": {"severity": "page", "scorer": scorer, "slice": slice_label},
            "annotations": {
                "summary": f"{scorer} fell below {FLOOR} for {who}",
                "description": (
                    f"The last hour's mean {scorer} score is "
                    f'{{{{ $value | printf "%.2f" }}}} (floor {FLOOR}) '
                    f"while the 7-day mean was above {BASELINE}: a regression on this slice, not a hard "
                    f"week. Needs >= {MIN_CASES_1H} cases in the hour and >= {MIN_BASELINE_CASES} in the "
                    "baseline. Pull the low-scoring cases (python -m processor.harvest) into the golden set."
                ),
                "runbook": RUNBOOK,
            },
        },
        {
            "alert": f"Eval{name}DropVsBaseline",
            "expr": (
                f"({level}:{m}:mean7d - on ({by}) {level}:{m}:mean1h) > {MAX_DROP}\n" + _guards(level, m, by)
            ),
            "for": DROP_FOR,
            "labels": {"severity": "ticket", "scorer": scorer, "slice": slice_label},
            "annotations": {
                "summary": f"{scorer} dropped more than {MAX_DROP} below its 7-day mean for {who}",
                "description": (
                    f'The last hour\'s mean {scorer} score is {{{{ $value | printf "%.2f" }}}} points below '
                    f"the 7-day mean (allowed drop {MAX_DROP}). Catches slices whose normal level is "
                    f"already below the {BASELINE} baseline of the floor alert."
                ),
                "runbook": RUNBOOK,
            },
        },
    ]


def _pipeline_alerts() -> list[dict[str, Any]]:
    scored = "evalstream_worker_scored_cases_total"
    errors = "evalstream_worker_scorer_errors_total"
    return [
        {
            "alert": "EvalstreamScorerErrors",
            "expr": (
                f"sum by (scorer) (rate({errors}[10m]))\n/\n"
                f"(sum by (scorer) (rate({errors}[10m])) + (sum by (scorer) (rate({scored}[10m]))"
                f" or sum by (scorer) (rate({errors}[10m])) * 0))\n> {ERROR_RATIO}"
            ),
            "for": "15m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "Scorer {{ $labels.scorer }} fails on {{ $value | humanizePercentage }} of cases",
                "description": (
                    f"More than {ERROR_RATIO:.0%} of the cases given to this scorer raised an error "
                    "(evalstream_worker_scorer_errors_total by reason): its score series under-represent "
                    "exactly the hard cases. Check the reason label and the worker log."
                ),
                "runbook": RUNBOOK,
            },
        },
        {
            "alert": "EvalstreamJudgeBudgetExhausted",
            "expr": 'sum by (scorer) (rate(evalstream_worker_skipped_cases_total{reason="budget"}[15m])) > 0',
            "for": "15m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "The judge budget is exhausted: {{ $labels.scorer }} skips cases",
                "description": (
                    "Cases are being skipped because the LLM-judge token budget ran out "
                    '(evalstream_worker_skipped_cases_total{reason="budget"}); that scorer\'s series only '
                    "cover part of the sample. Raise the budget or lower sampling.rate."
                ),
                "runbook": RUNBOOK,
            },
        },
        {
            "alert": "EvalstreamConsumerLagHigh",
            "expr": (
                "sum by (topic) (max by (topic, partition) (evalstream_worker_consumer_lag_records))"
                f" > {LAG_RECORDS}"
            ),
            "for": "15m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "Workers are {{ $value }} records behind on {{ $labels.topic }}",
                "description": (
                    f"Consumer lag above {LAG_RECORDS} records for 15 minutes: scores arrive late, so drift "
                    "alerts fire late. Scale the workers (up to the topic's partition count) or check for "
                    "a slow judge."
                ),
                "runbook": RUNBOOK,
            },
        },
        {
            "alert": "EvalstreamDeadLetters",
            "expr": "sum by (reason) (rate(evalstream_worker_dead_letter_records_total[15m])) > 0",
            "for": "5m",
            "labels": {"severity": "ticket"},
            "annotations": {
                "summary": "Workers dead-letter records ({{ $labels.reason }})",
                "description": (
                    "Records the workers cannot decode go to the dead-letter topic with the reason in a "
                    "header. Usually a producer writing something other than OTLP protobuf."
                ),
                "runbook": RUNBOOK,
            },
        },
        {
            "alert": "EvalstreamScoresStopped",
            "expr": (
                f"(sum(rate({scored}[{STOPPED_WINDOW}])) == 0 or absent({scored}))\n"
                f"and on () sum(increase({scored}[{STOPPED_HISTORY}] offset {STOPPED_WINDOW})) > 0"
            ),
            "for": "5m",
            "labels": {"severity": "page"},
            "annotations": {
                "summary": "evalstream stopped scoring",
                "description": (
                    f"No case was scored in {STOPPED_WINDOW} although some were in the {STOPPED_HISTORY} "
                    "before: the workers are gone or stuck, Kafka is unreachable, or the Collector stopped "
                    "sending. Every drift alert is blind meanwhile. Compare "
                    "evalstream_receiver_llm_calls_total and evalstream_transport_sent_records_total to "
                    "see where the flow stops."
                ),
                "runbook": RUNBOOK,
            },
        },
    ]


def groups() -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    for scorer in SCORERS:
        recording: list[dict[str, Any]] = []
        alerts: list[dict[str, Any]] = []
        for slice_label in SLICES:
            recording += _recording_rules(scorer, slice_label)
            alerts += _drift_alerts(scorer, slice_label)
        result.append(
            {"name": f"evalstream-{scorer}-slices", "interval": f"{EVAL_INTERVAL_S}s", "rules": recording}
        )
        result.append(
            {"name": f"evalstream-{scorer}-drift", "interval": f"{EVAL_INTERVAL_S}s", "rules": alerts}
        )
    result.append({"name": "evalstream-pipeline", "rules": _pipeline_alerts()})
    return result


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

_HEADER = (
    "# GENERATED by deploy/prometheus/generate_rules.py: edit the thresholds there and re-run it.\n"
    "# Checked with `promtool check rules` and replayed by `promtool test rules` (rules_test.yaml).\n"
)


def _dump(document: Any) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=110, allow_unicode=True)


def render() -> dict[pathlib.Path, str]:
    rules = _HEADER + _dump({"groups": groups()})
    prometheus_rule = _HEADER + _dump(
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "evalstream", "labels": {"app.kubernetes.io/part-of": "evalstream"}},
            "spec": {"groups": groups()},
        }
    )
    return {RULES_FILE: rules, PROMETHEUS_RULE_FILE: prometheus_rule}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        print(f"{path}: out of date, run python deploy/prometheus/generate_rules.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
