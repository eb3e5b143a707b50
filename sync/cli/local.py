"""``partnersync demo`` and ``partnersync sandbox``: the product on one machine."""

from __future__ import annotations

from typing import Annotated

import typer

from sync.cli.app import app
from sync.cli.common import load
from sync.settings import ConfigError

__all__: list[str] = []


@app.command()
def demo(
    records: Annotated[int, typer.Option(help="Opportunities/deals to seed per CRM.", min=1)] = 200,
    store: Annotated[
        str | None,
        typer.Option(help="Keep the demo's data in this store URL (default: a temporary one)."),
    ] = None,
) -> None:
    """Embedded end-to-end run on the CRM sandbox; prints what happened."""
    from sync.demo import run_demo

    run_demo(load(), records=records, echo=typer.echo, store_url=store)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8787,
    seed: Annotated[
        int, typer.Option(help="Seed N opportunities (Salesforce) and N deals (HubSpot).")
    ] = 0,
    random_seed: Annotated[int, typer.Option(help="Random seed of the generated data.")] = 1,
    latency_ms: Annotated[float, typer.Option(help="Milliseconds added to every call.")] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(help="Fault injection, e.g. '503:0.05,lock:0.02,expire-session-after:500'."),
    ] = None,
    hubspot_rate: Annotated[
        str | None, typer.Option(help="HubSpot rolling rate limit, e.g. '100/10s'.")
    ] = None,
    hubspot_search_rate: Annotated[
        str,
        typer.Option(help="HubSpot search requests per access token, e.g. '5/1s' ('' for none)."),
    ] = "5/1s",
    salesforce_daily_limit: Annotated[
        int, typer.Option(help="Salesforce daily API allocation (403 once spent).")
    ] = 5_000_000,
    search_lag_seconds: Annotated[
        float, typer.Option(help="Seconds before HubSpot search sees a write (0: at once).")
    ] = 3.0,
    salesforce_concurrent_limit: Annotated[
        int, typer.Option(help="Salesforce long-running requests in flight before a 403.")
    ] = 25,
    salesforce_long_request_seconds: Annotated[
        float, typer.Option(help="Seconds after which a Salesforce request is long-running.")
    ] = 20.0,
    hubspot_webhook_url: Annotated[
        str | None, typer.Option(help="POST HubSpot deal webhooks to this URL.")
    ] = None,
    hubspot_client_secret: Annotated[
        str, typer.Option(help="HubSpot app client secret (OAuth, webhook signatures).")
    ] = "sandbox",  # noqa: S107 - the sandbox's own, as in SandboxConfig
    salesforce_outbound_url: Annotated[
        str | None, typer.Option(help="POST Salesforce Opportunity outbound messages here.")
    ] = None,
    salesforce_organization_id: Annotated[
        str | None, typer.Option(help="The 18-character org id outbound messages carry.")
    ] = None,
    webhook_debounce_seconds: Annotated[
        float, typer.Option(help="Seconds of changes batched into one webhook request.")
    ] = 0.2,
    webhook_retry_seconds: Annotated[
        float, typer.Option(help="First wait before a failed webhook is retried (doubles).")
    ] = 1.0,
    webhook_attempts: Annotated[
        int, typer.Option(help="Attempts per webhook request before it is dropped.")
    ] = 10,
) -> None:
    """Serve the local Salesforce + HubSpot emulator (state in memory).

    As strict as the real services by default: HubSpot search lags writes by 3 s and
    allows 5 requests a second per token (``--search-lag-seconds 0 --hubspot-search-rate
    ''`` for an immediate, unlimited one).
    """
    import sandbox as crm_sandbox

    if seed < 0:
        raise ConfigError("--seed must be 0 or more")
    try:
        config = crm_sandbox.SandboxConfig(
            latency_ms=latency_ms,
            faults=crm_sandbox.parse_faults(faults),
            hubspot_rate=crm_sandbox.parse_rate(hubspot_rate),
            hubspot_search_rate=crm_sandbox.parse_rate(hubspot_search_rate),
            salesforce_daily_limit=salesforce_daily_limit,
            search_lag_seconds=search_lag_seconds,
            salesforce_concurrent_limit=salesforce_concurrent_limit,
            salesforce_long_request_seconds=salesforce_long_request_seconds,
            hubspot_webhook_url=hubspot_webhook_url,
            hubspot_client_secret=hubspot_client_secret,
            salesforce_outbound_url=salesforce_outbound_url,
            webhook_debounce_seconds=webhook_debounce_seconds,
            webhook_retry_seconds=webhook_retry_seconds,
            webhook_attempts=webhook_attempts,
            salesforce_organization_id=salesforce_organization_id
            or crm_sandbox.SandboxConfig.salesforce_organization_id,
        )
        crm_sandbox.run(
            config,
            host=host,
            port=port,
            seed=seed,
            random_seed=random_seed,
            announce=lambda line: typer.echo(line, err=True),
        )
    except (crm_sandbox.FaultSpecError, crm_sandbox.PortInUse) as exc:
        raise ConfigError(str(exc)) from None
