"""Whatever a panel answers, every client method returns normally or raises a PanelError subclass."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.panel import PanelError

from .conftest import Reply, fast_client

KEYS = [
    "service", "name", "type", "category", "rate", "min", "max", "refill", "cancel", "dripfeed", "desc",
    "order", "orders", "status", "charge", "start_count", "remains", "currency", "balance", "error", "errors",
    "message", "success", "services", "1", "2", "10", "4218",
]  # fmt: skip

leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["1", "0", "0.90", "Completed", "many", "Incorrect order ID", "1e999999", "-5", "NaN"])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=25,
)


def _dumps(value) -> str:
    return json.dumps(value)  # NaN/Infinity included on purpose: some panels emit them


# Shaped like real answers (an object of known keys, a list of them, a map id -> object) so parsing goes deep.
item = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=8)
shaped = (
    item
    | st.lists(item, max_size=4)
    | st.dictionaries(st.sampled_from(["1", "2", "10", "4218"]), item | json_values, max_size=3)
)
bodies = (
    shaped.map(_dumps)
    | json_values.map(_dumps)
    | st.binary(max_size=200)
    | st.text(max_size=200)
    | st.sampled_from(['{"order": 1', "[" * 5000, "1" * 5000, '{"balance": 1e400}', "<html></html>"])
)
statuses = st.sampled_from([200] * 6 + [201, 204, 301, 400, 401, 402, 403, 404, 422, 429, 500, 502, 503])
retry_after = st.none() | st.sampled_from(["0", "-1", "soon", "1e9", "Wed, 21 Oct 2015 07:28:00 GMT"])


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=bodies, status=statuses, after=retry_after)
async def test_any_answer_gives_only_panel_errors(panel, body, status, after):
    headers = {"Retry-After": after} if after is not None else {}
    panel.reply(Reply(body, status=status, headers=headers))
    client = fast_client(panel.url, read_retries=1, backoff_base=0.0, max_retry_after=0.01)
    calls = [
        client.services(), client.add(1, link="l", quantity=10), client.status(1), client.statuses([1, 2]),
        client.refill(1), client.refills([1, 2]), client.refill_status(1), client.refill_statuses([1, 10]),
        client.cancel([1, 4218]), client.balance(),
    ]  # fmt: skip
    for call in calls:
        try:
            result = await call
        except PanelError:
            continue
        if isinstance(result, dict):
            assert all(isinstance(k, int) for k in result)
