"""processor.alerts: the rules follow the config the workers use (scorers, slice labels, prefix, alerts)."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from processor.alerts.rules import alert_name, groups, prometheus_rule, rules_file, scorer_names
from processor.config import load, parse
from processor.errors import ConfigError

CUSTOM = {
    "scorers": {
        "enabled": [
            {"name": "groundedness"},
            {"name": "brand-voice", "function": "mypkg.scorers:brand_voice"},  # never imported here
        ]
    },
    "slices": {"labels": {"service": ["service.name"], "locale": ["app.locale"], "channel": ["app.channel"]}},
    "metrics": {"prefix": "myapp_eval"},
    "alerts": {"drift": "both", "margin": 0.1, "spread_k": 3, "min_cases_1h": 30, "drift_for": "15m"},
}


def alerts_of(config_groups: list[dict]) -> list[dict]:
    return [rule for group in config_groups for rule in group["rules"] if "alert" in rule]


def test_rules_follow_the_scorers_slices_prefix_and_alerts_of_the_config() -> None:
    config = parse(CUSTOM)
    rules = alerts_of(groups(config))
    drift = {(r["alert"], r["labels"]["slice"]) for r in rules if "scorer" in r["labels"]}
    assert drift == {
        (f"Eval{name}{kind}", slice_label)
        for name in ("Groundedness", "BrandVoice")
        for kind in ("DropVsBaseline", "BelowFloor")
        for slice_label in ("locale", "channel")
    }
    relative = next(
        r for r in rules if r["alert"] == "EvalBrandVoiceDropVsBaseline" and r["labels"]["slice"] == "channel"
    )
    assert relative["labels"] == {"severity": "page", "scorer": "brand-voice", "slice": "channel"}
    assert relative["for"] == "15m"
    assert "slice_channel:myapp_eval_brand_voice:mean7d - on (service, channel)" in relative["expr"]
    assert "> on (service, channel) slice_channel:myapp_eval_brand_voice:max_drop\n" in relative["expr"]
    recorded = {r["record"]: r["expr"] for g in groups(config) for r in g["rules"] if "record" in r}
    max_drop = recorded["slice_channel:myapp_eval_brand_voice:max_drop"]
    assert max_drop.startswith("clamp_min(\n  3 * slice_channel:myapp_eval_brand_voice:spread7d\n")
    assert max_drop.endswith("  0.1\n)")
    assert "slice_channel:myapp_eval_brand_voice_count:cases1h >= 30" in relative["expr"]
    floor = next(r for r in rules if r["alert"] == "EvalGroundednessBelowFloor")
    assert floor["expr"].startswith("slice_locale:myapp_eval_groundedness:mean1h < 0.6\n")
    text = rules_file(config)
    assert "app_eval_relevance" not in text
    assert "&id" not in text  # no YAML anchors: every rule spelled out


def test_absolute_mode_is_the_articles_rule_only() -> None:
    config = parse({"alerts": {"drift": "absolute", "floor": 0.5, "baseline": 0.7}})
    names = {r["alert"] for r in alerts_of(groups(config)) if "scorer" in r["labels"]}
    assert "EvalGroundednessBelowFloor" in names
    assert names == {alert_name(scorer, "BelowFloor") for scorer in scorer_names(config)}


def test_prometheus_rule_wraps_the_same_groups() -> None:
    config = load(None)
    resource = yaml.safe_load(prometheus_rule(config))
    assert resource["kind"] == "PrometheusRule"
    assert resource["spec"]["groups"] == yaml.safe_load(rules_file(config))["groups"]


def test_unknown_alert_slice_is_named() -> None:
    config = parse({"alerts": {"slices": ["locale", "region"]}})
    with pytest.raises(ConfigError) as raised:
        groups(config)
    assert raised.value.problems[0].startswith(
        "alerts.slices: 'region' is not a slice label other than service"
    )


def test_command_writes_rules_for_a_config_file(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "evalstream.yaml"
    config_file.write_text(yaml.safe_dump(CUSTOM, sort_keys=False))
    out = tmp_path / "rules.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "processor.alerts", "--config", str(config_file), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_text() == rules_file(parse(CUSTOM))
    promtool = shutil.which("promtool")
    if promtool is not None:  # the full check runs under the prometheus marker in tests/deploy
        check = subprocess.run([promtool, "check", "rules", str(out)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def test_command_exits_2_on_a_bad_config(tmp_path: pathlib.Path) -> None:
    config_file = tmp_path / "evalstream.yaml"
    config_file.write_text("alerts:\n  drift: sometimes\n")
    result = subprocess.run(
        [sys.executable, "-m", "processor.alerts", "--config", str(config_file)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "python -m processor.alerts: alerts.drift: must be one of" in result.stderr
