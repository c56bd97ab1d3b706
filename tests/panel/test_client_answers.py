"""Every sample answer and quirk of panel-api.md, served over loopback HTTP by the canned panel."""

from decimal import Decimal

import pytest

from bot.panel import (
    ActionNotAllowed,
    AddResult,
    Balance,
    DuplicateActiveOrder,
    OrderNotFound,
    OrderStatus,
    OutcomeUnknown,
    ProtocolError,
    RefillNotFound,
    RefillStatus,
    Service,
)

from .conftest import KEY, Reply

SERVICES = (
    '[{"service":1,"name":"Followers","type":"Default","category":"First Category","rate":"0.90","min":"50",'
    '"max":"10000","refill":true,"cancel":true},'
    '{"service":"2","name":"Followers","type":"Default","rate":"0.90","min":"50","max":"10000",'
    '"category":"First Category"},'
    '{"service":3,"name":"KakaoTalk Channel Friends","category":"KakaoTalk Channel","rate":"5.00","min":10,'
    '"max":100000,"refill":false,"cancel":false},'
    '{"service":4,"name":"Comments","type":"Custom Comments","category":"C","rate":12.5,"min":"1","max":"x",'
    '"refill":"1","cancel":0,"dripfeed":1,"desc":"Real ones","average_time":"3 hours"},'
    '{"name":"no id, skipped","rate":"1"}, "junk", null]'
)


async def test_services_every_quirk(panel, client):
    panel.reply(SERVICES)
    services = await client.services()
    assert [s.id for s in services] == [1, 2, 3, 4]
    assert services[0] == Service(
        1, "Followers", "Default", "First Category", Decimal("0.90"), 50, 10000, True, True, False, None, None
    )
    assert services[1].id == 2 and (services[1].refill, services[1].cancel) == (False, False)
    assert services[2].type == "Default" and (services[2].min, services[2].max) == (10, 100000)
    four = services[3]
    assert (four.rate, four.max, four.refill, four.cancel, four.dripfeed) == (
        Decimal("12.5"),
        None,
        True,
        False,
        True,
    )
    assert (four.description, four.average_time) == ("Real ones", "3 hours")
    assert str(four.rate) == "12.5"


async def test_services_sent_as_form_post_with_browser_user_agent(panel, client):
    panel.reply([])
    assert await client.services() == []
    assert panel.requests == [{"key": KEY, "action": "services"}]
    assert panel.headers[0]["User-Agent"].startswith("Mozilla/5.0")
    assert panel.headers[0]["Content-Type"].startswith("application/x-www-form-urlencoded")


async def test_services_wrapped_or_keyed_by_id(panel, client):
    panel.reply({"services": [{"service": 5, "name": "x"}]})
    assert [s.id for s in await client.services()] == [5]
    panel.reply({"6": {"name": "y", "rate": "1"}, "7": {"service": 7, "name": "z"}})
    assert [s.id for s in await client.services()] == [6, 7]
    panel.reply({"weird": 1})
    with pytest.raises(ProtocolError):
        await client.services()


async def test_add_default_and_extras(panel, client):
    panel.reply('{"order": 23501}')
    assert await client.add(1, link="https://x.y/p", quantity=100) == AddResult(23501, None, None)
    assert panel.requests[-1] == {
        "key": KEY,
        "action": "add",
        "service": "1",
        "link": "https://x.y/p",
        "quantity": "100",
    }
    panel.reply('{"status":"success","order":"23502","charge":0.2781,"currency":"RUB"}')
    res = await client.add(4, link="l", comments=["nice", "great"], runs=3, interval=15, usernames="a\nb")
    assert res == AddResult(23502, Decimal("0.2781"), "RUB")
    assert str(res.charge) == "0.2781"
    sent = panel.requests[-1]
    assert sent["comments"] == "nice\ngreat" and sent["usernames"] == "a\nb"
    assert (sent["runs"], sent["interval"]) == ("3", "15")
    assert "quantity" not in sent and "hashtags" not in sent


