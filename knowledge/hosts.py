"""Where sources and remotes may make Lore connect, and where their secrets may go.

An admin of the Slack app is not an operator of the server: a source's URL must not turn Lore into a
client of this machine, a link-local address or a cloud metadata service (whose answers carry the server's
own credentials). Such hosts are refused unless the operator lists them in LORE_ALLOWED_INTERNAL_HOSTS
(names, addresses or CIDR networks). Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7) stay allowed:
intranets live there.

The rule is checked when a source is added (`HostGuard.url_refusal`, on the URL as written) and on every
address a connection is about to use (`GuardedConnector`), so a name that resolves to a refused address
(DNS rebinding) and a redirect to one are refused too. `same_origin` and `OriginJar` keep a source's
credentials and sign-in cookies on its own origin (scheme, host and port).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from http.cookies import BaseCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult
    from aiohttp.tracing import Trace

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Origin = tuple[str, str, int]

SETTING = "LORE_ALLOWED_INTERNAL_HOSTS"
METADATA_NAMES = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, Oracle, DigitalOcean …
        "169.254.170.2",  # AWS ECS task credentials
        "fd00:ec2::254",  # AWS IPv6 (inside fc00::/7, so named here)
        "100.100.100.200",  # Alibaba Cloud (inside the shared 100.64/10 range)
        "168.63.129.16",  # Azure WireServer (a public address)
        "192.0.0.192",  # Oracle Cloud Classic
    )
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # 0.0.0.0 and friends reach this machine
NAT64 = ipaddress.ip_network("64:ff9b::/96")  # an IPv4 address in IPv6 clothing
_NOWHERE = URL()


class RefusedHost(aiohttp.ClientConnectionError):
    """A connection to an address the host rule refuses; the message says how to allow it. Not retried."""


class HostGuard:
    """The host rule with the operator's exceptions (`allowed`: names, addresses or CIDR networks)."""

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.names: set[str] = set()
        self.networks: list[Network] = []
        for entry in allowed:
            text = entry.strip().lower().rstrip(".")
            try:
                self.networks.append(ipaddress.ip_network(text.strip("[]"), strict=False))
            except ValueError:
                self.names.add(text)

    def url_refusal(self, url: str) -> str | None:
        """Why Lore may not connect to `url`'s host, judged on the URL as written (no DNS); None if it may."""
        try:
            host = urlsplit(url.strip()).hostname
        except ValueError:
            return None  # not a URL: the location's own check says so
        return None if not host else self.host_refusal(host)

    def host_refusal(self, host: str) -> str | None:
        """Why Lore may not connect to `host` (a name or an address), without DNS; None if it may."""
        name = host.strip("[]").lower().rstrip(".")
        if name in self.names:
            return None
        address = _address(name)
        if address is not None:
            return self.address_refusal(host, address)
        if name == "localhost" or name.endswith(".localhost"):
            return _refused(host, "a name of this machine (loopback)")
        if name in METADATA_NAMES:
            return _refused(host, "a cloud metadata service")
        return None

    def address_refusal(self, host: str, address: Address) -> str | None:
        """Why Lore may not connect to `address` (which `host` resolved to); None if it may."""
        if any(address in network for network in self.networks):
            return None
        what = _what(address)
        if what is None:
            return None
        shown = host.strip("[]")
        return _refused(host if shown == str(address) else f"{host} (resolved to {address})", what)

    def connector(self) -> GuardedConnector:
        """An aiohttp connector that applies this rule to every address it connects to."""
        return GuardedConnector(self)


class GuardedConnector(aiohttp.TCPConnector):
    """aiohttp's connector, refusing (with `RefusedHost`) every host the rule refuses: by name, and by each
    address the name resolves to. It checks the resolved addresses itself because aiohttp does not ask a
    resolver about hosts written as IP addresses."""

    def __init__(self, guard: HostGuard, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.guard = guard

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        if why := self.guard.host_refusal(host):
            raise RefusedHost(why)
        found = await super()._resolve_host(host, port, traces)
        if host.strip("[]").lower().rstrip(".") in self.guard.names:
            return found
        for entry in found:
            address = ipaddress.ip_address(str(entry["host"]).split("%")[0])
            if why := self.guard.address_refusal(host, address):
                raise RefusedHost(why)
        return found


def origin(url: str | URL) -> Origin:
    """(scheme, host, port) of `url`, lower-cased, with the scheme's default port filled in."""
    parsed = URL(url) if isinstance(url, str) else url
    return (parsed.scheme.lower(), (parsed.host or "").lower().rstrip("."), parsed.port or 0)


def same_origin(url: str | URL, home: str | URL) -> bool:
    """True when `url` has the scheme, host and port of `home` (where a source's secret may go)."""
    return origin(url) == origin(home)


class OriginJar(aiohttp.CookieJar):
    """A cookie jar that sends cookies only to its home origins: a sign-in cookie never follows a
    redirect to another host, scheme or port (aiohttp's own jar matches the host alone, any port). Accepts
    cookies of hosts named by IP address (intranet servers often are)."""

    def __init__(self, homes: Iterable[str]) -> None:
        super().__init__(unsafe=True)
        self.homes = {origin(h) for h in homes}

    def filter_cookies(self, request_url: URL = _NOWHERE) -> BaseCookie[str]:
        if origin(request_url) not in self.homes:
            return BaseCookie()
        return super().filter_cookies(request_url)


def _address(name: str) -> Address | None:
    """`name` as an address: standard forms, and the legacy IPv4 forms (`127.1`, `2130706433`) that the
    system resolver would turn into one."""
    try:
        return ipaddress.ip_address(name.split("%")[0])
    except ValueError:
        pass
    if name and all(part.isalnum() for part in name.split(".")) and not name.replace(".", "").isalpha():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return None
    return None


def _what(address: Address) -> str | None:
    """What kind of refused address this is, or None for an allowed one."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in METADATA_ADDRESSES:
            return "a cloud metadata address"
        inner = address.ipv4_mapped or (
            ipaddress.IPv4Address(int(address) & 0xFFFFFFFF) if address in NAT64 else None
        )
        if inner is not None:
            return _what(inner)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address (this machine)"
    if address.is_link_local:
        return "a link-local address"
    if address.is_unspecified or (isinstance(address, ipaddress.IPv4Address) and address in THIS_NETWORK):
        return "an unspecified address (this machine)"
    return None


def _refused(host: str, what: str) -> str:
    return (
        f"{host} is {what}: Lore does not connect there unless whoever runs Lore lists it in {SETTING} "
        "(a host, an address or a network)"
    )
