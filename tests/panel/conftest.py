"""A canned panel over real HTTP on loopback: it answers whatever the test set, and records every request."""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from bot.panel import PanelClient, close_shared_session

KEY = "sk-test-9f8e7d6c5b4a39281706"


@dataclass
class Reply:
    """One canned answer. `body`: str/bytes sent as-is, anything else JSON-encoded."""

    body: Any = None
    status: int = 200
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    hang: bool = False  # never answer (until the server stops)
    reset: bool = False  # drop the connection without answering

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


class CannedPanel:
    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.requests: list[dict[str, str]] = []
        self.headers: list[dict[str, str]] = []
        self.queue: deque[Reply] = deque()
        self.default = Reply({"error": "no answer set"})
        self.handler: Callable[[dict[str, str]], Reply] | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v2"

    def reply(self, body: Any = None, **kw: Any) -> None:
        """Set the answer to every next request (until changed), once the queued ones are used."""
        self.default = body if isinstance(body, Reply) else Reply(body, **kw)

    def then(self, *replies: Reply | Any) -> None:
        """Queue one-shot answers, used before the default one."""
        self.queue.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def count(self, action: str | None = None) -> int:
        return sum(1 for r in self.requests if action is None or r.get("action") == action)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        self.headers.append(dict(request.headers))
        if self.handler is not None:
            reply = self.handler(form)
        else:
            reply = self.queue.popleft() if self.queue else self.default
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if reply.hang:
                await self._release.wait()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            if reply.reset:
                assert request.transport is not None
                request.transport.abort()
                await asyncio.sleep(0.05)
            return web.Response(
                body=reply.encoded(),
                status=reply.status,
                headers={"Content-Type": reply.content_type, **reply.headers},
            )
        finally:
            self.in_flight -= 1

    async def start(self) -> CannedPanel:
        app = web.Application()
        app.router.add_route("*", "/api/v2", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fast_client(url: str, **kw: Any) -> PanelClient:
    opts: dict[str, Any] = {
        "timeout": 3.0,
        "connect_timeout": 1.0,
        "backoff_base": 0.001,
        "backoff_max": 0.005,
    }
    return PanelClient(url, KEY, **{**opts, **kw})


@pytest.fixture(autouse=True)
async def _shared_session_closed():
    yield
    await close_shared_session()


@pytest.fixture
async def panel():
    server = await CannedPanel().start()
    yield server
    await server.stop()


@pytest.fixture
def client(panel: CannedPanel) -> PanelClient:
    return fast_client(panel.url)
