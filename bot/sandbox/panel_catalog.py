"""Deterministic service catalog for the panel simulator (see panel.py).

Services are kept as plain dicts with typed Python values (int ids, Decimal rates, bool flags); the two wire
dialects ("jap", "smart") are produced by `service_to_wire`.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Every service type of panel-api.md, with the `add` fields it requires and accepts.
TYPE_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Default": (("link", "quantity"), ("runs", "interval")),
    "Package": (("link",), ()),
    "SEO": (("link", "quantity", "keywords"), ()),
    "Custom Comments": (("link", "comments"), ()),
    "Custom Comments Package": (("link", "comments"), ()),
    "Mentions": (("link", "quantity", "usernames"), ()),
    "Mentions with Hashtags": (("link", "quantity", "usernames", "hashtags"), ()),
    "Mentions Custom List": (("link", "usernames"), ()),
    "Mentions Hashtag": (("link", "quantity", "hashtag"), ()),
    "Mentions User Followers": (("link", "quantity", "username"), ()),
    "Mentions Media Likers": (("link", "quantity", "media"), ()),
    "Comment Likes": (("link", "quantity", "username"), ()),
    "Comment Replies": (("link", "username", "comments"), ()),
    "Poll": (("link", "quantity", "answer_number"), ()),
    "Invites from Groups": (("link", "quantity", "groups"), ()),
    "Subscriptions": (("username", "min", "max", "delay"), ("posts", "old_posts", "expiry")),
    "Web Traffic": (
        ("link", "quantity"),
        ("runs", "interval", "country", "device", "type_of_traffic", "google_keyword", "referring_url"),
    ),
}
SERVICE_TYPES: tuple[str, ...] = tuple(TYPE_FIELDS)

# Types whose quantity is the number of lines of a list field instead of a `quantity` parameter.
LINE_QUANTITY_FIELD: dict[str, str] = {
    "Custom Comments": "comments",
    "Custom Comments Package": "comments",
    "Comment Replies": "comments",
    "Mentions Custom List": "usernames",
}
# Packages are sold whole: the charge is the rate itself, not rate x quantity / 1000.
FLAT_PRICE_TYPES = frozenset({"Package", "Custom Comments Package"})

# Currency conversion used when a key's account is not in USD (the catalog's rates are USD).
CURRENCY_FACTORS: dict[str, Decimal] = {
    "USD": Decimal(1),
    "EUR": Decimal("0.92"),
    "RUB": Decimal(90),
    "INR": Decimal(83),
    "TRY": Decimal(32),
    "IRR": Decimal(42000),
}

# The first services, one per type, so that tests find every type among ids 1..20.
# (type, category, name, rate, min, max, refill, cancel, dripfeed, desc)
_FIXED: list[tuple[str, str, str, str, int, int, bool, bool, bool, str | None]] = [
    (
        "Default",
        "Instagram Followers",
        "Instagram Followers [Real | Refill 30D] ♻️",
        "0.90",
        50,
        10000,
        True,
        True,
        True,
        "Start: 0-1 hour<br>Speed: 5K/day<br>Refill: 30 days",
    ),
    (
        "Package",
        "Instagram Likes",
        "Instagram Likes Package — 1000 Likes & 50 Saves",
        "1.50",
        1,
        1,
        False,
        False,
        False,
        None,
    ),
    (
        "SEO",
        "Website Traffic",
        "Google SEO Traffic <Keyword> Search — Worldwide",
        "0.35",
        100,
        100000,
        False,
        False,
        False,
        "Put one keyword per line.",
    ),
    (
        "Custom Comments",
        "Instagram Comments",
        "Instagram Custom Comments 💬 [Max 10K]",
        "12.00",
        5,
        10000,
        False,
        True,
        False,
        "One comment per line.",
    ),
    (
        "Custom Comments Package",
        "YouTube Comments",
        "YouTube Custom Comments Package (5-20 comments)",
        "4.5000",
        5,
        20,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions",
        "Instagram Mentions",
        "Instagram Mentions [Custom usernames]",
        "3.100",
        100,
        50000,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions with Hashtags",
        "Instagram Mentions",
        "Instagram Mentions + Hashtags",
        "3.600",
        100,
        50000,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions Custom List",
        "Instagram Mentions",
        "Instagram Mentions [Custom List]",
        "4.20",
        10,
        10000,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions Hashtag",
        "Instagram Mentions",
        "Instagram Mentions [Hashtag users]",
        "2.95",
        100,
        50000,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions User Followers",
        "Instagram Mentions",
        "Instagram Mentions [User Followers]",
        "2.80",
        100,
        50000,
        False,
        False,
        False,
        None,
    ),
    (
        "Mentions Media Likers",
        "Instagram Mentions",
        "Instagram Mentions [Media Likers]",
        "2.85",
        100,
        50000,
        False,
        False,
        False,
        None,
    ),
    (
        "Comment Likes",
        "Instagram Comments",
        "Instagram Comment Likes ❤️",
        "1.20",
        20,
        20000,
        True,
        False,
        False,
        None,
    ),
    (
        "Comment Replies",
        "YouTube Comments",
        "YouTube Comment Replies [Custom]",
        "15.00",
        5,
        1000,
        False,
        False,
        False,
        None,
    ),
    (
        "Poll",
        "Telegram Poll Votes",
        "Telegram Poll Votes [Any option]",
        "0.4800",
        100,
        100000,
        False,
        True,
        False,
        None,
    ),
    (
        "Invites from Groups",
        "Telegram Members",
        "Telegram Invites from Groups [Real]",
        "6.50",
        100,
        20000,
        False,
        False,
        False,
        None,
    ),
    (
        "Subscriptions",
        "Instagram Auto Likes",
        "Instagram Auto Likes [Future posts] ⚡",
        "0.75",
        50,
        5000,
        False,
        True,
        False,
        "Likes arrive on every new post.",
    ),
    (
        "Web Traffic",
        "Website Traffic",
        "Website Traffic [Google referrer] 🇺🇸",
        "0.0900",
        500,
        1000000,
        False,
        True,
        True,
        None,
    ),
    (
        "Default",
        "TikTok Views",
        "TikTok Views [No refill] [Instant]",
        "0.0125",
        100,
        10000000,
        False,
        False,
        False,
        None,
    ),
    (
        "Default",
        "Telegram Members",
        "Telegram Members [Refill 60D] [Non Drop]",
        "1.85",
        100,
        50000,
        True,
        False,
        False,
        "Start: 0-6 hours<br>Refill: 60 days",
    ),
    (
        "Default",
        "YouTube Views",
        "🔥 YouTube Views [Retention 1-3 min] [Real & Active] [Speed 5K-10K/day] [Lifetime guarantee] "
        "[Start < 1 hour] — suggested, browse features & external sources ✅",
        "2.349",
        500,
        1000000,
        True,
        True,
        True,
        None,
    ),
]

# category -> (noun used in names, [(type, weight)], (min rate, max rate) in USD)
_CATEGORIES: dict[str, tuple[str, list[tuple[str, int]], tuple[float, float]]] = {
    "Instagram Followers": ("Instagram Followers", [("Default", 1)], (0.4, 8.0)),
    "Instagram Likes": ("Instagram Likes", [("Default", 9), ("Package", 1)], (0.05, 3.0)),
    "Instagram Views": ("Instagram Reel Views", [("Default", 1)], (0.002, 0.5)),
    "Instagram Comments": (
        "Instagram Comments",
        [
            ("Custom Comments", 4),
            ("Custom Comments Package", 1),
            ("Comment Likes", 2),
            ("Comment Replies", 1),
        ],
        (1.0, 30.0),
    ),
    "Instagram Mentions": (
        "Instagram Mentions",
        [
            ("Mentions", 2),
            ("Mentions with Hashtags", 1),
            ("Mentions Custom List", 1),
            ("Mentions Hashtag", 1),
            ("Mentions User Followers", 1),
            ("Mentions Media Likers", 1),
        ],
        (1.5, 6.0),
    ),
    "Instagram Auto Likes": ("Instagram Auto Likes", [("Subscriptions", 1)], (0.2, 3.0)),
    "TikTok Views": ("TikTok Views", [("Default", 1)], (0.001, 0.3)),
    "TikTok Followers": ("TikTok Followers", [("Default", 1)], (0.8, 9.0)),
    "TikTok Likes": ("TikTok Likes", [("Default", 1)], (0.1, 2.5)),
    "YouTube Views": ("YouTube Views", [("Default", 1)], (0.6, 6.0)),
    "YouTube Subscribers": ("YouTube Subscribers", [("Default", 1)], (8.0, 60.0)),
    "YouTube Likes": ("YouTube Likes", [("Default", 1)], (0.5, 5.0)),
    "YouTube Comments": ("YouTube Comments", [("Custom Comments", 2), ("Comment Replies", 1)], (5.0, 40.0)),
    "Telegram Members": ("Telegram Members", [("Default", 5), ("Invites from Groups", 1)], (0.5, 12.0)),
    "Telegram Post Views": ("Telegram Post Views", [("Default", 1)], (0.005, 0.4)),
    "Telegram Poll Votes": ("Telegram Poll Votes", [("Poll", 1)], (0.2, 2.0)),
    "Telegram Reactions": ("Telegram Reactions 👍❤️🔥", [("Default", 1)], (0.05, 1.0)),
    "Twitter/X Followers": ("Twitter/X Followers", [("Default", 1)], (2.0, 25.0)),
    "Twitter/X Likes": ("Twitter/X Likes", [("Default", 1)], (0.5, 8.0)),
    "Twitter/X Retweets": ("Twitter/X Retweets", [("Default", 1)], (0.8, 9.0)),
    "Facebook Page Likes": ("Facebook Page Likes & Followers", [("Default", 1)], (1.0, 12.0)),
    "Facebook Post Likes": ("Facebook Post Likes", [("Default", 1)], (0.4, 5.0)),
    "Spotify Plays": ("Spotify Plays", [("Default", 1)], (0.3, 2.0)),
    "Discord Members": ("Discord Members", [("Default", 3), ("Invites from Groups", 1)], (3.0, 20.0)),
    "Website Traffic": ("Website Traffic", [("Web Traffic", 4), ("SEO", 1)], (0.02, 1.5)),
}
_CATEGORY_NAMES = list(_CATEGORIES)
# Weight categories so that most services are plain Default ones, like real catalogs.
_CATEGORY_WEIGHTS = [1 if any(t != "Default" for t, _ in v[1]) else 3 for v in _CATEGORIES.values()]

_QUALITY = ["Real", "HQ", "Premium", "Cheapest", "Bot", "Mixed", "Active", "Non Drop", "Low Drop", "Organic"]
_GEO = ["Worldwide", "USA 🇺🇸", "Brazil 🇧🇷", "India 🇮🇳", "Russia 🇷🇺", "Turkey 🇹🇷", "Europe", "Arab"]
_SPEED = [
    "Instant",
    "Fast",
    "1K/Day",
    "5K/Day",
    "10K/Day",
    "50K/Day",
    "Slow",
    "Start: 0-1 hour",
    "Start < 24H",
]
_EMOJI = ["🔥", "⚡", "⭐", "💎", "🚀", "💯", "✅"]
_MINS = [10, 20, 50, 100, 100, 250, 500, 1000]
_MAXES = [1000, 5000, 10000, 20000, 50000, 100000, 500000, 1000000, 10000000]
_RATE_DECIMALS = [2, 2, 2, 3, 4, 5]
_DESCS = [
    "Start: 0-1 hour<br>Speed: 10K/day<br>Link: profile link",
    "Start time: 0-12 hours\nSpeed: 2K-5K per day\nNo refill & no refund on drops",
    "Please make sure your account is public <b>before</b> ordering.",
    "Real users, gradual delivery. Do not order twice on the same link at once.",
]


def _fmt_max(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}K" if n >= 1000 else str(n)


def generate_catalog(count: int, seed: int) -> list[dict[str, Any]]:
    """Build `count` services; the same (count, seed) always gives the same catalog."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i, (typ, cat, name, rate, mn, mx, refill, cancel, drip, desc) in enumerate(_FIXED[:count], start=1):
        out.append(
            {
                "service": i,
                "name": name,
                "type": typ,
                "category": cat,
                "rate": Decimal(rate),
                "min": mn,
                "max": mx,
                "refill": refill,
                "cancel": cancel,
                "dripfeed": drip,
                "desc": desc,
                "average_time": None,
            }
        )
    for sid in range(len(out) + 1, count + 1):
        cat = rng.choices(_CATEGORY_NAMES, _CATEGORY_WEIGHTS)[0]
        noun, types, (lo, hi) = _CATEGORIES[cat]
        typ = rng.choices([t for t, _ in types], [w for _, w in types])[0]
        decimals = rng.choice(_RATE_DECIMALS)
        price = Decimal(f"{rng.uniform(lo, hi):.{decimals}f}")
        if price <= 0:
            price = Decimal("0.01")
        if typ in FLAT_PRICE_TYPES:
            mn, mx = (1, 1) if typ == "Package" else (rng.choice([5, 10]), rng.choice([20, 50]))
        elif typ in LINE_QUANTITY_FIELD:
            mn, mx = rng.choice([5, 10]), rng.choice([500, 1000, 10000])
        else:
            mn = rng.choice(_MINS)
            mx = rng.choice([m for m in _MAXES if m > mn])
        refill = typ in ("Default", "Comment Likes") and rng.random() < 0.45
        cancel = rng.random() < 0.4
        drip = typ in ("Default", "Web Traffic") and rng.random() < 0.35
        parts = [noun]
        if typ == "Package":
            parts.append(f"Package — {rng.choice([100, 500, 1000, 5000])} pcs")
        elif typ != "Default":
            parts.append(f"[{typ}]")
        parts.append(f"[{rng.choice(_QUALITY)}]")
        if rng.random() < 0.5:
            parts.append(f"[{rng.choice(_GEO)}]")
        parts.append(f"[Max {_fmt_max(mx)}]")
        if rng.random() < 0.6:
            parts.append(f"[{rng.choice(_SPEED)}]")
        if refill:
            parts.append(f"[Refill {rng.choice([7, 30, 60, 90, 365])}D] ♻️")
        roll = rng.random()
        if roll < 0.2:
            parts.insert(0, rng.choice(_EMOJI))
        elif roll < 0.25:  # a few with HTML-special characters
            parts.append("<Cheap & Fast>")
        elif roll < 0.28:  # and a few very long ones
            parts.append("— " + " ".join(rng.choice(_QUALITY) for _ in range(12)) + " & more")
        r2 = rng.random()
        out.append(
            {
                "service": sid,
                "name": " ".join(parts),
                "type": typ,
                "category": cat,
                "rate": price,
                "min": mn,
                "max": mx,
                "refill": refill,
                "cancel": cancel,
                "dripfeed": drip,
                "desc": rng.choice(_DESCS) if r2 < 0.3 else None,
                "average_time": f"{rng.randint(0, 47)} hours {rng.randint(1, 59)} minutes"
                if r2 > 0.8
                else None,
            }
        )
    return out


