"""Settings: file + environment, defaults, and one-line errors naming the key."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from sync.settings import ConfigError, load_settings
from tests.conftest import POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("PARTNERSYNC_") and not key.startswith("PARTNERSYNC_TEST_"):
            monkeypatch.delenv(key)


def test_shipped_settings_file_is_the_default() -> None:
    """The settings.toml in the repository loads and equals the built-in defaults."""
    shipped = load_settings(REPO / "settings.toml")
    assert shipped.store.url == "sqlite:///partnersync.db"
    assert shipped.queue.broker == "memory"
    assert shipped.salesforce.api_version == "59.0"
    assert shipped.program.protection_days == {"registered": 90, "silver": 120, "gold": 180}
    assert shipped.program.min_amount == Decimal("0")
    assert shipped.api.port == 8000


def test_missing_default_file_means_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a settings file in the working directory the defaults apply."""
    monkeypatch.chdir(tmp_path)
    assert load_settings().store.url == "sqlite:///partnersync.db"


def test_missing_named_file_is_an_error(tmp_path: Path) -> None:
    """A settings file asked for by name must exist."""
    with pytest.raises(ConfigError, match="settings file not found"):
        load_settings(tmp_path / "nope.toml")


def test_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PARTNERSYNC_SETTINGS names the file when --settings is not given."""
    path = write(tmp_path, "[sync]\ninterval_seconds = 5\n")
    monkeypatch.setenv("PARTNERSYNC_SETTINGS", str(path))
    assert load_settings().sync.interval_seconds == 5


@pytest.mark.parametrize(
    "url", [pytest.param("sqlite:///x.db", id="sqlite"), pytest.param(POSTGRES_URL, id="postgres")]
)
def test_environment_overrides_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """PARTNERSYNC_<SECTION>__<KEY> wins over the file, for both store dialects."""
    path = write(tmp_path, '[store]\nurl = "sqlite:///file.db"\n[sync]\nlookback_seconds = 3\n')
    monkeypatch.setenv("PARTNERSYNC_STORE__URL", url)
    monkeypatch.setenv("PARTNERSYNC_SALESFORCE__SESSION_ID", "00Dxx!secret")
    settings = load_settings(path)
    assert settings.store.url == url
    assert settings.sync.lookback_seconds == 3
    assert settings.salesforce.session_id is not None
    assert settings.salesforce.session_id.get_secret_value() == "00Dxx!secret"
    assert "00Dxx!secret" not in repr(settings)
    assert "00Dxx!secret" in settings.secrets()


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        pytest.param(
            "[stor]\nurl='x'\n",
            {},
            r"unknown section \[stor\] \(expected one of: store,",
            id="unknown-section",
        ),
        pytest.param(
            "[store]\nuri='x'\n",
            {},
            r"store\.uri: unknown key \(expected one of: url\)",
            id="unknown-key",
        ),
        pytest.param(
            "[store]\nurl='mysql://x'\n",
            {},
            r"store\.url: must be a sqlite:/// or",
            id="bad-store-url",
        ),
        pytest.param(
            "[queue]\nbroker='amqp://x'\n",
            {},
            r"queue\.broker: must be 'memory' or",
            id="bad-broker",
        ),
        pytest.param(
            "[salesforce]\nauth='oauth'\n",
            {},
            r"salesforce\.auth: Input should be 'session', 'password', 'client_credentials'"
            r" or 'jwt' \(got 'oauth'\) \[env PARTNERSYNC_SALESFORCE__AUTH\]",
            id="bad-auth",
        ),
        pytest.param(
            "[salesforce]\nauth='password'\n",
            {},
            r"salesforce: .*needs username, password",
            id="password-needs-credentials",
        ),
        pytest.param(
            "[salesforce]\napi_version='v59'\n",
            {},
            r"salesforce\.api_version",
            id="bad-api-version",
        ),
        pytest.param(
            "[program]\nmin_amount=1.5\n",
            {},
            r"program\.min_amount: money must be a string",
            id="float-money",
        ),
        pytest.param(
            "[program]\nprotection_days={gold=0}\n",
            {},
            r"tier 'gold': days must be",
            id="zero-protection",
        ),
        pytest.param(
            "[sync]\ninterval_seconds=0\n", {}, r"sync\.interval_seconds", id="zero-interval"
        ),
        pytest.param(
            "",
            {"PARTNERSYNC_API__PORT": "http"},
            r"api\.port: .*\[env PARTNERSYNC_API__PORT\]",
            id="bad-env-value",
        ),
        pytest.param("[store\n", {}, r"not valid TOML", id="broken-toml"),
        pytest.param("store = 1\n", {}, r"store must be a table", id="section-not-table"),
    ],
)
def test_bad_settings_give_one_clear_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    env: dict[str, str],
    message: str,
) -> None:
    """Every bad key or value is one line naming the file, the key and what is allowed."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(write(tmp_path, text))
    assert "\n" not in str(info.value)
    assert "settings.toml" in str(info.value)


def test_password_never_echoed_in_url_error(tmp_path: Path) -> None:
    """A rejected URL is echoed with its password masked."""
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "[store]\nurl='mysql://u:hunter2@h/db'\n"))
    assert "hunter2" not in str(info.value)


def test_files_named_in_settings_are_beside_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative mapping paths in a settings file are taken from its folder; absolute ones
    and ones from the environment (relative to where the command runs) are kept."""
    folder = tmp_path / "conf"
    folder.mkdir()
    path = write(
        folder, '[salesforce]\nmapping = "maps/sf.toml"\n[hubspot]\nmapping = "/m/hs.toml"\n'
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(path)
    assert settings.salesforce.mapping == folder / "maps" / "sf.toml"
    assert settings.hubspot.mapping == Path("/m/hs.toml")
    monkeypatch.setenv("PARTNERSYNC_SALESFORCE__MAPPING", "here/sf.toml")
    assert load_settings(path).salesforce.mapping == Path("here/sf.toml")


def test_a_missing_default_file_is_noticed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ./settings.toml, the one who asked is told the defaults apply."""
    monkeypatch.chdir(tmp_path)
    said: list[str] = []
    load_settings(notice=said.append)
    assert said == [
        "partnersync: no settings.toml here; using the built-in defaults "
        "(and PARTNERSYNC_* variables)"
    ]
