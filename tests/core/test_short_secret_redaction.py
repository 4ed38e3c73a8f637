"""Issue 28 item 9: redacting a secret that is a common word (``wrong``) must not garble
a server's prose, and a real secret must never get through."""

from __future__ import annotations

import logging

import pytest

from fluidstack.core.errors import PROSE_SAFE_LENGTH, redact, redact_all


def test_a_short_secret_in_prose_is_left_alone() -> None:
    text = "invalid_client (Unknown client or wrong client secret)"
    assert redact(text, "wrong") == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("wrong", "[redacted]"),
        ("client_secret=wrong&grant_type=x", "client_secret=[redacted]&grant_type=x"),
        ('{"client_secret": "wrong"}', '{"client_secret": "[redacted]"}'),
        ("secret 'wrong' refused", "secret '[redacted]' refused"),
        ("api-key: wrong", "api-key: [redacted]"),
        ("Authorization: Bearer wrong", "Authorization: Bearer [redacted]"),
    ],
)
def test_a_short_secret_standing_as_a_value_is_redacted(text: str, expected: str) -> None:
    assert redact(text, "wrong") == expected


def test_a_long_secret_is_redacted_everywhere() -> None:
    secret = "sk-" + "a1b2c3d4" * 4
    assert len(secret) >= PROSE_SAFE_LENGTH
    text = f"key {secret} is bad; again:{secret}, inline x{secret}y"
    assert secret not in redact(text, secret)
    assert redact_all(text, [None, secret, ""]).count("[redacted]") == 3


def test_log_records_follow_the_same_rule(caplog: pytest.LogCaptureFixture) -> None:
    from fluidstack.core.events import _RedactingFilter, watch_secrets

    class Holder:
        def secrets(self) -> list:
            return ["wrong", "s3cr3t-long-enough"]

    holder = Holder()
    watch_secrets(holder)
    record = logging.LogRecord(
        "fluidstack", logging.INFO, __file__, 1,
        "Unknown client or wrong client secret; sent client_secret=wrong and %s",
        ("s3cr3t-long-enough",), None,
    )  # fmt: skip
    assert _RedactingFilter().filter(record)
    assert record.getMessage() == (
        "Unknown client or wrong client secret; sent client_secret=[redacted] and [redacted]"
    )
