"""python -m processor.alerts: print the Prometheus rules for an evalstream config.

    python -m processor.alerts --config my.yaml > rules.yaml
    python -m processor.alerts --config my.yaml --prometheus-rule > prometheusrule.yaml
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from processor.errors import ConfigError

PROG = "python -m processor.alerts"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Write the Prometheus rules (drift alerts for every enabled scorer and slice label, "
        "plus the pipeline alerts) for an evalstream config.",
        epilog="exit codes: 0 written, 2 invalid configuration",
    )
    parser.add_argument("--config", "-c", metavar="FILE", help="evalstream YAML (default: built-in defaults)")
    parser.add_argument(
        "--prometheus-rule",
        action="store_true",
        help="write a Prometheus Operator PrometheusRule resource instead of a rule file",
    )
    parser.add_argument("-o", "--output", default="-", metavar="FILE", help="default stdout")
    args = parser.parse_args(argv)
    from processor.alerts.rules import prometheus_rule, rules_file
    from processor.config import load

    try:
        config = load(args.config)
        text = prometheus_rule(config) if args.prometheus_rule else rules_file(config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{PROG}: {problem}", file=sys.stderr)
        return 2
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
