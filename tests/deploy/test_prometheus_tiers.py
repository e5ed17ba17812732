"""The README's weighted overall mean of an expensive-tier scorer, evaluated by a real Prometheus.

    the real quota (SliceQuota) chooses the judged cases of an hour of traffic -> WorkerMetrics
        -> MetricsServer /metrics --scrape--> prometheus (Debian's binary) --README query--> a number

The judged cases over-represent the small slices (each gets its quota); dividing each slice's sums
and counts by its inclusion rate (`evalstream_tier_inclusion_ratio`) weights slices by their traffic.
The query is read from the README, so the documented text is what is tested.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sys

import pytest
import yaml
from prometheus_client import CollectorRegistry

from processor.extract.config import SlicesConfig
from processor.metrics import MetricsServer, WorkerMetrics
from processor.model import EvalCase, Score
from processor.worker.config import TiersConfig
from processor.worker.tiers import SliceQuota
from tests.conftest import REPO
from tests.deploy.test_prometheus_e2e import free_port, http_get, prom_api, running, wait_for

pytestmark = [pytest.mark.prometheus, pytest.mark.timeout(180)]

TRAFFIC = {"en-US": (900, 0.9), "es-ES": (20, 0.2)}  # calls in the hour, the judge's score on each


def readme_query() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```promql\n(.*?)```", readme, re.DOTALL)
    (query,) = [b for b in blocks if "evalstream_tier_inclusion_ratio" in b]
    return query


def test_the_readme_query_weights_each_slice_by_its_traffic(tmp_path: pathlib.Path) -> None:
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        pytest.fail("prometheus not found: run deploy/local/test-tools.sh (installs Debian's prometheus)")
    registry = CollectorRegistry()
    slices = SlicesConfig()
    metrics = WorkerMetrics(registry, prefix="app_eval", label_names=slices.names, max_label_values=50)
    now = [0.0]
    quota = SliceQuota(TiersConfig(min_per_hour=20, rate=0.05), clock=lambda: now[0])
    judged: dict[str, list[float]] = {locale: [] for locale in TRAFFIC}
    cases = []
    for locale, (calls, value) in TRAFFIC.items():
        for i in range(calls):
            cases.append((i * 3600 / calls, locale, value, f"{locale}-{i}"))
    for at, locale, value, trace in sorted(cases):
        now[0] = at
        if quota.choose(trace, locale).runs:
            judged[locale].append(value)
    rates = quota.rates()
    metrics.set_inclusion(rates)
    histogram = metrics.histogram("judge")
    for locale in TRAFFIC:  # the series exist, at 0, before the hour's scores arrive
        histogram.labels(*metrics.labels_for(EvalCase("", "", labels={"locale": locale})))

    server = MetricsServer("127.0.0.1", 0, registry)
    server.start()
    prometheus_port = free_port()
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s"},
                "scrape_configs": [
                    {"job_name": "worker", "static_configs": [{"targets": [f"127.0.0.1:{server.port}"]}]}
                ],
            }
        )
    )
    url = f"http://127.0.0.1:{prometheus_port}"
    log = tmp_path / "prometheus.log"
    try:
        with running(
            [
                prometheus_binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prometheus_port}",
            ],
            log,
        ) as prometheus:
            processes = {"prometheus": (prometheus, log)}
            wait_for("prometheus", lambda: http_get(f"{url}/-/ready"), timeout=60, processes=processes)

            def counts() -> dict[str, float]:
                result = prom_api(url, "query", query="app_eval_judge_count")["result"]
                return {r["metric"]["locale"]: float(r["value"][1]) for r in result}

            wait_for(
                "the empty series",
                lambda: counts() == dict.fromkeys(TRAFFIC, 0.0),
                timeout=30,
                processes=processes,
            )
            for locale, values in judged.items():
                for value in values:
                    metrics.record(
                        EvalCase("q", "a", labels={"locale": locale}), Score.scored("judge", value)
                    )
            expected_counts = {locale: float(len(values)) for locale, values in judged.items()}
            wait_for(
                "the hour's scores", lambda: counts() == expected_counts, timeout=30, processes=processes
            )
            query = readme_query()
            result = prom_api(url, "query", query=query)["result"]
            naive = prom_api(
                url, "query", query="sum(rate(app_eval_judge_sum[1h])) / sum(rate(app_eval_judge_count[1h]))"
            )["result"]
    finally:
        server.shutdown()
    (sample,) = result
    weighted = float(sample["value"][1])
    horvitz_thompson = sum(sum(v) / rates[loc] for loc, v in judged.items()) / sum(
        len(v) / rates[loc] for loc, v in judged.items()
    )
    traffic_mean = sum(n * v for n, v in TRAFFIC.values()) / sum(n for n, _ in TRAFFIC.values())
    print(
        f"weighted {weighted:.4f}, traffic mean {traffic_mean:.4f}, naive {float(naive[0]['value'][1]):.4f}, "
        f"judged {expected_counts}, rates {rates}",
        file=sys.stderr,
    )
    assert weighted == pytest.approx(horvitz_thompson, rel=1e-9)
    assert weighted == pytest.approx(traffic_mean, abs=0.01)  # each judged case stands for 1/rate calls
    assert float(naive[0]["value"][1]) < traffic_mean - 0.05  # unweighted, es-ES's quota drags it down
