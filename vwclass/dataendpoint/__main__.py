"""Command line entry point: `python -m vwclass.dataendpoint` (configured by environment variables)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import NoReturn

from vwclass.dataendpoint.config import ConfigError, describe_settings, load_config
from vwclass.dataendpoint.service import StartupError, run

PROG = "python -m vwclass.dataendpoint"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other configuration error, instead of usage plus message.
        self.exit(2, f"{PROG}: {message} (configuration is by environment variables; see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(
        prog=PROG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "A student's data endpoint: consumes the node's RabbitMQ queue into SQLite and serves the\n"
            "Sage data API subset (POST /api/v1/query), uploaded files, /healthz, /readyz, /metrics."
        ),
        epilog="environment variables:\n" + describe_settings(),
    )
    parser.parse_args(argv)
    try:
        config = load_config(os.environ)
    except ConfigError as error:
        print(f"{PROG}: configuration error: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # pika logs every reconnect attempt at length; our own warning says what matters.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        run(config)
    except StartupError as error:
        print(f"{PROG}: cannot start: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
