"""python -m processor.demo COMMAND: runnable demonstrations of evalstream.

send       the bundled instrumentation captures to a running receiver, through the OTel SDK
thursday   the seed article's Thursday bug: a week of traffic, the page, the golden set, the gate
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m processor.demo", description=(__doc__ or "").splitlines()[0]
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from processor.demo import send, thursday

    send.add_arguments(commands.add_parser("send", help="the bundled captures to a running receiver"))
    thursday.add_arguments(commands.add_parser("thursday", help="the Thursday bug, end to end"))
    args = parser.parse_args(argv)
    if args.command == "send":
        return send.run(args)
    if args.command == "thursday":
        return thursday.run(args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
