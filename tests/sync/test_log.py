"""Logging: structlog key-value events, JSON off a TTY, secrets never in a line."""

from __future__ import annotations

import io
import json

import pytest

from sync.log import REDACTED, SecretRedactor, configure_logging, get_logger


@pytest.mark.parametrize(
    ("event", "leak"),
    [
        pytest.param({"session_id": "00Dxx0000001gPF!AQ4AQDv"}, "AQ4AQDv", id="key-session-id"),
        pytest.param({"access_token": "pat-na1-1234"}, "pat-na1-1234", id="key-token"),
        pytest.param({"password": "hunter2"}, "hunter2", id="key-password"),
        pytest.param(
            {"headers": {"Authorization": "Bearer abc.def.ghi"}},
            "abc.def.ghi",
            id="nested-authorization",
        ),
        pytest.param(
            {"error": "401 for Bearer abcdef123456 at /x"}, "abcdef123456", id="bearer-in-text"
        ),
        pytest.param(
            {"error": "sid 00D5g000004ABCD!ARkAQH.xyz expired"}, "ARkAQH", id="sf-sid-text"
        ),
        pytest.param(
            {"detail": "value s3cr3t-value in message"}, "s3cr3t-value", id="registered-secret"
        ),
        pytest.param({"items": ["ok", "s3cr3t-value"]}, "s3cr3t-value", id="secret-in-list"),
    ],
)
def test_secrets_are_redacted(event: dict[str, object], leak: str) -> None:
    """Secrets are masked by key name, by known value, and by shape inside free text."""
    redactor = SecretRedactor(["s3cr3t-value"])
    out = redactor(None, "info", {"event": "x", **event})
    assert leak not in json.dumps(out)
    assert REDACTED in json.dumps(out)


def test_json_lines_when_not_a_tty() -> None:
    """Off a TTY each event is one JSON object with its key-values and no secret."""
    stream = io.StringIO()
    configure_logging("info", secrets=["tok-123456"], stream=stream)
    get_logger("test").info("push.batch.done", crm="hubspot", sent=100, token="tok-123456")
    get_logger("test").debug("hidden.at.info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["event"] == "push.batch.done"
    assert record["crm"] == "hubspot"
    assert record["sent"] == 100
    assert record["token"] == REDACTED
    assert record["level"] == "info"
    assert record["timestamp"].endswith("Z")
