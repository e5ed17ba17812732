"""deploy/kubernetes and deploy/Dockerfile: rendered by real kustomize, validated against Kubernetes schemas.

Built-in kinds are validated offline, strictly (unknown fields fail), with kubernetes-validate. The CRDs
(ScaledObject, PodMonitor, PrometheusRule) have no schema there: they are checked for what ties them to
the rest (names, labels, ports, consumer group, partition count, the rules file). The Dockerfile is
linted by hadolint and its wheel-building step is run for real; no Docker engine builds the image here.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import kubernetes_validate
import pytest
import yaml

from processor.config import parse
from tests.conftest import REPO

K8S = REPO / "deploy" / "kubernetes"
BASE = K8S / "base"
OVERLAY = K8S / "overlays" / "example"
RULES = REPO / "deploy" / "prometheus" / "rules.yaml"
DOCKERFILE = REPO / "deploy" / "Dockerfile"
CACHE = pathlib.Path(os.environ.get("EVALSTREAM_CACHE", pathlib.Path.home() / ".cache" / "evalstream"))
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
CRD_KINDS = {"ScaledObject", "PodMonitor", "PrometheusRule"}
CONFIG_PATH = "/etc/evalstream/config.yaml"


def kustomize(path: pathlib.Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    built = sorted(CACHE.glob("kustomize/*/kustomize"))
    if kubectl:
        command = [kubectl, "kustomize", str(path)]
    elif built:
        command = [str(built[-1]), "build", str(path)]
    else:
        pytest.fail("neither kubectl nor a cached kustomize: run deploy/local/test-tools.sh")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[dict]:
    return kustomize(OVERLAY)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def evalstream_config(objects: list[dict]):
    """The ConfigMap's config.yaml through evalstream's own loader, env from the same ConfigMap."""
    (config_map,) = by_kind(objects, "ConfigMap").values()
    data = config_map["data"]
    return parse(yaml.safe_load(data["config.yaml"]), environ=data, source="ConfigMap"), data


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("which", ["base", "overlay"])
def test_rendered_objects_validate_against_kubernetes_schemas(which: str, version: str, request) -> None:
    objects = request.getfixturevalue(which)
    checked = 0
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        kubernetes_validate.validate(obj, version, strict=True)
        checked += 1
    assert checked >= 7


def test_the_validator_rejects_an_unknown_field(base: list[dict]) -> None:
    deployment = by_kind(base, "Deployment")["evalstream-worker"]
    bad = yaml.safe_load(yaml.safe_dump(deployment))
    container(bad)["readinesProbe"] = container(bad).pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, kubernetes_validate.latest_version(), strict=True)


def test_config_map_is_a_valid_evalstream_config(overlay: list[dict]) -> None:
    config, data = evalstream_config(overlay)
    assert config.receiver.grpc.endpoint == "0.0.0.0:4317"
    assert config.receiver.http.endpoint == "0.0.0.0:4318"
    assert config.metrics.endpoint == "0.0.0.0:9464"
    assert config.kafka.bootstrap_servers == data["KAFKA_BOOTSTRAP_SERVERS"]
    assert config.kafka.servers
    assert data["KAFKA_BOOTSTRAP_SERVERS"].startswith("my-cluster-kafka-bootstrap.")  # the overlay's value


@pytest.mark.parametrize("which", ["base", "overlay"])
def test_deployments_run_their_role_safely(which: str, request) -> None:
    objects = request.getfixturevalue(which)
    config, _ = evalstream_config(objects)
    config_map_name = next(iter(by_kind(objects, "ConfigMap")))
    deployments = by_kind(objects, "Deployment")
    assert set(deployments) == {"evalstream-receiver", "evalstream-worker"}
    for role in ("receiver", "worker"):
        deployment = deployments[f"evalstream-{role}"]
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert c["command"] + c["args"] == ["python", "-m", "processor", role, "--config", CONFIG_PATH]
        # The config file and the env var both come from the one (hash-named) ConfigMap.
        volume = next(v for v in pod["volumes"] if v["name"] == "config")
        assert volume["configMap"]["name"] == config_map_name
        mount = next(m for m in c["volumeMounts"] if m["name"] == "config")
        assert f"{mount['mountPath']}/{volume['configMap']['items'][0]['path']}" == CONFIG_PATH
        env = {e["name"]: e["valueFrom"]["configMapKeyRef"]["name"] for e in c["env"]}
        assert env == {"KAFKA_BOOTSTRAP_SERVERS": config_map_name}
        # Probes: HTTP readiness and liveness on the metrics port.
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports["metrics"] == 9464 == int(config.metrics.endpoint.rsplit(":", 1)[1])
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        # Non-root, read-only, no capabilities.
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        for kind in ("requests", "limits"):
            assert set(c["resources"][kind]) == {"cpu", "memory"}
    receiver = container(deployments["evalstream-receiver"])
    assert receiver["startupProbe"]["grpc"] == {"port": 4317}  # the grpc.health.v1 service
    assert {p["name"]: p["containerPort"] for p in receiver["ports"]}["otlp-grpc"] == 4317
    assert {p["name"]: p["containerPort"] for p in receiver["ports"]}["otlp-http"] == 4318
    # The worker gets longer to stop than it takes to drain.
    worker_pod = deployments["evalstream-worker"]["spec"]["template"]["spec"]
    assert worker_pod["terminationGracePeriodSeconds"] > config.worker.drain_timeout_s + 10
    assert "replicas" not in deployments["evalstream-worker"]["spec"]  # the autoscaler owns it


def test_service_and_disruption_budgets_select_the_pods(base: list[dict]) -> None:
    deployments = by_kind(base, "Deployment")

    def selected(selector: dict) -> set[str]:
        return {
            name
            for name, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        }

    service = by_kind(base, "Service")["evalstream-receiver"]
    assert selected(service["spec"]["selector"]) == {"evalstream-receiver"}
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    assert ports[4317]["appProtocol"] == "grpc" and ports[4317]["targetPort"] == "otlp-grpc"
    assert ports[4318]["appProtocol"] == "http" and ports[4318]["targetPort"] == "otlp-http"
    assert ports[9464]["targetPort"] == "metrics"
    budgets = by_kind(base, "PodDisruptionBudget")
    assert selected(budgets["evalstream-receiver"]["spec"]["selector"]["matchLabels"]) == {
        "evalstream-receiver"
    }
    assert selected(budgets["evalstream-worker"]["spec"]["selector"]["matchLabels"]) == {"evalstream-worker"}


def test_base_scales_workers_on_cpu_up_to_the_partition_count(base: list[dict]) -> None:
    config, _ = evalstream_config(base)
    hpa = by_kind(base, "HorizontalPodAutoscaler")["evalstream-worker"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "evalstream-worker",
    }
    assert hpa["spec"]["maxReplicas"] <= config.kafka.partitions
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert not by_kind(base, "ScaledObject")


def test_overlay_scales_workers_on_lag_with_keda_and_drops_the_cpu_hpa(overlay: list[dict]) -> None:
    config, _ = evalstream_config(overlay)
    assert not by_kind(overlay, "HorizontalPodAutoscaler")  # KEDA's own HPA would fight it
    scaled = by_kind(overlay, "ScaledObject")["evalstream-worker"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["spec"]["scaleTargetRef"]["name"] in by_kind(overlay, "Deployment")
    assert (
        1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"] <= config.kafka.partitions
    )
    triggers = {t["type"]: t for t in scaled["spec"]["triggers"]}
    kafka = triggers["kafka"]["metadata"]
    assert kafka["consumerGroup"] == config.worker.group_id == "evalstream-workers"
    assert kafka["topic"] == config.kafka.topics.traces == "evalstream_spans"
    assert kafka["allowIdleConsumers"] == "false"
    assert int(kafka["lagThreshold"]) > 0
    worker_env = {e["name"] for e in container(by_kind(overlay, "Deployment")["evalstream-worker"])["env"]}
    assert kafka["bootstrapServersFromEnv"] in worker_env
    assert triggers["cpu"]["metricType"] == "Utilization"  # CPU scaling carried over from the base HPA


def test_overlay_monitors_every_pod_and_loads_the_rules(overlay: list[dict]) -> None:
    assert {o["metadata"].get("namespace") for o in overlay if o["kind"] != "Namespace"} == {"evalstream"}
    monitor = by_kind(overlay, "PodMonitor")["evalstream"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    for deployment in by_kind(overlay, "Deployment").values():
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        port_names = {p["name"] for p in container(deployment)["ports"]}
        assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} <= port_names
    rule = by_kind(overlay, "PrometheusRule")["evalstream"]
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    images = {container(d)["image"] for d in by_kind(overlay, "Deployment").values()}
    assert images == {"registry.example.com/evalstream:0.1.0"}


# --- the image ----------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_hadolint_passes() -> None:
    found = sorted(CACHE.glob("hadolint/*/bin/hadolint"))
    hadolint = shutil.which("hadolint") or (str(found[-1]) if found else None)
    if hadolint is None:
        pytest.fail("hadolint not found: run deploy/local/test-tools.sh")
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_pinned_slim_non_root_and_runs_both_roles() -> None:
    instructions = dockerfile_instructions()
    args = dict(value.split("=", 1) for kind, value in instructions if kind == "ARG")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", args["PYTHON_IMAGE"])
    stages = [value for kind, value in instructions if kind == "FROM"]
    assert all(stage.startswith("${PYTHON_IMAGE}") for stage in stages) and len(stages) == 2
    final = instructions[max(i for i, (kind, _) in enumerate(instructions) if kind == "FROM") :]
    user = [value for kind, value in final if kind == "USER"][-1]
    assert (
        user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0
    )  # numeric: runAsNonRoot can verify it
    assert [value for kind, value in final if kind == "ENTRYPOINT"] == ['["python", "-m", "processor"]']
    pods = kustomize(BASE)
    uids = {
        d["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for d in by_kind(pods, "Deployment").values()
    }
    assert uids == {int(user.split(":")[0])}


def test_dockerfile_build_step_makes_a_wheel_with_generated_protobuf(tmp_path: pathlib.Path) -> None:
    """Run the build stage's `pip wheel` on exactly what the Dockerfile copies (no Docker engine here)."""
    copied = []
    for kind, value in dockerfile_instructions():
        if kind == "COPY" and not value.startswith("--from"):
            copied += value.split()[:-1]
    assert set(copied) == {"pyproject.toml", "hatch_build.py", "README.md", "proto/", "processor/"}
    src = tmp_path / "src"
    src.mkdir()
    for item in copied:
        source = REPO / item
        if source.is_dir():
            shutil.copytree(source, src / item, ignore=shutil.ignore_patterns("__pycache__", "_proto"))
        else:
            shutil.copy2(source, src / item)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--quiet",
            "--wheel-dir",
            str(tmp_path / "wheels"),
            ".",
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (wheel,) = (tmp_path / "wheels").glob("evalstream-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "processor/__main__.py" in names
    assert "processor/_proto/eval_result_pb2.py" in names
