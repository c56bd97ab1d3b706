"""The panel simulator, driven over real HTTP on loopback (form POST), in both dialects."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from bot.sandbox.panel import SERVICE_TYPES, TYPE_FIELDS, Faults, PanelSimulator, SimClock, run_standalone

KEY = PanelSimulator.DEFAULT_KEY
DIALECTS = ["jap", "smart"]


class Panel:
    """A running simulator plus a tiny form-POST client."""

    def __init__(self, sim: PanelSimulator, http: aiohttp.ClientSession) -> None:
        self.sim, self.http = sim, http

    async def raw(self, action: str, key: str | None = KEY, timeout: float = 5, **params: Any):
        data = {"action": action, **{k: str(v) for k, v in params.items()}}
        if key is not None:
            data["key"] = key
        async with self.http.post(self.sim.url, data=data, timeout=aiohttp.ClientTimeout(total=timeout)) as r:
            return r.status, r.headers, await r.text()

    async def call(self, action: str, key: str | None = KEY, **params: Any) -> Any:
        status, _, text = await self.raw(action, key, **params)
        assert status == 200, text
        return json.loads(text)

    async def add(
        self, service: int = 1, link: str = "https://instagram.com/someone", quantity: Any = 100, **kw
    ):
        return await self.call("add", service=service, link=link, quantity=quantity, **kw)

    async def add_ok(self, *args: Any, **kw: Any) -> int:
        answer = await self.add(*args, **kw)
        assert "order" in answer, answer
        return int(answer["order"])


async def start_panel(**kw: Any):
    kw.setdefault("services", 60)
    kw.setdefault("clock", SimClock(frozen=True))
    sim = PanelSimulator(**kw)
    await sim.start()
    return sim


@pytest.fixture(params=DIALECTS)
async def panel(request):
    sim = await start_panel(dialect=request.param)
    async with aiohttp.ClientSession() as http:
        yield Panel(sim, http)
    await sim.stop()


@pytest.fixture
async def jap():
    sim = await start_panel(dialect="jap")
    async with aiohttp.ClientSession() as http:
        yield Panel(sim, http)
    await sim.stop()


def smart(p: Panel) -> bool:
    return p.sim.dialect == "smart"


def status_word(p: Panel, word: str) -> str:
    return word.lower() if smart(p) else word


def err(p: Panel, jap_text: str, smart_text: str | None = None) -> dict[str, str]:
    return {"error": smart_text if smart(p) and smart_text else jap_text}


# ---- catalog ------------------------------------------------------------------------------------------


async def test_services_shape(panel: Panel) -> None:
    services = await panel.call("services")
    assert len(services) == 60
    for s in services:
        assert {"service", "name", "type", "category", "rate", "min", "max"} <= s.keys()
        assert isinstance(s["rate"], str) and Decimal(s["rate"]) > 0
        if smart(panel):
            assert isinstance(s["service"], str) and isinstance(s["min"], int) and isinstance(s["max"], int)
            assert s.get("refill", "0") in ("0", "1") and s.get("cancel", "0") in ("0", "1")
        else:
            assert isinstance(s["service"], int) and isinstance(s["min"], str) and isinstance(s["max"], str)
            assert isinstance(s["refill"], bool) and isinstance(s["cancel"], bool)
            assert isinstance(s["dripfeed"], bool)
        assert int(s["min"]) <= int(s["max"])
    first = services[0]
    assert first["rate"] == "0.90" and int(first["min"]) == 50 and int(first["max"]) == 10000
    if smart(panel):
        assert any("refill" not in s for s in services)  # some flags are simply missing
        assert any("description" in s for s in services)
    else:
        assert any("desc" in s for s in services)


async def test_services_rates_follow_account_currency(jap: Panel) -> None:
    usd = await jap.call("services")
    rub = await jap.call("services", key="demo-key-rub")
    assert Decimal(rub[0]["rate"]) == Decimal(usd[0]["rate"]) * 90


async def test_services_raw_text_is_php_like(jap: Panel) -> None:
    _, headers, text = await jap.raw("services")
    assert headers["Content-Type"].startswith("application/json")
    assert "\\u" in text  # non-ASCII escaped, as PHP's json_encode does
    assert any("<" in s["name"] or "&" in s["name"] for s in json.loads(text))


def test_catalog_deterministic_and_complete() -> None:
    a, b, c = PanelSimulator(seed=1), PanelSimulator(seed=1), PanelSimulator(seed=2)
    assert a.catalog == b.catalog and a.catalog != c.catalog
    assert len(a.catalog) == 300
    assert {s["type"] for s in a.catalog[:20]} == set(SERVICE_TYPES)  # one of each among the first ids
    for t in SERVICE_TYPES:
        assert a.first_service_of_type(t)["type"] == t
    names = [s["name"] for s in a.catalog]
    assert any("<" in n for n in names) and any("&" in n for n in names)
    assert any(any(ord(ch) > 0x2000 for ch in n) for n in names)  # emoji
    assert any(len(n) > 120 for n in names)
    assert len({s["rate"].as_tuple().exponent for s in a.catalog}) >= 3  # various decimals
    assert any(s["dripfeed"] for s in a.catalog if s["type"] == "Default")
    with pytest.raises(LookupError):
        PanelSimulator(services=3).first_service_of_type("Poll")


def test_big_catalog_is_fast() -> None:
    t = time.perf_counter()
    sim = PanelSimulator(services=10_000)
    assert time.perf_counter() - t < 1.0
    assert len(sim.catalog) == 10_000 and sim.service(10_000)["service"] == 10_000


# ---- add ----------------------------------------------------------------------------------------------

# Valid `add` fields for every type (besides `service`).
VALID_FIELDS: dict[str, dict[str, Any]] = {
    "Default": {"link": "https://instagram.com/a", "quantity": 100},
    "Package": {"link": "https://instagram.com/p/xyz"},
    "SEO": {"link": "https://example.com", "quantity": 200, "keywords": "smm panel\nbuy followers"},
    "Custom Comments": {"link": "https://instagram.com/p/1", "comments": "nice\ncool\nwow\ngreat\nlove it"},
    "Custom Comments Package": {"link": "https://youtu.be/x", "comments": "a\nb\nc\nd\ne\nf"},
    "Mentions": {"link": "https://instagram.com/p/2", "quantity": 100, "usernames": "alice\nbob"},
    "Mentions with Hashtags": {
        "link": "https://instagram.com/p/3",
        "quantity": 100,
        "usernames": "alice",
        "hashtags": "#x\n#y",
    },
    "Mentions Custom List": {
        "link": "https://instagram.com/p/4",
        "usernames": "\n".join(f"u{i}" for i in range(12)),
    },
    "Mentions Hashtag": {"link": "https://instagram.com/p/5", "quantity": 100, "hashtag": "#sale"},
    "Mentions User Followers": {"link": "https://instagram.com/p/6", "quantity": 100, "username": "natgeo"},
    "Mentions Media Likers": {
        "link": "https://instagram.com/p/7",
        "quantity": 100,
        "media": "https://instagram.com/p/other",
    },
    "Comment Likes": {"link": "https://instagram.com/p/8", "quantity": 20, "username": "commenter"},
    "Comment Replies": {"link": "https://youtu.be/y", "username": "someone", "comments": "a\nb\nc\nd\ne"},
    "Poll": {"link": "https://t.me/channel/12", "quantity": 100, "answer_number": 2},
    "Invites from Groups": {
        "link": "https://t.me/mygroup",
        "quantity": 100,
        "groups": "https://t.me/g1\nt.me/g2",
    },
    "Subscriptions": {
        "username": "someone",
        "min": 50,
        "max": 100,
        "delay": 0,
        "posts": 3,
        "expiry": "31/12/2030",
    },
    "Web Traffic": {"link": "https://example.com/page", "quantity": 1000, "country": "US", "device": "1"},
}
# Expected quantity of the order for each type.
EXPECTED_QTY = {
    "Custom Comments": 5,
    "Custom Comments Package": 6,
    "Mentions Custom List": 12,
    "Comment Replies": 5,
    "Package": 1,
    "Subscriptions": 300,
}


@pytest.mark.parametrize("typ", SERVICE_TYPES)
async def test_add_every_type(panel: Panel, typ: str) -> None:
    svc = panel.sim.first_service_of_type(typ)
    before = panel.sim.balance_of(KEY)
    answer = await panel.call("add", service=svc["service"], **VALID_FIELDS[typ])
    assert set(answer) == ({"order", "status"} if smart(panel) else {"order"}), answer
    o = panel.sim.orders[answer["order"]]
    qty = EXPECTED_QTY.get(typ, VALID_FIELDS[typ].get("quantity"))
    assert o.quantity == qty and o.service_type == typ
    expected = panel.sim.charge_for(svc["service"], qty)
    if typ in ("Package", "Custom Comments Package"):
        assert expected == svc["rate"]  # sold whole
    else:
        assert expected == (svc["rate"] * qty / 1000).quantize(Decimal("0.00001"))
    assert o.charge == expected and panel.sim.balance_of(KEY) == before - expected


@pytest.mark.parametrize("typ", [t for t in SERVICE_TYPES if t != "Default"])
async def test_add_missing_type_field(panel: Panel, typ: str) -> None:
    svc = panel.sim.first_service_of_type(typ)
    fields = dict(VALID_FIELDS[typ])
    required = TYPE_FIELDS[typ][0]
    extra = [k for k in required if k not in ("link", "quantity")] or ["link"]
    del fields[extra[0]]
    answer = await panel.call("add", service=svc["service"], **fields)
    assert "error" in answer and not panel.sim.orders


async def test_add_success_and_balance(panel: Panel) -> None:
    answer = await panel.add(1, quantity=1000)
    assert answer["order"] == 23501 and isinstance(answer["order"], int)
    if smart(panel):
        assert answer["status"] == "success"
    assert await panel.add_ok(1, link="https://instagram.com/other", quantity=50) == 23502
    assert panel.sim.balance_of(KEY) == Decimal("100") - Decimal("0.9") - Decimal("0.045")
    bal = await panel.call("balance")
    if smart(panel):
        assert bal == {"status": "success", "balance": 99.055, "currency": "USD"}
    else:
        assert bal == {"balance": "99.05500", "currency": "USD"}
    o = panel.sim.orders[23501]
    assert (o.key, o.service_id, o.link, o.quantity, o.charge) == (
        KEY,
        1,
        "https://instagram.com/someone",
        1000,
        Decimal("0.90000"),
    )


async def test_add_errors(panel: Panel) -> None:
    p = panel
    assert await p.add(key="nope") == err(
        p, "Invalid API key", "API is Disable for this user or User Not Found! Contact the Support "
    )
    assert await p.add(key=None) == (await p.add(key="nope"))
    assert await p.add(service=99999) == err(p, "Incorrect service ID", "error.incorrect_service_id")
    assert await p.add(service="abc") == err(p, "Incorrect service ID", "error.incorrect_service_id")
    assert await p.add(link="not a link!") == err(p, "Incorrect link", "neworder.error.link")
    assert await p.add(link="") == err(p, "Incorrect link", "neworder.error.link")
    assert await p.add(quantity=49) == err(p, "Quantity less than minimal 50", "neworder.error.min_quantity")
    assert await p.add(quantity=10001) == err(
        p, "Quantity more than maximum 10000", "neworder.error.max_quantity"
    )
    assert await p.call("add", service=1, link="https://instagram.com/a") == {"error": "Incorrect request"}
    poor = await p.add(key="demo-key-poor", quantity=1000)
    assert poor == err(p, "Not enough funds on balance", "neworder.error.not_enough_funds")
    assert not p.sim.orders
    await p.add_ok()
    dup = err(
        p,
        "You have active order with this link. Please wait until order being completed.",
        "neworder.error.link_duplicate",
    )
    assert await p.add() == dup
    assert await p.add(key="demo-key-rub") != dup  # duplicates are per key
    p.sim.clock.advance(10**6)  # once the first order is done, the link is free again
    await p.add_ok()
    assert p.sim.balance_of("demo-key-poor") == Decimal("0.05")


async def test_add_usernames_and_sloppy_params(jap: Panel) -> None:
    assert "order" in await jap.add(link="@some.user")
    assert await jap.add(18, link="plain words here") == {"error": "Incorrect link"}
    # Web Traffic wants a real URL.
    assert await jap.add(17, link="someuser", quantity=1000) == {"error": "Incorrect link"}
    assert await jap.add(quantity="lots") == {"error": "Incorrect request"}


async def test_add_dripfeed(jap: Panel) -> None:
    oid = await jap.add_ok(1, quantity=100, runs=5, interval=30)
    o = jap.sim.orders[oid]
    assert (o.runs, o.interval, o.charge) == (5, 30, Decimal("0.45000"))
    assert jap.sim.balance_of(KEY) == Decimal("99.55")
    assert await jap.add(18, quantity=100, runs=5, interval=30) == {
        "error": "Drip-feed is disabled for this service"
    }
    assert await jap.add(1, link="https://x.com/b", runs=5) == {"error": "Incorrect request"}
    jap.sim.clock.advance(jap.sim.pending_seconds + 60 * 30 * 2 + 1)
    assert jap.sim.orders[oid].status == "In progress"  # drip-feed runs spread the delivery over 4 intervals


async def test_add_rub_account(jap: Panel) -> None:
    oid = await jap.add_ok(1, quantity=1000, key="demo-key-rub")
    o = jap.sim.orders[oid]
    assert o.currency == "RUB" and o.charge == Decimal("81.00000")
    assert jap.sim.balance_of("demo-key-rub") == Decimal("49919")
    assert await jap.call("balance", key="demo-key-rub") == {"balance": "49919.00000", "currency": "RUB"}


async def test_subscription_errors(jap: Panel) -> None:
    base = dict(VALID_FIELDS["Subscriptions"])
    assert await jap.call("add", service=16, **{**base, "delay": 7}) == {"error": "Incorrect request"}
    assert await jap.call("add", service=16, **{**base, "min": 200, "max": 100}) == {
        "error": "Incorrect request"
    }
    assert await jap.call("add", service=16, **{**base, "min": 10}) == {
        "error": "Quantity less than minimal 50"
    }
    assert await jap.call("add", service=16, **{**base, "expiry": "2030-12-31"}) == {
        "error": "Incorrect request"
    }


# ---- status -------------------------------------------------------------------------------------------


async def test_status_life_cycle(panel: Panel) -> None:
    p, sim = panel, panel.sim
    oid = await p.add_ok(1, quantity=1000)
    # Right after `add` the panel does not know the order yet.
    assert await p.call("status", order=oid) == {"error": "Incorrect order ID"}
    sim.clock.advance(2.5)
    st = await p.call("status", order=oid)
    assert st["status"] == status_word(p, "Pending") and st["start_count"] is None
    assert st["currency"] == "USD"
    if smart(p):
        assert st["remains"] == 1000 and st["charge"] == 0.9
    else:
        assert st == {
            "charge": "0.90",
            "start_count": None,
            "status": "Pending",
            "remains": "1000",
            "currency": "USD",
        }
    sim.clock.advance(sim.pending_seconds - 2.5 + 30)  # a quarter of the 120 s delivery
    st = await p.call("status", order=oid)
    assert st["status"] == status_word(p, "In progress")
    assert sim.orders[oid].partial_at is None  # seed 1: the first order is not one of the partial ones
    assert st["start_count"] is not None and int(st["remains"]) == 750
    first_remains = 750
    if smart(p):
        assert isinstance(st["start_count"], int) and isinstance(st["remains"], int)
    else:
        assert isinstance(st["start_count"], str) and isinstance(st["remains"], str)
    sim.clock.advance(30)
    assert 0 < int((await p.call("status", order=oid))["remains"]) < first_remains
    sim.clock.advance(1000)
    st = await p.call("status", order=oid)
    assert st["status"] in (status_word(p, "Completed"), status_word(p, "Partial"))
    assert sim.orders[oid].status == st["status"].capitalize()


async def test_status_other_key_and_bad_input(jap: Panel) -> None:
    oid = await jap.add_ok()
    jap.sim.clock.advance(3)
    assert await jap.call("status", order=oid, key="demo-key-rub") == {"error": "Incorrect order ID"}
    assert await jap.call("status", order="xyz") == {"error": "Incorrect order ID"}
    assert await jap.call("status") == {"error": "Incorrect request"}
    assert await jap.call("status", order=oid, key="bad") == {"error": "Invalid API key"}


async def test_multi_status(panel: Panel) -> None:
    p = panel
    a = await p.add_ok(1, link="https://instagram.com/a")
    b = await p.add_ok(1, link="https://instagram.com/b")
    c = await p.add_ok(1, link="https://instagram.com/c", key="demo-key-rub")
    p.sim.clock.advance(3)
    answer = await p.call("status", orders=f"{a}, {b},999,{c},junk,{a}")
    assert list(answer) == [str(a), str(b), "999", str(c), "junk"]
    assert answer[str(a)]["status"] == status_word(p, "Pending")
    for bad in ("999", str(c), "junk"):
        assert answer[bad] == {"error": "Incorrect order ID"}
    ids = ",".join(str(i) for i in range(1, 102))
    assert await p.call("status", orders=ids) == {"error": "Incorrect request"}
    assert len(await p.call("status", orders=ids.rsplit(",", 1)[0])) == 100


async def test_partial_orders_refund(jap: Panel) -> None:
    sim = jap.sim
    sim.set_balance(KEY, "1000")
    ids = [await jap.add_ok(1, link=f"https://instagram.com/u{i}", quantity=1000) for i in range(40)]
    sim.clock.advance(10**5)
    answer = await jap.call("status", orders=",".join(map(str, ids)))
    partial = [o for o in ids if answer[str(o)]["status"] == "Partial"]
    assert 0 < len(partial) < 15
    assert all(answer[str(o)]["status"] in ("Completed", "Partial") for o in ids)
    expected = Decimal(1000) - 40 * Decimal("0.9")
    for o in partial:
        remains = int(answer[str(o)]["remains"])
        assert 0 < remains < 1000
        expected += (Decimal("0.9") * remains / 1000).quantize(Decimal("0.00001"))
    assert sim.balance_of(KEY) == expected
    # Determinism: the same seed gives the same partial orders.
    again = PanelSimulator(services=60, clock=SimClock(frozen=True))
    for i in range(40):
        again.process(
            {"key": KEY, "action": "add", "service": "1", "link": f"https://x.com/{i}", "quantity": "1000"}
        )
    again.clock.advance(10**5)
    assert [o for o in again.orders if again.orders[o].status == "Partial"] == partial


async def test_force_status(jap: Panel) -> None:
    oid = await jap.add_ok()
    jap.sim.clock.advance(3)
    jap.sim.force_status(oid, "Refunded")
    st = await jap.call("status", order=oid)
    assert st["status"] == "Refunded" and st["remains"] == "100"
    jap.sim.force_status(oid, "Partial", remains=7)
    assert (await jap.call("status", order=oid))["remains"] == "7"


# ---- refill -------------------------------------------------------------------------------------------


async def test_refill_life_cycle(panel: Panel) -> None:
    p, sim = panel, panel.sim
    oid = await p.add_ok(1, quantity=100)
    assert await p.call("refill", order=oid) == {"error": "The order is not completed"}
    sim.force_status(oid, "Completed")
    answer = await p.call("refill", order=oid)
    if smart(p):
        assert answer == {"success": "Your order will be refill asap. Thank you for patience", "refill": 1}
    else:
        assert answer == {"refill": "1"}
    assert sim.refills[1].order_id == oid
    assert await p.call("refill", order=oid) == {"error": "Order not eligible for refill."}  # one at a time
    assert await p.call("refill_status", refill=1) == {"status": status_word(p, "Pending")}
    sim.clock.advance(sim.pending_seconds + 1)
    assert await p.call("refill_status", refill=1) == {"status": status_word(p, "In progress")}
    sim.clock.advance(sim.refill_seconds)
    final = (await p.call("refill_status", refill=1))["status"]
    assert final in (status_word(p, "Completed"), status_word(p, "Rejected"))
    assert await p.call("refill_status", refill=77) == {"error": "Refill not found"}
    assert await p.call("refill_status", refill=1, key="demo-key-rub") == {"error": "Refill not found"}
    assert "refill" in await p.call("refill", order=oid)  # a new one once the first is over


async def test_refill_errors_and_multi(panel: Panel) -> None:
    p, sim = panel, panel.sim
    sim.set_balance(KEY, 500)
    good = await p.add_ok(1, quantity=100)
    no_refill = await p.add_ok(18, link="https://tiktok.com/@a/video/1", quantity=100)
    pending = await p.add_ok(19, link="https://t.me/chan", quantity=100)
    sim.force_status(good, "Partial", remains=10)
    sim.force_status(no_refill, "Completed")
    assert await p.call("refill", order=no_refill) == {"error": "Refill is disabled for this service"}
    assert await p.call("refill", order=424242) == {"error": "Incorrect order ID"}
    answer = await p.call("refill", orders=f"{good},{no_refill},{pending},424242")
    assert answer == [
        {"order": good, "refill": 1},
        {"order": no_refill, "refill": {"error": "Refill is disabled for this service"}},
        {"order": pending, "refill": {"error": "The order is not completed"}},
        {"order": 424242, "refill": {"error": "Incorrect order ID"}},
    ]
    statuses = await p.call("refill_status", refills="1,3")
    assert statuses == [
        {"refill": 1, "status": status_word(p, "Pending")},
        {"refill": 3, "status": {"error": "Refill not found"}},
    ]
    too_many = ",".join(map(str, range(1, 102)))
    assert await p.call("refill", orders=too_many) == {"error": "Incorrect request"}
    assert await p.call("refill_status", refills=too_many) == {"error": "Incorrect request"}


async def test_some_refills_rejected(jap: Panel) -> None:
    sim = jap.sim
    sim.set_balance(KEY, 1000)
    ids = [await jap.add_ok(1, link=f"https://instagram.com/r{i}") for i in range(30)]
    for oid in ids:
        sim.force_status(oid, "Completed")
    answer = await jap.call("refill", orders=",".join(map(str, ids)))
    refill_ids = [a["refill"] for a in answer]
    sim.clock.advance(10**4)
    statuses = [s["status"] for s in await jap.call("refill_status", refills=",".join(map(str, refill_ids)))]
    assert set(statuses) == {"Completed", "Rejected"}


# ---- cancel -------------------------------------------------------------------------------------------


async def test_cancel(panel: Panel) -> None:
    p, sim = panel, panel.sim
    pending = await p.add_ok(1, quantity=1000, link="https://instagram.com/p1")
    running = await p.add_ok(1, quantity=1000, link="https://instagram.com/p2")
    not_cancelable = await p.add_ok(18, quantity=1000, link="https://tiktok.com/@x")
    assert sim.balance_of(KEY) == Decimal(100) - Decimal("1.8") - Decimal("0.0125")
    sim.orders[running].created_at -= sim.pending_seconds + 60  # half delivered
    answer = await p.call("cancel", orders=f"{pending},{running},{not_cancelable},5")
    assert answer == [
        {"order": pending, "cancel": 1},
        {"order": running, "cancel": 1},
        {"order": not_cancelable, "cancel": {"error": "Cancel is disabled for this service"}},
        {"order": 5, "cancel": {"error": "Incorrect order ID"}},
    ]
    # Full refund of the pending one, the undelivered half of the running one.
    assert sim.balance_of(KEY) == Decimal(100) - Decimal("0.45") - Decimal("0.0125")
    sim.clock.advance(3)
    st = await p.call("status", orders=f"{pending},{running}")
    assert (
        st[str(pending)]["status"] == status_word(p, "Canceled") and int(st[str(pending)]["remains"]) == 1000
    )
    assert st[str(pending)]["start_count"] is None
    assert int(st[str(running)]["remains"]) == 500 and st[str(running)]["start_count"] is not None
    again = await p.call("cancel", orders=str(pending))
    assert again == [{"order": pending, "cancel": {"error": "Cannot cancel"}}]
    assert await p.call("cancel") == {"error": "Incorrect request"}
    assert await p.call("cancel", orders=",".join(map(str, range(200)))) == {"error": "Incorrect request"}
    # A canceled order's link is free again.
    await p.add_ok(1, quantity=1000, link="https://instagram.com/p1")


# ---- transport ----------------------------------------------------------------------------------------


async def test_unknown_action_get_and_json(jap: Panel) -> None:
    assert await jap.call("frobnicate") == {"error": "Incorrect request"}
    assert await jap.call("frobnicate", key="x") == {"error": "Invalid API key"}
    assert await jap.call("balance", key=None) == {"error": "Invalid API key"}
    async with jap.http.get(jap.sim.url, params={"key": KEY, "action": "balance"}) as r:
        assert await r.json() == {"balance": "100.00000", "currency": "USD"}
    async with jap.http.post(
        jap.sim.url,
        json={"key": KEY, "action": "add", "service": 1, "link": "https://instagram.com/j", "quantity": 100},
    ) as r:
        assert "order" in await r.json()
    assert jap.sim.orders[23501].quantity == 100


async def test_requests_log(jap: Panel) -> None:
    await jap.call("balance")
    await jap.add_ok()
    await jap.call("status", order=1)
    assert jap.sim.requests[0] == ("balance", {})
    assert jap.sim.requests[1] == (
        "add",
        {"service": "1", "link": "https://instagram.com/someone", "quantity": "100"},
    )
    assert (jap.sim.count("balance"), jap.sim.count("add"), jap.sim.count("status"), jap.sim.count("x")) == (
        1,
        1,
        1,
        0,
    )
    assert KEY not in repr(jap.sim.requests)


# ---- faults -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["502", "html", "429", "malformed"])
async def test_fail_actions(jap: Panel, kind: str) -> None:
    jap.sim.faults.fail_actions = {"add": kind}
    status, headers, text = await jap.raw("add", service=1, link="https://instagram.com/f", quantity=100)
    assert not jap.sim.orders  # failed before processing
    assert jap.sim.count("add") == 1
    if kind == "502":
        assert status == 502 and headers["Content-Type"].startswith("text/html") and "Bad Gateway" in text
    elif kind == "html":
        assert status == 200 and headers["Content-Type"].startswith("text/html") and "Just a moment" in text
    elif kind == "429":
        assert (
            status == 429
            and headers["Retry-After"] == "1"
            and json.loads(text) == {"error": "Too many requests"}
        )
    else:
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(text)
    assert (await jap.call("balance"))["balance"] == "100.00000"  # other actions unaffected


async def test_probabilistic_faults() -> None:
    sim = await start_panel(
        faults=Faults(error_rate=0.3, html_rate=0.2, rate_limit_rate=0.2, malformed_rate=0.2, seed=5)
    )
    seen: dict[Any, int] = {}
    try:
        async with aiohttp.ClientSession() as http:
            p = Panel(sim, http)
            for _ in range(60):
                status, _, text = await p.raw("balance")
                try:
                    kind: Any = (status, json.loads(text).get("balance") is not None)
                except (ValueError, AttributeError):
                    kind = (status, "not json")
                seen[kind] = seen.get(kind, 0) + 1
    finally:
        await sim.stop()
    assert {(502, "not json"), (200, "not json"), (429, False), (200, True)} <= set(seen)
    assert sim.count("balance") == 60


async def test_faults_are_deterministic() -> None:
    async def run() -> list[int]:
        sim = await start_panel(faults=Faults(error_rate=0.5, seed=3))
        async with aiohttp.ClientSession() as http:
            codes = [(await Panel(sim, http).raw("balance"))[0] for _ in range(20)]
        await sim.stop()
        return codes

    assert await run() == await run()


async def test_latency(jap: Panel) -> None:
    jap.sim.faults.latency = 0.2
    t = time.perf_counter()
    await jap.call("balance")
    assert time.perf_counter() - t >= 0.2


async def test_hang_rate_times_out_client(jap: Panel) -> None:
    jap.sim.faults.hang_rate = 1.0
    jap.sim.faults.hang_seconds = 0.5
    with pytest.raises(asyncio.TimeoutError):
        await jap.raw("balance", timeout=0.1)
    jap.sim.faults.hang_rate = 0.0
    assert (await jap.call("balance"))["balance"] == "100.00000"


async def test_hang_actions_add_creates_order_but_answer_is_lost(jap: Panel) -> None:
    jap.sim.faults.hang_actions = {"add"}
    jap.sim.faults.hang_seconds = 0.6
    with pytest.raises(asyncio.TimeoutError):
        await jap.raw("add", service=1, link="https://instagram.com/h", quantity=100, timeout=0.2)
    assert list(jap.sim.orders) == [23501]  # the order exists although the client never heard of it
    assert jap.sim.balance_of(KEY) == Decimal("99.91")
    t = time.perf_counter()
    _, _, text = await jap.raw("add", service=1, link="https://instagram.com/h2", quantity=100)
    assert time.perf_counter() - t >= 0.6 and json.loads(text) == {"order": 23502}
    assert (await jap.call("balance"))["balance"] == "99.82000"  # other actions answer at once


async def test_stop_does_not_wait_for_hanging_requests() -> None:
    sim = await start_panel(faults=Faults(hang_actions={"balance"}, hang_seconds=30))
    async with aiohttp.ClientSession() as http:
        task = asyncio.create_task(Panel(sim, http).raw("balance"))
        for _ in range(200):  # until the request has reached the panel
            if sim.count("balance"):
                break
            await asyncio.sleep(0.01)
        t = time.perf_counter()
        await sim.stop()
        assert time.perf_counter() - t < 2
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_multi_status_of_many_orders_is_fast(jap: Panel) -> None:
    sim = jap.sim
    sim.set_balance(KEY, 10**6)
    for i in range(2000):
        sim.process(
            {"key": KEY, "action": "add", "service": "1", "link": f"https://x.com/{i}", "quantity": "100"}
        )
    sim.clock.advance(60)
    t = time.perf_counter()
    for chunk in range(20):
        ids = ",".join(str(23501 + chunk * 100 + i) for i in range(100))
        answer = await jap.call("status", orders=ids)
        assert len(answer) == 100
    assert time.perf_counter() - t < 1.5


async def test_run_standalone(capsys, unused_tcp_port: int) -> None:
    task = asyncio.create_task(run_standalone("127.0.0.1", unused_tcp_port, services=30))
    url = f"http://127.0.0.1:{unused_tcp_port}/api/v2"
    out = ""
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            await asyncio.sleep(0.02)
            out += capsys.readouterr().out
            if "Panel simulator" in out or task.done():
                break
        assert out.strip() == f"Panel simulator at {url} — key: demo-key-usd (100 USD)"
        async with http.post(url, data={"key": KEY, "action": "balance"}) as r:
            assert await r.json() == {"balance": "100.00000", "currency": "USD"}
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
