"""Prometheus metrics (``GET /metrics``), read from the store at each scrape.

Workers may run in many processes on many machines; what they did is in the store
(:class:`~sync.store.Job`'s runs, outcome and summed report counts), so every API process
answers the same figures, and a worker that dies takes no counter with it:

- ``partnersync_job_runs_total{job}``, ``partnersync_job_running{job}``,
  ``partnersync_job_last_success_timestamp_seconds{job}``,
  ``partnersync_job_last_outcome{job,outcome}``;
- ``partnersync_records_pulled_total{crm}`` (read from the CRM),
  ``partnersync_records_upserted_total{crm}``, ``partnersync_records_pushed_total{crm}``
  (written to the CRM), ``partnersync_api_calls_total{crm,job}``,
  ``partnersync_api_endpoint_calls_total{crm,endpoint}`` (``deals/search``, ``query``...),
  ``partnersync_rate_limit_waits_total{crm,job}`` (calls retried after a rate limit or a
  transient error);
- ``partnersync_outbox_backlog{crm,status}`` (writes waiting),
  ``partnersync_quarantine_records{crm}``,
  ``partnersync_sync_lag_seconds{crm}`` (since the CRM's last successful pull),
  ``partnersync_daily_quota_used_ratio{crm}`` (the share of the daily API allocation used,
  where the CRM says).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from sync.status import ENDPOINT_CALLS, Facts, facts

__all__ = ["CONTENT_TYPE", "exposition"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _counter(name: str, text: str, *labels: str) -> CounterMetricFamily:
    return CounterMetricFamily(name, text, labels=list(labels))


def _gauge(name: str, text: str, *labels: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, text, labels=list(labels))


class _StoreCollector(Collector):
    def __init__(self, factory: sessionmaker[Session], clock: Callable[[], datetime]) -> None:
        self.factory = factory
        self.clock = clock

    def collect(self) -> Iterator[Any]:
        now = self.clock()
        known = facts(self.factory)
        yield from _jobs(known, now)
        yield from _crms(known, now)


def _jobs(known: Facts, now: datetime) -> Iterator[Any]:
    runs = _counter("partnersync_job_runs", "Runs of each job.", "job")
    running = _gauge("partnersync_job_running", "1 while a worker holds the job.", "job")
    success = _gauge(
        "partnersync_job_last_success_timestamp_seconds", "When the job last ended ok.", "job"
    )
    outcome = _gauge(
        "partnersync_job_last_outcome", "1 for the outcome of the job's last run.", "job", "outcome"
    )
    pulled = _counter("partnersync_records_pulled", "Records read from the CRM.", "crm")
    upserted = _counter(
        "partnersync_records_upserted", "Records new or changed in the mirror.", "crm"
    )
    pushed = _counter("partnersync_records_pushed", "Records written to the CRM.", "crm")
    calls = _counter("partnersync_api_calls", "CRM API calls.", "crm", "job")
    endpoints = _counter(
        "partnersync_api_endpoint_calls", "CRM API calls by endpoint.", "crm", "endpoint"
    )
    waits = _counter(
        "partnersync_rate_limit_waits",
        "CRM calls retried after a rate limit or a transient error.",
        "crm",
        "job",
    )
    summed: dict[tuple[str, str, str], int] = {}
    by_endpoint: dict[tuple[str, str], int] = {}
    for job in known.jobs:
        runs.add_metric([job.name], job.runs)
        live = job.holder is not None and job.lease_until is not None and job.lease_until >= now
        running.add_metric([job.name], 1 if live else 0)
        if job.succeeded_at is not None:
            success.add_metric([job.name], job.succeeded_at.timestamp())
        if job.outcome:
            outcome.add_metric([job.name, job.outcome], 1)
        kind, *args = job.name.split(":")
        if args:  # a CRM's job (its pushes may be several shares: summed)
            for name, value in (job.totals or {}).items():
                if isinstance(value, int):
                    key = (args[0], kind, name)
                    summed[key] = summed.get(key, 0) + value
    for (crm, kind, name), value in sorted(summed.items()):
        if (kind, name) == ("pull", "read"):
            pulled.add_metric([crm], value)
        elif (kind, name) == ("pull", "upserted"):
            upserted.add_metric([crm], value)
        elif (kind, name) == ("push", "done"):
            pushed.add_metric([crm], value)
        elif name == "api_calls":
            calls.add_metric([crm, kind], value)
        elif name.startswith(ENDPOINT_CALLS):
            endpoint = name[len(ENDPOINT_CALLS) :]
            by_endpoint[(crm, endpoint)] = by_endpoint.get((crm, endpoint), 0) + value
        elif name == "retries":
            waits.add_metric([crm, kind], value)
    for (crm, endpoint), value in sorted(by_endpoint.items()):
        endpoints.add_metric([crm, endpoint], value)
    yield from (runs, running, success, outcome, pulled, upserted, pushed, calls, endpoints, waits)


def _crms(known: Facts, now: datetime) -> Iterator[Any]:
    backlog = _gauge("partnersync_outbox_backlog", "Writes waiting for the CRM.", "crm", "status")
    quarantine = _gauge(
        "partnersync_quarantine_records", "CRM records that could not be mirrored.", "crm"
    )
    lag = _gauge(
        "partnersync_sync_lag_seconds", "Seconds since the CRM's last successful pull.", "crm"
    )
    quota = _gauge(
        "partnersync_daily_quota_used_ratio", "Share of the CRM's daily API allocation used.", "crm"
    )
    for crm in known.crms:
        for status in ("pending", "retry", "rejected"):
            backlog.add_metric([crm, status], known.backlog.get(crm, {}).get(status, 0))
        quarantine.add_metric([crm], known.quarantine.get(crm, 0))
        since = known.lag(crm, now)
        if since is not None:
            lag.add_metric([crm], since)
        used = known.quota(crm)
        if used is not None:
            quota.add_metric([crm], used)
    yield from (backlog, quarantine, lag, quota)


def exposition(factory: sessionmaker[Session], clock: Callable[[], datetime]) -> bytes:
    """The metrics in Prometheus' text format, as of now."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StoreCollector(factory, clock))
    return generate_latest(registry)
