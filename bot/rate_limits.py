"""Per-user rate limits shared by the chat and the Mini App: a sliding window per (user, action).

`retry_after(user_id, action)` records the attempt when it is allowed and answers None; when the window is
full it answers the seconds to wait (and records nothing). Memory is bounded: at most `max_keys` (user,
action) pairs are kept, the least recently used are dropped first (a dropped user simply starts afresh).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping

# action -> (attempts, window in seconds). Writes (placing, refilling, cancelling) are the scarce ones.
DEFAULT_LIMITS: dict[str, tuple[int, float]] = {
    "order": (10, 60.0),
    "draft": (30, 60.0),
    "refill": (10, 60.0),
    "cancel": (10, 60.0),
    "refresh": (30, 60.0),
    "read": (240, 60.0),
}
FALLBACK = (60, 60.0)


class RateLimits:
    def __init__(
        self,
        limits: Mapping[str, tuple[int, float]] | None = None,
        *,
        max_keys: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self.max_keys = max_keys
        self._clock = clock
        self._hits: OrderedDict[tuple[int, str], deque[float]] = OrderedDict()

    def retry_after(self, user_id: int, action: str) -> float | None:
        """None when allowed (the attempt is counted); else how many seconds until it would be."""
        count, window = self.limits.get(action, FALLBACK)
        now = self._clock()
        key = (user_id, action)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
        else:
            self._hits.move_to_end(key)
        while hits and hits[0] <= now - window:
            hits.popleft()
        if len(hits) >= count:
            return max(0.001, hits[0] + window - now)
        hits.append(now)
        return None

    def __len__(self) -> int:
        return len(self._hits)
