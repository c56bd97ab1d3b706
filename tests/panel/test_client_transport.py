"""HTTP codes, non-JSON bodies, timeouts, retries (reads only), unclear writes, the key kept secret."""

import asyncio
import logging
import time

import aiohttp
import pytest

from bot.panel import (
    PANEL_METRICS,
    BadRequest,
    IncorrectService,
    InvalidKey,
    NotEnoughFunds,
    NotFound,
    OrderNotFound,
    OutcomeUnknown,
    PanelClient,
    PanelError,
    PanelUnavailable,
    QuantityOutOfRange,
    RateLimited,
    get_shared_session,
)

from .conftest import KEY, CannedPanel, Reply, fast_client, free_port

HTML = "<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>Cloudflare</body></html>"


async def call_all(client: PanelClient) -> list[BaseException | object]:
    calls = [
        client.services(), client.add(1, link="l", quantity=10), client.status(1), client.statuses([1, 2]),
        client.refill(1), client.refills([1]), client.refill_status(1), client.refill_statuses([1, 2]),
        client.cancel([1, 2]), client.balance(),
    ]  # fmt: skip
    return list(await asyncio.gather(*calls, return_exceptions=True))


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (401, {"error": "Invalid API key"}, InvalidKey),
        (401, {"error": "Unauthenticated."}, InvalidKey),
        (401, {"message": "nope"}, InvalidKey),
        (402, {"error": "Payment required"}, NotEnoughFunds),
        (404, {"error": "Incorrect order ID"}, OrderNotFound),
        (404, {"error": "No such thing"}, NotFound),
        (422, {"error": "Quantity less than minimal 50"}, QuantityOutOfRange),
        (422, {"errors": ["The link field is required"]}, BadRequest),
        (200, {"error": "Service ID does not exists "}, IncorrectService),
        (200, {"status": "error", "message": "Invalid API key"}, InvalidKey),
        (500, {"error": "Not enough funds on balance"}, NotEnoughFunds),
    ],
)
async def test_json_errors_by_http_status(panel, client, status, body, cls):
    panel.reply(body, status=status)
    with pytest.raises(cls):
        await client.balance()
    with pytest.raises(cls):
        await client.add(1, link="l", quantity=1)  # a clear answer to a write: its class, not "unknown"


@pytest.mark.parametrize(
    "reply",
    [
        Reply(HTML, status=403, content_type="text/html"),
        Reply(HTML, content_type="text/html"),
        Reply("<html>Bad gateway</html>", status=502, content_type="text/html"),
        Reply({"status": "Pending"}, status=503),
        Reply('{"balance": "1.0", ', content_type="application/json"),
        Reply(b"\xff\xfe\x00garbage"),
        Reply("", status=200),
        Reply({"balance": "1"}, status=302, headers={"Location": "https://elsewhere/api/v2"}),
    ],
)
async def test_unusable_answers_are_unavailable_and_unclear_for_writes(panel, reply):
    panel.reply(reply)
    client = fast_client(panel.url, read_retries=1)
    with pytest.raises(PanelUnavailable) as info:
        await client.balance()
    assert not isinstance(info.value, OutcomeUnknown)
    assert panel.count("balance") == 2  # retried once
    with pytest.raises(OutcomeUnknown) as info:
        await client.add(1, link="l", quantity=1)
    assert panel.count("add") == 1  # never retried


async def test_html_snippet_kept_short_and_without_key(panel, client):
    panel.reply(f"<html>{'x' * 5000} echo {KEY} </html>", status=502, content_type="text/html")
    with pytest.raises(PanelUnavailable) as info:
        await client.services()
    err = info.value
    assert err.http_status == 502 and err.snippet.startswith("<html>") and len(err.snippet) <= 200
    assert KEY not in err.snippet


async def test_sloppy_json_after_php_notice_is_read(panel, client):
    panel.reply(
        '<br /><b>Notice</b>: Undefined index: x in api.php<br />\n{"order": 77}', content_type="text/html"
    )
    assert (await client.add(1, link="l", quantity=1)).order_id == 77
    panel.reply('\ufeff{"balance": "5.5", "currency": "EUR"}\n')
    assert str((await client.balance()).amount) == "5.5"


async def test_429_honours_retry_after_then_succeeds(panel, client):
    panel.then(Reply({"error": "Too many requests"}, status=429, headers={"Retry-After": "0.2"}))
    panel.reply({"balance": "1"})
    started = time.monotonic()
    assert (await client.balance()).currency is None
    assert time.monotonic() - started >= 0.2 and panel.count() == 2


async def test_429_with_long_retry_after_gives_up_now(panel, client):
    panel.reply("slow down", status=429, headers={"Retry-After": "3600"}, content_type="text/plain")
    with pytest.raises(RateLimited) as info:
        await client.status(1)
    assert info.value.retry_after == 3600 and panel.count() == 1


async def test_429_on_write_is_rate_limited_not_retried(panel, client):
    panel.reply({"error": "Too many requests"}, status=429, headers={"Retry-After": "1"})
    with pytest.raises(RateLimited):
        await client.add(1, link="l", quantity=1)
    assert panel.count() == 1


