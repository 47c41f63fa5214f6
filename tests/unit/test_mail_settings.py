"""Mail settings that cannot work are refused at start-up, the password never shows, and an
SMTP refusal is retried only when RFC 5321 calls it transient."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from progress_sse.mail.smtp import reply_failure
from progress_sse.settings import Settings
from progress_sse.webhooks.delivery import Retryable


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"smtp_host": "smtp.example.com"}, "needs PROGRESS_SSE_MAIL_FROM"),
        ({"mail_from": "Progress <p@example.com>"}, "must be one address"),
        ({"smtp_username": "u"}, "go together"),
        ({"smtp_username": "u", "smtp_password": "p", "smtp_security": "none"}, "in clear"),
        ({"public_url": "progress.example.com"}, "http:// or https://"),
        ({"mail_from": "p@example.com\r\nBcc: evil@example.com"}, "one line"),
        ({"smtp_security": "ssl"}, "starttls"),
    ],
)
def test_mail_settings_that_cannot_work_are_refused(given: dict[str, Any], said: str) -> None:
    with pytest.raises(ValidationError, match=said):
        Settings(**given)


def test_mail_is_off_without_a_host_and_links_fall_back_to_the_served_address() -> None:
    off = Settings()
    on = Settings(
        smtp_host="smtp.example.com", mail_from="p@example.com", smtp_username="u",
        smtp_password="hunter2-secret", public_url="https://progress.example.com/",
    )  # fmt: skip
    assert not off.mail_enabled and off.link_base == "http://127.0.0.1:8000"
    assert on.mail_enabled and on.link_base == "https://progress.example.com"
    assert "hunter2-secret" not in repr(on) and "hunter2-secret" not in str(on.model_dump())


@pytest.mark.parametrize(("code", "again"), [(421, True), (451, True), (452, True),
                                             (550, False), (535, False), (554, False)])  # fmt: skip
def test_a_4xx_reply_is_tried_again_and_a_5xx_reply_is_final(code: int, again: bool) -> None:
    failure = reply_failure(code, "Requested action aborted\r\n  local error")
    assert isinstance(failure, Retryable) is again and failure.retryable is again
    assert failure.status_code == code
    assert str(failure) == f"SMTP {code}: Requested action aborted local error"
