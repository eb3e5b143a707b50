"""The command line: exit statuses, one-line errors, the sandbox and db commands."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[3]


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", "from sync.cli import main; main()", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            ["registrations", "submit", "--partner", "ACME", "--customer", "X"],
            id="registrations-submit",
        ),
        pytest.param(["payouts", "pay", "1", "2", "--reference", "R"], id="payouts-pay"),
        pytest.param(["report", "ytd-summary", "--year", "2026"], id="report"),
        pytest.param(["run"], id="run"),
    ],
)
def test_unbuilt_commands_say_so(tmp_path: Path, args: list[str]) -> None:
    """A command whose capability is not built yet says so in one line and exits 2."""
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "not built yet" in result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    """An unknown command exits 2 with click's usage message."""
    result = run_cli("frobnicate", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command" in result.stderr


def test_configuration_error_is_one_line(tmp_path: Path) -> None:
    """A bad setting exits 2 with one line naming the key, no traceback."""
    (tmp_path / "settings.toml").write_text("[queue]\nbroker = 'kafka://x'\n")
    result = run_cli("db", "upgrade", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "queue.broker" in result.stderr


def test_db_upgrade_on_sqlite(tmp_path: Path) -> None:
    """`db upgrade` migrates the configured SQLite store and names the revision."""
    result = run_cli(
        "db",
        "upgrade",
        cwd=tmp_path,
        env={"PARTNERSYNC_STORE__URL": f"sqlite:///{tmp_path / 'ps.db'}"},
    )
    assert result.returncode == 0, result.stderr
    assert "store at revision" in result.stdout
    assert (tmp_path / "ps.db").exists()


def test_unreachable_store_is_a_failure(tmp_path: Path) -> None:
    """An unreachable database exits 1 with one line, the password masked."""
    result = run_cli(
        "db",
        "upgrade",
        cwd=tmp_path,
        env={"PARTNERSYNC_STORE__URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/db"},
    )
    assert result.returncode == 1
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_runs_on_embedded_defaults(tmp_path: Path) -> None:
    """`partnersync demo` runs end to end on the default settings and says what it did, in
    a temporary store of its own: ./partnersync.db is never created."""
    result = run_cli("demo", "--records", "50", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "50 Salesforce opportunities and 50 HubSpot deals" in result.stdout
    assert "0 drifted, and the push after it needs 0 API calls" in result.stdout
    assert "the pull saw 1 drifted record, the push restored it in 1 call (now Approved)" in (
        result.stdout
    )
    assert not (tmp_path / "partnersync.db").exists()


def test_sandbox_command_serves_seeded_data(tmp_path: Path) -> None:
    """`partnersync sandbox --seed N` serves N records per CRM on the given port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync.cli import main; main()",
            "sandbox",
            "--port",
            str(port),
            "--seed",
            "40",
            "--faults",
            "503:0",
        ],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/_sandbox/health", timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "salesforce_records": 40, "hubspot_records": 40}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_sandbox_rejects_bad_fault_spec(tmp_path: Path) -> None:
    """A bad --faults spec is a configuration error (exit 2), not a crash."""
    result = run_cli("sandbox", "--faults", "meteor:1", cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown fault 'meteor'" in result.stderr
