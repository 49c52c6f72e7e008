"""The address guard refuses internal addresses in every spelling and allows named ones."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.errors import FetchRefused
from worker.fetch.guard import (
    AddressPolicy,
    GuardedBackend,
    address_refusal,
    check_url,
    parse_ip_literal,
)

DEFAULT = AddressPolicy()

REFUSED_URLS = [
    "http://127.0.0.1/feed",
    "http://127.1/feed",
    "http://2130706433/feed",
    "http://0x7f000001/feed",
    "http://0177.0.0.1/feed",
    "http://0x7f.1/feed",
    "http://[::1]/feed",
    "http://[::ffff:127.0.0.1]/feed",
    "http://[::ffff:7f00:1]/feed",
    "http://[64:ff9b::10.0.0.1]/feed",
    "http://[2002:c0a8:0101::1]/feed",
    "http://10.0.0.8/feed",
    "http://172.16.5.4/feed",
    "http://192.168.1.1/feed",
    "http://100.64.0.1/feed",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://[fe80::1]/feed",
    "http://224.0.0.1/feed",
    "http://0.0.0.0/feed",
    "http://[::]/feed",
    "http://240.0.0.1/feed",
    "http://localhost/feed",
    "http://feeds.localhost/feed",
    "file:///etc/passwd",
    "ftp://example.com/feed",
    "gopher://example.com/",
    "http:///feed",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_internal_or_non_http_urls_are_refused(url: str) -> None:
    """Each internal address spelling, metadata host and non-HTTP scheme is refused."""
    with pytest.raises(FetchRefused):
        check_url(url, DEFAULT)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/feed",
        "http://93.184.216.34/feed",
        "http://[2606:2800:220:1:248:1893:25c8:1946]/feed",
        "http://[64:ff9b::8.8.8.8]/feed",
    ],
)
def test_public_urls_pass(url: str) -> None:
    """Public names and addresses, including a NAT64 form of a public one, pass."""
    check_url(url, DEFAULT)


@pytest.mark.parametrize(
    ("spelling", "address"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.01", "127.0.0.1"),
        ("10.1.257", "10.1.1.1"),
        ("[::1]", "::1"),
        ("example.com", None),
        ("1.2.3.4.5", None),
        ("256.1.1.1", None),
        ("0x", "0.0.0.0"),
    ],
)
def test_ip_literals_are_read_like_the_c_resolver(spelling: str, address: str | None) -> None:
    """Short, integer, hex and octal IPv4 spellings are read as the resolver reads them."""
    parsed = parse_ip_literal(spelling)
    assert (str(parsed) if parsed else None) == address


def test_allowed_network_lets_loopback_through() -> None:
    """A policy that allows 127.0.0.1/32 lets that address through, but not 127.0.0.2."""
    policy = AddressPolicy.allowing("127.0.0.1/32")
    check_url("http://127.0.0.1:8080/feed", policy)
    with pytest.raises(FetchRefused):
        check_url("http://127.0.0.2:8080/feed", policy)


def test_allowed_network_covers_the_mapped_form() -> None:
    """An allowed IPv4 network also allows its IPv4-mapped IPv6 form."""
    policy = AddressPolicy.allowing("127.0.0.0/8")
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.9"), policy) is None


def test_allowed_host_name_skips_the_address_check() -> None:
    """A host named in the policy is allowed whatever it resolves to."""
    check_url("http://feeds.lan/rss", AddressPolicy.allowing("FEEDS.LAN"))


def test_refusal_names_the_embedded_address() -> None:
    """A refusal of a mapped address says which IPv4 address it carries."""
    reason = address_refusal(ipaddress.ip_address("::ffff:10.1.2.3"), DEFAULT)
    assert reason is not None and "10.1.2.3" in reason and "private" in reason


def resolver_to(*addresses: str):  # type: ignore[no-untyped-def]
    """Return a resolver seam that answers every name with fixed addresses."""

    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def test_backend_refuses_a_name_resolving_to_a_private_address() -> None:
    """The backend refuses a name whose resolution includes a private address."""
    backend = GuardedBackend(DEFAULT, resolver=resolver_to("93.184.216.34", "10.0.0.7"))
    with pytest.raises(FetchRefused) as caught:
        asyncio.run(backend.resolve("news.example", 80, 1.0))
    assert "10.0.0.7" in caught.value.message


def test_backend_returns_checked_public_addresses() -> None:
    """The backend hands back the public addresses it checked, to connect to them."""
    backend = GuardedBackend(DEFAULT, resolver=resolver_to("93.184.216.34"))
    assert asyncio.run(backend.resolve("news.example", 80, 1.0)) == ["93.184.216.34"]


def test_backend_checks_literal_hosts_without_resolving() -> None:
    """An integer-spelled loopback host is refused by the backend too."""
    backend = GuardedBackend(DEFAULT, resolver=resolver_to("93.184.216.34"))
    with pytest.raises(FetchRefused):
        asyncio.run(backend.resolve("2130706433", 80, 1.0))


@given(st.text(max_size=80))
def test_check_url_only_ever_refuses(text: str) -> None:
    """Whatever the string, check_url passes it or raises FetchRefused, nothing else."""
    for url in (text, f"http://{text}/feed"):
        with contextlib.suppress(FetchRefused):
            check_url(url, DEFAULT)


@given(st.integers(0, 2**32 - 1))
def test_integer_spelling_reads_as_the_same_address(value: int) -> None:
    """Any 32-bit integer host is read as the IPv4 address with that value."""
    assert parse_ip_literal(str(value)) == ipaddress.IPv4Address(value)
