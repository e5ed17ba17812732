#!/usr/bin/env bash
# Builds the Collector described by builder-config.yaml (once; cached) and prints its path.
# Cache: ${EVALSTREAM_CACHE:-~/.cache/evalstream}/otelcol/<hash of the manifest>/. Needs Go.
# A cold build takes minutes on 2 cores (module downloads + compile); a warm one is instant.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
manifest="$here/builder-config.yaml"
builder_version="v0.165.0"  # = the core release the manifest pins
cache="${EVALSTREAM_CACHE:-$HOME/.cache/evalstream}/otelcol"
key="$( (cat "$manifest"; echo "$builder_version") | sha256sum | cut -c1-16)"
out="$cache/$key"
binary="$out/otelcol-evalstream/otelcol-evalstream"
if [ -x "$binary" ]; then
    echo "$binary"
    exit 0
fi
command -v go >/dev/null 2>&1 || { echo "build-otelcol: go is not installed" >&2; exit 3; }
mkdir -p "$cache/bin" "$out"
if [ ! -x "$cache/bin/builder-$builder_version" ]; then
    echo "build-otelcol: installing the Collector builder $builder_version" >&2
    GOBIN="$cache/bin" go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2
    mv "$cache/bin/builder" "$cache/bin/builder-$builder_version"
fi
echo "build-otelcol: building the Collector (minutes on a cold cache) in $out" >&2
tmp="$(mktemp -d "$out.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && "$cache/bin/builder-$builder_version" --config "$manifest" >&2)
rm -rf "$out/otelcol-evalstream"
mv "$tmp/otelcol-evalstream" "$out/otelcol-evalstream"
# Builds of older manifests are ~50 MB each: keep only this one.
find "$cache" -mindepth 1 -maxdepth 1 -type d -name '[0-9a-f]*' ! -name "$key" -exec rm -rf {} +
echo "$binary"
