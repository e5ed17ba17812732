"""Write deploy/prometheus/rules.yaml and the identical Kubernetes PrometheusRule for the default config.

These are the rules `python -m processor.alerts` prints for an evalstream config with no `scorers`,
`slices` or `alerts` section. For your own config, run that command instead:

    python -m processor.alerts --config my.yaml > rules.yaml
    python -m processor.alerts --config my.yaml --prometheus-rule > prometheusrule.yaml

`--check` exits 1 when a committed file differs from what would be written
(tests/deploy/test_prometheus_rules.py runs it).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from processor.alerts.rules import prometheus_rule, rules_file
from processor.config import load

HERE = pathlib.Path(__file__).resolve().parent
RULES_FILE = HERE / "rules.yaml"
PROMETHEUS_RULE_FILE = HERE.parent / "kubernetes" / "components" / "monitoring" / "prometheusrule.yaml"


def render() -> dict[pathlib.Path, str]:
    config = load(None)
    return {RULES_FILE: rules_file(config), PROMETHEUS_RULE_FILE: prometheus_rule(config)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a generated file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    for path in stale:
        print(f"{path}: out of date, run python deploy/prometheus/generate_rules.py", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
