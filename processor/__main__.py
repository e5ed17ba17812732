"""python -m processor: load config, build the pipeline, run. The only exit point of the online roles."""

from __future__ import annotations

import argparse
import logging
import sys

from processor.config import load
from processor.errors import ConfigError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="evalstream",
        description="Score LLM calls from an OpenTelemetry trace stream. With no role: receiver and worker "
        "in one process (joined in-process when kafka.bootstrap_servers is empty, else through Kafka).",
        epilog="exit codes: 0 stopped cleanly (SIGTERM/SIGINT), 1 could not start (port taken, Kafka), "
        "2 invalid configuration",
    )
    parser.add_argument(
        "role",
        nargs="?",
        choices=("all", "receiver", "worker"),
        default="all",
        help="receiver: OTLP in, sampled LLM calls onto Kafka; worker: Kafka in, scores out as metrics; "
        "all (default): both",
    )
    parser.add_argument("--config", "-c", help="YAML config file (default: built-in defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one config key on top of --config, value read as YAML; repeatable "
        "(e.g. --set sampling.rate=1 --set kafka.bootstrap_servers=localhost:9092)",
    )
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from processor.transport.kafka import LIBRDKAFKA_LOGGER

    # librdkafka's INFO/NOTICE lines are connection chatter, and evalstream logs what matters itself
    # (connected, topics, failures): shown with --log-level DEBUG only.
    logging.getLogger(LIBRDKAFKA_LOGGER).setLevel(
        logging.NOTSET if args.log_level == "DEBUG" else logging.WARNING
    )
    try:
        config = load(args.config, overrides=args.overrides)
    except ConfigError as exc:
        print(f"evalstream: {exc}", file=sys.stderr)
        return 2
    from processor.pipeline import run

    return run(config, role=args.role)


if __name__ == "__main__":
    sys.exit(main())
