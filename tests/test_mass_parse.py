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
    for text in ("", "\n \n", "service|link|quantity\n"):
        with pytest.raises(InputError, match="No order lines found"):
            mass.read_text(text)
    ok = "\n".join(f"1|https://a.com/{i}|100" for i in range(mass.MAX_LINES))
    assert len(mass.read_text("service|link|quantity\n" + ok)) == mass.MAX_LINES
    with pytest.raises(InputError, match="at most 500 orders") as caught:
        mass.read_text(ok + "\n1|https://a.com/last|100")
    assert caught.value.values == {"max": 500}


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
