"""Errors of the panel client: a hierarchy callers can act on.

PanelError
├── InvalidKey
├── NotEnoughFunds
├── BadRequest
│   ├── IncorrectService
│   ├── IncorrectLink
│   ├── QuantityOutOfRange      (.minimum / .maximum when the panel names them)
│   └── DuplicateActiveOrder
├── NotFound
│   ├── OrderNotFound
│   └── RefillNotFound
├── ActionNotAllowed            (refill disabled, order not completed, not eligible, cannot cancel)
├── RateLimited                 (.retry_after)
├── PanelUnavailable            (5xx, HTML/non-JSON, timeout, connection error; .snippet for the log)
│   └── OutcomeUnknown          (a write that may have reached the panel: store it as "unclear")
└── ProtocolError               (JSON that is not the expected shape)

Messages are built by this package, never from request data, so the API key cannot leak through them.
"""

from __future__ import annotations

import re

__all__ = [
    "ActionNotAllowed",
    "BadRequest",
    "DuplicateActiveOrder",
    "IncorrectLink",
    "IncorrectService",
    "InvalidKey",
    "NotEnoughFunds",
    "NotFound",
    "OrderNotFound",
    "OutcomeUnknown",
    "PanelError",
    "PanelUnavailable",
    "ProtocolError",
    "QuantityOutOfRange",
    "RateLimited",
    "RefillNotFound",
    "classify_error",
]


class PanelError(Exception):
    """Base class. `panel_message` is the panel's own text (stripped), when the panel sent one."""

    default_message = "panel error"

    def __init__(self, message: str | None = None, *, panel_message: str | None = None) -> None:
        self.panel_message = panel_message.strip() if isinstance(panel_message, str) else None
        super().__init__(message or self.panel_message or self.default_message)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.default_message


class InvalidKey(PanelError):
    default_message = "invalid API key"


class NotEnoughFunds(PanelError):
    default_message = "not enough funds on balance"


class BadRequest(PanelError):
    default_message = "incorrect request"


class IncorrectService(BadRequest):
    default_message = "incorrect service ID"


class IncorrectLink(BadRequest):
    default_message = "incorrect link"


class QuantityOutOfRange(BadRequest):
    default_message = "quantity out of range"

    def __init__(
        self,
        message: str | None = None,
        *,
        panel_message: str | None = None,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> None:
        super().__init__(message, panel_message=panel_message)
        self.minimum = minimum
        self.maximum = maximum


class DuplicateActiveOrder(BadRequest):
    default_message = "an active order with this link exists"


class NotFound(PanelError):
    default_message = "not found"


class OrderNotFound(NotFound):
    default_message = "incorrect order ID"


class RefillNotFound(NotFound):
    default_message = "refill not found"


class ActionNotAllowed(PanelError):
    default_message = "action not allowed for this order"


class RateLimited(PanelError):
    default_message = "rate limited by the panel"

    def __init__(
        self,
        message: str | None = None,
        *,
        panel_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, panel_message=panel_message)
        self.retry_after = retry_after


class PanelUnavailable(PanelError):
    """The panel could not be reached or did not answer usable JSON.

    `snippet`: the start of the body (scrubbed of the key), for the log. `request_sent`: False when the
    connection failed before anything was sent (connection refused, DNS, connect timeout).
    """

    default_message = "panel unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        panel_message: str | None = None,
        snippet: str | None = None,
        http_status: int | None = None,
        request_sent: bool = True,
    ) -> None:
        super().__init__(message, panel_message=panel_message)
        self.snippet = snippet
        self.http_status = http_status
        self.request_sent = request_sent


class OutcomeUnknown(PanelUnavailable):
    """A write (add/refill/cancel) may have been executed: its answer was lost. Never retry it blindly."""

    default_message = "the request may have reached the panel but the answer was lost"


class ProtocolError(PanelError):
    default_message = "unexpected answer shape"


class AnswerTooLarge(ProtocolError):
    """The answer was longer than the client reads for that action (a read; a write's is OutcomeUnknown)."""

    default_message = "the panel's answer is too large"


class AddressNotAllowed(PanelError):
    """The panel's host is not on the public internet (or resolves to no public address) while the client
    was told to reach public addresses only. Nothing was sent."""

    default_message = "the panel's address is not a public internet address"


def _norm(text: str) -> str:
    # "neworder.error.not_enough_funds" -> "neworder error not enough funds"
    text = re.sub(r"[._\-:!,;'\"()]+", " ", text.lower())
    return re.sub(r"\s+", " ", text).strip()