async def test_reads_retried_until_success(panel, client):
    panel.then(Reply(HTML, status=502), Reply("{oops"), Reply(HTML, status=503))
    panel.reply({"status": "Completed"})
    assert (await client.status(5)).is_final
    assert panel.count("status") == 4
    assert client.stats[("status", "PanelUnavailable")] == 3 and client.stats[("status", "ok")] == 1
    assert PANEL_METRICS[("status", "ok")] >= 1


async def test_reads_give_up_after_read_retries(panel):
    panel.reply(HTML, status=502)
    with pytest.raises(PanelUnavailable):
        await fast_client(panel.url, read_retries=2).services()
    assert panel.count() == 3


async def test_read_timeout_is_unavailable_and_retried(panel):
    panel.reply(Reply(hang=True))
    client = fast_client(panel.url, timeout=0.2, read_retries=1)
    with pytest.raises(PanelUnavailable, match="timeout") as info:
        await client.status(1)
    assert not isinstance(info.value, OutcomeUnknown) and panel.count() == 2


async def test_add_that_hangs_is_unclear_and_sent_once(panel):
    panel.reply(Reply(hang=True))
    client = fast_client(panel.url, timeout=0.3, read_retries=5)
    with pytest.raises(OutcomeUnknown):
        await client.add(1, link="https://x", quantity=100)
    await asyncio.sleep(0.1)
    assert panel.count("add") == 1  # not retried after a timeout: a second order would be a double charge


@pytest.mark.parametrize("action", ["add", "refill", "cancel"])
async def test_writes_with_connection_reset_are_unclear(panel, client, action):
    panel.reply(Reply(reset=True))
    call = {"add": lambda: client.add(1, link="l", quantity=1), "refill": lambda: client.refill(1)}
    if action == "cancel":
        res = await client.cancel([1, 2])
        assert isinstance(res[1], OutcomeUnknown) and res[1] is res[2]
    else:
        with pytest.raises(OutcomeUnknown):
            await call[action]()
    assert panel.count(action) == 1


async def test_connection_refused_before_send_may_retry_add():
    port = free_port()
    client = fast_client(f"http://127.0.0.1:{port}/api/v2", read_retries=2)
    with pytest.raises(PanelUnavailable) as info:
        await client.add(1, link="l", quantity=1)
    assert not isinstance(info.value, OutcomeUnknown) and info.value.request_sent is False
    assert client.stats[("add", "PanelUnavailable")] == 3

    # The panel comes up while the client backs off: the add goes through, exactly once.
    client = fast_client(f"http://127.0.0.1:{port}/api/v2", read_retries=3, backoff_base=0.6, backoff_max=2)
    server = CannedPanel(port)
    server.reply({"order": 42})

    async def start_late():
        await asyncio.sleep(0.05)
        await server.start()

    starter = asyncio.create_task(start_late())
    try:
        assert (await client.add(1, link="l", quantity=1)).order_id == 42
        assert server.count("add") == 1
    finally:
        await starter
        await server.stop()


async def test_key_never_leaks(panel, caplog):
    caplog.set_level(logging.DEBUG)
    client = fast_client(panel.url, read_retries=0, timeout=0.2)
    assert KEY not in repr(client) and KEY not in str(client) and panel.url in repr(client)
    bodies = [
        {"error": f"Invalid API key {KEY}"},
        f"<html>{KEY}</html>",
        Reply({"error": KEY}, status=500),
        Reply(f"too fast {KEY}", status=429),
        Reply(hang=True),
    ]
    for body in bodies:
        panel.reply(body)
        for result in await call_all(client):
            texts = [repr(result), str(result)]
            if isinstance(result, PanelError):
                texts += [str(result.panel_message), str(getattr(result, "snippet", ""))]
                texts += [repr(result.__cause__), repr(result.__context__)]
            if isinstance(result, dict):
                texts += [repr(v) + str(getattr(v, "panel_message", "")) for v in result.values()]
            assert not any(KEY in t for t in texts), texts
    refused = fast_client(f"http://127.0.0.1:{free_port()}/api/v2", read_retries=0)
    assert not any(KEY in repr(r) for r in await call_all(refused))
    assert KEY not in caplog.text and "panel 127.0.0.1" in caplog.text


async def test_shared_session_and_ownership(panel):
    panel.reply({"balance": "1"})
    a, b = fast_client(panel.url), fast_client(panel.url)
    await a.balance()
    await b.balance()
    shared = get_shared_session()
    assert not shared.closed and get_shared_session() is shared
    async with a:
        pass
    assert not shared.closed  # never closed by a client
    own = aiohttp.ClientSession()
    async with fast_client(panel.url, session=own, owns_session=True) as c:
        await c.balance()
    assert own.closed
    lent = aiohttp.ClientSession()
    async with fast_client(panel.url, session=lent) as c:
        await c.balance()
    assert not lent.closed
    await lent.close()


def test_bad_url_rejected():
    with pytest.raises(ValueError):
        PanelClient("ftp://panel/api/v2", KEY)
    with pytest.raises(ValueError):
        PanelClient("not a url", KEY)
