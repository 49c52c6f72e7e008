"""Refuse feed URLs and addresses that would let a feed reach inside the network.

A watchlist names feed URLs, and a feed can redirect anywhere: without a guard, a feed
could make the worker request the cloud metadata service or an internal admin page.
The rules, checked by default on every request and on every redirect hop:

* only `http` and `https` URLs, with a host;
* no host that is, or resolves to, a loopback, private, shared (100.64/10), link-local,
  multicast, unspecified or reserved address, nor a cloud metadata name or address;
* IP literals are read in every spelling the C resolver accepts (`127.1`,
  `2130706433`, `0x7f000001`, `0177.0.0.1`), and an IPv6 address that embeds an IPv4
  one (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16, Teredo) is
  judged by the IPv4 address too;
* the check that counts is made on the address actually connected to: `GuardedBackend`
  resolves the name, checks every address, and connects to a checked address, so a name
  that resolves differently the second time (DNS rebinding) cannot slip through.

`AddressPolicy` lets named hosts or networks through (tests and the demo use 127.0.0.1).
"""

from __future__ import annotations

import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore

from worker.errors import FetchRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

ALLOWED_SCHEMES = frozenset({"http", "https"})
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data"}
)
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which hosts and networks may be fetched despite the default refusals."""

    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def allowing(cls, *items: str) -> AddressPolicy:
        """Build a policy from host names and CIDR networks (`"127.0.0.0/8"`, `"feeds.lan"`)."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.strip().lower().rstrip("."))
        return cls(allow_hosts=frozenset(hosts), allow_networks=tuple(networks))

    def host_allowed(self, host: str) -> bool:
        """Return True when the host is named as allowed."""
        return host.lower().rstrip(".") in self.allow_hosts


def _inet_aton_part(part: str) -> int:
    """Read one part of a dotted IPv4 spelling: decimal, 0x hex or leading-0 octal."""
    if part.lower().startswith("0x"):
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8)
    return int(part, 10)


def parse_ip_literal(host: str) -> IPAddress | None:
    """Return the address a host string spells as an IP literal, in any spelling, or None."""
    host = host.strip().strip("[]").rstrip(".")
    if "%" in host:  # an IPv6 zone id such as fe80::1%eth0
        host = host.split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    try:
        numbers = [_inet_aton_part(part) for part in parts]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """Return the IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, Teredo)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64 or address in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIXTOFOUR:
        return address.sixtofour
    if address in _TEREDO and address.teredo is not None:
        return address.teredo[1]
    if int(address) >> 32 == 0 and int(address) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(address))
    return None


def _forbidden_reason(address: IPAddress) -> str | None:
    """Return why one address may not be fetched by default, or None if it may."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_reserved:
        return "a non-public address"
    return None


def address_refusal(address: IPAddress, policy: AddressPolicy) -> str | None:
    """Return why an address is refused under the policy, or None when it may be fetched.

    An IPv6 address that embeds an IPv4 one is judged by the IPv4 address, so that NAT64
    and 6to4 forms of public addresses pass and those of private ones do not.
    """
    inner = embedded_ipv4(address)
    candidates = [address] if inner is None else [address, inner]
    if any(c in network for c in candidates for network in policy.allow_networks):
        return None
    if inner is None:
        reason = _forbidden_reason(address)
        return f"{address} is {reason}" if reason else None
    reason = _forbidden_reason(inner)
    return f"{address} embeds {inner}, {reason}" if reason else None


@functools.lru_cache(maxsize=4096)
def check_url(url: str, policy: AddressPolicy) -> None:
    """Raise FetchRefused unless the URL's scheme, host name and any IP literal are allowed.

    Results are cached (a refusal is an exception, so only passes are): a worker checks
    the same feed URLs every cycle.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError as error:
        raise FetchRefused(url, f"invalid URL: {error}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchRefused(url, f"scheme {parts.scheme or '(none)'!r} is not allowed")
    if not host:
        raise FetchRefused(url, "the URL has no host")
    if policy.host_allowed(host):
        return
    if host.rstrip(".").lower() in METADATA_HOSTS:
        raise FetchRefused(url, f"{host} is a cloud metadata host")
    if host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
        raise FetchRefused(url, f"{host} is a loopback name")
    address = parse_ip_literal(host)
    if address is not None:
        reason = address_refusal(address, policy)
        if reason:
            raise FetchRefused(url, reason)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve a host name with the system resolver; return its distinct addresses."""
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """A network backend that resolves a host, checks every address, then connects.

    httpcore hands it the host of the URL; it connects to a checked IP address, while TLS
    still verifies the certificate against the host name.
    """

    def __init__(
        self,
        policy: AddressPolicy,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.policy = policy
        self.inner = inner or httpcore.AnyIOBackend()
        self.resolver = resolver or system_resolver

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[str]:
        """Return the checked addresses of a host; raise FetchRefused if any is refused."""
        literal = parse_ip_literal(host)
        if literal is not None:
            addresses: list[IPAddress] = [literal]
        else:
            try:
                with anyio.fail_after(timeout):
                    names = await self.resolver(host, port)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            except OSError as error:
                raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
            addresses = [ipaddress.ip_address(name.split("%")[0]) for name in names]
            if not addresses:
                raise httpcore.ConnectError(f"{host} has no address")
        if not self.policy.host_allowed(host):
            for address in addresses:
                reason = address_refusal(address, self.policy)
                if reason:
                    raise FetchRefused(host, f"{host} resolves to a refused address: {reason}")
        return [str(address) for address in addresses]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first reachable checked address of the host."""
        addresses = await self.resolve(host, port, timeout)
        last_error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
        raise last_error or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Refuse Unix sockets: a feed is always fetched over TCP."""
        raise FetchRefused(path, "Unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Sleep as the inner backend does."""
        await self.inner.sleep(seconds)
