"""Webhook URLs may only point at the public internet (server-side request forgery).

A URL is checked when it is registered and again before every delivery, since
what a name resolves to can change. Every address the host resolves to must
be public: loopback, private, link-local (cloud metadata), multicast, reserved
and unspecified addresses are refused, in every spelling (`0x7f000001`,
`[::ffff:127.0.0.1]`, a name that resolves there), unless configuration
allows private targets (tests, an intranet receiver).

An IPv6 address that carries an IPv4 address (IPv4-mapped and -compatible,
NAT64, 6to4) reaches that IPv4 address through a translator or a tunnel, so
it is judged as the IPv4 address it carries: `[64:ff9b::7f00:1]` is loopback.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from progress_sse.errors import ValidationFailed

MAX_URL = 2048
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # `::a.b.c.d`, deprecated by RFC 4291
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known prefix, the IPv4 in the low 32 bits
IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 2765): ::ffff:0:a.b.c.d
# Local-use NAT64 (RFC 8215): where the IPv4 sits depends on the operator's prefix length,
# so nothing in it is judged public.
NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def _refuse(message: str) -> ValidationFailed:
    return ValidationFailed(
        message, code="webhook_url_refused", fields=[{"field": "url", "message": message}]
    )


def check_shape(url: str) -> tuple[str, int]:
    """http(s), a host, no credentials; returns (host, port)."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise _refuse(f"The webhook URL must be 1-{MAX_URL} characters.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _refuse("Webhook URLs must use http or https.")
    if not parts.hostname:
        raise _refuse("The webhook URL has no host.")
    if parts.username or parts.password:
        raise _refuse("Webhook URLs must not carry credentials; use the signing secret.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise _refuse("The webhook URL's port is not valid.") from None
    return parts.hostname, port


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
        return ip.sixtofour
    if ip in IPV4_COMPATIBLE or ip in NAT64 or ip in IPV4_TRANSLATED:
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        # Teredo (2001::/32) tunnels to an obfuscated IPv4; site-local (fec0::/10) is
        # private, though Python 3.11's `is_global` says otherwise.
        if ip in NAT64_LOCAL or ip.teredo is not None or ip.is_site_local:
            return False
        ip = embedded_ipv4(ip) or ip
    return ip.is_global and not ip.is_multicast


async def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse a URL that is malformed or that reaches a non-public address."""
    host, port = check_shape(url)
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        raise _refuse(f"The webhook host {host!r} does not resolve.") from None
    addresses = {info[4][0] for info in infos}
    private = sorted(a for a in addresses if not is_public(str(a)))
    if private:
        raise _refuse(
            f"The webhook host {host!r} resolves to a non-public address ({private[0]}); "
            "set PROGRESS_SSE_WEBHOOK_ALLOW_PRIVATE=true to allow that."
        )
