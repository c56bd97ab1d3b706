"""Panels chats choose reach public addresses only; answers are read up to a size.

Against a canned panel on loopback over real HTTP: a client told to reach public addresses only must refuse
127.0.0.1 both as an IP literal and behind a name ("localhost"), before anything is sent.
"""

from __future__ import annotations

import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from bot.panel import (
    AddressNotAllowed,
    AnswerTooLarge,
    NonPublicAddress,
    OutcomeUnknown,
    PublicAddressResolver,
    display_url,
    is_public_ip,
    public_url_problem,
)

from .conftest import CannedPanel, fast_client


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://smpanelim.net/api/v2", None),
        ("https://panel.example.com:8443/api/v2", None),
        ("https://xn--pnel-5qa.com/api/v2", None),
        ("https://8.8.8.8/api/v2", None),
        ("http://smpanelim.net/api/v2", "scheme"),
        ("https://user:pass@smpanelim.net/api/v2", "userinfo"),
        ("https://user@smpanelim.net/api/v2", "userinfo"),
        ("https://127.0.0.1/api/v2", "address"),
        ("https://10.1.2.3/api/v2", "address"),
        ("https://192.168.0.10/api/v2", "address"),
        ("https://169.254.169.254/latest/meta-data", "address"),
        ("https://100.64.0.1/api/v2", "address"),
        ("https://224.0.0.1/api/v2", "address"),
        ("https://240.0.0.1/api/v2", "address"),
        ("https://0.0.0.0/api/v2", "address"),
        ("https://[::1]/api/v2", "address"),
        ("https://[fe80::1]/api/v2", "address"),
        ("https://[fc00::1]/api/v2", "address"),
        ("https://[::ffff:10.0.0.1]/api/v2", "address"),
        ("https://localhost/api/v2", "host"),
        ("https://intranet/api/v2", "host"),
        ("https://127.1/api/v2", "host"),
        ("https://2130706433/api/v2", "host"),
        ("https://0x7f.1/api/v2", "host"),
        ("https://printer.local/api/v2", "host"),
        ("https://db.internal/api/v2", "host"),
        ("https://panel.example.com:99999/api/v2", "host"),
    ],
)
def test_public_url_problem(url: str, problem: str | None) -> None:
    assert public_url_problem(url) == problem


def test_public_ips() -> None:
    assert is_public_ip("1.1.1.1") and is_public_ip("2606:4700::1111")
    for ip in (
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "::1",
        "::ffff:127.0.0.1",
        "fd00::1",
    ):
        assert not is_public_ip(ip), ip
    assert not is_public_ip("example.com")


def test_display_url_drops_userinfo() -> None:
    assert display_url("https://bob:s3cret@panel.example/api/v2") == "https://panel.example/api/v2"
    assert display_url("https://panel.example/api/v2") == "https://panel.example/api/v2"


async def test_public_only_client_refuses_loopback_literal_and_name(panel: CannedPanel) -> None:
    panel.reply({"balance": "1.00", "currency": "USD"})
    for url in (panel.url, panel.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(AddressNotAllowed):
            await fast_client(url, public_only=True).balance()
    assert panel.count() == 0  # nothing was sent
    # the operator's own panels (not public_only) are reached as before, by address and by name
    assert (await fast_client(panel.url).balance()).amount == 1
    assert (await fast_client(panel.url.replace("127.0.0.1", "localhost")).balance()).amount == 1


class _FixedResolver(AbstractResolver):
    """A DNS answer chosen by the test (aiohttp's resolver interface, not our code)."""

    def __init__(self, *hosts: str) -> None:
        self.hosts = hosts

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=h, port=port, family=family, proto=0, flags=0)
            for h in self.hosts
        ]

    async def close(self) -> None:
        pass


async def test_resolver_keeps_public_addresses_only() -> None:
    mixed = PublicAddressResolver(_FixedResolver("10.0.0.7", "93.184.216.34", "169.254.169.254"))
    assert [r["host"] for r in await mixed.resolve("panel.example", 443)] == ["93.184.216.34"]
    inside = PublicAddressResolver(_FixedResolver("127.0.0.1", "10.9.8.7"))
    with pytest.raises(NonPublicAddress):
        await inside.resolve("rebound.example", 443)


async def test_answers_are_read_up_to_a_limit(panel: CannedPanel) -> None:
    big = {"balance": "1.00", "currency": "USD", "padding": "x" * 1_200_000}
    panel.reply(big)
    client = fast_client(panel.url)
    with pytest.raises(AnswerTooLarge, match="larger than 1024 KB"):
        await client.balance()
    assert panel.count("balance") == 1  # not retried: it would be as large again
    # services may be longer (a big catalog), up to its own limit
    services = [{"service": i, "name": "s" * 1000, "rate": "1", "min": 1, "max": 10} for i in range(1500)]
    panel.reply(services)
    assert len(await client.services()) == 1500
    small = fast_client(panel.url, services_max_bytes=100_000)
    with pytest.raises(AnswerTooLarge):
        await small.services()


async def test_a_write_with_a_too_large_answer_is_unclear(panel: CannedPanel) -> None:
    panel.reply({"order": 5, "padding": "x" * 2_000_000})
    with pytest.raises(OutcomeUnknown):
        await fast_client(panel.url).add(1, link="https://x.example/p", quantity=100)
    assert panel.count("add") == 1
