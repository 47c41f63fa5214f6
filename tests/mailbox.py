"""A real SMTP server on loopback for the mail tests (aiosmtpd): it refuses when told to and
records every envelope it accepts, exactly as it arrived."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        body = self.message.get_body(("plain",))
        assert body is not None
        return str(body.get_content())

    def html(self) -> str:
        body = self.message.get_body(("html",))
        assert body is not None
        return str(body.get_content())


@dataclass
class Mailbox:
    """Answers `451` to the first `refuse_first` messages, then `250` and keeps them."""

    refuse_first: int = 0
    refused: int = 0
    received: list[Delivered] = field(default_factory=list)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        if self.refused < self.refuse_first:
            self.refused += 1
            return "451 4.3.0 Try again later"
        self.received.append(
            Delivered(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
        )
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[Delivered]:
        return [d for d in self.received if address in d.rcpt_tos]


def free_port() -> int:
    """A loopback port nothing listens on (the kernel's pick, released at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert isinstance(port, int)
        return port


@contextlib.asynccontextmanager
async def smtp_server(mailbox: Mailbox, port: int | None = None) -> AsyncIterator[int]:
    """aiosmtpd on 127.0.0.1 (its own thread and loop) for the block: its port."""
    controller = Controller(mailbox, hostname="127.0.0.1", port=port or free_port())
    await asyncio.to_thread(controller.start)
    try:
        yield controller.port
    finally:
        await asyncio.to_thread(controller.stop)


def mail_settings(port: int, **overrides: Any) -> dict[str, Any]:
    """Mail to a loopback server without TLS, and the outbox's waits short (0.1, 0.2 s ...)."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "smtp_timeout_s": 5.0,
        "mail_from": "progress@example.com",
        "public_url": "https://progress.example.com",
        "webhook_backoff_s": 0.1,
        "webhook_jitter_s": 0.02,
        "webhook_max_backoff_s": 1.0,
        "webhook_poll_interval_s": 0.05,
        **overrides,
    }