async def test_add_every_field_name(panel, client):
    panel.reply({"order": 1})
    fields = dict(
        link="l", quantity=1, runs=2, interval=3, comments=["c"], usernames=["u1", "u2"],
        hashtags=["#a", "#b"], hashtag="#h", username="u", media="m", answer_number=2, groups=["g"],
        keywords=["k1", "k2"], min=10, max=20, delay=30, posts=5, old_posts=6, expiry="31/12/2030",
        country="US", device="1", type_of_traffic=1, google_keyword="kw", referring_url="https://r",
    )  # fmt: skip
    await client.add(9, **fields)
    sent = panel.requests[-1]
    assert set(sent) == {"key", "action", "service", *fields}
    assert sent["hashtags"] == "#a\n#b" and sent["keywords"] == "k1\nk2" and sent["min"] == "10"


@pytest.mark.parametrize("body", ['{"status":"success"}', '{"order":"abc"}', "[]", '"ok"', "null"])
async def test_add_answer_without_order_id_is_unclear(panel, client, body):
    panel.reply(body)
    with pytest.raises(OutcomeUnknown):
        await client.add(1, link="l", quantity=10)


async def test_add_clear_error_is_its_class(panel, client):
    panel.reply({"error": "neworder.error.link_duplicate"})
    with pytest.raises(DuplicateActiveOrder) as info:
        await client.add(1, link="l", quantity=10)
    assert info.value.panel_message == "neworder.error.link_duplicate"
    assert panel.count("add") == 1


async def test_status_samples(panel, client):
    panel.reply(
        '{"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157","currency":"USD"}'
    )
    st = await client.status(1)
    assert st == OrderStatus("Partial", Decimal("0.27819"), 3572, 157, "USD") and st.is_final
    assert panel.requests[-1] == {"key": KEY, "action": "status", "order": "1"}
    panel.reply('{"charge":"0.14","start_count":null,"status":"Completed","remains":"0","currency":"USD"}')
    assert await client.status(2) == OrderStatus("Completed", Decimal("0.14"), None, 0, "USD")


async def test_status_quirks(panel, client):
    panel.reply({"charge": 1.5, "start_count": "n/a", "status": "in progress", "remains": "many"})
    st = await client.status(3)
    assert st == OrderStatus("in progress", Decimal("1.5"), None, None, None)
    assert st.normalized == "In progress" and not st.is_final
    panel.reply({"3": {"status": "Pending"}})  # the multi shape for one id
    assert (await client.status(3)).status == "Pending"
    panel.reply({"error": "Incorrect order ID"})
    with pytest.raises(OrderNotFound):
        await client.status(3)
    panel.reply({"charge": "1"})
    with pytest.raises(ProtocolError):
        await client.status(3)


async def test_statuses_sample_map(panel, client):
    panel.reply(
        '{"1":{"charge":"0.27819","start_count":"3572","status":"Partial","remains":"157","currency":"USD"},'
        '"10":{"error":"Incorrect order ID"}}'
    )
    res = await client.statuses([1, 10, 11])
    assert panel.requests[-1]["orders"] == "1,10,11"
    assert res[1] == OrderStatus("Partial", Decimal("0.27819"), 3572, 157, "USD")
    assert isinstance(res[10], OrderNotFound)
    assert isinstance(res[11], ProtocolError)  # the panel said nothing about it


async def test_statuses_list_shape_and_single_shape(panel, client):
    panel.reply(
        [{"order": 5, "status": "Completed"}, {"order": "6", "status": {"error": "Incorrect order ID"}}]
    )
    res = await client.statuses([5, 6])
    assert res[5].status == "Completed" and isinstance(res[6], OrderNotFound)
    panel.reply({"status": "Pending", "remains": "10"})
    assert (await client.statuses([7]))[7] == OrderStatus("Pending", remains=10)
    assert await client.statuses([]) == {}


async def test_statuses_chunks_of_100(panel, client):
    panel.handler = lambda form: Reply({i: {"status": "Pending"} for i in form["orders"].split(",")})
    ids = [*range(1, 251), 1, 2]  # duplicates are asked once
    assert [len(c) for c in client.chunks_for(ids)] == [100, 100, 50]
    res = await client.statuses(ids)
    assert panel.count("status") == 3 and len(res) == 250
    assert all(isinstance(v, OrderStatus) for v in res.values())
    assert max(len(r["orders"].split(",")) for r in panel.requests) == 100


async def test_statuses_bounded_concurrency(panel):
    from .conftest import fast_client

    panel.handler = lambda form: Reply(
        {i: {"status": "Pending"} for i in form["orders"].split(",")}, delay=0.03
    )
    res = await fast_client(panel.url, concurrency=2).statuses(range(1, 801))
    assert len(res) == 800 and panel.count() == 8 and panel.max_in_flight == 2


