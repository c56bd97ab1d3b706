"""The client against the panel simulator (bot/sandbox/panel.py), both dialects: every action and error."""

import itertools
from decimal import Decimal

import pytest

from bot.panel import (
    SERVICE_TYPE_FIELDS,
    ActionNotAllowed,
    BadRequest,
    DuplicateActiveOrder,
    IncorrectLink,
    IncorrectService,
    InvalidKey,
    NotEnoughFunds,
    OrderNotFound,
    OrderStatus,
    OutcomeUnknown,
    PanelClient,
    PanelError,
    PanelUnavailable,
    QuantityOutOfRange,
    RateLimited,
    RefillNotFound,
    RefillStatus,
    fields_for_type,
)
from bot.sandbox.panel import Faults, PanelSimulator, SimClock
from bot.sandbox.panel_catalog import LINE_QUANTITY_FIELD, TYPE_FIELDS

LONG = 10**6  # seconds: every order and refill is final by then
_links = itertools.count(1)


@pytest.fixture(params=["jap", "smart"])
async def sim(request):
    s = PanelSimulator(services=300, dialect=request.param, clock=SimClock(frozen=True))
    await s.start()
    yield s
    await s.stop()


def client_for(sim: PanelSimulator, key: str = PanelSimulator.DEFAULT_KEY, **kw) -> PanelClient:
    opts = {"timeout": 3.0, "backoff_base": 0.001, "backoff_max": 0.005, "max_retry_after": 0.5}
    return PanelClient(sim.url, key, **{**opts, **kw})


def link() -> str:
    return f"https://instagram.com/p/post{next(_links)}"


def fields_to_send(svc: dict) -> dict:
    """Values for every field the type table says the service needs (the order wizard's job)."""
    tf = fields_for_type(svc["type"])
    n = svc["min"]
    values = {
        "link": link(), "quantity": n, "keywords": ["smm panel", "best smm"],
        "comments": [f"c{i}" for i in range(n)],
        "usernames": [f"user{i}" for i in range(n if tf.quantity_from == "usernames" else 3)],
        "hashtags": ["#one", "#two"], "hashtag": "#tag", "username": "some.user", "media": "https://instagram.com/p/m",
        "answer_number": 1, "groups": ["group1"], "min": n, "max": n, "delay": 0,
    }  # fmt: skip
    return {name: values[name] for name in tf.required}


def test_type_table_matches_the_simulator():
    assert set(TYPE_FIELDS) == set(SERVICE_TYPE_FIELDS)
    for name, (required, optional) in TYPE_FIELDS.items():
        tf = fields_for_type(name.upper())
        assert (tf.required, tf.optional, tf.quantity_from) == (
            required,
            optional,
            LINE_QUANTITY_FIELD.get(name),
        )


async def test_services_match_the_catalog(sim):
    services = await client_for(sim).services()
    assert len(services) == 300 and {s.type for s in services} == set(SERVICE_TYPE_FIELDS)
    for s in services:
        c = sim.service(s.id)
        assert (s.name, s.type, s.category, s.min, s.max) == (
            c["name"],
            c["type"],
            c["category"],
            c["min"],
            c["max"],
        )
        assert (s.refill, s.cancel, s.dripfeed) == (c["refill"], c["cancel"], c["dripfeed"])
        assert s.rate == c["rate"] and isinstance(s.rate, Decimal)


async def test_balance(sim):
    bal = await client_for(sim).balance()
    assert bal.amount == Decimal(100) and bal.currency == "USD"
    assert (await client_for(sim, "demo-key-rub").balance()).currency == "RUB"


async def test_add_every_service_type_then_track_it(sim):
    sim.set_balance(sim.DEFAULT_KEY, 10**6)
    client = client_for(sim)
    placed = {}
    for type_name in SERVICE_TYPE_FIELDS:
        svc = sim.first_service_of_type(type_name)
        res = await client.add(svc["service"], **fields_to_send(svc))
        order = sim.orders[res.order_id]
        assert order.service_id == svc["service"], type_name
        placed[res.order_id] = type_name
    with pytest.raises(OrderNotFound):  # right after add, panels may not know the order yet
        await client.status(next(iter(placed)))
    sim.clock.advance(5)
    statuses = await client.statuses(placed)
    assert all(isinstance(st, OrderStatus) and st.normalized == "Pending" for st in statuses.values())
    sim.clock.advance(LONG)
    for oid in placed:
        st = await client.status(oid)
        assert st.is_final and st.normalized in ("Completed", "Partial"), st
        assert st.charge == sim.orders[oid].charge and st.currency == "USD"
        assert st.remains == sim.orders[oid].remains and st.start_count == sim.orders[oid].start_count


async def test_multi_status_250_ids_makes_3_requests(sim):
    client = client_for(sim)
    svc = sim.first_service_of_type("Default")
    real = [(await client.add(svc["service"], link=link(), quantity=svc["min"])).order_id for _ in range(3)]
    sim.clock.advance(5)
    ids = real + list(range(1, 248))
    assert len(client.chunks_for(ids)) == 3
    before = sim.count("status")
    res = await client.statuses(ids)
    assert sim.count("status") - before == 3 and len(res) == 250
    assert all(isinstance(res[i], OrderStatus) for i in real)
    assert all(isinstance(res[i], OrderNotFound) for i in range(1, 248))


