"""`chargestream`: one command line for the worker, migrations, the fleet simulator, the
demo, replays and the local services.

Settings come from CHARGESTREAM_* environment variables and from `--set NAME=VALUE`
flags, into the one settings object (agents/config.py); `chargestream settings` lists
them all. Flags win over the environment.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import ConnectError, Settings, get_settings


def _apply_settings(pairs: Sequence[str]) -> None:
    """`--set name=value` -> the environment the settings object reads (before anything reads it)."""
    fields = Settings.model_fields
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip().lower().removeprefix("chargestream_")
        if not sep or name not in fields:
            raise SystemExit(f"--set {pair!r}: unknown setting (see `chargestream settings`)")
        os.environ[f"CHARGESTREAM_{name.upper()}"] = value
    get_settings.cache_clear()
    get_settings()  # fail here, with pydantic's message, on a bad value


def settings_table() -> str:
    """Every setting as a markdown table: the README's table is this output."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, f in Settings.model_fields.items():
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(map(str, default)) or "(none)"
        shown = "(unset)" if default is None else f"`{default}`"
        meaning = " ".join((f.description or "").split()).replace("|", "\\|")
        rows.append(f"| `CHARGESTREAM_{name.upper()}` | {shown} | {meaning} |")
    return "\n".join(rows)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set any setting, e.g. --set kafka_bootstrap=broker:9092 (repeatable)",
    )
    parser = argparse.ArgumentParser(prog="chargestream", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=parents, help=text, description=text)

    w = command("worker", "run the stream processor (a Faust worker)", [common])
    w.add_argument("-l", "--loglevel", default="info", help="debug, info, warn or error (default info)")

    m = command("migrate", "create topics and apply CQL migrations (idempotent)", [common])
    m.add_argument("--keyspace", help="apply into this keyspace instead of the configured one")
    m.add_argument("--skip-topics", action="store_true", help="only the Cassandra migrations")

    from .simulate import add_arguments as simulate_args

    simulate_args(command("simulate", "send a simulated fleet's OCPP messages to the input topics", [common]))

    from .demo import add_arguments as demo_args

    demo_args(command("demo", "local services + worker + simulator for a minute, then a summary", [common]))

    from .replay import add_arguments as replay_args

    replay_args(command("replay", "re-process a time range or offsets into a chosen keyspace", [common]))

    i = command("infra", "the local services: up, down, status, logs (see infra/local/README.md)", [])
    i.add_argument("infra_args", nargs=argparse.REMAINDER, metavar="ACTION [SERVICE ...]")

    command(
        "settings",
        "list every setting: its environment variable, default and meaning (a markdown table; the README's)",
        [],
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _run(_parser().parse_args(argv))
    except KeyboardInterrupt:
        return 130  # Ctrl-C: whatever was started has been stopped on the way out
    except ConnectError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "infra":
        from infra.local.__main__ import main as infra_main

        return infra_main(args.infra_args or ["status"])
    if args.command == "settings":
        print(settings_table())
        return 0
    _apply_settings(args.set)
    if args.command == "worker":
        from . import streams, views  # noqa: F401 - registers the agents and web pages
        from .app import app
        from .gc_policy import install as install_gc_policy
        from .heap_trim import trim_periodically

        install_gc_policy()
        trim_periodically(app, get_settings().heap_trim_seconds)

        sys.argv = [sys.argv[0], "worker", "--loglevel", args.loglevel]
        app.main()  # Faust's own command line; exits the process
        return 0
    if args.command == "migrate":
        from .migrate import main as migrate_main

        return migrate_main(
            [
                *(["--keyspace", args.keyspace] if args.keyspace else []),
                *(["--skip-topics"] if args.skip_topics else []),
            ]
        )
    if args.command == "simulate":
        from .simulate import run as simulate

        return int(simulate(args))
    if args.command == "demo":
        from .demo import run as demo

        return demo(args)
    if args.command == "replay":
        from .replay import run as replay

        return replay(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
