"""Pure parsing: error texts, tolerant values, statuses, the service-type field table."""

from decimal import Decimal

import pytest

from bot.panel import (
    SERVICE_TYPE_FIELDS,
    ActionNotAllowed,
    BadRequest,
    DuplicateActiveOrder,
    IncorrectLink,
    IncorrectService,
    InvalidKey,
    NotEnoughFunds,
    NotFound,
    OrderNotFound,
    OrderStatus,
    OutcomeUnknown,
    PanelError,
    PanelUnavailable,
    QuantityOutOfRange,
    RateLimited,
    RefillNotFound,
    RefillStatus,
    Service,
    classify_error,
    fields_for_type,
    is_final_status,
    normalize_status,
)
from bot.panel.errors import refine_by_http_status
from bot.panel.models import parse_bool, parse_decimal, parse_int

ERROR_TEXTS = [
    ("Invalid API key", InvalidKey),
    ("Incorrect request", BadRequest),
    ("Incorrect service ID", IncorrectService),
    ("Incorrect order ID", OrderNotFound),
    ("Incorrect link", IncorrectLink),
    ("Not enough funds on balance", NotEnoughFunds),
    ("Quantity less than minimal 50", QuantityOutOfRange),
    ("Quantity more than maximum 10000", QuantityOutOfRange),
    ("You have active order with this link. Please wait until order being completed.", DuplicateActiveOrder),
    ("Refill not found", RefillNotFound),
    ("Refill is disabled for this service", ActionNotAllowed),
    ("The order is not completed", ActionNotAllowed),
    ("Order not eligible for refill.", ActionNotAllowed),
    ("Cannot cancel", ActionNotAllowed),
    ("neworder.error.not_enough_funds", NotEnoughFunds),
    ("neworder.error.link", IncorrectLink),
    ("neworder.error.min_quantity", QuantityOutOfRange),
    ("neworder.error.max_quantity", QuantityOutOfRange),
    ("neworder.error.link_duplicate", DuplicateActiveOrder),
    ("error.incorrect_service_id", IncorrectService),
    ("API is Disable for this user or User Not Found! Contact the Support ", InvalidKey),
    ("Service ID does not exists ", IncorrectService),
    ("Too many requests", RateLimited),
    ("  INVALID api KEY  ", InvalidKey),
]


@pytest.mark.parametrize(("text", "cls"), ERROR_TEXTS)
def test_classify_every_documented_text(text, cls):
    err = classify_error(text)
    assert type(err) is cls
    assert err.panel_message == text.strip()
    assert str(err) == text.strip()


def test_quantity_bounds_parsed():
    low = classify_error("Quantity less than minimal 50")
    high = classify_error("Quantity more than maximum 10000")
    both = classify_error("Quantity must be between 100 and 5,000")
    assert (low.minimum, low.maximum) == (50, None)
    assert (high.minimum, high.maximum) == (None, 10000)
    assert (both.minimum, both.maximum) == (100, 5000)
    assert classify_error("neworder.error.min_quantity").minimum is None


def test_unknown_text_keeps_the_panel_text():
    err = classify_error("  Service under maintenance, try later ")
    assert type(err) is PanelError
    assert err.panel_message == "Service under maintenance, try later"
    assert type(classify_error("")) is PanelError
    assert type(classify_error(None)) is PanelError


def test_hierarchy():
    assert issubclass(IncorrectService, BadRequest) and issubclass(QuantityOutOfRange, BadRequest)
    assert issubclass(DuplicateActiveOrder, BadRequest) and issubclass(IncorrectLink, BadRequest)
    assert issubclass(OrderNotFound, NotFound) and issubclass(RefillNotFound, NotFound)
    assert issubclass(OutcomeUnknown, PanelUnavailable)
    assert RateLimited(retry_after=3).retry_after == 3


