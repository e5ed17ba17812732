"""python -m processor.demo SUBCOMMAND: a dispatcher; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m processor.demo", description="evalstream demo tools")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser(
        "send",
        help="send the bundled instrumentation captures to a running receiver (OTel SDK exporters)",
        add_help=False,
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "send":
        try:
            from processor.demo import send
        except ImportError as exc:
            print(
                f"python -m processor.demo send needs the OpenTelemetry SDK ({exc.name} is missing): "
                "pip install 'evalstream[demo]' (or: make demo)",
                file=sys.stderr,
            )
            return 2
        return send.main(rest)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
