"""worker.tiers: validated at start-up, every message leading with its key."""

from __future__ import annotations

import pytest

from processor.config import parse
from processor.errors import ConfigError


@pytest.mark.parametrize(
    ("worker", "message"),
    [
        ({"tiers": {"min_per_hour": -1}}, "worker.tiers.min_per_hour: must be 0 or more, got -1"),
        ({"tiers": {"rate": 1.5}}, "worker.tiers.rate: must be between 0 and 1, got 1.5"),
        (
            {"tiers": {"slice_label": ""}},
            "worker.tiers.slice_label: must name a slice label (slices.labels), got ''",
        ),
        (
            {"tiers": {"slice_label": "region"}},
            "worker.tiers.slice_label: 'region' is not a slice label "
            "(slices.labels: service, model, prompt_version, tenant, locale)",
        ),
        ({"tiers": {"quota": 5}}, "worker.tiers: unknown key 'quota'"),
    ],
)
def test_bad_tiers_are_start_up_errors_naming_the_key(worker: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"worker": worker})
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


def test_tiers_defaults_and_a_tenant_slice() -> None:
    tiers = parse({}).worker.tiers
    assert (tiers.slice_label, tiers.min_per_hour, tiers.rate) == ("locale", 20, 1.0)
    assert parse({"worker": {"tiers": {"slice_label": "tenant"}}}).worker.tiers.slice_label == "tenant"
