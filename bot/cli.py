"""`smmbot` (also `python -m bot`): run the bot, apply migrations, start the sandbox servers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from bot.config import ConfigError, Settings, load_settings

log = logging.getLogger("smmbot")


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs every request URL, and a Bot API URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # a line per plugin at each start


def _fail(message: str) -> None:
    print(f"smmbot: {message}", file=sys.stderr)
    raise SystemExit(2)


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        _fail(str(exc))
        raise  # unreachable


def cmd_migrate(_: argparse.Namespace) -> None:
    from storage.db import migrate

    settings = _settings()
    asyncio.run(migrate(settings.database_url))
    print("Database is up to date.")


def cmd_run(_: argparse.Namespace) -> None:
    settings = _settings()
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value().strip():
        _fail(
            "TELEGRAM_BOT_TOKEN is not set. Get a token from @BotFather and run "
            "`TELEGRAM_BOT_TOKEN=... make run` (or try `make demo`, which needs none)."
        )
    from bot.app import run_bot

    run_bot(settings)


def cmd_sandbox_panel(args: argparse.Namespace) -> None:
    from bot.sandbox.panel import run_standalone

    try:
        asyncio.run(run_standalone(args.host, args.port, args.services, args.dialect, args.latency))
    except KeyboardInterrupt:
        pass


def cmd_demo(args: argparse.Namespace) -> None:
    try:
        from bot.sandbox.chat import run_demo
    except ImportError:
        print("The terminal chat is not built yet; starting the panel simulator alone (Ctrl-C to stop).")
        cmd_sandbox_panel(
            argparse.Namespace(host="127.0.0.1", port=0, services=300, dialect="jap", latency=0.0)
        )
        return
    try:
        asyncio.run(run_demo(services=args.services))
    except (KeyboardInterrupt, EOFError):
        print()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="smmbot", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="run the bot (needs TELEGRAM_BOT_TOKEN)").set_defaults(func=cmd_run)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)

    panel = sub.add_parser("sandbox-panel", help="run the panel simulator alone")
    panel.add_argument("--host", default="127.0.0.1")
    panel.add_argument("--port", type=int, default=8081)
    panel.add_argument("--services", type=int, default=300, help="catalog size")
    panel.add_argument("--dialect", choices=["jap", "smart"], default="jap")
    panel.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    panel.set_defaults(func=cmd_sandbox_panel)

    demo = sub.add_parser("demo", help="the whole bot offline, in a terminal chat")
    demo.add_argument("--services", type=int, default=300, help="catalog size of the simulated panel")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    args.func(args)
