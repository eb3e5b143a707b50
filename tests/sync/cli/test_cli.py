"""The command line: exit statuses, one-line errors, the sandbox and db commands."""

from __future__ import annotations

import json
import os
import re
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


MONEY_ERRORS = [
    (["agreements", "import", "missing.toml"], "missing.toml: cannot read"),
    (["agreements", "show", "NOPE"], "no partner 'NOPE'"),
    (["agreements", "show", "x' OR 1=1"], "partner"),
    (["payouts", "pay", "1", "2", "--reference", "R"], "no payout 1, 2"),
    (["payouts", "reverse", "1", "--reason", "bad\x1b[31m"], "reason"),
    (["payouts", "list", "--status", "spent"], "status: one of accrued"),
    (["report", "nope"], "no report 'nope'"),
    (["report", "ytd-summary", "--year", "0"], "year: 1900 to 9998"),
    (["commissions", "explain", "006nope"], "no deal '006nope'"),
    (["commissions", "replay", "--since", "yesterday"], "since"),
    (["commissions", "replay", "--workers", "0"], "workers: at least 1"),
]


@pytest.mark.parametrize(("args", "message"), MONEY_ERRORS, ids=[" ".join(a[:2]) + str(i)
                         for i, (a, _) in enumerate(MONEY_ERRORS)])  # fmt: skip
