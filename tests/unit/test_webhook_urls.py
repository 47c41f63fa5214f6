"""Webhook URLs: IPv6 spellings of inside addresses are refused like the addresses they carry."""

from __future__ import annotations

import ipaddress

import pytest

from progress_sse.errors import ValidationFailed
from progress_sse.webhooks.urls import check_url, embedded_ipv4, is_public

# Each reaches an IPv4 address inside: through NAT64, a 6to4 tunnel or the host's own stack.
INSIDE = {
    "NAT64 of loopback": "64:ff9b::7f00:1",
    "IPv4-translated loopback (SIIT)": "::ffff:0:7f00:1",
    "NAT64 of the metadata service": "64:ff9b::a9fe:a9fe",
    "NAT64 of a private network": "64:ff9b::10.1.2.3",
    "local-use NAT64": "64:ff9b:1::808:808",
    "6to4 of loopback": "2002:7f00:1::",
    "6to4 of the metadata service": "2002:a9fe:a9fe::1",
    "IPv4-compatible loopback": "::7f00:1",
    "IPv4-compatible private network": "::192.168.0.1",
    "IPv4-mapped loopback": "::ffff:127.0.0.1",
    "IPv4-mapped metadata service": "::ffff:a9fe:a9fe",
    "Teredo": "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "site-local": "fec0::1",
}
PUBLIC = {
    "plain IPv6": "2606:4700:4700::1111",
    "Google DNS over IPv6": "2001:4860:4860::8888",
    "NAT64 of a public address": "64:ff9b::808:808",
    "6to4 of a public address": "2002:808:808::1",
}


@pytest.mark.parametrize("address", INSIDE.values(), ids=INSIDE.keys())
def test_ipv6_spellings_of_inside_addresses_are_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
def test_public_ipv6_addresses_stay_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("2002:7f00:1::", "127.0.0.1"),
        ("::7f00:1", "127.0.0.1"),
        ("::ffff:127.0.0.1", "127.0.0.1"),
        ("2606:4700:4700::1111", None),
    ],
)
def test_the_ipv4_address_an_ipv6_address_carries(address: str, carried: str | None) -> None:
    found = embedded_ipv4(ipaddress.IPv6Address(address))
    assert (str(found) if found else None) == carried


@pytest.mark.parametrize("address", INSIDE.values(), ids=INSIDE.keys())
async def test_webhook_urls_to_them_are_refused(address: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        await check_url(f"http://[{address}]:8080/hook", allow_private=False)
    assert info.value.status_code == 422 and info.value.code == "webhook_url_refused"
    assert "non-public address" in info.value.message


@pytest.mark.parametrize("address", PUBLIC.values(), ids=PUBLIC.keys())
async def test_webhook_urls_to_public_ipv6_addresses_are_accepted(address: str) -> None:
    await check_url(f"https://[{address}]/hook", allow_private=False)


async def test_allowing_private_targets_allows_these_too() -> None:
    await check_url("http://[64:ff9b::7f00:1]/hook", allow_private=True)
