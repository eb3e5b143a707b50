"""The HTTP API under load: ``partnersync api`` (a real server process, uvicorn) on a
PostgreSQL store holding ``--registrations`` registrations (default 1,000,000: live and
ended, on a quarter as many customers) and as many mirrored deals.

For 1, 8 and 32 concurrent clients (threads of one client process, each with its own
keep-alive connection and partner key), for ``--seconds`` each, prints:

- ``POST /v1/registrations``: submissions a second and p50 / p99 latency (aim: p99 under
  50 ms at 8 clients on a 2-core machine). Each submission is a new customer (its own
  domain), as most are, named with two words of the stored customers' vocabulary, so its
  fuzzy look-up finds the stored customers that share a word; every one is decided by
  the rules and written, audited and linked like any other;
- ``GET /v1/registrations`` pages of 100 (an admin key, from random cursors in the whole
  table): pages a second and p50 / p99.

The clients run on the same machine as the server and PostgreSQL: their own CPU counts
against the figures.

    .venv/bin/python bench/api.py [--registrations 1000000] [--seconds 10] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.registration import FORMS, TLDS, drop_databases, load, new_database, words
from sync.api.keys import create_key
from sync.store import make_engine, session_factory, upgrade

PARTNERS = 40
#: Each submission's customer is new: numbered across all runs.
SERIAL = itertools.count()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve(url: str, port: int, folder: Path, workers: int) -> subprocess.Popen[bytes]:
    """``partnersync api`` on ``port`` with ``workers`` processes: no rate limit (the
    clients are the load)."""
    (folder / "settings.toml").write_text("")
    env = {**os.environ, "PARTNERSYNC_STORE__URL": url, "PARTNERSYNC_API__RATE_PER_SECOND": "0",
           "PARTNERSYNC_SETTINGS": str(folder / "settings.toml")}  # fmt: skip
    command = [sys.executable, "-c", "from sync.cli import main; main()", "api", "--port",
               str(port), "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("partnersync api did not start")


def run(clients: int, seconds: float, make: Callable[[int], Callable[[httpx.Client], bool]],
        base: str) -> tuple[int, int, list[float], float]:  # fmt: skip
    """``clients`` threads calling their request until ``seconds`` pass: (done, failed,
    latencies in ms, wall seconds)."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    start = threading.Barrier(clients + 1)
    stop = threading.Event()

    def worker(index: int) -> None:
        request = make(index)
        with httpx.Client(base_url=base, timeout=30) as client:
            client.get("/healthz")
            start.wait()
            while not stop.is_set():
                began = time.perf_counter()
                ok = request(client)
                latencies[index].append((time.perf_counter() - began) * 1000)
                failures[index] += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    merged = [ms for each in latencies for ms in each]
    return len(merged), sum(failures), merged, wall


def report(what: str, clients: int, done: int, failed: int, ms: list[float], wall: float) -> None:
    cuts = statistics.quantiles(ms, n=100)
    print(f"  {what}, {clients:>2} clients: {done / wall:7.1f}/s, p50 {cuts[49]:6.2f} ms, "
          f"p99 {cuts[98]:6.2f} ms ({done:,} requests, {failed} failed)")  # fmt: skip


#: New customers' names are two words of the loaded store's vocabulary (so they share
#: words with stored customers, as real names do) in a pairing the store does not hold.
VOCABULARY = words(random.Random(7), 4_000)


def submitter(keys: list[str]) -> Callable[[int], Callable[[httpx.Client], bool]]:
    """A submitting client per index: new customers (their own domains) for its partner."""
    lock = threading.Lock()

    def make(index: int) -> Callable[[httpx.Client], bool]:
        headers = {"Authorization": f"Bearer {keys[index % len(keys)]}"}

        def submit(client: httpx.Client) -> bool:
            with lock:
                number = next(SERIAL)
            rng = random.Random(number)
            first, second = rng.choice(VOCABULARY), rng.choice(VOCABULARY)
            body = {"customer_name": f"{first.title()} {second.title()}{rng.choice(FORMS)}",
                    "customer_domain": f"{first}{second}{number}.{rng.choice(TLDS)}",
                    "amount": "5000.00", "currency": "USD", "practice": "Cloud"}  # fmt: skip
            response = client.post("/v1/registrations", json=body, headers=headers)
            if response.status_code != 201 and os.environ.get("BENCH_SHOW"):
                print(response.status_code, response.text[:300])
            return response.status_code == 201

        return submit

    return make


def measure(base: str, keys: list[str], admin: str, counts: list[int],
            args: argparse.Namespace) -> None:  # fmt: skip
    """Submissions, then pages, at each number of clients."""
    submits = submitter(keys)

    def pager(index: int) -> Callable[[httpx.Client], bool]:
        rng = random.Random(index)
        headers = {"Authorization": f"Bearer {admin}"}

        def page(client: httpx.Client) -> bool:
            after = rng.randrange(args.registrations)
            cursor = base64.urlsafe_b64encode(f"after:{after}".encode()).decode().rstrip("=")
            response = client.get(f"/v1/registrations?limit=100&cursor={cursor}",
                                  headers=headers)  # fmt: skip
            return response.status_code == 200 and len(response.json()["items"]) > 0

        return page

    run(4, 2, submits, base)  # warm the server's pool and caches
    for clients in counts:
        report("POST /v1/registrations", clients, *run(clients, args.seconds, submits, base))
    for clients in counts:
        report("GET /v1/registrations (pages of 100)", clients,
               *run(clients, args.seconds, pager, base))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--registrations", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--workers", default="1,2", help="server processes, one run each")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    names: list[str] = []
    server = None
    try:
        url = new_database(names)
        upgrade(url)
        started = time.perf_counter()
        partners = {f"p{i:02d}": f"001BENCHPART{i:06d}" for i in range(PARTNERS)}
        load(url, args.registrations, partners)
        print(f"postgresql, {args.registrations:,} registrations and deals stored "
              f"(loaded in {time.perf_counter() - started:.0f} s):")  # fmt: skip
        engine = make_engine(url)
        factory = session_factory(engine)
        keys = [create_key(factory, partner_id=p, actor="bench")[1] for p in sorted(partners)]
        admin = create_key(factory, admin=True, actor="bench")[1]
        engine.dispose()
        for workers in [int(w) for w in args.workers.split(",")]:
            port = free_port()
            server = serve(url, port, Path(tempfile.mkdtemp(prefix="bench-api-")), workers)
            print(f" partnersync api --workers {workers}:")
            measure(f"http://127.0.0.1:{port}", keys, admin, counts, args)
            server.terminate()
            server.wait(timeout=30)
            server = None
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        drop_databases(names)


if __name__ == "__main__":
    main()