def test_money_commands_refuse_bad_input_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    store = {"PARTNERSYNC_STORE__URL": f"sqlite:///{tmp_path / 'ps.db'}"}
    (tmp_path / "settings.toml").write_text("")  # no notice about a missing file
    result = run_cli(*args, cwd=tmp_path, env=store)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_an_agreement_from_the_command_line(tmp_path: Path) -> None:
    """partners add, agreements import (the example file), show, and an empty report."""
    store = {"PARTNERSYNC_STORE__URL": f"sqlite:///{tmp_path / 'ps.db'}"}
    example = Path(__file__).resolve().parents[3] / "examples" / "acme-agreement.toml"
    assert run_cli("partners", "add", "ACME", "--name", "Acme", "--tier", "gold", cwd=tmp_path,
                   env=store).returncode == 0  # fmt: skip
    made = run_cli("agreements", "import", str(example), "--format", "json", cwd=tmp_path,
                   env=store)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert '"rules_added": 4' in made.stdout
    shown = run_cli("agreements", "show", "ACME", "--as-of", "2026-06-01", "--format", "csv",
                    cwd=tmp_path, env=store)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "partner_sourced_direct_sold" in shown.stdout
    again = run_cli("agreements", "import", str(example), "--format", "json", cwd=tmp_path,
                    env=store)  # fmt: skip
    assert '"rules_added": 0' in again.stdout  # the same file twice changes nothing
    report = run_cli("report", "ytd-summary", "--year", "2026", cwd=tmp_path, env=store)
    assert (report.returncode, report.stdout) == (0, "")
    assert "nothing in 2026" in report.stderr


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
    assert re.search(
        r"17\. the daemon took over \(partnersync run, .*\): its first cycle settled in "
        r"\d+\.\d s; then in the CRM .*ACME logged a deal on Hooli.*; the daemon settled "
        r"again \d+\.\d s later", result.stdout), result.stdout  # fmt: skip
    assert re.search(
        r"in the CRM, with no command run: (the won deal shows \d+\.\d\d commission accrued; )?"
        r"ACME's Hooli deal shows Conflict \(BLUEFIN holds Hooli\); the overwritten field is "
        r"back to \w+", result.stdout), result.stdout  # fmt: skip
    assert "`partnersync run` is the daemon" in result.stdout
    assert "50 Salesforce opportunities and 50 HubSpot deals" in result.stdout
    assert "0 drifted, and the push after it needs 0 API calls" in result.stdout
    assert "the pull saw 1 drifted record, the push restored it in 1 call (now Approved)" in (
        result.stdout
    )
    assert not (tmp_path / "partnersync.db").exists()
    assert "12 partners added from the CRMs' partner accounts" in result.stdout
    assert "BLUEFIN's turned conflict (conflict, held by registration" in result.stdout
    assert "the CRM shows ACME's deal Approved, BLUEFIN's Conflict (held by ACME)" in result.stdout
    assert "after a push the CRM shows Expired" in result.stdout
    assert re.search(
        r"the push created salesforce deal \w+ \(1 create, keyed ps-\d+-[0-9a-f]+ "
        r"so a retried push finds it .*\) and the next pull linked it back to the "
        r"registration",
        result.stdout,
    ), result.stdout
    assert "each signed the example agreement (acme-agreement.toml: 4 rules" in result.stdout
    assert re.search(r"closed-won deals accrued commission", result.stdout)
    assert re.search(
        r"finance approved ACME's \d+ accrued payouts and paid them in one transaction "
        r"against reference DEMO-WIRE-1 \(.*\); after a push the CRM shows Paid",
        result.stdout,
    ), result.stdout
    assert "report ytd-summary --partner ACME (2026): USD payable: paid" in result.stdout
    assert re.search(
        r"the HTTP API on http://127\.0\.0\.1:\d+: BLUEFIN's key \(ps_[0-9a-f]{8}\) submitted "
        r"Hooli \(201 pending; sent again with the same Idempotency-Key: 201, registration "
        r"(\d+) again\), an admin key approved it \(200 approved, .*\); ACME's registration "
        r"\d+ is 404 for BLUEFIN's key",
        result.stdout,
    ), result.stdout


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


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        pytest.param(["--log-level", "loud", "db", "upgrade"], {},
                     "--log-level must be one of: debug, info, warning, error (got 'loud')",
                     id="log-level"),
        pytest.param(["db", "upgrade"], {"PARTNERSYNC_STORE__URL": "postgresql://u:pw@h/db"},
                     "store.url: a PostgreSQL URL must name the psycopg driver", id="psycopg2-url"),
        pytest.param(["--settings", "nowhere.toml", "db", "upgrade"], {},
                     "nowhere.toml: settings file not found", id="missing-settings"),
        pytest.param(["sync", "--format", "yaml"], {}, "--format must be one of: table, csv, json",
                     id="format"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    """A bad option or setting is exit 2 with one line that says what is allowed."""
    (tmp_path / "settings.toml").write_text("")
    result = run_cli(*args, cwd=tmp_path, env=env)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr
    assert "pw" not in result.stderr


def test_a_missing_default_settings_file_is_said(tmp_path: Path) -> None:
    """Without ./settings.toml the built-in defaults apply, and the command says so."""
    result = run_cli("mappings", "check", "--offline", cwd=tmp_path)
    assert "no settings.toml here; using the built-in defaults" in result.stderr


def test_mapping_paths_are_relative_to_the_settings_file(tmp_path: Path) -> None:
    """Mapping files named in a settings file are found beside it, wherever the command runs."""
    config = tmp_path / "config"
    (config / "maps").mkdir(parents=True)
    for crm in ("salesforce", "hubspot"):
        text = (REPO / "mappings" / f"{crm}.toml").read_text()
        (config / "maps" / f"{crm}.toml").write_text(text)
    (config / "settings.toml").write_text(
        '[salesforce]\nmapping = "maps/salesforce.toml"\n[hubspot]\nmapping = "maps/hubspot.toml"\n'
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = run_cli(
        "--settings", str(config / "settings.toml"), "mappings", "check", "--offline",
        cwd=elsewhere,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"{config / 'maps' / 'salesforce.toml'}: salesforce Opportunity: valid" in result.stdout


def test_sandbox_on_a_busy_port_says_so_before_anything_else(tmp_path: Path) -> None:
    """`sandbox` on a port in use: exit 2, one line, no announcement of a server."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = run_cli("sandbox", "--port", str(port), "--seed", "10", cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "settings.toml" not in line]
    assert len(lines) == 1, result.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in lines[0]
    assert "CRM sandbox on" not in result.stderr


def test_demo_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """`partnersync demo | head -1` prints one line and ends without a traceback."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    result = subprocess.run(
        f"{sys.executable} -c 'from sync.cli import main; main()' demo --records 20 | head -1",
        shell=True, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0
    assert result.stdout.startswith("1. store ready:")
    assert result.stdout.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert "Error" not in result.stderr


def test_partners_accounts_and_registrations_from_the_command_line(tmp_path: Path) -> None:
    """The program's commands: results on stdout (JSON objects with --format json), refusals
    as one line with exit 2, nothing written by a refused one."""
    (tmp_path / "settings.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path / "ps.db"}"\n')

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, cwd=tmp_path)

    assert cli("partners", "add", "ACME", "--name", "Acme", "--tier", "gold").returncode == 0
    assert (
        cli("partners", "add", "INITECH", "--name", "Initech", "--tier", "silver").returncode == 0
    )
    refused = cli("partners", "add", "X Y", "--name", "x", "--tier", "gold")
    assert (refused.returncode, refused.stderr.count("\n")) == (2, 1)
    assert "a partner id is 1 to 32 letters" in refused.stderr
    tier = cli("partners", "add", "HOOLI", "--name", "Hooli", "--tier", "platinum")
    assert tier.returncode == 2
    assert "known tiers: registered, silver, gold" in tier.stderr
    blocked = cli("accounts", "block", "--domain", "www.hooli.com", "--kind", "house")
    assert blocked.returncode == 0, blocked.stderr

    def submit(partner: str, customer: str, domain: str) -> dict[str, object]:
        made = cli("registrations", "submit", "--partner", partner, "--customer", customer,
                   "--domain", domain, "--amount", "5000", "--format", "json")  # fmt: skip
        assert made.returncode == 0, made.stderr
        return dict(json.loads(made.stdout))

    first = submit("ACME", "Globex, Inc.", "globex.com")
    second = submit("INITECH", "GLOBEX Incorporated", "jane@globex.com")
    house = submit("INITECH", "Hooli", "hooli.com")
    assert {k: first[k] for k in ("partner_id", "status", "reason")} == {
        "partner_id": "ACME", "status": "pending", "reason": None}  # fmt: skip
    assert (house["status"], house["reason"]) == ("rejected", "house_account")
    approved = cli("registrations", "approve", str(first["id"]), "--format", "json")
    assert json.loads(approved.stdout)["status"] == "approved"
    held = cli("registrations", "approve", str(second["id"]))
    assert held.returncode == 2
    assert f"held by partner ACME (registration {first['id']}" in held.stderr
    listed = cli("registrations", "list", "--status", "conflict", "--format", "json")
    assert [r["id"] for r in json.loads(listed.stdout)] == [second["id"]]
    shown = cli("registrations", "show", str(second["id"]), "--format", "json")
    explained = json.loads(shown.stdout)
    assert explained["customer_domain_key"] == "globex.com"
    assert [a["action"] for a in explained["audit"]] == ["submit", "conflict"]
    unknown = cli("registrations", "approve", "999")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "partnersync: no registration 999")
    hostile = cli("registrations", "submit", "--partner", "ACME", "--customer", "Evil\x01Corp",
                  "--amount", "1")  # fmt: skip
    assert hostile.returncode == 2
    assert "control characters" in hostile.stderr
    dry = cli(
        "registrations", "expire-due", "--as-of", "2099-01-01", "--dry-run", "--format", "json"
    )
    assert [r["becomes"] for r in json.loads(dry.stdout)] == ["expired"]


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        pytest.param(["partners", "list"], "no partners yet: partnersync partners add",
                     id="partners"),
        pytest.param(["accounts", "list"], "no blocked accounts", id="accounts"),
        pytest.param(["registrations", "list"], "no registrations match", id="registrations"),
        pytest.param(["deals", "list"], "no mirrored deal matches", id="deals"),
    ],
)  # fmt: skip
def test_an_empty_listing_says_so_as_a_table_and_is_empty_for_scripts(
    tmp_path: Path, args: list[str], hint: str
) -> None:
    """As a table, an empty listing prints a hint on stderr and nothing on stdout; as JSON
    it is an empty array, so a script reads it like any other answer."""
    (tmp_path / "settings.toml").write_text(f'[store]\nurl = "sqlite:///{tmp_path / "ps.db"}"\n')
    table = run_cli(*args, cwd=tmp_path)
    assert (table.returncode, table.stdout) == (0, "")
    assert hint in table.stderr
    as_json = run_cli(*args, "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == []
