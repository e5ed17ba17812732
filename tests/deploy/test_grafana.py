"""deploy/grafana: every query of every panel returns data from a real Prometheus fed by the real pipeline.

    demo replay (OTel SDK exporters) --> python -m processor (Kafka: the real broker; scorers relevance
    and a judge against a local stand-in) --/metrics--> prometheus (rules.yaml + a probe alert)
    <-- each panel target of deploy/grafana/evalstream.json, template variables substituted

The pipeline is set up so that every panel has something to show: Kafka gives the sent-records and
lag series, the judge gives token spend and (one bad reply) a scorer error, the no-content capture a
skip. ALERTS only has series while an alert is pending or firing, and the real rules need hours of
history to fire, so the test adds one always-firing probe alert; nothing else is allowed to be empty.
"""

from __future__ import annotations

import http.server
import json
import pathlib
import re
import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from processor.demo.replay import FIXTURES, FLAVOURS, load_flavour, replay, with_fresh_ids
from tests.conftest import REPO
from tests.deploy.test_prometheus_e2e import (
    evalstream_scraped_by_prometheus,
    free_port,
    http_get,
    prom_api,
    wait_for,
)
from tests.kafka_broker import kafka_section
from tests.processes import serving_in_thread

GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = GRAFANA / "evalstream.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
#: Grafana's own variables, and what a 1 s scrape makes of them.
BUILTINS = {"__rate_interval": "30s", "__interval": "5s", "__range": "5m"}
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def targets(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) of every query of every panel (rows included, nested or not)."""
    out = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                out.append((inner["title"], target["refId"], target["expr"]))
    return out


def substitute(expr: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise AssertionError(f"unknown template variable ${name} in {expr!r}")
        return values[name]

    return _VARIABLE.sub(value, expr)


def test_the_dashboard_is_a_grafana_model_with_provisioning_files() -> None:
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"] for v in board["templating"]["list"]}
    assert variables == {"datasource", "scorer", "slice"}
    queries = targets(board)
    assert len(queries) >= 15
    for title, ref, expr in queries:
        for match in _VARIABLE.finditer(expr):
            name = match.group(1) or match.group(2)
            assert name in variables or name in BUILTINS, f"{title} {ref}: unknown ${name}"
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            assert panel["targets"], panel["title"]
    text = " ".join(expr for _, _, expr in queries)
    for needed in (
        "[7d]",  # the baseline
        "ALERTS",
        "evalstream_receiver_received_traces_total",
        "evalstream_sampler_kept_traces_total",
        "evalstream_transport_sent_records_total",
        "evalstream_worker_cases_total",
        "evalstream_worker_consumer_lag_records",
        "evalstream_judge_tokens_total",
    ):
        assert needed in text, needed
    providers = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "evalstream.yaml").read_text())
    assert providers["apiVersion"] == 1 and providers["providers"][0]["type"] == "file"
    sources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())
    assert sources["datasources"][0]["type"] == "prometheus"


class JudgeStandIn(http.server.ThreadingHTTPServer):
    """An OpenAI-compatible judge: 8/10 with token usage; no number at all for the German question."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _JudgeHandler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _JudgeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        prompt = body["messages"][-1]["content"]
        content = (
            "I would rather not say." if "Rückgaberecht" in prompt else '{"score": 8, "explanation": "ok"}'
        )
        payload = json.dumps(
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def judge() -> Iterator[JudgeStandIn]:
    with serving_in_thread(JudgeStandIn()) as server:
        yield server


def send_captures(endpoint: str) -> None:
    for flavour in FLAVOURS:
        traces, logs = with_fresh_ids(*load_flavour(FIXTURES, flavour))
        assert replay(endpoint, [traces], [logs] if logs else [], timeout_s=15) == (True, True), flavour


@pytest.mark.prometheus
@pytest.mark.kafka
@pytest.mark.timeout(300)
def test_every_panel_query_returns_data_from_real_prometheus(
    tmp_path: pathlib.Path, kafka_bootstrap: str, topic_prefix: str, judge: JudgeStandIn
) -> None:
    prometheus_binary = shutil.which("prometheus")
    if prometheus_binary is None:
        pytest.fail("prometheus not found: run deploy/local/test-tools.sh (installs Debian's prometheus)")
    grpc_port, metrics_port = free_port(), free_port()
    config = {
        "receiver": {"grpc": {"endpoint": f"127.0.0.1:{grpc_port}"}},
        "metrics": {"endpoint": f"127.0.0.1:{metrics_port}"},
        "sampling": {"rate": 1.0},
        "worker": {"assembly_window_s": 1.0, "group_id": f"{topic_prefix}-workers"},
        "kafka": kafka_section(kafka_bootstrap, topic_prefix, create_topics=True, partitions=2),
        "scorers": {
            "enabled": [
                {"name": "relevance"},
                {
                    "name": "judge",
                    "params": {"base_url": judge.base_url, "model": "judge-mini", "max_retries": 0},
                },
            ]
        },
    }
    # The only series the pipeline cannot produce in a minute: ALERTS needs an alert pending or firing.
    probe = {
        "name": "dashboard-probe",
        "interval": "1s",
        "rules": [{"alert": "DashboardProbe", "expr": "vector(1)", "labels": {"severity": "none"}}],
    }
    with evalstream_scraped_by_prometheus(
        tmp_path, prometheus_binary, config, extra_rule_groups=[probe]
    ) as scraped:
        prometheus_url, processes = scraped.prometheus_url, scraped.processes
        wait_for(
            "evalstream to be ready",
            lambda: "ready" in http_get(f"http://127.0.0.1:{metrics_port}/readyz"),
            timeout=60,
            processes=processes,
        )
        send_captures(f"127.0.0.1:{grpc_port}")
        time.sleep(3)
        send_captures(f"127.0.0.1:{grpc_port}")  # counters grow between scrapes: rates are not all zero

        def judge_spend_scraped() -> bool:
            result = prom_api(prometheus_url, "query", query="evalstream_judge_tokens_total > 0")["result"]
            lag = prom_api(prometheus_url, "query", query="evalstream_worker_consumer_lag_records")["result"]
            return bool(result and lag)

        wait_for("judge tokens and consumer lag", judge_spend_scraped, timeout=90, processes=processes)
        time.sleep(2)  # one more scrape after the last scores

        scorers = prom_api(
            prometheus_url, "label/scorer/values", **{"match[]": "evalstream_worker_scored_cases_total"}
        )
        assert set(scorers) == {"relevance", "judge"}, scorers  # the $scorer variable's own query
        board = dashboard()
        slices = [option["value"] for option in board["templating"]["list"][2]["options"]]

        def empty_panels() -> list[str]:
            empty: list[str] = []
            for scorer in scorers:
                for slice_label in slices:
                    values = {**BUILTINS, "scorer": scorer, "slice": slice_label}
                    for title, ref, expr in targets(board):
                        query = substitute(expr, values)
                        data = prom_api(prometheus_url, "query", query=query)  # asserts status=success
                        if not data["result"]:
                            empty.append(f"{title} [{ref}] scorer={scorer} slice={slice_label}: {query}")
            return empty

        # On a loaded machine the judge's last scores can land a scrape or two later than its first.
        deadline = time.monotonic() + 30
        while (empty := empty_panels()) and time.monotonic() < deadline:
            time.sleep(2)
    assert not empty, "panel queries that returned nothing:\n" + "\n".join(empty)
