"""Command line: python -m infra.local {up,down,status,logs} [SERVICE ...]."""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque

from .config import LocalSettings
from .fetch import FetchError
from .manager import ServiceError, down, status, up
from .services import SERVICES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description="Local Kafka (KRaft), Cassandra, Prometheus and Alertmanager on 127.0.0.1. "
        "Settings: CHARGESTREAM_LOCAL_* environment variables (see infra/local/README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("up", "fetch what is missing, start what is not running, wait until all are ready"),
        ("down", "stop the services this tool started (only those PIDs)"),
        ("status", "show each service: ready, starting, stopped, or foreign (port held by another process)"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "services",
            nargs="*",
            choices=[[], *SERVICES],
            metavar="SERVICE",
            help=f"any of {', '.join(SERVICES)} (default: all)",
        )
    text = "print the end of a service's log"
    logs = sub.add_parser("logs", help=text, description=text)
    logs.add_argument("service", choices=list(SERVICES))
    logs.add_argument("-n", "--lines", type=int, default=50)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    args = parser.parse_args(argv)

    settings = LocalSettings()
    try:
        if args.command == "up":
            up(settings, args.services)
        elif args.command == "down":
            down(settings, args.services)
        elif args.command == "status":
            rows = status(settings, args.services)
            print(f"{'service':<13} {'state':<9} {'pid':<8} {'address':<24} log")
            for r in rows:
                print(f"{r.service:<13} {r.state:<9} {r.pid or '-'!s:<8} {r.address:<24} {r.log}")
        else:
            _logs(settings, args.service, args.lines, args.follow)
    except (ServiceError, FetchError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _logs(settings: LocalSettings, service: str, lines: int, follow: bool) -> None:
    path = settings.log_file(service)
    if not path.exists():
        raise ServiceError(f"no log for {service} yet ({path})")
    with path.open(errors="replace") as f:
        sys.stdout.writelines(deque(f, maxlen=lines))
        while follow:
            line = f.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
