"""Per-user limits on expensive actions: each asks a panel (or builds a file) for one person's press.

`deps.rate_limits.retry_after(user_id, action)` is None when the person may act now (and counts the use), or
the seconds to wait. Each (user, action) is a token bucket: `burst` uses at once, then one more every
`interval` seconds. A refused try does not count, so pressing while waiting never lengthens the wait.

Kept in this process's memory: with several instances a person may get up to one bucket per instance. That
is acceptable for its purpose (keeping a panel from being hammered by one person's presses), and it keeps a
press free of a database round trip. Memory is bounded: at most `max_entries` people per action, the least
recently seen dropped first (at worst, a dropped person gets their burst again).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    burst: int  # uses allowed at once
    interval: float  # seconds for one more use


# The actions of the bot and the Mini App. The names are shared: keep them stable.
LIMITS: Mapping[str, Limit] = {
    "catalog_refresh": Limit(1, 20.0),  # a catalog refetch (the Refresh button): thousands of services
    "catalog_fetch": Limit(5, 10.0),  # a catalog fetched as none is cached (inline search, Mini App ...)
    "order_refresh": Limit(3, 10.0),  # one order's status asked again
    "status": Limit(3, 10.0),  # /status <ids>: up to a few multi-status requests
    "balance": Limit(3, 10.0),  # the balance asked of the panel
    "compare": Limit(3, 20.0),  # /compare: every linked panel's catalog
    "mass": Limit(2, 30.0),  # /mass: a list checked against catalog and balance
    "export": Limit(1, 30.0),  # /export: a CSV of the chat's orders
    # The Mini App's API (bot/webapp/request_context.py): writes are the scarce ones.
    "order": Limit(10, 6.0),  # Confirm: places an order
    "draft": Limit(30, 2.0),  # a draft stored for the form's summary
    "refill": Limit(10, 6.0),
    "cancel": Limit(10, 6.0),
    "refresh": Limit(10, 2.0),  # one order's status asked again from the dashboard
    "read": Limit(60, 0.25),  # catalog, search and orders pages: about 240 a minute
    "favourite": Limit(20, 1.0),
}
DEFAULT_LIMIT = Limit(5, 2.0)  # an action without its own line


class RateLimits:
    """Per (user, action), in memory. `limits` overrides or adds actions.

    Each bucket is one float, the "theoretical arrival time" of GCRA (the token bucket written as a time): a
    use is allowed when now >= tat - (burst - 1) * interval, and moves tat on by one interval. At most
    `max_entries` users are kept per action, the least recently seen dropped first.
    """

    def __init__(
        self,
        limits: Mapping[str, Limit] | None = None,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits: dict[str, Limit] = {**LIMITS, **(limits or {})}
        self.max_entries = max(1, max_entries)
        self._clock = clock
        self._tat: dict[str, OrderedDict[int, float]] = {}  # action -> user -> theoretical arrival time

    def limit(self, action: str) -> Limit:
        return self.limits.get(action, DEFAULT_LIMIT)

    def retry_after(self, user_id: int, action: str) -> float | None:
        """None: allowed now, and this use is counted. Otherwise the seconds until it is allowed."""
        limit = self.limit(action)
        now = self._clock()
        users = self._tat.get(action)
        if users is None:
            users = self._tat[action] = OrderedDict()
        tat = max(users.get(user_id, now), now)
        allowed_at = tat - (limit.burst - 1) * limit.interval
        if now < allowed_at:
            return allowed_at - now  # a refused try changes nothing
        users[user_id] = tat + limit.interval
        users.move_to_end(user_id)
        if len(users) > self.max_entries:
            users.popitem(last=False)
        return None

    def undo(self, user_id: int, action: str) -> None:
        """Give back a use that did nothing (the action failed before asking anyone)."""
        users = self._tat.get(action)
        if users is not None and user_id in users:
            users[user_id] -= self.limit(action).interval

    def __len__(self) -> int:
        return sum(len(users) for users in self._tat.values())


def wait_seconds(retry_after: float) -> int:
    """Whole seconds to tell a person (never 0)."""
    return max(1, math.ceil(retry_after))
