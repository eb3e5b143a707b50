"""structlog, configured once: console lines on a TTY, JSON lines otherwise; secrets redacted.

Log an event name plus key-values (``log.info("push.batch.done", crm="hubspot", sent=100)``),
never an f-string. The redactor masks any key that names a secret (token, password, session
id, API key, authorization, secret) and any configured secret value wherever it appears in a
string, so a secret that slips into an error message still never reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

__all__ = ["REDACTED", "SecretRedactor", "configure_logging", "get_logger"]

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(token|password|passwd|secret|session_?id|api_?key|authorization|assertion|"
    r"private_key|signature|credential)",
    re.IGNORECASE,
)
# Bearer/OAuth tokens and Salesforce session ids inside free text (e.g. a repr of headers).
_SECRET_TEXT = re.compile(
    r"((?:Bearer|OAuth)\s+)[A-Za-z0-9._~+/!=-]{6,}|\b00D[A-Za-z0-9]{12,15}![A-Za-z0-9._]+"
)


class SecretRedactor:
    """A structlog processor that masks secrets by key name and by known value."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Register secret values (at least 4 characters) to mask wherever they appear."""
        self._values.update(s for s in secrets if s and len(s) >= 4)

    def _text(self, text: str) -> str:
        for value in self._values:
            if value in text:
                text = text.replace(value, REDACTED)
        return _SECRET_TEXT.sub(lambda m: (m.group(1) + REDACTED) if m.group(1) else REDACTED, text)

    def _value(self, key: str, value: Any) -> Any:
        if _SECRET_KEY.search(key) and value not in (None, "", False):
            return REDACTED
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, dict):
            return {k: self._value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._value(key, v) for v in value)
        return value

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            event_dict[key] = self._value(key, event_dict[key])
        return event_dict


_REDACTOR = SecretRedactor()


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time of writing, so a progress line that
    redirects stderr (rich's) prints log lines above itself instead of through itself."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure_logging(
    level: str = "info",
    *,
    json: bool | None = None,
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> SecretRedactor:
    """Configure structlog for the process; ``json=None`` picks JSON unless on a TTY."""
    out: Any = stream or _CurrentStderr()
    _REDACTOR.add(secrets)
    use_json = (not out.isatty()) if json is None else json
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    return _REDACTOR


def get_logger(name: str | None = None) -> Any:
    """A structlog logger (bound with ``component=name`` when given)."""
    # Lazy: binding here would freeze structlog's configuration at import time.
    return structlog.get_logger(component=name) if name else structlog.get_logger()