def test_refine_by_http_status():
    assert type(refine_by_http_status(PanelError(panel_message="nope"), 401)) is InvalidKey
    assert type(refine_by_http_status(PanelError(panel_message="nope"), 402)) is NotEnoughFunds
    assert type(refine_by_http_status(PanelError(panel_message="nope"), 404)) is NotFound
    assert type(refine_by_http_status(PanelError(panel_message="nope"), 422)) is BadRequest
    assert type(refine_by_http_status(OrderNotFound(), 422)) is OrderNotFound


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1),
        ("1", 1),
        (" 50 ", 50),
        ("10,000", 10000),
        (Decimal("3.0"), 3),
        ("3572.00", 3572),
        (7.0, 7),
        (None, None),
        ("many", None),
        (True, None),
        ("", None),
        ({}, None),
        ("1.5", None),
        ("9" * 40, None),
        (Decimal("1e999999999"), None),
        (2**70, None),
    ],
)
def test_parse_int(raw, expected):
    assert parse_int(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0.90", Decimal("0.90")),
        (Decimal("12.3"), Decimal("12.3")),
        (5, Decimal(5)),
        (" 1,234.50 ", Decimal("1234.50")),
        ("1,234.50", Decimal("1234.50")),
        ("0,27", Decimal("0.27")),
        ("$5.00", Decimal("5.00")),
        ("abc", None),
        (None, None),
        (True, None),
        ("NaN", None),
        (Decimal("Infinity"), None),
        ("1e999999", None),
        (Decimal("1e99999"), None),
        ("100.84292", Decimal("100.84292")),
    ],
)
def test_parse_decimal(raw, expected):
    got = parse_decimal(raw)
    assert got == expected
    if expected is not None:
        assert str(got) == str(expected)  # the text's digits, not a float's


def test_parse_decimal_never_goes_through_float():
    assert str(parse_decimal("0.27819")) == "0.27819"
    # A float someone decoded without parse_float: its shortest repr, not 0.1000000000000000055...
    assert str(parse_decimal(0.1)) == "0.1"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        ("1", True),
        ("0", False),
        ("true", True),
        ("False", False),
        (None, False),
        ("maybe", False),
        ([], False),
    ],
)
def test_parse_bool(raw, expected):
    assert parse_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "normalized", "final"),
    [
        ("Pending", "Pending", False),
        ("In progress", "In progress", False),
        ("in_progress", "In progress", False),
        ("Processing", "Processing", False),
        ("completed", "Completed", True),
        ("PARTIAL", "Partial", True),
        ("Canceled", "Canceled", True),
        ("Cancelled", "Canceled", True),
        ("refunded", "Refunded", True),
        ("Failed", "Failed", True),
        ("Compeleted", "Completed", True),
        ("Queued somewhere", "Queued somewhere", False),
        ("", "", False),
    ],
)
def test_order_statuses(raw, normalized, final):
    assert normalize_status(raw) == normalized
    assert is_final_status(raw) is final
    st = OrderStatus(raw)
    assert st.normalized == normalized and st.is_final is final


@pytest.mark.parametrize(
    ("raw", "final"),
    [("Completed", True), ("rejected", True), ("Rejeted", True), ("Pending", False), ("In progress", False)],
)
def test_refill_statuses(raw, final):
    assert RefillStatus(raw).is_final is final


def test_service_quirks():
    s = Service.from_json(
        {"service": "7", "name": " Likes ", "rate": Decimal("0.90"), "min": "50", "max": 10}
    )
    assert s == Service(7, "Likes", "Default", "", Decimal("0.90"), 50, 10, False, False, False, None, None)
    odd = Service.from_json({"service": 8, "rate": "cheap", "min": "many", "refill": "1", "desc": "d"})
    assert (odd.rate, odd.min, odd.refill, odd.description) == (None, None, True, "d")
    assert Service.from_json({"name": "no id"}) is None
    assert Service.from_json("nonsense") is None


def test_type_fields_table_covers_every_documented_type():
    documented = [
        "Default", "Package", "SEO", "Custom Comments", "Custom Comments Package", "Mentions",
        "Mentions with Hashtags", "Mentions Custom List", "Mentions Hashtag", "Mentions User Followers",
        "Mentions Media Likers", "Comment Likes", "Comment Replies", "Poll", "Invites from Groups",
        "Subscriptions", "Web Traffic",
    ]  # fmt: skip
    assert set(documented) == set(SERVICE_TYPE_FIELDS)
    assert fields_for_type("custom comments").quantity_from_comments
    assert fields_for_type("CUSTOM_COMMENTS_PACKAGE").required == ("link", "comments")
    assert fields_for_type("Subscriptions").required == ("username", "min", "max", "delay")
    assert "expiry" in fields_for_type("subscriptions").optional
    assert fields_for_type("Web Traffic").optional[:2] == ("runs", "interval")
    assert fields_for_type("Mentions with Hashtags").required == ("link", "quantity", "usernames", "hashtags")
    assert fields_for_type("Something New") == SERVICE_TYPE_FIELDS["Default"]
    assert fields_for_type(None) == SERVICE_TYPE_FIELDS["Default"]
    assert "quantity" not in fields_for_type("Package").required