def rate_in(rate: Decimal, currency: str) -> Decimal:
    """The catalog's USD rate as shown to an account in `currency`."""
    if currency == "USD":
        return rate
    converted = rate * CURRENCY_FACTORS.get(currency, Decimal(1))
    step = Decimal("0.01") if converted >= 1 else Decimal("0.0001")
    return max(converted.quantize(step, ROUND_HALF_UP), step)


def service_to_wire(svc: dict[str, Any], dialect: str, currency: str = "USD") -> dict[str, Any]:
    """One service as the panel's `services` answer writes it."""
    rate = format(rate_in(svc["rate"], currency), "f")
    if dialect == "smart":
        w: dict[str, Any] = {
            "service": str(svc["service"]),
            "name": svc["name"],
            "type": svc["type"],
            "rate": rate,
            "min": svc["min"],
            "max": svc["max"],
            "category": svc["category"],
        }
        # SmartPanel-like panels write flags as "1"/"0" and leave out some false ones.
        for flag in ("refill", "cancel", "dripfeed"):
            if svc[flag]:
                w[flag] = "1"
            elif svc["service"] % 3:
                w[flag] = "0"
        if svc.get("desc"):
            w["description"] = svc["desc"]
        return w
    w = {
        "service": svc["service"],
        "name": svc["name"],
        "type": svc["type"],
        "category": svc["category"],
        "rate": rate,
        "min": str(svc["min"]),
        "max": str(svc["max"]),
        "refill": svc["refill"],
        "cancel": svc["cancel"],
        "dripfeed": svc["dripfeed"],
    }
    if svc.get("desc"):
        w["desc"] = svc["desc"]
    if svc.get("average_time"):
        w["average_time"] = svc["average_time"]
    return w
