"""An emulator of the Telegram Bot API, for tests, benchmarks and the terminal chat.

It serves ``/bot<token>/<method>`` (and ``/file/bot<token>/<path>``) on loopback like api.telegram.org,
so that a real python-telegram-bot ``Application`` runs against it::

    emu = BotApiEmulator()
    url = await emu.start()
    app = (
        ApplicationBuilder().token(emu.token).base_url(f"{url}/bot").base_file_url(f"{url}/file/bot").build()
    )

Tests then play the users (``send_text``, ``press_button`` ...) and look at what the bot did (``requests``,
``messages``, ``wait_for_bot_message`` ...). Methods, errors and objects follow Telegram's shapes and wording.
Everything runs on one event loop: call the user-side methods from that loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import BodyPartReader, ClientSession, ClientTimeout, web

from bot.sandbox.botapi_state import ApiError, Upload, bad
from bot.sandbox.botapi_updates import BotApiUpdates

__all__ = ["ApiError", "BotApiEmulator", "Upload"]

log = logging.getLogger(__name__)

# Parameters that stay strings even when they look like numbers or JSON (form fields carry no types).
STRING_FIELDS = {
    "text",
    "caption",
    "parse_mode",
    "url",
    "secret_token",
    "callback_query_id",
    "inline_query_id",
    "inline_message_id",
    "language_code",
    "action",
    "description",
    "short_description",
    "name",
    "next_offset",
    "query",
    "file_id",
    "title",
    "ip_address",
    "business_connection_id",
    "message_effect_id",
    "custom_title",
    "emoji",
}
MESSAGE_METHODS = {
    "sendMessage",
    "sendDocument",
    "editMessageText",
    "editMessageCaption",
    "editMessageReplyMarkup",
}
_JSONISH = re.compile(r"\s*(?:[\[{]|-?\d+(?:\.\d+)?\s*$|true\s*$|false\s*$|null\s*$)")


def _convert(name: str, value: str) -> Any:
    if name in STRING_FIELDS or not _JSONISH.match(value):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


class BotApiEmulator(BotApiUpdates):
    def __init__(
        self,
        token: str = "123456:TEST-TOKEN",  # noqa: S107
        *,
        bot_username: str = "smm_test_bot",
        bot_name: str = "SMM Test Bot",
        enforce_limits: bool = False,
        time_scale: float = 1.0,
    ):
        super().__init__(
            token,
            bot_username=bot_username,
            bot_name=bot_name,
            enforce_limits=enforce_limits,
            time_scale=time_scale,
        )
        self.url = ""
        self.handler_errors: list[str] = []  # emulator bugs (answered 500), shown by wait_for
        self.webhook_deliveries: list[dict] = []
        self._methods = {name[4:].lower(): name[4:] for name in dir(self) if name.startswith("api_")}
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._webhook_task: asyncio.Task | None = None

    # --- life cycle ---
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); return the root URL, e.g. ``http://127.0.0.1:40123``."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}"
        self._closing = False
        self._session = ClientSession()
        self._webhook_task = asyncio.create_task(self._webhook_loop(), name="botapi-webhook")
        return self.url

    async def stop(self) -> None:
        self._closing = True
        self.notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = self._session = self._webhook_task = None

    async def __aenter__(self) -> BotApiEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- HTTP ---
    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        try:
            params = await self._read_params(request)
        except ApiError as exc:
            return web.json_response(exc.payload(), status=exc.code)
        status, payload = await self.call(request.match_info["method"], params)
        return web.json_response(payload, status=status)

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        for file in self.files.values():
            if file["file_path"] == request.match_info["path"]:
                return web.Response(body=file["content"], content_type=file["mime_type"])
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    @staticmethod
    async def _read_params(request: web.Request) -> dict:
        params: dict[str, Any] = {k: _convert(k, v) for k, v in request.query.items()}
        if not request.can_read_body:
            return params
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad("JSON object expected")
            params.update(body)
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    content = await part.read()
                    params[part.name] = Upload(
                        part.filename, bytes(content), part.headers.get("Content-Type")
                    )
                else:
                    params[part.name] = _convert(part.name, await part.text())
            for key, value in list(params.items()):
                if isinstance(value, str) and value.startswith("attach://"):
                    params[key] = params.get(value[len("attach://") :], value)
        else:
            form = await request.post()
            for key, value in form.items():
                params[key] = _convert(key, value) if isinstance(value, str) else value
        return params

    async def call(self, method: str, params: dict) -> tuple[int, dict]:
        """Run one Bot API method as if it came over HTTP; return (HTTP status, JSON answer). Recorded."""
        name = self._methods.get(method.lower())
        if name is None:
            self.requests.append((method, dict(params)))
            answer = {"ok": False, "error_code": 404, "description": "Not Found"}
            self.responses.append(answer)
            return 404, answer
        index = None
        if name == "getUpdates":
            self.polls.append(dict(params))
        else:
            index = len(self.requests)
            self.requests.append((name, dict(params)))
            self.responses.append(None)
        self.stats["requests"] += 1
        try:
            self._inject_fault(name, params)
            result = getattr(self, "api_" + name)(params)
            if inspect.isawaitable(result):
                result = await result
            status, payload = 200, {"ok": True, "result": result}
        except ApiError as exc:
            status, payload = exc.code, exc.payload()
        except Exception as exc:
            log.exception("Bot API emulator failed on %s %r", name, params)
            self.handler_errors.append(f"{name}: {exc!r}")
            status, payload = 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        if index is not None:
            self.responses[index] = copy.deepcopy(payload)
        return status, payload

    # --- updates: polling and webhook ---
    async def api_getUpdates(self, p: dict) -> list[dict]:
        if self.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete "
                "the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        timeout = float(p.get("timeout") or 0)
        if p.get("allowed_updates") is not None:
            self.allowed_updates = list(p["allowed_updates"]) or None
        self.confirm_updates(int(p.get("offset") or 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = self.wake_event()
            batch = self.deliverable(limit, self.allowed_updates)
            remaining = deadline - loop.time()
            if batch or remaining <= 0 or self._closing:
                self.delivered_updates.extend(batch)
                return batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance "
                    "is running",
                )
            if self.webhook["url"]:
                return []

    def api_setWebhook(self, p: dict) -> bool:
        url = str(p.get("url") or "")
        if not url:
            return self.api_deleteWebhook(p)
        if not url.startswith(("http://", "https://")):
            raise bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad("secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self.pending_updates.clear()
        if p.get("allowed_updates") is not None:
            self.allowed_updates = list(p["allowed_updates"]) or None
        self.webhook = {"url": url, "secret_token": None if secret is None else str(secret)}
        self.webhook["max_connections"] = int(p.get("max_connections") or 40)
        self.notify()
        return True

    def api_deleteWebhook(self, p: dict) -> bool:
        if p.get("drop_pending_updates"):
            self.pending_updates.clear()
        self.webhook = {"url": ""}
        self.notify()
        return True

    def api_getWebhookInfo(self, p: dict) -> dict:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook["max_connections"]
            for key in ("last_error_date", "last_error_message"):
                if key in self.webhook:
                    info[key] = self.webhook[key]
            if self.allowed_updates:
                info["allowed_updates"] = list(self.allowed_updates)
        return info

    async def _webhook_loop(self) -> None:
        """Deliver pending updates to the webhook one at a time, in order, retrying failures like Telegram."""
        assert self._session is not None
        while not self._closing:
            event = self.wake_event()
            url = self.webhook["url"]
            batch = self.deliverable(1, self.allowed_updates) if url else []
            if not batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 1.0)
                continue
            update = batch[0]
            headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook["secret_token"]}
            headers = {k: v for k, v in headers.items() if v is not None}
            try:
                async with self._session.post(
                    url, json=update, headers=headers, timeout=ClientTimeout(10)
                ) as resp:
                    body = await resp.read()
                    ok = 200 <= resp.status < 300
                    error = f"Wrong response from the webhook: {resp.status} {resp.reason}"
            except Exception as exc:
                ok, body, error = False, b"", f"Connection failed: {exc!r}"
            if ok and self.webhook["url"] == url:
                self.pending_updates = [
                    u for u in self.pending_updates if u["update_id"] != update["update_id"]
                ]
                self.delivered_updates.append(update)
                self.webhook_deliveries.append(update)
                await self._webhook_reply(body)
            elif not ok:
                self.webhook.update(last_error_date=int(time.time()), last_error_message=error)
                self.stats["webhook_errors"] += 1
                await asyncio.sleep(0.2)

    async def _webhook_reply(self, body: bytes) -> None:
        """Telegram runs a method given in the webhook's answer ({"method": ..., params})."""
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            reply = json.loads(body) if body.strip() else None
            if isinstance(reply, dict) and isinstance(reply.get("method"), str):
                await self.call(reply.pop("method"), reply)

    # --- observation ---
    def mark(self) -> int:
        """The current request index, to pass as ``after=`` to the wait_* helpers."""
        return len(self.requests)

    def calls(self, method: str) -> list[dict]:
        """Parameters of every call of ``method`` so far (getUpdates calls are kept apart, in ``polls``)."""
        if method.lower() == "getupdates":
            return list(self.polls)
        return [params for name, params in self.requests if name.lower() == method.lower()]

    def bot_messages(self, chat_id: int) -> list[dict]:
        """The bot's messages in that chat that still exist, in order, as they are now."""
        chat = self.messages.get(chat_id, {})
        return [
            copy.deepcopy(m) for _, m in sorted(chat.items()) if m.get("from", {}).get("id") == self.bot_id
        ]

    def last_bot_message(self, chat_id: int) -> dict:
        messages = self.bot_messages(chat_id)
        if not messages:
            raise AssertionError(f"the bot has no message in chat {chat_id}\n{self.summary()}")
        return messages[-1]

    def summary(self, last: int = 15) -> str:
        lines = [f"{len(self.requests)} requests, {len(self.pending_updates)} pending updates; last {last}:"]
        for i in range(max(0, len(self.requests) - last), len(self.requests)):
            method, params = self.requests[i]
            response = self.responses[i]
            text = str(params.get("text", params.get("caption", "")))[:70].replace("\n", " | ")
            outcome = "..." if response is None else "ok" if response["ok"] else f"{response['description']}"
            lines.append(f"  #{i} {method} chat={params.get('chat_id')} {text!r} -> {outcome}")
        lines += [f"  EMULATOR ERROR {e}" for e in self.handler_errors]
        return "\n".join(lines)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,
        *,
        what: str = "condition",
    ) -> None:
        """Poll ``predicate`` until true; after ``timeout`` raise AssertionError with the recent requests."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            if loop.time() >= deadline:
                raise AssertionError(f"{what} not met within {timeout}s\n{self.summary()}")
            await asyncio.sleep(0.01)

    async def wait_for_call(self, method: str, *, after: int = 0, timeout: float = 5.0) -> dict:
        """Wait until the bot calls ``method`` (at request index >= ``after``); return its parameters."""
        found: list[dict] = []

        def called() -> bool:
            found[:] = [p for name, p in self.requests[after:] if name.lower() == method.lower()]
            return bool(found)

        await self.wait_for(called, timeout, what=f"a {method} call after request #{after}")
        return found[0]

    async def wait_for_bot_message(self, chat_id: int, *, after: int = 0, timeout: float = 5.0) -> dict:
        """Wait for a message the bot sends or edits in that chat at request index >= ``after``.

        Returns that message as it is now (edits applied), or as it was answered if it was deleted since.
        """
        found: list[dict] = []

        def sent() -> bool:
            for i in range(after, len(self.requests)):
                response = self.responses[i]
                if self.requests[i][0] in MESSAGE_METHODS and response and response["ok"]:
                    result = response["result"]
                    if isinstance(result, dict) and result["chat"]["id"] == chat_id:
                        found.append(result)
                        return True
            return False

        await self.wait_for(sent, timeout, what=f"a bot message in chat {chat_id} after request #{after}")
        current = self.find_message(chat_id, found[0]["message_id"])
        return copy.deepcopy(current) if current is not None else found[0]
