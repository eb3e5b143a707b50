"""How fast the CRM sandbox serves records through each real client.

Starts ``partnersync sandbox --seed N`` in its own process, then pages every record:

- Salesforce: ``simple_salesforce.Salesforce.query_all_iter`` (2,000-row pages);
- HubSpot: ``basic_api.get_page(limit=100)`` until ``paging`` runs out;

and, as the baseline measured in the same run, the same pages fetched with plain
``requests`` + ``orjson`` (no client models). Prints records/s, calls and the ratio of each
client to its baseline, plus the sandbox's seed time and memory.

    .venv/bin/python bench/sandbox.py [--records 100000]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson
import requests
from hubspot import HubSpot
from simple_salesforce.api import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.transport import session_for

SOQL = (
    "SELECT Id, Name, Amount, CurrencyIsoCode, StageName, CloseDate, Account.Name, "
    "Account.Website, Partner_Account__c, Practice__c, SystemModstamp FROM Opportunity "
    "ORDER BY SystemModstamp, Id"
)
HS_PROPERTIES = [
    "dealname", "amount", "deal_currency_code", "dealstage", "closedate",
    "partner_company_id", "practice", "co_sell_direction", "hs_lastmodifieddate",
]  # fmt: skip
HEADERS = {"Authorization": "Bearer sandbox"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_sandbox(records: int) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sync.cli import main; main()",
            "sandbox",
            "--port",
            str(port),
            "--seed",
            str(records),
        ],
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/_sandbox/health", timeout=1).raise_for_status()
            return process, url, time.perf_counter() - started
        except requests.RequestException:
            if process.poll() is not None:
                raise SystemExit("the sandbox exited before serving") from None
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the sandbox did not come up in 600 s")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def calls(url: str) -> int:
    total = requests.get(f"{url}/_sandbox/stats", timeout=10).json()["total"]
    requests.delete(f"{url}/_sandbox/stats", timeout=10)
    return int(total)


def timed(url: str, read: Callable[[], int]) -> tuple[int, float, int]:
    calls(url)
    started = time.perf_counter()
    count = read()
    return count, time.perf_counter() - started, calls(url)


def salesforce_client(url: str) -> int:
    session, instance = session_for(url)
    sf = Salesforce(instance_url=instance, session_id="sandbox", version="59.0", session=session)
    return sum(1 for _ in sf.query_all_iter(SOQL))


def salesforce_raw(url: str) -> int:
    http = requests.Session()
    page = orjson.loads(
        http.get(f"{url}/services/data/v59.0/query/", params={"q": SOQL}, headers=HEADERS).content
    )
    count = len(page["records"])
    while not page["done"]:
        page = orjson.loads(http.get(url + page["nextRecordsUrl"], headers=HEADERS).content)
        count += len(page["records"])
    return count


def hubspot_client(url: str) -> int:
    api = HubSpot(access_token="sandbox", host=url).crm.deals.basic_api
    count, after = 0, None
    while True:
        page = api.get_page(limit=100, after=after, properties=HS_PROPERTIES)
        count += len(page.results)
        if page.paging is None or page.paging.next is None:
            return count
        after = page.paging.next.after


def hubspot_raw(url: str) -> int:
    http = requests.Session()
    count, after = 0, None
    while True:
        params: dict[str, object] = {"limit": 100, "properties": HS_PROPERTIES}
        if after:
            params["after"] = after
        page = orjson.loads(
            http.get(f"{url}/crm/v3/objects/deals", params=params, headers=HEADERS).content
        )
        count += len(page["results"])
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    process, url, seed_seconds = start_sandbox(args.records)
    try:
        print(
            f"sandbox: {args.records:,} opportunities + {args.records:,} deals seeded and "
            f"serving in {seed_seconds:.1f} s; RSS {rss_mib(process.pid):,.0f} MiB"
        )
        print(f"{'read':<34}{'records':>9}{'seconds':>9}{'records/s':>11}{'calls':>7}")
        results: dict[str, float] = {}
        for name, read in (
            ("salesforce raw requests (baseline)", salesforce_raw),
            ("salesforce query_all_iter", salesforce_client),
            ("hubspot raw requests (baseline)", hubspot_raw),
            ("hubspot basic_api.get_page", hubspot_client),
        ):
            count, seconds, used = timed(url, lambda read=read: read(url))
            results[name] = count / seconds
            print(f"{name:<34}{count:>9,}{seconds:>9.2f}{count / seconds:>11,.0f}{used:>7,}")
        sf_rate = results["salesforce query_all_iter"]
        hs_rate = results["hubspot basic_api.get_page"]
        sf_ratio = sf_rate / results["salesforce raw requests (baseline)"]
        hs_ratio = hs_rate / results["hubspot raw requests (baseline)"]
        print(f"ratio client/baseline: salesforce {sf_ratio:.2f}, hubspot {hs_ratio:.2f}")
        verdict = "met" if sf_rate >= 20_000 else "NOT met"
        print(f"aim >= 20,000 records/s through query_all_iter: {verdict} ({sf_rate:,.0f}/s)")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
