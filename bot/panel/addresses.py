"""Which addresses a panel may have, when any public panel may be linked (SMMBOT_ALLOWED_PANELS=*).

Two checks, because either alone can be got round:
- the URL itself (`public_url_problem`): https only, no `user:pass@`, no IP literal outside the public
  internet, no numeric forms like `127.1` or `2130706433` that resolvers map onto an address;
- every connection (`PublicAddressResolver`): the host name is resolved and addresses outside the public
  internet are dropped, so a public-looking name that resolves to 127.0.0.1 or 10.x (at link time or any
  time later, DNS rebinding) is never connected to. aiohttp does not call the resolver for IP literals:
  the client checks those with `is_public_ip` itself.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

__all__ = ["NonPublicAddress", "PublicAddressResolver", "display_url", "is_public_ip", "public_url_problem"]


class NonPublicAddress(OSError):
    """The host resolves to no public address (aiohttp wraps it in ClientConnectorDNSError)."""


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_public_ip(host: str) -> bool:
    """True for an address of the public internet (not private, loopback, link-local, multicast, reserved,
    shared, documentation ...). An IPv4 address wrapped in IPv6 (::ffff:10.0.0.1, 6to4, Teredo) counts as
    the IPv4 address inside."""
    ip = _ip(host)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is not None:
            return is_public_ip(str(inner))
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_private)


def public_url_problem(url: str) -> str | None:
    """Why `url` cannot be a public panel ("scheme", "userinfo", "address", "host"), or None when it can."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return "host"
    if parts.scheme != "https":
        return "scheme"
    if "@" in parts.netloc:
        return "userinfo"
    if _ip(host) is not None:
        return None if is_public_ip(host) else "address"
    labels = host.rstrip(".").split(".")
    # A name needs a dot and an alphabetic top-level label: refuses "localhost", "intranet" and the numeric
    # forms ("127.1", "0x7f.1", "2130706433") that resolvers would map onto an address.
    if len(labels) < 2 or (not labels[-1].replace("-", "").isalpha() and not labels[-1].startswith("xn--")):
        return "host"
    if host.rstrip(".").endswith((".localhost", ".local", ".internal", ".home.arpa")):
        return "host"
    return None


def display_url(url: str) -> str:
    """The URL without a `user:pass@` part: what chats, logs and exports may show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]).geturl()


class PublicAddressResolver(AbstractResolver):
    """Resolves with `inner` (aiohttp's default resolver) and keeps only public addresses; none left is
    NonPublicAddress. The connector's DNS cache keeps what this returns, so the filter holds for it too."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public_ip(r["host"])]
        if not public:
            raise NonPublicAddress(f"{host} has no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()
