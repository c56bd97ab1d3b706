"""A throwaway PostgreSQL server for the test session.

PostgreSQL refuses to run as root (and CI runs as root): the server runs as the `postgres` system user through
`runuser`, on a temporary directory owned by that user, listening on 127.0.0.1 only. Missing binaries are
installed once with apt-get; if that is impossible the PostgreSQL tests are skipped and the terminal summary
says so loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

PG_DATABASE = "smmbot_test"
T = TypeVar("T")
_skip_reason: str | None = None
_install_tried = False


def _find_bindir() -> Path | None:
    # Debian/Ubuntu keep the server binaries off PATH; take the newest version.
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates = [Path(p) for p in versions]
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).resolve().parent)  # PATH entries are often symlinks
    candidates += [Path(p) for p in ("/usr/local/pgsql/bin", "/opt/homebrew/bin", "/usr/local/bin")]
    for bindir in candidates:
        if (bindir / "pg_ctl").is_file() and (bindir / "initdb").is_file():
            return bindir
    return None


def _version_key(path: str) -> tuple[int, ...]:
    parts = Path(path).parent.name.split(".")
    return tuple(int(p) for p in parts if p.isdigit())


def _try_install() -> str | None:
    """apt-get install postgresql, once per session. Returns an error text, None on success."""
    global _install_tried
    if _install_tried:
        return "already tried to install PostgreSQL in this session"
    _install_tried = True
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return "PostgreSQL binaries not found and apt-get cannot be used here (not root, or no apt-get)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "postgresql"]
    for cmd in (install, ["apt-get", "update"], install):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, check=False)
        if proc.returncode == 0 and cmd is install and _find_bindir() is not None:
            return None
    return f"`apt-get install -y postgresql` failed: {proc.stderr.strip()[-500:]}"


def run_in_thread(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even while pytest-asyncio's event loop is running."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result(timeout=300)


def _fast_tmp_dir() -> str | None:
    """/dev/shm when it has room: a memory file system makes CREATE DATABASE several times faster."""
    try:
        usage = shutil.disk_usage("/dev/shm")
    except OSError:
        return None
    return "/dev/shm" if usage.free > 1 << 30 and os.access("/dev/shm", os.W_OK) else None


def _remove_stale_dirs(parent: str | None) -> None:
    """Leftovers of killed sessions (memory, on /dev/shm): old, and no live server inside."""
    for path in Path(parent or tempfile.gettempdir()).glob("smmbot-pg-*"):
        with contextlib.suppress(OSError, ValueError):
            if time.time() - path.stat().st_mtime < 3600:
                continue
            pid_file = path / "data" / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split()[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 0)
                    continue  # still running
            shutil.rmtree(path, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = 0
        self.as_root = os.geteuid() == 0
        parent = _fast_tmp_dir()
        _remove_stale_dirs(parent)
        self.tmp = Path(tempfile.mkdtemp(prefix="smmbot-pg-", dir=parent))
        self.datadir = self.tmp / "data"
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.tmp, user.pw_uid, user.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.tmp)

    def start(self) -> None:
        initdb = ["initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        init = self._run(*initdb, "--locale=C", "--no-sync", timeout=120)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
        for _attempt in range(3):  # the free port can be taken between probing and binding
            self.port = _free_port()
            options = (
                f"-h 127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off -c synchronous_commit=off "
                "-c full_page_writes=off -c max_connections=300"
            )
            log = self.tmp / "server.log"
            pg_ctl = ["pg_ctl", "-D", str(self.datadir), "-l", str(log), "-o", options]
            proc = self._run(*pg_ctl, "-w", "-t", "60", "start", timeout=90)
            if proc.returncode == 0:
                self._create_database(PG_DATABASE)
                return
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else proc.stderr
        raise RuntimeError(f"pg_ctl start failed: {tail}")

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def acreate_database(self, name: str, template: str | None = None) -> str:
        """Create a database (a copy of `template` when given) and return its URL."""
        suffix = f' TEMPLATE "{template}"' if template else ""
        await self._admin(f'CREATE DATABASE "{name}"{suffix}')
        return self.url(name)

    async def adrop_database(self, name: str) -> None:
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _create_database(self, name: str) -> None:
        run_in_thread(self.acreate_database(name))

    def url(self, database: str = PG_DATABASE, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            if self.datadir.exists():
                self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop", timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def _skip(reason: str) -> None:
    global _skip_reason
    _skip_reason = reason
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


class PostgresUnavailable(Exception):
    """PostgreSQL cannot be had here; the message says why."""


def start_local_server() -> PostgresServer:
    """Find (or apt-get install) PostgreSQL and start a throwaway server; the caller stops it. Raises
    PostgresUnavailable with the reason. Used by the session fixture and by the benchmarks."""
    bindir = _find_bindir()
    if bindir is None:
        error = _try_install()
        bindir = _find_bindir()
        if bindir is None:
            raise PostgresUnavailable(error or "PostgreSQL binaries not found")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(
                "running as root and there is no `postgres` system user to run the server as"
            ) from None
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root and `runuser` is missing")
    server = PostgresServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        raise PostgresUnavailable(str(exc)) from None
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A running PostgreSQL server for the whole session (skips loudly if PostgreSQL cannot be had)."""
    try:
        server = start_local_server()
    except PostgresUnavailable as exc:
        _skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server_url(pg_server: PostgresServer) -> str:
    """`postgresql+asyncpg://postgres@127.0.0.1:PORT/smmbot_test` on the session server."""
    return pg_server.url()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _skip_reason:
        terminalreporter.write_sep("!", "PostgreSQL tests were SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"reason: {_skip_reason}", red=True)
        terminalreporter.write_line(
            "install PostgreSQL (apt-get install -y postgresql) to run them", red=True
        )
