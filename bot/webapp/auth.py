"""Who is asking: Telegram's Mini App `initData`, checked as Telegram documents it.

    data_check_string = "\\n".join(sorted(f"{k}={v}" for every field but `hash`))
    secret_key        = HMAC_SHA256(key="WebAppData", msg=bot_token)
    hash              = hex(HMAC_SHA256(key=secret_key, msg=data_check_string))

The page sends the raw initData string with every API request (`Authorization: tma <initData>`); we check the
hash with compare_digest, refuse an `auth_date` older than the configured age, and take the user from it.
`sign_init_data` makes a valid string with a token we hold (the demo link, the tests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

CLOCK_SKEW = 60.0  # seconds an auth_date may lie in the future (clocks differ a little)


class AuthError(Exception):
    """initData missing, forged or too old; `reason` is a short machine word for logs and metrics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WebAppUser:
    id: int
    first_name: str
    language_code: str | None
    start_param: str | None
    auth_date: int


def _secret(bot_token: str) -> bytes:
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> str:
    return "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")


def compute_hash(fields: dict[str, str], bot_token: str) -> str:
    return hmac.new(_secret(bot_token), _check_string(fields).encode(), hashlib.sha256).hexdigest()


def parse_init_data(raw: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise AuthError("malformed") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise AuthError("malformed")  # a repeated key: which one would the hash cover?
    return fields


def verify_init_data(raw: str, bot_token: str, *, max_age: float, now: float | None = None) -> WebAppUser:
    """The user of a genuine, fresh initData; AuthError otherwise."""
    if not raw:
        raise AuthError("missing")
    fields = parse_init_data(raw)
    given = fields.get("hash", "")
    if not given:
        raise AuthError("missing hash")
    expected = compute_hash(fields, bot_token)
    if not hmac.compare_digest(given.encode("ascii", "replace"), expected.encode()):
        raise AuthError("bad hash")
    try:
        auth_date = int(fields.get("auth_date", ""))
    except ValueError:
        raise AuthError("no auth_date") from None
    now = time.time() if now is None else now
    if auth_date < now - max_age:
        raise AuthError("stale")
    if auth_date > now + CLOCK_SKEW:
        raise AuthError("from the future")
    try:
        user: dict[str, Any] = json.loads(fields.get("user", ""))
        user_id = int(user["id"])
    except (ValueError, TypeError, KeyError):
        raise AuthError("no user") from None
    return WebAppUser(
        id=user_id,
        first_name=str(user.get("first_name") or ""),
        language_code=user.get("language_code"),
        start_param=fields.get("start_param") or None,
        auth_date=auth_date,
    )


def sign_init_data(
    bot_token: str,
    user: dict[str, Any],
    *,
    start_param: str | None = None,
    auth_date: int | None = None,
    query_id: str = "AAHdemo",
) -> str:
    """A genuine initData string for `user` (as Telegram would hand it to the page)."""
    fields = {
        "query_id": query_id,
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(int(time.time()) if auth_date is None else auth_date),
    }
    if start_param:
        fields["start_param"] = start_param
    fields["hash"] = compute_hash(fields, bot_token)
    return urlencode(fields)


def header_init_data(authorization: str | None) -> str:
    """The initData of an `Authorization: tma <initData>` header ("" when absent)."""
    scheme, _, value = (authorization or "").partition(" ")
    return value.strip() if scheme.lower() == "tma" else ""
