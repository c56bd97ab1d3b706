"""Benchmark: the cost of rendering within Telegram's rules, side by side with the old naive clip.

Run: `.venv/bin/python tests/bench/render.py`. Prints `name: value` lines.
Inputs: a service card of the panel simulator's catalog (short names, the common case) and one whose name is
5,000 characters with tags, `&` and emoji (the issue's case). For each: microseconds per message of
- `baseline_slice`: the old `clip` (a slice of the HTML source at 4096 characters, which could cut a tag),
- `fit_html`: measuring the parsed length in UTF-16 units and, when over, cutting between tags,
- `card_render`: service_card (which shortens and escapes the panel's texts) + fit_html,
- `validate`: the emulator's own check of the result (parse + length), for scale.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.formatting import esc, fit_html
from bot.i18n import translator
from bot.panel import Service
from bot.sandbox.botapi_rules import validate_message
from handlers.cards import service_card

PIECE = "<b>Followers</b> & <i>likes</i> 😀 <script>x</script> &amp; "
ROUNDS = 2000


def service(name: str, description: str | None) -> Service:
    return Service(
        id=1,
        name=name,
        type="Default",
        category="Instagram Followers",
        rate=Decimal("0.90"),
        min=50,
        max=10000,
        refill=True,
        cancel=False,
        dripfeed=True,
        description=description,
        average_time="2 hours 10 minutes",
    )


def per_op(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Microseconds per call: the best of 3 runs of `rounds` calls."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(rounds):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / rounds * 1e6


def old_clip(text: str, limit: int = 4096) -> str:
    return text if len(text) <= limit else text[: limit - 2] + "\n…"


def main() -> None:
    _ = translator("en")
    cases = {
        "short": service("Instagram Followers [Real | Refill 30D] ♻️", "Start: 0-1 h\nSpeed: 10K/day"),
        "long_name": service("Real " + PIECE * 90, "<p>Good & fast</p><br>" * 100),
    }
    for name, svc in cases.items():
        raw = f"<b>{esc(svc.name)}</b>\n" + esc(svc.description or "")  # what the old card held, unshortened
        card = service_card(_, svc)
        print(f"{name}_source_chars: {len(raw)}")
        print(f"{name}_baseline_slice_us: {per_op(lambda raw=raw: old_clip(raw)):.2f}")
        print(f"{name}_fit_html_us: {per_op(lambda raw=raw: fit_html(raw)):.2f}")
        print(f"{name}_card_render_us: {per_op(lambda svc=svc: fit_html(service_card(_, svc))):.2f}")
        print(f"{name}_validate_us: {per_op(lambda card=card: validate_message(card)):.2f}")
        try:
            validate_message(old_clip(raw))
            print(f"{name}_baseline_accepted: 1")
        except Exception:  # the emulator refuses it, as Telegram does
            print(f"{name}_baseline_accepted: 0")
        validate_message(fit_html(raw))
        print(f"{name}_fit_html_accepted: 1")


if __name__ == "__main__":
    main()
