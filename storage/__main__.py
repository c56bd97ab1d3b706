"""Database chores without an alembic.ini.

python -m storage upgrade [URL]            migrate to head (URL: SMMBOT_DATABASE_URL or data/smmbot.db)
python -m storage current [URL]            print the revision the database is at
python -m storage revision -m "message"    autogenerate a new migration against a scratch SQLite database
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from storage.db import alembic_config, create_engine, current_revision, migrate, sqlite_url_for


def _default_url() -> str:
    return os.environ.get("SMMBOT_DATABASE_URL") or sqlite_url_for(os.environ.get("SMMBOT_DATA_DIR", "data"))


async def _revision(message: str) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        url = sqlite_url_for(Path(scratch))
        await migrate(url)
        cfg = alembic_config(url)
        engine = create_engine(url)

        def run(connection: Connection) -> None:
            cfg.attributes["connection"] = connection
            head = ScriptDirectory.from_config(cfg).get_current_head() or "0000"
            rev_id = f"{int(head) + 1:04d}" if head.isdigit() else None  # keep 0001, 0002, ... in order
            command.revision(cfg, message=message, autogenerate=True, rev_id=rev_id)

        try:
            async with engine.begin() as connection:
                await connection.run_sync(run)
        finally:
            await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m storage", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("upgrade", "current"):
        sub.add_parser(name).add_argument("url", nargs="?")
    sub.add_parser("revision").add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)
    if args.cmd == "upgrade":
        asyncio.run(migrate(args.url or _default_url()))
    elif args.cmd == "current":
        print(asyncio.run(current_revision(args.url or _default_url())) or "(empty)")
    else:
        asyncio.run(_revision(args.message))


if __name__ == "__main__":
    main()
