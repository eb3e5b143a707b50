"""``partnersync run``, ``scheduler`` and ``status`` as a user runs them: real processes,
the sandbox over HTTP, SQLite embedded or PostgreSQL and Redis with ``dramatiq worker``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from sandbox import Sandbox, SandboxServer
from tests.conftest import REDIS_URL, NewDatabase
from tests.sync.cli.test_cli import REPO, run_cli
from tests.sync.links import LINKS
from tests.sync.test_daemon import PARTNERS
from tests.sync.test_registration_e2e import crm_shows, shown

ACCOUNT_OPTION = {"salesforce": "--salesforce-account-id", "hubspot": "--hubspot-company-id"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_file(folder: Path, server: SandboxServer, store_url: str, broker: str = "memory",
                  interval: int = 1) -> dict[str, str]:  # fmt: skip
    """Settings for the sandbox at ``server``: the environment that points at them."""
    (folder / "settings.toml").write_text(
        f'[store]\nurl = "{store_url}"\n'
        f'[queue]\nbroker = "{broker}"\nthreads = 2\n'
        f'[salesforce]\ninstance_url = "{server.url}"\n'
        f'mapping = "{REPO / "mappings" / "salesforce.toml"}"\n'
        f'[hubspot]\nbase_url = "{server.url}"\nmapping = "{REPO / "mappings" / "hubspot.toml"}"\n'
        f"[sync]\ninterval_seconds = {interval}\n",
        encoding="utf-8",
    )
    return {"PARTNERSYNC_SETTINGS": str(folder / "settings.toml")}


def seed_partner_deals(sandbox: Sandbox, folder: Path, env: dict[str, str]) -> dict[str, str]:
    """On each CRM a deal naming a partner, the partner added through the CLI."""
    deals = {}
    for crm in ("salesforce", "hubspot"):
        partner, account_name, customer, domain = PARTNERS[crm]
        LINKS[crm][2](sandbox, 5)
        account = sandbox.partner_account(crm, account_name)  # type: ignore[arg-type]
        added = run_cli("partners", "add", partner, "--name", partner.title(), "--tier",
                        "silver", ACCOUNT_OPTION[crm], account, cwd=folder, env=env)  # fmt: skip
        assert added.returncode == 0, added.stderr
        company = sandbox.add_customer(crm, customer, domain)  # type: ignore[arg-type]
        deals[crm] = sandbox.add_deal(crm, name=customer, customer=company, partner=account)  # type: ignore[arg-type]
    return deals


@contextmanager
def started(args: list[str], folder: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PARTNERSYNC_")}
    process = subprocess.Popen(args, cwd=folder, env={**environment, **env}, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def partnersync(*args: str) -> list[str]:
    return [sys.executable, "-c", "from sync.cli import main; main()", *args]


def wait_until(check: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 60,
               ) -> None:  # fmt: skip
    deadline = time.monotonic() + seconds
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"exited {process.returncode}: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            raise AssertionError("not there in time")
        time.sleep(0.2)


def status(folder: Path, env: dict[str, str]) -> dict[str, Any]:
    result = run_cli("status", "--format", "json", cwd=folder, env=env)
    assert result.returncode == 0, result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def pushed(folder: Path, env: dict[str, str]) -> bool:
    jobs = {j["job"]: j for j in status(folder, env)["jobs"]}
    return all(jobs.get(f"push:{crm}", {}).get("outcome") == "ok"
               for crm in ("salesforce", "hubspot"))  # fmt: skip


def assert_pending(sandbox: Sandbox, deals: dict[str, str]) -> None:
    for crm, deal in deals.items():
        mapping = LINKS[crm][1]
        pending = shown(mapping, "registration.status", "pending")
        assert crm_shows(sandbox, crm, mapping, deal, "registration.status") == pending


def test_run_embedded_converges_serves_the_api_and_stops_on_sigterm(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer
) -> None:
    """The embedded default: one process pulls both CRMs, pushes the registrations' status,
    serves /healthz; status shows the jobs; SIGTERM exits 0 with nothing held."""
    env = settings_file(tmp_path, sandbox_server, f"sqlite:///{tmp_path / 'ps.db'}")
    deals = seed_partner_deals(sandbox, tmp_path, env)
    port = free_port()
    with started(partnersync("run", "--port", str(port)), tmp_path, env) as daemon:
        wait_until(lambda: pushed(tmp_path, env), daemon)
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "SIGTERM: stopping" in stderr
    assert_pending(sandbox, deals)
    facts = status(tmp_path, env)
    jobs = {j["job"]: j for j in facts["jobs"]}
    assert {"pull:salesforce", "pull:hubspot", "push:salesforce", "push:hubspot",
            "expire_registrations", "schedule_payouts"} <= set(jobs)  # fmt: skip
    assert {j["state"] for j in jobs.values()} == {"idle"}
    # Pulls tick every second: SIGTERM may land in one, which stops after its committed
    # pages (``interrupted``); otherwise the last one ended ok with its report.
    pulled = jobs["pull:salesforce"]
    assert pulled["outcome"] in ("ok", "interrupted")
    if pulled["outcome"] == "ok":
        assert "api_calls=" in pulled["last_report"]
    assert {c["crm"]: c["outbox_pending"] for c in facts["crms"]} == {
        "salesforce": 0, "hubspot": 0}  # fmt: skip
    table = run_cli("status", cwd=tmp_path, env=env)
    assert table.returncode == 0
    assert "pull:hubspot" in table.stdout


def test_scheduler_and_dramatiq_workers_on_redis_and_postgres(
    tmp_path: Path, sandbox: Sandbox, sandbox_server: SandboxServer, new_database: NewDatabase
) -> None:
    """The multi-machine set-up: ``partnersync scheduler`` and two ``dramatiq worker``
    processes sharing Redis and PostgreSQL converge; both stop on SIGTERM."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    url = new_database("postgres")
    env = settings_file(tmp_path, sandbox_server, url, broker=REDIS_URL)
    assert run_cli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    deals = seed_partner_deals(sandbox, tmp_path, env)
    worker = [sys.executable, "-m", "dramatiq", "worker", "--processes", "2", "--threads", "2"]
    try:
        with (
            started(partnersync("scheduler"), tmp_path, env) as ticking,
            started(worker, REPO, env) as workers,
        ):
            wait_until(lambda: pushed(tmp_path, env), workers)
            for process in (ticking, workers):
                process.send_signal(signal.SIGTERM)
            for process in (ticking, workers):
                _, stderr = process.communicate(timeout=60)
                assert process.returncode == 0, stderr
    finally:
        client.flushdb()
    assert_pending(sandbox, deals)


def test_scheduler_alone_needs_a_shared_broker(tmp_path: Path) -> None:
    result = run_cli("scheduler", cwd=tmp_path)
    assert result.returncode == 2
    assert 'it needs [queue] broker = "redis://..."' in result.stderr
    assert "Traceback" not in result.stderr


def test_status_of_a_new_store_is_empty_not_an_error(tmp_path: Path) -> None:
    result = run_cli("status", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"jobs": [], "crms": []}


@pytest.mark.parametrize("flag", ["--port", "--api"])
def test_run_refuses_bad_options_in_one_line(tmp_path: Path, flag: str) -> None:
    result = run_cli("run", flag, "nope", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
