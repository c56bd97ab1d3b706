"""Mass orders without Telegram: reading lines and files, checking them against a catalog, the drafts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot import mass
from bot.catalog import Catalog
from bot.i18n import translator
from bot.ordering import InputError
from bot.panel import Service
from storage import repo


def service(
    sid: int, type_: str = "Default", rate: str | None = "0.90", lo: int = 50, hi: int = 10000
) -> Service:
    return Service(
        id=sid,
        name=f"Service {sid}",
        type=type_,
        category="Cat",
        rate=None if rate is None else Decimal(rate),
        min=lo,
        max=hi,
        refill=False,
        cancel=False,
        dripfeed=False,
        description=None,
        average_time=None,
    )


CATALOG = Catalog(
    [
        service(1),
        service(2, "Package", "1.50", 1, 1),
        service(3, "Custom Comments", "12.00", 5, 100),
        service(4, "Mentions", "3.10", 100, 50000),
        service(5, "Web Traffic", "0.09", 500, 1000000),
        service(6, rate=None),
    ]
)


def fields(text: str) -> list[tuple[str, ...]]:
    return [row.fields for row in mass.read_text(text)]


def problems(text: str) -> list[str]:
    """The per-line problems as the English UI shows them."""
    _ = translator("en")
    batch = mass.check_rows(mass.read_text(text), CATALOG)
    return [f"line {p.number}: " + _(p.msgid, **p.values) for p in batch.problems]


def test_separators_whitespace_header_and_blank_lines() -> None:
    text = (
        "service | link | quantity\n"
        "\n"
        "1|https://a.com/x|100\n"
        "  1 ;  https://a.com/y ; 200  \n"
        "1\thttps://a.com/z|w\t300\n"  # tabs win: the "|" stays inside the link
        "1 https://a.com/v 400\n"
        "1|https://a.com/u|500|\n"  # a trailing separator
        "   \n"
        "#1 | https://a.com/t | 1,000\r\n"
    )
    rows = mass.read_text(text)
    assert [r.number for r in rows] == [3, 4, 5, 6, 7, 9]
    assert [r.fields for r in rows] == [
        ("1", "https://a.com/x", "100"),
        ("1", "https://a.com/y", "200"),
        ("1", "https://a.com/z|w", "300"),
        ("1", "https://a.com/v", "400"),
        ("1", "https://a.com/u", "500"),
        ("#1", "https://a.com/t", "1,000"),
    ]
    batch = mass.check_rows(rows, CATALOG)
    assert batch.problems == [] and [i.values["quantity"] for i in batch.items] == [
        100,
        200,
        300,
        400,
        500,
        1000,
    ]
    assert batch.total == Decimal("0.90") * 2500 / 1000 == Decimal("2.25")


def test_only_the_first_line_can_be_a_header() -> None:
    assert fields("Servis;Bağlantı;Miktar\n1;https://a.com;100") == [("1", "https://a.com", "100")]
    assert problems("1|https://a.com|100\nservice|link|quantity") == ["line 2: “service” is not a service id"]


def test_whole_input_refusals() -> None:
    for text in ("", "\n \n", "service|link|quantity\n", "| | |\n;;\n"):
        with pytest.raises(InputError, match="No order lines found"):
            mass.read_text(text)


def test_lines_over_the_limit_get_one_verdict_for_the_rest() -> None:
    ok = "\n".join(f"1|https://a.com/{i}|100" for i in range(mass.MAX_LINES))
    batch = mass.check_rows(mass.read_text("service|link|quantity\n" + ok), CATALOG)
    assert len(batch.items) == mass.MAX_LINES and batch.problems == []
    many = "\n".join(f"1|https://a.com/{i}|100" for i in range(10_000))
    batch = mass.check_rows(mass.read_text(many), CATALOG)
    assert batch.rows == 10_000 and len(batch.items) == mass.MAX_LINES
    assert [(p.number, p.values) for p in batch.problems] == [(501, {"max": 500, "last": 10_000})]
    assert problems(many) == [
        "line 501: not read, nor any line after it up to line 10000: at most 500 orders at once; "
        "send them with another /mass"
    ]


def test_per_line_problems() -> None:
    text = "\n".join(
        [
            "1|https://a.com/ok|100",
            "99|https://a.com|100",
            "abc|https://a.com|100",
            "1|instagram.com/x|100",
            "1|https://a.com|10",
            "1|https://a.com|20000",
            "1|https://a.com|12.5",
            "1|https://a.com",
            "3|https://a.com|10",
            "4|https://a.com|100",
            "1|https://a.com|100|extra",
            "just-one-field",
        ]
    )
    assert problems(text) == [
        "line 2: no service with id 99",
        "line 3: “abc” is not a service id",
        "line 4: “instagram.com/x” is not a valid link (a full link starting with https:// is needed)",
        "line 5: quantity 10 is below the minimum 50",
        "line 6: quantity 20000 is above the maximum 10000",
        "line 7: quantity “12.5” is not a whole number",
        "line 8: the quantity is missing",
        "line 9: service 3 (Custom Comments) needs extra fields; use /order",
        "line 10: service 4 (Mentions) needs extra fields; use /order",
        "line 11: expected “service id | link | quantity”",
        "line 12: expected “service id | link | quantity”",
    ]


def test_quantities_of_any_shape_get_a_verdict() -> None:
    lines = [
        "1|https://a.com|²",
        "1|https://a.com|1²",
        "1|https://a.com|①⓪⓪",
        "1|https://a.com|" + "9" * 5000,
        f"1|https://a.com|{2**63}",
        f"6|https://a.com|{2**63 + 1}",  # service 6 has a max, but the size is judged first
        "1|https://a.com|-100",
        "1|https://a.com|1e3",
        "1|https://a.com|1.000",
        "1|https://a.com|١٠٠",  # Arabic-Indic digits are decimal digits: 100
        "1|https://a.com|1 000",
        "1|https://a.com|1_000",
        "٢|https://a.com|100",  # the service id too
        "1|https://a.com|" + "😀" * 100,
    ]
    assert problems("\n".join(lines)) == [
        "line 1: quantity “²” uses digit signs such as ² or ①; write it with plain digits",
        "line 2: quantity “1²” uses digit signs such as ² or ①; write it with plain digits",
        "line 3: quantity “①⓪⓪” uses digit signs such as ² or ①; write it with plain digits",
        f"line 4: quantity “{'9' * 39}…” is too large",
        f"line 5: quantity “{2**63}” is too large",
        f"line 6: quantity “{2**63 + 1}” is too large",
        "line 7: quantity “-100” is not a whole number",
        "line 8: quantity “1e3” is not a whole number",
        "line 9: quantity “1.000” is not a whole number",
        "line 14: quantity “" + "😀" * 19 + "…” is not a whole number",  # cut to 40 UTF-16 units
    ]
    items = mass.check_rows(mass.read_text("\n".join(lines)), CATALOG).items
    assert [(i.number, i.service.id, i.values.get("quantity")) for i in items] == [
        (10, 1, 100),
        (11, 1, 1000),
        (12, 1, 1000),
        (13, 2, None),  # a package: no quantity
    ]


def test_types_a_line_can_express_and_prices() -> None:
    batch = mass.check_rows(
        mass.read_text("2|https://a.com/p\n5|https://a.com/w|1000\n6|https://a.com/n|100"), CATALOG
    )
    assert batch.problems == []
    package, traffic, unpriced = batch.items
    assert package.values == {"link": "https://a.com/p"} and package.price == Decimal("1.50")
    assert traffic.price == Decimal("0.09000") and unpriced.price is None
    assert batch.total == Decimal("1.59") and batch.unpriced == 1


def test_csv_file_with_bom_quotes_and_commas() -> None:
    data = '\ufeffservice,link,quantity\r\n1,"https://a.com/x?a=1,2",100\r\n\r\n1,https://a.com/y,200\r\n'
    rows = mass.read_file(data.encode("utf-8"), "orders.CSV")
    assert [(r.number, r.fields) for r in rows] == [
        (2, ("1", "https://a.com/x?a=1,2", "100")),
        (4, ("1", "https://a.com/y", "200")),
    ]
    semicolons = mass.read_file("1;https://a.com/x;100\n".encode("utf-8-sig"), "x.csv")
    assert semicolons[0].fields == ("1", "https://a.com/x", "100")
    txt = mass.read_file("\ufeff1|https://a.com/x|100\n".encode(), "x.txt")
    assert txt[0].fields == ("1", "https://a.com/x", "100")
    utf16 = mass.read_file("1\thttps://a.com/x\t100\r\n".encode("utf-16"), "x.txt")
    assert utf16[0].fields == ("1", "https://a.com/x", "100")


def test_file_refusals() -> None:
    with pytest.raises(InputError, match=r"\.txt or \.csv"):
        mass.check_file("orders.xlsx", 10)
    with pytest.raises(InputError, match="too large"):
        mass.check_file("orders.txt", mass.MAX_FILE_BYTES + 1)
    with pytest.raises(InputError, match="not UTF-8"):
        mass.read_file(b"1|https://a.com/\xff|100", "x.txt")


def test_a_csv_field_over_128_kib_is_a_line_problem_not_a_crash() -> None:
    long_link = "https://a.com/" + "x" * (130 * 1024)
    data = f"service,link,quantity\n1,{long_link},100\n1,https://a.com/ok,100\n".encode()
    rows = mass.read_file(data, "orders.csv")
    batch = mass.check_rows(rows, CATALOG)
    assert [i.number for i in batch.items] == [3]
    assert [(p.number, p.msgid) for p in batch.problems] == [(2, mass.P_LINK)]
    old_mac = mass.read_file(b"1,https://a.com/x,100\r1,https://a.com/y,200\r", "x.csv")
    assert [r.fields for r in old_mac] == [("1", "https://a.com/x", "100"), ("1", "https://a.com/y", "200")]


def test_report_csv() -> None:
    data = mass.to_csv(["line", "error"], [[1, None], [2, "a, b"]])
    assert data.decode("utf-8-sig").splitlines() == ["line,error", "1,", '2,"a, b"']


async def test_batch_drafts_in_storage(session: AsyncSession) -> None:
    await repo.chats.get_or_create_chat(session, 7)
    await repo.chats.get_or_create_chat(session, 8)
    account = await repo.accounts.add_account(session, 7, "https://p/api/v2", "enc", "fp")
    assert account.id is not None
    batch = mass.check_rows(mass.read_text("x|y|z\n1|https://a.com/a|100\n1|https://a.com/b|200"), CATALOG)
    batch_id = repo.batches.new_batch_id()
    other = batch_id[:-1] + ("A" if batch_id[-1] != "A" else "B")
    drafts = [
        {
            "chat_id": 7,
            "account_id": account.id,
            "placed_by": 7,
            "confirm_token": repo.batches.batch_token(bid, item.number),
            "service_id": 1,
            "price": item.price,
            **item.values,
        }
        for bid in (batch_id, other)
        for item in batch.items
    ]
    await repo.batches.create_drafts(session, drafts)
    await session.commit()
    rows = await repo.batches.batch_orders(session, batch_id, 7)
    assert [mass.line_of(o.confirm_token) for o in rows] == [2, 3] and [o.quantity for o in rows] == [
        100,
        200,
    ]
    assert await repo.batches.batch_orders(session, batch_id, 8) == []
    assert (
        await repo.batches.batch_orders(session, batch_id.lower() if batch_id.lower() != batch_id else "", 7)
        == []
    )
    claimed = await repo.orders.claim_draft_for_sending(session, rows[0].confirm_token, 7)
    assert claimed is not None
    assert await repo.batches.discard_batch(session, batch_id, 7) == 1  # the claimed line stays
    await session.commit()
    assert [o.placement for o in await repo.batches.batch_orders(session, batch_id, 7)] == ["sending"]
    assert len(await repo.batches.batch_orders(session, other, 7)) == 2
