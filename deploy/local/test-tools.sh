#!/usr/bin/env bash
# Installs the non-Python tools the test suite drives, when missing: promtool and the Prometheus
# server (Debian's prometheus package). Java 17 and Maven (for the Kafka broker) are checked by kafka.sh.
set -euo pipefail
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test-tools: installing Debian's prometheus package (promtool + server)" >&2
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    else
        echo "test-tools: promtool/prometheus missing; install Debian's 'prometheus' package (tests marked prometheus will fail)" >&2
    fi
fi
