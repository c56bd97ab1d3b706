"""Async client of the SMM panel API v2 (form POST of key/action/params, JSON answers).

Reads are retried with backoff on PanelUnavailable/RateLimited. Writes (add, refill, cancel) are retried only
when nothing was sent; once the request may have reached the panel, a lost answer is OutcomeUnknown.
The key is only ever put in the POST body: never in a log line, an exception or a repr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote, quote_plus

import aiohttp
from yarl import URL

from .addresses import NonPublicAddress, PublicAddressResolver, display_url, is_public_ip
from .errors import (
    AddressNotAllowed,
    AnswerTooLarge,
    OutcomeUnknown,
    PanelError,
    PanelUnavailable,
    ProtocolError,
    RateLimited,
    classify_error,
    refine_by_http_status,
)
from .models import (
    AddResult,
    Balance,
    OrderStatus,
    RefillStatus,
    Service,
    parse_decimal,
    parse_int,
    parse_str,
)
from .wire import (
    NO_JSON,
    cancel_item,
    collect_multi,
    decode_json,
    error_text,
    field_value,
    refill_item,
    refill_status_item,
    retry_after,
    status_item,
)

__all__ = [
    "MAX_IDS_PER_REQUEST",
    "PANEL_METRICS",
    "USER_AGENT",
    "PanelClient",
    "chunk_ids",
    "close_shared_session",
    "get_shared_session",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
_HEADERS = {"User-Agent": USER_AGENT, "Accept": "application/json, text/plain;q=0.9, */*;q=0.8"}
MAX_IDS_PER_REQUEST = 100
# The longest answers read: a catalog of ~20,000 services with long descriptions fits in 8 MB; the other
# actions answer a few KB (a multi-status of 100 ids). Longer is a broken or hostile panel.
SERVICES_MAX_BYTES = 8 * 1024 * 1024
ANSWER_MAX_BYTES = 1024 * 1024
_SNIPPET = 200

PANEL_METRICS: Counter[tuple[str, str]] = Counter()
"""Process-wide count of HTTP attempts by (action, outcome); outcome is "ok" or the error class name."""

# The process's two sessions: [0] reaches any address, [1] public addresses only (PublicAddressResolver).
_shared: list[aiohttp.ClientSession | None] = [None, None]
_shared_loop: asyncio.AbstractEventLoop | None = None


def get_shared_session(*, public_only: bool = False) -> aiohttp.ClientSession:
    """The process's ClientSession, created lazily on the running loop (recreated if that loop changed).
    `public_only`: the session whose connector resolves names to public addresses only."""
    global _shared_loop
    loop = asyncio.get_running_loop()
    if _shared_loop is not loop:
        _shared[:] = [None, None]
        _shared_loop = loop
    session = _shared[public_only]
    if session is None or session.closed:
        resolver = PublicAddressResolver() if public_only else None
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=100, limit_per_host=20, ttl_dns_cache=300, resolver=resolver
            ),
            cookie_jar=aiohttp.DummyCookieJar(),  # no state shared between accounts
        )
        _shared[public_only] = session
    return session


async def close_shared_session() -> None:
    global _shared_loop
    sessions, _shared[:], _shared_loop = list(_shared), [None, None], None
    for session in sessions:
        if session is not None and not session.closed:
            await session.close()


def chunk_ids(ids: Iterable[int], size: int = MAX_IDS_PER_REQUEST) -> list[list[int]]:
    """Distinct ids (first occurrence order) in chunks of at most `size`: one request per chunk."""
    unique = list(dict.fromkeys(int(i) for i in ids))
    return [unique[i : i + size] for i in range(0, len(unique), size)]


class PanelClient:
    """One panel account (URL + key). Uses the shared session unless `session` is given."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 20.0,
        connect_timeout: float = 5.0,
        read_retries: int = 3,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        concurrency: int = 4,
        write_timeout: float | None = None,
        max_retry_after: float = 30.0,
        owns_session: bool = False,
        public_only: bool = False,
        services_max_bytes: int = SERVICES_MAX_BYTES,
        answer_max_bytes: int = ANSWER_MAX_BYTES,
    ) -> None:
        """`public_only`: connect to public internet addresses only (AddressNotAllowed otherwise): for
        panels that chats chose, not the operator. `*_max_bytes`: the longest answers (AnswerTooLarge)."""
        parsed = URL(url.strip())
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError("panel URL must be an http(s) URL")
        self.url = str(parsed)
        self._key = key
        self._session = session
        self._owns_session = owns_session and session is not None
        self.public_only = public_only
        self.services_max_bytes = services_max_bytes
        self.answer_max_bytes = answer_max_bytes
        self._read_timeout = aiohttp.ClientTimeout(total=timeout, connect=connect_timeout)
        self._write_timeout = aiohttp.ClientTimeout(total=write_timeout or timeout, connect=connect_timeout)
        self.read_retries = max(0, read_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._semaphore = asyncio.Semaphore(max(1, concurrency))
        self.stats: Counter[tuple[str, str]] = Counter()
        # the last attempt that got no usable answer (unreachable, rate limited, malformed): for /stats
        self.last_failure: str | None = None
        self.last_failure_at: float | None = None  # time.time()

    def __repr__(self) -> str:
        return f"PanelClient(url={display_url(self.url)!r})"

    __str__ = __repr__

    async def __aenter__(self) -> PanelClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the session only if this client owns it (never the shared one)."""
        if self._owns_session and self._session is not None and not self._session.closed:
            await self._session.close()

    @staticmethod
    def chunks_for(ids: Iterable[int]) -> list[list[int]]:
        """The chunks a multi call sends: len() of it is the number of requests."""
        return chunk_ids(ids)

    # ------------------------------------------------------------------------------------------ actions

    async def services(self) -> list[Service]:
        payload = await self._read("services", {})
        if isinstance(payload, dict):  # {"services": [...]} or {id: item}
            inner = payload.get("services", payload.get("data"))
            if isinstance(inner, list):
                payload = inner
            elif payload and all(isinstance(v, dict) for v in payload.values()):
                payload = [{"service": k, **v} for k, v in payload.items()]
        if not isinstance(payload, list):
            raise ProtocolError("services: expected a list")
        return [s for s in map(Service.from_json, payload) if s is not None]

    async def add(
        self,
        service_id: int,
        *,
        link: str | None = None,
        quantity: int | None = None,
        runs: int | None = None,
        interval: int | None = None,
        comments: str | list[str] | None = None,
        usernames: str | list[str] | None = None,
        hashtags: str | list[str] | None = None,
        hashtag: str | None = None,
        username: str | None = None,
        media: str | None = None,
        answer_number: int | str | None = None,
        groups: str | list[str] | None = None,
        keywords: str | list[str] | None = None,
        min: int | None = None,
        max: int | None = None,
        delay: int | None = None,
        posts: int | None = None,
        old_posts: int | None = None,
        expiry: str | dt.date | None = None,
        country: str | None = None,
        device: str | None = None,
        type_of_traffic: str | int | None = None,
        google_keyword: str | None = None,
        referring_url: str | None = None,
    ) -> AddResult:
        """Place an order. Send the fields its type needs (models.fields_for_type); None is not sent.

        Raises the panel's refusal as its class, or OutcomeUnknown when it may have been placed.
        """
        fields = dict(locals())
        del fields["self"], fields["service_id"]
        params = {"service": str(int(service_id))}
        params.update({k: field_value(v) for k, v in fields.items() if v is not None})
        payload = await self._write("add", params)
        order_id = parse_int(payload.get("order")) if isinstance(payload, dict) else None
        if order_id is None:  # a 200 without an order id: it may or may not have been placed
            raise OutcomeUnknown("add: the answer has no order id", snippet=self._snippet(payload))
        return AddResult(order_id, parse_decimal(payload.get("charge")), parse_str(payload.get("currency")))

    async def status(self, order_id: int) -> OrderStatus:
        """Right after `add`, panels may answer OrderNotFound for a while: not a reason to stop tracking."""
        oid = str(int(order_id))
        payload = await self._read("status", {"order": oid})
        if isinstance(payload, dict) and "status" not in payload and isinstance(payload.get(oid), dict):
            payload = payload[oid]  # the multi shape for one id
        return self._ok(status_item(payload))

    async def statuses(self, order_ids: Iterable[int]) -> dict[int, OrderStatus | PanelError]:
        """Multi-status in chunks of 100, `concurrency` at a time. Never raises PanelError: each id gets
        its status or its error (a chunk that failed as a whole gives its error to each of its ids)."""
        return await self._multi("status", "orders", "order", order_ids, status_item, write=False)

    async def refill(self, order_id: int) -> int:
        payload = await self._write("refill", {"order": str(int(order_id))})
        if isinstance(payload, list) and len(payload) == 1:
            payload = payload[0]
        return self._ok(self._unknown_if_odd(refill_item(payload)))

    async def refills(self, order_ids: Iterable[int]) -> dict[int, int | PanelError]:
        return await self._multi("refill", "orders", "order", order_ids, refill_item, write=True)

    async def refill_status(self, refill_id: int) -> RefillStatus:
        payload = await self._read("refill_status", {"refill": str(int(refill_id))})
        return self._ok(refill_status_item(payload))

    async def refill_statuses(self, refill_ids: Iterable[int]) -> dict[int, RefillStatus | PanelError]:
        item = refill_status_item
        return await self._multi("refill_status", "refills", "refill", refill_ids, item, write=False)

    async def cancel(self, order_ids: Iterable[int]) -> dict[int, bool | PanelError]:
        """True when the panel accepted the cancel request; OutcomeUnknown for ids whose answer was lost."""
        return await self._multi("cancel", "orders", "order", order_ids, cancel_item, write=True)

    async def balance(self) -> Balance:
        payload = await self._read("balance", {})
        amount = parse_decimal(payload.get("balance")) if isinstance(payload, dict) else None
        if amount is None:
            raise ProtocolError("balance: no readable amount")
        return Balance(amount, parse_str(payload.get("currency")))

    @staticmethod
    def _ok(result: T | PanelError) -> T:
        if isinstance(result, PanelError):
            raise result
        return result

    @staticmethod
    def _unknown_if_odd(result: T | PanelError) -> T | PanelError:
        # A write answered 200 in a shape we cannot read: whether it happened is unknown.
        if isinstance(result, ProtocolError):
            return OutcomeUnknown(f"{result.message}; the request may have been executed")
        return result

    async def _multi(
        self,
        action: str,
        param: str,
        id_key: str,
        ids: Iterable[int],
        parse_item: Callable[[Any], T | PanelError],
        *,
        write: bool,
    ) -> dict[int, T | PanelError]:
        async def one(chunk: list[int]) -> dict[int, T | PanelError]:
            params = {param: ",".join(map(str, chunk))}
            try:
                payload = await (self._write if write else self._read)(action, params)
            except PanelError as exc:  # the whole chunk failed: the same error for each of its ids
                return dict.fromkeys(chunk, exc)
            found = collect_multi(payload, chunk, id_key, parse_item)
            out: dict[int, T | PanelError] = {}
            for i in chunk:
                result = found.get(i, ProtocolError(f"{action}: no answer for id {i}"))
                out[i] = self._unknown_if_odd(result) if write else result
            return out

        results: dict[int, T | PanelError] = {}
        for part in await asyncio.gather(*(one(c) for c in chunk_ids(ids))):
            results.update(part)
        return results

    # ------------------------------------------------------------------------------------------ transport

    def _scrub(self, text: str) -> str:
        if self._key and len(self._key) >= 3:
            for form in {self._key, quote_plus(self._key), quote(self._key, safe="")}:
                text = text.replace(form, "***")
        return text

    def _snippet(self, body: Any) -> str:
        text = body if isinstance(body, str) else repr(body)
        return self._scrub(" ".join(text[: _SNIPPET * 2].split())[:_SNIPPET])

    def _count(self, action: str, outcome: str) -> None:
        PANEL_METRICS[(action, outcome)] += 1
        self.stats[(action, outcome)] += 1

    def _delay(self, attempt: int, exc: PanelError) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now."""
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            if exc.retry_after > self.max_retry_after:
                return None
            return exc.retry_after + random.uniform(0, 0.1 * self.backoff_base)
        cap = min(self.backoff_max, self.backoff_base * 2**attempt)
        return cap / 2 + random.uniform(0, cap / 2)  # equal jitter: never zero, never over the cap

    async def _read(self, action: str, params: dict[str, str]) -> Any:
        attempt = 0
        while True:
            try:
                return await self._attempt(action, params, write=False)
            except (PanelUnavailable, RateLimited) as exc:
                delay = self._delay(attempt, exc) if attempt < self.read_retries else None
                if delay is None:
                    raise
                attempt += 1
                log.info("panel %s %s: %s; retry %d in %.2fs", self._host, action, exc, attempt, delay)
                await asyncio.sleep(delay)

    async def _write(self, action: str, params: dict[str, str]) -> Any:
        attempt = 0
        while True:
            try:
                return await self._attempt(action, params, write=True)
            except PanelUnavailable as exc:
                # Only a connection that failed before sending anything is safe to try again.
                if exc.request_sent or attempt >= self.read_retries:
                    raise
                delay = self._delay(attempt, exc)
                attempt += 1
                log.info(
                    "panel %s %s not sent: %s; retry %d in %.2fs", self._host, action, exc, attempt, delay
                )
                await asyncio.sleep(delay or 0)

    @property
    def _host(self) -> str:
        return URL(self.url).host or "?"

    async def _attempt(self, action: str, params: dict[str, str], *, write: bool) -> Any:
        started = time.monotonic()
        outcome = "interrupted"
        try:
            payload = await self._round_trip(action, params, write)
            outcome = "ok"
            return payload
        except PanelError as exc:
            outcome = type(exc).__name__
            if isinstance(exc, PanelUnavailable | RateLimited | ProtocolError):
                self.last_failure, self.last_failure_at = f"{action}: {exc}", time.time()
            raise
        finally:
            self._count(action, outcome)
            log.debug("panel %s %s -> %s in %.3fs", self._host, action, outcome, time.monotonic() - started)

    async def _round_trip(self, action: str, params: dict[str, str], write: bool) -> Any:
        lost = OutcomeUnknown if write else PanelUnavailable  # what a failure after sending means
        if self.public_only and self._ip_literal_refused():
            raise AddressNotAllowed(f"{self._host} is not a public internet address")
        session = self._session or get_shared_session(public_only=self.public_only)
        limit = self.services_max_bytes if action == "services" else self.answer_max_bytes
        data = {"key": self._key, "action": action, **params}
        try:
            async with (
                self._semaphore,
                session.post(
                    self.url,
                    data=data,
                    headers=_HEADERS,
                    timeout=self._write_timeout if write else self._read_timeout,
                    allow_redirects=False,  # a redirected POST would be replayed as a GET without the form
                ) as resp,
            ):
                http_status, headers = resp.status, resp.headers
                body = bytearray()
                if (resp.content_length or 0) <= limit:  # a declared length over the limit: not read at all
                    async for chunk in resp.content.iter_chunked(65536):
                        body += chunk
                        if len(body) > limit:
                            break
                if len(body) > limit or (resp.content_length or 0) > limit:
                    too_large = f"{action}: the answer is larger than {limit // 1024} KB"
                    if write:  # the panel acted (or not): its answer cannot tell
                        raise OutcomeUnknown(too_large, http_status=http_status)
                    raise AnswerTooLarge(too_large)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, NonPublicAddress):
                raise AddressNotAllowed(f"{self._host} resolves to no public internet address") from None
            raise PanelUnavailable(f"cannot connect: {self._describe(exc)}", request_sent=False) from None
        except aiohttp.ConnectionTimeoutError as exc:
            raise PanelUnavailable(f"cannot connect: {self._describe(exc)}", request_sent=False) from None
        except TimeoutError as exc:
            raise lost(f"timeout: {self._describe(exc)}") from None
        except aiohttp.ClientError as exc:
            raise lost(f"connection error: {self._describe(exc)}") from None

        # Scrubbed before anything reads it: a panel may echo the key in an error text.
        text = self._scrub(body.decode("utf-8-sig", errors="replace"))
        payload = decode_json(text.strip())
        snippet = self._snippet(text)
        err_text = error_text(payload) if payload is not NO_JSON else None
        err = classify_error(err_text) if err_text is not None else None

        if http_status == 429 or isinstance(err, RateLimited):
            after = retry_after(headers.get("Retry-After"))
            msg = f"rate limited (HTTP {http_status})" + (f", retry after {after:.0f}s" if after else "")
            raise RateLimited(msg, panel_message=err.panel_message if err else None, retry_after=after)
        if err is not None and (http_status < 500 or type(err) is not PanelError):
            # A clear refusal, even on 5xx when the text names the reason.
            raise refine_by_http_status(err, http_status) if 400 <= http_status < 500 else err
        if http_status >= 500:
            raise lost(f"HTTP {http_status}", snippet=snippet, http_status=http_status)
        if payload is NO_JSON:
            kind = headers.get("Content-Type", "?").split(";")[0]
            raise lost(f"not JSON (HTTP {http_status}, {kind})", snippet=snippet, http_status=http_status)
        if not 200 <= http_status < 300:
            if http_status in (401, 402):
                raise refine_by_http_status(PanelError(f"HTTP {http_status}"), http_status)
            raise lost(f"HTTP {http_status}", snippet=snippet, http_status=http_status)
        return payload

    def _ip_literal_refused(self) -> bool:
        # aiohttp connects to an IP literal without asking the resolver: check it here.
        host = self._host
        return (host.replace(".", "").isdigit() or ":" in host) and not is_public_ip(host)

    def _describe(self, exc: BaseException) -> str:
        # Our own text: the type, and the exception's message scrubbed and cut.
        detail = " ".join(str(exc).split())[:160]
        return self._scrub(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
