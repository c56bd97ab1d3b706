"""Reading the panel's wire answers: lenient JSON, error objects, Retry-After, and the items of each answer.

Pure functions, no I/O. Item parsers return the parsed value or the PanelError the panel put in that item.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from .errors import PanelError, ProtocolError, classify_error
from .models import OrderStatus, RefillStatus, parse_bool, parse_int, parse_str

T = TypeVar("T")

NO_JSON = object()


def decode_json(text: str) -> Any:
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=lambda _: None)
    except (ValueError, RecursionError):
        pass
    # Sloppy panels print PHP notices before the JSON: take a JSON value that runs to the end of the body.
    if len(text) <= 65536:
        decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=lambda _: None)
        starts = [i for i, c in enumerate(text) if c in "{["][:20]
        for start in starts:
            try:
                value, end = decoder.raw_decode(text, start)
            except (ValueError, RecursionError):
                continue
            if not text[end:].strip() and isinstance(value, dict | list):
                return value
    return NO_JSON


def error_text(obj: Any) -> str | None:
    """The error message of an answer object ({"error": "..."}), or None when it is not an error."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error", obj.get("errors"))
    if err is True:
        err = obj.get("message") or obj.get("msg") or "error"
    if err is None or err is False or err == "":
        # {"status": "error", "message": "..."}; a bare {"status": "Error"} could be an order's status.
        message = obj.get("message") or obj.get("msg")
        if str(obj.get("status", "")).strip().lower() != "error" or not message:
            return None
        err = message
    if isinstance(err, dict):
        err = err.get("message") or err.get("msg") or err.get("text") or err.get("error") or str(err)
    if isinstance(err, list):
        err = "; ".join(str(e) for e in err)
    return str(err)[:500]


def retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())


def field_value(value: Any) -> str:
    """A form value: lists as lines, booleans as 1/0, dates as d/m/Y."""
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")  # Subscriptions' expiry is d/m/Y
    return str(value)


def _item_error(item: Any, value_key: str) -> PanelError | None:
    text = error_text(item)
    if text is None and isinstance(item, dict):
        text = error_text(item.get(value_key))  # {"refill": {"error": "..."}}
    return classify_error(text) if text is not None else None


def status_item(item: Any) -> OrderStatus | PanelError:
    err = _item_error(item, "status")
    if err is not None:
        return err
    if not isinstance(item, dict) or "status" not in item:
        return ProtocolError("status: expected an object with a status")
    return OrderStatus.from_json(item)


def refill_item(item: Any) -> int | PanelError:
    err = _item_error(item, "refill")
    value = item.get("refill", item.get("id")) if isinstance(item, dict) else item
    refill_id = parse_int(value)
    if err is not None or refill_id is not None:
        return err or refill_id  # type: ignore[return-value]
    return ProtocolError("refill: no refill id in the answer")


def refill_status_item(item: Any) -> RefillStatus | PanelError:
    err = _item_error(item, "status")
    status = parse_str(item.get("status") if isinstance(item, dict) else item)
    if err is not None or status is not None:
        return err or RefillStatus(status)  # type: ignore[arg-type]
    return ProtocolError("refill_status: no status in the answer")


def cancel_item(item: Any) -> bool | PanelError:
    err = _item_error(item, "cancel")
    if err is not None:
        return err
    value = item.get("cancel") if isinstance(item, dict) else item
    if value is None or isinstance(value, dict | list):
        return ProtocolError("cancel: no cancel value in the answer")
    if isinstance(value, str) and value.strip().lower() not in ("0", "false", "no", "", "1", "true"):
        guess = classify_error(value)  # {"cancel": "Cannot cancel"} on some panels
        return guess if type(guess) is not PanelError else True  # "requested", "ok", ...
    return parse_bool(value, default=True)


def collect_multi(
    payload: Any, chunk: list[int], id_key: str, parse_item: Callable[[Any], T | PanelError]
) -> dict[int, T | PanelError]:
    """The items of a multi answer for the ids of `chunk`, in either shape: a map {"<id>": item} or a list
    [{"<id_key>": id, ...}]. Ids the panel left out are missing from the result."""
    found: dict[int, T | PanelError] = {}
    wanted = set(chunk)
    if isinstance(payload, dict):
        for key, item in payload.items():
            if (i := parse_int(key)) is not None and i in wanted:
                found[i] = parse_item(item)
        if not found and len(chunk) == 1:
            found[chunk[0]] = parse_item(payload)  # some panels answer the single-id shape
    elif isinstance(payload, list):
        for item in payload:
            if isinstance(item, dict) and (i := parse_int(item.get(id_key))) is not None and i in wanted:
                found[i] = parse_item(item)
    return found