# (class, patterns on the normalized text). First match wins, so the specific ones come first.
_RULES: list[tuple[type[PanelError], tuple[str, ...]]] = [
    (
        InvalidKey,
        (
            r"\b(invalid|incorrect|wrong|bad|unknown) (api )?key\b",
            r"\bapi key (is )?(invalid|incorrect|wrong|not found|disabled)",
            r"\bapi is disabled? for this user",
            r"\buser not found\b",
            r"\binvalid (api )?token\b",
            r"\bunauthori[sz]ed\b",
            r"\bkey (is )?(invalid|incorrect|wrong|missing|required)",
            r"\binvalid_key\b|\berror invalid key\b",
        ),
    ),
    (
        NotEnoughFunds,
        (
            r"\bnot enough (funds|balance|money)\b",
            r"\binsufficient (funds|balance)\b",
            r"\blow balance\b",
            r"\bbalance (is )?(too low|insufficient|not enough)",
        ),
    ),
    (
        DuplicateActiveOrder,
        (
            r"\bactive order with (this|the same) link\b",
            r"\blink duplicate\b",
            r"\bduplicate (order|link)\b",
            r"\balready (have|has) an? (active|pending) order\b",
        ),
    ),
    (
        QuantityOutOfRange,
        (
            r"\bquantity (is )?(less|lower|smaller|more|greater|higher|bigger|larger) than\b",
            r"\b(min|max|minimum|maximum|minimal|maximal) quantity\b",
            r"\bquantity (is )?(too (small|low|big|high|large)|out of range|not in range)\b",
            r"\b(incorrect|invalid) quantity\b",
            r"\bquantity (must be |should be )?between\b",
        ),
    ),
    (
        IncorrectService,
        (
            r"\b(incorrect|invalid|wrong|unknown|bad) service\b",
            r"\bservice (id )?(does not exists?|doesn t exists?|not found|not exists?)",
            r"\bservice (id )?is not (active|available)",
            r"\bincorrect service id\b",
            r"\bservice (is )?disabled\b",
        ),
    ),
    (
        RefillNotFound,
        (
            r"\brefill (id )?(not found|does not exists?)\b",
            r"\b(incorrect|invalid|wrong) refill\b",
        ),
    ),
    (
        ActionNotAllowed,
        (
            r"\brefill (is )?(disabled|not allowed|not available|unavailable)\b",
            r"\bnot eligible\b",
            r"\bnot (yet )?completed\b",
            r"\b(cannot|can not|can t|unable to) (be )?(cancel|refill)",
            r"\b(cancel|cancellation|cancell?ing) (is )?(disabled|not allowed|not available|unavailable)",
            r"\b(refill|cancel) (is )?not (possible|supported)\b",
            r"\balready (refilled|canceled|cancelled|requested)\b",
        ),
    ),
    (
        OrderNotFound,
        (
            r"\b(incorrect|invalid|wrong|unknown|bad) order\b",
            r"\border (id )?(not found|does not exists?|doesn t exists?)\b",
        ),
    ),
    (
        IncorrectLink,
        (r"\b(incorrect|invalid|wrong|bad) (link|url)\b", r"\berror link\b", r"\blink is invalid\b"),
    ),
    (RateLimited, (r"\btoo many requests\b", r"\brate limit", r"\bslow down\b")),
    (
        BadRequest,
        (
            r"\b(incorrect|invalid|bad) request\b",
            r"\bmissing (parameter|param|field)s?\b",
            r"\bdrip ?feed (is )?(disabled|not (allowed|available|supported))",
        ),
    ),
]


def _quantity_error(raw: str, norm: str, panel_message: str | None) -> QuantityOutOfRange:
    # "Quantity less than minimal 50" / "Quantity more than maximum 10000" / "... between 50 and 10000"
    numbers = [int(n) for n in re.findall(r"\d{1,15}", raw.replace(",", ""))]
    if " between " in f" {norm} " and len(numbers) >= 2:
        return QuantityOutOfRange(panel_message=panel_message, minimum=numbers[0], maximum=numbers[1])
    n = numbers[0] if numbers else None
    if re.search(r"\b(less|lower|smaller|min|minimum|minimal|too (small|low))\b", norm):
        return QuantityOutOfRange(panel_message=panel_message, minimum=n)
    return QuantityOutOfRange(panel_message=panel_message, maximum=n)


def classify_error(text: object) -> PanelError:
    """Turn a panel's error text into the matching PanelError (loosely: case, spaces, translation keys).

    Unknown text gives a plain PanelError carrying the text.
    """
    raw = text if isinstance(text, str) else ("" if text is None else str(text))
    raw = raw.strip()[:500]
    norm = _norm(raw)
    panel_message = raw or None
    for cls, patterns in _RULES:
        if any(re.search(p, norm) for p in patterns):
            if cls is QuantityOutOfRange:
                return _quantity_error(raw, norm, panel_message)
            return cls(panel_message=panel_message)
    return PanelError(panel_message=panel_message)


def refine_by_http_status(err: PanelError, http_status: int) -> PanelError:
    """A generic error text on a telling HTTP status (401/402/404/422/400) becomes that status's class."""
    if type(err) not in (PanelError, BadRequest):
        return err
    cls = {401: InvalidKey, 402: NotEnoughFunds, 404: NotFound, 400: BadRequest}.get(
        http_status, BadRequest if http_status == 422 else None
    )
    return cls(panel_message=err.panel_message) if cls else err
