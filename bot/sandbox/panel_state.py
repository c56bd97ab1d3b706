"""The panel simulator's data: fault knobs, simulated clock, orders, refills, error wording, parsing helpers.

Kept apart from `bot.sandbox.panel` (which re-exports the public names) so the simulator and its actions
share them without importing each other.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.sandbox.panel import PanelSimulator

CENT5 = Decimal("0.00001")
MAX_IDS = 100
FIRST_ORDER_ID = 23501
FIRST_REFILL_ID = 1
SUBSCRIPTION_DELAYS = frozenset(
    {0, 5, 10, 15, 20, 30, 40, 50, 60, 90, 120, 150, 180, 240, 300, 360, 480, 600}
)
FINAL = frozenset({"Completed", "Partial", "Canceled"})

# Error wording. The smart dialect swaps some texts for translation keys, as SmartPanel-like panels do.
E_KEY = "Invalid API key"
E_REQUEST = "Incorrect request"
E_SERVICE = "Incorrect service ID"
E_LINK = "Incorrect link"
E_FUNDS = "Not enough funds on balance"
E_MIN = "Quantity less than minimal {}"
E_MAX = "Quantity more than maximum {}"
E_DUPLICATE = "You have active order with this link. Please wait until order being completed."
E_ORDER = "Incorrect order ID"
E_REFILL_NOT_FOUND = "Refill not found"
E_REFILL_DISABLED = "Refill is disabled for this service"
E_NOT_COMPLETED = "The order is not completed"
E_REFILL_ACTIVE = "Order not eligible for refill."
E_CANCEL_DISABLED = "Cancel is disabled for this service"
E_CANNOT_CANCEL = "Cannot cancel"
E_DRIPFEED = "Drip-feed is disabled for this service"
SMART_ERRORS = {
    E_KEY: "API is Disable for this user or User Not Found! Contact the Support ",
    E_SERVICE: "error.incorrect_service_id",
    E_LINK: "neworder.error.link",
    E_FUNDS: "neworder.error.not_enough_funds",
    E_MIN: "neworder.error.min_quantity",
    E_MAX: "neworder.error.max_quantity",
    E_DUPLICATE: "neworder.error.link_duplicate",
}

URL_RE = re.compile(r"^(https?://)?([A-Za-z0-9-]+\.)+[A-Za-z]{2,}(:\d+)?(/\S*)?$")
USERNAME_RE = re.compile(r"^@?[A-Za-z0-9_.]{2,64}$")
URL_ONLY_TYPES = frozenset({"SEO", "Web Traffic"})
NO_LINK_TYPES = frozenset({"Subscriptions"})


@dataclass
class Faults:
    """Fault knobs; mutable at runtime (the simulator reads them on every request)."""

    latency: float = 0.0
    error_rate: float = 0.0
    html_rate: float = 0.0
    rate_limit_rate: float = 0.0
    malformed_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    # Actions that always hang AFTER processing: the request reached the panel, the answer is late.
    hang_actions: set[str] = field(default_factory=set)
    # action -> "502" | "html" | "429" | "malformed": that action always fails that way, before processing.
    fail_actions: dict[str, str] = field(default_factory=dict)
    # > 0: texts this long where panels send short words: the status and currency of `status` answers (of
    # the orders in `long_text_orders`; every order when it is empty), the currency of `add` answers, the
    # type of every service, and every error text. Padded with " xxx…" after the real word.
    long_text: int = 0
    long_text_orders: set[int] = field(default_factory=set)
    seed: int = 0


class SimClock:
    """Simulated time in epoch seconds. Follows real time plus what `advance` added, unless `frozen`."""

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._base = time.time() if start is None else start
        self._mono = time.monotonic()
        self._offset = 0.0
        self.frozen = frozen

    def now(self) -> float:
        real = 0.0 if self.frozen else time.monotonic() - self._mono
        return self._base + real + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass
class SimOrder:
    id: int
    key: str
    service_id: int
    service_type: str
    link: str
    quantity: int  # per run for drip-feed orders
    fields: dict[str, str]
    charge: Decimal
    currency: str
    created_at: float
    runs: int = 1
    interval: int = 0
    partial_at: float | None = None  # fraction of delivery after which the order stops as Partial
    start_base: int = 0
    canceled_at: float | None = None
    canceled_remains: int = 0
    refunded: Decimal = Decimal(0)
    forced_status: str | None = None
    forced_remains: int | None = None
    sim: PanelSimulator | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        return self.quantity * self.runs

    def _state(self) -> tuple[str, int, int | None]:
        assert self.sim is not None
        return self.sim._order_state(self, self.sim.clock.now())

    @property
    def status(self) -> str:
        return self._state()[0]

    @property
    def remains(self) -> int:
        return self._state()[1]

    @property
    def start_count(self) -> int | None:
        return self._state()[2]


@dataclass
class SimRefill:
    id: int
    key: str
    order_id: int
    created_at: float
    rejected: bool = False
    forced_status: str | None = None
    sim: PanelSimulator | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        assert self.sim is not None
        return self.sim._refill_state(self, self.sim.clock.now())


@dataclass
class SimAccount:
    balance: Decimal
    currency: str


class SimPanelError(Exception):
    def __init__(self, text: str, *args: object) -> None:
        super().__init__(text)
        self.text = text
        self.args_ = args


def money_text(d: Decimal) -> str:
    """Charge as panels print it: up to 5 decimals, trailing zeros dropped down to 2 ("0.14", "0.27819")."""
    s = format(d.quantize(CENT5, ROUND_HALF_UP), "f")
    while s.endswith("0") and len(s.split(".")[1]) > 2:
        s = s[:-1]
    return s


def int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def split_lines(value: str | None) -> list[str]:
    return [ln.strip() for ln in (value or "").splitlines() if ln.strip()]


def id_list(value: str) -> list[str]:
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)
