"""A chat's orders as CSV: the date range of `/export`, one row per order, the file built batch by batch.

No Telegram here: handlers/export.py reads the batches from the database and sends the bytes.

Encoding: UTF-8 with a byte order mark. Excel (the spreadsheet most panel resellers open a CSV with) reads a
CSV without a BOM in the legacy code page of the machine, which mangles Turkish letters, emoji and dashes in
service names; with the BOM it reads UTF-8. LibreOffice, Google Sheets, pandas and Python's csv module
(encoding "utf-8-sig") all accept the BOM. Fields are comma-separated with "\\r\\n" line ends (RFC 4180) and
amounts use a dot: the file is data for any tool, not laid out for one locale's Excel.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from bot.panel import display_url

# Column names are stable identifiers for spreadsheets and scripts, not prose: they are not translated.
COLUMNS = (
    "created_at",
    "panel_order_id",
    "placement",
    "status",
    "service_id",
    "service_name",
    "link",
    "quantity",
    "price",
    "charge",
    "currency",
    "start_count",
    "remains",
    "placed_by",
    "panel",
)
MAX_ROWS = 100_000
# Telegram takes documents up to 50 MB from bots: stop short of it (a row is a few hundred bytes).
MAX_BYTES = 45 * 1024 * 1024
MAX_DAYS = 3660

_DAYS = re.compile(r"^(\d{1,4})d$", re.IGNORECASE)
# Spreadsheets run a cell that starts with one of these as a formula (CSV injection): links and names come
# from users and panels, so such text cells get a leading apostrophe, which Excel shows as plain text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class ExportRange:
    """Orders created in [since, until) (UTC); None leaves that side open."""

    since: datetime | None = None
    until: datetime | None = None
    first_day: date | None = None  # as the user gave it, for the file name
    last_day: date | None = None


def parse_range(args: Iterable[str], now: datetime | None = None) -> ExportRange:
    """`` (everything), `7d` (the last 7 days), `2026-11-01` (from that day on), `2026-11-01 2026-11-30`
    (both days included). Raises ValueError on anything else."""
    words = [a for a in args if a.strip()]
    now = now or datetime.now(UTC)
    if not words:
        return ExportRange()
    if len(words) == 1 and (match := _DAYS.match(words[0])):
        days = int(match.group(1))
        if not 1 <= days <= MAX_DAYS:
            raise ValueError(f"days out of range: {days}")
        since = now - timedelta(days=days)
        return ExportRange(since=since, first_day=since.date(), last_day=now.date())
    if len(words) > 2:
        raise ValueError("too many arguments")
    days = [date.fromisoformat(w) for w in words if re.fullmatch(r"\d{4}-\d{2}-\d{2}", w)]
    if len(days) != len(words):
        raise ValueError(f"not a date: {words}")
    first = days[0]
    since = datetime.combine(first, time(), tzinfo=UTC)
    if len(days) == 1:
        return ExportRange(since=since, first_day=first)
    last = days[1]
    if last < first:
        raise ValueError("the range ends before it starts")
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=UTC)
    return ExportRange(since=since, until=until, first_day=first, last_day=last)


def amount(value: Decimal | None) -> str:
    """The exact decimal, never through float and never in exponent form (1E-7 -> 0.0000001)."""
    return "" if value is None else format(value, "f")


def cell(value: str | None) -> str:
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_START) else text


def integer(value: int | None) -> str:
    return "" if value is None else str(value)


def panel_host(url: str) -> str:
    return urlsplit(display_url(url)).netloc or url  # never a `user:pass@` part


def order_row(order: Any) -> list[str]:
    """One row from anything with the order's fields and `panel_url` (a row of repo.orders.EXPORT_COLUMNS)."""
    created = order.created_at.astimezone(UTC).isoformat(timespec="seconds")
    return [
        created,
        integer(order.panel_order_id),
        str(order.placement),
        cell(order.status),
        integer(order.service_id),
        cell(order.service_name),
        cell(order.link),
        integer(order.quantity),
        amount(order.price),
        amount(order.charge),
        cell(order.currency),
        integer(order.start_count),
        integer(order.remains),
        integer(order.placed_by),
        cell(panel_host(order.panel_url)),
    ]


class CsvBuilder:
    """Rows go in batch by batch; `truncated` says that MAX_ROWS or MAX_BYTES was reached (the rest is left
    out)."""

    def __init__(self, max_rows: int = MAX_ROWS, max_bytes: int = MAX_BYTES) -> None:
        self._out = io.BytesIO()
        self._out.write("\ufeff".encode())  # the BOM
        self._line = io.StringIO()  # one row at a time, to know its size before it goes in
        self._writer = csv.writer(self._line)
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self.rows = 0
        self.truncated = False
        self.first: datetime | None = None
        self.last: datetime | None = None
        self._write(list(COLUMNS))

    def _write(self, row: list[str]) -> int:
        line = self._line
        line.seek(0)
        line.truncate()
        self._writer.writerow(row)
        data = line.getvalue().encode()
        if self._out.tell() + len(data) > self._max_bytes:
            return 0
        return self._out.write(data)

    def add(self, batch: Iterable[Any]) -> None:
        for order in batch:
            if self.rows >= self._max_rows or not self._write(order_row(order)):
                self.truncated = True
                return
            self.rows += 1
            self.first = self.first or order.created_at
            self.last = order.created_at

    def content(self) -> bytes:
        return self._out.getvalue()


def filename(chat_id: int, span: ExportRange, first: datetime | None, last: datetime | None) -> str:
    """orders-<chat>-<from>-<to>.csv: the asked range, else the days of the first and last order."""
    start = span.first_day or (first.date() if first else None)
    end = span.last_day or (last.date() if last else None)
    chat = str(abs(chat_id))
    return f"orders-{chat}-{start.isoformat() if start else 'start'}-{end.isoformat() if end else 'now'}.csv"