async def test_refills(sim):
    client = client_for(sim)
    svc = next(s for s in sim.catalog if s["refill"] and s["type"] == "Default")
    oid = (await client.add(svc["service"], link=link(), quantity=svc["min"])).order_id
    with pytest.raises(ActionNotAllowed):  # "The order is not completed"
        await client.refill(oid)
    sim.clock.advance(LONG)
    rid = await client.refill(oid)
    assert isinstance(rid, int) and rid in sim.refills
    with pytest.raises(ActionNotAllowed):  # "Order not eligible for refill." while one is running
        await client.refill(oid)
    st = await client.refill_status(rid)
    assert st.normalized == "Pending" and not st.is_final
    sim.clock.advance(LONG)
    assert (await client.refill_status(rid)).is_final
    with pytest.raises(RefillNotFound):
        await client.refill_status(999999)
    res = await client.refill_statuses([rid, 999999])
    assert isinstance(res[rid], RefillStatus) and isinstance(res[999999], RefillNotFound)
    multi = await client.refills([oid, 888888])
    assert isinstance(multi[oid], int) and isinstance(multi[888888], OrderNotFound)
    no_refill = next(s for s in sim.catalog if not s["refill"] and s["type"] == "Default")
    other = (await client.add(no_refill["service"], link=link(), quantity=no_refill["min"])).order_id
    sim.clock.advance(LONG)
    with pytest.raises(ActionNotAllowed):  # "Refill is disabled for this service"
        await client.refill(other)
    with pytest.raises(OrderNotFound):
        await client.refill(777777)


async def test_cancel(sim):
    client = client_for(sim)
    can = next(s for s in sim.catalog if s["cancel"] and s["type"] == "Default")
    cannot = next(s for s in sim.catalog if not s["cancel"] and s["type"] == "Default")
    a = (await client.add(can["service"], link=link(), quantity=can["min"])).order_id
    b = (await client.add(cannot["service"], link=link(), quantity=cannot["min"])).order_id
    res = await client.cancel([a, b, 555555])
    assert res[a] is True and isinstance(res[b], ActionNotAllowed) and isinstance(res[555555], OrderNotFound)
    sim.clock.advance(5)
    assert (await client.status(a)).normalized == "Canceled"
    c = (await client.add(can["service"], link=link(), quantity=can["min"])).order_id
    sim.clock.advance(LONG)
    assert isinstance((await client.cancel([c]))[c], ActionNotAllowed)  # "Cannot cancel": completed


async def test_every_error_class(sim):
    client = client_for(sim)
    svc = sim.first_service_of_type("Default")
    sid, lo, hi = svc["service"], svc["min"], svc["max"]
    with pytest.raises(InvalidKey):
        await client_for(sim, "wrong-key").balance()
    with pytest.raises(IncorrectService):
        await client.add(999999, link=link(), quantity=100)
    with pytest.raises(IncorrectLink):
        await client.add(sid, link="not a link!", quantity=lo)
    with pytest.raises(QuantityOutOfRange) as low:
        await client.add(sid, link=link(), quantity=lo - 1)
    with pytest.raises(QuantityOutOfRange) as high:
        await client.add(sid, link=link(), quantity=hi + 1)
    if sim.dialect == "jap":  # the smart dialect says neworder.error.min_quantity, without the figure
        assert low.value.minimum == lo and high.value.maximum == hi
    same = link()
    await client.add(sid, link=same, quantity=lo)
    with pytest.raises(DuplicateActiveOrder):
        await client.add(sid, link=same, quantity=lo)
    with pytest.raises(NotEnoughFunds):
        await client_for(sim, "demo-key-poor").add(sid, link=link(), quantity=hi)
    with pytest.raises(BadRequest):  # a Poll without answer_number: "Incorrect request"
        poll = sim.first_service_of_type("Poll")
        await client.add(poll["service"], link=link(), quantity=poll["min"])
    with pytest.raises(OrderNotFound):
        await client.status(424242)


@pytest.mark.parametrize("kind", ["502", "html", "malformed"])
async def test_faulty_reads_are_retried_then_unavailable(sim, kind):
    sim.faults.fail_actions = {"balance": kind, "add": kind}
    client = client_for(sim, read_retries=2)
    with pytest.raises(PanelError) as info:
        await client.balance()
    # The simulator's PHP-notice body carries a readable {"error": "Incorrect request"}: a clear answer.
    assert isinstance(info.value, PanelUnavailable | BadRequest)
    assert sim.count("balance") == 3 or isinstance(info.value, BadRequest)
    with pytest.raises(PanelError) as info:
        await client.add(1, link=link(), quantity=100)
    assert isinstance(info.value, OutcomeUnknown | BadRequest) and sim.count("add") == 1


async def test_rate_limited(sim):
    sim.faults.fail_actions = {"status": "429"}
    with pytest.raises(RateLimited) as info:
        await client_for(sim).status(1)  # Retry-After 1 s is over this client's max_retry_after
    assert info.value.retry_after == 1 and sim.count("status") == 1
    sim.faults.fail_actions = {}
    with pytest.raises(OrderNotFound):
        await client_for(sim).status(1)


async def test_add_that_hangs_is_unclear_but_was_placed(sim):
    sim.faults = Faults(hang_actions={"add"}, hang_seconds=5)
    client = client_for(sim, timeout=0.3, read_retries=3)
    svc = sim.first_service_of_type("Default")
    with pytest.raises(OutcomeUnknown):
        await client.add(svc["service"], link=link(), quantity=svc["min"])
    assert sim.count("add") == 1 and len(sim.orders) == 1  # the panel did place it: "unclear" was right
    sim.faults = Faults()
    assert (await client.balance()).amount == sim.balance_of(sim.DEFAULT_KEY) < 100  # charged


async def test_read_that_hangs_is_retried(sim):
    sim.faults = Faults(hang_actions={"services"}, hang_seconds=5)
    client = client_for(sim, timeout=0.2, read_retries=1)
    with pytest.raises(PanelUnavailable) as info:
        await client.services()
    assert not isinstance(info.value, OutcomeUnknown) and sim.count("services") == 2
