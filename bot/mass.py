"""Mass orders: many `service id | link | quantity` lines checked against the catalog, stored as ordinary
drafts (one confirm token each) and placed exactly once each with bounded concurrency. No Telegram here.

A batch has no table of its own: its drafts' confirm tokens are the batch id followed by the line number
(storage/repo/batches.py: batch_token), so the batch is found, placed and reported from the orders table.
Whole-input problems raise ordering.InputError; per-line problems are `Problem`s (English msgid + values).
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import ordering
from bot.alerts import check_balance_after_order
from bot.catalog import Catalog
from bot.formatting import shorten
from bot.i18n import lazy
from bot.ordering import InputError, PlacementResult
from bot.panel import Balance, OutcomeUnknown, Service, fields_for_type
from bot.panels import PanelHub
from storage import repo

log = logging.getLogger(__name__)

MAX_LINES = 500
MAX_FILE_BYTES = 256 * 1024
CONCURRENCY = 4  # `add` calls in flight at once for one batch
FILE_EXTENSIONS = (".txt", ".csv")
# Tab first: a pasted spreadsheet is tab-separated even when a link holds a "|" or ";".
SEPARATORS = ("\t", "|", ";")
CSV_SEPARATORS = (",", ";", "\t", "|")
# The fields a line can express; a type that needs others (comments, usernames, ...) goes through /order.
LINE_FIELDS = frozenset({"link", "quantity"})
VALUE_CHARS = 40  # echoed input is cut to this in problem messages
# Far above any panel's maximum, far below the database's BIGINT: a service without a max still gets a
# clear verdict instead of an overflow.
MAX_QUANTITY = 10**12

P_FIELDS = lazy("expected “service id | link | quantity”")
P_SERVICE_ID = lazy("“{value}” is not a service id")
P_NO_SERVICE = lazy("no service with id {id}")
P_EXTRA_FIELDS = lazy("service {id} ({type}) needs extra fields; use /order")
P_LINK = lazy("“{value}” is not a valid link (a full link starting with https:// is needed)")
P_NO_QUANTITY = lazy("the quantity is missing")
P_QUANTITY = lazy("quantity “{value}” is not a whole number")
P_DIGITS = lazy("quantity “{value}” uses digit signs such as ² or ①; write it with plain digits")
P_TOO_LARGE = lazy("quantity “{value}” is too large")
P_OVER_LIMIT_ONE = lazy("not read: at most {max} orders at once; send it with another /mass")
P_OVER_LIMIT = lazy(
    "not read, nor any line after it up to line {last}: at most {max} orders at once; send them with "
    "another /mass"
)
P_UNREADABLE = lazy("the line could not be read ({reason})")
P_BELOW = lazy("quantity {quantity} is below the minimum {min}")
P_ABOVE = lazy("quantity {quantity} is above the maximum {max}")

_INT = re.compile(r"#?\d{1,15}")
# A file is at most MAX_FILE_BYTES, so a field may be that long: it then gets a verdict of its own (e.g. "not
# a valid link") instead of csv's "field larger than field limit (131072)" for the whole file.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FILE_BYTES))


@dataclass(frozen=True)
class Row:
    """One non-blank input line: its number in the input (1-based) and its fields, stripped."""

    number: int
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Problem:
    number: int
    msgid: str
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """A valid line: what its draft will hold."""

    number: int
    service: Service
    values: dict[str, Any]  # link, and quantity when the type takes one
    price: Decimal | None


@dataclass
class Batch:
    rows: int
    items: list[Item]
    problems: list[Problem]

    @property
    def total(self) -> Decimal:
        return sum((i.price for i in self.items if i.price is not None), Decimal(0))

    @property
    def unpriced(self) -> int:
        return sum(1 for i in self.items if i.price is None)


# ---------------------------------------------------------------------------------------------- reading


def split_fields(line: str) -> list[str]:
    """`1 | https://x | 100`, tabs, `;`; without any of them, whitespace (or commas, as a last resort)."""
    sep = next((s for s in SEPARATORS if s in line), None)
    if sep is not None:
        parts = line.split(sep)
    else:
        parts = line.split()
        if len(parts) == 1 and line.count(",") == 2:
            parts = line.split(",")
    return _trimmed(parts)


def _trimmed(parts: Iterable[str]) -> list[str]:
    kept = [p.strip() for p in parts]
    while kept and not kept[-1]:  # a trailing separator
        kept.pop()
    return kept


def _is_header(fields: list[str]) -> bool:
    """`service|link|quantity` and its translations: no number and no link in it."""
    return bool(fields) and not any(_INT.fullmatch(f) or "://" in f for f in fields)


def _rows(numbered: Iterable[tuple[int, list[str]]]) -> list[Row]:
    rows: list[Row] = []
    first = True
    for number, fields in numbered:
        if not fields:
            continue
        if first and _is_header(fields):
            first = False
            continue
        first = False
        rows.append(Row(number, tuple(fields)))
    if not rows:
        raise InputError(lazy("No order lines found. Send one order per line: service id | link | quantity"))
    return rows


def read_text(text: str) -> list[Row]:
    """The rows of a message (or a .txt file): blank lines and a header line are skipped."""
    return _rows((n, split_fields(line)) for n, line in enumerate(text.splitlines(), 1) if line.strip())


def read_csv(text: str) -> list[Row]:
    """A .csv file: the separator is the commonest candidate of its first line; quoted fields are fine."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    sep = max(CSV_SEPARATORS, key=first.count)
    # A lone "\r" is an old spreadsheet's line break (csv refuses it inside an unquoted field).
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text), delimiter=sep)
    try:
        return _rows((reader.line_num, _trimmed(fields)) for fields in reader)
    except csv.Error:  # a last guard: the fields' size limit is raised above, newlines are normalised
        log.info("unreadable CSV at line %s", reader.line_num, exc_info=True)
        raise InputError(
            lazy("The CSV file could not be read at line {n}. Fix that line and send it again."),
            n=reader.line_num,
        ) from None


