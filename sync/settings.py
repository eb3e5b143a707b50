"""Typed settings: ``settings.toml`` plus ``PARTNERSYNC_<SECTION>__<KEY>`` environment overrides.

The file comes from ``--settings``, else ``PARTNERSYNC_SETTINGS``, else ``./settings.toml``
(a missing default file means built-in defaults; a missing named file is an error). The
environment wins over the file. Any unknown key or bad value stops start-up with a
:class:`ConfigError` whose one line names the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "ApiSettings",
    "ConfigError",
    "HubSpotSettings",
    "ProgramSettings",
    "QueueSettings",
    "SalesforceSettings",
    "Settings",
    "StoreSettings",
    "SyncSettings",
    "load_settings",
    "redact_url",
    "settings_path",
]

ENV_PREFIX = "PARTNERSYNC_"
DEFAULT_PATH = Path("settings.toml")


class ConfigError(Exception):
    """A configuration problem the user must fix; the message is one line."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    """Where partnersync keeps its data (SQLAlchemy URL)."""

    url: str = "sqlite:///partnersync.db"

    @field_validator("url")
    @classmethod
    def _known_dialect(cls, value: str) -> str:
        if re.match(r"^(postgresql|postgres)(\+(?!psycopg://)\w+)?://", value):
            raise ValueError(
                "a PostgreSQL URL must name the psycopg driver partnersync ships with: "
                f"postgresql+psycopg://... (got {redact_url(value)!r})"
            )
        if not re.match(r"^(sqlite|postgresql\+psycopg)://", value):
            raise ValueError(
                f"must be a sqlite:/// or postgresql+psycopg:// URL (got {redact_url(value)!r})"
            )
        return value


class QueueSettings(_Section):
    """The message broker: ``memory`` (in-process) or a ``redis://`` URL; with ``memory``,
    how many worker threads ``partnersync run`` keeps; how soon a dead worker's job is
    taken over; how many pushes of a CRM run side by side."""

    broker: str = "memory"
    threads: int = Field(default=4, ge=1, le=32)
    #: How long a job's lock outlives a worker that stopped renewing it (killed, frozen),
    #: and how long a trigger's message may wait unstarted before it is sent again.
    lease_seconds: int = Field(default=60, ge=3, le=3600)
    #: How many pushes of one CRM may run at once, each on its own share of the outbox
    #: (by deal): ``push:hubspot`` and ``push:hubspot:1`` ... Set it alike everywhere.
    push_shards: int = Field(default=1, ge=1, le=32)

    @field_validator("broker")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value != "memory" and not value.startswith(("redis://", "rediss://")):
            raise ValueError(f"must be 'memory' or a redis:// URL (got {redact_url(value)!r})")
        return value


class SalesforceSettings(_Section):
    """Salesforce connection; ``auth`` picks which credentials are needed."""

    enabled: bool = True
    instance_url: str = "http://127.0.0.1:8787"
    api_version: str = Field(default="59.0", pattern=r"^\d{2,3}\.\d$")
    auth: Literal["session", "password", "client_credentials", "jwt"] = "session"
    session_id: SecretStr | None = SecretStr("sandbox")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    private_key_file: Path | None = None
    domain: str = "login"
    mapping: Path = Path("mappings/salesforce.toml")
    #: Pulls pause once this share of the org's daily API allocation is used.
    daily_budget_percent: int = Field(default=80, ge=1, le=100)
    #: Calls in flight at once, across every worker (Salesforce refuses more than 25
    #: concurrent long-running requests).
    concurrent_requests: int = Field(default=25, ge=1, le=1000)
    #: The org whose Outbound Messages are accepted (15 or 18 characters; "": none are).
    organization_id: str = Field(default="", pattern=r"^([A-Za-z0-9]{15}|[A-Za-z0-9]{18})?$")

    @field_validator("instance_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _credentials_for_auth(self) -> SalesforceSettings:
        needed = {
            "session": ("session_id",),
            "password": ("username", "password"),
            "client_credentials": ("consumer_key", "consumer_secret"),
            "jwt": ("consumer_key", "username", "private_key_file"),
        }[self.auth]
        missing = [key for key in needed if getattr(self, key) in (None, "")]
        if self.enabled and missing:
            raise ValueError(f"auth = {self.auth!r} needs {', '.join(missing)}")
        return self


class HubSpotSettings(_Section):
    """HubSpot connection (private-app access token); ``client_secret`` is the app's
    secret, which also signs its webhooks (``X-HubSpot-Signature-v3``)."""

    enabled: bool = True
    base_url: str = "http://127.0.0.1:8787"
    access_token: SecretStr | None = SecretStr("sandbox")
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    mapping: Path = Path("mappings/hubspot.toml")
    #: Calls per 10 seconds across every worker (the app's burst limit: 100 for private
    #: apps, 190 on Professional and Enterprise, 250 with the API limit increase).
    burst_per_10s: int = Field(default=100, ge=1, le=10_000)
    #: Search requests a second across every worker (HubSpot allows about 5).
    search_per_second: int = Field(default=5, ge=1, le=100)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)

    @model_validator(mode="after")
    def _token(self) -> HubSpotSettings:
        if self.enabled and (self.access_token is None or not self.access_token.get_secret_value()):
            raise ValueError("access_token is required when HubSpot is enabled")
        return self


class SyncSettings(_Section):
    """Pull cadence: how often, and how far back each incremental read overlaps (seconds);
    how many write batches the push keeps in flight at once; how often a CRM whose deletes
    come apart from its changes (HubSpot's archived listing) is asked for them; how often
    the daemon's sweeps (registration expiry, payout scheduling) run."""

    interval_seconds: int = Field(default=60, ge=1)
    lookback_seconds: int = Field(default=10, ge=0)
    push_concurrency: int = Field(default=4, ge=1, le=16)
    deletes_check_seconds: int = Field(default=300, ge=0)
    sweep_seconds: int = Field(default=3600, ge=1)


class ProgramSettings(_Section):
    """The partner program: protection days by tier, extensions, the smallest deal,
    registrations from CRM deals, auto-approval, the fuzzy name threshold (0-100), the
    eligible practices (empty: any), deals created for approved registrations."""

    protection_days: dict[str, int] = Field(
        default_factory=lambda: {"registered": 90, "silver": 120, "gold": 180}
    )
    extension_days: int = Field(default=30, ge=0)
    max_extensions: int = Field(default=1, ge=0)
    min_amount: Decimal = Field(default=Decimal("0"), ge=0)
    register_from_crm: bool = True
    auto_approve: bool = False
    fuzzy_threshold: int = Field(default=90, ge=0, le=100)
    practices: list[str] = Field(default_factory=list)
    create_deals_on_approval: bool = False
    #: Where those deals are created: "" (the CRM the partner has an account / company
    #: in, Salesforce when both), "salesforce" or "hubspot".
    create_deals_in: Literal["", "salesforce", "hubspot"] = ""
    #: The currency of a deal whose record carries none (an org with one currency); ""
    #: leaves such deals without commission, listed as ``no_currency``.
    default_currency: str = Field(default="", pattern=r"^([A-Z]{3})?$")

    @field_validator("protection_days")
    @classmethod
    def _positive_days(cls, value: dict[str, int]) -> dict[str, int]:
        if not value:
            raise ValueError("must name at least one tier")
        for tier, days in value.items():
            if days < 1:
                raise ValueError(f"tier {tier!r}: days must be at least 1 (got {days})")
        return value

    @field_validator("min_amount", mode="before")
    @classmethod
    def _no_float_money(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('money must be a string or an integer, e.g. "2500.00", not a float')
        return value


class ApiSettings(_Section):
    """The HTTP API: its address and what one client may ask of it."""

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    #: The URL the CRMs call, when a proxy stands in front (HubSpot signs the URL it
    #: called); "": the request's own URL.
    public_url: str = ""
    #: Larger request bodies are refused (413) before they are read.
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=16_777_216)
    #: Requests a second one API key may make (a token bucket; 0: no limit), with bursts
    #: of up to ``burst`` requests. Counted per API process.
    rate_per_second: float = Field(default=20.0, ge=0)
    burst: int = Field(default=40, ge=1)
    #: Rows a listing returns when the request does not say (at most 500).
    page_size: int = Field(default=100, ge=1, le=500)
    #: Requests one API process works on at once; more wait their turn (past a few per
    #: core, more only contend for the CPU).
    threads: int = Field(default=4, ge=1, le=256)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        return _http_url(value).rstrip("/") if value else value


class Settings(BaseSettings):
    """All settings; sections as in DESIGN.md."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    store: StoreSettings = StoreSettings()
    queue: QueueSettings = QueueSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    hubspot: HubSpotSettings = HubSpotSettings()
    sync: SyncSettings = SyncSettings()
    program: ProgramSettings = ProgramSettings()
    api: ApiSettings = ApiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's contents arrive as init arguments: the environment overrides them.
        return (env_settings, init_settings)

    def secrets(self) -> list[str]:
        """Every secret value configured, for the log redactor."""
        values = [
            self.salesforce.session_id,
            self.salesforce.password,
            self.salesforce.security_token,
            self.salesforce.consumer_secret,
            self.hubspot.access_token,
            self.hubspot.client_secret,
            self.hubspot.refresh_token,
        ]
        return [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]


def settings_path(explicit: str | os.PathLike[str] | None = None) -> tuple[Path, bool]:
    """The settings file to read and whether it was asked for by name."""
    if explicit:
        return Path(explicit), True
    from_env = os.environ.get(f"{ENV_PREFIX}SETTINGS")
    if from_env:
        return Path(from_env), True
    return DEFAULT_PATH, False


def load_settings(
    path: str | os.PathLike[str] | None = None,
    *,
    notice: Callable[[str], None] | None = None,
) -> Settings:
    """Read and validate the settings; raises :class:`ConfigError` with one clear line.

    Files named in the settings file (mappings, a private key) are relative to that file's
    folder, wherever the command runs; named in the environment, to the current folder.
    Without a settings file the built-in defaults apply, and ``notice`` is told so.
    """
    file, named = settings_path(path)
    data: dict[str, Any] = {}
    if file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{file}: not UTF-8 text") from None
    elif named or file.exists():
        what = "is not a file" if file.exists() else "settings file not found"
        raise ConfigError(f"{file}: {what}")
    elif notice is not None:
        notice(
            f"partnersync: no {file} here; using the built-in defaults "
            "(and PARTNERSYNC_* variables)"
        )
    _check_sections(file, data)
    _relative_to(file.parent, data)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(file, exc)) from None


#: (section, key) of the settings that name files.
_FILE_KEYS = (("salesforce", "mapping"), ("hubspot", "mapping"), ("salesforce", "private_key_file"))


def _relative_to(folder: Path, data: dict[str, Any]) -> None:
    """Make the file paths a settings file names relative to its folder, in place."""
    for section, key in _FILE_KEYS:
        value = data.get(section, {}).get(key)
        if isinstance(value, str) and value and not Path(value).is_absolute():
            data[section][key] = str(folder / value)


def _check_sections(file: Path, data: dict[str, Any]) -> None:
    known = list(Settings.model_fields)
    for key, value in data.items():
        if key not in Settings.model_fields:
            raise ConfigError(
                f"{file}: unknown section [{key}] (expected one of: {', '.join(known)})"
            )
        if not isinstance(value, dict):
            raise ConfigError(f"{file}: {key} must be a table [{key}], not a single value")


def _describe(file: Path, exc: ValidationError) -> str:
    """One line for the first error: file, dotted key, environment name, what is allowed."""
    error = exc.errors()[0]
    location = [str(part) for part in error["loc"]]
    key = ".".join(location)
    env = ENV_PREFIX + "__".join(part.upper() for part in location)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        section = _section_model(location[0])
        allowed = ", ".join(section.model_fields) if section else ", ".join(Settings.model_fields)
        message = f"unknown key (expected one of: {allowed})"
    elif error["type"] == "literal_error":
        message = f"{message} (got {error.get('input')!r})"
    extra = "" if len(exc.errors()) == 1 else f" (and {len(exc.errors()) - 1} more)"
    return f"{file}: {key}: {message} [env {env}]{extra}"


def _section_model(name: str) -> type[BaseModel] | None:
    field = Settings.model_fields.get(name)
    annotation = field.annotation if field else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"must start with https:// (http:// only for the sandbox), got {value!r}")
    return value.rstrip("/")


def redact_url(url: str) -> str:
    """``scheme://user:***@host/db``: never echo a password in an error."""
    from sync.store.db import redact

    return redact(url)
