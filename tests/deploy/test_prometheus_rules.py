"""deploy/prometheus: the drift and pipeline alert rules, checked and replayed by the real promtool."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "rules.yaml"
RULES_TEST = PROMETHEUS_DIR / "rules_test.yaml"
PROMETHEUS_RULE = REPO / "deploy" / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"
SLICES = ("locale", "tenant", "model", "prompt_version")


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail(
            "promtool not found: run deploy/local/test-tools.sh (installs Debian's prometheus package)"
        )
    return path


def load_groups() -> list[dict]:
    return yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(PROMETHEUS_DIR / "generate_rules.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_rule_carries_exactly_the_rules_file() -> None:
    resource = yaml.safe_load(PROMETHEUS_RULE.read_text(encoding="utf-8"))
    assert resource["apiVersion"] == "monitoring.coreos.com/v1"
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == load_groups()


def test_every_slice_gets_guarded_drift_alerts() -> None:
    alerts = [rule for group in load_groups() for rule in group["rules"] if "alert" in rule]
    for name in ("EvalRelevanceBelowFloor", "EvalRelevanceDropVsBaseline"):
        by_slice = {rule["labels"]["slice"]: rule for rule in alerts if rule["alert"] == name}
        assert set(by_slice) == set(SLICES), name
        for slice_label, rule in by_slice.items():
            expr = rule["expr"]
            assert f"slice_{slice_label}:app_eval_relevance_count:cases1h >= " in expr  # minimum sample
            assert f"slice_{slice_label}:app_eval_relevance_count:cases7d >= " in expr  # has a history
            assert rule["for"]
    recorded = {
        rule["record"]: rule["expr"] for group in load_groups() for rule in group["rules"] if "record" in rule
    }
    for slice_label in SLICES:
        # Means across worker pods are ratios of summed rates, never averages of per-pod means.
        assert recorded[f"slice_{slice_label}:app_eval_relevance_sum:rate1h"] == (
            f"sum by (service, {slice_label}) (rate(app_eval_relevance_sum[1h]))"
        )
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
def test_promtool_replays_the_scenarios() -> None:
    """Thursday bug pages for its locale only; a hard hour, a small or a new slice don't; ops alerts."""
    result = subprocess.run(
        [promtool(), "test", "rules", RULES_TEST.name], cwd=PROMETHEUS_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
