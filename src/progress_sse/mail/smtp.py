"""One SMTP attempt at one queued mail (aiosmtplib), for the webhook notifier's loop.

The envelope is the settings' sender and the row's one checked address, never
anything read from the message: whatever a header says, the server is asked to
deliver to exactly that recipient. A connection per mail: outcomes are rare,
and a fresh connection has no state a failed attempt could leave behind.

What is tried again (by the notifier, with its backoff): no connection, a
timeout, a dropped connection, and any 4xx reply (RFC 5321: transient). A 5xx
reply, a refused login, or a server that cannot STARTTLS are final.
"""

from __future__ import annotations

import aiosmtplib

from progress_sse.mail.recipients import address_of
from progress_sse.settings import Settings
from progress_sse.webhooks.delivery import DeliveryFailed, Retryable
from progress_sse.webhooks.models import Notification


class SmtpChannel:
    """The `mail` channel: `attempt` sends one stored message, or raises `DeliveryFailed`."""

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None and settings.mail_from is not None
        self.host, self.port = settings.smtp_host, settings.smtp_port
        self.sender = settings.mail_from
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self._password = settings.smtp_password  # a SecretStr: unwrapped only to log in
        self.timeout_s = settings.smtp_timeout_s

    async def attempt(self, note: Notification) -> int:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",  # required, not opportunistic
            timeout=self.timeout_s,
        )
        try:
            async with client:
                if self.username and self._password is not None:
                    await client.login(self.username, self._password.get_secret_value())
                await client.sendmail(self.sender, [address_of(note)], note.body.encode("utf-8"))
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise reply_failure(min(r.code for r in exc.recipients), "recipient refused") from None
        except aiosmtplib.SMTPResponseException as exc:
            raise reply_failure(exc.code, exc.message) from None
        except aiosmtplib.SMTPNotSupported as exc:
            raise DeliveryFailed(f"SMTP: {exc.message}", None, retryable=False) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise Retryable(f"SMTP {type(exc).__name__}: {exc}") from None
        return 250  # the DATA reply: anything else raised above


def reply_failure(code: int, message: str) -> DeliveryFailed:
    """A refusal by the server: 4xx may pass later, 5xx will not."""
    text = f"SMTP {code}: {' '.join(str(message).split())[:500]}"
    if 400 <= code < 500:
        return Retryable(text, code)
    return DeliveryFailed(text, code, retryable=False)
