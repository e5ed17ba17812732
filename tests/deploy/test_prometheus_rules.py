"""deploy/prometheus: the drift and pipeline alert rules, checked and replayed by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from processor.alerts.rules import drift_slices, scorer_names
from processor.config import load
from tests.conftest import REPO

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yaml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yaml"
RULES_TEST_WEEK = PROMETHEUS_DIR / "rules_test_week.yaml"
PROMETHEUS_RULE = REPO / "deploy" / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: run deploy/local/test-tools.sh (installs Debian's prometheus package)"
        )
    return path


def load_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]


@pytest.mark.parametrize("script", ["generate_rules.py", "generate_week_test.py"])
def test_generated_files_are_up_to_date(script: str) -> None:
    result = subprocess.run(
        [sys.executable, str(PROMETHEUS_DIR / script), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_rule_carries_exactly_the_rules_file() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == load_groups()


def test_every_default_scorer_and_slice_gets_guarded_drift_alerts() -> None:
    config = load(None)
    scorers, slices = scorer_names(config), drift_slices(config)
    assert "relevance" in scorers and set(slices) == {"locale", "tenant", "model", "prompt_version"}
    alerts = [rule for group in load_groups() for rule in group["rules"] if "alert" in rule]
    recorded = {
        rule["record"]: rule["expr"] for group in load_groups() for rule in group["rules"] if "record" in rule
    }
    for scorer in scorers:
        drift = [rule for rule in alerts if rule.get("labels", {}).get("scorer") == scorer]
        assert {rule["labels"]["slice"] for rule in drift} == set(slices), scorer
        for rule in drift:
            slice_label = rule["labels"]["slice"]
            level = f"slice_{slice_label}:app_eval_{scorer}"
            expr = rule["expr"]
            assert rule["alert"].endswith("DropVsBaseline") and rule["labels"]["severity"] == "page"
            assert f"> on (service, {slice_label}) {level}:max_drop\n" in expr
            assert f"{level}_count:cases1h >= " in expr  # minimum sample now
            assert f"{level}_count:cases7d >= " in expr  # a history
            assert f"{level}:hours7d >= " in expr  # enough hours to know the usual spread
            assert rule["for"]
            max_drop = recorded[f"{level}:max_drop"]
            assert max_drop.startswith(f"clamp_min(\n  4 * {level}:spread7d\n")
            assert max_drop.endswith("  0.05\n)")
    for slice_label in slices:
        # Means across worker pods are ratios of summed rates, never averages of per-pod means.
        assert recorded[f"slice_{slice_label}:app_eval_relevance_sum:rate1h"] == (
            f"sum by (service, {slice_label}) (rate(app_eval_relevance_sum[1h]))"
        )
        # The baseline reads hourly steps (168 a week), never every 1-minute recording (10,080).
        baseline = recorded[f"slice_{slice_label}:app_eval_relevance:mean7d"]
        assert "[7d:1h] offset 1h" in baseline and "[7d]" not in baseline
    names = {rule["alert"] for rule in alerts}
    assert {
        "EvalstreamScorerErrors",
        "EvalstreamJudgeBudgetExhausted",
        "EvalstreamConsumerLagHigh",
        "EvalstreamScoresStopped",
    } <= names


@pytest.mark.prometheus
def test_promtool_check_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.prometheus
@pytest.mark.parametrize("test_file", [RULES_TEST, RULES_TEST_WEEK], ids=lambda p: p.name)
def test_promtool_replays_the_scenarios(test_file) -> None:
    """rules_test: exact recordings, the relative rule, the pipeline alerts. rules_test_week: a benign
    week (noise, a hard hour, quiet nights, a new small slice) pages nothing, then the Thursday bug pages
    within the hour for a high-scoring and for a low-scoring locale."""
    result = subprocess.run(
        [promtool(), "test", "rules", test_file.name], cwd=PROMETHEUS_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