async def test_statuses_failed_chunk_puts_error_on_each_id(panel, client):
    def answer(form):
        ids = form["orders"].split(",")
        return (
            Reply("<html>down</html>", status=502)
            if ids[0] == "101"
            else Reply({i: {"status": "Pending"} for i in ids})
        )

    panel.handler = answer
    res = await client.statuses(range(1, 151))
    failed = [i for i, v in res.items() if not isinstance(v, OrderStatus)]
    assert failed == list(range(101, 151))
    assert all(res[i] is res[101] for i in failed)
    assert panel.count() == 2 + client.read_retries  # the failing chunk was retried


async def test_refill_samples(panel, client):
    panel.reply('{"refill": "1"}')
    assert await client.refill(7) == 1
    assert panel.requests[-1] == {"key": KEY, "action": "refill", "order": "7"}
    panel.reply('{"success":"Your order will be refill asap. Thank you for patience","refill":12345}')
    assert await client.refill(7) == 12345
    panel.reply({"error": "Refill is disabled for this service"})
    with pytest.raises(ActionNotAllowed):
        await client.refill(7)
    panel.reply({"success": "queued"})
    with pytest.raises(OutcomeUnknown):
        await client.refill(7)


async def test_refills_multi(panel, client):
    panel.reply([{"order": 1, "refill": 1}, {"order": 3, "refill": {"error": "Incorrect order ID"}}])
    res = await client.refills([1, 3, 4])
    assert panel.requests[-1]["orders"] == "1,3,4"
    assert res[1] == 1 and isinstance(res[3], OrderNotFound)
    assert isinstance(res[4], OutcomeUnknown)  # a write the panel did not mention: unknown, not failed


async def test_refill_status_samples(panel, client):
    panel.reply({"status": "Completed"})
    st = await client.refill_status(1)
    assert st == RefillStatus("Completed") and st.is_final
    assert panel.requests[-1] == {"key": KEY, "action": "refill_status", "refill": "1"}
    panel.reply({"error": "Refill not found"})
    with pytest.raises(RefillNotFound):
        await client.refill_status(9)


async def test_refill_statuses_sample(panel, client):
    panel.reply(
        '[{"refill":1,"status":"Completed"},{"refill":2,"status":"Rejected"},'
        '{"refill":3,"status":{"error":"Refill not found"}}]'
    )
    res = await client.refill_statuses([1, 2, 3])
    assert panel.requests[-1]["refills"] == "1,2,3"
    assert res[1] == RefillStatus("Completed") and res[2].is_final and isinstance(res[3], RefillNotFound)
    panel.reply({"1": {"status": "pending"}, "2": "In progress"})
    res = await client.refill_statuses([1, 2])
    assert res[1].normalized == "Pending" and res[2] == RefillStatus("In progress")


async def test_cancel_list_and_map_shapes(panel, client):
    panel.reply([{"order": 2, "cancel": 1}, {"order": 9, "cancel": {"error": "Incorrect order ID"}}])
    res = await client.cancel([2, 9])
    assert panel.requests[-1] == {"key": KEY, "action": "cancel", "orders": "2,9"}
    assert res[2] is True and isinstance(res[9], OrderNotFound)
    panel.reply('{"4218":{"cancel":"requested"},"4219":{"error":"Cannot cancel"}}')
    res = await client.cancel([4218, 4219])
    assert res[4218] is True and isinstance(res[4219], ActionNotAllowed)
    panel.reply([{"order": 5, "cancel": 0}, {"order": 6, "cancel": "Cannot cancel"}])
    res = await client.cancel([5, 6])
    assert res[5] is False and isinstance(res[6], ActionNotAllowed)


async def test_balance_samples(panel, client):
    panel.reply('{"balance": "100.84292", "currency": "USD"}')
    bal = await client.balance()
    assert bal == Balance(Decimal("100.84292"), "USD") and str(bal.amount) == "100.84292"
    panel.reply('{"status":"success","balance":12.3,"currency":"USD"}')
    assert str((await client.balance()).amount) == "12.3"
    panel.reply({"balance": "7"})
    assert await client.balance() == Balance(Decimal(7), None)
    panel.reply({"balance": "lots"})
    with pytest.raises(ProtocolError):
        await client.balance()