def decode(data: bytes) -> str:
    """UTF-8 (a BOM is fine), or UTF-16 with its BOM (spreadsheets' "Unicode text")."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(lazy("The file is not UTF-8 text. Save it as UTF-8 and send it again.")) from None


def check_file(filename: str | None, size: int | None) -> None:
    """Before downloading: a .txt or .csv file of at most MAX_FILE_BYTES."""
    if not (filename or "").lower().endswith(FILE_EXTENSIONS):
        raise InputError(lazy("Send the orders as a .txt or .csv file, or as text."))
    if size is not None and size > MAX_FILE_BYTES:
        raise InputError(lazy("The file is too large: at most {kb} KB."), kb=MAX_FILE_BYTES // 1024)


def read_file(data: bytes, filename: str) -> list[Row]:
    check_file(filename, len(data))
    text = decode(bytes(data))
    return read_csv(text) if filename.lower().endswith(".csv") else read_text(text)


# ---------------------------------------------------------------------------------------------- checking


def line_type_ok(service: Service) -> bool:
    """Whether `link | quantity` is all that the service's type needs."""
    tf = fields_for_type(service.type)
    return tf.quantity_from is None and set(tf.required) <= LINE_FIELDS


def _cut(text: str) -> str:
    return shorten(text, VALUE_CHARS, one_line=True)


def read_quantity(raw: str) -> int | str:
    """A quantity field -> the number, or the msgid of why not. Spaces, commas and underscores between
    digits are thousands separators; any Unicode decimal digit counts (Arabic-Indic "١٠٠" is 100), other
    digit-like characters ("²", "①") and signs, decimals and exponents ("-5", "12.5", "1e3") do not."""
    cleaned = raw.replace(" ", "").replace(",", "").replace("_", "").replace("\u00a0", "")
    if not cleaned:
        return P_NO_QUANTITY
    if not cleaned.isdecimal():
        if all(ch.isdigit() or unicodedata.category(ch) == "No" for ch in cleaned):
            return P_DIGITS
        return P_QUANTITY
    if len(cleaned) > len(str(MAX_QUANTITY)):  # before int(): 5,000 digits would exceed its limit
        return P_TOO_LARGE
    quantity = int(cleaned)
    return P_TOO_LARGE if quantity > MAX_QUANTITY else quantity


def check_row(row: Row, catalog: Catalog) -> Item | Problem:
    fields = row.fields
    if len(fields) not in (2, 3):
        return Problem(row.number, P_FIELDS)
    raw_id = fields[0]
    if not _INT.fullmatch(raw_id):  # \d: any decimal digit, which int() reads
        return Problem(row.number, P_SERVICE_ID, {"value": _cut(raw_id)})
    service = catalog.get(int(raw_id.lstrip("#")))
    if service is None:
        return Problem(row.number, P_NO_SERVICE, {"id": int(raw_id.lstrip("#"))})
    if not line_type_ok(service):
        return Problem(row.number, P_EXTRA_FIELDS, {"id": service.id, "type": _cut(service.type)})
    try:
        values: dict[str, Any] = {"link": ordering.check_link(fields[1])}
    except InputError:
        return Problem(row.number, P_LINK, {"value": _cut(fields[1])})
    if "quantity" in fields_for_type(service.type).required:
        raw = fields[2] if len(fields) == 3 else ""
        if not raw:
            return Problem(row.number, P_NO_QUANTITY)
        quantity = read_quantity(raw)
        if isinstance(quantity, str):
            return Problem(row.number, quantity, {"value": _cut(raw)})
        lo, hi = ordering.count_range(service)
        if quantity < lo:
            return Problem(row.number, P_BELOW, {"quantity": quantity, "min": lo})
        if hi is not None and quantity > hi:
            return Problem(row.number, P_ABOVE, {"quantity": quantity, "max": hi})
        values["quantity"] = quantity
    return Item(row.number, service, values, ordering.price_for(service, values))


