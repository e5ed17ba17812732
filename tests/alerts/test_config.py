"""processor.alerts.config: the `alerts` section is validated like every other part, naming the key."""

from __future__ import annotations

import pytest

from processor.alerts.config import AlertsConfig
from processor.config import parse
from processor.errors import ConfigError


def test_defaults_are_valid() -> None:
    assert AlertsConfig().validate("alerts") == []
    assert parse({}).alerts == AlertsConfig()


def test_bad_alerts_section_lists_every_problem_by_key() -> None:
    with pytest.raises(ConfigError) as raised:
        parse(
            {"alerts": {"drift": "sometimes", "margin": 1.5, "drift_for": "ten minutes", "min_cases_1h": 0}}
        )
    problems = raised.value.problems
    assert "alerts.drift: must be one of relative, absolute, both, got 'sometimes'" in problems
    assert "alerts.margin: must be between 0 and 1, got 1.5" in problems
    assert "alerts.drift_for: must be a Prometheus duration like 10m, got 'ten minutes'" in problems
    assert "alerts.min_cases_1h: must be at least 1, got 0" in problems


def test_margin_and_spread_k_cannot_both_be_zero() -> None:
    assert AlertsConfig(margin=0.0, spread_k=0.0).validate("alerts") == [
        "alerts: margin and spread_k are both 0: any dip would page"
    ]
