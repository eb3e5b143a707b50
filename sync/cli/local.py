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
    salesforce_daily_limit: Annotated[
        int, typer.Option(help="Salesforce daily API allocation (403 once spent).")
    ] = 5_000_000,
) -> None:
    """Serve the local Salesforce + HubSpot emulator (state in memory)."""
    import sandbox as crm_sandbox

    if seed < 0:
        raise ConfigError("--seed must be 0 or more")
    try:
        config = crm_sandbox.SandboxConfig(
            latency_ms=latency_ms,
            faults=crm_sandbox.parse_faults(faults),
            hubspot_rate=crm_sandbox.parse_rate(hubspot_rate),
            salesforce_daily_limit=salesforce_daily_limit,
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