def check_rows(rows: list[Row], catalog: Catalog) -> Batch:
    """A verdict for every line: the first MAX_LINES are checked, the rest get one problem saying so."""
    batch = Batch(rows=len(rows), items=[], problems=[])
    for row in rows[:MAX_LINES]:
        try:
            checked = check_row(row, catalog)
        except (ValueError, ArithmeticError) as exc:  # a last guard: one odd line must not sink the rest
            log.warning("mass order line %s could not be checked", row.number, exc_info=True)
            checked = Problem(row.number, P_UNREADABLE, {"reason": type(exc).__name__})
        (batch.items if isinstance(checked, Item) else batch.problems).append(checked)  # type: ignore[arg-type]
    if len(rows) > MAX_LINES:
        first, last = rows[MAX_LINES].number, rows[-1].number
        msgid = P_OVER_LIMIT if last > first else P_OVER_LIMIT_ONE
        batch.problems.append(Problem(first, msgid, {"max": MAX_LINES, "last": last}))
    return batch


# ---------------------------------------------------------------------------------------------- drafts


def line_of(order_token: str) -> int:
    return int(order_token[repo.batches.BATCH_ID_LENGTH :])


async def store(
    sessions: async_sessionmaker[AsyncSession],
    batch: Batch,
    *,
    chat_id: int,
    account_id: int,
    placed_by: int,
    currency: str | None,
) -> str:
    """The valid lines as drafts, one transaction; returns the batch id (for the Confirm button)."""
    batch_id = repo.batches.new_batch_id()
    drafts = [
        {
            "chat_id": chat_id,
            "account_id": account_id,
            "placed_by": placed_by,
            "confirm_token": repo.batches.batch_token(batch_id, item.number),
            "service_id": item.service.id,
            "service_name": item.service.name,
            "service_type": item.service.type,
            "price": item.price if item.price is not None else Decimal(0),
            "currency": currency,
            "refill_allowed": item.service.refill,
            "cancel_allowed": item.service.cancel,
            **ordering.draft_columns(item.service, item.values),
        }
        for item in batch.items
    ]
    async with sessions() as session:
        await repo.batches.create_drafts(session, drafts)
        await session.commit()
    return batch_id


# ---------------------------------------------------------------------------------------------- placing

Progress = Callable[[int, int], Awaitable[None]]


async def place(
    sessions: async_sessionmaker[AsyncSession],
    panels: PanelHub,
    tokens: list[str],
    *,
    chat_id: int,
    concurrency: int = CONCURRENCY,
    progress: Progress | None = None,
) -> dict[str, PlacementResult]:
    """Place each draft through ordering.place_order (its own claim, so each line at most once whoever
    else presses Confirm), `concurrency` at a time; `progress(done, total)` after each line."""
    gate = asyncio.Semaphore(concurrency)
    results: dict[str, PlacementResult] = {}

    async def one(token: str) -> None:
        async with gate:
            try:
                results[token] = await ordering.place_order(
                    sessions, panels, token, chat_id=chat_id, with_balance=False
                )
            except Exception as exc:  # the database failed around the claim: the row says what happened
                log.exception("mass order line %s: placement failed", token)
                results[token] = PlacementResult("unclear", None, OutcomeUnknown(type(exc).__name__))
        if progress is not None:
            try:
                await progress(len(results), len(tokens))
            except Exception:  # progress is cosmetic
                log.debug("progress report failed", exc_info=True)

    await asyncio.gather(*(one(token) for token in tokens))
    return results


async def balance_after(
    sessions: async_sessionmaker[AsyncSession], panels: PanelHub, account: Any
) -> Balance | None:
    """The balance once the batch is done (the lines skip reading it), with the low-balance check; None when
    it cannot be had (the report matters more)."""
    try:
        balance = await ordering.refresh_balance(sessions, panels, account)
        if balance is not None:
            await check_balance_after_order(sessions, account.id, balance)
        return balance
    except Exception:  # e.g. the account was unlinked meanwhile and its key no longer decrypts
        log.warning("no balance after mass order on account %s", getattr(account, "id", "?"), exc_info=True)
        return None


def to_csv(header: list[str], rows: Iterable[Iterable[object]]) -> bytes:
    """A report file; UTF-8 with a BOM so that spreadsheets read non-ASCII text right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")


__all__ = [
    "MAX_FILE_BYTES",
    "MAX_LINES",
    "Batch",
    "Item",
    "Problem",
    "Row",
    "balance_after",
    "check_file",
    "check_row",
    "check_rows",
    "decode",
    "line_of",
    "line_type_ok",
    "place",
    "read_csv",
    "read_file",
    "read_text",
    "split_fields",
    "store",
    "to_csv",
]
